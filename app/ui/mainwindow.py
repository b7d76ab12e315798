"""The main window: a sidebar of workflows, their pages, menus and the status bar.

The window owns the open :class:`SiteService` and a :class:`TaskRunner`. Bulk reads and
every write go through the runner; results update the models on the GUI thread. Opening a
site file is a short, bounded call and is done directly so the window never shows a
half-opened site.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.audit import ChainProblem
from app.core.deployment import Phase
from app.core.errors import UserError, ValidationError
from app.core.models import Asset, AuditEvent, Site
from app.core.progress import CancelToken, Progress
from app.services import (
    ImportReport,
    LargeRangeError,
    SiteService,
    check_scan_range,
    parse_scan_ports,
    scan_profiles,
)
from app.ui import dialogs, discover
from app.ui.assess import AssessDialog
from app.ui.asset_dialog import AssetDialog, CriticalityDialog
from app.ui.credentials import CredentialsPage, VaultGate
from app.ui.deploy.wizard import DeployWizard
from app.ui.deployments_page import DeploymentsPage
from app.ui.discover import DiscoverPage
from app.ui.icons import app_icon, icon
from app.ui.inventory import InventoryPage
from app.ui.monitor import Changes, Monitor, stale_days
from app.ui.pages import (
    AuditPage,
    DashboardPage,
    PlaceholderPage,
    SiteSettingsPage,
    risk_overview,
)
from app.ui.patches import PatchesPage, build_rows, patch_counts
from app.ui.policy_page import PolicyPage
from app.ui.priorities import PrioritiesPanel
from app.ui.qt import (
    PYSIDE_VERSION,
    QAction,
    QByteArray,
    QCloseEvent,
    QFrame,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSize,
    QStackedWidget,
    QSystemTrayIcon,
    Qt,
    QToolButton,
    QWidget,
    Signal,
    qVersion,
)
from app.ui.reports_page import ReportsPage
from app.ui.settings import add_recent_site, app_settings, clear_recent_sites, recent_sites
from app.ui.tasks import Task, TaskError, TaskRunner

log = logging.getLogger(__name__)

#: (key, sidebar label, icon) for every page, in sidebar order (Ctrl+1 … Ctrl+9, Ctrl+0).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "Dashboard", "dashboard"),
    ("discover", "Discover", "discover"),
    ("inventory", "Inventory", "inventory"),
    ("credentials", "Credentials", "credentials"),
    ("patches", "Patches", "patches"),
    ("deploy", "Deploy", "deploy"),
    ("policy", "Policy", "policy"),
    ("reports", "Reports", "reports"),
    ("audit", "Audit", "audit"),
    ("site", "Site settings", "settings"),
)

PLACEHOLDERS: dict[str, str] = {}

#: Deployment phases a person should come back to (interrupted runs, pending approval).
RESUMABLE_PHASES = frozenset({Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING,
                              Phase.AWAITING_APPROVAL, Phase.PILOT, Phase.PRODUCTION,
                              Phase.VERIFICATION, Phase.ROLLING_BACK})

EXPORT_FILTER = "CSV files (*.csv);;JSON files (*.json)"
LOGO_FILTER = "Images (*.png *.jpg *.jpeg *.svg);;All files (*)"


class MainWindow(QMainWindow):
    """PatchDesk's main window for one open site at a time."""

    #: The inventory model was (re)loaded from the site.
    assets_loaded = Signal()
    #: The audit page's events were (re)loaded.
    audit_loaded = Signal()
    #: A write finished and its result is shown (add, edit, delete, undo, import, settings).
    changed = Signal(str)
    #: The audit chain check finished (with the list of problems).
    verify_done = Signal(object)
    #: Another site file is now open.
    site_changed = Signal()
    #: The Patches page was (re)loaded.
    patches_loaded = Signal()
    #: The detail panel received an asset's deep-scan details (asset id).
    assessment_loaded = Signal(int)
    #: A deep-scan run ended (with its outcomes) and the views are being refreshed.
    assessment_finished = Signal(object)
    #: The dashboard's figures were (re)computed.
    dashboard_loaded = Signal()

    def __init__(self, service: SiteService | None = None, runner: TaskRunner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowIcon(app_icon())
        self.service: SiteService | None = None
        self.runner = runner or TaskRunner(self)
        self.runner.unhandled_error.connect(self._on_task_error)
        self.runner.busy_changed.connect(self._on_runner_busy_changed)
        self.site: Site | None = None
        self.undo_assets: list[Asset] = []
        self.import_dialog: QWidget | None = None
        self.assess_dialog: AssessDialog | None = None
        self._assess_task: Task | None = None
        self._audit_dirty = True
        self._patches_dirty = True
        self._closing = False

        self._build_pages()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._restore_state()
        self._update_actions()
        if service is not None:
            self.set_service(service)

    # -- construction -----------------------------------------------------------------------
    def _build_pages(self) -> None:
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAccessibleName("Workflows")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(196)
        self.sidebar.setFrameShape(QListWidget.Shape.NoFrame)
        self.stack = QStackedWidget()
        self.stack.setObjectName("pages")
        self.dashboard = DashboardPage()
        self.inventory = InventoryPage()
        self.audit = AuditPage()
        self.site_page = SiteSettingsPage()
        self.discover = DiscoverPage(scan_profiles())
        self._scan_task: Task | None = None
        self.gate = VaultGate(self.runner, self)
        self.credentials = CredentialsPage(self.runner, self.gate, self.inventory.model.assets,
                                           self._current_asset_id)
        self.patches = PatchesPage()
        self.priorities = PrioritiesPanel(self.runner)
        self.patches.add_risk_tab(self.priorities)
        self.policy_page = PolicyPage(self.runner)
        self.monitor = Monitor(
            self.runner, can_assess=lambda: self.gate.unlocked,
            is_busy=lambda: self._scan_task is not None or self._assess_task is not None,
            parent=self)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip("PatchDesk")
            self.tray.activated.connect(self._on_tray_activated)
            self.tray.show()
            self.monitor.tray = self.tray
        self.reports = ReportsPage(self.runner)
        self.deployments = DeploymentsPage(self)
        self.pages: dict[str, QWidget] = {}
        for key, label, icon_name in PAGES:
            page: QWidget
            if key == "dashboard":
                page = self.dashboard
            elif key == "inventory":
                page = self.inventory
            elif key == "audit":
                page = self.audit
            elif key == "site":
                page = self.site_page
            elif key == "discover":
                page = self.discover
            elif key == "credentials":
                page = self.credentials
            elif key == "patches":
                page = self.patches
            elif key == "deploy":
                page = self.deployments
            elif key == "policy":
                page = self.policy_page
            elif key == "reports":
                # A form page: scroll rather than force a wide minimum window size.
                scroller = QScrollArea()
                scroller.setWidgetResizable(True)
                scroller.setFrameShape(QFrame.Shape.NoFrame)
                scroller.setWidget(self.reports)
                page = scroller
            else:
                page = PlaceholderPage(label, PLACEHOLDERS[key])
            self.pages[key] = page
            self.stack.addWidget(page)
            item = QListWidgetItem(icon(icon_name), label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setSizeHint(QSize(180, 36))
            if key in PLACEHOLDERS:
                item.setToolTip(f"{label}: not available in this version yet")
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self._on_sidebar_current_row_changed)

        central = QWidget()
        central.setObjectName("central")
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.sidebar)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.dashboard.open_inventory.connect(lambda: self.show_page("inventory"))
        self.dashboard.open_patches.connect(lambda: self.show_page("patches"))
        self.reports.report_written.connect(self._on_reports_report_written)
        self.deployments.open_wizard_requested.connect(self.open_deploy_wizard)
        self.deployments.resume_requested.connect(self.resume_deployment)
        self.inventory.edit_requested.connect(self.edit_selected)
        self.inventory.history_wanted.connect(self._load_history)
        self.inventory.selection_changed.connect(self._update_actions)
        self.inventory.assessment_wanted.connect(self._load_assessment)
        self.patches.open_asset.connect(self.open_asset)
        self.patches.assess_all_requested.connect(self.assess_all)
        self.patches.refresh_requested.connect(self.reload_patches)
        self.patches_loaded.connect(self.priorities.reload)
        self.priorities.open_asset.connect(self.open_asset)
        self.priorities.changed.connect(self._on_risk_changed)
        self.policy_page.changed.connect(self._on_risk_changed)
        self.site_page.settings_save_requested.connect(self.save_site_monitor_settings)
        self.monitor.checked.connect(self._on_monitor_checked)
        self.credentials.changed.connect(self._on_credentials_changed)
        self.credentials.tested.connect(lambda _text: setattr(self, "_audit_dirty", True))
        self.gate.state_changed.connect(self._update_actions)
        self.audit.refresh_requested.connect(self.reload_audit)
        self.audit.verify_requested.connect(self.verify_audit)
        self.site_page.save_requested.connect(self.save_site_settings)
        self.discover.start_requested.connect(self.start_scan)
        self.discover.cancel_requested.connect(self.cancel_scan)
        self.discover.add_requested.connect(self.add_scanned_hosts)
        self.site_page.browse_logo_requested.connect(self._on_browse_logo)

    def _action(self, text: str, slot: Callable[[], Any], shortcuts: Sequence[Any] = (),
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        key = QKeySequence.StandardKey
        self.new_site_action = self._action("&New site…", self.new_site, [key.New],
                                            "Create a new site file")
        self.open_site_action = self._action("&Open site…", self.open_site, [key.Open],
                                             "Open an existing site file")
        self.import_action = self._action("&Import CSV…", self.import_csv, ["Ctrl+I"],
                                          "Add or update assets from a CSV file")
        self.export_csv_action = self._action("&Export CSV…", lambda: self.export("csv"),
                                              ["Ctrl+E"], "Write all assets to a CSV file")
        self.export_json_action = self._action("Export &JSON…", lambda: self.export("json"),
                                               [], "Write all assets to a JSON file")
        self.quit_action = self._action("&Quit", self.close, ["Ctrl+Q"])
        self.add_action = self._action("&Add asset…", self.add_asset,
                                       ["Ctrl+Shift+A", "Insert"], "Add an asset by hand")
        self.edit_action = self._action("&Edit asset…", self.edit_selected, ["F2"],
                                        "Edit the selected asset (or press Enter)")
        self.delete_action = self._action("&Delete", self.delete_selected, [key.Delete],
                                          "Delete the selected assets")
        self.find_action = self._action("&Find", self.focus_find, [key.Find],
                                        "Filter the list on this page")
        self.undo_action = self._action("&Undo", self.undo_delete, [key.Undo],
                                        "Bring back the assets deleted last")
        self.about_action = self._action("&About PatchDesk", self.about)
        self.assess_action = self._action(
            "A&ssess selected", self.assess_selected, ["Ctrl+R"],
            "Deep-scan the selected assets over SSH: facts, software, missing updates")
        self.assess_all_action = self._action(
            "Assess &all", self.assess_all, ["Ctrl+Shift+R"],
            "Deep-scan every asset that has an IP address or host name")
        self.deploy_action = self._action(
            "&Deploy updates…", self.open_deploy_wizard, ["Ctrl+D"],
            "Test ring, named approval, pilot and production waves, with rollback")
        self.unlock_action = self._action(
            "&Unlock credential vault…", lambda: self.gate.ensure_unlocked(
                lambda: self.statusBar().showMessage("Credential vault unlocked.", 5000),
                create=True), ["Ctrl+Shift+U"], "Enter the site's master password")
        self.lock_action = self._action("&Lock credential vault", self.gate.lock,
                                        ["Ctrl+Shift+L"], "Forget the vault key now")
        self.criticality_action = self._action(
            "Set &criticality…", self.set_criticality_selected, ["Ctrl+Shift+K"],
            "Answer the criticality questions for the selected assets at once")
        self.page_actions: list[QAction] = []
        for number, (page_key, label, _icon) in enumerate(PAGES, start=1):
            shortcut = f"Ctrl+{number % 10}"
            action = self._action(label, functools.partial(self.show_page, page_key),
                                  [shortcut])
            action.setCheckable(True)
            self.page_actions.append(action)
        # Tool buttons on the inventory page reuse the window's actions.
        self.inventory.add_tool_actions([self.add_action, self.import_action,
                                         self.assess_action])
        self.inventory.set_context_actions([self.edit_action, self.criticality_action,
                                            self.delete_action, None, self.assess_action])

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_site_action)
        file_menu.addAction(self.open_site_action)
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self.rebuild_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.export_csv_action)
        file_menu.addAction(self.export_json_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.add_action)
        edit_menu.addAction(self.edit_action)
        edit_menu.addAction(self.criticality_action)
        edit_menu.addAction(self.delete_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.find_action)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.assess_action)
        tools_menu.addAction(self.assess_all_action)
        tools_menu.addAction(self.deploy_action)
        tools_menu.addSeparator()
        tools_menu.addAction(self.unlock_action)
        tools_menu.addAction(self.lock_action)
        view_menu = bar.addMenu("&View")
        for action in self.page_actions:
            view_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self.rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.undo_button = QToolButton()
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setDefaultAction(self.undo_action)
        self.undo_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.undo_button.hide()
        self.resume_button = QToolButton()
        self.resume_button.setObjectName("resumeDeploymentButton")
        self.resume_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.resume_button.hide()
        self.unfinished_deployment: int | None = None
        self.busy_label = QLabel("Working…")
        self.busy_label.hide()
        self.site_label = QLabel()
        self.site_label.setObjectName("statusSite")
        self.site_label.setTextFormat(Qt.TextFormat.PlainText)
        self.path_label = QLabel()
        self.path_label.setObjectName("statusPath")
        self.path_label.setTextFormat(Qt.TextFormat.PlainText)
        self.path_label.setProperty("role", "muted")
        self.count_label = QLabel()
        self.count_label.setObjectName("statusCount")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        # Permanent widgets: a temporary status message would hide normal ones.
        status.addPermanentWidget(self.resume_button)
        status.addPermanentWidget(self.undo_button)
        status.addPermanentWidget(self.busy_label)
        status.addPermanentWidget(self.site_label)
        status.addPermanentWidget(self.path_label)
        status.addPermanentWidget(self.count_label)

    # -- state ------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = settings.value("window/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self.inventory.restore_state(settings)
        self.audit.restore_state(settings)
        self.discover.restore_state(settings)
        self.patches.restore_state(settings)
        page = settings.value("window/page", "inventory")
        keys = [k for k, _l, _i in PAGES]
        self.show_page(str(page) if page in keys else "inventory")

    def save_state(self) -> None:
        """Remember the window layout, the page shown and the tables' columns."""
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/page", self.current_page())
        self.inventory.save_state(settings)
        self.audit.save_state(settings)
        self.discover.save_state(settings)
        self.patches.save_state(settings)
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._scan_task is not None and not dialogs.confirm(
                self, "Stop the scan?", "A network scan is running. Stop it and close?"):
            event.ignore()
            return
        if self._assess_task is not None and not dialogs.confirm(
                self, "Stop the assessment?",
                "Hosts are being assessed. Stop and close? Finished hosts are kept."):
            event.ignore()
            return
        self.save_state()
        self._closing = True
        self.close_site()
        super().closeEvent(event)

    # -- pages ------------------------------------------------------------------------------
    def current_page(self) -> str:
        """The key of the page on display."""
        item = self.sidebar.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item else "inventory"

    def show_page(self, key: str) -> None:
        """Switch to a page by key (see :data:`PAGES`)."""
        keys = [k for k, _l, _i in PAGES]
        self.sidebar.setCurrentRow(keys.index(key))

    def _on_sidebar_current_row_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        key = PAGES[row][0]
        for i, action in enumerate(self.page_actions):
            action.setChecked(i == row)
        if key == "audit" and self._audit_dirty:
            self.reload_audit()
        elif key == "dashboard":
            self.refresh_dashboard()
        elif key == "patches" and self._patches_dirty:
            self.reload_patches()
        elif key == "policy":
            self.policy_page.reload()
        elif key == "credentials" and self.service is not None:
            self.credentials.reload()  # deep scans pin the keys of new hosts
        self._update_actions()

    # -- site -------------------------------------------------------------------------------
    def set_service(self, service: SiteService) -> None:
        """Show another open site (the previous one is closed)."""
        if self.service is not None and self.service is not service:
            self.close_site()
        self.service = service
        self.undo_assets = []
        self.undo_button.hide()
        try:
            self.site = service.site()
        except UserError as exc:
            dialogs.show_error(self, "Cannot read site", str(exc))
            self.site = None
        add_recent_site(service.path)
        self.rebuild_recent_menu()
        self._show_site()
        self.inventory.set_assets([])
        self.audit.set_events([])
        self.audit.result.setText("")
        self._audit_dirty = True
        self._patches_dirty = True
        self.patches.set_rows([], [])
        self.gate.set_service(service)
        self.credentials.set_service(service)
        self.reports.set_service(service)
        self.deployments.bind(service, self.runner)
        self.check_unfinished_deployments()
        self.priorities.set_service(service)
        self.policy_page.set_service(service)
        settings = service.settings()
        self.site_page.set_settings(settings)
        self.monitor.set_service(service, settings)
        if self.current_page() == "policy":
            self.policy_page.reload()
        self.reload()
        if self.current_page() == "patches":
            self.reload_patches()
        self.site_changed.emit()

    def close_site(self) -> None:
        """Stop background work and close the open site file."""
        if self.service is None:
            return
        self.monitor.set_service(None)
        self.runner.cancel_all()
        if not self.runner.wait_for_done(15_000):
            log.warning("background tasks still running while closing %s", self.service.path)
        self.service.close()
        self.service = None
        self.site = None
        self.credentials.set_service(None)
        self.gate.set_service(None)

    def _show_site(self) -> None:
        site, service = self.site, self.service
        name = site.name if site else ""
        self.setWindowTitle(f"{name} — PatchDesk" if name else "PatchDesk")
        self.site_label.setText(f"Site: {name}" if name else "No site open")
        self.path_label.setText(str(service.path) if service else "")
        self.path_label.setToolTip(str(service.path) if service else "")
        self.site_page.set_site(site, str(service.path) if service else "")
        self._update_count()

    def _update_count(self) -> None:
        n = self.inventory.model.rowCount()
        self.count_label.setText(f"{n:,} asset{'s' if n != 1 else ''}")

    def open_site_path(self, path: Path | str, *, create: bool = False, name: str = "",
                       client: str = "") -> bool:
        """Open (or create) a site file and show it; errors are shown, never raised."""
        try:
            service = SiteService.open(path, create=create, name=name or None)
            if client:
                service.update_site(client=client)
        except UserError as exc:
            dialogs.show_error(self, "Cannot open site", str(exc))
            return False
        self.set_service(service)
        self.statusBar().showMessage(
            f"{'Created' if create else 'Opened'} {service.path}", 5000
        )
        return True

    def new_site(self) -> None:
        """Ask for a new site file and switch to it."""
        answer = dialogs.NewSiteDialog.ask(self, self._folder())
        if answer is not None:
            path, name, client = answer
            self.open_site_path(path, create=True, name=name, client=client)

    def open_site(self) -> None:
        """Ask for a site file and switch to it."""
        path = dialogs.ask_open_file(self, "Open site", dialogs.SITE_FILTER, self._folder())
        if path:
            self.open_site_path(path)

    def _folder(self) -> str:
        return str(self.service.path.parent) if self.service else ""

    def rebuild_recent_menu(self) -> None:
        """Refill File ▸ Open recent (missing files are dropped)."""
        self.recent_menu.clear()
        paths = recent_sites()
        current = str(self.service.path.resolve()) if self.service else ""
        for number, path in enumerate(paths, start=1):
            # '&' marks a mnemonic in menu text; a literal one in a path is written '&&'.
            shown = f"{Path(path).name}  —  {Path(path).parent}".replace("&", "&&")
            label = f"&{number} {shown}"
            action = self.recent_menu.addAction(label)
            action.setData(path)
            action.setToolTip(path)
            if path == current:
                action.setEnabled(False)
            action.triggered.connect(lambda _c=False, p=path: self.open_site_path(p))
        if not paths:
            empty = self.recent_menu.addAction("No recent sites")
            empty.setEnabled(False)
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear list")
        clear.setEnabled(bool(paths))
        clear.triggered.connect(self._on_clear_recent_triggered)

    def _on_clear_recent_triggered(self) -> None:
        clear_recent_sites()
        self.rebuild_recent_menu()

    # -- loading ----------------------------------------------------------------------------
    def reload(self) -> None:
        """Reload the inventory from the site (in the background)."""
        service = self.service
        if service is None:
            return

        def done(assets: list[Asset]) -> None:
            if service is not self.service:
                return
            self.inventory.set_assets(assets)
            self._update_count()
            if self.current_page() == "dashboard":
                self.refresh_dashboard()
            self.assets_loaded.emit()

        self.runner.submit(service.assets, name="load assets", on_result=done)

    def reload_audit(self) -> None:
        """Reload the audit page's events (in the background)."""
        service = self.service
        if service is None:
            return
        self._audit_dirty = False

        def done(events: list[AuditEvent]) -> None:
            if service is not self.service:
                return
            self.audit.set_events(events)
            self.audit_loaded.emit()

        self.runner.submit(lambda: service.audit_events(limit=50_000), name="load audit",
                           on_result=done)

    def refresh_dashboard(self) -> None:
        """Recompute the dashboard from the loaded inventory and the latest events."""
        service = self.service
        if service is None:
            return
        assets = self.inventory.model.assets()

        def load() -> tuple[Any, ...]:
            days = stale_days(service.settings())
            return (service.audit_events(limit=8), patch_counts(service),
                    risk_overview(service, days))

        def done(result: tuple[Any, ...]) -> None:
            if service is self.service:
                events, counts, overview = result
                self.dashboard.update_summary(self.site, assets, events)
                self.dashboard.update_patch_summary(counts)
                self.dashboard.update_risk_summary(overview)
                self.dashboard_loaded.emit()

        self.runner.submit(load, name="dashboard", on_result=done)

    def _load_history(self, asset_id: int) -> None:
        service = self.service
        if service is None:
            return

        def done(events: list[AuditEvent]) -> None:
            if service is self.service:
                self.inventory.show_history(asset_id, events)

        self.runner.submit(
            lambda: service.audit_events(object_type="asset", object_id=str(asset_id)),
            name="asset history", on_result=done,
        )

    def verify_audit(self) -> None:
        """Check the audit chain (in the background) and show the result."""
        service = self.service
        if service is None:
            return
        self.audit.verify_button.setEnabled(False)
        self.audit.result.setText("Checking the audit chain…")

        def done(problems: list[ChainProblem]) -> None:
            self.audit.verify_button.setEnabled(True)
            if service is self.service:
                self.audit.show_verify_result(problems)
                self.verify_done.emit(problems)

        def failed(error: TaskError) -> None:
            self.audit.verify_button.setEnabled(True)
            self._on_task_error(error)

        self.runner.submit(service.audit_verify, name="verify audit", on_result=done,
                           on_error=failed)

    # -- discovery --------------------------------------------------------------------------
    def start_scan(self, targets: str, exclude: str, ports_text: object, allow_large: bool,
                   merge: bool) -> None:
        """Check the range and ports, then scan on a worker thread (results stream in)."""
        service = self.service
        if service is None or self.discover.running:
            return
        text = str(ports_text or "").strip()
        try:
            ports = parse_scan_ports(text) if text else None
            count = check_scan_range(targets, exclude, allow_large=allow_large)
        except LargeRangeError as exc:
            if discover.confirm_large_scan(self, exc.count):
                self.start_scan(targets, exclude, ports_text, True, merge)
            return
        except ValidationError as exc:
            self.discover.show_error(str(exc))
            return
        page = self.discover

        def scan(progress: Callable[[Progress], None], cancel: CancelToken) -> Any:
            return service.scan_network(targets, exclude=exclude, ports=ports,
                                        allow_large=allow_large, merge=merge,
                                        progress=progress, cancel=cancel,
                                        on_host=page.host_found)

        def done(record: Any) -> None:
            self._scan_task = None
            if service is not self.service:
                return
            page.scan_finished(record)
            self._audit_dirty = True
            if record.merged:
                self.reload()
            self.changed.emit("scan")

        def failed(error: TaskError) -> None:
            self._scan_task = None
            page.scan_failed(error.message)

        def cancelled() -> None:
            self._scan_task = None
            page.scan_failed("The scan was cancelled before it started.")

        page.scan_started(count)
        self._scan_task = self.runner.submit(
            scan, name="scan", with_progress=True, on_result=done, on_error=failed,
            on_progress=page.show_progress, on_cancelled=cancelled)

    def cancel_scan(self) -> None:
        """Stop the running scan; what it found so far is kept."""
        if self._scan_task is not None:
            self._scan_task.cancel()
            self.discover.status_label.setText("Cancelling…")

    def add_scanned_hosts(self, scan_id: int, ips: object) -> None:
        """Add the chosen hosts of a scan to the inventory."""
        service = self.service
        if service is None:
            return
        chosen = [str(ip) for ip in ips] if isinstance(ips, list) else []

        def add() -> Any:
            added = service.add_scanned_hosts(scan_id, chosen)
            return added, service.scan_record(scan_id)

        def done(result: Any) -> None:
            added, record = result
            self.discover.scan_finished(record)
            self.reload()
            self.statusBar().showMessage(f"Added {len(added)} host(s) to the inventory.", 5000)

        self._write("add scanned hosts", add, done)

    # -- assessment -------------------------------------------------------------------------
    def _current_asset_id(self) -> int | None:
        selected = self.inventory.selected_assets()
        return selected[0].id if len(selected) == 1 else None

    def assess_selected(self) -> None:
        """Deep-scan the assets selected on the Inventory page."""
        if self.current_page() != "inventory":
            return
        self._assess(self.inventory.selected_assets())

    def assess_all(self) -> None:
        """Deep-scan every asset that has an address."""
        self._assess(self.inventory.model.assets())

    def _assess(self, assets: Sequence[Asset]) -> None:
        if self.service is None:
            return
        if self._assess_task is not None and self.assess_dialog is not None:
            self.assess_dialog.show()
            self.assess_dialog.raise_()
            self.assess_dialog.activateWindow()
            return
        targets = [a for a in assets if a.id is not None and (a.primary_ip or a.hostname)]
        if not targets:
            dialogs.show_error(self, "Nothing to assess",
                               "None of these assets has an IP address or host name to "
                               "connect to. Add one in the asset dialog (F2).")
            return
        self.gate.ensure_unlocked(lambda: self.start_assessment(targets))

    def _dialog_for_assessment(self) -> AssessDialog:
        if self.assess_dialog is None:
            dialog = AssessDialog(self)
            dialog.cancel_requested.connect(self.cancel_assessment)
            dialog.show_patches_requested.connect(lambda: self.show_page("patches"))
            dialog.review_keys_requested.connect(self._review_host_keys)
            self.assess_dialog = dialog
        return self.assess_dialog

    def start_assessment(self, targets: Sequence[Asset]) -> None:
        """Deep-scan assets on the worker pool; results stream into the assess window."""
        service = self.service
        if service is None or self._assess_task is not None:
            return
        dialog = self._dialog_for_assessment()
        ids = [a.id for a in targets if a.id is not None]

        def run(progress: Callable[[Progress], None], cancel: CancelToken) -> Any:
            return service.assess_assets(ids, progress=progress, cancel=cancel,
                                         on_result=dialog.outcome_ready)

        def done(outcomes: list[Any]) -> None:
            cancelled = task.token.cancelled
            self._assess_task = None
            dialog.finish(outcomes, cancelled=cancelled)
            self._after_assessment(outcomes)

        def failed(error: TaskError) -> None:
            self._assess_task = None
            dialog.fail(error.message)
            self._after_assessment([])

        def cancelled() -> None:
            self._assess_task = None
            dialog.fail("", cancelled=True)
            self._update_actions()

        dialog.start(targets)
        dialog.show()
        dialog.raise_()
        task = self.runner.submit(run, name="assess", with_progress=True, on_result=done,
                                  on_error=failed, on_progress=dialog.show_progress,
                                  on_cancelled=cancelled)
        self._assess_task = task
        self._update_actions()

    def cancel_assessment(self) -> None:
        """Stop the running deep scan; hosts that finished are kept."""
        if self._assess_task is not None:
            self._assess_task.cancel()

    def _after_assessment(self, outcomes: list[Any]) -> None:
        if self.service is None:
            return
        self._audit_dirty = True
        self._patches_dirty = True
        self._update_actions()
        self.reload()  # facts may have filled in OS, hardware and MACs
        self.reload_patches()
        self.inventory.refresh_assessment()
        self.credentials.reload()
        ok = sum(1 for o in outcomes if o.ok)
        self.statusBar().showMessage(
            f"Assessed {ok} of {len(outcomes)} host(s).", 8000)
        self.assessment_finished.emit(outcomes)
        self.changed.emit("assess")

    def _review_host_keys(self, asset_ids: object) -> None:
        ids = list(asset_ids) if isinstance(asset_ids, list) else []
        by_id = {a.id: a for a in self.inventory.model.assets()}
        for asset_id in ids[:1]:  # one warning at a time; the button stays for the rest
            asset = by_id.get(asset_id)
            if asset is not None:
                self.gate.probe_host_key(
                    asset, lambda text: self.statusBar().showMessage(text, 8000))

    def reload_patches(self) -> None:
        """Reload the Patches page (in the background)."""
        service = self.service
        if service is None:
            return
        self._patches_dirty = False

        def load() -> Any:
            return build_rows(service.patches(), service.assessments(), service.assets())

        def done(rows: Any) -> None:
            if service is not self.service:
                return
            self.patches.set_rows(*rows)
            self.patches_loaded.emit()

        self.runner.submit(load, name="load patches", on_result=done)

    def _load_assessment(self, asset_id: int) -> None:
        service = self.service
        if service is None:
            return

        def load() -> Any:
            return (service.assessment(asset_id), service.software(asset_id),
                    service.patches(asset_id))

        def done(result: Any) -> None:
            if service is self.service:
                self.inventory.show_assessment(asset_id, *result)
                self.assessment_loaded.emit(asset_id)

        self.runner.submit(load, name="asset assessment", on_result=done)

    def open_asset(self, asset_id: int) -> None:
        """Show one asset on the Inventory page (clearing a filter that hides it)."""
        row = self.inventory.model.row_of(asset_id)
        if row is None:
            return
        self.show_page("inventory")
        if not self.inventory.proxy.mapFromSource(self.inventory.model.index(row, 0)).isValid():
            self.inventory.search.clear()
            self.inventory.apply_filter()
        self.inventory.select_ids({asset_id}, current=asset_id)
        self.inventory.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_credentials_changed(self, _what: str) -> None:
        self._audit_dirty = True
        self.changed.emit("credentials")

    # -- editing ----------------------------------------------------------------------------
    # -- deployment -------------------------------------------------------------------------
    def open_deploy_wizard(self) -> None:
        """Start the test-then-deploy wizard (Ctrl+D)."""
        if self.service is None:
            return
        wizard = DeployWizard(self.service, self.runner, self)
        self._watch_wizard(wizard)
        wizard.show()

    def resume_deployment(self, dep_id: int) -> None:
        """Reopen an unfinished deployment in the wizard where it stands."""
        if self.service is not None:
            DeployWizard.resume(self.service, self.runner, dep_id, self,
                                on_open=self._watch_wizard)

    def check_unfinished_deployments(self) -> None:
        """After opening a site, offer to resume a deployment a crash or close interrupted."""
        service = self.service
        self.resume_button.hide()
        self.unfinished_deployment = None
        if service is None:
            return

        def done(deployments: list[Any]) -> None:
            if service is not self.service:
                return
            waiting = [d for d in deployments if d.phase in RESUMABLE_PHASES]
            if not waiting:
                return
            dep = waiting[0]
            self.unfinished_deployment = dep.id
            verb = "awaits approval" if dep.phase is Phase.AWAITING_APPROVAL else \
                "was interrupted"
            self.resume_button.setText(f"Deployment {dep.id} {verb} — resume…")
            self.resume_button.show()
            self.statusBar().showMessage(f"Deployment {dep.id} {verb}.", 10_000)

        self.runner.submit(service.deployments, name="unfinished deployments", on_result=done)

    def _on_resume_button_clicked(self) -> None:
        if self.unfinished_deployment is not None:
            self.resume_button.hide()
            self.resume_deployment(self.unfinished_deployment)

    def _watch_wizard(self, wizard: DeployWizard) -> None:
        wizard.deployment_changed.connect(lambda _id: self.deployments.refresh())
        wizard.deployment_changed.connect(lambda _id: self._mark_dirty())

    def _mark_dirty(self) -> None:
        self._audit_dirty = True
        self._patches_dirty = True

    def _on_reports_report_written(self, result: Any) -> None:
        self._audit_dirty = True
        path = getattr(result, "path", "")
        self.statusBar().showMessage(f"Report written: {path}", 8000)

    def _write(self, what: str, fn: Callable[[], Any], on_result: Callable[[Any], None],
               on_error: Callable[[TaskError], None] | None = None) -> None:
        service = self.service

        def done(result: Any) -> None:
            if service is not self.service:
                return
            self._audit_dirty = True
            on_result(result)
            if self.current_page() == "audit":
                self.reload_audit()
            self.changed.emit(what)

        self.runner.submit(fn, name=what, write=True, on_result=done, on_error=on_error)

    def add_asset(self) -> None:
        """Ask for a new asset and add it."""
        service = self.service
        if service is None:
            return
        asset = AssetDialog.ask(self, None)
        if asset is None:
            return

        def done(stored: Asset) -> None:
            self.inventory.model.upsert(stored)
            assert stored.id is not None
            if self.inventory.proxy.filter_text:
                visible = self.inventory.proxy.mapFromSource(
                    self.inventory.model.index(self.inventory.model.row_of(stored.id) or 0, 0)
                )
                if not visible.isValid():
                    self.inventory.search.clear()
                    self.inventory.apply_filter()
            self.inventory.select_ids({stored.id})
            self._update_count()
            self.statusBar().showMessage(f"Added {stored.label}.", 5000)

        self._write("add", lambda: service.add_asset(asset), done)

    def edit_selected(self) -> None:
        """Edit the selected asset in the asset dialog."""
        service = self.service
        selected = self.inventory.selected_assets()
        if service is None or len(selected) != 1:
            return
        edited = AssetDialog.ask(self, selected[0])
        if edited is None:
            return

        def done(stored: Asset) -> None:
            self.inventory.model.upsert(stored)
            self.inventory._on_selection_changed()
            self.statusBar().showMessage(f"Saved {stored.label}.", 5000)

        self._write("edit", lambda: service.update_asset(edited), done)

    def set_criticality_selected(self) -> None:
        """Answer the criticality questionnaire for the selected assets at once."""
        service = self.service
        selected = self.inventory.selected_assets()
        if service is None or not selected or self.current_page() != "inventory":
            return
        changed = CriticalityDialog.ask(self, selected)
        if not changed:
            return

        def save() -> list[Asset]:
            return [service.update_asset(asset) for asset in changed]

        def done(stored: list[Asset]) -> None:
            for asset in stored:
                self.inventory.model.upsert(asset)
            self.inventory._on_selection_changed()
            self._patches_dirty = True
            self.priorities.reload()
            self.statusBar().showMessage(
                f"Criticality set on {len(stored)} asset{'s' if len(stored) != 1 else ''}.",
                5000)

        self._write("criticality", save, done)

    def save_site_monitor_settings(self, changes: dict[str, Any]) -> None:
        """Save the monitoring settings of the Site settings page and apply them."""
        service = self.service
        if service is None:
            return

        def done(settings: dict[str, Any]) -> None:
            self.site_page.set_settings(settings)
            self.site_page.set_status("Saved.")
            self.monitor.set_service(service, settings)

        self._write("site settings", lambda: service.update_settings(**changes), done)

    def _on_tray_activated(self, _reason: object) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _on_risk_changed(self, what: str) -> None:
        self._audit_dirty = True
        if what in ("policy", "kev"):
            self.priorities.reload()
        if self.current_page() == "dashboard":
            self.refresh_dashboard()
        self.changed.emit(what)

    def _on_monitor_checked(self, changes: Changes) -> None:
        if changes:
            self._audit_dirty = True
            self._patches_dirty = True
            self.reload()
            if self.current_page() == "patches":
                self.reload_patches()
            self.statusBar().showMessage(changes.summary().replace("\n", " · "), 15000)

    def delete_selected(self) -> None:
        """Delete the selected assets after confirmation; Undo brings them back."""
        service = self.service
        selected = self.inventory.selected_assets()
        if service is None or not selected or self.current_page() != "inventory":
            return
        if not dialogs.confirm_delete(self, selected):
            return
        ids = [a.id for a in selected if a.id is not None]

        def done(deleted: list[Asset]) -> None:
            self.inventory.model.remove_ids(ids)
            self._update_count()
            self.undo_assets = deleted
            n = len(deleted)
            noun = deleted[0].label if n == 1 else f"{n} assets"
            self.undo_action.setText(f"&Undo delete of {noun}")
            self.undo_button.show()
            self.statusBar().showMessage(f"Deleted {noun}.", 15000)
            self._update_actions()

        self._write("delete", lambda: service.delete_assets(ids), done)

    def undo_delete(self) -> None:
        """Restore the assets deleted last."""
        service = self.service
        assets = list(self.undo_assets)
        if service is None or not assets:
            return
        self.undo_assets = []
        self.undo_button.hide()
        self._update_actions()

        def done(restored: list[Asset]) -> None:
            for asset in restored:
                self.inventory.model.upsert(asset)
            self.inventory.select_ids({a.id for a in restored if a.id is not None})
            self._update_count()
            self.statusBar().showMessage(f"Restored {len(restored)} asset(s).", 5000)

        self._write("undo", lambda: service.restore_assets(assets), done)

    def save_site_settings(self, changes: dict[str, str]) -> None:
        """Save the site settings page's edits."""
        service = self.service
        if service is None:
            return

        def done(site: Site) -> None:
            self.site = site
            self._show_site()
            self.site_page.set_status("Saved.")

        def failed(error: TaskError) -> None:
            if isinstance(error.exception, ValidationError):
                self.site_page.show_errors(error.exception.errors)
            else:
                self._on_task_error(error)

        self._write("site", lambda: service.update_site(**changes), done, failed)

    def _on_browse_logo(self) -> None:
        path = dialogs.ask_open_file(self, "Choose logo", LOGO_FILTER, self._folder())
        if path:
            self.site_page.edits["logo_path"].setText(path)

    # -- import / export --------------------------------------------------------------------
    def import_csv(self, path: str | None = None) -> None:
        """Open the CSV import dialog (window-modal, not blocking)."""
        if self.service is None:
            return
        from app.ui.import_dialog import ImportDialog  # imported lazily: faster start-up

        dialog = ImportDialog(self, self.service, self.runner)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.imported.connect(self._on_imported)
        dialog.finished.connect(lambda _r: setattr(self, "import_dialog", None))
        self.import_dialog = dialog
        dialog.open()
        if path is None:
            from app.ui.import_dialog import CSV_FILTER

            chosen = dialogs.ask_open_file(dialog, "Import CSV", CSV_FILTER, self._folder())
            if chosen:
                dialog.load_file(chosen)
        else:
            dialog.load_file(path)

    def _on_imported(self, report: ImportReport) -> None:
        self._audit_dirty = True
        self.reload()
        self.statusBar().showMessage(
            f"Imported {len(report.added)} new and {len(report.updated)} updated assets.", 8000
        )
        self.changed.emit("import")

    def export(self, fmt: str) -> None:
        """Ask for a file and write every asset to it as CSV or JSON (by extension)."""
        service = self.service
        if service is None:
            return
        filters = EXPORT_FILTER if fmt == "csv" else "JSON files (*.json);;CSV files (*.csv)"
        chosen = dialogs.ask_save_file(self, "Export assets", filters, self._folder())
        if not chosen:
            return
        path = Path(chosen)
        if path.suffix.lower() not in (".csv", ".json"):
            path = path.with_name(f"{path.name}.{fmt}")
        writer = service.export_json if path.suffix.lower() == ".json" else service.export_csv

        def done(count: int) -> None:
            self.statusBar().showMessage(f"Exported {count:,} assets to {path}.", 8000)

        self._write("export", lambda: writer(path), done)

    # -- misc -------------------------------------------------------------------------------
    def focus_find(self) -> None:
        """Focus the filter box of the current page (the inventory's by default)."""
        if self.current_page() == "audit":
            self.audit.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.audit.search.selectAll()
            return
        if self.current_page() == "patches":
            self.patches.focus_search()
            return
        self.show_page("inventory")
        self.inventory.focus_search()

    def about(self) -> None:
        """Show the version and licence notes."""
        text = (
            f"<h3>PatchDesk {__version__}</h3>"
            "<p>Agentless patch management for small IT shops and MSP technicians.</p>"
            "<p>Licensed under the GNU GPL version 3 or later.</p>"
            f"<p>Built with Qt {qVersion()} and Qt for Python (PySide6) {PYSIDE_VERSION}, "
            "used under the GNU LGPL v3; and paramiko (SSH), used under the GNU LGPL "
            "v2.1. You may replace these libraries with your own builds; their source is "
            "available from qt.io and paramiko.org.</p>"
        )
        QMessageBox.about(self, "About PatchDesk", text)

    def _update_actions(self) -> None:
        has_site = self.service is not None
        on_inventory = self.current_page() == "inventory"
        selected = len(self.inventory.selected_assets()) if on_inventory else 0
        for action in (self.import_action, self.export_csv_action, self.export_json_action,
                       self.add_action):
            action.setEnabled(has_site)
        self.edit_action.setEnabled(has_site and selected == 1)
        self.criticality_action.setEnabled(has_site and selected > 0)
        self.delete_action.setEnabled(has_site and selected > 0)
        idle = self._assess_task is None
        self.assess_action.setEnabled(has_site and selected > 0 and idle)
        self.assess_all_action.setEnabled(has_site and idle)
        self.deploy_action.setEnabled(has_site)
        unlocked = self.gate.unlocked
        self.unlock_action.setEnabled(has_site and not unlocked)
        self.lock_action.setEnabled(has_site and unlocked and idle)
        self.undo_action.setEnabled(has_site and bool(self.undo_assets))
        if not self.undo_assets:
            self.undo_action.setText("&Undo")

    def _on_runner_busy_changed(self, busy: bool) -> None:
        self.busy_label.setVisible(busy)

    def _on_task_error(self, error: TaskError) -> None:
        if self._closing:
            return
        title = "Internal error" if error.is_bug else "PatchDesk"
        dialogs.show_error(self, title, error.message)
