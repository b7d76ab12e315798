"""The Deployments page: every deployment of the site, drill-down into its hosts and step
log, and Resume / Rollback / New deployment.

Reading deployments and their logs runs on the task runner's pool; the page only renders
plain data. Rolling back runs ``DeployEngine.rollback`` on the write pool. The models here
(:class:`DeploymentTableModel`, :class:`TargetTableModel`) are also used by the deploy wizard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.core.clock import utcnow
from app.core.deploy_eta import duration_text, host_seconds
from app.core.deployment import (
    ARCHIVABLE_PHASES,
    CANCELLABLE_PHASES,
    RESUMABLE_PHASES,
    UNFINISHED_PHASES,
    Deployment,
    HostState,
    Phase,
    Target,
    halted_at_preflight,
    installed_on,
    versions_text,
)
from app.ui import dialogs
from app.ui.models import ObjectRole, RowTableModel, local_time
from app.ui.page import Page
from app.ui.qt import (
    QAbstractItemView,
    QColor,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QMessageBox,
    QModelIndex,
    QObject,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner
from app.ui.widgets import make_table_view, page_header, plain_label

if TYPE_CHECKING:
    from app.services import SiteService

#: Phases from which the whole deployment may be rolled back (when something was installed).
WHOLE_ROLLBACK = frozenset({Phase.DONE, Phase.HALTED, Phase.ROLLING_BACK, Phase.CANCELLED})

PHASE_LABELS: dict[Phase, str] = {
    Phase.PLANNED: "Planned",
    Phase.PREFLIGHT: "Pre-flight",
    Phase.TEST_RING: "Test ring",
    Phase.AWAITING_APPROVAL: "Awaiting approval",
    Phase.PILOT: "Pilot",
    Phase.PRODUCTION: "Production",
    Phase.VERIFICATION: "Verification",
    Phase.DONE: "Done",
    Phase.HALTED: "Halted",
    Phase.ROLLING_BACK: "Rolling back",
    Phase.ROLLED_BACK: "Rolled back",
    Phase.CANCELLED: "Cancelled",
}

_RED = QColor("#b3261e")
_GREEN = QColor("#1e7b34")
_MUTED = QColor("#6b7785")

def phase_label(phase: Phase) -> str:
    """A phase as people read it."""
    return PHASE_LABELS.get(phase, str(phase))


def can_resume(dep: Deployment) -> bool:
    """A run can continue it: resumable, or halted at pre-flight (Retry re-checks)."""
    return dep.phase in RESUMABLE_PHASES or halted_at_preflight(dep)


def can_roll_back(dep: Deployment) -> bool:
    """The whole deployment can be rolled back: it is over and something was installed
    (an interrupted rollback can always be finished)."""
    return dep.phase is Phase.ROLLING_BACK or (dep.phase in WHOLE_ROLLBACK
                                               and bool(dep.rollback_targets()))


def packages_text(dep: Deployment) -> str:
    """``name=version`` of every package, comma separated."""
    return ", ".join(str(p) for p in dep.packages)


def host_state_text(target: Target) -> str:
    """A target's state, telling apart hosts left out by pre-flight."""
    if target.excluded:
        return "excluded (pre-flight)"
    return str(target.state).replace("_", " ")


def host_time_text(target: Target) -> str:
    """How long a host took ("1 min"), or has been going ("running 45 s"), or ""."""
    seconds = host_seconds(target, utcnow())
    if seconds is None:
        return ""
    text = duration_text(seconds)
    return f"running {text}" if target.state is HostState.RUNNING else text


def target_detail(target: Target) -> str:
    """The most useful one-line detail of a target."""
    if target.excluded:
        return "pre-flight: " + "; ".join(target.preflight)
    parts = [target.detail] if target.detail else []
    problems = target.health_after.get("problems") or []
    if problems:
        parts.append("health: " + "; ".join(str(p) for p in problems))
    if target.override:
        parts.append(f"override by {target.override}")
    return " · ".join(parts)


class DeploymentTableModel(RowTableModel):
    """The site's deployments, one row per :class:`Deployment` (newest first)."""

    COLUMNS = ("ID", "Created", "Packages", "Phase", "Hosts", "Approver", "Halted reason")
    COL_ID, COL_CREATED, COL_PACKAGES, COL_PHASE, COL_HOSTS, COL_APPROVER, COL_HALT = range(7)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._row_of: dict[int, int] = {}

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        d: Deployment = obj
        cells = (
            str(d.id),
            local_time(d.created_at),
            packages_text(d),
            phase_label(d.phase) + (" (archived)" if d.archived else ""),
            str(len(d.targets)),
            d.approval.approver if d.approval else "",
            d.halt_reason,
        )
        return cells, " ".join(cells).lower()

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        if column == self.COL_ID:
            return lambda r: self._objects[r].id
        if column == self.COL_CREATED:
            return lambda r: self._objects[r].created_at or datetime.min
        if column == self.COL_HOSTS:
            return lambda r: len(self._objects[r].targets)
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        dep: Deployment = self._objects[row]
        if role == Qt.ItemDataRole.ForegroundRole and column == self.COL_PHASE:
            if dep.phase is Phase.HALTED:
                return _RED
            if dep.phase is Phase.DONE:
                return _GREEN
        if role == Qt.ItemDataRole.ForegroundRole and dep.archived:
            return _MUTED
        if role == Qt.ItemDataRole.ToolTipRole and column in (self.COL_PACKAGES,
                                                              self.COL_HALT):
            return self._display[row][column] or None
        return None

    def _reindex(self) -> None:
        self._row_of = {d.id: i for i, d in enumerate(self._objects)}

    def row_of(self, dep_id: int) -> int | None:
        """The row showing a deployment."""
        return self._row_of.get(dep_id)


class TargetTableModel(RowTableModel):
    """The hosts of one deployment with their ring, state, versions and details."""

    COLUMNS = ("Host", "Address", "Ring", "Wave", "State", "Verified", "Before", "After",
               "Reboot", "Detail", "Time")
    (COL_HOST, COL_ADDRESS, COL_RING, COL_WAVE, COL_STATE, COL_VERIFIED, COL_BEFORE,
     COL_AFTER, COL_REBOOT, COL_DETAIL, COL_TIME) = range(11)

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        t: Target = obj
        cells = (
            t.label,
            t.address,
            str(t.stage),
            str(t.wave + 1),
            host_state_text(t),
            t.verified,
            versions_text(t.before),
            versions_text(t.after),
            t.reboot,
            target_detail(t),
            host_time_text(t),
        )
        return cells, " ".join(cells).lower()

    def extra_data(self, row: int, column: int, role: int) -> Any:
        target: Target = self._objects[row]
        if role == Qt.ItemDataRole.ForegroundRole and column in (self.COL_STATE,
                                                                 self.COL_VERIFIED):
            if target.excluded or target.state is HostState.FAILED or (
                    column == self.COL_VERIFIED and target.verified not in ("", "installed")):
                return _RED
            if target.state is HostState.SUCCEEDED:
                return _GREEN
            if target.state is HostState.SKIPPED:
                return _MUTED
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_DETAIL:
            return self._display[row][column] or None
        return None

    def update_targets(self, targets: Sequence[Target]) -> None:
        """Show new states of the same hosts in place (keeps the selection), or reset."""
        if [t.asset_id for t in targets] != [t.asset_id for t in self._objects]:
            # Keep a stable order between refreshes: the stored order may differ.
            order = {t.asset_id: i for i, t in enumerate(self._objects)}
            if order and set(order) == {t.asset_id for t in targets}:
                targets = sorted(targets, key=lambda t: order[t.asset_id])
            else:
                self.set_objects(targets)
                return
        self._objects = list(targets)
        rendered = [self.render(t) for t in targets]
        self._display = [r[0] for r in rendered]
        self.search_rows = [r[1] for r in rendered]
        if targets:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(targets) - 1, len(self.COLUMNS) - 1))


def log_text(lines: Iterable[dict[str, Any]]) -> str:
    """A deployment's step log as plain text, local times."""
    out = []
    for line in lines:
        try:
            ts = local_time(datetime.fromisoformat(str(line.get("ts"))), seconds=True)
        except ValueError:
            ts = str(line.get("ts", ""))
        out.append(f"{ts}  {line.get('message', '')}")
    return "\n".join(out)


def ask_rollback_scope(parent: QWidget | None, dep: Deployment,
                       selected: Sequence[Target]) -> str | None:
    """Ask what to roll back: ``"all"``, ``"selected"`` or None (tests monkeypatch this).

    The whole deployment can be rolled back once it is done or halted; selected hosts at
    any time.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Roll back deployment")
    box.setTextFormat(Qt.TextFormat.PlainText)
    names = ", ".join(t.label for t in selected[:5]) + (" …" if len(selected) > 5 else "")
    box.setText(f"Roll back deployment {dep.id} ({packages_text(dep)})?\n\nThe versions "
                "recorded before installing are restored from the package files kept on "
                "each host.")
    whole = selected_button = None
    if can_roll_back(dep):
        whole = box.addButton("Whole deployment", QMessageBox.ButtonRole.AcceptRole)
    if selected:
        selected_button = box.addButton(f"Selected hosts ({names})",
                                        QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if whole is not None and clicked is whole:
        return "all"
    if selected_button is not None and clicked is selected_button:
        return "selected"
    return None


def ask_cancel_reason(parent: QWidget | None, dep: Deployment) -> str:
    """Ask why a deployment is cancelled ("" when the person does not go on; tests
    monkeypatch this)."""
    installed = dep.rollback_targets()
    note = (f"\n\nUpdates stay installed on {len(installed)} host(s); roll them back "
            "afterwards if needed." if installed else "")
    text, ok = QInputDialog.getText(
        parent, f"Cancel deployment {dep.id}",
        f"Nothing more of deployment {dep.id} will run.{note}\n\nReason (audited):")
    return text.strip() if ok else ""


class DeploymentsPage(Page):
    """History of deployments with drill-down, Resume, Rollback and New deployment.

    Give it a site with :meth:`bind` and it loads and rolls back by itself; or feed it with
    :meth:`set_deployments` and handle :attr:`rollback_requested` elsewhere.
    """

    #: A deployment to reopen in the wizard (resume).
    resume_requested = Signal(int)
    #: (deployment id, list of asset ids or None for the whole deployment), confirmed.
    rollback_requested = Signal(int, object)
    #: The user wants a new deployment (open the wizard).
    open_wizard_requested = Signal()
    #: A rollback finished (deployment id); the deployments were reloaded.
    rollback_finished = Signal(int)
    #: A deployment to come back to was found (id, "awaits approval" / "was interrupted").
    unfinished_found = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deploymentsPage")
        self._log_for: int | None = None
        self._rolling_back: set[int] = set()

        header, _subtitle = page_header(
            "Deployments", "Every deployment of this site: what went where, who approved it, "
            "and each step. Resume an unfinished one or roll one back.")

        self.model = DeploymentTableModel(self)
        self.table = make_table_view("deploymentsTable", "Deployments", self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(False)
        for column, width in enumerate((50, 130, 220, 120, 50, 120)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)

        self.targets_model = TargetTableModel(self)
        self.targets_table = make_table_view("deploymentTargets", "Hosts of the deployment",
                                        self.targets_model)
        self.targets_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        for column, width in enumerate((120, 110, 80, 50, 110, 80, 140, 140, 100)):
            self.targets_table.setColumnWidth(column, width)
        self.targets_table.selectionModel().selectionChanged.connect(self._update_buttons)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("deploymentLog")
        self.log_view.setAccessibleName("Deployment step log")
        self.log_view.setReadOnly(True)
        self.log_view.setPlaceholderText("Select a deployment to see its step log.")

        self.new_button = QPushButton("&New deployment…")
        self.new_button.setObjectName("newDeploymentButton")
        self.new_button.clicked.connect(self.open_wizard_requested.emit)
        self.resume_button = QPushButton("&Resume")
        self.resume_button.setObjectName("resumeButton")
        self.resume_button.setToolTip("Reopen the deployment in the wizard where it stands.")
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.rollback_button = QPushButton("R&oll back…")
        self.rollback_button.setObjectName("rollbackButton")
        self.rollback_button.clicked.connect(self._on_rollback_clicked)
        self.cancel_button = QPushButton("&Cancel deployment…")
        self.cancel_button.setObjectName("cancelDeploymentButton")
        self.cancel_button.setToolTip("Close a deployment that will not go on (asks for a "
                                      "reason; audited). Installed updates stay.")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.archive_button = QPushButton("&Archive")
        self.archive_button.setObjectName("archiveDeploymentButton")
        self.archive_button.setToolTip("Hide a deployment that is over from this list "
                                       "(Show: Archived lists it again).")
        self.archive_button.clicked.connect(self._on_archive_clicked)
        self.show_combo = QComboBox()
        self.show_combo.setObjectName("deploymentsShown")
        self.show_combo.setAccessibleName("Which deployments to show")
        for text, value in (("Current", "current"), ("Archived", "archived"), ("All", "all")):
            self.show_combo.addItem(text, value)
        self.show_combo.currentIndexChanged.connect(lambda _i: self.load())
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.clicked.connect(self.refresh)
        self.status_label = plain_label(name="deploymentsStatus")

        buttons = QHBoxLayout()
        for button in (self.new_button, self.resume_button, self.rollback_button,
                       self.cancel_button, self.archive_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(plain_label("Show", wrap=False))
        buttons.addWidget(self.show_combo)
        buttons.addWidget(self.refresh_button)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.targets_table)
        lower.addWidget(self.log_view)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(header)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    # -- data --------------------------------------------------------------------------
    def bind(self, service: SiteService | None, runner: TaskRunner) -> None:
        """Use this site: load deployments and logs, and run rollbacks, on the runner's pool.

        Pass ``None`` as service when the site closes.
        """
        if self.runner is None:
            self.rollback_requested.connect(self.run_rollback)
        self.service = service
        self.runner = runner
        if service is None:
            self.set_deployments([])
        else:
            self.load()

    def load(self) -> None:
        """Reload the deployments in the background (bound pages only)."""
        if self.service is None or self.runner is None:
            return
        self.stale = False
        service = self.service
        archived = self.shown_archived()
        self.runner.submit(lambda: service.deployments.listed(archived), name="deployments",
                           on_result=self._on_loaded, on_error=self._on_task_error)

    def check_unfinished(self) -> None:
        """Look for a deployment a crash or close interrupted, or one awaiting approval
        (:attr:`unfinished_found` says which)."""

        def done(deployments: list[Deployment]) -> None:
            waiting = [d for d in deployments if d.phase in UNFINISHED_PHASES]
            if not waiting:
                return
            dep = waiting[0]
            verb = "awaits approval" if dep.phase is Phase.AWAITING_APPROVAL else \
                "was interrupted"
            self.unfinished_found.emit(dep.id, verb)

        self.read(lambda service: service.deployments(), "unfinished deployments", done,
                  loading=False)

    def _on_loaded(self, deployments: list[Deployment]) -> None:
        if self.service is None:
            return
        self.set_deployments(deployments)

    def set_deployments(self, deployments: Sequence[Deployment]) -> None:
        """Show these deployments, keeping the selected one selected."""
        current = self.selected_deployment()
        self.model.set_objects(deployments)
        row = self.model.row_of(current.id) if current is not None else None
        if row is None and deployments:
            row = 0
        if row is not None:
            self.table.selectRow(row)
        else:
            self.targets_model.set_objects([])
            self.log_view.clear()
        self._update_buttons()

    def selected_deployment(self) -> Deployment | None:
        """The deployment selected in the history table."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        obj = self.model.data(rows[0], ObjectRole)
        return obj if isinstance(obj, Deployment) else None

    def select_deployment(self, dep_id: int) -> bool:
        """Select a deployment by id; False if it is not listed."""
        row = self.model.row_of(dep_id)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    def selected_targets(self) -> list[Target]:
        """Hosts selected in the drill-down table."""
        rows = sorted({i.row() for i in self.targets_table.selectionModel().selectedRows()})
        return [self.targets_model.object_at(r) for r in rows]

    # -- slots -------------------------------------------------------------------------
    def _on_table_selection_changed(self, *_args: object) -> None:
        dep = self.selected_deployment()
        if dep is None:
            self.targets_model.set_objects([])
            self.log_view.clear()
            self._log_for = None
        else:
            self.targets_model.update_targets(dep.targets)
            if self._log_for != dep.id:
                self.log_view.clear()
            self._load_log(dep.id)
        self._update_buttons()

    def _load_log(self, dep_id: int) -> None:
        self._log_for = dep_id
        if self.service is None or self.runner is None:
            return
        service = self.service

        def done(lines: list[dict[str, Any]]) -> None:
            if self._log_for == dep_id:
                self.log_view.setPlainText(log_text(lines))
                bar = self.log_view.verticalScrollBar()
                bar.setValue(bar.maximum())

        self.runner.submit(lambda: service.deployment_log(dep_id), name="deployment-log",
                           on_result=done, on_error=self._on_task_error)

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        dep = self.model.data(index, ObjectRole)
        if isinstance(dep, Deployment) and can_resume(dep):
            self.resume_requested.emit(dep.id)

    def _on_resume_clicked(self) -> None:
        dep = self.selected_deployment()
        if dep is not None and can_resume(dep):
            self.resume_requested.emit(dep.id)

    def _on_rollback_clicked(self) -> None:
        dep = self.selected_deployment()
        if dep is None:
            return
        selected = [t for t in self.selected_targets() if installed_on(t)]
        scope = ask_rollback_scope(self, dep, selected)
        if scope == "all":
            self.rollback_requested.emit(dep.id, None)
        elif scope == "selected":
            self.rollback_requested.emit(dep.id, [t.asset_id for t in selected])

    def run_rollback(self, dep_id: int, asset_ids: list[int] | None) -> Task | None:
        """Roll back a deployment (or some of its hosts) on the worker pool (long remote
        work; the engine's writes are short), then reload."""
        if self.service is None or self.runner is None or dep_id in self._rolling_back:
            return None
        busy = self.service.deployments.busy(dep_id)  # the engine's run lock
        if busy:
            dialogs.show_error(self, "Deployment is running",
                               f"Deployment {dep_id} is {busy}. Stop it there before rolling "
                               "it back.")
            return None
        engine = self.service.deployments
        self._rolling_back.add(dep_id)
        what = "the whole deployment" if asset_ids is None else f"{len(asset_ids)} host(s)"
        self.status_label.setText(f"Rolling back {what} of deployment {dep_id}…")
        self._update_buttons()

        def work(progress: Any, cancel: Any) -> Deployment:
            return engine.rollback(dep_id, asset_ids, cancel=cancel)

        def done(dep: Deployment) -> None:
            self.status_label.setText(
                f"Deployment {dep.id}: {phase_label(dep.phase).lower()}"
                + (f" — {dep.halt_reason}" if dep.halt_reason else "") + ".")

        def finished() -> None:
            self._rolling_back.discard(dep_id)
            self.rollback_finished.emit(dep_id)
            self.load()

        task = self.runner.submit(work, name=f"rollback-{dep_id}",
                                  with_progress=True, on_result=done,
                                  on_error=self._on_rollback_error)
        task.finished.connect(finished)
        return task

    def _on_rollback_error(self, error: TaskError) -> None:
        self.status_label.setText("Rollback failed.")
        dialogs.show_error(self, "Rollback failed", error.message)

    def _on_task_error(self, error: TaskError) -> None:
        self.status_label.setText(error.message)

    def _update_buttons(self, *_args: object) -> None:
        dep = self.selected_deployment()
        busy = dep is not None and dep.id in self._rolling_back
        self.resume_button.setEnabled(dep is not None and can_resume(dep) and not busy)
        # Only where something was installed: the whole deployment, or selected hosts.
        self.rollback_button.setEnabled(
            dep is not None and not busy
            and (can_roll_back(dep) or any(installed_on(t) for t in self.selected_targets())))
        self.cancel_button.setEnabled(dep is not None and not busy
                                      and dep.phase in CANCELLABLE_PHASES)
        self.archive_button.setText("Un&archive" if dep is not None and dep.archived
                                    else "&Archive")
        self.archive_button.setEnabled(dep is not None and not busy and (
            bool(dep.archived) or dep.phase in ARCHIVABLE_PHASES))

    # -- cancel and archive ([13]) ---------------------------------------------------------
    def shown_archived(self) -> bool | None:
        """Which deployments the list shows: not archived (False), archived, or all (None)."""
        value = self.show_combo.currentData()
        return None if value == "all" else value == "archived"

    def _on_cancel_clicked(self) -> None:
        dep = self.selected_deployment()
        if dep is None or self.service is None:
            return
        reason = ask_cancel_reason(self, dep)
        if not reason:
            return
        deployments = self.service.deployments
        self._closing(f"Cancelled deployment {dep.id}.",
                      lambda: deployments.cancel(dep.id, reason))

    def _on_archive_clicked(self) -> None:
        dep = self.selected_deployment()
        if dep is None or self.service is None:
            return
        deployments, archive = self.service.deployments, not dep.archived
        self._closing(f"{'Archived' if archive else 'Unarchived'} deployment {dep.id}.",
                      lambda: deployments.archive(dep.id, archive))

    def _closing(self, message: str, work: Callable[[], Deployment]) -> None:
        def done(_dep: Deployment) -> None:
            self.status_label.setText(message)
            self.load()

        def failed(error: TaskError) -> None:
            self.status_label.setText(error.message)
            dialogs.show_error(self, "Deployment", error.message)

        self.write("deployment", work, done, failed)
