"""The test-then-deploy wizard: patches → targets and rings → schedule → pre-flight and test
ring → review and named approval → pilot and production → verification and summary.

The deployment itself lives in the site: the engine (``SiteService.deployer``) persists every
step, so the wizard is only a view and a remote control. Runs go through the task runner's
pool (``DeployEngine.run`` with a cancel token); the engine's ``on_event`` callback fires on
worker threads, so events are queued and drained by a 100 ms timer on the GUI thread, which
then re-reads the deployment on the pool. A run asks the engine to pause after pre-flight
(``pause_after_preflight``) until the user has reviewed the hosts it left out. Closing the
wizard mid-run cancels the run's token and leaves a resumable deployment;
:meth:`DeployWizard.resume` reopens it where it stands. Everything that came from hosts is
shown as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from app.core.deployment import (
    RUNNING_PHASES,
    Deployment,
    Phase,
    Stage,
    halted_at_preflight,
    paused_after_preflight,
)
from app.core.models import Asset
from app.core.patchgroups import PatchGroup, group_patches
from app.ui import dialogs
from app.ui.deploy import questions
from app.ui.deploy.helpers import (
    P_PATCHES,
    P_REVIEW,
    P_ROLLOUT,
    P_SCHEDULE,
    P_SUMMARY,
    P_TARGETS,
    P_TEST,
    export_deployment,
    window_start,
    window_text,
)
from app.ui.deploy.pages import PatchesPage, SchedulePage, TargetsPage
from app.ui.deploy.preset import DeployPreset, apply_to_patches, apply_to_targets
from app.ui.deploy.run import EngineEvents
from app.ui.deploy.run_pages import ReviewPage, RunPage, SummaryPage
from app.ui.deployments_page import log_text
from app.ui.pin_dialog import PinDialog
from app.ui.qt import QMessageBox, Qt, QTimer, QWidget, QWizard, Signal
from app.ui.tasks import Task, TaskError, TaskRunner

if TYPE_CHECKING:
    from app.services import SiteService


class DeployWizard(QWizard):
    """The test-then-deploy wizard on one site.

    Args:
        service: the open :class:`~app.services.SiteService`.
        runner: the window's :class:`TaskRunner` (background work goes through it).
        deployment: reopen this existing deployment where it stands (see :meth:`resume`).
        preset: a selection to deploy ("Deploy…" on the Patches or Inventory page): its
            patches are ticked and its hosts chosen ([13]).
    """

    #: A deployment was planned, changed state, or the wizard closed (deployment id).
    deployment_changed = Signal(int)

    #: Open wizards by (site path, deployment id): resuming one that is open raises it.
    _open: ClassVar[dict[tuple[str, int], DeployWizard]] = {}

    def __init__(self, service: SiteService, runner: TaskRunner,
                 parent: QWidget | None = None, *,
                 deployment: Deployment | None = None,
                 preset: DeployPreset | None = None) -> None:
        super().__init__(parent)
        self.preset = preset
        self.setObjectName("deployWizard")
        self.setWindowTitle("Deploy updates")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.resize(960, 680)
        self.service = service
        self.runner = runner
        self.site = str(service.path)
        self.engine = service.deployments
        self.dep: Deployment | None = None
        self.assets: dict[int, Asset] = {}
        #: The Inventory's saved groups (name → filter words).
        self.host_groups: dict[str, str] = {}
        self.log_lines: list[str] = []
        self._preflight_reviewed = False  # go on past pre-flight without pausing
        self._paused = False  # the last run paused after pre-flight left hosts out
        self.run_error = ""  # why the last run failed ("" when it did not)
        self.closed = False
        self._run_task: Task | None = None
        self._writes = 0  # approve / override / rollback tasks in flight
        self._start_now = False
        self._refreshing = False
        self._refresh_again = False
        self._generation = 0
        self._events = EngineEvents(self.engine)
        self._drain_timer = QTimer(self)
        self._drain_timer.setInterval(100)
        self._drain_timer.timeout.connect(self._drain)
        self._drain_timer.start()
        self._wait_timer = QTimer(self)
        self._wait_timer.setInterval(1000)
        self._wait_timer.timeout.connect(self._on_wait_timer_timeout)

        self.patches_page = PatchesPage(self)
        self.targets_page = TargetsPage(self)
        self.schedule_page = SchedulePage(self)
        self.test_page = RunPage(self, "test")
        self.review_page = ReviewPage(self)
        self.rollout_page = RunPage(self, "rollout")
        self.summary_page = SummaryPage(self)
        for page_id, page in ((P_PATCHES, self.patches_page), (P_TARGETS, self.targets_page),
                              (P_SCHEDULE, self.schedule_page), (P_TEST, self.test_page),
                              (P_REVIEW, self.review_page), (P_ROLLOUT, self.rollout_page),
                              (P_SUMMARY, self.summary_page)):
            self.setPage(page_id, page)
        self.currentIdChanged.connect(self._on_current_id_changed)
        if deployment is not None:
            self._set_deployment(deployment)
            self.setStartId(self.page_for(deployment))
            self._load_log()

    def _on_current_id_changed(self, page_id: int) -> None:
        if page_id == P_TARGETS and self.preset is not None:
            apply_to_targets(self.targets_page, self.preset)  # after its initializePage

    # -- opening -------------------------------------------------------------------------
    @staticmethod
    def page_for(dep: Deployment) -> int:
        """The page an existing deployment reopens at."""
        if dep.phase is Phase.AWAITING_APPROVAL:
            return P_REVIEW
        if dep.phase in (Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING):
            return P_TEST
        if dep.phase in (Phase.PILOT, Phase.PRODUCTION, Phase.VERIFICATION):
            return P_ROLLOUT
        if dep.phase in (Phase.HALTED, Phase.ROLLING_BACK):
            return P_ROLLOUT if dep.approval is not None else P_TEST
        return P_SUMMARY

    @classmethod
    def open_for(cls, service: SiteService, runner: TaskRunner, deployment: Deployment,
                 parent: QWidget | None = None) -> DeployWizard:
        """Show a wizard on an existing deployment (raises one already open on it)."""
        existing = cls._open.get((str(service.path), deployment.id))
        if existing is not None and not existing.closed:
            existing.show()
            existing.raise_()
            existing.activateWindow()
            return existing
        wizard = cls(service, runner, parent, deployment=deployment)
        wizard.show()
        return wizard

    @classmethod
    def resume(cls, service: SiteService, runner: TaskRunner, dep_id: int,
               parent: QWidget | None = None,
               on_open: Callable[[DeployWizard], None] | None = None) -> Task:
        """Load a deployment on the pool, then reopen the wizard where it stands (a
        running or interrupted deployment resumes its run)."""

        def opened(dep: Deployment) -> None:
            wizard = cls.open_for(service, runner, dep, parent)
            if on_open is not None:
                on_open(wizard)

        def failed(error: TaskError) -> None:
            dialogs.show_error(parent, "Cannot open the deployment", error.message)

        return runner.submit(lambda: service.deployment(dep_id), name=f"open-deployment-{dep_id}",
                             on_result=opened, on_error=failed)

    @classmethod
    def confirm_close(cls, parent: QWidget | None) -> bool:
        """Ask before closing while a deployment runs; True to close (tests monkeypatch)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Stop watching this deployment?",
                          "The deployment is running. Closing the wizard stops it at the "
                          "next safe point; every step so far is kept, and you can resume it "
                          "from Deployments.\n\nClose the wizard?",
                          QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel,
                          parent)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Close

    # -- state ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A run of the deployment is in flight."""
        return self._run_task is not None and self._run_task.running

    @property
    def paused_for_preflight(self) -> bool:
        """The run stopped after pre-flight left hosts out: override them, or go on."""
        return self._paused

    @property
    def busy_writing(self) -> bool:
        """An approval, override or rollback is in flight."""
        return self._writes > 0

    @property
    def busy(self) -> bool:
        """Anything is in flight (the wizard must not move on)."""
        return self.running or self.busy_writing

    def _set_deployment(self, dep: Deployment) -> None:
        first = self.dep is None
        self.dep = dep
        if first:
            DeployWizard._open[(self.site, dep.id)] = self
            self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
            self.setWindowTitle(f"Deploy updates — deployment {dep.id}")
        self._show()

    def _accept_snapshot(self, dep: Deployment) -> None:
        """A definitive new state (a task's result): older refreshes in flight are stale."""
        self._generation += 1
        self._set_deployment(dep)

    def _show(self) -> None:
        page = self.currentPage()
        if isinstance(page, (RunPage, ReviewPage, SummaryPage)):
            page.show_deployment()

    def _busy_changed(self) -> None:
        self._show()
        self._update_buttons()

    def _update_buttons(self) -> None:
        page = self.currentPage()
        if page is not None:
            page.completeChanged.emit()

    # -- loading -------------------------------------------------------------------------
    def load_patches(self) -> None:
        """Read missing patches and assets on the pool, then fill the first page."""
        service = self.service

        def load() -> tuple[list[PatchGroup], dict[int, Asset], Any]:
            assets = {int(a.id or 0): a for a in service.assets()}
            # The Inventory's saved groups, offered as targets.
            return (group_patches(service.patches()), assets,
                    service.settings().get("inventory_groups"))

        def done(result: tuple[list[PatchGroup], dict[int, Asset], Any]) -> None:
            if self.closed:
                return
            groups, self.assets, host_groups = result
            self.host_groups = dict(host_groups) if isinstance(host_groups, dict) else {}
            self.patches_page.set_groups(groups)
            if self.preset is not None:
                apply_to_patches(self.patches_page, self.preset)

        def failed(error: TaskError) -> None:
            if not self.closed:
                self.patches_page.status.setText(error.message)

        self.runner.submit(load, name="deploy-patches", on_result=done, on_error=failed)

    def _load_log(self) -> None:
        assert self.dep is not None
        dep_id, service = self.dep.id, self.service

        def done(lines: list[dict[str, Any]]) -> None:
            if self.closed:
                return
            text = log_text(lines)
            self.log_lines = text.splitlines() + self.log_lines
            page = self.currentPage()
            if isinstance(page, RunPage):
                page.log_view.setPlainText("\n".join(self.log_lines))

        self.runner.submit(lambda: service.deployment_log(dep_id), name="deploy-log",
                           on_result=done, on_error=self._on_error)

    def refresh(self) -> None:
        """Re-read the deployment on the pool (coalesced: one read in flight at a time)."""
        if self.dep is None or self.closed:
            return
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        generation = self._generation
        engine, dep_id = self.engine, self.dep.id

        def done(dep: Deployment) -> None:
            self._refreshing = False
            if self.closed:
                return
            if generation == self._generation:
                self._set_deployment(dep)
            if self._refresh_again:
                self._refresh_again = False
                self.refresh()

        def failed(error: TaskError) -> None:
            self._refreshing = False
            self._on_error(error)

        self.runner.submit(lambda: engine.get(dep_id), name="deploy-refresh",
                           on_result=done, on_error=failed)

    def _drain(self) -> None:
        lines, mine = self._events.drain(self.dep.id if self.dep is not None else None)
        if lines:
            self.log_lines.extend(lines)
            page = self.currentPage()
            if isinstance(page, RunPage):
                page.show_log(lines)
        if mine:
            self.refresh()

    # -- planning ------------------------------------------------------------------------
    def plan(self, start: datetime | None, error: str = "") -> None:
        """Unlock the vault first when it is locked (asking for the master password: the
        run's pre-flight connects to every host), then store the plan."""
        credentials = self.service.credentials
        if credentials.unlocked:
            self._plan(start)
            return

        def known(exists: bool) -> None:
            if self.closed:
                return
            if not exists:  # no credentials yet: pre-flight will say so per host
                self._plan(start)
                return
            password = questions.ask_master_password(self, error)
            if password is None:
                self.schedule_page.plan_failed(
                    "Not planned: the credential vault is locked. Deploying needs the master "
                    "password (pre-flight connects to every host).")
                return

            def failed(task_error: TaskError) -> None:
                if self.closed:
                    return
                from app.services.credentials import WrongMasterPasswordError

                wrong = isinstance(task_error.exception, WrongMasterPasswordError)
                self.plan(start, "Wrong master password; try again." if wrong
                          else task_error.message)

            self.runner.submit(lambda: credentials.unlock(password), name="unlock vault",
                               on_result=lambda _r: self._plan(start), on_error=failed)

        self.runner.submit(lambda: credentials.vault_exists, name="vault exists",
                           on_result=known,
                           on_error=lambda e: self.schedule_page.plan_failed(e.message))

    def _plan(self, start: datetime | None) -> None:
        """Store the plan (write pool); on success go on to the run page."""
        service = self.service
        specs = [g.spec for g in self.patches_page.chosen()]
        hosts = self.targets_page.chosen()
        targets = [f"#{asset_id}" for asset_id, _ in hosts]
        test = [f"#{a}" for a, stage in hosts if stage is Stage.TEST]
        pilot = [f"#{a}" for a, stage in hosts if stage is Stage.PILOT]
        gates = self.targets_page.gates()
        window = window_text(start) if start is not None else ""
        self._writes += 1
        self._busy_changed()

        def work() -> Deployment:
            return service.plan_deployment(specs, targets, test_ring=test, pilot=pilot,
                                           gates=gates, window=window)

        def done(dep: Deployment) -> None:
            self._writes -= 1
            if self.closed:
                return
            self.schedule_page.planning = False
            self._accept_snapshot(dep)
            self.deployment_changed.emit(dep.id)
            self.next()

        def failed(error: TaskError) -> None:
            self._writes -= 1
            if self.closed:
                return
            self.schedule_page.plan_failed(error.message)
            self._busy_changed()

        self.runner.submit(work, name="deploy-plan", write=True, on_result=done,
                           on_error=failed)

    # -- running -------------------------------------------------------------------------
    def start_run(self) -> None:
        """Run (or resume) the deployment on the pool if it has work to do."""
        dep = self.dep
        if dep is None or self.closed or self.running:
            return
        page = self.currentPage()
        if (dep.phase not in RUNNING_PHASES and not halted_at_preflight(dep)) \
                or self.paused_for_preflight:
            self._show()
            return
        if self.engine.busy(dep.id):  # the engine's run lock
            # A closed wizard's run is still stopping: start when it has.
            if isinstance(page, RunPage):
                page.phase_label.setText("Waiting for the previous run of this deployment "
                                         "to stop…")
            QTimer.singleShot(250, self.start_run)
            return
        start = window_start(dep.window) if dep.phase is Phase.PLANNED else None
        if start is not None and not self._start_now and start > datetime.now(UTC):
            self._on_wait_timer_timeout()
            self._wait_timer.start()
            return
        self._wait_timer.stop()
        if isinstance(page, RunPage):
            page.show_waiting(None)
        self.run_error = ""
        engine, dep_id = self.engine, dep.id
        # Until the user has seen who pre-flight left out, the engine stops right after it.
        pause = not self._preflight_reviewed

        def work(progress: Any, cancel: Any) -> Deployment:
            return engine.run(dep_id, progress=progress, cancel=cancel,
                              pause_after_preflight=pause)

        def result(dep: Deployment) -> None:
            if pause and not task.token.cancelled and paused_after_preflight(dep):
                self._paused = True
            self._on_run_result(dep)

        task = self.runner.submit(work, name=f"deploy-run-{dep_id}", with_progress=True,
                                  on_result=result, on_error=self._on_run_error)
        self._run_task = task
        task.finished.connect(self._on_run_finished)
        self._busy_changed()

    def start_now(self) -> None:
        """Start a deployment waiting for its maintenance window right away."""
        self._start_now = True
        self.start_run()

    def _on_wait_timer_timeout(self) -> None:
        dep = self.dep
        start = window_start(dep.window) if dep is not None else None
        page = self.currentPage()
        if start is None or self.closed:
            self._wait_timer.stop()
            return
        left = (start - datetime.now(UTC)).total_seconds()
        if left <= 0:
            self._start_now = True
            self.start_run()
            return
        hours, rest = divmod(int(left), 3600)
        minutes, seconds = divmod(rest, 60)
        if isinstance(page, RunPage):
            when = start.astimezone().strftime("%Y-%m-%d %H:%M")
            page.show_waiting(
                f"Waiting for the maintenance window: starts {when} (in {hours}:"
                f"{minutes:02d}:{seconds:02d}). Keep this wizard open, or start now.")

    def _on_run_result(self, dep: Deployment) -> None:
        if self.closed:
            return
        self._accept_snapshot(dep)
        self.deployment_changed.emit(dep.id)

    def _on_run_error(self, error: TaskError) -> None:
        if self.closed:
            return
        self.run_error = error.message
        self._on_error(error)

    def _on_run_finished(self) -> None:
        self._run_task = None
        if self.closed:
            return
        self._busy_changed()
        self.refresh()
        if self.dep is not None and self.dep.phase is Phase.AWAITING_APPROVAL \
                and self.currentId() == P_TEST:
            self.next()  # straight to the review
        elif self.dep is not None and self.dep.phase is Phase.DONE \
                and self.currentId() in (P_TEST, P_ROLLOUT):
            self.next()  # straight to the summary

    def continue_after_preflight(self) -> None:
        """Go on without the hosts that failed pre-flight (or with the overridden ones), or
        retry a run that failed."""
        self._preflight_reviewed = True
        self._paused = False
        self.start_run()

    # -- writes --------------------------------------------------------------------------
    def _write(self, name: str, work: Callable[[], Deployment],
               done: Callable[[Deployment], None] | None = None,
               with_progress: bool = False, write: bool = True) -> Task:
        self._writes += 1
        self._busy_changed()

        def ok(dep: Deployment) -> None:
            if self.closed:
                return
            self._accept_snapshot(dep)
            self.deployment_changed.emit(dep.id)
            if done is not None:
                done(dep)

        def finished() -> None:
            self._writes -= 1
            if not self.closed:
                self._busy_changed()

        call: Callable[..., Deployment] = (lambda progress, cancel: work()) \
            if with_progress else work
        task = self.runner.submit(call, name=name, write=write, with_progress=with_progress,
                                  on_result=ok, on_error=self._on_error)
        task.finished.connect(finished)
        return task

    def approve(self, approver: str, note: str) -> None:
        """Record the named approval (write pool), then go on to the pilot and production."""
        assert self.dep is not None
        engine, dep_id = self.engine, self.dep.id
        pin = PinDialog.ask(self, approver, "approve this deployment")  # [12].8
        if pin is None:
            return

        def approved(dep: Deployment) -> None:
            self.review_page.status.setText(f"Approved by {approver}.")
            if self.currentId() == P_REVIEW:
                self.next()

        self._write("deploy-approve", lambda: engine.approve(dep_id, approver, note, pin=pin),
                    approved)

    def override(self, asset_id: int, reason: str) -> None:
        """Let a host that failed pre-flight take part (write pool)."""
        assert self.dep is not None
        engine, dep_id = self.engine, self.dep.id
        self._write("deploy-override", lambda: engine.override(dep_id, asset_id, reason))

    def rollback(self) -> None:
        """Roll the whole deployment back (asks first). Long remote work: on the worker
        pool, not the write pool (the engine's own writes are short)."""
        dep = self.dep
        if dep is None or self.busy or not questions.confirm_rollback(self, dep):
            return
        engine, dep_id = self.engine, dep.id
        self._write("deploy-rollback", lambda: engine.rollback(dep_id), write=False)

    def export(self, kind: str) -> None:
        """Export the deployment as CSV or JSON to a file the user chooses."""
        dep = self.dep
        if dep is None:
            return
        path = questions.ask_export_path(self, kind, f"deployment-{dep.id}.{kind}")
        if not path:
            return
        service, dep_id = self.service, dep.id

        def done(written: str) -> None:
            if not self.closed:
                self.summary_page.status.setText(f"Exported to {written}")

        self.runner.submit(lambda: export_deployment(service, dep_id, path, kind),
                           name="deploy-export", on_result=done, on_error=self._on_error)

    def _on_error(self, error: TaskError) -> None:
        if self.closed:
            return
        dialogs.show_error(self, "Deployment", error.message)

    # -- closing -------------------------------------------------------------------------
    def reject(self) -> None:
        """Cancel / Esc / the window's close button: ask while running, then close."""
        if self.running and not type(self).confirm_close(self):
            return
        super().reject()

    def done(self, result: int) -> None:
        self._shutdown()
        super().done(result)

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._run_task is not None:
            self._run_task.cancel()  # the engine stops at its next check; state is kept
        self._drain_timer.stop()
        self._wait_timer.stop()
        self._events.close()
        if self.dep is not None:
            if DeployWizard._open.get((self.site, self.dep.id)) is self:
                del DeployWizard._open[(self.site, self.dep.id)]
            self.deployment_changed.emit(self.dep.id)
