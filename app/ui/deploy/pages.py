"""The deploy wizard's first three pages: choose the patches, the target hosts with their
rings and the policy numbers, and the schedule (which plans the deployment)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.core.deployment import Gates, RebootPolicy, Stage
from app.core.models import Severity
from app.core.patchgroups import PatchGroup
from app.ui import dialogs
from app.ui.deploy.helpers import (
    CLASS_LABELS,
    REBOOT_LABELS,
    STAGE_LABELS,
    default_stage,
)
from app.ui.models import assets_matching
from app.ui.qt import (
    QButtonGroup,
    QComboBox,
    QDateTime,
    QDateTimeEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)
from app.ui.widgets import form_row, make_table_widget, plain_label

if TYPE_CHECKING:
    from app.ui.deploy.wizard import DeployWizard

_DEFAULT_GATES = Gates()


def table_item(text: str, data: object = None) -> QTableWidgetItem:
    """A read-only table cell (``data`` in its user role)."""
    cell = QTableWidgetItem(text)
    cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        cell.setData(Qt.ItemDataRole.UserRole, data)
    return cell


def _at(table: QTableWidget, row: int, column: int = 0) -> QTableWidgetItem:
    cell = table.item(row, column)
    assert cell is not None
    return cell


# -- pages ----------------------------------------------------------------------------------
class DeployPage(QWizardPage):
    """A page of the deploy wizard (``self.w`` is the wizard)."""

    def __init__(self, wizard: DeployWizard, title: str, subtitle: str) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)


class PatchesPage(DeployPage):
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
        self.table = make_table_widget("patchTable", "Missing patches", self.HEADERS)
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.table.setColumnWidth(0, 180)
        self.status = plain_label("Loading missing patches…", name="patchStatus")
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
            first = table_item(g.package, row)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Unchecked)
            severity = str(g.severity) if g.severity is not Severity.UNKNOWN else ""
            cves = ", ".join(g.cves[:3]) + (" …" if len(g.cves) > 3 else "")
            cells = (first, table_item(g.version),
                     table_item(CLASS_LABELS.get(g.classification, "")),
                     table_item(severity), table_item(str(len(g.asset_ids))), table_item(cves))
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


class TargetsPage(DeployPage):
    """Step 2: the hosts missing the chosen patches, their rings, and the policy numbers."""

    HEADERS = ("Host", "Address", "OS", "Missing", "Ring")

    def __init__(self, wizard: DeployWizard) -> None:
        super().__init__(wizard, "Targets and rings", "Choose the hosts and the ring each "
                         "one is deployed in. The test ring goes first and needs a named "
                         "approval before the pilot and production.")
        self.host_ids: list[int] = []
        self.table = make_table_widget("targetTable", "Target hosts", self.HEADERS)
        self.table.itemChanged.connect(self._on_table_item_changed)
        # The Ring column is sized to its combo and always in view; Missing takes the rest.
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        self.table.setColumnWidth(0, 140)
        self.table.setColumnWidth(2, 120)
        for column, mode in ((1, QHeaderView.ResizeMode.ResizeToContents),
                             (3, QHeaderView.ResizeMode.Stretch),
                             (4, QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(column, mode)
        self.warning = plain_label("", name="ringWarning")
        self.warning.setStyleSheet("color: #9a6700;")
        self.group_combo = QComboBox()
        self.group_combo.setObjectName("targetGroup")
        self.group_combo.setAccessibleName("Only the hosts of a saved group")
        self.group_combo.currentIndexChanged.connect(self._on_group_chosen)

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
        form_row(form, "&Halt production at", failure, self.failure_spin)
        form.addRow("&Pilot must succeed on", self.pilot_spin)
        form.addRow("&Reboot", self.reboot_combo)
        form.addRow("Reboot &notice lead", self.lead_spin)
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        group_row = QHBoxLayout()
        group_row.addWidget(plain_label("Hosts of", wrap=False))
        group_row.addWidget(self.group_combo, 1)
        left.addLayout(group_row)
        left.addWidget(self.table, 1)
        left.addWidget(self.warning)
        layout.addLayout(left, 2)
        layout.addWidget(policy_box, 1)

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
            first = table_item(asset.label, asset_id)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Checked)
            self.table.setItem(row, 0, first)
            self.table.setItem(row, 1, table_item(asset.primary_ip or asset.hostname))
            self.table.setItem(row, 2, table_item(asset.os_display))
            self.table.setItem(row, 3, table_item(", ".join(wanted[asset_id])))
            combo = QComboBox()
            combo.setAccessibleName(f"Ring of {asset.label}")
            for stage, label in STAGE_LABELS.items():
                combo.addItem(label, str(stage))
            combo.setCurrentIndex(list(STAGE_LABELS).index(default_stage(asset)))
            combo.currentIndexChanged.connect(self._update_warning)
            self.table.setCellWidget(row, 4, combo)
        self.table.blockSignals(False)
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem("every host missing the patches", "")
        for name in sorted(self.w.host_groups, key=str.lower):
            self.group_combo.addItem(f"the group {name}", name)
        self.group_combo.blockSignals(False)
        self._update_warning()
        self.completeChanged.emit()

    def _on_group_chosen(self, _index: int) -> None:
        """Tick only the hosts of a saved Inventory group (all of them for none)."""
        name = str(self.group_combo.currentData() or "")
        members = (assets_matching(self.w.assets.values(), self.w.host_groups[name])
                   if name in self.w.host_groups else set(self.host_ids))
        for row, asset_id in enumerate(self.host_ids):
            _at(self.table, row).setCheckState(Qt.CheckState.Checked if asset_id in members
                                               else Qt.CheckState.Unchecked)

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


class SchedulePage(DeployPage):
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
        self.summary = plain_label("", name="planSummary")
        self.status = plain_label("", name="planStatus")
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
