"""The deploy wizard's run pages: pre-flight and the test ring, review and the named
approval, pilot and production in waves, and the summary with its export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.core.clock import utcnow
from app.core.deploy_eta import duration_text, run_progress
from app.core.deployment import (
    RUNNING_PHASES,
    HostState,
    Phase,
    Stage,
    Target,
    halted_at_preflight,
    versions_text,
)
from app.services import current_user
from app.ui.deploy import questions
from app.ui.deploy.helpers import (
    P_REVIEW,
    P_ROLLOUT,
    P_SUMMARY,
)
from app.ui.deploy.pages import DeployPage, table_item
from app.ui.deployments_page import TargetTableModel, can_roll_back, phase_label
from app.ui.qt import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    QWizard,
)
from app.ui.widgets import make_table_view, make_table_widget, plain_label

if TYPE_CHECKING:
    from app.ui.deploy.wizard import DeployWizard

_RED_STYLE = "color: #b3261e; font-weight: bold;"


class RunPage(DeployPage):
    """Steps 4 and 6: a run of the deployment, live (pre-flight and test ring, or pilot,
    production and verification)."""

    def __init__(self, wizard: DeployWizard, stage: str) -> None:
        test = stage == "test"
        super().__init__(wizard, "Pre-flight and test ring" if test else
                         "Pilot, production and verification",
                         "Checks every host, then installs on the test ring and checks its "
                         "health." if test else
                         "Installs on the pilot group, then on production in waves, then "
                         "re-assesses every host to verify.")
        self.stage = stage
        #: The rings this page runs (its progress counts their hosts).
        self.stages = (Stage.TEST,) if test else (Stage.PILOT, Stage.PRODUCTION)
        self._ticker = QTimer(self)  # the running hosts' time and the time left move on
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._on_ticker_timeout)
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.phase_label = plain_label("", name=f"{stage}Phase")
        font = self.phase_label.font()
        font.setBold(True)
        self.phase_label.setFont(font)
        self.halt_label = plain_label("", name=f"{stage}Halt")
        self.halt_label.setStyleSheet(_RED_STYLE)
        self.halt_label.hide()
        self.wait_label = plain_label("", name=f"{stage}Countdown")
        self.start_now_button = QPushButton("&Start now")
        self.start_now_button.setObjectName(f"{stage}StartNow")
        self.start_now_button.clicked.connect(self.w.start_now)
        wait_row = QHBoxLayout()
        wait_row.addWidget(self.wait_label, 1)
        wait_row.addWidget(self.start_now_button)
        self.wait_box = QWidget()
        self.wait_box.setLayout(wait_row)
        self.wait_box.hide()
        self.progress = QProgressBar()
        self.progress.setObjectName(f"{stage}Progress")
        self.progress.setRange(0, 1)
        self.model = TargetTableModel(self)
        self.table = make_table_view(f"{stage}Hosts", "Hosts", self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column in (TargetTableModel.COL_ADDRESS, TargetTableModel.COL_WAVE,
                       TargetTableModel.COL_BEFORE, TargetTableModel.COL_AFTER):
            self.table.hideColumn(column)
        for column, width in ((0, 130), (2, 90), (4, 150), (5, 80), (8, 110)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)
        self.override_button = QPushButton("&Override…")
        self.override_button.setObjectName(f"{stage}Override")
        self.override_button.setToolTip("Let the selected host take part although it failed "
                                        "pre-flight (asks for a reason).")
        self.override_button.clicked.connect(self._on_override_clicked)
        self.continue_button = QPushButton("&Continue without them")
        self.continue_button.setObjectName(f"{stage}Continue")
        self.continue_button.clicked.connect(self.w.continue_after_preflight)
        self.continue_button.hide()
        self.rollback_button = QPushButton("&Roll back…")
        self.rollback_button.setObjectName(f"{stage}Rollback")
        self.rollback_button.clicked.connect(self.w.rollback)
        self.rollback_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.override_button)
        buttons.addWidget(self.continue_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rollback_button)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName(f"{stage}Log")
        self.log_view.setAccessibleName("Live deployment log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.log_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.phase_label)
        layout.addWidget(self.halt_label)
        layout.addWidget(self.wait_box)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        layout.addWidget(splitter, 1)

    def initializePage(self) -> None:
        self.log_view.setPlainText("\n".join(self.w.log_lines))
        self.show_deployment()
        self._ticker.start()
        self.w.start_run()

    def _on_ticker_timeout(self) -> None:
        if self.w.closed:
            self._ticker.stop()
        elif self.w.running and self.w.dep is not None:
            self.model.update_targets(self.w.dep.targets)
            self.show_progress()

    def show_deployment(self) -> None:
        """Render the wizard's current snapshot of the deployment."""
        dep = self.w.dep
        if dep is None:
            return
        self.model.update_targets(dep.targets)
        self.show_progress()
        text = f"Deployment {dep.id}: {phase_label(dep.phase)}"
        if self.w.running:
            text += " — running…"
        elif self.w.busy:
            text += " — working…"
        self.phase_label.setText(text)
        halted = dep.phase in (Phase.HALTED, Phase.ROLLING_BACK, Phase.ROLLED_BACK)
        if halted_at_preflight(dep):
            self.halt_label.setText(f"Halted: {dep.halt_reason}.")
        elif dep.phase is Phase.HALTED and can_roll_back(dep):
            self.halt_label.setText(f"Halted: {dep.halt_reason}\nRoll the deployment back, "
                                    "or close the wizard and plan a new one.")
        elif dep.phase is Phase.HALTED:
            self.halt_label.setText(f"Halted: {dep.halt_reason}\nNothing was installed: "
                                    "close the wizard and plan a new one.")
        elif dep.phase is Phase.ROLLING_BACK:
            self.halt_label.setText("Rollback was interrupted. Roll back again to finish it.")
        elif dep.phase is Phase.ROLLED_BACK:
            self.halt_label.setText("Rolled back: the previous versions were restored.")
        self.halt_label.setVisible(halted)
        self.update_buttons()
        self.completeChanged.emit()

    def show_progress(self) -> None:
        """Hosts done of this page's rings, with the time left estimated from the finished
        hosts' durations ([13]); a halted run says halted, never "100 %"."""
        dep = self.w.dep
        if dep is None:
            return
        if dep.phase is Phase.HALTED:  # stopped short
            installed = sum(1 for t in dep.targets if t.state in (
                HostState.SUCCEEDED, HostState.FAILED, HostState.ROLLED_BACK))
            self.progress.setRange(0, max(1, len(dep.targets)))
            self.progress.setValue(installed)
            self.progress.setFormat(f"Halted — {installed} of {len(dep.targets)} host(s) "
                                    "worked on")
            return
        run = run_progress(dep, utcnow(), self.stages)
        self.progress.setRange(0, max(1, run.total))
        self.progress.setValue(run.finished)
        self.progress.setFormat(run.text())
        self.progress.setToolTip(f"Average {duration_text(run.average)} per host"
                                 if run.average is not None else
                                 "The time left is estimated once a host has finished.")

    def show_waiting(self, text: str | None) -> None:
        """Show the maintenance-window countdown (None hides it)."""
        self.wait_box.setVisible(text is not None)
        if text is not None:
            self.wait_label.setText(text)

    def show_log(self, lines: Sequence[str]) -> None:
        """Append live log lines."""
        if lines:
            self.log_view.appendPlainText("\n".join(lines))

    def selected_target(self) -> Target | None:
        """The host selected in the table."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.object_at(rows[0].row()) if rows else None

    def update_buttons(self, *_args: object) -> None:
        """Enable what the state allows."""
        dep = self.w.dep
        target = self.selected_target()
        excluded = [t for t in dep.targets if t.excluded] if dep else []
        self.override_button.setVisible(bool(excluded))
        self.override_button.setEnabled(
            target is not None and target.excluded and not self.w.busy_writing
            and dep is not None and (dep.phase in RUNNING_PHASES or halted_at_preflight(dep)))
        retry = (bool(self.w.run_error) and dep is not None
                 and dep.phase in RUNNING_PHASES) or halted_at_preflight(dep)
        self.continue_button.setText("&Continue without them" if self.w.paused_for_preflight
                                     else "&Retry")
        self.continue_button.setVisible(self.w.paused_for_preflight or retry)
        self.continue_button.setEnabled(not self.w.busy)
        # Offered only where something was installed ([13]).
        can_roll = (dep is not None and dep.phase in (Phase.HALTED, Phase.ROLLING_BACK)
                    and can_roll_back(dep))
        self.rollback_button.setVisible(can_roll)
        self.rollback_button.setEnabled(can_roll and not self.w.busy)

    def _on_override_clicked(self) -> None:
        target = self.selected_target()
        if target is None or not target.excluded:
            return
        reason = questions.ask_override_reason(self, target)
        if reason:
            self.w.override(target.asset_id, reason)

    def isComplete(self) -> bool:
        dep = self.w.dep
        if dep is None or self.w.busy or self.w.paused_for_preflight \
                or halted_at_preflight(dep):  # override and retry, or close
            return False
        done = {Phase.DONE, Phase.HALTED, Phase.ROLLED_BACK}
        if self.stage == "test":
            done.add(Phase.AWAITING_APPROVAL)
        return dep.phase in done

    def nextId(self) -> int:
        dep = self.w.dep
        if self.stage == "test" and dep is not None and dep.phase is Phase.AWAITING_APPROVAL:
            return P_REVIEW
        return P_SUMMARY


class ReviewPage(DeployPage):
    """Step 5: the test ring's results and the named approval."""

    HEADERS = ("Host", "Result", "Before", "After", "Reboot", "Health")

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Review and approve", "Check the test ring's results. "
                         "Approving records your name and lets the pilot and production "
                         "go ahead.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.gate_label = plain_label("", name="gateSummary")
        font = self.gate_label.font()
        font.setBold(True)
        self.gate_label.setFont(font)
        self.table = make_table_widget("testResults", "Test ring results", self.HEADERS)
        # The whole change set (apt's simulation on every host at pre-flight): what the
        # approval lets through, dependencies pulled along included.
        self.changes_label = plain_label("", name="changeSet")
        for column, width in enumerate((130, 150, 140, 140, 120)):
            self.table.setColumnWidth(column, width)
        self.approver_edit = QLineEdit(current_user())
        self.approver_edit.setObjectName("approverEdit")
        self.approver_edit.setAccessibleName("Approver's name")
        self.approver_edit.textChanged.connect(self._update_button)
        self.note_edit = QLineEdit()
        self.note_edit.setObjectName("approvalNote")
        self.note_edit.setAccessibleName("Approval note")
        self.note_edit.setPlaceholderText("optional, e.g. what you checked")
        self.approve_button = QPushButton("&Approve and continue")
        self.approve_button.setObjectName("approveButton")
        self.approve_button.clicked.connect(self._on_approve_clicked)
        self.approver_edit.returnPressed.connect(self._on_approve_clicked)
        self.status = plain_label("", name="approvalStatus")
        form = QFormLayout()
        form.addRow("Approved &by", self.approver_edit)
        form.addRow("N&ote", self.note_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.gate_label)
        layout.addWidget(self.changes_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.approve_button)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    def initializePage(self) -> None:
        self.show_deployment()
        self.approver_edit.setFocus()

    def show_deployment(self) -> None:
        """Render the test ring's results."""
        dep = self.w.dep
        if dep is None:
            return
        tested = [t for t in dep.targets if t.stage is Stage.TEST]
        self.table.setRowCount(len(tested))
        for row, t in enumerate(tested):
            problems = t.health_after.get("problems") or []
            result = "excluded (pre-flight)" if t.excluded else str(t.state)
            if t.detail and not t.excluded:
                result += f": {t.detail}"
            cells = (t.label, result, versions_text(t.before), versions_text(t.after),
                     t.reboot, "; ".join(str(p) for p in problems) or
                     ("" if t.excluded else "no problems"))
            for column, text in enumerate(cells):
                self.table.setItem(row, column, table_item(text))
        ok = [t for t in tested if t.state is HostState.SUCCEEDED and not t.excluded]
        pilot = dep.stage_targets(Stage.PILOT)
        production = dep.stage_targets(Stage.PRODUCTION)
        waves = len({t.wave for t in production})
        self.gate_label.setText(
            f"Test ring: {len(ok)} of {len(tested)} host(s) installed "
            + ", ".join(f"{p}" for p in dep.packages) + ". Phase: "
            + phase_label(dep.phase) + "."
            + f"\nNext: {len(pilot)} pilot host(s), then {len(production)} production "
            f"host(s) in {waves} wave(s)."
            + (f"\nApproved by {dep.approval.approver}." if dep.approval else ""))
        notes = self.w.service.deployments.rollback_notes(dep.id)  # said before approval
        self.changes_label.setText(f"Changes: {dep.change_summary()}"
                                   + "".join(f"\nNo rollback: {n}" for n in notes))
        self._update_button()
        self.completeChanged.emit()

    def _update_button(self, *_args: object) -> None:
        dep = self.w.dep
        self.approve_button.setEnabled(
            dep is not None and dep.phase is Phase.AWAITING_APPROVAL and not self.w.busy
            and bool(self.approver_edit.text().strip()))

    def _on_approve_clicked(self) -> None:
        if not self.approve_button.isEnabled():
            return
        self.status.setText("Recording the approval…")
        self.w.approve(self.approver_edit.text().strip(), self.note_edit.text().strip())

    def isComplete(self) -> bool:
        dep = self.w.dep
        return dep is not None and dep.approval is not None and not self.w.busy

    def nextId(self) -> int:
        return P_ROLLOUT


class SummaryPage(DeployPage):
    """Step 7: the final state of every host, counts, and export."""

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Summary", "Where every host ended up, verified by a new "
                         "assessment.")
        self.headline = plain_label("", name="summaryHeadline")
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        self.details = plain_label("", name="summaryDetails")
        self.model = TargetTableModel(self)
        self.table = make_table_view("summaryHosts", "Final state of the hosts", self.model)
        for column, width in enumerate((120, 110, 80, 50, 100, 80, 150, 150, 100)):
            self.table.setColumnWidth(column, width)
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.setObjectName("exportCsv")
        self.csv_button.clicked.connect(lambda: self.w.export("csv"))
        self.json_button = QPushButton("Export &JSON…")
        self.json_button.setObjectName("exportJson")
        self.json_button.clicked.connect(lambda: self.w.export("json"))
        self.status = plain_label("", name="exportStatus")
        buttons = QHBoxLayout()
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.json_button)
        buttons.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def initializePage(self) -> None:
        self.show_deployment()
        self.w.refresh()

    def show_deployment(self) -> None:
        """Render the final state."""
        dep = self.w.dep
        if dep is None:
            return
        self.model.update_targets(dep.targets)
        hosts = [t for t in dep.targets if not t.excluded]
        counts = {v: sum(1 for t in hosts if t.verified == v)
                  for v in ("installed", "missing", "failed")}
        if dep.phase is Phase.DONE and hosts and counts["installed"] == len(hosts):
            head = f"Done: every host is installed ({len(hosts)} of {len(hosts)})."
        elif dep.phase is Phase.DONE:
            head = (f"Done: {counts['installed']} of {len(hosts)} host(s) installed, "
                    f"{counts['missing']} missing, {counts['failed']} failed.")
        elif dep.phase is Phase.HALTED:
            head = f"Halted: {dep.halt_reason}"
        else:
            head = f"{phase_label(dep.phase)}."
        self.headline.setText(head)
        excluded = [t.label for t in dep.targets if t.excluded]
        lines = ["Packages: " + ", ".join(str(p) for p in dep.packages)]
        if dep.approval:
            lines.append(f"Approved by {dep.approval.approver}"
                         + (f": {dep.approval.note}" if dep.approval.note else ""))
        if excluded:
            lines.append("Left out by pre-flight: " + ", ".join(excluded))
        self.details.setText("\n".join(lines))

    def nextId(self) -> int:
        return -1
