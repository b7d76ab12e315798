"""The Schedules window: the background runner's jobs with their last and next runs, and
editing them (when, enabled, remove). The jobs themselves run from ``patchdesk run-due``,
started by the OS's scheduler, so they run with the GUI closed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.schedule import Schedule
from app.ui import dialogs
from app.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from app.ui.tasks import TaskError, TaskRunner
from app.ui.widgets import make_table_widget, plain_label

if TYPE_CHECKING:
    from app.services import SiteService
    from app.ui.mainwindow import MainWindow

HEADERS = ("ID", "Job", "Argument", "When", "Next run", "Last run", "Status", "Result",
           "Enabled")


def ask_spec(parent: QWidget | None, schedule: Schedule) -> str | None:
    """Ask when a schedule should run (tests replace this); None if cancelled."""
    job = f"{schedule.kind} {schedule.arg}".strip()
    text, ok = QInputDialog.getText(
        parent, "Edit schedule",
        f"When should '{job}' run?\n"
        "e.g. Sat 22:00, daily 02:00, mon-fri 06:30, in the window", text=schedule.spec)
    return text.strip() if ok and text.strip() else None


def _when(value: Any) -> str:
    return value.astimezone().strftime("%a %Y-%m-%d %H:%M") if value else "—"


class SchedulesDialog(QDialog):
    """Lists the site's schedules; Edit when…, Enable/Disable and Remove change them."""

    def __init__(self, service: SiteService, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("schedulesDialog")
        self.setWindowTitle("Schedules")
        self.resize(900, 360)
        self.service = service
        self.runner = runner
        self.items: list[Schedule] = []
        self.loaded = False
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(
            "Jobs the background runner starts on time, with the app closed "
            "(set up with 'patchdesk schedule install').", name="schedulesHint"))
        self.table = make_table_widget("schedulesTable", "Schedules", HEADERS,
                                       (40, 90, 140, 110, 150, 150, 60, 200, 60))
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.edit_button = QPushButton("&Edit when…")
        self.toggle_button = QPushButton("&Disable")
        self.remove_button = QPushButton("&Remove")
        self.refresh_button = QPushButton("Re&fresh")
        for button in (self.edit_button, self.toggle_button, self.remove_button,
                       self.refresh_button):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit_button.clicked.connect(self.edit_selected)
        self.toggle_button.clicked.connect(self.toggle_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the schedules on the read pool."""
        self.runner.submit(self.service.schedules.all, name="schedules",
                           on_result=self._show, on_error=self._failed)

    def _show(self, items: list[Schedule]) -> None:
        selected = self.selected()
        self.items = items
        self.table.setRowCount(len(items))
        for r, s in enumerate(items):
            cells = (str(s.id), str(s.kind), s.arg, s.spec, _when(s.next_run),
                     _when(s.last_run), s.last_status, s.last_result,
                     "yes" if s.enabled else "no")
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
            if selected is not None and s.id == selected.id:
                self.table.selectRow(r)
        self.loaded = True
        self._update_buttons()

    def selected(self) -> Schedule | None:
        """The schedule of the selected row."""
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self.items[min(rows)] if rows and min(rows) < len(self.items) else None

    def _update_buttons(self) -> None:
        chosen = self.selected()
        for button in (self.edit_button, self.toggle_button, self.remove_button):
            button.setEnabled(chosen is not None)
        self.toggle_button.setText("&Enable" if chosen is not None and not chosen.enabled
                                   else "&Disable")

    def _write(self, work: Any, name: str) -> None:
        self.runner.submit(work, name=name, write=True, on_result=lambda _r: self.refresh(),
                           on_error=self._failed)

    def edit_selected(self) -> None:
        """Ask when the selected schedule runs and save it."""
        chosen = self.selected()
        if chosen is None:
            return
        spec = ask_spec(self, chosen)
        if spec is not None:
            self._write(lambda: self.service.schedules.update(chosen.id, spec=spec),
                        "schedule edit")

    def toggle_selected(self) -> None:
        """Enable or disable the selected schedule."""
        chosen = self.selected()
        if chosen is not None:
            self._write(lambda: self.service.schedules.update(
                chosen.id, enabled=not chosen.enabled), "schedule enable")

    def remove_selected(self) -> None:
        """Remove the selected schedule after asking."""
        chosen = self.selected()
        if chosen is not None and dialogs.confirm(
                self, "Remove schedule", f"Remove schedule {chosen.id} ({chosen.kind} "
                f"{chosen.arg}, {chosen.spec})?"):
            self._write(lambda: self.service.schedules.remove(chosen.id), "schedule remove")

    def _failed(self, error: TaskError) -> None:
        dialogs.show_error(self, "Schedules", error.message)


def show_schedules(window: MainWindow) -> None:
    """Open the Schedules window for the open site (Tools ▸ Schedules…)."""
    if window.service is None:
        return
    dialog = SchedulesDialog(window.service, window.runner, window)
    dialog.show()
