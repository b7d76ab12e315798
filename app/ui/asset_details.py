"""The Inventory page's detail panel: identity, deep-scan facts, software, missing
updates and change history of the selected asset (and the small helpers it shows them with).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.models import Asset, AssetPatch, AuditEvent, Classification, Software
from app.ui.models import (
    RowTableModel,
    TextFilterProxy,
    describe_event,
    enum_label,
    local_time,
    os_family_label,
)
from app.ui.qt import (
    QColor,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QStackedWidget,
    Qt,
    QTableView,
    QTabWidget,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import make_table_view, plain_label

if TYPE_CHECKING:
    pass

_RED = QColor("#b3261e")

#: How each per-host error kind of a deep scan reads.
ERROR_KINDS = {
    "unreachable": "unreachable",
    "connection_lost": "connection lost",
    "auth_failed": "login refused",
    "sudo_refused": "sudo refused",
    "timeout": "timed out",
    "host_key_changed": "host key changed",
    "no_credential": "no credential",
    "apt_lock": "package manager busy",
    "rpm_lock": "package manager busy",
    "zypp_lock": "package manager busy",
    "unknown_os": "unknown OS",
    "unsupported_os": "unsupported OS",
    "no_package_manager": "no package manager",
    "apt_update_failed": "apt update failed",
    "dnf_refresh_failed": "dnf refresh failed",
    "parse_failed": "unexpected output",
    "cancelled": "cancelled",
    "error": "error",
}


def error_kind_label(kind: str) -> str:
    """A per-host error kind as a person reads it."""
    return ERROR_KINDS.get(kind, kind.replace("_", " "))


def human_bytes(value: object) -> str:
    """1536 → ``1.5 KiB``; empty for nothing."""
    if not isinstance(value, int | float) or value < 0:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def human_duration(seconds: object) -> str:
    """Uptime as ``3 d 4 h`` / ``5 h 12 min`` / ``40 min``."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return ""
    minutes = int(seconds) // 60
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def facts_texts(facts: dict[str, Any]) -> dict[str, str]:
    """The deep scan's host facts as display texts, keyed like the detail panel's rows."""
    cpu = str(facts.get("cpu_model") or "")
    if facts.get("cpu_count"):
        cpu = f"{cpu} × {facts['cpu_count']}" if cpu else f"{facts['cpu_count']} CPUs"
    total, free = facts.get("memory_total"), facts.get("memory_available")
    memory = human_bytes(total)
    if memory and isinstance(free, int):
        memory += f" ({human_bytes(free)} available)"
    disks = []
    for d in facts.get("disks") or []:
        size, avail = human_bytes(d.get("size_bytes")), human_bytes(d.get("free_bytes"))
        share = ""
        if isinstance(d.get("size_bytes"), int) and d["size_bytes"] > 0 and \
                isinstance(d.get("free_bytes"), int):
            share = f", {100 * d['free_bytes'] / d['size_bytes']:.0f}%"
        disks.append(f"{d.get('mount', '?')}  {avail} free of {size}{share}"
                     + (f"  ({d['filesystem']})" if d.get("filesystem") else ""))
    interfaces = []
    for i in facts.get("interfaces") or []:
        addresses = ", ".join(i.get("addresses") or [])
        interfaces.append("  ".join(p for p in (str(i.get("name") or "?"),
                                                 str(i.get("mac") or ""), addresses) if p))
    kernel = str(facts.get("kernel") or "")
    if facts.get("arch"):
        kernel = f"{kernel} ({facts['arch']})" if kernel else str(facts["arch"])
    hardware = " ".join(str(facts.get(k) or "") for k in ("manufacturer", "model")).strip()
    return {
        "os": str(facts.get("os_pretty") or facts.get("os_name") or ""),
        "kernel": kernel,
        "uptime": human_duration(facts.get("uptime_seconds")),
        "cpu": cpu,
        "memory": memory,
        "disks": "\n".join(disks),
        "interfaces": "\n".join(interfaces),
        "hardware": hardware + (f", serial {facts['serial']}" if facts.get("serial") else ""),
        "users": ", ".join(facts.get("logged_in_users") or []) or "nobody",
    }


class SoftwareModel(RowTableModel):
    """Installed software of one asset."""

    COLUMNS = ("Name", "Version", "Arch", "Source")

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        s: Software = obj
        cells = (s.name, s.version, s.arch, s.source)
        return cells, f"{s.name} {s.version} {s.source}".lower()


class MissingUpdatesModel(RowTableModel):
    """Missing updates of one asset."""

    COLUMNS = ("Package", "Installed → candidate", "Classification", "Severity",
               "Source", "CVEs")

    #: The host's architecture (facts, uname -m): packages of another one show as
    #: ``libc6:i386``.
    host_arch = ""

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        p: AssetPatch = obj
        cells = (p.label(self.host_arch),
                 f"{p.installed_version or '?'} → {p.candidate_version}",
                 enum_label(p.classification),
                 "" if str(p.severity) == "unknown" else enum_label(p.severity), p.source,
                 ", ".join(p.cves))
        return cells, " ".join((*cells, *p.advisories)).lower()

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        if column == 2:
            order = {Classification.SECURITY: 0, Classification.BUGFIX: 1,
                     Classification.ENHANCEMENT: 2}
            return [order.get(p.classification, 3) for p in self._objects].__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        p: AssetPatch = self._objects[row]
        if (role == Qt.ItemDataRole.ForegroundRole and column == 2
                and p.classification is Classification.SECURITY):
            return _RED
        if role == Qt.ItemDataRole.ToolTipRole:
            refs = [*p.cves, *p.advisories]
            notes = [f"{p.label(self.host_arch)} {p.installed_version} → "
                     f"{p.candidate_version}" + (f" ({p.arch})" if p.arch else "")]
            if refs:
                notes.append(", ".join(refs))
            if p.reboot_required:
                notes.append("needs a reboot")
            if p.first_seen is not None:
                notes.append(f"missing since {local_time(p.first_seen)}")
            return "\n".join(notes)
        return None


def _filtered_table(name: str, accessible: str, model: RowTableModel,
                    placeholder: str, widths: Sequence[int]) -> tuple[QWidget, QTableView]:
    """A filter box over a read-only table (for the detail panel's lists)."""
    proxy = TextFilterProxy(model)
    proxy.setSourceModel(model)
    view = make_table_view(name, accessible)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
    for col, width in enumerate(widths):
        view.horizontalHeader().resizeSection(col, width)
    search = QLineEdit()
    search.setObjectName(f"{name}Filter")
    search.setAccessibleName(f"Filter {accessible.lower()}")
    search.setPlaceholderText(placeholder)
    search.setClearButtonEnabled(True)
    search.textChanged.connect(proxy.set_filter_text)
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(8, 8, 8, 8)
    layout.addWidget(search)
    layout.addWidget(view, 1)
    return holder, view


class AssetDetails(QFrame):
    """Read-only view of one asset's fields and its change log."""

    SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
        ("Identity", (("Host name", "hostname"), ("Kind", "kind"), ("Tags", "tags"))),
        ("Network", (("IP addresses", "ips"), ("MAC addresses", "macs"),
                     ("First seen", "first_seen"), ("Last seen", "last_seen"))),
        ("Operating system", (("Family", "os_family"), ("Name", "os_name"),
                              ("Version", "os_version"), ("Build / revision", "os_build"))),
        ("Hardware", (("Manufacturer", "manufacturer"), ("Model", "model"),
                      ("Serial number", "serial"))),
        ("Purchase & support", (("Vendor", "vendor"), ("Order number", "order_number"),
                                ("Purchased", "purchase_date"),
                                ("Warranty end", "warranty_end"),
                                ("Support contact", "support_contact"))),
        ("Ownership", (("Location", "location"), ("Owner", "owner"), ("Ring", "ring"))),
        ("Criticality", (("Impact if down", "impact"), ("Sensitive data", "data_sensitivity"),
                         ("Exposure", "exposure"))),
    )

    #: Rows of the "Last deep scan" section: (caption, key).
    SCAN_ROWS: tuple[tuple[str, str], ...] = (
        ("Scanned", "when"), ("Result", "result"), ("OS", "os"), ("Kernel", "kernel"),
        ("Uptime", "uptime"), ("CPU", "cpu"), ("Memory", "memory"), ("Disks", "disks"),
        ("Interfaces", "interfaces"), ("Hardware", "hardware"), ("Logged in", "users"),
        ("Reboot", "reboot"), ("Warnings", "warnings"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailPanel")
        self.setAccessibleName("Asset details")
        self.asset: Asset | None = None
        self.values: dict[str, QLabel] = {}
        self.scan_values: dict[str, QLabel] = {}
        #: The asset whose deep-scan details are shown (None while loading).
        self.assessment_shown: int | None = None

        self.title = QLabel()
        self.title.setProperty("role", "page-title")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.subtitle = plain_label(selectable=True)
        self.subtitle.setProperty("role", "page-subtitle")

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(14, 12, 14, 12)
        body_layout.addWidget(self.title)
        body_layout.addWidget(self.subtitle)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(3)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # The deep scan's rows share the form so that every caption lines up.
        self.scan_form = form
        heading = QLabel("Last deep scan")
        heading.setProperty("role", "section")
        form.addRow(heading)
        for name, key in self.SCAN_ROWS:
            value = plain_label(selectable=True)
            value.setObjectName(f"scan_{key}")
            self.scan_values[key] = value
            caption = QLabel(name)
            caption.setProperty("role", "muted")
            form.addRow(caption, value)
        for section, rows in self.SECTIONS:
            heading = QLabel(section)
            heading.setProperty("role", "section")
            form.addRow(heading)
            for name, key in rows:
                value = plain_label(selectable=True)
                value.setObjectName(f"detail_{key}")
                self.values[key] = value
                caption = QLabel(name)
                caption.setProperty("role", "muted")
                form.addRow(caption, value)
        body_layout.addLayout(form)
        heading = QLabel("Notes")
        heading.setProperty("role", "section")
        body_layout.addWidget(heading)
        self.notes = plain_label(selectable=True)
        self.notes.setObjectName("detail_notes")
        body_layout.addWidget(self.notes)
        heading = QLabel("Change log")
        heading.setProperty("role", "section")
        body_layout.addWidget(heading)
        self.history = plain_label(selectable=True)
        self.history.setObjectName("detail_history")
        body_layout.addWidget(self.history)
        body_layout.addStretch(1)

        self.placeholder = QLabel("Select an asset to see its details.")
        self.placeholder.setProperty("role", "muted")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.software_model = SoftwareModel(self)
        software, self.software_view = _filtered_table(
            "softwareView", "Installed software", self.software_model,
            "Filter by name, version or source", (170, 150, 60))
        self.updates_model = MissingUpdatesModel(self)
        updates, self.updates_view = _filtered_table(
            "updatesView", "Missing updates", self.updates_model,
            "Filter by package, CVE or advisory", (130, 170, 95, 75, 170))
        self.tabs = QTabWidget()
        self.tabs.setObjectName("detailTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(scroll, "Overview")
        self.tabs.addTab(software, "Software")
        self.tabs.addTab(updates, "Updates")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def show_asset(self, asset: Asset | None) -> None:
        """Show an asset's fields (None: the placeholder)."""
        self.asset = asset
        if asset is None:
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.title.setText(asset.label)
        self.subtitle.setText(
            " · ".join(p for p in (asset.os_display, asset.location, asset.owner) if p)
            or "No OS, location or owner recorded yet"
        )
        exposure = [
            text for flag, text in (
                (asset.critical_operations, "critical operations"),
                (asset.public_facing, "public-facing"),
                (asset.internet_facing, "internet-facing"),
            ) if flag
        ]
        values = {
            "hostname": asset.hostname,
            "kind": "" if asset.kind == "unknown" else enum_label(asset.kind),
            "tags": ", ".join(asset.tags),
            "ips": "\n".join(asset.ips),
            "macs": "\n".join(asset.macs),
            "first_seen": local_time(asset.first_seen),
            "last_seen": local_time(asset.last_seen),
            "os_family": "" if asset.os_family == "unknown" else os_family_label(asset.os_family),
            "os_name": asset.os_name,
            "os_version": asset.os_version,
            "os_build": asset.os_build,
            "manufacturer": asset.manufacturer,
            "model": asset.model,
            "serial": asset.serial,
            "vendor": asset.vendor,
            "order_number": asset.order_number,
            "purchase_date": asset.purchase_date.isoformat() if asset.purchase_date else "",
            "warranty_end": asset.warranty_end.isoformat() if asset.warranty_end else "",
            "support_contact": asset.support_contact,
            "location": asset.location,
            "owner": asset.owner,
            "ring": enum_label(asset.ring),
            "impact": enum_label(asset.impact),
            "data_sensitivity": ", ".join(enum_label(d) for d in asset.data_sensitivity),
            "exposure": ", ".join(exposure),
        }
        for key, label in self.values.items():
            text = values.get(key, "")
            label.setText(text or "—")
            label.setProperty("role", "" if text else "muted")
            label.style().unpolish(label)
            label.style().polish(label)
        self.notes.setText(asset.notes or "—")
        self.history.setText("Loading…")
        if self.assessment_shown != asset.id:
            self.assessment_shown = None
            self._clear_assessment("Loading…")

    def _clear_assessment(self, text: str) -> None:
        for key, label in self.scan_values.items():
            label.setText(text if key == "when" else "")
            self._set_error(label, False)
            self.scan_form.setRowVisible(label, key == "when")
        self.software_model.set_objects([])
        self.updates_model.set_objects([])
        self.tabs.setTabText(1, "Software")
        self.tabs.setTabText(2, "Updates")

    @staticmethod
    def _set_error(label: QLabel, error: bool) -> None:
        role = "field-error" if error else ""
        if (label.property("role") or "") == role:
            return  # re-polishing needlessly leaves wrapped labels a stale height
        label.setProperty("role", role)
        label.style().unpolish(label)
        label.style().polish(label)

    def show_assessment(self, asset_id: int, record: Any, software: Sequence[Software],
                        patches: Sequence[AssetPatch]) -> None:
        """Show an asset's last deep scan, software and missing updates (ignored if the
        selection moved on). ``record`` is an ``AssessmentRecord`` or None."""
        if self.asset is None or self.asset.id != asset_id:
            return
        self.assessment_shown = asset_id
        if record is None:
            self._clear_assessment("Never. Select the asset and press Ctrl+R to assess it "
                                   "over SSH (WinRM for Windows).")
            return
        texts: dict[str, str] = {}
        took = (record.finished_at - record.started_at).total_seconds()
        texts["when"] = f"{local_time(record.finished_at)}  ({took:.1f} s" + (
            f", {record.driver})" if record.driver else ")")
        if record.ok:
            security = sum(1 for p in patches if p.classification is Classification.SECURITY)
            plural = "s" if len(patches) != 1 else ""
            texts["result"] = (f"{len(patches)} missing update{plural} ({security} security), "
                               f"{record.packages:,} packages installed")
            texts.update(facts_texts(record.facts or {}))
            if record.reboot_required is None:
                texts["reboot"] = "unknown"
            elif record.reboot_required:
                reasons = "\n".join(f"  • {r}" for r in record.reboot_reasons)
                texts["reboot"] = "required" + (f"\n{reasons}" if reasons else "")
            else:
                texts["reboot"] = "not required"
            if record.warnings:
                # Output the scan could not fully read: the result stands (apt's own summary
                # agreed) but a person should look.
                texts["warnings"] = "\n".join(f"  • {w}" for w in record.warnings)
        else:
            texts["result"] = f"failed — {error_kind_label(record.error_kind)}: {record.error}"
            if software or patches:
                texts["result"] += ("\nSoftware and updates below are from the last "
                                    "successful scan.")
        for key, label in self.scan_values.items():
            text = texts.get(key, "")
            label.setText(text)
            self.scan_form.setRowVisible(label, bool(text))
            self._set_error(label, (key == "result" and not record.ok)
                            or (key == "reboot" and bool(record.reboot_required))
                            or key == "warnings")
        # The form's height-for-width is computed before the new texts are laid out; one more
        # pass once the event loop has settled gives multi-line rows their full height.
        QTimer.singleShot(0, self, self.scan_form.invalidate)
        self.updates_model.host_arch = str((record.facts or {}).get("arch") or "")
        for model, view, rows in ((self.software_model, self.software_view, software),
                                  (self.updates_model, self.updates_view, patches)):
            model.set_objects(rows)
            hdr = view.horizontalHeader()
            model.sort(hdr.sortIndicatorSection(), hdr.sortIndicatorOrder())
        self.tabs.setTabText(1, f"Software ({len(software):,})")
        self.tabs.setTabText(2, f"Updates ({len(patches):,})")

    def show_history(self, asset_id: int, events: Sequence[AuditEvent]) -> None:
        """Show the change log of the asset on display (ignored if the selection moved on)."""
        if self.asset is None or self.asset.id != asset_id:
            return
        lines = []
        for e in events:
            what = e.action.removeprefix("asset.")
            detail = describe_event(e) if e.action != "asset.add" else ""
            if e.action == "asset.add":
                detail = f"added ({e.details.get('source', 'manual')})"
            lines.append(f"{local_time(e.ts)}  {e.actor}  {what}" + (f": {detail}" if detail
                                                                      else ""))
        self.history.setText("\n".join(lines) if lines else "No recorded changes.")
