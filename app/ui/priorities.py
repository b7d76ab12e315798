"""Priorities: every missing update scored by risk, with its due date, KEV flag and review.

The "By risk" tab of the Patches page. Rows are ``SiteService.risk_items()`` loaded on the
read pool; urgency reviews and ending an exception go through the write pool. The details
pane explains each score factor by factor in plain text (``app.core.risk``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.core.errors import FieldError, ValidationError
from app.core.policy import Priority
from app.core.risk import (
    PRIORITY_ORDER,
    Decision,
    ItemState,
    Review,
    RiskItem,
    check_review,
)
from app.services import current_user
from app.ui import dialogs
from app.ui.models import AnyIndex, ObjectRole, RowTableModel, TextFilterProxy, _ip_key
from app.ui.pin_dialog import PinDialog
from app.ui.qt import (
    QButtonGroup,
    QCheckBox,
    QColor,
    QComboBox,
    QDate,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFont,
    QFormLayout,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QLineEdit,
    QObject,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QShortcut,
    QSplitter,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError, TaskRunner
from app.ui.widgets import make_table_view, plain_label

#: Text and background/foreground colours of each priority class.
PRIORITY_STYLE: dict[Priority, tuple[str, QColor, QColor]] = {
    Priority.EMERGENCY: ("Emergency", QColor("#fbe0dd"), QColor("#8c1d18")),
    Priority.HIGH: ("High", QColor("#fdebd3"), QColor("#8a4b00")),
    Priority.STANDARD: ("Standard", QColor("#e4edfb"), QColor("#1d4fa8")),
    Priority.LOW: ("Low", QColor("#eef1f4"), QColor("#4f5b69")),
}
_RED = QColor("#b3261e")
_MUTED = QColor("#6b7785")
_BOLD = QFont()
_BOLD.setBold(True)


def priority_label(priority: Priority) -> str:
    """How a priority class reads."""
    return PRIORITY_STYLE[priority][0]


def state_text(item: RiskItem) -> str:
    """Where an item stands with its review, in a few words."""
    review = item.review
    if item.state is ItemState.PATCH_NOW:
        return "Patch now"
    if item.state is ItemState.SCHEDULED:
        planned = review.planned if review else None
        return f"Scheduled {planned:%Y-%m-%d}" if planned else "Scheduled"
    if item.state is ItemState.EXCEPTED and review is not None and review.until:
        return f"Exception until {review.until:%Y-%m-%d}"
    if item.state is ItemState.EXCEPTION_EXPIRED:
        return "Exception ended" if review and review.ended_at else "Exception expired"
    return "Open"


def _days(delta: timedelta) -> str:
    days = max(0, delta.days)
    if days == 0:
        hours = max(1, int(delta.total_seconds() // 3600))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{days} day{'s' if days != 1 else ''}"


def due_text(item: RiskItem, now: datetime | None = None) -> str:
    """The due date, and by how much it is overdue."""
    now = now or datetime.now(UTC)
    shown = item.due.astimezone().strftime("%Y-%m-%d")
    return f"{shown} (overdue {_days(now - item.due)})" if item.overdue else shown


def update_label(item: RiskItem) -> str:
    """The update as a person names it: the package, and its KB where there is one."""
    return f"{item.package} ({item.kb})" if item.kb and item.kb != item.package \
        else item.package


def risk_detail(item: RiskItem, now: datetime | None = None) -> str:
    """Why this score, the due date and the review, as plain text for the details pane."""
    now = now or datetime.now(UTC)
    risk = item.risk
    lines = [f"{update_label(item)} {item.candidate_version} on {item.host}"
             + (f" ({item.ip})" if item.ip else "")
             + f" — score {risk.score}, {priority_label(risk.priority).lower()} priority",
             "", "Why this score:"]
    counted = [f for f in risk.factors if f.points]
    width = max((len(f"{f.points:+d}") for f in counted), default=3)
    lines += [f"  {f.points:+{width}d}  {f.name}: {f.detail}" for f in counted]
    cap = f", capped at {risk.score}" if risk.raw != risk.score else ""
    lines.append(f"  = {risk.raw}{cap} → {priority_label(risk.priority).lower()}")
    if risk.kev_floor:
        lines.append("  (known exploited, so at least high whatever the score)")
    zero = [f"{f.name} ({f.detail})" for f in risk.factors if not f.points]
    if zero:
        lines.append("  Not adding points: " + "; ".join(zero) + ".")
    lines.append("")
    first = item.first_seen.astimezone().strftime("%Y-%m-%d")
    sla = item.sla_due.astimezone().strftime("%Y-%m-%d")
    lines.append(f"First seen missing {first}; the policy's SLA for "
                 f"{priority_label(risk.priority).lower()} makes it due {sla}.")
    if item.due != item.sla_due:
        lines.append(f"After the review it is due {due_text(item, now)}.")
    elif item.overdue:
        lines.append(f"Overdue by {_days(now - item.due)}.")
    for entry in item.kev:
        parts = [f"Known exploited: {entry.cve_id}"]
        if entry.name:
            parts.append(entry.name)
        if entry.due_date:
            parts.append(f"CISA due date {entry.due_date:%Y-%m-%d}")
        if entry.ransomware:
            parts.append("used in ransomware campaigns")
        lines.append(" — ".join(parts) + ".")
        if entry.required_action:
            lines.append(f"  Required action: {entry.required_action}")
    if item.cves:
        lines.append("CVEs: " + ", ".join(item.cves))
    review = item.review
    if review is not None:
        lines.append("")
        lines.append(review_text(review, now))
    return "\n".join(lines)


def review_text(review: Review, now: datetime | None = None) -> str:
    """One review in a sentence or two."""
    now = now or datetime.now(UTC)
    when = review.created_at.astimezone().strftime("%Y-%m-%d")
    what = {Decision.PATCH_NOW: "patch now", Decision.SCHEDULE: "schedule",
            Decision.EXCEPTION: "workaround + exception"}[review.decision]
    scope = f"on {review.host}" if review.host else "on every host"
    text = f"Urgency review {when} by {review.decided_by}: {what} ({scope})"
    if review.planned:
        text += f", planned for {review.planned:%Y-%m-%d}"
    if review.decision is Decision.EXCEPTION:
        if review.ended_at:
            text += (f", ended {review.ended_at.astimezone():%Y-%m-%d}"
                     + (f" by {review.ended_by}" if review.ended_by else ""))
        elif review.until:
            text += (f", {'expired' if review.expired(now) else 'valid through'} "
                     f"{review.until:%Y-%m-%d}")
    return f"{text}.\nReason: {review.reason}"


class RiskTableModel(RowTableModel):
    """Risk items, one row per missing update on one asset."""

    COLUMNS = ("Host", "IP", "Update", "Score", "Priority", "Due", "Review", "KEV", "CVEs")
    (COL_HOST, COL_IP, COL_UPDATE, COL_SCORE, COL_PRIORITY, COL_DUE, COL_REVIEW, COL_KEV,
     COL_CVES) = range(9)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.now = datetime.now(UTC)

    def set_items(self, items: Sequence[RiskItem], now: datetime | None = None) -> None:
        """Show items judged at ``now``."""
        self.now = now or datetime.now(UTC)
        self.set_objects(items)

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        i: RiskItem = obj
        cves = ", ".join(i.cves[:3]) + (f" +{len(i.cves) - 3}" if len(i.cves) > 3 else "")
        kev = ("KEV, ransomware" if any(e.ransomware for e in i.kev) else "KEV") \
            if i.kev else ""
        cells = (i.host, i.ip, update_label(i), str(i.risk.score),
                 priority_label(i.priority), due_text(i, self.now), state_text(i), kev, cves)
        search = " ".join((*cells, *i.cves, str(i.classification), str(i.severity))).lower()
        return cells, search

    def sort_key(self, column: int) -> Callable[[int], Any] | None:
        objs: list[RiskItem] = self._objects
        if column == self.COL_SCORE:
            return [(i.risk.score, -i.due.timestamp()) for i in objs].__getitem__
        if column == self.COL_PRIORITY:
            return [(-PRIORITY_ORDER.index(i.priority), i.risk.score)
                    for i in objs].__getitem__
        if column == self.COL_DUE:
            return [i.due.timestamp() for i in objs].__getitem__
        if column == self.COL_IP:
            return [_ip_key(i.ip) for i in objs].__getitem__
        return None

    def extra_data(self, row: int, column: int, role: int) -> Any:
        i: RiskItem = self._objects[row]
        if role == Qt.ItemDataRole.BackgroundRole and column == self.COL_PRIORITY:
            return PRIORITY_STYLE[i.priority][1]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_PRIORITY:
                return PRIORITY_STYLE[i.priority][2]
            if column == self.COL_DUE and i.overdue:
                return _RED
            if column == self.COL_KEV and i.kev:
                return _RED
            if column == self.COL_REVIEW and i.state is ItemState.OPEN:
                return _MUTED
        elif role == Qt.ItemDataRole.FontRole:
            if (column == self.COL_DUE and i.overdue) or column == self.COL_PRIORITY or \
                    (column == self.COL_KEV and i.kev):
                return _BOLD
        elif role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_SCORE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.ToolTipRole:
            if column in (self.COL_SCORE, self.COL_PRIORITY):
                return i.risk.why
            if column == self.COL_CVES and i.cves:
                return "\n".join(i.cves)
            if column == self.COL_KEV and i.kev:
                return "\n".join(f"{e.cve_id}: {e.name}" for e in i.kev)
        return None


class RiskFilterProxy(TextFilterProxy):
    """Words, plus a priority class, overdue only and known exploited only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.priority = ""
        self.overdue_only = False
        self.kev_only = False

    def set_filters(self, priority: str = "", overdue_only: bool = False,
                    kev_only: bool = False) -> None:
        """Show only one priority class (empty: any), only overdue, only KEV-listed items."""
        new = (priority, overdue_only, kev_only)
        if new == (self.priority, self.overdue_only, self.kev_only):
            return
        self.beginFilterChange()
        self.priority, self.overdue_only, self.kev_only = new
        self.endFilterChange(TextFilterProxy.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        rows = self._rows
        if rows is not None and (self.priority or self.overdue_only or self.kev_only):
            item: RiskItem = rows.object_at(source_row)
            if self.priority and str(item.priority) != self.priority:
                return False
            if self.overdue_only and not item.overdue:
                return False
            if self.kev_only and not item.kev:
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def item_at(self, row: int) -> RiskItem | None:
        """The item shown at a proxy row."""
        value = self.mapToSource(self.index(row, 0)).data(ObjectRole)
        return value if isinstance(value, RiskItem) else None


# -- the urgency review dialog ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """What the review dialog asks the service to record (``SiteService.add_review``)."""

    decision: Decision
    reason: str
    by: str
    package: str
    host: str | None  # an asset selector (``#id``); None: every host with the update
    until: date | None = None
    planned: date | None = None
    pin: str | None = None  # the named person's proof, for an exception ([12].8)

    def record(self, service: Any) -> Review:
        """Record it (on the write pool)."""
        review: Review = service.add_review(
            self.decision, reason=self.reason, by=self.by, package=self.package,
            host=self.host, until=self.until, planned=self.planned, pin=self.pin)
        return review


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class ReviewDialog(QDialog):
    """An urgency review of one risk item: patch now, schedule, or workaround + exception.

    Use :meth:`ask`. The answers are checked with the core's own rules
    (:func:`app.core.risk.check_review`) before the dialog closes.
    """

    def __init__(self, parent: QWidget | None, item: RiskItem) -> None:
        super().__init__(parent)
        self.setObjectName("reviewDialog")
        self.setWindowTitle(f"Urgency review — {update_label(item)} on {item.host}")
        self.item = item
        self.result_request: ReviewRequest | None = None
        today = datetime.now(UTC).date()
        intro = QLabel(f"{update_label(item)} on {item.host}: score {item.risk.score}, "
                       f"{priority_label(item.priority).lower()} priority, due "
                       f"{due_text(item)}." + (" Known exploited (CISA KEV)." if item.kev
                                                else ""))
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)

        self.patch_now = QRadioButton("&Patch now — due within the emergency SLA")
        self.schedule = QRadioButton("&Schedule it for")
        self.exception = QRadioButton("&Workaround + exception until")
        self.decisions = QButtonGroup(self)
        for button, decision in ((self.patch_now, Decision.PATCH_NOW),
                                 (self.schedule, Decision.SCHEDULE),
                                 (self.exception, Decision.EXCEPTION)):
            button.setProperty("decision", str(decision))
            self.decisions.addButton(button)
        self.patch_now.setChecked(True)
        self.planned = QDateEdit(_qdate(today + timedelta(days=7)))
        self.planned.setObjectName("plannedDate")
        self.planned.setAccessibleName("Planned date")
        self.until = QDateEdit(_qdate(today + timedelta(days=30)))
        self.until.setObjectName("untilDate")
        self.until.setAccessibleName("Exception expires after")
        for edit in (self.planned, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setMinimumDate(_qdate(today))
        self.decisions.buttonToggled.connect(lambda _b, _c: self._update())

        self.only_host = QRadioButton(f"Only on {item.host}")
        self.every_host = QRadioButton(f"On every host missing {item.package}")
        self.only_host.setChecked(True)
        scope = QButtonGroup(self)
        scope.addButton(self.only_host)
        scope.addButton(self.every_host)

        self.reason = QPlainTextEdit()
        self.reason.setObjectName("reviewReason")
        self.reason.setAccessibleName("Reason")
        self.reason.setTabChangesFocus(True)
        self.reason.setPlaceholderText(
            "Why (required): e.g. the vendor's workaround is applied and the service is "
            "not reachable from outside; patch in the next window.")
        self.reason.setFixedHeight(self.fontMetrics().height() * 5)
        self.by = QLineEdit(current_user())
        self.by.setObjectName("reviewBy")
        self.by.setAccessibleName("Decided by")
        self.error = plain_label(name="reviewError", role="field-error", hidden=True)

        decision_box = QVBoxLayout()
        decision_box.setSpacing(4)
        decision_box.addWidget(self.patch_now)
        for button, edit in ((self.schedule, self.planned), (self.exception, self.until)):
            row = QHBoxLayout()
            row.addWidget(button)
            row.addWidget(edit)
            row.addStretch(1)
            decision_box.addLayout(row)
        scope_box = QVBoxLayout()
        scope_box.setSpacing(4)
        scope_box.addWidget(self.only_host)
        scope_box.addWidget(self.every_host)
        form = QFormLayout()
        form.addRow("Decision", decision_box)
        form.addRow("Applies", scope_box)
        form.addRow("&Reason", self.reason)
        form.addRow("Decided &by", self.by)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Record review")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 0)
        self._update()
        self.reason.setFocus()

    def decision(self) -> Decision:
        """The decision chosen."""
        button = self.decisions.checkedButton()
        return Decision(str(button.property("decision"))) if button else Decision.PATCH_NOW

    def choose(self, decision: Decision) -> None:
        """Pick a decision (as clicking its button does)."""
        {Decision.PATCH_NOW: self.patch_now, Decision.SCHEDULE: self.schedule,
         Decision.EXCEPTION: self.exception}[decision].setChecked(True)

    def _update(self) -> None:
        decision = self.decision()
        self.planned.setEnabled(decision is Decision.SCHEDULE)
        self.until.setEnabled(decision is Decision.EXCEPTION)

    def request(self) -> ReviewRequest:
        """The review as entered, checked by the core's rules.

        Raises:
            ValidationError: naming each problem.
        """
        decision = self.decision()
        item = self.item
        until = _pydate(self.until.date()) if decision is Decision.EXCEPTION else None
        planned = _pydate(self.planned.date()) if decision is Decision.SCHEDULE else None
        host = None if self.every_host.isChecked() else f"#{item.asset_id}"
        now = datetime.now(UTC)
        checked = check_review(Review(decision, self.reason.toPlainText(), self.by.text(), now,
                                      item.package, "", item.asset_id if host else None,
                                      item.host if host else "", until, planned), now.date())
        return ReviewRequest(decision, checked.reason, checked.decided_by, item.package, host,
                             until, planned)

    def accept(self) -> None:
        """Close only when the review is complete (a reason, a name, valid dates)."""
        try:
            self.result_request = self.request()
        except ValidationError as exc:
            self.show_errors(exc.errors)
            return
        super().accept()

    def show_errors(self, errors: Sequence[FieldError]) -> None:
        """Say what is missing."""
        labels = {"reason": "Reason", "by": "Decided by", "until": "Expiry",
                  "date": "Planned date"}
        self.error.setText("\n".join(f"{labels.get(e.field, e.field)}: {e.message}"
                                     for e in errors))
        self.error.setVisible(bool(errors))

    @classmethod
    def ask(cls, parent: QWidget | None, item: RiskItem) -> ReviewRequest | None:
        """Show the dialog modally; the review to record, or None if cancelled."""
        dialog = cls(parent, item)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                return dialog.result_request
            return None
        finally:
            dialog.deleteLater()


# -- the panel ------------------------------------------------------------------------------
class PrioritiesPanel(QWidget):
    """The risk-ordered table with its filters, a "why" pane and review actions."""

    #: Show this asset on the Inventory page.
    open_asset = Signal(int)
    #: A review was recorded or an exception ended (what).
    changed = Signal(str)
    #: The items were (re)loaded.
    loaded = Signal()

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prioritiesPanel")
        self.runner = runner
        self.service: Any = None
        self._generation = 0
        #: The moment items are judged at ("overdue"); tests move it forward.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

        self.priority_combo = QComboBox()
        self.priority_combo.setObjectName("priorityFilter")
        self.priority_combo.setAccessibleName("Priority")
        self.priority_combo.addItem("All priorities", "")
        for priority in PRIORITY_ORDER:
            self.priority_combo.addItem(priority_label(priority), str(priority))
        self.overdue_box = QCheckBox("Overdue only")
        self.overdue_box.setObjectName("overdueOnly")
        self.kev_box = QCheckBox("Known exploited only")
        self.kev_box.setObjectName("kevOnly")
        self.priority_combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.overdue_box.toggled.connect(lambda _c: self.apply_filter())
        self.kev_box.toggled.connect(lambda _c: self.apply_filter())
        self.review_button = QPushButton("Urgency review…")
        self.review_button.setObjectName("reviewButton")
        self.review_button.setToolTip("Record a named decision: patch now, schedule, or a "
                                      "workaround with an exception until a date")
        self.review_button.clicked.connect(self.review_selected)
        self.end_button = QPushButton("End exception")
        self.end_button.setObjectName("endExceptionButton")
        self.end_button.setToolTip("The update is back under its SLA (and overdue if late)")
        self.end_button.clicked.connect(self.end_selected_exception)
        self.summary = plain_label(name="prioritiesSummary", role="muted", wrap=False)
        self.summary.setMinimumWidth(40)  # cut rather than widen the window
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 6, 0, 0)
        bar.addWidget(self.priority_combo)
        bar.addWidget(self.overdue_box)
        bar.addWidget(self.kev_box)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.review_button)
        bar.addWidget(self.end_button)

        self.model = RiskTableModel(self)
        self.proxy = RiskFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table_view("prioritiesView", "Missing updates by risk")
        self.view.setModel(self.proxy)
        for col, width in enumerate((115, 90, 150, 50, 90, 225, 180, 50)):
            self.view.horizontalHeader().resizeSection(col, width)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(RiskTableModel.COL_SCORE,
                                                      Qt.SortOrder.DescendingOrder)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.doubleClicked.connect(lambda _i: self._on_activated())
        for key in ("Return", "Enter"):
            QShortcut(QKeySequence(key), self.view, self._on_activated,
                      Qt.ShortcutContext.WidgetShortcut)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("riskDetail")
        self.detail.setAccessibleName("Why this score")
        self.detail.setReadOnly(True)
        self.detail.setFrameShape(QPlainTextEdit.Shape.NoFrame)
        self.detail.setProperty("role", "detail")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.view)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self._on_selection_changed()

    # -- data -------------------------------------------------------------------------------
    def set_service(self, service: Any) -> None:
        """Show another site (its items load on :meth:`reload`)."""
        self.service = service
        self._generation += 1
        self.set_items([])

    def reload(self) -> None:
        """Load the items again (read pool)."""
        service = self.service
        if service is None:
            return
        self._generation += 1
        generation = self._generation
        now = self.clock()

        def load() -> tuple[list[RiskItem], datetime]:
            return service.risk_items(now), now

        def done(result: tuple[list[RiskItem], datetime]) -> None:
            if generation == self._generation and service is self.service:
                self.set_items(*result)
                self.loaded.emit()

        self.runner.submit(load, name="load risk items", on_result=done)

    def set_items(self, items: Sequence[RiskItem], now: datetime | None = None) -> None:
        """Show items, keeping the sort order and the selected item."""
        current = self.selected_item()
        key = (current.asset_id, current.package) if current else None
        self.model.set_items(items, now)
        hdr = self.view.horizontalHeader()
        self.model.sort(hdr.sortIndicatorSection(), hdr.sortIndicatorOrder())
        overdue = sum(1 for i in items if i.overdue)
        kev = sum(1 for i in items if i.kev)
        self.summary.setText(
            f"{len(items):,} missing update{'s' if len(items) != 1 else ''} scored · "
            f"{overdue:,} overdue · {kev:,} known exploited" if items else
            "Nothing missing on the assets the policy covers.")
        if key is not None:
            self.select(*key)
        self._on_selection_changed()

    def apply_filter(self, text: str | None = None) -> None:
        """Filter now (``text``: new words; None keeps them)."""
        if text is not None:
            self.proxy.set_filter_text(text)
        self.proxy.set_filters(str(self.priority_combo.currentData() or ""),
                               self.overdue_box.isChecked(), self.kev_box.isChecked())
        self._on_selection_changed()

    def items_shown(self) -> list[RiskItem]:
        """The items in view order (after filtering and sorting)."""
        return [i for r in range(self.proxy.rowCount())
                if (i := self.proxy.item_at(r)) is not None]

    def select(self, asset_id: int, package: str) -> bool:
        """Select the row of one item (if shown)."""
        for row in range(self.proxy.rowCount()):
            item = self.proxy.item_at(row)
            if item is not None and (item.asset_id, item.package) == (asset_id, package):
                self.view.selectRow(row)
                self.view.scrollTo(self.proxy.index(row, 0))
                return True
        return False

    def selected_item(self) -> RiskItem | None:
        """The item of the current row."""
        rows = self.view.selectionModel().selectedRows() if self.view.selectionModel() \
            else []
        if rows:
            return self.proxy.item_at(rows[0].row())
        return None

    # -- actions ----------------------------------------------------------------------------
    def review_selected(self) -> None:
        """Ask for an urgency review of the selected item and record it (write pool)."""
        item = self.selected_item()
        service = self.service
        if item is None or service is None:
            return
        request = ReviewDialog.ask(self, item)
        if request is None:
            return
        if request.decision is Decision.EXCEPTION:  # proof of the named person ([12].8)
            pin = PinDialog.ask(self, request.by, "grant this exception")
            if pin is None:
                return
            request = replace(request, pin=pin)
        self._write("review", lambda: request.record(service),
                    f"Review recorded for {update_label(item)}.")

    def end_selected_exception(self) -> None:
        """End the selected item's exception now (asks first; write pool)."""
        item = self.selected_item()
        service = self.service
        review = item.review if item else None
        if item is None or service is None or review is None or review.id is None \
                or item.state is not ItemState.EXCEPTED:
            return
        scope = review.host or "every host"
        if not dialogs.confirm(self, "End the exception?",
                               f"End the exception for {review.package or review.cve} on "
                               f"{scope} now? The update is back under its SLA and shows "
                               "as overdue if it is late."):
            return
        review_id = review.id
        self._write("exception end", lambda: service.end_exception(review_id),
                    "Exception ended.")

    def _write(self, what: str, fn: Callable[[], Any], message: str) -> None:
        service = self.service

        def done(_result: Any) -> None:
            if service is self.service:
                self.summary.setText(message)
                self.reload()
                self.changed.emit(what)

        def failed(error: TaskError) -> None:
            dialogs.show_error(self, "Urgency review", error.message)

        self.runner.submit(fn, name=what, write=True, on_result=done, on_error=failed)

    # -- slots ------------------------------------------------------------------------------
    def _on_activated(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.open_asset.emit(item.asset_id)

    def _on_selection_changed(self, *_args: object) -> None:
        item = self.selected_item()
        self.review_button.setEnabled(item is not None and self.service is not None)
        self.end_button.setEnabled(item is not None and item.state is ItemState.EXCEPTED)
        if item is None:
            self.detail.setPlainText(
                "Select an update to see why it scores what it does, when it is due and "
                "who decided what about it. Double-click it to open the host.")
        else:
            self.detail.setPlainText(risk_detail(item, self.model.now))
