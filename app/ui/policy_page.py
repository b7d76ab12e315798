"""The Policy page: the patch policy in force as a readable form, editing it into a new
version, its version history, a plain-text export, and the CISA KEV catalogue import.

Everything is read on the read pool and written on the write pool through ``SiteService``
(``policy``, ``policy_history``, ``save_policy``, ``kev_status``, ``kev_import``); the
service audits each change. A new version is built from the form with the core's own
``set_value`` rules, so the GUI accepts exactly what ``patchdesk policy set`` accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.deployment import RebootPolicy
from app.core.errors import FieldError, ValidationError
from app.core.frameworks import policy_with_deadlines, presets_text
from app.core.models import Classification
from app.core.policy import (
    Policy,
    PolicyVersion,
    Priority,
    Role,
    format_policy,
    set_value,
)
from app.services.compliance import frameworks as bundled_frameworks
from app.ui import dialogs
from app.ui.feeds_panel import FeedsSection
from app.ui.models import local_time
from app.ui.page import Page
from app.ui.qt import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError, TaskRunner
from app.ui.widgets import page_header, plain_label

KEV_FILTER = "KEV catalogue (*.json);;All files (*)"
EXPORT_FILTER = "Markdown (*.md);;Text files (*.txt)"
CLASS_LABELS = {Classification.SECURITY: "Security", Classification.BUGFIX: "Bug fixes",
                Classification.ENHANCEMENT: "Enhancements", Classification.OTHER: "Other"}
REBOOT_LABELS = {RebootPolicy.NEVER: "Never reboot (leave it to the owner)",
                 RebootPolicy.IF_NEEDED: "Reboot when an update needs it",
                 RebootPolicy.ALWAYS: "Always reboot after installing"}
#: Friendly names of the policy keys, for error messages.
KEY_LABELS = {
    "responsible": "Responsible", "approvers": "Approvers", "deployers": "Deployers",
    "reviewers": "Reviewers", "scope.include": "Assets covered",
    "scope.exclude": "Assets excluded", "scope.classifications": "Update kinds",
    "windows": "Maintenance windows", "reboot.notice": "Reboot notice",
    "reboot.lead_minutes": "Notice lead time", "rings.test": "Test ring",
    "rings.pilot": "Pilot group", "failures.max": "Failure threshold",
    "failures.max_rate": "Failure threshold", "backup.days": "Backup age",
    "emergency_procedure": "Emergency procedure", "notes": "Notes",
    **{f"sla_hours.{p}": f"SLA {p}" for p in Priority},
}


VIEWING_STYLE = """
QLineEdit[viewing="true"], QPlainTextEdit[viewing="true"] {
    border: none; background: transparent; padding-left: 0;
}
"""


def history_text(version: PolicyVersion, in_force: bool) -> str:
    """One entry of the history list: number, author and date, then the note."""
    if version.version == 0:
        return "Version 0 — built-in defaults" + (" (in force)" if in_force else "")
    head = (f"Version {version.version}{' (in force)' if in_force else ''} — "
            f"{version.author}, {local_time(version.created_at)}")
    return head + (f"\n{version.note}" if version.note else "")


def hours_text(hours: int) -> str:
    """An SLA as the form shows it: ``48h``, ``7d`` or ``2w``."""
    if hours % (24 * 7) == 0:
        return f"{hours // (24 * 7)}w"
    if hours % 24 == 0:
        return f"{hours // 24}d"
    return f"{hours}h"


def version_title(version: PolicyVersion) -> str:
    """``Version 3 — alice, 2025-03-01 14:02`` (or the built-in defaults)."""
    if version.version == 0:
        return "Built-in defaults (version 0, never saved)"
    return (f"Version {version.version} — {version.author}, {local_time(version.created_at)}"
            + (f" · {version.note}" if version.note else ""))


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the page shows: the version in force, the history and the KEV status."""

    current: PolicyVersion
    history: list[PolicyVersion]
    kev: Any  # KevImport | None
    kev_matches: int


def load_state(service: Any) -> PolicyState:
    """Read everything the page shows (read pool)."""
    kev = service.kev_status()
    matches = sum(1 for i in service.risk_items() if i.kev) if kev is not None else 0
    return PolicyState(service.policy(), service.policy_history(), kev, matches)




class PolicyPage(Page):
    """Shows, edits (as a new version), exports and versions the site's patch policy."""

    #: The policy or the KEV catalogue changed (``"policy"`` / ``"kev"``).
    changed = Signal(str)
    runner: TaskRunner
    reload_on_show = True

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("policyPage")
        self.runner = runner
        self.service: Any = None
        self.state: PolicyState | None = None
        self.shown: PolicyVersion | None = None
        self.editing = False
        self._generation = 0
        header, self.subtitle = page_header("Patch policy")
        self.subtitle.setObjectName("policySubtitle")

        self.edit_button = QPushButton("Edit")
        self.edit_button.setObjectName("policyEdit")
        self.edit_button.setToolTip("Change the policy; saving makes a new version")
        self.edit_button.clicked.connect(self.start_edit)
        self.save_button = QPushButton("Save as new version…")
        self.save_button.setObjectName("policySave")
        self.save_button.clicked.connect(self.save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_edit)
        self.current_button = QPushButton("Back to the version in force")
        self.current_button.setObjectName("policyCurrent")
        self.current_button.clicked.connect(lambda: self.show_version(None))
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("policyExport")
        self.export_button.setToolTip("Write the policy shown as a Markdown or text file, "
                                      "for printing or signing")
        self.export_button.clicked.connect(self.export)
        self.presets_button = QPushButton("Use deadlines from…")
        self.presets_button.setObjectName("policyPresets")
        self.presets_button.setToolTip("Set the SLAs from a compliance framework's deadlines "
                                       "(never longer than now); saved as a new version")
        presets = QMenu(self.presets_button)
        for fw in bundled_frameworks().values():
            action = presets.addAction(fw.title)
            action.setObjectName(f"preset_{fw.id}")
            action.triggered.connect(lambda _=False, key=fw.id: self.apply_framework(key))
        self.presets_button.setMenu(presets)
        self.banner = plain_label(role="muted")
        self.banner.setObjectName("policyBanner")
        self.errors = plain_label(role="field-error")
        self.errors.setObjectName("policyErrors")
        self.errors.hide()
        bar = QHBoxLayout()
        bar.addWidget(self.banner, 1)
        for button in (self.current_button, self.edit_button, self.save_button,
                       self.cancel_button, self.presets_button, self.export_button):
            bar.addWidget(button)

        form_holder = QWidget()
        form_holder.setObjectName("policyForm")
        form_holder.setStyleSheet(VIEWING_STYLE)
        self.form_layout = QVBoxLayout(form_holder)
        self.form_layout.setContentsMargins(0, 0, 8, 0)
        self._build_form()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form_holder)

        side = QVBoxLayout()
        side.addWidget(self._build_history(), 1)
        side.addWidget(self._build_kev())
        self.feeds = FeedsSection(runner)  # vulnerability feeds (app/ui/feeds_panel.py)
        self.feeds.imported.connect(lambda _feed: self.changed.emit("feeds"))
        side.addWidget(self.feeds)
        body = QHBoxLayout()
        body.addWidget(scroll, 3)
        body.addLayout(side, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(bar)
        layout.addWidget(self.errors)
        layout.addLayout(body, 1)
        self._set_editing(False)

    # -- construction -----------------------------------------------------------------------
    def _line(self, name: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(f"policy_{name}")
        edit.setAccessibleName(name.replace("_", " "))
        edit.setPlaceholderText(placeholder)
        return edit

    def _plain(self, name: str, lines: int, placeholder: str = "") -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setObjectName(f"policy_{name}")
        edit.setAccessibleName(name.replace("_", " "))
        edit.setTabChangesFocus(True)
        edit.setPlaceholderText(placeholder)
        edit.setFixedHeight(self.fontMetrics().height() * lines + 14)
        return edit

    def _group(self, title: str, help_text: str = "") -> QFormLayout:
        group = QGroupBox(title)
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        if help_text:
            label = plain_label(role="muted")
            label.setText(help_text)
            form.addRow(label)
        self.form_layout.addWidget(group)
        return form

    def _build_form(self) -> None:
        who = self._group("Who", "Names as people type them in the approval and review "
                          "boxes. A role nobody holds is open to everyone.")
        self.responsible = self._line("responsible", "the person accountable for patching")
        self.approvers = self._line("approvers", "comma-separated names; empty: anyone")
        self.deployers = self._line("deployers", "comma-separated names; empty: anyone")
        self.reviewers = self._line("reviewers", "comma-separated names; empty: anyone")
        who.addRow("Responsible", self.responsible)
        who.addRow("May approve deployments", self.approvers)
        who.addRow("May plan and run deployments", self.deployers)
        who.addRow("May decide reviews and grant exceptions", self.reviewers)

        what = self._group("What is patched", "Asset groups: all, ring:NAME, tag:NAME, "
                           "kind:NAME, host:NAME or asset:ID, comma-separated.")
        self.include = self._line("scope_include", "all")
        self.exclude = self._line("scope_exclude", "e.g. tag:lab")
        self.kinds = {c: QCheckBox(CLASS_LABELS[c]) for c in Classification}
        kinds_row = QHBoxLayout()
        for box in self.kinds.values():
            kinds_row.addWidget(box)
        kinds_row.addStretch(1)
        what.addRow("Assets covered", self.include)
        what.addRow("Except", self.exclude)
        what.addRow("Update kinds", kinds_row)

        sla = self._group("By when (SLA per priority)", "From the day an update is first "
                          "seen missing: 48h, 7d or 2w. Known-exploited updates are at "
                          "least high.")
        self.sla = {p: self._line(f"sla_{p}", "e.g. 7d") for p in Priority}
        for p, edit in self.sla.items():
            edit.setMaximumWidth(120)
            sla.addRow(str(p).capitalize(), edit)

        when = self._group("When (maintenance windows)", "One per line: GROUP=DAYS "
                           "HH:MM-HH:MM, e.g. ring:production=sat,sun 22:00-04:00. "
                           "No window: any time.")
        self.windows = self._plain("windows", 3, "ring:production=sat 22:00-04:00")
        when.addRow(self.windows)

        how = self._group("How")
        self.test_ring = self._line("rings_test", "ring:test")
        self.pilot = self._line("rings_pilot", "ring:pilot")
        how.addRow("Test ring", self.test_ring)
        how.addRow("Pilot group", self.pilot)
        self.reboot = QComboBox()
        self.reboot.setObjectName("policy_reboot")
        self.reboot.setAccessibleName("Reboot behaviour")
        for value, label in REBOOT_LABELS.items():
            self.reboot.addItem(label, str(value))
        how.addRow("Reboot", self.reboot)
        self.lead = QSpinBox()
        self.lead.setObjectName("policy_lead")
        self.lead.setRange(0, 24 * 60)
        self.lead.setSuffix(" min before")
        how.addRow("Notice lead time", self.lead)
        # Several lines: the whole message reads at once (a one-line box showed its tail).
        self.notice = self._plain("reboot_notice", 3, "shown to logged-in users")
        how.addRow("Reboot notice", self.notice)
        self.max_failures = QSpinBox()
        self.max_failures.setObjectName("policy_max_failures")
        self.max_failures.setRange(0, 10_000)
        self.max_failures.setSpecialValueText("use the rate")
        self.max_failures.setSuffix(" failed hosts")
        self.max_rate = QDoubleSpinBox()
        self.max_rate.setObjectName("policy_max_rate")
        self.max_rate.setRange(0, 100)
        self.max_rate.setDecimals(0)
        self.max_rate.setSuffix(" % failed")
        failures = QHBoxLayout()
        failures.addWidget(self.max_failures)
        failures.addWidget(QLabel("or else"))
        failures.addWidget(self.max_rate)
        failures.addStretch(1)
        how.addRow("Halt production after", failures)
        self.backup_required = QCheckBox("Servers need a verified backup, at most")
        self.backup_required.setObjectName("policy_backup")
        self.backup_days = QSpinBox()
        self.backup_days.setObjectName("policy_backup_days")
        self.backup_days.setRange(1, 3660)
        self.backup_days.setSuffix(" days old")
        backup = QHBoxLayout()
        backup.addWidget(self.backup_required)
        backup.addWidget(self.backup_days)
        backup.addStretch(1)
        how.addRow("Backup", backup)
        self.feeds_age = QSpinBox()
        self.feeds_age.setObjectName("policy_feeds_max_age")
        self.feeds_age.setRange(1, 366)
        self.feeds_age.setSuffix(" days old")
        how.addRow("Vulnerability feeds stale when over", self.feeds_age)

        emergency = self._group("Emergency procedure")
        self.emergency = self._plain("emergency", 6)
        emergency.addRow(self.emergency)
        notes = self._group("Notes")
        self.notes = self._plain("notes", 3, "anything else the policy says")
        notes.addRow(self.notes)
        self.form_layout.addStretch(1)
        self.inputs: list[QWidget] = [
            self.responsible, self.approvers, self.deployers, self.reviewers, self.include,
            self.exclude, *self.kinds.values(), *self.sla.values(), self.windows,
            self.test_ring, self.pilot, self.reboot, self.lead, self.notice,
            self.max_failures, self.max_rate, self.backup_required, self.backup_days,
            self.feeds_age, self.emergency, self.notes]

    def _build_history(self) -> QWidget:
        box = QGroupBox("Version history")
        layout = QVBoxLayout(box)
        self.history = QListWidget()
        self.history.setObjectName("policyHistory")
        self.history.setAccessibleName("Policy versions")
        self.history.setWordWrap(True)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.itemActivated.connect(lambda _i: self._on_view_clicked())
        self.history.itemDoubleClicked.connect(lambda _i: self._on_view_clicked())
        self.view_button = QPushButton("View version")
        self.view_button.setObjectName("policyViewVersion")
        self.view_button.clicked.connect(self._on_view_clicked)
        layout.addWidget(self.history, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.view_button)
        layout.addLayout(row)
        return box

    def _build_kev(self) -> QWidget:
        box = QGroupBox("Known exploited vulnerabilities (CISA KEV)")
        layout = QVBoxLayout(box)
        self.kev_status = plain_label()
        self.kev_status.setObjectName("kevStatus")
        self.kev_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kev_file_button = QPushButton("Import KEV catalogue…")
        self.kev_file_button.setObjectName("kevImportFile")
        self.kev_file_button.setToolTip("CISA's known_exploited_vulnerabilities.json, "
                                        "downloaded from cisa.gov")
        self.kev_file_button.clicked.connect(self.import_kev_file)
        self.kev_sample_button = QPushButton("Use the bundled sample")
        self.kev_sample_button.setObjectName("kevImportSample")
        self.kev_sample_button.setToolTip("A 20-entry extract shipped with PatchDesk, for a "
                                          "first look offline")
        self.kev_sample_button.clicked.connect(lambda: self.import_kev(None, sample=True))
        row = QHBoxLayout()
        row.addWidget(self.kev_file_button)
        row.addWidget(self.kev_sample_button)
        row.addStretch(1)
        layout.addWidget(self.kev_status)
        layout.addLayout(row)
        return box

    # -- data -------------------------------------------------------------------------------
    def set_service(self, service: Any) -> None:
        """Show another site (loaded by :meth:`reload`)."""
        self.service = service
        self._generation += 1
        self.state = None
        self.shown = None
        self._set_editing(False)
        self.history.clear()
        self.kev_status.setText("")
        self.feeds.set_service(service)

    def bind(self, service: Any, runner: TaskRunner) -> None:
        self.runner = runner
        self.feeds.runner = runner
        self.set_service(service)

    def load(self) -> None:
        """Load the policy, its history and the KEV status (read pool)."""
        service = self.service
        if service is None:
            return
        self._generation += 1
        generation = self._generation

        def done(state: PolicyState) -> None:
            if generation == self._generation and service is self.service:
                self.set_state(state)
                self.loaded.emit()

        self.runner.submit(lambda: load_state(service), name="load policy", on_result=done)
        self.feeds.load()

    def set_state(self, state: PolicyState) -> None:
        """Show loaded data (the version in force unless an old one is being viewed)."""
        self.state = state
        self.history.clear()
        for version in [*state.history, *([] if state.history else [state.current])]:
            item = QListWidgetItem(history_text(version, version.version ==
                                                state.current.version))
            item.setData(Qt.ItemDataRole.UserRole, version.version)
            self.history.addItem(item)
        self.history.setCurrentRow(0)
        self.view_button.setEnabled(bool(state.history))
        self._show_kev(state)
        viewing = self.shown if self.shown and self.shown.version != state.current.version \
            else None
        if not self.editing:
            self._show(viewing or state.current)

    def _show_kev(self, state: PolicyState) -> None:
        kev = state.kev
        if kev is None:
            self.kev_status.setText(
                "Not imported yet: nothing is flagged as known exploited. Import CISA's "
                "catalogue (or the bundled sample) to raise the priority of updates for "
                "vulnerabilities attackers already use.")
            return
        self.kev_status.setText(
            f"Catalogue version {kev.catalog_version or '?'}, released "
            f"{kev.date_released[:10] or '?'}: {kev.entries:,} entries.\n"
            f"Imported {local_time(kev.imported_at)} by {kev.actor} from {kev.source} "
            f"(+{kev.added:,} / −{kev.removed:,}).\n"
            f"{state.kev_matches:,} missing update{'s' if state.kev_matches != 1 else ''} "
            "on this site fix a known-exploited vulnerability.")

    def show_version(self, number: int | None) -> None:
        """Show one version (None: the version in force), read-only."""
        state, service = self.state, self.service
        if state is None or service is None or self.editing:
            return
        if number is None or number == state.current.version:
            self._show(state.current)
            return
        found = next((v for v in state.history if v.version == number), None)
        if found is not None:
            self._show(found)

    def _show(self, version: PolicyVersion) -> None:
        self.shown = version
        current = self.state.current if self.state else version
        self.subtitle.setText(f"In force: {version_title(current)}")
        if version.version == current.version:
            self.banner.setText("The policy in force. Edit it to save a new version; "
                                "every version is kept.")
        else:
            self.banner.setText(f"Showing an older version: {version_title(version)}. "
                                "It is not in force.")
        self.fill(version.policy)
        self._set_editing(False)

    def fill(self, p: Policy) -> None:
        """Put a policy's values into the form."""
        self.responsible.setText(p.responsible)
        self.approvers.setText(", ".join(p.holders(Role.APPROVER)))
        self.deployers.setText(", ".join(p.holders(Role.DEPLOYER)))
        self.reviewers.setText(", ".join(p.holders(Role.REVIEWER)))
        self.include.setText(", ".join(p.scope_include))
        self.exclude.setText(", ".join(p.scope_exclude))
        for c, box in self.kinds.items():
            box.setChecked(c in p.classifications)
        for priority, edit in self.sla.items():
            edit.setText(hours_text(int(p.sla(priority).total_seconds() // 3600)))
        self.windows.setPlainText("\n".join(str(w) for w in p.windows))
        self.test_ring.setText(", ".join(p.test_group))
        self.pilot.setText(", ".join(p.pilot_group))
        self.reboot.setCurrentIndex(max(0, self.reboot.findData(str(p.reboot))))
        self.lead.setValue(p.reboot_lead_minutes)
        self.notice.setPlainText(p.reboot_notice)
        self.max_failures.setValue(p.max_failures or 0)
        self.max_rate.setValue(round(p.max_failure_rate * 100))
        self.backup_required.setChecked(p.backup_required)
        self.backup_days.setValue(p.backup_days)
        self.feeds_age.setValue(p.feeds_max_age_days)
        self.emergency.setPlainText(p.emergency_procedure)
        self.notes.setPlainText(p.notes)

    def form_pairs(self) -> list[tuple[str, str]]:
        """The form as ``policy set`` KEY VALUE pairs."""
        def lines(edit: QPlainTextEdit) -> str:
            return ";".join(x.strip() for x in edit.toPlainText().splitlines() if x.strip())

        return [
            ("responsible", self.responsible.text()),
            ("approvers", self.approvers.text()),
            ("deployers", self.deployers.text()),
            ("reviewers", self.reviewers.text()),
            ("scope.include", self.include.text()),
            ("scope.exclude", self.exclude.text()),
            ("scope.classifications",
             ",".join(str(c) for c, box in self.kinds.items() if box.isChecked())),
            *((f"sla_hours.{p}", edit.text()) for p, edit in self.sla.items()),
            ("windows", lines(self.windows)),
            ("rings.test", self.test_ring.text()),
            ("rings.pilot", self.pilot.text()),
            ("reboot.behaviour", str(self.reboot.currentData())),
            ("reboot.lead_minutes", str(self.lead.value())),
            ("reboot.notice", self.notice.toPlainText().strip()),
            ("failures.max", str(self.max_failures.value() or "none")),
            ("failures.max_rate", str(self.max_rate.value() / 100)),
            ("backup.required", "yes" if self.backup_required.isChecked() else "no"),
            ("backup.days", str(self.backup_days.value())),
            ("feeds.max_age_days", str(self.feeds_age.value())),
            ("emergency_procedure", self.emergency.toPlainText()),
            ("notes", self.notes.toPlainText()),
        ]

    def build(self, base: Policy) -> Policy:
        """The policy the form describes, checked by the core's rules.

        Raises:
            ValidationError: every invalid value, by policy key.
        """
        errors: list[FieldError] = []
        policy = base
        for key, value in self.form_pairs():
            try:
                policy = set_value(policy, key, value)
            except ValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            raise ValidationError(errors)
        return policy

    # -- editing ----------------------------------------------------------------------------
    def _set_editing(self, editing: bool) -> None:
        self.editing = editing
        viewing_old = (self.state is not None and self.shown is not None
                       and self.shown.version != self.state.current.version)
        for widget in self.inputs:
            if isinstance(widget, QLineEdit | QPlainTextEdit):
                widget.setReadOnly(not editing)
                # Read, the form is text on the page rather than a grid of input boxes.
                widget.setProperty("viewing", not editing)
                widget.style().unpolish(widget)
                widget.style().polish(widget)
            else:
                widget.setEnabled(editing)
        self.edit_button.setVisible(not editing)
        self.edit_button.setEnabled(self.state is not None and not viewing_old)
        self.presets_button.setEnabled(self.state is not None and not editing)
        self.save_button.setVisible(editing)
        self.cancel_button.setVisible(editing)
        self.current_button.setVisible(viewing_old and not editing)
        self.export_button.setEnabled(self.shown is not None and not editing)
        self.history.setEnabled(not editing)
        self.view_button.setEnabled(not editing and bool(self.state and self.state.history))
        for button in (self.kev_file_button, self.kev_sample_button):
            button.setEnabled(self.service is not None)
        if not editing:
            self.show_errors([])

    def start_edit(self) -> None:
        """Make the form editable (the version in force)."""
        if self.state is None:
            return
        self._show(self.state.current)
        self._set_editing(True)
        self.banner.setText(f"Editing. Saving makes version "
                            f"{max(self.state.current.version, 0) + 1}; the current one "
                            "is kept in the history.")
        self.responsible.setFocus()

    def cancel_edit(self) -> None:
        """Drop the edits."""
        self._set_editing(False)
        if self.state is not None:
            self._show(self.state.current)

    @staticmethod
    def ask_note(parent: QWidget) -> str | None:
        """Ask for the change note (tests replace this); None if cancelled."""
        text, ok = QInputDialog.getText(parent, "Save policy",
                                        "What changed and why (kept with the version):")
        return text if ok else None

    def save(self) -> None:
        """Check the form, ask for a change note and save a new version (write pool)."""
        service, state = self.service, self.state
        if service is None or state is None or not self.editing:
            return
        try:
            policy = self.build(state.current.policy)
        except ValidationError as exc:
            self.show_errors(exc.errors)
            return
        if policy == state.current.policy:
            self.show_errors([FieldError("policy", "nothing changed")])
            return
        self.show_errors([])
        note = type(self).ask_note(self)
        if note is None:
            return

        def done(saved: PolicyVersion) -> None:
            if service is not self.service:
                return
            self._set_editing(False)
            self.shown = None
            self.banner.setText(f"Saved as version {saved.version}.")
            self.load()
            self.changed.emit("policy")

        self._submit_write("save policy", lambda: service.save_policy(policy, note), done)

    @staticmethod
    def ask_preset_note(parent: QWidget, what: str) -> str | None:
        """Show what a framework's deadlines change and ask for the change note (tests
        replace this); None if cancelled."""
        text, ok = QInputDialog.getText(parent, "Use a framework's deadlines",
                                        f"{what}\n\nWhat changed and why (kept with the "
                                        "version):")
        return text if ok else None

    def apply_framework(self, framework_id: str) -> None:
        """Set the SLAs from a framework's deadlines and save them as a new version (the
        same audited save as the form's)."""
        service, state = self.service, self.state
        if service is None or state is None or self.editing:
            return
        framework = bundled_frameworks()[framework_id]
        current = state.current.policy
        policy = policy_with_deadlines(current, framework)
        if policy == current:
            self.banner.setText(f"The SLAs already meet {framework.title}'s deadlines; "
                                "nothing to change.")
            return
        note = type(self).ask_preset_note(self, presets_text(framework, current))
        if note is None:
            return
        note = note.strip() or f"SLAs from {framework.title} {framework.version}"

        def done(saved: PolicyVersion) -> None:
            if service is not self.service:
                return
            self.shown = None
            self.banner.setText(f"Saved as version {saved.version} with "
                                f"{framework.title}'s deadlines.")
            self.load()
            self.changed.emit("policy")

        self._submit_write("save policy", lambda: service.save_policy(policy, note), done)

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """List what is wrong above the form."""
        self.errors.setText("\n".join(
            f"{KEY_LABELS.get(e.field, e.field)}: {e.message}" for e in errors))
        self.errors.setVisible(bool(errors))

    def _on_view_clicked(self) -> None:
        item = self.history.currentItem()
        if item is not None:
            self.show_version(int(item.data(Qt.ItemDataRole.UserRole)))

    # -- export -----------------------------------------------------------------------------
    @staticmethod
    def ask_export_path(parent: QWidget, name: str) -> str | None:
        """Ask where to write the export (tests replace this)."""
        return dialogs.ask_save_file(parent, "Export policy", EXPORT_FILTER, name)

    def export(self) -> None:
        """Write the version shown as Markdown (``.md``) or plain text (read pool)."""
        version = self.shown
        if version is None:
            return
        chosen = type(self).ask_export_path(self, f"patch-policy-v{version.version}.md")
        if not chosen:
            return
        path = Path(chosen)
        if path.suffix.lower() not in (".md", ".txt"):
            path = path.with_name(f"{path.name}.md")
        text = policy_document(version, markdown=path.suffix.lower() == ".md")
        reports = self.service.reports

        def write() -> Path:
            return Path(reports.save_document(path, text))

        self.runner.submit(write, name="export policy",
                           on_result=lambda p: self.banner.setText(f"Exported to {p}."),
                           on_error=self._on_error)

    # -- KEV --------------------------------------------------------------------------------
    @staticmethod
    def ask_kev_file(parent: QWidget) -> str | None:
        """Ask for a KEV catalogue file (tests replace this)."""
        return dialogs.ask_open_file(parent, "Import KEV catalogue", KEV_FILTER)

    def import_kev_file(self) -> None:
        """Ask for CISA's JSON file and import it."""
        path = type(self).ask_kev_file(self)
        if path:
            self.import_kev(path)

    def import_kev(self, source: str | None, *, sample: bool = False) -> None:
        """Import a KEV catalogue file, or the bundled sample (write pool)."""
        service = self.service
        if service is None:
            return
        self.kev_status.setText("Importing the KEV catalogue…")

        def done(_result: Any) -> None:
            if service is self.service:
                self.load()
                self.changed.emit("kev")

        self._submit_write("kev import",
                           lambda: service.kev_import(source, sample=sample), done)

    # -- helpers ----------------------------------------------------------------------------
    def _submit_write(self, name: str, fn: Callable[[], Any],
                      done: Callable[[Any], None]) -> None:
        self.runner.submit(fn, name=name, write=True, on_result=done,
                           on_error=self._on_error)

    def _on_error(self, error: TaskError) -> None:
        if self.state is not None:
            self._show_kev(self.state)
        dialogs.show_error(self, "Patch policy", error.message)


def policy_document(version: PolicyVersion, *, markdown: bool = True) -> str:
    """The policy as a printable document (Markdown wraps the plain text for printing)."""
    text = format_policy(version)
    if not markdown:
        return text
    lines = text.splitlines()
    out = [f"# {lines[0]}", ""]
    for line in lines[1:]:
        if line and not line.startswith(" "):
            out += [f"## {line}", ""]
        elif line.startswith("  "):
            out.append(f"- {line.strip()}")
        else:
            out.append(line)
    return "\n".join(out).rstrip() + "\n"
