"""The audit log page: events newest first, filtered by words, type and dates; a detail pane
that reads each event in plain words; the chain check; and a CSV export of the period shown
(through the report service's audit export, which the CLI uses too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.audit import ChainProblem
from app.core.models import AuditEvent
from app.services.reports import ReportOptions
from app.ui import dialogs
from app.ui.models import (
    AnyIndex,
    AuditTableModel,
    ObjectRole,
    TextFilterProxy,
    detail_lines,
    event_outcome,
    local_time,
)
from app.ui.page import Page
from app.ui.qt import (
    QByteArray,
    QCheckBox,
    QComboBox,
    QDate,
    QDateEdit,
    QHBoxLayout,
    QLineEdit,
    QObject,
    QPlainTextEdit,
    QPushButton,
    QSettings,
    QSortFilterProxyModel,
    QSplitter,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError
from app.ui.widgets import make_table_view, page_header, plain_label

if TYPE_CHECKING:
    pass

#: How the first word of an action reads in the type filter.
TYPE_LABELS = {
    "asset": "Assets", "assess": "Deep scans", "deploy": "Deployments",
    "deployment": "Deployments", "policy": "Policy", "credential": "Credentials",
    "credentials": "Credentials", "vault": "Credential vault", "report": "Reports",
    "export": "Exports", "import": "Imports", "site": "Site settings",
    "scan": "Network scans", "discover": "Network scans", "review": "Urgency reviews",
    "exception": "Exceptions", "kev": "Known-exploited list", "settings": "Settings",
}
CSV_FILTER = "CSV files (*.csv)"


def event_type(action: str) -> str:
    """The type an action belongs to: the word before its first dot."""
    return action.split(".", 1)[0]


def type_label(kind: str) -> str:
    """How a type reads in the filter."""
    return TYPE_LABELS.get(kind, kind.replace("_", " ").capitalize())


def event_text(event: AuditEvent) -> str:
    """An event in plain words for the detail pane."""
    head = [f"Time:     {local_time(event.ts, seconds=True)}",
            f"Actor:    {event.actor or '—'}",
            f"Action:   {event.action}  ({type_label(event_type(event.action))})"]
    target = f"{event.object_type} {event.object_id}".strip()
    label = (event.details or {}).get("label")
    if label:
        target = f"{target} ({label})" if target else str(label)
    head.append(f"Object:   {target or '—'}")
    head.append(f"Outcome:  {event_outcome(event)}")
    body = ["", "Details:"]
    details = {k: v for k, v in (event.details or {}).items() if k != "label"}
    body += detail_lines(details) if details else ["    none"]
    tail = ["", f"Entry #{event.id} · hash {event.hash[:16]}… · previous "
                f"{event.prev_hash[:16] or '—'}…"] if event.hash else []
    return "\n".join([*head, *body, *tail])


class AuditFilterProxy(TextFilterProxy):
    """Words, plus one type of event and a period (days, local time)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.since: date | None = None
        self.until: date | None = None

    def set_filters(self, kind: str = "", since: date | None = None,
                    until: date | None = None) -> None:
        """Show only this type ("": any) between these days (inclusive; None: open)."""
        if (kind, since, until) == (self.kind, self.since, self.until):
            return
        self.beginFilterChange()
        self.kind, self.since, self.until = kind, since, until
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if self._rows is not None and (self.kind or self.since or self.until):
            event: AuditEvent = self._rows.object_at(source_row)
            if self.kind and event_type(event.action) != self.kind:
                return False
            day = event.ts.astimezone().date()
            if (self.since and day < self.since) or (self.until and day > self.until):
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def event_at(self, row: int) -> AuditEvent:
        """The event shown at a proxy row."""
        event: AuditEvent = self.mapToSource(self.index(row, 0)).data(ObjectRole)
        return event


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class AuditPage(Page):
    """The audit log, newest first, with filters, a detail pane, a chain check and export."""

    refresh_requested = Signal()
    verify_requested = Signal()
    #: The chain check finished (with the list of problems).
    verify_done = Signal(object)
    #: An export was written (path, number of events).
    exported = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditPage")
        header, self.subtitle = page_header(
            "Audit log",
            "Every change to this site, who made it and when. Entries are hash-chained: "
            "editing or deleting one breaks the chain, which Verify detects.",
        )
        self.model = AuditTableModel(self)
        self.proxy = AuditFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit()
        self.search.setObjectName("auditSearch")
        self.search.setAccessibleName("Filter audit events")
        self.search.setPlaceholderText("Filter by actor, action, object or detail")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.type_combo = QComboBox()
        self.type_combo.setObjectName("auditType")
        self.type_combo.setAccessibleName("Type of event")
        self.type_combo.addItem("All types", "")
        self.type_combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        today = date.today()
        self.use_from = QCheckBox("From")
        self.use_from.setObjectName("auditUseFrom")
        self.from_date = QDateEdit(_qdate(today.replace(day=1)))
        self.from_date.setObjectName("auditFrom")
        self.from_date.setAccessibleName("From day")
        self.use_to = QCheckBox("to")
        self.use_to.setObjectName("auditUseTo")
        self.to_date = QDateEdit(_qdate(today))
        self.to_date.setObjectName("auditTo")
        self.to_date.setAccessibleName("To day")
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(lambda _d: self.apply_filter())
        for box in (self.use_from, self.use_to):
            box.toggled.connect(lambda _c: self.apply_filter())
        self.verify_button = QPushButton("Verify chain")
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.clicked.connect(self.verify_requested.emit)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setObjectName("auditExport")
        self.export_button.setToolTip("Write the events of the period shown (every type) to a "
                                      "CSV file, with their hashes")
        self.export_button.clicked.connect(self.export_csv)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_requested.emit)
        self.result = plain_label(role="muted")
        self.result.setObjectName("verifyResult")

        self.view = make_table_view("auditView", "Audit events")
        self.view.setModel(self.proxy)
        hdr = self.view.horizontalHeader()
        for col, width in enumerate((150, 90, 130, 170, 320, 110)):
            hdr.resizeSection(col, width)
        self.view.selectionModel().selectionChanged.connect(self._show_detail)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("auditDetail")
        self.detail.setAccessibleName("Event details")
        self.detail.setReadOnly(True)
        self.detail.setProperty("role", "detail")
        self.detail.setPlaceholderText("Select an event to read it in full.")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("auditSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        row.addWidget(refresh)
        row.addWidget(self.verify_button)
        filters = QHBoxLayout()
        filters.addWidget(self.type_combo)
        filters.addSpacing(8)
        filters.addWidget(self.use_from)
        filters.addWidget(self.from_date)
        filters.addWidget(self.use_to)
        filters.addWidget(self.to_date)
        filters.addStretch(1)
        filters.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(row)
        layout.addLayout(filters)
        layout.addWidget(self.result)
        layout.addWidget(self.splitter, 1)
        self.refresh_requested.connect(self.load)
        self.verify_requested.connect(self.verify)

    def clear(self) -> None:
        self.set_events([])
        self.result.setText("")

    def load(self) -> None:
        """Reload the events (in the background)."""

        def show(events: list[AuditEvent]) -> None:
            self.set_events(events)
            self.loaded.emit()

        self.read(lambda service: service.audit_events(limit=50_000), "load audit", show)

    def verify(self) -> None:
        """Check the audit chain (in the background) and show the result."""
        service, runner = self.service, self.runner
        if service is None or runner is None:
            return
        self.verify_button.setEnabled(False)
        self.result.setText("Checking the audit chain…")

        def done(problems: list[ChainProblem]) -> None:
            self.verify_button.setEnabled(True)
            if service is self.service:
                self.show_verify_result(problems)
                self.verify_done.emit(problems)

        def failed(error: TaskError) -> None:
            self.verify_button.setEnabled(True)
            runner.unhandled_error.emit(error)

        runner.submit(service.audit_verify, name="verify audit", on_result=done,
                      on_error=failed)

    def set_events(self, events: Sequence[AuditEvent]) -> None:
        """Show events (newest first); the type filter offers the types present."""
        self.model.set_objects(events)
        current = str(self.type_combo.currentData() or "")
        kinds = sorted({event_type(e.action) for e in events}, key=type_label)
        self.type_combo.blockSignals(True)
        self.type_combo.clear()
        self.type_combo.addItem("All types", "")
        for kind in kinds:
            self.type_combo.addItem(type_label(kind), kind)
        self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(current)))
        self.type_combo.blockSignals(False)
        self.apply_filter()

    def period(self) -> tuple[date | None, date | None]:
        """The days chosen (None: open)."""
        return (_pydate(self.from_date.date()) if self.use_from.isChecked() else None,
                _pydate(self.to_date.date()) if self.use_to.isChecked() else None)

    def apply_filter(self) -> None:
        """Filter now."""
        self._debounce.stop()
        since, until = self.period()
        self.proxy.set_filter_text(self.search.text())
        self.proxy.set_filters(str(self.type_combo.currentData() or ""), since, until)
        self._show_detail()

    def selected_event(self) -> AuditEvent | None:
        """The event selected, if any."""
        rows = self.view.selectionModel().selectedRows()
        return self.proxy.event_at(rows[0].row()) if rows else None

    def _show_detail(self, *_args: object) -> None:
        event = self.selected_event()
        self.detail.setPlainText(event_text(event) if event is not None else "")

    # -- export -----------------------------------------------------------------------------
    @staticmethod
    def ask_path(parent: QWidget, folder: str) -> str:
        """Where to write the CSV ("" when cancelled); tests replace this."""
        return dialogs.ask_save_file(parent, "Export audit log", CSV_FILTER, folder) or ""

    def export_csv(self) -> None:
        """Write the events of the period shown to a CSV file (in the background)."""
        service = self.service
        if service is None:
            return
        chosen = type(self).ask_path(self, str(service.path.parent))
        if not chosen:
            return
        path = Path(chosen)
        if path.suffix.lower() != ".csv":
            path = path.with_name(f"{path.name}.csv")
        since, until = self.period()
        options = ReportOptions(period_from=since, period_to=until)

        def done(count: int) -> None:
            span = ("every day" if since is None and until is None else
                    f"{since or 'the start'} to {until or 'today'}")
            self.result.setText(f"Exported {count:,} events ({span}) to {path}.")
            self.status_message.emit(f"Exported {count:,} audit events to {path}.", 8000)
            self.exported.emit(str(path), count)

        def failed(error: TaskError) -> None:
            self.result.setText(f"The export was not written: {error.message}")

        self.write("export", lambda: service.reports.export("audit", "csv", path, options),
                   done, failed)

    def show_verify_result(self, problems: Sequence[ChainProblem]) -> None:
        """Say whether the chain is intact, listing the first problems if not."""
        count = self.model.rowCount()
        if not problems:
            self.result.setText(
                f"✔ Audit chain intact: {count:,} events checked, none edited or deleted."
            )
            self.result.setProperty("role", "muted")
        else:
            shown = "\n".join(str(p) for p in problems[:10])
            more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
            self.result.setText(
                f"✖ Audit chain BROKEN: {len(problems)} problem(s). The log was changed "
                f"outside PatchDesk.\n{shown}{more}"
            )
            self.result.setProperty("role", "field-error")
        self.result.style().unpolish(self.result)
        self.result.style().polish(self.result)

    def focus_search(self) -> bool:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()
        return True

    def save_state(self, settings: QSettings) -> None:
        """Remember the column layout and the splitter."""
        settings.setValue("audit/header", self.view.horizontalHeader().saveState())
        settings.setValue("audit/splitter", self.splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore the column layout and the splitter."""
        state = settings.value("audit/header")
        if isinstance(state, QByteArray | bytes):
            self.view.horizontalHeader().restoreState(state)
        splitter = settings.value("audit/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(splitter)

