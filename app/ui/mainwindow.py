"""The main window: a sidebar of workflows, their pages, menus and the status bar.

The window owns the open :class:`SiteService` and a :class:`TaskRunner`. Each page loads its
own data (:class:`app.ui.page.Page`): the window hands the pages the open site, switches
between them and asks the page on display to refresh; its actions are declared once in
:mod:`app.ui.actions`. Bulk reads and every write go through the runner; results update the
models on the GUI thread. Opening a site file is a short, bounded call and is done directly
so the window never shows a half-opened site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.core.models import Asset, Site
from app.services import ImportReport, SiteService, scan_profiles
from app.ui import asset_actions, dialogs
from app.ui.actions import (
    INVENTORY_CONTEXT,
    INVENTORY_TOOLS,
    ActionState,
    MainAction,
    build_menus,
    create_actions,
    create_page_actions,
    fill_recent_menu,
    update_actions,
)
from app.ui.assess import AssessDialog, Assessor
from app.ui.credentials import CredentialsPage, VaultGate
from app.ui.dashboard import Link
from app.ui.deploy.preset import DeployPreset
from app.ui.deploy.wizard import DeployWizard
from app.ui.deployments_page import DeploymentsPage
from app.ui.discover import DiscoverPage
from app.ui.icons import app_icon, icon
from app.ui.inventory import InventoryPage
from app.ui.monitor import Changes, Monitor
from app.ui.page import Page
from app.ui.pages import AuditPage, DashboardPage, SiteSettingsPage
from app.ui.patches import PatchesPage
from app.ui.policy_page import PolicyPage
from app.ui.priorities import PrioritiesPanel
from app.ui.qt import (
    QAction,
    QActionGroup,
    QByteArray,
    QCloseEvent,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QSize,
    QStackedWidget,
    QSystemTrayIcon,
    Qt,
    QToolButton,
    QWidget,
    Signal,
)
from app.ui.reports_page import ReportsPage
from app.ui.settings import add_recent_site, app_settings, clear_recent_sites, recent_sites
from app.ui.tasks import TaskError, TaskRunner
from app.ui.theme import THEMES, Theme
from app.ui.widgets import plain_label, scrolling

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

EXPORT_FILTER = "CSV files (*.csv);;JSON files (*.json)"


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
        self._closing = False

        self.theme = Theme(self)
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
        self.gate = VaultGate(self.runner, self)
        self.assessor = Assessor(self.runner, self.gate, self, self.inventory.model.assets)
        self.credentials = CredentialsPage(self.runner, self.gate, self.inventory.model.assets,
                                           self._current_asset_id)
        self.patches = PatchesPage()
        self.priorities = PrioritiesPanel(self.runner)
        self.patches.add_risk_tab(self.priorities)
        self.policy_page = PolicyPage(self.runner)
        self.monitor = Monitor(
            self.runner, can_assess=lambda: self.gate.unlocked,
            is_busy=lambda: self.discover.scan_task is not None or self.assessor.task is not None,
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
        self.pages: dict[str, Page] = {
            "dashboard": self.dashboard, "discover": self.discover,
            "inventory": self.inventory, "credentials": self.credentials,
            "patches": self.patches, "deploy": self.deployments, "policy": self.policy_page,
            "reports": self.reports, "audit": self.audit, "site": self.site_page}
        for key, label, icon_name in PAGES:
            # Every page scrolls rather than force its minimum size on the window: the
            # window fits a 1024×700 screen (and 1920×1080 at 150 %) whatever a page shows.
            self.stack.addWidget(scrolling(self.pages[key]))
            item = QListWidgetItem(icon(icon_name), label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setSizeHint(QSize(180, 36))
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

        for page in self.pages.values():
            page.wrote.connect(self._on_page_wrote)
            page.status_message.connect(self.statusBar().showMessage)
        self.inventory.loaded.connect(self._on_inventory_loaded)
        self.inventory.assessment_loaded.connect(self.assessment_loaded)
        self.audit.loaded.connect(self.audit_loaded)
        self.audit.verify_done.connect(self.verify_done)
        self.patches.loaded.connect(self.patches_loaded)
        self.dashboard.loaded.connect(self.dashboard_loaded)
        self.dashboard.open_inventory.connect(lambda: self.show_page("inventory"))
        self.dashboard.open_patches.connect(lambda: self.show_page("patches"))
        self.dashboard.open_link.connect(self.open_link)
        self.reports.report_written.connect(self._on_reports_report_written)
        self.deployments.open_wizard_requested.connect(self.open_deploy_wizard)
        self.deployments.resume_requested.connect(self.resume_deployment)
        self.inventory.edit_requested.connect(self.edit_selected)
        self.inventory.selection_changed.connect(self._update_actions)
        self.patches.open_asset.connect(self.open_asset)
        self.patches.assess_all_requested.connect(self.assess_all)
        self.patches.deploy_requested.connect(self.open_deploy_wizard)
        self.priorities.open_asset.connect(self.open_asset)
        self.priorities.changed.connect(self._on_risk_changed)
        self.policy_page.changed.connect(self._on_risk_changed)
        self.monitor.checked.connect(self._on_monitor_checked)
        self.credentials.changed.connect(lambda _what: self._on_page_wrote("credentials"))
        self.deployments.unfinished_found.connect(self._on_deployments_unfinished_found)
        self.credentials.tested.connect(lambda _text: self.audit.mark_stale())
        self.gate.state_changed.connect(self._update_actions)
        self.assessor.finished.connect(self._after_assessment)
        self.assessor.busy_changed.connect(self._update_actions)
        self.assessor.show_patches_requested.connect(lambda: self.show_page("patches"))
        self.assessor.status_message.connect(self.statusBar().showMessage)
        self.discover.assets_changed.connect(self.inventory.load)
        self.site_page.site_saved.connect(self._on_site_saved)
        self.site_page.settings_saved.connect(
            lambda settings: self.monitor.set_service(self.service, settings))

    def _build_actions(self) -> None:
        self._actions = create_actions(self)
        self.page_actions = create_page_actions(self, PAGES)
        # Tool buttons on the inventory page reuse the window's actions.
        self.inventory.add_tool_actions([self.action(a) for a in INVENTORY_TOOLS])
        self.inventory.set_context_actions(
            [self.action(a) if a is not None else None for a in INVENTORY_CONTEXT])

    def action(self, action_id: MainAction) -> QAction:
        """The window's action with this id (see :mod:`app.ui.actions`)."""
        return self._actions[action_id]

    def _build_menus(self) -> None:
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self.rebuild_recent_menu)
        self.theme_menu = QMenu("&Theme", self)
        self.theme_menu.setObjectName("themeMenu")
        group = QActionGroup(self.theme_menu)
        self.theme_actions: dict[str, QAction] = {}
        for choice, text in THEMES.items():
            action = self.theme_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(choice == self.theme.choice)
            action.triggered.connect(lambda _c=False, c=choice: self.set_theme(c))
            group.addAction(action)
            self.theme_actions[choice] = action
        build_menus(self.menuBar(), self._actions, self.recent_menu, self.page_actions,
                    self.theme_menu)
        self.rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.undo_button = QToolButton()
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setDefaultAction(self.action(MainAction.UNDO))
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
        self.site_label = plain_label(name="statusSite", wrap=False)
        self.path_label = plain_label(name="statusPath", role="muted", wrap=False)
        self.count_label = plain_label(name="statusCount", wrap=False)
        # A long site path must not widen the window: it is cut (the tool tip has it all).
        self.path_label.setMinimumWidth(40)
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
        for each in self.pages.values():
            each.restore_state(settings)
        page = settings.value("window/page", "inventory")
        keys = [k for k, _l, _i in PAGES]
        self.show_page(str(page) if page in keys else "inventory")

    def save_state(self) -> None:
        """Remember the window layout, the page shown and the tables' columns."""
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/page", self.current_page())
        for page in self.pages.values():
            page.save_state(settings)
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.discover.scan_task is not None and not dialogs.confirm(
                self, "Stop the scan?", "A network scan is running. Stop it and close?"):
            event.ignore()
            return
        if self.assessor.task is not None and not dialogs.confirm(
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
        for i, action in enumerate(self.page_actions):
            action.setChecked(i == row)
        self.pages[PAGES[row][0]].refresh()
        self._update_actions()

    def _on_page_wrote(self, what: str) -> None:
        """A write finished (on a page or here): the audit log has a new entry."""
        self.audit.mark_stale()
        if self.current_page() == "audit":
            self.audit.load()
        self.changed.emit(what)

    def _on_inventory_loaded(self) -> None:
        self._update_count()
        if self.current_page() == "dashboard":
            self.dashboard.load()
        self.assets_loaded.emit()

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
        self.gate.set_service(service)
        self.assessor.service = service
        for page in self.pages.values():
            page.bind(service, self.runner)
        self.check_unfinished_deployments()
        settings = service.settings()
        self.site_page.set_settings(settings)
        self.monitor.set_service(service, settings)
        self.inventory.load()
        current = self.pages[self.current_page()]
        if current is not self.inventory:
            current.refresh()
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
        self.assessor.service = None
        for page in self.pages.values():
            page.bind(None, self.runner)
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
        current = str(self.service.path.resolve()) if self.service else ""
        fill_recent_menu(self.recent_menu, recent_sites(), current, self.open_site_path,
                         self._on_clear_recent_triggered)

    def _on_clear_recent_triggered(self) -> None:
        clear_recent_sites()
        self.rebuild_recent_menu()

    # -- assessment -------------------------------------------------------------------------
    def _current_asset_id(self) -> int | None:
        selected = self.inventory.selected_assets()
        return selected[0].id if len(selected) == 1 else None

    def assess_selected(self) -> None:
        """Deep-scan the assets selected on the Inventory page."""
        if self.current_page() != "inventory":
            return
        self.assessor.assess(self.inventory.selected_assets())

    def assess_all(self) -> None:
        """Deep-scan every asset that has an address."""
        self.assessor.assess(self.inventory.model.assets())

    @property
    def assess_dialog(self) -> AssessDialog | None:
        """The deep-scan window (None until the first run)."""
        return self.assessor.dialog

    def _after_assessment(self, outcomes: list[Any]) -> None:
        if self.service is None:
            return
        self.audit.mark_stale()
        self.patches.mark_stale()
        self._update_actions()
        self.inventory.load()  # facts may have filled in OS, hardware and MACs
        self.patches.load()
        self.inventory.refresh_assessment()
        self.credentials.load()
        ok = sum(1 for o in outcomes if o.ok)
        self.statusBar().showMessage(
            f"Assessed {ok} of {len(outcomes)} host(s).", 8000)
        self.assessment_finished.emit(outcomes)
        self.changed.emit("assess")

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

    def open_link(self, link: Link) -> None:
        """Open what a dashboard card or line summarises, filtered to it."""
        if link.page == "asset" and link.ids:
            self.inventory.set_scope(None)
            self.open_asset(link.ids[0])
        elif link.page == "inventory":
            self.show_page("inventory")
            self.inventory.search.clear()
            self.inventory.apply_filter()
            self.inventory.set_scope(link.ids, link.title)
        elif link.page == "patches":
            self.show_page("patches")
            self.patches.show_class(link.classification)
        elif link.page == "policy":  # a stale vulnerability feed
            self.show_page("policy")
        elif link.page == "risk":
            self.show_page("patches")
            self.patches.search.clear()
            self.patches.apply_filter()
            self.patches.show_by_risk()
            self.priorities.priority_combo.setCurrentIndex(0)
            self.priorities.kev_box.setChecked(False)
            self.priorities.overdue_box.setChecked(link.overdue_only)
            if link.item is not None:
                self.priorities.select(*link.item)

    # -- deployment -------------------------------------------------------------------------
    def open_deploy_wizard(self, preset: DeployPreset | None = None) -> None:
        """Start the test-then-deploy wizard (Ctrl+D), pre-filled with a selection."""
        if self.service is None:
            return
        wizard = DeployWizard(self.service, self.runner, self, preset=preset)
        self._watch_wizard(wizard)
        wizard.show()

    def deploy_selected_assets(self) -> None:
        """"Deploy…" on the Inventory page: the wizard with the selected hosts ([13])."""
        ids = [int(a.id or 0) for a in self.inventory.selected_assets()]
        if ids:
            self.open_deploy_wizard(DeployPreset.of(
                asset_ids=ids, source=f"{len(ids)} host(s) selected on the Inventory page"))

    def resume_deployment(self, dep_id: int) -> None:
        """Reopen an unfinished deployment in the wizard where it stands."""
        if self.service is not None:
            DeployWizard.resume(self.service, self.runner, dep_id, self,
                                on_open=self._watch_wizard)

    def check_unfinished_deployments(self) -> None:
        """After opening a site, offer to resume a deployment a crash or close interrupted."""
        self.resume_button.hide()
        self.unfinished_deployment = None
        self.deployments.check_unfinished()

    def _on_deployments_unfinished_found(self, dep_id: int, verb: str) -> None:
        self.unfinished_deployment = dep_id
        self.resume_button.setText(f"Deployment {dep_id} {verb} — resume…")
        self.resume_button.show()
        self.statusBar().showMessage(f"Deployment {dep_id} {verb}.", 10_000)

    def _on_resume_button_clicked(self) -> None:
        if self.unfinished_deployment is not None:
            self.resume_button.hide()
            self.resume_deployment(self.unfinished_deployment)

    def _watch_wizard(self, wizard: DeployWizard) -> None:
        wizard.deployment_changed.connect(self._on_wizard_deployment_changed)

    def _on_wizard_deployment_changed(self, _dep_id: int) -> None:
        self.deployments.load()
        self.audit.mark_stale()
        self.patches.mark_stale()

    def _on_reports_report_written(self, result: Any) -> None:
        self.audit.mark_stale()
        path = getattr(result, "path", "")
        self.statusBar().showMessage(f"Report written: {path}", 8000)

    def _write(self, what: str, fn: Callable[[], Any], on_result: Callable[[Any], None],
               on_error: Callable[[TaskError], None] | None = None) -> None:
        service = self.service

        def done(result: Any) -> None:
            if service is not self.service:
                return
            on_result(result)
            self._on_page_wrote(what)

        self.runner.submit(fn, name=what, write=True, on_result=done, on_error=on_error)

    def add_asset(self) -> None:
        """Ask for a new asset and add it."""
        asset_actions.add_asset(self)

    def edit_selected(self) -> None:
        """Edit the selected asset in the asset dialog."""
        asset_actions.edit_selected(self)

    def set_criticality_selected(self) -> None:
        """Answer the criticality questionnaire for the selected assets at once."""
        asset_actions.set_criticality_selected(self)

    def bulk_edit_selected(self) -> None:
        """Set the ring, owner, location, kind or tags of the selected assets at once."""
        asset_actions.bulk_edit_selected(self)

    def delete_selected(self) -> None:
        """Delete the selected assets after confirmation; Undo brings them back."""
        asset_actions.delete_selected(self)

    def undo_delete(self) -> None:
        """Restore the assets deleted last."""
        asset_actions.undo_delete(self)

    def _on_tray_activated(self, _reason: object) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _on_risk_changed(self, what: str) -> None:
        self.audit.mark_stale()
        if what in ("policy", "kev"):
            self.priorities.reload()
        if self.current_page() == "dashboard":
            self.dashboard.load()
        self.changed.emit(what)

    def _on_monitor_checked(self, changes: Changes) -> None:
        if changes:
            self.audit.mark_stale()
            self.patches.mark_stale()
            self.inventory.load()
            if self.current_page() == "patches":
                self.patches.load()
            self.statusBar().showMessage(changes.summary().replace("\n", " · "), 15000)

    def _on_site_saved(self, site: Site) -> None:
        self.site = site
        self._show_site()

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
        self.audit.mark_stale()
        self.inventory.load()
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
        if not self.pages[self.current_page()].focus_search():
            self.show_page("inventory")
            self.inventory.focus_search()

    def about(self) -> None:
        """Show the version and licence notes."""
        dialogs.show_about(self)

    def set_theme(self, choice: str) -> None:
        """Use the light or dark theme, or follow the system (View ▸ Theme; remembered)."""
        self.theme.set_choice(choice)
        self.theme_actions[self.theme.choice].setChecked(True)

    def show_shortcuts(self) -> QDialog:
        """Help ▸ Keyboard shortcuts: every shortcut of the action registry (not modal)."""
        from app.ui.help import ShortcutsDialog

        dialog = ShortcutsDialog(self, PAGES)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_user_guide(self) -> QDialog:
        """Help ▸ User guide: docs/user-guide.md in a window of its own."""
        from app.ui.help import GuideDialog

        dialog = GuideDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _update_actions(self) -> None:
        on_inventory = self.current_page() == "inventory"
        update_actions(self._actions, ActionState(
            has_site=self.service is not None,
            selected=len(self.inventory.selected_assets()) if on_inventory else 0,
            idle=self.assessor.task is None, unlocked=self.gate.unlocked,
            can_undo=bool(self.undo_assets)))
        if not self.undo_assets:
            self.action(MainAction.UNDO).setText("&Undo")

    def _on_runner_busy_changed(self, busy: bool) -> None:
        self.busy_label.setVisible(busy)

    def _on_task_error(self, error: TaskError) -> None:
        if self._closing:
            return
        title = "Internal error" if error.is_bug else "PatchDesk"
        dialogs.show_error(self, title, error.message)
