"""The test-then-deploy wizard: patches → targets and rings → schedule → pre-flight and test
ring → review and named approval → pilot and production → verification and summary.

The deployment itself lives in the site: the engine (``SiteService.deployer``) persists every
step, so the wizard is only a view and a remote control. Runs go through the task runner's
pool (``DeployEngine.run`` with a cancel token); the engine's ``on_event`` callback fires on
worker threads, so events are queued and drained by a 100 ms timer on the GUI thread, which
then re-reads the deployment on the pool. Closing the wizard mid-run cancels the run's token
and leaves a resumable deployment; :meth:`DeployWizard.resume` reopens it where it stands.
Everything that came from hosts is shown as plain text.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from app.core.deployment import (
    Deployment,
    Gates,
    HostState,
    Phase,
    RebootPolicy,
    Stage,
    Target,
)
from app.core.models import Asset, AssetPatch, Classification, Ring, Severity
from app.core.progress import CancelToken
from app.services import current_user
from app.ui import dialogs
from app.ui.deployments_page import (
    TargetTableModel,
    active_run,
    make_table,
    phase_label,
    track_run,
    versions_text,
)
from app.ui.qt import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDateTime,
    QDateTimeEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QTimer,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner

if TYPE_CHECKING:
    from app.services import SiteService

# Page ids.
P_PATCHES, P_TARGETS, P_SCHEDULE, P_TEST, P_REVIEW, P_ROLLOUT, P_SUMMARY = range(7)

CLASS_LABELS = {Classification.SECURITY: "Security", Classification.BUGFIX: "Bug fix",
                Classification.ENHANCEMENT: "Enhancement", Classification.OTHER: "Other"}
_CLASS_RANK = {c: i for i, c in enumerate(CLASS_LABELS)}
_SEVERITY_RANK = {Severity.UNKNOWN: 0, Severity.LOW: 1, Severity.MODERATE: 2,
                  Severity.IMPORTANT: 3, Severity.CRITICAL: 4}
STAGE_LABELS = {Stage.TEST: "Test", Stage.PILOT: "Pilot", Stage.PRODUCTION: "Production"}
REBOOT_LABELS = {RebootPolicy.NEVER: "Never", RebootPolicy.IF_NEEDED: "If needed",
                 RebootPolicy.ALWAYS: "Always"}
#: Phases in which a run has work to do.
RUNNING_PHASES = frozenset({Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING, Phase.PILOT,
                            Phase.PRODUCTION, Phase.VERIFICATION})


def halted_at_preflight(dep: Deployment | None) -> bool:
    """Halted before anything was installed: overrides and a retry can go on."""
    return dep is not None and dep.phase is Phase.HALTED and dep.untouched
_WINDOW_RE = re.compile(r"^starts (\S+)")
_PREFLIGHT_DONE_RE = re.compile(r"^pre-flight done: (\d+) host")
_RED_STYLE = "color: #b3261e; font-weight: bold;"
_DEFAULT_GATES = Gates()


# -- pure helpers ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatchGroup:
    """One package at one candidate version, with the hosts missing it."""

    package: str
    version: str
    classification: Classification
    severity: Severity
    asset_ids: tuple[int, ...]
    cves: tuple[str, ...] = ()
    reboot: bool = False

    @property
    def spec(self) -> str:
        """``name=version`` as the planner takes it."""
        return f"{self.package}={self.version}"


def group_patches(patches: Iterable[AssetPatch]) -> list[PatchGroup]:
    """Missing patches grouped by (package, candidate version), most urgent first."""
    groups: dict[tuple[str, str], list[AssetPatch]] = {}
    for patch in patches:
        groups.setdefault((patch.package, patch.candidate_version), []).append(patch)
    out = []
    for (package, version), items in groups.items():
        out.append(PatchGroup(
            package=package, version=version,
            classification=min((p.classification for p in items),
                               key=lambda c: _CLASS_RANK.get(c, 9)),
            severity=max((p.severity for p in items), key=lambda s: _SEVERITY_RANK.get(s, 0)),
            asset_ids=tuple(sorted({p.asset_id for p in items})),
            cves=tuple(sorted({c for p in items for c in p.cves})),
            reboot=any(p.reboot_required for p in items)))
    out.sort(key=lambda g: (_CLASS_RANK.get(g.classification, 9),
                            -_SEVERITY_RANK.get(g.severity, 0), g.package, g.version))
    return out


def default_stage(asset: Asset) -> Stage:
    """The ring an asset is deployed in by default: its own ring, else production."""
    return {Ring.TEST: Stage.TEST, Ring.PILOT: Stage.PILOT}.get(asset.ring, Stage.PRODUCTION)


def window_text(start: datetime) -> str:
    """The stored form of a maintenance-window start (``Deployment.window``)."""
    return f"starts {start.astimezone(UTC).isoformat(timespec='seconds')}"


def window_start(window: str) -> datetime | None:
    """The start time of a stored maintenance window, or None ("now")."""
    match = _WINDOW_RE.match(window or "")
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        return None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell that a spreadsheet would run as a formula is exported as text.
    return "'" + text if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = ("deployment", "host", "address", "ring", "wave", "state", "verified",
               "before", "after", "reboot", "detail", "preflight", "override", "started_at",
               "finished_at")


def targets_csv(dep: Deployment) -> str:
    """The deployment's hosts as CSV text (one row per target)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in dep.targets:
        writer.writerow([_cell(v) for v in (
            dep.id, t.label, t.address, t.stage, t.wave + 1, t.state, t.verified,
            versions_text(t.before), versions_text(t.after), t.reboot, t.detail,
            "; ".join(t.preflight), t.override,
            t.started_at.isoformat() if t.started_at else "",
            t.finished_at.isoformat() if t.finished_at else "")])
    return out.getvalue()


def export_deployment(service: SiteService, dep_id: int, path: str, kind: str) -> str:
    """Write a deployment as CSV (its hosts) or JSON (all of it, with its log); returns path.

    Runs on a worker thread.
    """
    if kind == "json":
        text = json.dumps(service.deployment_json(dep_id), indent=2, sort_keys=True) + "\n"
    else:
        text = targets_csv(service.deployment(dep_id))
    Path(path).write_text(text, encoding="utf-8")
    return path


class _EventFanout:
    """Installed as ``DeployEngine.on_event``: passes each event to every listener."""

    def __init__(self, first: Callable[[int, int | None, str], None] | None) -> None:
        self.listeners: list[Callable[[int, int | None, str], None]] = \
            [first] if first is not None else []
        self.lock = threading.Lock()

    def __call__(self, dep_id: int, asset_id: int | None, message: str) -> None:
        with self.lock:
            listeners = list(self.listeners)
        for listener in listeners:
            listener(dep_id, asset_id, message)


def add_event_listener(engine: Any, listener: Callable[[int, int | None, str], None]) -> None:
    """Also call ``listener`` on every engine event (keeps the engine's existing callback)."""
    fanout = engine.on_event
    if not isinstance(fanout, _EventFanout):
        fanout = _EventFanout(fanout)
        engine.on_event = fanout
    with fanout.lock:
        fanout.listeners.append(listener)


def remove_event_listener(engine: Any, listener: Callable[[int, int | None, str], None]) -> None:
    """Undo :func:`add_event_listener`."""
    fanout = engine.on_event
    if isinstance(fanout, _EventFanout):
        with fanout.lock:
            if listener in fanout.listeners:
                fanout.listeners.remove(listener)


# -- questions the tests replace ------------------------------------------------------------
def ask_override_reason(parent: QWidget | None, target: Target) -> str | None:
    """Ask why a host that failed pre-flight should take part anyway; None if cancelled."""
    text, ok = QInputDialog.getText(
        parent, "Override pre-flight",
        f"{target.label} failed pre-flight:\n" + "\n".join(f"• {p}" for p in target.preflight)
        + "\n\nWhy should it take part anyway? (recorded in the audit log)")
    return text.strip() if ok and text.strip() else None


def confirm_rollback(parent: QWidget | None, dep: Deployment) -> bool:
    """Ask before rolling back a whole deployment from the wizard."""
    return dialogs.confirm(parent, "Roll back deployment",
                           f"Roll back deployment {dep.id}? The versions recorded before "
                           "installing are restored on every host that was changed.")


def ask_export_path(parent: QWidget | None, kind: str, suggested: str) -> str | None:
    """Ask where to export (``kind`` is ``csv`` or ``json``); None if cancelled."""
    filters = "CSV files (*.csv)" if kind == "csv" else "JSON files (*.json)"
    return dialogs.ask_save_file(parent, f"Export deployment ({kind.upper()})",
                                 filters + ";;All files (*)", suggested)


def _plain_label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def _item(text: str, data: Any = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


def _at(table: QTableWidget, row: int, column: int = 0) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None
    return item


def _table_widget(name: str, accessible: str, headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setAccessibleName(accessible)
    table.setHorizontalHeaderLabels(list(headers))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return table


# -- pages ----------------------------------------------------------------------------------
class _Page(QWizardPage):
    def __init__(self, wizard: DeployWizard, title: str, subtitle: str) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)


class PatchesPage(_Page):
    """Step 1: choose the patches (missing updates across the site, by package)."""

    HEADERS = ("Package", "Version", "Classification", "Severity", "Hosts", "CVEs")

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Patches", "Choose the updates to deploy. Each row is one "
                         "package at the version the last assessment found missing.")
        self.groups: list[PatchGroup] = []
        self.loaded = False
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("classificationFilter")
        self.class_combo.setAccessibleName("Classification filter")
        self.class_combo.addItem("All classifications", "")
        for cls, label in CLASS_LABELS.items():
            self.class_combo.addItem(label, str(cls))
        self.class_combo.currentIndexChanged.connect(self._apply_filter)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("patchFilter")
        self.filter_edit.setAccessibleName("Filter patches")
        self.filter_edit.setPlaceholderText("Filter by package or CVE")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.table = _table_widget("patchTable", "Missing patches", self.HEADERS)
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.table.setColumnWidth(0, 180)
        self.status = _plain_label("Loading missing patches…", "patchStatus")
        row = QHBoxLayout()
        row.addWidget(self.class_combo)
        row.addWidget(self.filter_edit, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def initializePage(self) -> None:
        if not self.loaded:
            self.w.load_patches()

    def set_groups(self, groups: list[PatchGroup]) -> None:
        """Fill the table (GUI thread)."""
        self.groups = groups
        self.loaded = True
        self.table.blockSignals(True)
        self.table.setRowCount(len(groups))
        for row, g in enumerate(groups):
            first = _item(g.package, row)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Unchecked)
            cells = (first, _item(g.version), _item(CLASS_LABELS.get(g.classification, "")),
                     _item(str(g.severity) if g.severity is not Severity.UNKNOWN else ""),
                     _item(str(len(g.asset_ids))), _item(", ".join(g.cves[:3])
                                                         + (" …" if len(g.cves) > 3 else "")))
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.blockSignals(False)
        self.status.setText(f"{len(groups)} missing update(s) across the site." if groups else
                            "No assessed host is missing an update. Assess hosts first.")
        self._apply_filter()
        self.completeChanged.emit()

    def _apply_filter(self, *_args: object) -> None:
        wanted = str(self.class_combo.currentData() or "")
        words = self.filter_edit.text().lower().split()
        for row, g in enumerate(self.groups):
            text = " ".join((g.package, g.version, *g.cves)).lower()
            hide = (bool(wanted) and str(g.classification) != wanted) or \
                any(w not in text for w in words)
            self.table.setRowHidden(row, hide)

    def _on_table_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0:
            self.completeChanged.emit()

    def check_package(self, package: str, checked: bool = True) -> None:
        """Tick (or untick) every row of a package."""
        for row, g in enumerate(self.groups):
            if g.package == package:
                cell = _at(self.table, row)
                cell.setCheckState(Qt.CheckState.Checked if checked else
                                   Qt.CheckState.Unchecked)

    def chosen(self) -> list[PatchGroup]:
        """Ticked rows (hidden ones too)."""
        return [g for row, g in enumerate(self.groups)
                if _at(self.table, row).checkState() == Qt.CheckState.Checked]

    def isComplete(self) -> bool:
        return bool(self.chosen())

    def validatePage(self) -> bool:
        chosen = self.chosen()
        names = [g.package for g in chosen]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            dialogs.show_error(self, "One version per package",
                               "Choose one version of " + ", ".join(twice) + ".")
            return False
        return True


class TargetsPage(_Page):
    """Step 2: the hosts missing the chosen patches, their rings, and the policy numbers."""

    HEADERS = ("Host", "Address", "OS", "Missing", "Ring")

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Targets and rings", "Choose the hosts and the ring each "
                         "one is deployed in. The test ring goes first and needs a named "
                         "approval before the pilot and production.")
        self.host_ids: list[int] = []
        self.table = _table_widget("targetTable", "Target hosts", self.HEADERS)
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.table.setColumnWidth(0, 160)
        self.table.setColumnWidth(1, 120)
        self.table.setColumnWidth(2, 160)
        self.warning = _plain_label("", "ringWarning")
        self.warning.setStyleSheet("color: #9a6700;")

        self.wave_spin = self._spin("waveSize", 1, 1000, _DEFAULT_GATES.wave_size)
        self.concurrency_spin = self._spin("concurrency", 1, 64, _DEFAULT_GATES.concurrency)
        self.failure_spin = self._spin("failureThreshold", 0, 10_000,
                                       round(_DEFAULT_GATES.max_failure_rate * 100))
        self.failure_mode = QComboBox()
        self.failure_mode.setObjectName("failureMode")
        self.failure_mode.setAccessibleName("Failure threshold unit")
        self.failure_mode.addItem("% of production hosts", "rate")
        self.failure_mode.addItem("failed hosts", "count")
        self.pilot_spin = self._spin("pilotSuccess", 0, 100,
                                     round(_DEFAULT_GATES.pilot_success * 100))
        self.pilot_spin.setSuffix(" %")
        self.reboot_combo = QComboBox()
        self.reboot_combo.setObjectName("rebootPolicy")
        self.reboot_combo.setAccessibleName("Reboot policy")
        for policy, label in REBOOT_LABELS.items():
            self.reboot_combo.addItem(label, str(policy))
        self.reboot_combo.setCurrentIndex(list(REBOOT_LABELS).index(_DEFAULT_GATES.reboot))
        self.lead_spin = self._spin("rebootLead", 0, 1440, _DEFAULT_GATES.reboot_lead_minutes)
        self.lead_spin.setSuffix(" min")

        failure = QHBoxLayout()
        failure.addWidget(self.failure_spin)
        failure.addWidget(self.failure_mode, 1)
        policy_box = QGroupBox("Policy")
        form = QFormLayout(policy_box)
        form.addRow("&Wave size", self.wave_spin)
        form.addRow("&Concurrency", self.concurrency_spin)
        form.addRow("&Halt production at", failure)
        form.addRow("&Pilot must succeed on", self.pilot_spin)
        form.addRow("&Reboot", self.reboot_combo)
        form.addRow("Reboot &notice lead", self.lead_spin)
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addWidget(self.table, 1)
        left.addWidget(self.warning)
        layout.addLayout(left, 3)
        layout.addWidget(policy_box, 2)

    def _spin(self, name: str, low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def initializePage(self) -> None:
        groups = self.w.patches_page.chosen()
        wanted: dict[int, list[str]] = {}
        for g in groups:
            for asset_id in g.asset_ids:
                wanted.setdefault(asset_id, []).append(g.package)
        assets = [a for a in self.w.assets.values() if int(a.id or 0) in wanted]
        assets.sort(key=lambda a: (list(Stage).index(default_stage(a)), a.label.lower()))
        self.table.blockSignals(True)
        self.table.setRowCount(len(assets))
        self.host_ids = []
        for row, asset in enumerate(assets):
            asset_id = int(asset.id or 0)
            self.host_ids.append(asset_id)
            first = _item(asset.label, asset_id)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Checked)
            self.table.setItem(row, 0, first)
            self.table.setItem(row, 1, _item(asset.primary_ip or asset.hostname))
            self.table.setItem(row, 2, _item(asset.os_display))
            self.table.setItem(row, 3, _item(", ".join(wanted[asset_id])))
            combo = QComboBox()
            combo.setAccessibleName(f"Ring of {asset.label}")
            for stage, label in STAGE_LABELS.items():
                combo.addItem(label, str(stage))
            combo.setCurrentIndex(list(STAGE_LABELS).index(default_stage(asset)))
            combo.currentIndexChanged.connect(self._update_warning)
            self.table.setCellWidget(row, 4, combo)
        self.table.blockSignals(False)
        self._update_warning()
        self.completeChanged.emit()

    def _combo(self, row: int) -> QComboBox:
        widget = self.table.cellWidget(row, 4)
        assert isinstance(widget, QComboBox)
        return widget

    def set_stage(self, label: str, stage: Stage) -> None:
        """Set a host's ring by its label (the ring combo of its row)."""
        for row in range(self.table.rowCount()):
            if _at(self.table, row).text() == label:
                self._combo(row).setCurrentIndex(list(STAGE_LABELS).index(stage))

    def set_checked(self, label: str, checked: bool) -> None:
        """Tick or untick a host by its label."""
        for row in range(self.table.rowCount()):
            if _at(self.table, row).text() == label:
                _at(self.table, row).setCheckState(
                    Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def chosen(self) -> list[tuple[int, Stage]]:
        """Ticked hosts with their rings."""
        out = []
        for row, asset_id in enumerate(self.host_ids):
            if _at(self.table, row).checkState() == Qt.CheckState.Checked:
                out.append((asset_id, Stage(str(self._combo(row).currentData()))))
        return out

    def gates(self) -> Gates:
        """The policy numbers as chosen."""
        count = self.failure_mode.currentData() == "count"
        return Gates(
            wave_size=self.wave_spin.value(),
            concurrency=self.concurrency_spin.value(),
            max_failures=self.failure_spin.value() if count else None,
            max_failure_rate=(_DEFAULT_GATES.max_failure_rate if count
                              else self.failure_spin.value() / 100),
            pilot_success=self.pilot_spin.value() / 100,
            reboot=RebootPolicy(str(self.reboot_combo.currentData())),
            reboot_lead_minutes=self.lead_spin.value())

    def _on_table_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0:
            self._update_warning()
            self.completeChanged.emit()

    def _update_warning(self, *_args: object) -> None:
        chosen = self.chosen()
        if not chosen:
            self.warning.setText("Choose at least one host.")
        elif not any(stage is Stage.TEST for _, stage in chosen):
            self.warning.setText("No host is in the test ring: the updates go to the pilot "
                                 "or production without a test and without an approval.")
        else:
            counts = {s: sum(1 for _, x in chosen if x is s) for s in Stage}
            self.warning.setText(", ".join(f"{n} {STAGE_LABELS[s].lower()}"
                                           for s, n in counts.items()) + " host(s).")

    def isComplete(self) -> bool:
        return bool(self.chosen())


class SchedulePage(_Page):
    """Step 3: start now, or at the start of a maintenance window. Plans the deployment."""

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Schedule", "Start now, or at the start of a maintenance "
                         "window. The plan is stored when you go on; keep the wizard open "
                         "(or resume it from Deployments) to start it.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Plan and start")
        self.now_radio = QRadioButton("Start &now")
        self.now_radio.setObjectName("startNow")
        self.now_radio.setChecked(True)
        self.window_radio = QRadioButton("Start in a &maintenance window at")
        self.window_radio.setObjectName("startInWindow")
        self.group = QButtonGroup(self)
        self.group.addButton(self.now_radio)
        self.group.addButton(self.window_radio)
        self.start_edit = QDateTimeEdit()
        self.start_edit.setObjectName("windowStart")
        self.start_edit.setAccessibleName("Maintenance window start")
        self.start_edit.setCalendarPopup(True)
        self.start_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.start_edit.setDateTime(QDateTime.currentDateTime().addSecs(3600))
        self.start_edit.setEnabled(False)
        self.window_radio.toggled.connect(self.start_edit.setEnabled)
        self.summary = _plain_label("", "planSummary")
        self.status = _plain_label("", "planStatus")
        self.planning = False
        row = QHBoxLayout()
        row.addWidget(self.window_radio)
        row.addWidget(self.start_edit)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.now_radio)
        layout.addLayout(row)
        layout.addSpacing(12)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        layout.addWidget(self.status)

    def initializePage(self) -> None:
        patches = self.w.patches_page.chosen()
        hosts = self.w.targets_page.chosen()
        counts = {s: sum(1 for _, x in hosts if x is s) for s in Stage}
        self.summary.setText(
            "Deploy " + ", ".join(g.spec for g in patches) + f" to {len(hosts)} host(s): "
            + ", ".join(f"{n} {STAGE_LABELS[s].lower()}" for s, n in counts.items()) + ".")

    def start_at(self) -> datetime | None:
        """The chosen window start (aware, local), or None for now."""
        if not self.window_radio.isChecked():
            return None
        return datetime.fromtimestamp(self.start_edit.dateTime().toSecsSinceEpoch()).astimezone()

    def validatePage(self) -> bool:
        if self.w.dep is not None:
            return True
        if not self.planning:
            self.planning = True
            self.status.setText("Planning…")
            self.w.plan(self.start_at())
        return False

    def plan_failed(self, message: str) -> None:
        """Planning failed: say why and stay here."""
        self.planning = False
        self.status.setText(message)


class RunPage(_Page):
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
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.phase_label = _plain_label("", f"{stage}Phase")
        font = self.phase_label.font()
        font.setBold(True)
        self.phase_label.setFont(font)
        self.halt_label = _plain_label("", f"{stage}Halt")
        self.halt_label.setStyleSheet(_RED_STYLE)
        self.halt_label.hide()
        self.wait_label = _plain_label("", f"{stage}Countdown")
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
        self.table = make_table(f"{stage}Hosts", "Hosts", self.model)
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
        self.w.start_run()

    def show_deployment(self) -> None:
        """Render the wizard's current snapshot of the deployment."""
        dep = self.w.dep
        if dep is None:
            return
        self.model.update_targets(dep.targets)
        finished = sum(1 for t in dep.targets if t.excluded or t.state in (
            HostState.SUCCEEDED, HostState.FAILED, HostState.SKIPPED, HostState.ROLLED_BACK))
        self.progress.setRange(0, max(1, len(dep.targets)))
        self.progress.setValue(finished)
        text = f"Deployment {dep.id}: {phase_label(dep.phase)}"
        if self.w.running:
            text += " — running…"
        elif self.w.busy:
            text += " — working…"
        self.phase_label.setText(text)
        halted = dep.phase in (Phase.HALTED, Phase.ROLLING_BACK, Phase.ROLLED_BACK)
        if halted_at_preflight(dep):
            self.halt_label.setText(f"Halted: {dep.halt_reason}.")
        elif dep.phase is Phase.HALTED:
            self.halt_label.setText(f"Halted: {dep.halt_reason}\nRoll the deployment back, "
                                    "or close the wizard and plan a new one.")
        elif dep.phase is Phase.ROLLING_BACK:
            self.halt_label.setText("Rollback was interrupted. Roll back again to finish it.")
        elif dep.phase is Phase.ROLLED_BACK:
            self.halt_label.setText("Rolled back: the previous versions were restored.")
        self.halt_label.setVisible(halted)
        self.update_buttons()
        self.completeChanged.emit()

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
        can_roll = (dep is not None and dep.phase in (Phase.HALTED, Phase.ROLLING_BACK)
                    and not halted_at_preflight(dep))
        self.rollback_button.setVisible(can_roll)
        self.rollback_button.setEnabled(can_roll and not self.w.busy)

    def _on_override_clicked(self) -> None:
        target = self.selected_target()
        if target is None or not target.excluded:
            return
        reason = ask_override_reason(self, target)
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


class ReviewPage(_Page):
    """Step 5: the test ring's results and the named approval."""

    HEADERS = ("Host", "Result", "Before", "After", "Reboot", "Health")

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Review and approve", "Check the test ring's results. "
                         "Approving records your name and lets the pilot and production "
                         "go ahead.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.gate_label = _plain_label("", "gateSummary")
        font = self.gate_label.font()
        font.setBold(True)
        self.gate_label.setFont(font)
        self.table = _table_widget("testResults", "Test ring results", self.HEADERS)
        # The whole change set (apt's simulation on every host at pre-flight): what the
        # approval lets through, dependencies pulled along included.
        self.changes_label = _plain_label("", "changeSet")
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
        self.status = _plain_label("", "approvalStatus")
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
                self.table.setItem(row, column, _item(text))
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
        self.changes_label.setText(f"Changes: {dep.change_summary()}")
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


class SummaryPage(_Page):
    """Step 7: the final state of every host, counts, and export."""

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Summary", "Where every host ended up, verified by a new "
                         "assessment.")
        self.headline = _plain_label("", "summaryHeadline")
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        self.details = _plain_label("", "summaryDetails")
        self.model = TargetTableModel(self)
        self.table = make_table("summaryHosts", "Final state of the hosts", self.model)
        for column, width in enumerate((120, 110, 80, 50, 100, 80, 150, 150, 100)):
            self.table.setColumnWidth(column, width)
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.setObjectName("exportCsv")
        self.csv_button.clicked.connect(lambda: self.w.export("csv"))
        self.json_button = QPushButton("Export &JSON…")
        self.json_button.setObjectName("exportJson")
        self.json_button.clicked.connect(lambda: self.w.export("json"))
        self.status = _plain_label("", "exportStatus")
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


# -- the wizard -----------------------------------------------------------------------------
class _RunShared:
    """What the engine's event callback (on worker threads) reads and sets: plain Python,
    no Qt object, so nothing of the wizard is touched — or kept alive — off the GUI thread."""

    def __init__(self) -> None:
        self.dep_id: int | None = None
        self.token: CancelToken | None = None  # of the run in flight
        self.preflight_reviewed = False
        self.paused = False

    def listener(self, events: queue.SimpleQueue[tuple[int, int | None, str]]
                 ) -> Callable[[int, int | None, str], None]:
        """The engine callback: queue each event; after a pre-flight that left hosts out,
        stop the run so the user can override them before anything is installed."""

        def on_event(dep_id: int, asset_id: int | None, message: str) -> None:
            events.put((dep_id, asset_id, message))
            match = _PREFLIGHT_DONE_RE.match(message)
            token = self.token
            if (match and int(match.group(1)) > 0 and token is not None
                    and not self.preflight_reviewed and dep_id == self.dep_id):
                self.paused = True
                token.cancel()

        return on_event


class DeployWizard(QWizard):
    """The test-then-deploy wizard on one site.

    Args:
        service: the open :class:`~app.services.SiteService`.
        runner: the window's :class:`TaskRunner` (background work goes through it).
        deployment: reopen this existing deployment where it stands (see :meth:`resume`).
    """

    #: A deployment was planned, changed state, or the wizard closed (deployment id).
    deployment_changed = Signal(int)

    #: Open wizards by (site path, deployment id): resuming one that is open raises it.
    _open: ClassVar[dict[tuple[str, int], DeployWizard]] = {}

    def __init__(self, service: SiteService, runner: TaskRunner,
                 parent: QWidget | None = None, *,
                 deployment: Deployment | None = None) -> None:
        super().__init__(parent)
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
        self.engine = service.deployer
        self.dep: Deployment | None = None
        self.assets: dict[int, Asset] = {}
        self.log_lines: list[str] = []
        self._shared = _RunShared()
        self.run_error = ""  # why the last run failed ("" when it did not)
        self.closed = False
        self._run_task: Task | None = None
        self._writes = 0  # approve / override / rollback tasks in flight
        self._start_now = False
        self._refreshing = False
        self._refresh_again = False
        self._generation = 0
        self._events: queue.SimpleQueue[tuple[int, int | None, str]] = queue.SimpleQueue()
        self._listener = self._shared.listener(self._events)
        add_event_listener(self.engine, self._listener)
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
        if deployment is not None:
            self._set_deployment(deployment)
            self.setStartId(self.page_for(deployment))
            self._load_log()

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
        return self._shared.paused

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
        self._shared.dep_id = dep.id
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

        def load() -> tuple[list[PatchGroup], dict[int, Asset]]:
            assets = {int(a.id or 0): a for a in service.assets()}
            return group_patches(service.patches()), assets

        def done(result: tuple[list[PatchGroup], dict[int, Asset]]) -> None:
            if self.closed:
                return
            groups, self.assets = result
            self.patches_page.set_groups(groups)

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
            from app.ui.deployments_page import log_text

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
        lines: list[str] = []
        mine = False
        dep_id = self.dep.id if self.dep is not None else None
        while True:
            try:
                event_dep, _asset, message = self._events.get_nowait()
            except queue.Empty:
                break
            if event_dep == dep_id:
                mine = True
                lines.append(f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}  {message}")
        if lines:
            self.log_lines.extend(lines)
            page = self.currentPage()
            if isinstance(page, RunPage):
                page.show_log(lines)
        if mine:
            self.refresh()

    # -- planning ------------------------------------------------------------------------
    def plan(self, start: datetime | None) -> None:
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
        other = active_run(self.site, dep.id)
        if other is not None:
            # A closed wizard's run is still stopping: start when it has.
            if isinstance(page, RunPage):
                page.phase_label.setText("Waiting for the previous run of this deployment "
                                         "to stop…")
            other.finished.connect(self.start_run)
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

        def work(progress: Any, cancel: Any) -> Deployment:
            return engine.run(dep_id, progress=progress, cancel=cancel)

        task = self.runner.submit(work, name=f"deploy-run-{dep_id}", with_progress=True,
                                  on_result=self._on_run_result, on_error=self._on_run_error)
        self._run_task = task
        self._shared.token = task.token
        track_run(self.site, dep_id, task)
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
        self._shared.token = None
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
        self._shared.preflight_reviewed = True
        self._shared.paused = False
        self.start_run()

    # -- writes --------------------------------------------------------------------------
    def _write(self, name: str, work: Callable[[], Deployment],
               done: Callable[[Deployment], None] | None = None,
               with_progress: bool = False) -> Task:
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
        task = self.runner.submit(call, name=name, write=True, with_progress=with_progress,
                                  on_result=ok, on_error=self._on_error)
        task.finished.connect(finished)
        return task

    def approve(self, approver: str, note: str) -> None:
        """Record the named approval (write pool), then go on to the pilot and production."""
        assert self.dep is not None
        engine, dep_id = self.engine, self.dep.id

        def approved(dep: Deployment) -> None:
            self.review_page.status.setText(f"Approved by {approver}.")
            if self.currentId() == P_REVIEW:
                self.next()

        self._write("deploy-approve", lambda: engine.approve(dep_id, approver, note), approved)

    def override(self, asset_id: int, reason: str) -> None:
        """Let a host that failed pre-flight take part (write pool)."""
        assert self.dep is not None
        engine, dep_id = self.engine, self.dep.id
        self._write("deploy-override", lambda: engine.override(dep_id, asset_id, reason))

    def rollback(self) -> None:
        """Roll the whole deployment back (asks first; write pool)."""
        dep = self.dep
        if dep is None or self.busy or not confirm_rollback(self, dep):
            return
        engine, dep_id = self.engine, dep.id
        task = self._write("deploy-rollback", lambda: engine.rollback(dep_id))
        track_run(self.site, dep_id, task)

    def export(self, kind: str) -> None:
        """Export the deployment as CSV or JSON to a file the user chooses."""
        dep = self.dep
        if dep is None:
            return
        path = ask_export_path(self, kind, f"deployment-{dep.id}.{kind}")
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
        remove_event_listener(self.engine, self._listener)
        if self.dep is not None:
            if DeployWizard._open.get((self.site, self.dep.id)) is self:
                del DeployWizard._open[(self.site, self.dep.id)]
            self.deployment_changed.emit(self.dep.id)
