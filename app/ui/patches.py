"""The Patches page: the site's missing updates by patch and by host, with filters.

The rows are built on a worker thread from ``SiteService.patches()``, ``assessments()`` and
``assets()`` (:func:`build_rows`); the GUI thread only renders them. Each view is a
:class:`RowTableModel` behind a :class:`PatchFilterProxy` that filters by words,
classification and minimum severity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.core.models import Asset, AssetPatch, Classification, Severity
from app.core.patchgroups import (
    SEVERITY_RANK,
    PatchGroup,
    classification_rank,
    group_patches,
    severity_rank,
)
from app.ui.cve_detail import CveContext, detail_lines, load_cve_context
from app.ui.deploy.preset import DeployPreset, selection_preset
from app.ui.inventory import error_kind_label
from app.ui.models import (
    AnyIndex,
    ObjectRole,
    RowTableModel,
    TextFilterProxy,
    _ip_key,
    local_time,
)
from app.ui.page import Page
from app.ui.qt import (
    QByteArray,
    QColor,
    QComboBox,
    QHBoxLayout,
    QKeySequence,
    QLineEdit,
    QObject,
    QPushButton,
    QSettings,
    QShortcut,
    QStackedWidget,
    Qt,
    QTableView,
    QTabWidget,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskRunner
from app.ui.widgets import make_table_view, page_header, plain_label

if TYPE_CHECKING:
    from app.services import SiteService

CLASS_LABELS = {Classification.SECURITY: "Security", Classification.BUGFIX: "Bug fix",
                Classification.ENHANCEMENT: "Enhancement", Classification.OTHER: "Other"}
_RED = QColor("#b3261e")
_AMBER = QColor("#9a6700")
_MUTED = QColor("#6b7785")
FILTER_DEBOUNCE_MS = 150


@dataclass(frozen=True, slots=True)
class HostRow:
    """One assessed asset's patch state."""

    asset_id: int
    label: str
    ip: str
    missing: int
    security: int
    reboot_required: bool | None
    assessed: datetime | None
    ok: bool
    error_kind: str
    error: str
    classes: frozenset[str]
    severity_rank: int
    packages: tuple[str, ...]


def build_rows(patches: Iterable[AssetPatch], assessments: dict[int, Any],
               assets: Iterable[Asset]) -> tuple[list[PatchGroup], list[HostRow]]:
    """Group missing updates by package and by host (pure; runs on a worker thread).

    Args:
        patches: missing updates of the whole site.
        assessments: the latest deep scan per asset id (``AssessmentRecord``-like objects).
        assets: every asset (for names and addresses).
    """
    by_id = {a.id: a for a in assets if a.id is not None}
    known = [p for p in patches if p.asset_id in by_id]
    by_asset: dict[int, list[AssetPatch]] = defaultdict(list)
    for p in known:
        by_asset[p.asset_id].append(p)
    groups = group_patches(known, {i: a.label for i, a in by_id.items()}, by_version=False)
    hosts = []
    for asset_id, record in assessments.items():
        asset = by_id.get(asset_id)
        if asset is None:
            continue
        items = by_asset.get(asset_id, [])
        hosts.append(HostRow(
            asset_id=asset_id,
            label=asset.label,
            ip=asset.primary_ip,
            missing=len(items),
            security=sum(1 for p in items if p.classification is Classification.SECURITY),
            reboot_required=record.reboot_required if record.ok else None,
            assessed=record.finished_at,
            ok=bool(record.ok),
            error_kind="" if record.ok else str(record.error_kind or "error"),
            error="" if record.ok else str(record.error or ""),
            classes=frozenset(str(p.classification) for p in items),
            severity_rank=max((severity_rank(p.severity) for p in items), default=0),
            packages=tuple(sorted(p.label(_host_arch(record)) for p in items)),
        ))
    return groups, hosts


NO_ROLLBACK = "cannot be rolled back"


def rollback_marks(assessments: dict[int, Any]) -> dict[str, str]:
    """Per Windows KB, whether a deployment could roll it back: "cannot be rolled back"
    when Windows marks it not uninstallable on any host, "uninstall" otherwise (from the
    per-update details the Windows driver stores)."""
    marks: dict[str, str] = {}
    for record in assessments.values():
        facts = getattr(record, "facts", None) or {}
        details = (facts.get("details") or {}).get("updates") if isinstance(facts, dict) else None
        if not isinstance(details, dict):
            continue
        for package, info in details.items():
            if not isinstance(info, dict):
                continue
            if info.get("uninstallable") is not True or marks.get(package) == NO_ROLLBACK:
                marks[str(package)] = NO_ROLLBACK
            else:
                marks[str(package)] = "uninstall"
    return marks


def _host_arch(record: Any) -> str:
    """The host's architecture from its last scan's facts ("" when unknown), so a
    package of another architecture shows as ``libc6:i386``."""
    facts = getattr(record, "facts", None) or {}
    return str(facts.get("arch") or "")


def patch_counts(service: Any) -> dict[str, int]:
    """Site-wide numbers for the dashboard (runs on a worker thread).

    Returns:
        ``missing`` updates, ``security`` updates, ``hosts`` with something missing,
        ``assessed`` hosts and hosts whose last deep scan ended in an ``errors``.
    """
    patches = service.patches()
    records = service.assessments()
    return {
        "missing": len(patches),
        "security": sum(1 for p in patches if p.classification is Classification.SECURITY),
        "hosts": len({p.asset_id for p in patches}),
        "assessed": len(records),
        "errors": sum(1 for r in records.values() if not r.ok),
    }


class PatchTableModel(RowTableModel):
    """Missing updates grouped by package."""

    COLUMNS = ("Package", "Candidate version", "Classification", "Severity", "Hosts", "CVEs",
               "Reboot", "Rollback")
    COL_PACKAGE, COL_CANDIDATE, COL_CLASS, COL_SEVERITY, COL_HOSTS, COL_CVES = range(6)
    COL_REBOOT, COL_ROLLBACK = 6, 7

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: Package → what its rollback can do, where the platform limits it (Windows KBs:
        #: :func:`rollback_marks`); Linux packages roll back from the kept package files.
        self.marks: dict[str, str] = {}

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        g: PatchGroup = obj
        cves = ", ".join(g.cves[:3]) + (f" +{len(g.cves) - 3}" if len(g.cves) > 3 else "")
        cells = (
            g.package,
            ", ".join(g.candidates),
            CLASS_LABELS.get(g.classification, str(g.classification)),
            "" if g.severity is Severity.UNKNOWN else str(g.severity).capitalize(),
            str(len(g.hosts)),
            cves,
            "required" if g.reboot_required else "",
            self.marks.get(g.package, ""),
        )
        search = " ".join((*cells[:4], *g.cves, *g.advisories, *g.sources,
                           *(h[1] for h in g.hosts))).lower()
        return cells, search

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        objs: list[PatchGroup] = self._objects
        if column == self.COL_HOSTS:
            return [len(g.hosts) for g in objs].__getitem__
        if column == self.COL_SEVERITY:
            return [g.severity_rank for g in objs].__getitem__
        if column == self.COL_CLASS:
            return [classification_rank(g.classification) for g in objs].__getitem__
        if column == self.COL_CVES:
            return [len(g.cves) for g in objs].__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        g: PatchGroup = self._objects[row]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_CLASS and g.classification is Classification.SECURITY:
                return _RED
            if column == self.COL_SEVERITY and g.severity_rank >= 3:
                return _RED
            if column == self.COL_REBOOT and g.reboot_required:
                return _AMBER
            if column == self.COL_ROLLBACK and self.marks.get(g.package) == NO_ROLLBACK:
                return _AMBER
        elif role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_HOSTS:
                return "\n".join(h[1] for h in g.hosts)
            if column == self.COL_CVES and g.cves:
                return "\n".join(g.cves)
        elif role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_HOSTS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class HostTableModel(RowTableModel):
    """Assessed assets with their missing-update counts and last deep-scan result."""

    COLUMNS = ("Host", "IP", "Missing", "Security", "Reboot", "Last assessed", "Error")
    COL_HOST, COL_IP, COL_MISSING, COL_SECURITY, COL_REBOOT, COL_ASSESSED, COL_ERROR = range(7)

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        h: HostRow = obj
        reboot = {True: "required", False: "no", None: ""}[h.reboot_required]
        error = f"{error_kind_label(h.error_kind)}: {h.error}" if not h.ok else ""
        cells = (h.label, h.ip, str(h.missing), str(h.security), reboot,
                 local_time(h.assessed), error)
        search = " ".join((h.label, h.ip, error, *h.packages)).lower()
        return cells, search

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        objs: list[HostRow] = self._objects
        if column == self.COL_MISSING:
            return [h.missing for h in objs].__getitem__
        if column == self.COL_SECURITY:
            return [h.security for h in objs].__getitem__
        if column == self.COL_ASSESSED:
            return [h.assessed.timestamp() if h.assessed else 0.0 for h in objs].__getitem__
        if column == self.COL_IP:
            return [_ip_key(h.ip) for h in objs].__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        h: HostRow = self._objects[row]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_ERROR or (not h.ok and column == self.COL_HOST):
                return _RED
            if column == self.COL_SECURITY and h.security:
                return _RED
            if column == self.COL_REBOOT and h.reboot_required:
                return _AMBER
            if not h.ok and column in (self.COL_MISSING, self.COL_SECURITY):
                return _MUTED
        elif role == Qt.ItemDataRole.ToolTipRole and column == self.COL_ERROR and h.error:
            return h.error
        elif role == Qt.ItemDataRole.TextAlignmentRole and column in (self.COL_MISSING,
                                                                     self.COL_SECURITY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class PatchFilterProxy(TextFilterProxy):
    """Words, plus a classification and a minimum severity."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classification = ""
        self.min_severity = 0

    def set_filters(self, classification: str, min_severity: int) -> None:
        """Show only rows with this classification (empty: any) and at least this severity."""
        if (classification, min_severity) == (self.classification, self.min_severity):
            return
        self.beginFilterChange()
        self.classification = classification
        self.min_severity = min_severity
        self.endFilterChange(TextFilterProxy.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if self.classification or self.min_severity:
            rows = self._rows
            if rows is None:
                return True
            obj = rows.object_at(source_row)
            if self.classification and self.classification not in obj.classes:
                return False
            if self.min_severity and obj.severity_rank < self.min_severity:
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def object_at(self, row: int) -> Any:
        """The row object shown at a proxy row."""
        return self.mapToSource(self.index(row, 0)).data(ObjectRole)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0




class PatchesPage(Page):
    """Site-wide missing updates, by patch or by host."""

    #: Show this asset on the Inventory page.
    open_asset = Signal(int)
    #: Assess every asset now.
    assess_all_requested = Signal()
    refresh_requested = Signal()
    #: "Deploy…" with the selection (a :class:`~app.ui.deploy.preset.DeployPreset`).
    deploy_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchesPage")
        self.cve_context = CveContext()  # CVSS, EPSS, KEV of the CVEs shown
        header, self.summary = page_header("Patches")
        self.summary.setObjectName("patchesSummary")

        self.search = QLineEdit()
        self.search.setObjectName("patchesSearch")
        self.search.setAccessibleName("Filter patches")
        self.search.setPlaceholderText("Filter by package, host, CVE or advisory  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FILTER_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.apply_filter)
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("classificationFilter")
        self.class_combo.setAccessibleName("Classification")
        self.class_combo.addItem("All classifications", "")
        for cls in Classification:
            text = "Security only" if cls is Classification.SECURITY else CLASS_LABELS[cls]
            self.class_combo.addItem(text, str(cls))
        self.severity_combo = QComboBox()
        self.severity_combo.setObjectName("severityFilter")
        self.severity_combo.setAccessibleName("Minimum severity")
        self.severity_combo.addItem("Any severity", 0)
        for sev in (Severity.LOW, Severity.MODERATE, Severity.IMPORTANT):
            self.severity_combo.addItem(f"{str(sev).capitalize()} or worse", SEVERITY_RANK[sev])
        self.severity_combo.addItem("Critical", SEVERITY_RANK[Severity.CRITICAL])
        self.class_combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.severity_combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        self.refresh_requested.connect(self.load)
        self.assess_button = QPushButton("Assess all…")
        self.assess_button.setObjectName("patchesAssessAll")
        self.assess_button.setToolTip("Deep-scan every asset with an address (Ctrl+Shift+R)")
        self.assess_button.clicked.connect(self.assess_all_requested.emit)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.class_combo)
        bar.addWidget(self.severity_combo)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.assess_button)
        self.deploy_button = QPushButton("&Deploy…")
        self.deploy_button.setObjectName("patchesDeploy")
        self.deploy_button.setToolTip("Open the deploy wizard with the selected patches, "
                                      "hosts or risk items")
        self.deploy_button.clicked.connect(self._on_deploy_clicked)
        bar.addWidget(self.deploy_button)

        self.patch_model = PatchTableModel(self)
        self.patch_proxy = PatchFilterProxy(self)
        self.patch_proxy.setSourceModel(self.patch_model)
        self.patch_view = self._view("patchesByPatch", "Missing updates by patch",
                                     self.patch_proxy, (190, 230, 110, 90, 60, 260))
        self.patch_view.horizontalHeader().setSortIndicator(PatchTableModel.COL_CLASS,
                                                            Qt.SortOrder.AscendingOrder)
        self.host_model = HostTableModel(self)
        self.host_proxy = PatchFilterProxy(self)
        self.host_proxy.setSourceModel(self.host_model)
        self.host_view = self._view("patchesByHost", "Missing updates by host",
                                    self.host_proxy, (170, 120, 70, 70, 80, 130))
        self.host_view.horizontalHeader().setSortIndicator(HostTableModel.COL_SECURITY,
                                                           Qt.SortOrder.DescendingOrder)
        for view in (self.patch_view, self.host_view):
            view.setSortingEnabled(True)
        self.patch_view.doubleClicked.connect(lambda _i: self._on_patch_activated())
        self.host_view.doubleClicked.connect(lambda _i: self._on_host_activated())
        for key in ("Return", "Enter"):
            QShortcut(QKeySequence(key), self.patch_view, self._on_patch_activated,
                      Qt.ShortcutContext.WidgetShortcut)
            QShortcut(QKeySequence(key), self.host_view, self._on_host_activated,
                      Qt.ShortcutContext.WidgetShortcut)
        self.patch_view.selectionModel().selectionChanged.connect(self._show_detail)
        self.host_view.selectionModel().selectionChanged.connect(self._show_detail)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("patchesTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.patch_view, "By patch")
        self.tabs.addTab(self.host_view, "By host")
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        #: The "By risk" tab (see :meth:`add_risk_tab`).
        self.risk: Any = None
        self.detail = plain_label()
        self.detail.setObjectName("patchDetail")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setMinimumHeight(self.fontMetrics().height() * 3)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        self.empty = plain_label(
            "No deep scan yet.\n\nStore an SSH credential on the Credentials page (Ctrl+4), "
            "then select assets on the Inventory page and press Ctrl+R (Assess selected), "
            "or press Assess all.", role="muted")
        self.empty.setObjectName("patchesEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(self.tabs, 1)
        body_layout.addWidget(self.detail)
        self.stack = QStackedWidget()
        self.stack.addWidget(body)
        self.stack.addWidget(self.empty)
        self.stack.setCurrentIndex(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self.summary.setText("No missing updates known yet.")

    def add_risk_tab(self, panel: Any) -> None:
        """Add the risk-ordered view (``app.ui.priorities.PrioritiesPanel``) as a third tab.

        The filter box applies to it too; its own filters replace classification and
        severity while it is shown.
        """
        self.risk = panel
        self.tabs.addTab(panel, "By risk")
        self.loaded.connect(panel.reload)
        panel.loaded.connect(self._update_tab_titles)
        panel.proxy.layoutChanged.connect(self._update_tab_titles)
        panel.proxy.rowsInserted.connect(self._update_tab_titles)
        panel.proxy.rowsRemoved.connect(self._update_tab_titles)

    def show_by_risk(self) -> None:
        """Switch to the risk-ordered view."""
        if self.risk is not None:
            self.tabs.setCurrentWidget(self.risk)

    def _on_tabs_current_changed(self, _index: int) -> None:
        on_risk = self.risk is not None and self.tabs.currentWidget() is self.risk
        self.class_combo.setVisible(not on_risk)
        self.severity_combo.setVisible(not on_risk)
        self.detail.setVisible(not on_risk)
        self._show_detail()

    def _view(self, name: str, accessible: str, proxy: PatchFilterProxy,
              widths: Sequence[int]) -> QTableView:
        view = make_table_view(name, accessible)
        view.setModel(proxy)
        for col, width in enumerate(widths):
            view.horizontalHeader().resizeSection(col, width)
        return view

    # -- data -------------------------------------------------------------------------------
    def bind(self, service: SiteService | None, runner: TaskRunner) -> None:
        super().bind(service, runner)
        if self.risk is not None:
            self.risk.set_service(service)

    def clear(self) -> None:
        self.set_rows([], [])

    def load(self) -> None:
        """Reload the missing updates of every assessed host (in the background)."""

        def read(service: SiteService) -> Any:
            patches = service.patches()
            assessments = service.assessments()
            return (build_rows(patches, assessments, service.assets()),
                    rollback_marks(assessments), load_cve_context(service, patches))

        def show(result: Any) -> None:
            rows, marks, self.cve_context = result
            self.patch_model.marks = marks
            self.set_rows(*rows)
            self.loaded.emit()

        self.read(read, "load patches", show)

    def set_rows(self, groups: Sequence[PatchGroup], hosts: Sequence[HostRow]) -> None:
        """Show freshly loaded rows, keeping sort orders."""
        for model, view in ((self.patch_model, self.patch_view),
                            (self.host_model, self.host_view)):
            model.set_objects(groups if model is self.patch_model else hosts)
            hdr = view.horizontalHeader()
            model.sort(hdr.sortIndicatorSection(), hdr.sortIndicatorOrder())
        missing = sum(h.missing for h in hosts)
        security = sum(h.security for h in hosts)
        errors = sum(1 for h in hosts if not h.ok)
        reboot = sum(1 for h in hosts if h.reboot_required)
        if hosts:
            parts = [f"{missing:,} missing update{'s' if missing != 1 else ''} "
                     f"({security:,} security) in {len(groups):,} package"
                     f"{'s' if len(groups) != 1 else ''} on {len(hosts):,} assessed host"
                     f"{'s' if len(hosts) != 1 else ''}"]
            if reboot:
                parts.append(f"{reboot} need{'s' if reboot == 1 else ''} a reboot")
            if errors:
                parts.append(f"{errors} with errors")
            self.summary.setText(" \u00b7 ".join(parts))
        else:
            self.summary.setText("No missing updates known yet.")
        self.stack.setCurrentIndex(0 if hosts else 1)
        self._update_tab_titles()
        self._show_detail()

    def apply_filter(self) -> None:
        """Filter both views now."""
        self._debounce.stop()
        text = self.search.text()
        cls = str(self.class_combo.currentData() or "")
        sev = int(self.severity_combo.currentData() or 0)
        for proxy in (self.patch_proxy, self.host_proxy):
            proxy.set_filter_text(text)
            proxy.set_filters(cls, sev)
        if self.risk is not None:
            self.risk.apply_filter(text)
        self._update_tab_titles()
        self._show_detail()

    def focus_search(self) -> bool:
        """Put the cursor in the filter box."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()
        return True

    def show_class(self, classification: str = "") -> None:
        """Show the by-patch view of one classification ("": every update), unfiltered."""
        self.search.clear()
        self.severity_combo.setCurrentIndex(0)
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(classification)))
        self.apply_filter()
        self.tabs.setCurrentIndex(0)

    def show_by_host(self, search: str | None = None) -> None:
        """Switch to the by-host view, optionally filtered."""
        if search is not None:
            self.search.setText(search)
            self.apply_filter()
        self.tabs.setCurrentIndex(1)

    def _update_tab_titles(self) -> None:
        for index, (proxy, model, title) in enumerate((
                (self.patch_proxy, self.patch_model, "By patch"),
                (self.host_proxy, self.host_model, "By host"))):
            shown, total = proxy.rowCount(), model.rowCount()
            count = f"{shown:,}" if shown == total else f"{shown:,} of {total:,}"
            self.tabs.setTabText(index, f"{title} ({count})")
        if self.risk is not None:
            shown, total = self.risk.proxy.rowCount(), self.risk.model.rowCount()
            count = f"{shown:,}" if shown == total else f"{shown:,} of {total:,}"
            self.tabs.setTabText(self.tabs.indexOf(self.risk), f"By risk ({count})")

    # -- state ------------------------------------------------------------------------------
    def save_state(self, settings: QSettings) -> None:
        """Remember the view, the filters and the column layouts."""
        settings.setValue("patches/tab", self.tabs.currentIndex())
        settings.setValue("patches/classification", self.class_combo.currentIndex())
        settings.setValue("patches/severity", self.severity_combo.currentIndex())
        settings.setValue("patches/patch_header",
                          self.patch_view.horizontalHeader().saveState())
        settings.setValue("patches/host_header", self.host_view.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` remembered."""
        self.tabs.setCurrentIndex(_int(settings.value("patches/tab", 0)))
        self.class_combo.setCurrentIndex(_int(settings.value("patches/classification", 0)))
        self.severity_combo.setCurrentIndex(_int(settings.value("patches/severity", 0)))
        self.apply_filter()
        for key, view in (("patch_header", self.patch_view), ("host_header", self.host_view)):
            state = settings.value(f"patches/{key}")
            if isinstance(state, QByteArray | bytes):
                view.horizontalHeader().restoreState(state)

    # -- slots ------------------------------------------------------------------------------
    def _selected(self, view: QTableView, proxy: PatchFilterProxy) -> Any:
        rows = view.selectionModel().selectedRows()
        if not rows:
            index = view.currentIndex()
            return proxy.object_at(index.row()) if index.isValid() else None
        return proxy.object_at(rows[0].row())

    def _on_patch_activated(self) -> None:
        group = self._selected(self.patch_view, self.patch_proxy)
        if isinstance(group, PatchGroup):
            self.show_by_host(group.package)

    def _on_host_activated(self) -> None:
        host = self._selected(self.host_view, self.host_proxy)
        if isinstance(host, HostRow):
            self.open_asset.emit(host.asset_id)

    def selection_preset(self) -> DeployPreset | None:
        """What "Deploy…" deploys from the current tab's selection (None: nothing chosen)."""
        preset = selection_preset(self)
        return None if preset is None or preset.empty else preset

    def _on_deploy_clicked(self) -> None:
        preset = self.selection_preset()
        if preset is not None:
            self.deploy_requested.emit(preset)
        else:
            self.status_message.emit("Select patches, hosts or risk items to deploy first.",
                                     5000)

    def _show_detail(self, *_args: object) -> None:
        if self.tabs.currentIndex() == 0:
            group = self._selected(self.patch_view, self.patch_proxy)
            self.detail.setText(patch_detail(group, self.cve_context)
                                if isinstance(group, PatchGroup) else
                                "Select a patch to see its hosts, CVEs and advisories; "
                                "double-click it to list the hosts that miss it.")
        else:
            host = self._selected(self.host_view, self.host_proxy)
            self.detail.setText(host_detail(host) if isinstance(host, HostRow) else
                                "Double-click a host (or press Enter) to open it in the "
                                "inventory.")


def patch_detail(g: PatchGroup, context: CveContext | None = None) -> str:
    """A patch group in a few plain-text lines (with ``context``: each CVE's CVSS, EPSS
    and KEV flag, and the evidence for its classification)."""
    installed = ", ".join(g.installed) or "?"
    # A Windows update is a KB with a title, not a version change.
    change = (", ".join(g.candidates) if g.sources == ("windows-update",) and not g.installed
              else f"{installed} \u2192 {', '.join(g.candidates)}")
    lines = [f"{g.package}: {change}  \u00b7  "
             f"{CLASS_LABELS.get(g.classification, g.classification)}"
             + (f", {g.severity}" if g.severity is not Severity.UNKNOWN else "")
             + (f"  \u00b7  from {', '.join(g.sources)}" if g.sources else "")
             + ("  \u00b7  needs a reboot" if g.reboot_required else ""),
             f"Missing on {len(g.hosts)}: {', '.join(h[1] for h in g.hosts)}"]
    refs = [*g.cves, *g.advisories]
    if refs:
        lines.append("References: " + ", ".join(refs))
    if context is not None:
        lines += detail_lines(g.cves, g.patches, context)
    return "\n".join(lines)


def host_detail(h: HostRow) -> str:
    """A host row in a few plain-text lines."""
    when = local_time(h.assessed) or "never"
    if not h.ok:
        return (f"{h.label}: the last deep scan ({when}) failed \u2014 "
                f"{error_kind_label(h.error_kind)}: {h.error}")
    pkgs = ", ".join(h.packages[:12]) + (f" +{len(h.packages) - 12}" if len(h.packages) > 12
                                         else "")
    return (f"{h.label}: {h.missing} missing ({h.security} security), assessed {when}."
            + (f"\n{pkgs}" if pkgs else ""))
