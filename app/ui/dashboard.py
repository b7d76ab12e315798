"""The dashboard: cards that open the page they summarise, filtered; the report's two charts;
the hosts whose last deep scan failed or that were never assessed, by name; top risks.

Each figure comes from the service call the PDF report uses (``service.risk_overview``,
``service.reports.chart_figures``), so the dashboard and the report always agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.core.models import Asset, AuditEvent, Site
from app.ui.charts import SEVERITY_COLOURS, BarChart, TrendChart
from app.ui.models import enum_label, local_time, os_family_label
from app.ui.page import Page
from app.ui.qt import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QKeyEvent,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMouseEvent,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.widgets import page_header, plain_label

if TYPE_CHECKING:
    from app.services import SiteService


@dataclass(frozen=True, slots=True)
class Link:
    """Where a card or a line of the dashboard leads.

    ``page`` is ``inventory`` (``ids``: show only these assets, None: all), ``patches``
    (``classification``: that class only), ``risk`` (the By-risk tab; ``overdue_only``, or
    ``item`` = (asset id, package) to select) or ``asset`` (``ids[0]`` on the Inventory).
    """

    page: str
    title: str = ""
    ids: tuple[int, ...] | None = None
    classification: str = ""
    overdue_only: bool = False
    item: tuple[int, str] | None = None


class Card(QFrame):
    """A figure with a caption and a note; clicking it (or Enter/Space) opens its link."""

    clicked = Signal()

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"card_{key}")
        self.setProperty("role", "card")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(title)
        self.link: Link | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        caption = plain_label(title, role="muted")
        self.value = QLabel("–")
        self.value.setProperty("role", "stat-value")
        self.value.setTextFormat(Qt.TextFormat.PlainText)
        self.detail = plain_label(role="muted")
        #: A warning under the note (what a figure leaves out), hidden when there is none.
        self.warning = plain_label(role="field-error", hidden=True)
        self.warning.setObjectName(f"card_{key}_warning")
        layout.addWidget(caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addWidget(self.warning)
        layout.addStretch(1)

    def set_link(self, link: Link | None, tip: str = "") -> None:
        """Where a click leads (None: nowhere)."""
        self.link = link
        self.setToolTip(tip or (f"Show {link.title}" if link and link.title else ""))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
                event.position().toPoint()):
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)


@dataclass(frozen=True, slots=True)
class RiskOverview:
    """The dashboard's risk figures (built on a worker thread by :func:`risk_overview`)."""

    compliance: Any  # app.core.risk.Compliance — the same figure as the PDF report's
    overdue_by_priority: dict[str, int]
    top: list[Any]  # the 10 highest RiskItems
    never_assessed: list[str]
    stale: list[str]
    stale_days: int
    #: (asset id, name) of the assets never deep-scanned and of those scanned too long ago.
    never_ids: list[tuple[int, str]] = field(default_factory=list)
    stale_ids: list[tuple[int, str]] = field(default_factory=list)
    #: (asset id, name, why) of the assets whose last deep scan failed.
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    #: The report's figures (``Figures``) and SLA-compliance trend points.
    figures: Any = None
    trend: list[tuple[str, float]] = field(default_factory=list)
    #: Imported vulnerability feeds older than the policy allows ("FIRST EPSS: 9 days").
    stale_feeds: list[str] = field(default_factory=list)


def risk_overview(service: Any, stale_days: int, now: datetime | None = None) -> RiskOverview:
    """Compliance, overdue counts by priority, top risks, assessment coverage and the report's
    chart figures.

    The compliance figure and risk items are ``service.risk_overview()``, what the PDF report
    uses; the chart figures are ``service.reports.chart_figures()`` on that same overview.
    Assets with an address that were never deep-scanned, or whose last deep scan is older
    than ``stale_days``, are listed by name, and so are those whose last scan failed.
    """
    from app.core.risk import PRIORITY_ORDER

    now = now or datetime.now(UTC)
    items, compliance = service.risk_overview(now)
    overdue = {str(p): 0 for p in PRIORITY_ORDER}
    for item in items:
        if item.overdue:
            overdue[str(item.priority)] += 1
    records = service.assessments()
    cutoff = now - timedelta(days=stale_days)
    never: list[tuple[int, str]] = []
    stale: list[tuple[int, str]] = []
    failed: list[tuple[int, str, str]] = []
    for asset in service.assets():
        if asset.id is None:
            continue
        record = records.get(asset.id)
        if record is not None and not record.ok:
            failed.append((asset.id, asset.label, record.error or record.error_kind))
        if not (asset.primary_ip or asset.hostname):
            continue
        if record is None:
            never.append((asset.id, asset.label))
        elif record.finished_at is None or record.finished_at < cutoff:
            stale.append((asset.id, asset.label))
    by_name: Callable[[tuple[Any, ...]], str] = lambda pair: str(pair[1]).lower()  # noqa: E731
    never.sort(key=by_name)
    stale.sort(key=by_name)
    failed.sort(key=by_name)
    figures, trend = service.reports.chart_figures((items, compliance))
    feeds = [f"{f.title}: {f.age_days(now)} days old (policy: "
             f"{service.feeds.max_age_days()})" for f in service.feeds.stale(now)]
    return RiskOverview(compliance, overdue, items[:10], [n for _i, n in never],
                        [n for _i, n in stale], stale_days, never, stale, failed, figures,
                        trend, feeds)


#: The inventory cards: key, caption, note, which assets they count.
_INVENTORY_CARDS: tuple[tuple[str, str, str, Callable[[Asset, date], bool]], ...] = (
    ("assets", "Assets", "in this site", lambda a, _t: True),
    ("critical", "High or critical impact", "need the shortest patch SLAs",
     lambda a, _t: a.impact in ("high", "critical")),
    ("warranty", "Warranty ends within 90 days", "plan renewals or replacements",
     lambda a, t: bool(a.warranty_end and t <= a.warranty_end <= t + timedelta(days=90))),
    ("expired", "Warranty expired", "no vendor fixes or support",
     lambda a, t: bool(a.warranty_end and a.warranty_end < t)),
    ("unowned", "No owner recorded", "nobody to notify before a reboot",
     lambda a, _t: not a.owner),
    ("unring", "Not in a deployment ring", "assign test, pilot or production",
     lambda a, _t: not a.ring),
)


class DashboardPage(Page):
    """A summary of the open site computed from its real inventory, scans and audit log."""

    open_inventory = Signal()
    open_patches = Signal()
    #: A card or a line was clicked: open what it summarises (a :class:`Link`).
    open_link = Signal(object)
    reload_on_show = True

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardPage")
        header, self.subtitle = page_header("Dashboard")
        grid = QGridLayout()
        grid.setSpacing(10)
        self.card_widgets: dict[str, Card] = {}

        def add(group: dict[str, tuple[QLabel, QLabel]], key: str, title: str, row: int,
                column: int) -> None:
            card = Card(key, title)
            card.clicked.connect(lambda: self._on_card_clicked(card))
            self.card_widgets[key] = card
            group[key] = (card.value, card.detail)
            grid.addWidget(card, row, column)

        self.cards: dict[str, tuple[QLabel, QLabel]] = {}
        for i, (key, title, _note, _test) in enumerate(_INVENTORY_CARDS):
            add(self.cards, key, title, i // 3, i % 3)
        #: Cards filled from the deep scans (see :meth:`update_patch_summary`).
        self.patch_cards: dict[str, tuple[QLabel, QLabel]] = {}
        for i, (key, title) in enumerate((
            ("missing", "Missing updates"),
            ("security", "Security updates missing"),
            ("errors", "Hosts whose last deep scan failed"),
        )):
            add(self.patch_cards, key, title, 2, i)
        #: Cards filled from the risk figures (see :meth:`update_risk_summary`).
        self.risk_cards: dict[str, tuple[QLabel, QLabel]] = {}
        for i, (key, title) in enumerate((
            ("compliance", "SLA compliance"),
            ("overdue", "Overdue updates"),
            ("coverage", "Never assessed or stale"),
        )):
            add(self.risk_cards, key, title, 3, i)
        self.card_widgets["missing"].set_link(Link("patches", "every missing update"))
        self.card_widgets["security"].set_link(
            Link("patches", "the missing security updates", classification="security"))
        self.card_widgets["overdue"].set_link(
            Link("risk", "the overdue updates by risk", overdue_only=True))
        self.card_widgets["compliance"].set_link(
            Link("risk", "the updates by risk, most urgent first"))

        self.trend_chart = TrendChart("SLA compliance over the site's reports",
                                      "complianceTrendChart")
        self.severity_chart = BarChart("Missing updates by severity", "severityChart")
        charts = QHBoxLayout()
        charts.setSpacing(16)
        charts.addWidget(self.trend_chart, 1)
        charts.addWidget(self.severity_chart, 1)

        self.attention = self._list("dashboardAttention",
                                    "Hosts whose last scan failed or never assessed")
        self.top_risks = self._list("dashboardTopRisks", "Top 10 risks")
        self.breakdown = plain_label()
        self.breakdown.setObjectName("dashboardBreakdown")
        self.recent = plain_label()
        self.recent.setObjectName("dashboardRecent")
        middle = QHBoxLayout()
        middle.setSpacing(16)
        middle.addLayout(self._column("Hosts needing attention", self.attention), 2)
        middle.addLayout(self._column("Top 10 risks", self.top_risks), 3)
        lower = QHBoxLayout()
        lower.setSpacing(16)
        lower.addLayout(self._column("Operating systems and kinds", self.breakdown), 2)
        lower.addLayout(self._column("Recent activity", self.recent), 3)

        button = QPushButton("Open inventory")
        button.clicked.connect(self.open_inventory.emit)
        button_patches = QPushButton("Open patches")
        button_patches.clicked.connect(self.open_patches.emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addLayout(grid)
        layout.addSpacing(8)
        layout.addLayout(charts)
        layout.addLayout(middle)
        layout.addLayout(lower)
        row = QHBoxLayout()
        row.addWidget(button)
        row.addWidget(button_patches)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)

    def _list(self, name: str, accessible: str) -> QListWidget:
        """A list whose lines open their link on a click or Enter."""
        view = QListWidget()
        view.setObjectName(name)
        view.setAccessibleName(accessible)
        view.setUniformItemSizes(True)
        view.setMinimumHeight(view.fontMetrics().height() * 5)
        view.setMaximumHeight(view.fontMetrics().height() * 11 + 12)
        # A click, or Enter (activation); where a click also activates, the link opens
        # twice, which shows the same page the same way.
        view.itemClicked.connect(self._on_list_activated)
        view.itemActivated.connect(self._on_list_activated)
        return view

    @staticmethod
    def _column(title: str, widget: QWidget) -> QVBoxLayout:
        column = QVBoxLayout()
        column.addWidget(plain_label(title, role="section"))
        column.addWidget(widget)
        column.addStretch(1)
        return column

    # -- data -------------------------------------------------------------------------------
    def load(self) -> None:
        """Recompute the figures from the site's assets, scans, reports and latest events."""
        from app.ui.monitor import stale_days
        from app.ui.patches import patch_counts

        def read(service: SiteService) -> tuple[Any, ...]:
            days = stale_days(service.settings())
            return (service.site(), service.assets(), service.audit_events(limit=8),
                    patch_counts(service), risk_overview(service, days))

        def show(result: tuple[Any, ...]) -> None:
            site, assets, events, counts, overview = result
            self.update_summary(site, assets, events)
            self.update_patch_summary(counts)
            self.update_risk_summary(overview)
            self.loaded.emit()

        self.read(read, "dashboard", show)

    def _on_card_clicked(self, card: Card) -> None:
        if card.link is not None:
            self.open_link.emit(card.link)

    def _on_list_activated(self, item: QListWidgetItem | None) -> None:
        link = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if isinstance(link, Link):
            self.open_link.emit(link)

    def update_patch_summary(self, counts: dict[str, int]) -> None:
        """Show the deep scans' numbers (``patches.patch_counts``)."""
        assessed = counts.get("assessed", 0)
        texts = {
            "missing": (counts.get("missing", 0),
                        f"on {counts.get('hosts', 0):,} of {assessed:,} assessed hosts"
                        if assessed else "no host assessed yet"),
            "security": (counts.get("security", 0), "patch these first"),
            "errors": (counts.get("errors", 0), "unreachable, login or sudo refused, …"),
        }
        for key, (value, detail) in self.patch_cards.items():
            number, note = texts[key]
            value.setText(f"{number:,}")
            detail.setText(note)

    def update_risk_summary(self, overview: RiskOverview) -> None:
        """Show compliance (with the hosts it leaves out), overdue updates by priority,
        coverage, the charts, the hosts needing attention and the top risks."""
        c = overview.compliance
        never, stale = overview.never_ids, overview.stale_ids
        value, detail = self.risk_cards["compliance"]
        value.setText("—" if c.percent is None else f"{c.percent:.1f} %")
        note = (f"{c.on_time:,} of {c.pairs:,} security updates within their SLA"
                + (f" · {c.excepted:,} under exception" if c.excepted else "")
                if c.pairs else "no missing security update known")
        if c.percent is None:
            note = f"none of {c.assets:,} covered hosts assessed"
        elif c.not_assessed:
            note += f" · {c.not_assessed:,} hosts not assessed"
        detail.setText(note)
        # The figure only knows the hosts that were scanned: say who is left out.
        gap = [f"{len(never):,} never assessed"] if never else []
        gap += [f"{len(overview.failed):,} failed scan"] if overview.failed else []
        warning = self.card_widgets["compliance"].warning
        warning.setText(f"Not counted: {', '.join(gap)}" if gap else "")
        warning.setVisible(bool(gap))
        value.setToolTip(f"{c.assets_compliant:,} of {c.assets:,} covered assets are "
                         "assessed and have no overdue security update; "
                         f"{c.not_assessed:,} not assessed.")
        value, detail = self.risk_cards["overdue"]
        counts = overview.overdue_by_priority
        value.setText(f"{sum(counts.values()):,}")
        detail.setText(" · ".join(f"{n:,} {name}" for name, n in counts.items()))
        value, detail = self.risk_cards["coverage"]
        failed = overview.failed
        value.setText(f"{len(never) + len(failed) + len(stale):,}")
        detail.setText(f"{len(never) + len(failed):,} never"
                       + (f" ({len(failed):,} failed scan{'s' if len(failed) != 1 else ''})"
                          if failed else "")
                       + f" · {len(stale):,} older than {overview.stale_days} days")
        value.setToolTip("\n".join([*(f"never: {n}" for _i, n in never[:15]),
                                     *(f"stale: {n}" for _i, n in stale[:15])]))
        self.card_widgets["coverage"].set_link(Link(
            "inventory", "assets never assessed or assessed too long ago",
            tuple(i for i, _n in [*never, *stale]) + tuple(i for i, _n, _w in failed)))
        self.card_widgets["errors"].set_link(Link(
            "inventory", "assets whose last deep scan failed",
            tuple(i for i, _n, _w in overview.failed)))

        if overview.figures is not None:
            severity = list(overview.figures.by_severity.items())
            self.severity_chart.set_items(severity, SEVERITY_COLOURS)
        self.trend_chart.set_points(overview.trend)

        self.attention.clear()
        for asset_id, name, why in overview.failed:
            self._add_line(self.attention, f"✖ {name} — last scan failed: {why}",
                           Link("asset", name, (asset_id,)))
        for asset_id, name in never:
            self._add_line(self.attention, f"○ {name} — never assessed",
                           Link("asset", name, (asset_id,)))
        for feed in overview.stale_feeds:  # risk scores lean on old data: say so
            self._add_line(self.attention, f"⚠ Stale feed {feed} — update it on the Policy "
                           "page", Link("policy", "vulnerability feeds"))
        if not self.attention.count():
            self._add_line(self.attention, "Every host with an address was assessed and its "
                           "last scan succeeded.", None)

        self.top_risks.clear()
        for item in overview.top:
            flags = ", ".join([str(item.priority), *(["KEV"] if item.kev else []),
                               *(["overdue"] if item.overdue else [])])
            self._add_line(self.top_risks,
                           f"{item.risk.score:>3}  {item.package} on {item.host}  ({flags})",
                           Link("risk", f"{item.package} on {item.host}",
                                item=(item.asset_id, item.package)))
        if not overview.top:
            self._add_line(self.top_risks,
                           "No missing update known on the assets the policy covers.", None)

    def _add_line(self, view: QListWidget, text: str, link: Link | None) -> None:
        item = QListWidgetItem(text)
        item.setToolTip(text)
        if link is not None:
            item.setData(Qt.ItemDataRole.UserRole, link)
        else:
            item.setFlags(Qt.ItemFlag.NoItemFlags)
        view.addItem(item)

    def risk_lines(self) -> list[str]:
        """The top-risk lines as shown."""
        return [self.top_risks.item(i).text() for i in range(self.top_risks.count())]

    def attention_lines(self) -> list[str]:
        """The hosts-needing-attention lines as shown."""
        return [self.attention.item(i).text() for i in range(self.attention.count())]

    def update_summary(self, site: Site | None, assets: Sequence[Asset],
                       events: Sequence[AuditEvent]) -> None:
        """Recompute the inventory cards from the site's assets and latest audit events."""
        today = date.today()
        if site is not None:
            parts = [site.name] + ([site.client] if site.client != site.name else [])
            self.subtitle.setText(" · ".join(p for p in parts if p))
        for key, title, note, test in _INVENTORY_CARDS:
            ids = tuple(int(a.id) for a in assets if a.id is not None and test(a, today))
            value, detail = self.cards[key]
            value.setText(f"{len(ids):,}")
            detail.setText(note)
            self.card_widgets[key].set_link(
                Link("inventory", "" if key == "assets" else title.lower(),
                     None if key == "assets" else ids),
                "Show every asset" if key == "assets" else f"Show the assets: {title.lower()}")
        if assets:
            fams = Counter(os_family_label(a.os_family) for a in assets)
            kinds = Counter(enum_label(a.kind) for a in assets)
            lines = [f"{n:>5,}  {name}" for name, n in fams.most_common(6)]
            lines.append("")
            lines += [f"{n:>5,}  {name}" for name, n in kinds.most_common(6)]
            self.breakdown.setText("\n".join(lines))
        else:
            self.breakdown.setText(
                "No assets yet. Add them by hand or import a CSV from the Inventory page."
            )
        self.recent.setText("\n".join(
            f"{local_time(e.ts)}  {e.actor}  {e.action}"
            + (f"  {e.details.get('label')}" if e.details.get("label") else "")
            for e in events[:8]
        ) or "Nothing recorded yet.")
