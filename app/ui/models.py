"""Table models for the inventory and the audit log, and the proxy that filters them.

Built for 10,000+ rows: every cell's text and every row's lower-cased search string are
computed once when the rows are set, so ``data()`` is a list lookup and filtering is a
substring test per row. Sorting happens in the source model with Python's sort on
precomputed keys (a C++ ``lessThan`` calling back into Python per comparison is ~50x slower).
"""

from __future__ import annotations

import html
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.core.models import Asset, AuditEvent, Impact, Ring
from app.ui.qt import (
    QAbstractTableModel,
    QColor,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

AnyIndex = QModelIndex | QPersistentModelIndex

#: Role that returns the row's domain object (an Asset or an AuditEvent).
ObjectRole = Qt.ItemDataRole.UserRole + 1

# Computed once: combining Qt flags in Python costs more than the rest of flags().
_ROW_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
)
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
_WARN_SOON_DAYS = 90
_EXPIRED = QColor("#b3261e")
_MUTED = QColor("#7a8694")
_SOON = QColor("#9a6700")


_LABELS = {"phone_tablet": "Phone / tablet", "iot": "IoT device"}


def enum_label(value: object) -> str:
    """A stored enum value as a person reads it: ``virtual_machine`` → ``Virtual machine``."""
    if str(value) in _LABELS:
        return _LABELS[str(value)]
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


_OS_LABELS = {"macos": "macOS", "bsd": "BSD", "network_os": "Network OS"}


def os_family_label(value: object) -> str:
    """An OS family as a person writes it (``macos`` → ``macOS``)."""
    return _OS_LABELS.get(str(value)) or enum_label(value)


def local_time(ts: datetime | None, *, seconds: bool = False) -> str:
    """A stored UTC timestamp in the local time zone, or an empty string."""
    if ts is None:
        return ""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _ip_key(text: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


_IMPACT_RANK = {Impact.NONE: 0, Impact.LOW: 1, Impact.HIGH: 2, Impact.CRITICAL: 3}
_RING_RANK = {Ring.TEST: 0, Ring.PILOT: 1, Ring.PRODUCTION: 2, Ring.NONE: 3}


class RowTableModel(QAbstractTableModel):
    """A flat, read-only table of precomputed text rows with one search string per row.

    Subclasses say how to render one object (:meth:`render`) and how to sort a column
    (:meth:`sort_key`).
    """

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._objects: list[Any] = []
        self._display: list[tuple[str, ...]] = []
        #: Lower-cased text a filter matches against, one per row (read by the proxy).
        self.search_rows: list[str] = []

    # -- to implement ---------------------------------------------------------------------
    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        """Return the cells' text and the lower-cased search string for one object."""
        raise NotImplementedError

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        """A key function over row numbers for a column, or None to sort by its text."""
        return None

    # -- Qt model API ---------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt default
        return 0 if parent.isValid() else len(self._objects)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def index(
        self, row: int, column: int, parent: AnyIndex = QModelIndex()  # noqa: B008
    ) -> QModelIndex:
        # Qt's default checks hasIndex(), i.e. two more calls back into Python per index.
        if (
            0 <= row < len(self._objects)
            and 0 <= column < len(self.COLUMNS)
            and not parent.isValid()
        ):
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(
        self, section: int, orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[row][index.column()]
        if role == ObjectRole:
            return self._objects[row]
        return self.extra_data(row, index.column(), role)

    def extra_data(self, row: int, column: int, role: int) -> Any:
        """Roles other than display text (tooltips, colours); none by default."""
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        # ItemNeverHasChildren spares tree views a hasChildren() call per row.
        return _ROW_FLAGS if index.isValid() else _NO_FLAGS

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.COLUMNS) or not self._objects:
            return
        key = self.sort_key(column)
        if key is None:
            texts = [row[column].lower() for row in self._display]

            def key(r: int) -> Any:
                return texts[r]

        rows = range(len(self._objects))
        reverse = order == Qt.SortOrder.DescendingOrder
        # Empty values sort last in both directions, as people expect.
        filled = [r for r in rows if self._display[r][column]]
        empty = [r for r in rows if not self._display[r][column]]
        order_rows = sorted(filled, key=key, reverse=reverse) + empty
        self.layoutAboutToBeChanged.emit()
        new_pos = [0] * len(order_rows)
        for new, old in enumerate(order_rows):
            new_pos[old] = new
        self._objects = [self._objects[r] for r in order_rows]
        self._display = [self._display[r] for r in order_rows]
        self.search_rows = [self.search_rows[r] for r in order_rows]
        self._reindex()
        old_list = self.persistentIndexList()
        new_list = [
            self.index(new_pos[i.row()], i.column()) if i.isValid() else QModelIndex()
            for i in old_list
        ]
        self.changePersistentIndexList(old_list, new_list)
        self.layoutChanged.emit()

    # -- changing rows (GUI thread, in batches) -------------------------------------------
    def set_objects(self, objects: Iterable[Any]) -> None:
        """Replace every row in one reset."""
        self.beginResetModel()
        self._objects = list(objects)
        rendered = [self.render(o) for o in self._objects]
        self._display = [r[0] for r in rendered]
        self.search_rows = [r[1] for r in rendered]
        self._reindex()
        self.endResetModel()

    def objects(self) -> list[Any]:
        """Every row's object, in row order."""
        return list(self._objects)

    def object_at(self, row: int) -> Any:
        """The object of a row."""
        return self._objects[row]

    def _reindex(self) -> None:
        """Hook for subclasses that keep a lookup from object to row."""


@dataclass(frozen=True, slots=True)
class AssetStatus:
    """What the deep scans say about one asset (the inventory's status columns)."""

    missing: int | None = None  # missing updates now (None: never assessed)
    security: int = 0
    assessed: datetime | None = None  # when the last deep scan finished
    failed: bool = False  # the last deep scan failed
    reboot: bool | None = None  # a reboot is pending (None: unknown)


def asset_statuses(records: dict[int, Any], patches: Iterable[Any]) -> dict[int, AssetStatus]:
    """Each asset's status from ``service.assessments()`` and ``service.patches()``."""
    missing: Counter[int] = Counter()
    security: Counter[int] = Counter()
    for p in patches:
        missing[p.asset_id] += 1
        if str(p.classification) == "security":
            security[p.asset_id] += 1
    return {asset_id: AssetStatus(missing[asset_id], security[asset_id], r.finished_at,
                                  not r.ok, r.reboot_required)
            for asset_id, r in records.items()}


#: An asset seen within this long counts as online.
ONLINE_WITHIN = timedelta(hours=24)


class AssetTableModel(RowTableModel):
    """The inventory: one row per :class:`Asset`, with its deep-scan status."""

    COLUMNS = (
        "Hostname", "IP", "MAC", "OS", "Kind", "Location", "Owner",
        "Impact", "Ring", "Warranty end", "Last seen", "Missing", "Last assessed", "Reboot",
        "Online",
    )
    COL_HOSTNAME, COL_IP, COL_MAC, COL_OS, COL_KIND, COL_LOCATION, COL_OWNER = range(7)
    COL_IMPACT, COL_RING, COL_WARRANTY, COL_LAST_SEEN = range(7, 11)
    COL_MISSING, COL_ASSESSED, COL_REBOOT, COL_ONLINE = range(11, 15)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._row_of: dict[int, int] = {}
        self.today = date.today()
        self.now = datetime.now(UTC)
        #: Deep-scan status by asset id (see :meth:`set_assets`).
        self.status: dict[int, AssetStatus] = {}
        #: IP addresses used by more than one asset, with the assets' labels.
        self.duplicate_ips: dict[str, list[str]] = {}

    def online(self, asset: Asset) -> bool | None:
        """Seen by a scan within :data:`ONLINE_WITHIN` (None: never seen)."""
        if asset.last_seen is None:
            return None
        return self.now - asset.last_seen <= ONLINE_WITHIN

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        a: Asset = obj
        ip = a.ips[0] if a.ips else ""
        if len(a.ips) > 1:
            ip = f"{ip} (+{len(a.ips) - 1})"
        os_text = a.os_display or (
            "" if a.os_family == "unknown" else os_family_label(a.os_family)
        )
        st = self.status.get(int(a.id or 0))
        if st is None:
            missing = "—"
        elif st.failed:
            missing = "scan failed" if st.missing is None or st.assessed is None else \
                f"{st.missing:,}  (scan failed)"
        else:
            missing = f"{st.missing:,}" + (f"  ({st.security:,} security)"
                                             if st.security else "")
        online = self.online(a)
        cells = (
            a.hostname or a.primary_ip or a.primary_mac,
            ip,
            a.macs[0] if a.macs else "",
            os_text,
            "" if a.kind == "unknown" else enum_label(a.kind),
            a.location,
            a.owner,
            enum_label(a.impact),
            enum_label(a.ring),
            a.warranty_end.isoformat() if a.warranty_end else "",
            local_time(a.last_seen),
            missing,
            local_time(st.assessed) if st and st.assessed else "never",
            "" if st is None or st.reboot is None else ("pending" if st.reboot else "no"),
            "—" if online is None else ("yes" if online else "no"),
        )
        search = " ".join((
            a.hostname, " ".join(a.ips), " ".join(a.macs),
            " ".join(m.replace(":", "") for m in a.macs), os_text, str(a.os_family),
            cells[4], a.location, a.owner, " ".join(a.tags), a.manufacturer, a.model,
            a.serial,
        )).lower()
        return cells, search

    def _reindex(self) -> None:
        self._row_of = {a.id: r for r, a in enumerate(self._objects) if a.id is not None}

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        objs: list[Asset] = self._objects
        if column == self.COL_IP:
            ip_keys = [_ip_key(a.ips[0]) if a.ips else (9, 0) for a in objs]
            return ip_keys.__getitem__
        if column == self.COL_IMPACT:
            impact = [_IMPACT_RANK.get(a.impact, 0) for a in objs]
            return impact.__getitem__
        if column == self.COL_RING:
            ring = [_RING_RANK.get(a.ring, 9) for a in objs]
            return ring.__getitem__
        if column == self.COL_WARRANTY:
            warranty = [a.warranty_end or date.max for a in objs]
            return warranty.__getitem__
        if column == self.COL_LAST_SEEN:
            seen = [a.last_seen.timestamp() if a.last_seen else 0.0 for a in objs]
            return seen.__getitem__
        status = [self.status.get(int(a.id or 0)) for a in objs]
        if column == self.COL_MISSING:
            counts = [-1 if s is None or s.missing is None else s.missing for s in status]
            return counts.__getitem__
        if column == self.COL_ASSESSED:
            when = [s.assessed.timestamp() if s and s.assessed else 0.0 for s in status]
            return when.__getitem__
        if column == self.COL_REBOOT:
            reboot = [-1 if s is None or s.reboot is None else int(s.reboot) for s in status]
            return reboot.__getitem__
        if column == self.COL_ONLINE:
            online = [-1 if (o := self.online(a)) is None else int(o) for a in objs]
            return online.__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        asset: Asset = self._objects[row]
        if column == self.COL_IP and asset.primary_ip in self.duplicate_ips:
            if role == Qt.ItemDataRole.ForegroundRole:
                return _EXPIRED
            if role == Qt.ItemDataRole.ToolTipRole:
                others = ", ".join(self.duplicate_ips[asset.primary_ip])
                return f"{asset.primary_ip} is used by more than one asset: {others}"
        if column == self.COL_HOSTNAME and not asset.hostname:
            if role == Qt.ItemDataRole.ForegroundRole:
                return _MUTED
            if role == Qt.ItemDataRole.ToolTipRole:
                return "No host name known: shown by its address."
        if role == Qt.ItemDataRole.ToolTipRole:
            return asset_tooltip(asset)
        if role == Qt.ItemDataRole.ForegroundRole and column in (self.COL_MISSING,
                                                                 self.COL_REBOOT):
            text = self._display[row][column]
            if "failed" in text or "security" in text or text == "pending":
                return _EXPIRED
        if role == Qt.ItemDataRole.ForegroundRole and column == self.COL_WARRANTY:
            end = self._objects[row].warranty_end
            if end is not None:
                if end < self.today:
                    return _EXPIRED
                if (end - self.today).days <= _WARN_SOON_DAYS:
                    return _SOON
        return None

    # -- batch edits ----------------------------------------------------------------------
    def set_assets(self, assets: Sequence[Asset],
                   status: dict[int, AssetStatus] | None = None) -> None:
        """Replace every row (one model reset), with the deep-scan status if given."""
        self.today = date.today()
        self.now = datetime.now(UTC)
        if status is not None:
            self.status = status
        self.duplicate_ips = duplicate_ips(assets)
        self.set_objects(assets)

    def assets(self) -> list[Asset]:
        """Every asset, in row order."""
        return self.objects()

    def asset_at(self, row: int) -> Asset:
        """The asset of a row."""
        asset: Asset = self._objects[row]
        return asset

    def row_of(self, asset_id: int) -> int | None:
        """The row showing an asset, if any."""
        return self._row_of.get(asset_id)

    def upsert(self, asset: Asset) -> int:
        """Show a new or changed asset; return its row."""
        assert asset.id is not None
        cells, search = self.render(asset)
        row = self._row_of.get(asset.id)
        if row is None:
            row = len(self._objects)
            self.beginInsertRows(QModelIndex(), row, row)
            self._objects.append(asset)
            self._display.append(cells)
            self.search_rows.append(search)
            self._row_of[asset.id] = row
            self.endInsertRows()
        else:
            self._objects[row] = asset
            self._display[row] = cells
            self.search_rows[row] = search
            self.dataChanged.emit(
                self.index(row, 0), self.index(row, len(self.COLUMNS) - 1)
            )
        self.duplicate_ips = duplicate_ips(self._objects)
        return row

    def remove_ids(self, ids: Iterable[int]) -> None:
        """Drop the rows of some assets (one contiguous block at a time)."""
        rows = sorted({r for i in ids if (r := self._row_of.get(i)) is not None}, reverse=True)
        while rows:
            last = first = rows.pop(0)
            while rows and rows[0] == first - 1:
                first = rows.pop(0)
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._objects[first : last + 1]
            del self._display[first : last + 1]
            del self.search_rows[first : last + 1]
            self._reindex()
            self.endRemoveRows()


def asset_tooltip(asset: Asset) -> str:
    """A short summary of an asset for a tooltip; user text is escaped."""
    lines = [
        ("", asset.label),
        ("IP", ", ".join(asset.ips)),
        ("MAC", ", ".join(asset.macs)),
        ("OS", asset.os_display),
        ("Hardware", " ".join(p for p in (asset.manufacturer, asset.model) if p)),
        ("Serial", asset.serial),
        ("Owner", asset.owner),
        ("Location", asset.location),
        ("Tags", ", ".join(asset.tags)),
    ]
    parts = []
    for name, value in lines:
        if not value:
            continue
        text = html.escape(value)
        parts.append(f"<b>{text}</b>" if not name else f"{name}: {text}")
    return "<qt>" + "<br>".join(parts) + "</qt>"


def describe_event(event: AuditEvent) -> str:
    """One line saying what an audit event did, from its details (plain words: nested
    values read as "name: value", never as Python dicts)."""
    details = event.details or {}
    changes = details.get("changes")
    if isinstance(changes, dict) and changes:
        parts = []
        for name, pair in changes.items():
            if isinstance(pair, list) and len(pair) == 2:
                old, new = (_short(v) for v in pair)
                parts.append(f"{name}: {old or '—'} → {new or '—'}")
            else:
                parts.append(str(name))
        return "; ".join(parts)
    shown = []
    for key, value in details.items():
        if key in ("record", "changes"):
            continue
        if isinstance(value, list):
            if key in ("name", "client", "address", "msp_name", "logo_path") and len(value) == 2:
                shown.append(f"{key}: {_short(value[0]) or '—'} → {_short(value[1]) or '—'}")
                continue
            if not value:
                shown.append(f"{key}: none")
                continue
        shown.append(f"{key}: {_short(value)}")
    return "; ".join(shown)


def readable(value: Any) -> str:
    """A detail value in plain words: mappings as "name: value" pairs, lists joined, yes/no
    for flags, "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if not value:
            return "none"
        return ", ".join(f"{k}: {readable(v)}" if not isinstance(v, dict)
                         else f"{k} ({readable(v)})" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value) if value else "none"
    return str(value)


def detail_lines(value: Any, indent: int = 1) -> list[str]:
    """A detail value as indented lines for the audit page's detail pane."""
    pad = "    " * indent
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append(f"{pad}{key}:")
                lines += detail_lines(item, indent + 1)
            elif (isinstance(item, list) and item
                  and any(isinstance(i, dict | list) for i in item)):
                lines.append(f"{pad}{key}:")
                for entry in item:
                    lines += detail_lines(entry, indent + 1) if isinstance(entry, dict) \
                        else [f"{pad}    {readable(entry)}"]
            elif isinstance(item, list) and len(item) == 2 and key != "hosts":
                lines.append(f"{pad}{key}: {readable(item[0])} → {readable(item[1])}"
                             if key in ("name", "client", "address", "msp_name", "logo_path")
                             else f"{pad}{key}: {readable(item)}")
            else:
                lines.append(f"{pad}{key}: {readable(item)}")
        return lines
    return [f"{pad}{readable(value)}"]


def event_outcome(event: AuditEvent) -> str:
    """The outcome as it should read: a run recorded "ok" in which some hosts failed says
    how many ("partly failed: 5 of 8")."""
    outcome = str(event.outcome)
    failed = (event.details or {}).get("failed")
    count = len(failed) if isinstance(failed, dict | list) else (
        failed if isinstance(failed, int) and not isinstance(failed, bool) else 0)
    if outcome == "ok" and count:
        total = (event.details or {}).get("hosts")
        total_n = len(total) if isinstance(total, list | dict) else total
        return (f"partly failed: {count} of {total_n}" if isinstance(total_n, int)
                and total_n >= count else f"partly failed: {count}")
    return outcome


def _short(value: Any, limit: int = 80) -> str:
    text = "" if value is None else readable(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AuditTableModel(RowTableModel):
    """The audit log: one row per event, newest first as delivered."""

    COLUMNS = ("Time", "Actor", "Action", "Object", "Details", "Outcome")

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        e: AuditEvent = obj
        label = str((e.details or {}).get("label", ""))
        target = f"{e.object_type} {e.object_id}".strip()
        if label:
            target = f"{target} ({label})" if target else label
        cells = (
            local_time(e.ts, seconds=True), e.actor, e.action, target,
            describe_event(e), event_outcome(e),
        )
        return cells, " ".join(cells).lower()

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        if column == 0:
            keys = [e.id or 0 for e in self._objects]
            return keys.__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and column == 4:
            return self._display[row][4] or None
        if (role == Qt.ItemDataRole.ForegroundRole and column == 5
                and self._display[row][5] != "ok"):
            return QColor("#b3261e")
        return None


class TextFilterProxy(QSortFilterProxyModel):
    """Filters a :class:`RowTableModel` by words typed in a search box.

    Every word must occur (case-insensitive) in the row's search string. Sorting is passed
    to the source model, which sorts on precomputed keys.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._words: tuple[str, ...] = ()
        self._rows: RowTableModel | None = None

    def setSourceModel(self, model: Any) -> None:
        assert isinstance(model, RowTableModel)
        self._rows = model
        super().setSourceModel(model)

    @property
    def filter_text(self) -> str:
        """The words currently filtered on."""
        return " ".join(self._words)

    def set_filter_text(self, text: str) -> None:
        """Show only rows containing every word of ``text``."""
        words = tuple(dict.fromkeys(text.lower().split()))
        if words == self._words:
            return
        self.beginFilterChange()
        self._words = words
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        words = self._words
        if not words or self._rows is None:
            return True
        text = self._rows.search_rows[source_row]
        if len(words) == 1:
            return words[0] in text
        return all(w in text for w in words)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if self._rows is not None:
            self._rows.sort(column, order)


def duplicate_ips(assets: Iterable[Asset]) -> dict[str, list[str]]:
    """IP addresses that more than one asset has, with those assets' labels."""
    users: dict[str, list[str]] = {}
    for asset in assets:
        for ip in dict.fromkeys(asset.ips):
            users.setdefault(ip, []).append(asset.label)
    return {ip: labels for ip, labels in users.items() if len(labels) > 1}


def assets_matching(assets: Iterable[Asset], words: str) -> set[int]:
    """Ids of the assets the inventory's filter box shows for ``words`` (a saved group)."""
    wanted = tuple(dict.fromkeys(words.lower().split()))
    model = AssetTableModel()
    return {int(a.id or 0) for a in assets
            if all(w in model.render(a)[1] for w in wanted)}


class AssetFilterProxy(TextFilterProxy):
    """The inventory's filter: host name, IP, MAC, OS, kind, location, owner, tags, model;
    and optionally only some assets (a dashboard card's, a saved group's)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids: frozenset[int] | None = None

    @property
    def id_scope(self) -> frozenset[int] | None:
        """The assets shown whatever the words (None: every asset)."""
        return self._ids

    def set_id_scope(self, ids: Iterable[int] | None) -> None:
        """Show only these assets (None: every asset); the words still filter within."""
        scope = None if ids is None else frozenset(ids)
        if scope == self._ids:
            return
        self.beginFilterChange()
        self._ids = scope
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if self._ids is not None and self._rows is not None:
            asset = self._rows.object_at(source_row)
            if getattr(asset, "id", None) not in self._ids:
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def asset_at(self, row: int) -> Asset:
        """The asset shown at a proxy row."""
        source = self.mapToSource(self.index(row, 0))
        asset: Asset = source.data(ObjectRole)
        return asset
