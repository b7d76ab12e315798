"""The Policy page's Feeds section: each vulnerability feed's age, records and source,
the stale flag, "Import file…" and "Update now" (the feed's published URL) with progress
and cancel, on the write pool (``service.feeds``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.core.feeds import FEEDS, FeedStatus
from app.core.progress import CancelToken, Progress
from app.ui import dialogs
from app.ui.models import local_time
from app.ui.qt import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import Task, TaskError, TaskRunner
from app.ui.widgets import plain_label

FEED_FILTER = ("Feeds (*.json *.json.gz *.csv *.csv.gz *.gz);;All files (*)")
COLUMNS = ["Feed", "Imported", "Feed date", "Age", "Records", "Status"]


def status_rows(states: list[FeedStatus], now: datetime, limit: int) -> list[list[str]]:
    """The table's cells (also what the test reads)."""
    rows = []
    for s in states:
        age = s.age_days(now)
        state = ("not imported" if s.imported_at is None
                 else f"STALE (over {limit} d)" if s.stale(now, limit) else "current")
        rows.append([s.title, local_time(s.imported_at) or "never", (s.feed_date or "")[:10],
                     "" if age is None else f"{age} d", f"{s.stored:,}", state])
    return rows


class FeedsSection(QGroupBox):
    """Feeds: status table, import from a file or the published URL, progress, cancel."""

    #: A feed was imported (the risk scores changed).
    imported = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("Vulnerability feeds", parent)
        self.setObjectName("feedsSection")
        self.runner = runner
        self.service: Any = None
        self.task: Task | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("feedsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(110)
        self.feed = QComboBox()
        self.feed.setObjectName("feedChoice")
        for feed in FEEDS:
            self.feed.addItem(feed, feed)
        self.file_button = QPushButton("Import file…")
        self.file_button.setObjectName("feedImportFile")
        self.file_button.clicked.connect(self.import_file)
        self.url_button = QPushButton("Update now")
        self.url_button.setObjectName("feedUpdateNow")
        self.url_button.setToolTip("Download the feed from where it is published")
        self.url_button.clicked.connect(self.update_now)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("feedCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("feedProgress")
        self.message = plain_label(name="feedMessage", role="muted", selectable=True)
        row = QHBoxLayout()
        row.addWidget(self.feed)
        row.addWidget(self.file_button)
        row.addWidget(self.url_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        self.feed.currentIndexChanged.connect(lambda _i: self._buttons())
        self._busy(False)

    # -- data --------------------------------------------------------------------------------
    def set_service(self, service: Any) -> None:
        """Show another site."""
        self.service = service
        self.table.setRowCount(0)
        self.message.setText("")

    def load(self) -> None:
        """Read each feed's status (read pool)."""
        service = self.service
        if service is None:
            return

        def read() -> tuple[list[FeedStatus], int]:
            return service.feeds.status(), service.feeds.max_age_days()

        def done(result: tuple[list[FeedStatus], int]) -> None:
            if service is self.service:
                self.show_status(*result)

        self.runner.submit(read, name="feed status", on_result=done)

    def show_status(self, states: list[FeedStatus], limit: int) -> None:
        """Fill the table."""
        rows = status_rows(states, datetime.now(UTC), limit)
        self.table.setRowCount(len(rows))
        for r, (state, row) in enumerate(zip(states, rows, strict=True)):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(state.source or "never imported")
                if c == len(row) - 1 and text.startswith("STALE"):
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    # -- imports -------------------------------------------------------------------------------
    @staticmethod
    def ask_file(parent: QWidget) -> str | None:
        """Ask for a feed file (tests replace this)."""
        return dialogs.ask_open_file(parent, "Import vulnerability feed", FEED_FILTER)

    def import_file(self) -> None:
        """Import the chosen feed from a file."""
        path = type(self).ask_file(self)
        if path:
            self.start(str(self.feed.currentData()), path)

    def update_now(self) -> None:
        """Import the chosen feed from where it is published."""
        if self.service is None:
            return
        feed = str(self.feed.currentData())
        url = self.service.feeds.published_url(feed)
        if url:
            self.start(feed, url)

    def start(self, feed: str, source: str) -> None:
        """Import on the write pool with progress; Cancel stops it (nothing changes)."""
        service = self.service
        if service is None or self.task is not None:
            return
        self.message.setText(f"Importing {feed} from {source}…")
        self.progress.setRange(0, 0)
        self._busy(True)

        def work(progress: Callable[[Progress], None], cancel: CancelToken) -> Any:
            def report(done: int, total: int | None) -> None:
                progress(Progress(done // 1024, (total or 0) // 1024, "KiB"))

            return service.feeds.import_feed(feed, source, progress=report,
                                             should_stop=lambda: cancel.cancelled)

        def done(result: Any) -> None:
            self._finish(f"Imported {feed}: {result.records:,} record(s), feed date "
                         f"{(result.feed_date or 'unknown')[:10]}.")
            self.imported.emit(feed)

        def failed(error: TaskError) -> None:
            self._finish(f"Not imported: {error.message}")

        self.task = self.runner.submit(
            work, name=f"import {feed}", write=True, with_progress=True, on_result=done,
            on_error=failed, on_progress=self._progress,
            on_cancelled=lambda: self._finish("Cancelled; nothing was changed."))

    def cancel(self) -> None:
        """Stop the running import."""
        if self.task is not None:
            self.task.cancel()

    def _progress(self, progress: Progress) -> None:
        if progress.total > 0:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(min(progress.done, progress.total))

    def _finish(self, text: str) -> None:
        self.task = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText(text)
        self._busy(False)
        self.load()

    def _busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.file_button.setEnabled(not busy)
        self.feed.setEnabled(not busy)
        self._buttons(busy)

    def _buttons(self, busy: bool | None = None) -> None:
        busy = self.task is not None if busy is None else busy
        feed = str(self.feed.currentData())
        self.url_button.setEnabled(not busy and feed != "ubuntu")
