"""The deep-scan (assess) window: progress, per-host results as they arrive, cancel.

``SiteService.assess_assets`` runs on a worker thread; each host's outcome is queued from
that thread and moved into the results table by a 100 ms timer on the GUI thread, the way
the Discover page streams hosts. The window is not modal: the inventory stays usable.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.models import Asset
from app.core.progress import CancelToken, Progress
from app.ui import dialogs
from app.ui.inventory import error_kind_label
from app.ui.qt import (
    QAbstractTableModel,
    QCloseEvent,
    QColor,
    QDialog,
    QHBoxLayout,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QProgressBar,
    QPushButton,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner
from app.ui.widgets import make_table_view, plain_label

if TYPE_CHECKING:
    from app.services import SiteService
    from app.ui.credentials import VaultGate

AnyIndex = QModelIndex | QPersistentModelIndex
_ERROR = QColor("#b3261e")
_MUTED = QColor("#6b7785")
_WARN = QColor("#9a6700")

class AssessResultsModel(QAbstractTableModel):
    """One row per host being assessed; a row fills in when its outcome arrives."""

    COLUMNS = ("Host", "IP", "Result", "Missing", "Security", "Reboot", "Time")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._row_of: dict[int, int] = {}

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self.COLUMNS)):
            return self.COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row["cells"][column]
        if role == Qt.ItemDataRole.ForegroundRole:
            outcome = row["outcome"]
            if outcome is None:
                return _MUTED
            if not outcome.ok and column == 2:
                return _MUTED if outcome.kind == "cancelled" else _ERROR
            if outcome.ok and column == 4 and outcome.security_updates:
                return _ERROR
            if outcome.ok and column == 5 and outcome.reboot_required:
                return _WARN
            return None
        if role == Qt.ItemDataRole.ToolTipRole and row["outcome"] is not None:
            return row["outcome"].message or None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (3, 4, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def set_targets(self, assets: Sequence[Asset]) -> None:
        """Start over with these hosts, all waiting."""
        self.beginResetModel()
        self.rows = [{"asset_id": a.id, "label": a.label, "ip": a.primary_ip or a.hostname,
                      "outcome": None,
                      "cells": (a.label, a.primary_ip or a.hostname, "waiting…", "", "", "",
                                "")}
                     for a in assets]
        self._row_of = {r["asset_id"]: i for i, r in enumerate(self.rows)}
        self.endResetModel()

    def add_outcomes(self, outcomes: Sequence[Any]) -> None:
        """Fill in the rows of finished hosts (``HostOutcome`` objects)."""
        for outcome in outcomes:
            cells = outcome_cells(outcome)
            at = self._row_of.get(outcome.asset_id)
            if at is None:
                at = len(self.rows)
                self.beginInsertRows(QModelIndex(), at, at)
                self.rows.append({"asset_id": outcome.asset_id, "label": outcome.label,
                                  "ip": outcome.ip, "outcome": outcome, "cells": cells})
                self._row_of[outcome.asset_id] = at
                self.endInsertRows()
            else:
                self.rows[at].update(outcome=outcome, cells=cells)
                self.dataChanged.emit(self.index(at, 0), self.index(at, len(self.COLUMNS) - 1))

    def outcomes(self) -> list[Any]:
        """Outcomes received so far, in row order."""
        return [r["outcome"] for r in self.rows if r["outcome"] is not None]


def outcome_cells(outcome: Any) -> tuple[str, ...]:
    """The results-table cells of a ``HostOutcome``."""
    if outcome.ok:
        result = "\u2714 assessed"
        missing, security = str(outcome.updates), str(outcome.security_updates)
        reboot = {True: "required", False: "no", None: "unknown"}[outcome.reboot_required]
    else:
        result = f"\u2716 {error_kind_label(outcome.kind)}"
        missing = security = reboot = ""
    return (outcome.label, outcome.ip, result, missing, security, reboot,
            f"{outcome.duration:.1f} s")


class AssessDialog(QDialog):
    """Progress and streamed per-host results of one deep-scan run."""

    cancel_requested = Signal()
    #: The user wants the Patches page.
    show_patches_requested = Signal()
    #: Review the changed host key of these assets (ids).
    review_keys_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assessDialog")
        self.setWindowTitle("Assess hosts")
        self.setModal(False)
        self.running = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._started = 0.0
        self._last = ""
        self._drain = QTimer(self)
        self._drain.setInterval(100)
        self._drain.timeout.connect(self.drain)

        self.intro = plain_label(name="assessIntro")
        self.progress = QProgressBar()
        self.progress.setObjectName("assessProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m hosts")
        self.status = plain_label(name="assessStatus")
        self.model = AssessResultsModel(self)
        self.view = make_table_view("assessResults", "Assessment results")
        self.view.setModel(self.model)
        for col, width in enumerate((150, 110, 170, 70, 70, 80, 60)):
            self.view.horizontalHeader().resizeSection(col, width)
        self.error_note = plain_label(name="assessErrors", role="field-error", selectable=True)
        self.error_note.hide()

        self.keys_button = QPushButton("Review host &keys…")
        self.keys_button.setObjectName("reviewKeysButton")
        self.keys_button.hide()
        self.keys_button.clicked.connect(self._on_keys_clicked)
        self.patches_button = QPushButton("Show &patches")
        self.patches_button.setObjectName("showPatchesButton")
        self.patches_button.setEnabled(False)
        self.patches_button.clicked.connect(self._on_patches_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("assessCancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("assessClose")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keys_button)
        buttons.addStretch(1)
        buttons.addWidget(self.patches_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.error_note)
        layout.addLayout(buttons)
        self.resize(760, 420)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, assets: Sequence[Asset]) -> None:
        """A run over these assets started."""
        self.running = True
        self._queue = queue.SimpleQueue()
        self._started = time.monotonic()
        self._last = ""
        count = len(assets)
        self.intro.setText(
            f"Deep scan of {count} host{'s' if count != 1 else ''} over SSH or WinRM: facts, "
            "installed software, missing updates and reboot state. You can keep working "
            "meanwhile.")
        self.model.set_targets(assets)
        self.progress.setRange(0, max(1, count))
        self.progress.setValue(0)
        self.status.setText("Connecting…")
        self.error_note.hide()
        self.keys_button.hide()
        self.patches_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.close_button.setEnabled(False)
        self._drain.start()

    def outcome_ready(self, outcome: Any) -> None:
        """Called on a worker thread for each finished host: only queues it."""
        self._queue.put(outcome)

    def drain(self) -> None:
        """Move queued outcomes into the table (GUI thread, every 100 ms)."""
        batch: list[Any] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.model.add_outcomes(batch)
            last = batch[-1]
            self._last = f"{last.label} \u2014 {last.summary}"
            self._show_status(len(self.model.outcomes()), self.progress.maximum())

    def show_progress(self, progress: Progress) -> None:
        """Hosts done of total (coalesced to ~10 per second)."""
        self.progress.setMaximum(max(1, progress.total))
        self.progress.setValue(min(progress.done, progress.total))
        self._show_status(progress.done, progress.total)

    def _show_status(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        waiting = [r["label"] for r in self.model.rows if r["outcome"] is None]
        parts = [f"{done} of {total} hosts done", f"{elapsed:.0f} s"]
        if waiting and self.running:
            shown = ", ".join(waiting[:4]) + (f" +{len(waiting) - 4}" if len(waiting) > 4
                                              else "")
            parts.append(f"working on {shown}")
        text = " \u00b7 ".join(parts)
        if self._last:
            text += f"\nLast: {self._last}"
        self.status.setText(text)

    def finish(self, outcomes: Sequence[Any], *, cancelled: bool = False) -> None:
        """The run ended; show every outcome and a summary."""
        self._drain.stop()
        self.drain()
        self.running = False
        self.model.add_outcomes(outcomes)
        done = [o for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok and o.kind != "cancelled"]
        skipped = [o for o in outcomes if o.kind == "cancelled"]
        self.progress.setValue(self.progress.maximum())
        missing = sum(o.updates for o in done)
        security = sum(o.security_updates for o in done)
        reboot = sum(1 for o in done if o.reboot_required)
        elapsed = time.monotonic() - self._started
        text = (f"{'Cancelled' if cancelled or skipped else 'Done'} in {elapsed:.1f} s: "
                f"{len(done)} assessed, {len(failed)} failed"
                + (f", {len(skipped)} cancelled" if skipped else "")
                + f". {missing} missing updates ({security} security)"
                + (f"; {reboot} host{' needs' if reboot == 1 else 's need'} a reboot"
                   if reboot else "") + ".")
        self.status.setText(text)
        if failed:
            self.error_note.setText("\n".join(
                f"{o.label}: {o.message}" for o in failed[:6])
                + (f"\n… and {len(failed) - 6} more" if len(failed) > 6 else ""))
            self.error_note.show()
        keys = [o.asset_id for o in failed
                if o.kind in ("host_key_changed", "host_key_unconfirmed")]
        self.keys_button.setVisible(bool(keys))
        self.keys_button.setProperty("asset_ids", keys)
        self.patches_button.setEnabled(bool(done))
        self.cancel_button.hide()
        self.close_button.setEnabled(True)
        self.close_button.setDefault(True)
        self.close_button.setFocus()

    def fail(self, message: str, *, cancelled: bool = False) -> None:
        """The run could not start, broke off, or was cancelled before it started."""
        self._drain.stop()
        self.drain()
        self.running = False
        self.status.setText("Cancelled before any host was contacted." if cancelled
                            else "The assessment did not run.")
        self.error_note.setText(message)
        self.error_note.setVisible(bool(message))
        self.cancel_button.hide()
        self.close_button.setEnabled(True)

    # -- slots ------------------------------------------------------------------------------
    def _on_cancel_clicked(self) -> None:
        if self.running:
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling: hosts in progress are being stopped…")
            self.cancel_requested.emit()

    def _on_patches_clicked(self) -> None:
        self.show_patches_requested.emit()
        self.close()

    def _on_keys_clicked(self) -> None:
        self.review_keys_requested.emit(list(self.keys_button.property("asset_ids") or []))

    def reject(self) -> None:
        """Escape: close when finished; while running, offer to stop."""
        if self.running:
            if dialogs.confirm(self, "Stop the assessment?",
                               "Hosts are still being assessed. Stop now? Results of hosts "
                               "that finished are kept."):
                self._on_cancel_clicked()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)


class Assessor(QObject):
    """Runs the deep scans the main window starts: one run at a time, after unlocking the
    vault, its results streaming into one :class:`AssessDialog`.

    Args:
        runner: the window's task runner.
        gate: the window's vault gate (unlocks, reviews changed host keys).
        window: the dialogs' parent.
        assets: the inventory as loaded (to find the hosts whose keys to review).
    """

    #: A run ended with these outcomes ([] when it failed; not emitted when cancelled).
    finished = Signal(object)
    #: A run started or was cancelled (for enabling actions).
    busy_changed = Signal()
    #: The dialog asks to show the Patches page.
    show_patches_requested = Signal()
    #: A line for the window's status bar (text, milliseconds).
    status_message = Signal(str, int)

    def __init__(self, runner: TaskRunner, gate: VaultGate, window: QWidget,
                 assets: Callable[[], list[Asset]]) -> None:
        super().__init__(window)
        self.runner = runner
        self.gate = gate
        self.window = window
        self.assets = assets
        self.service: SiteService | None = None
        self.dialog: AssessDialog | None = None
        #: The run in flight (None when idle).
        self.task: Task | None = None

    def assess(self, assets: Sequence[Asset]) -> None:
        """Deep-scan these assets (those with an address), unlocking the vault first; while
        a run is going, show its window instead."""
        if self.service is None:
            return
        if self.task is not None and self.dialog is not None:
            self.dialog.show()
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        targets = [a for a in assets if a.id is not None and (a.primary_ip or a.hostname)]
        if not targets:
            dialogs.show_error(self.window, "Nothing to assess",
                               "None of these assets has an IP address or host name to "
                               "connect to. Add one in the asset dialog (F2).")
            return
        self.gate.ensure_unlocked(lambda: self.start(targets))

    def _dialog_for_assessment(self) -> AssessDialog:
        if self.dialog is None:
            dialog = AssessDialog(self.window)
            dialog.cancel_requested.connect(self.cancel)
            dialog.show_patches_requested.connect(self.show_patches_requested)
            dialog.review_keys_requested.connect(self._review_host_keys)
            self.dialog = dialog
        return self.dialog

    def start(self, targets: Sequence[Asset]) -> None:
        """Deep-scan assets on the worker pool; results stream into the assess window."""
        service = self.service
        if service is None or self.task is not None:
            return
        dialog = self._dialog_for_assessment()
        ids = [a.id for a in targets if a.id is not None]

        def run(progress: Callable[[Progress], None], cancel: CancelToken) -> Any:
            return service.assess_assets(ids, progress=progress, cancel=cancel,
                                         on_result=dialog.outcome_ready)

        def done(outcomes: list[Any]) -> None:
            cancelled = task.token.cancelled
            self.task = None
            dialog.finish(outcomes, cancelled=cancelled)
            self.finished.emit(outcomes)

        def failed(error: TaskError) -> None:
            self.task = None
            dialog.fail(error.message)
            self.finished.emit([])

        def cancelled() -> None:
            self.task = None
            dialog.fail("", cancelled=True)
            self.busy_changed.emit()

        dialog.start(targets)
        dialog.show()
        dialog.raise_()
        task = self.runner.submit(run, name="assess", with_progress=True, on_result=done,
                                  on_error=failed, on_progress=dialog.show_progress,
                                  on_cancelled=cancelled)
        self.task = task
        self.busy_changed.emit()

    def cancel(self) -> None:
        """Stop the running deep scan; hosts that finished are kept."""
        if self.task is not None:
            self.task.cancel()

    def _review_host_keys(self, asset_ids: object) -> None:
        ids = list(asset_ids) if isinstance(asset_ids, list) else []
        by_id = {a.id: a for a in self.assets()}
        for asset_id in ids[:1]:  # one warning at a time; the button stays for the rest
            asset = by_id.get(asset_id)
            if asset is not None:
                self.gate.probe_host_key(
                    asset, lambda text: self.status_message.emit(text, 8000))
