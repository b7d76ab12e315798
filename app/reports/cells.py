"""Small formatting helpers and limits the report's sections share (dates, numbers,
severity and priority cells)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from app.core.models import AssetPatch, Severity
from app.core.policy import Priority
from app.core.risk import Decision, RiskItem
from app.reports.pdf import BAD, GOOD, MUTED, WARN
from app.reports.table import Cell

STATUS_COLOURS = {"met": GOOD, "partly": WARN, "not met": BAD, "n/a": MUTED}
SEVERITY_TEXT = {Severity.CRITICAL: BAD, Severity.IMPORTANT: WARN}
PRIORITY_TEXT = {Priority.EMERGENCY: BAD, Priority.HIGH: WARN}
DECISION_TEXT = {Decision.PATCH_NOW: "patch now", Decision.SCHEDULE: "schedule",
                 Decision.EXCEPTION: "exception"}
MAX_LOG_LINES = 150
MAX_HOST_PATCHES = 60
MAX_TOC_DEPLOYMENTS = 12


def _d(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _some(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _sev(p: AssetPatch | Severity) -> Cell:
    sev = p if isinstance(p, Severity) else p.severity
    return Cell(str(sev), color=SEVERITY_TEXT.get(sev), bold=sev in SEVERITY_TEXT)


def _prio(priority: Priority) -> Cell:
    return Cell(str(priority), color=PRIORITY_TEXT.get(priority),
                bold=priority in PRIORITY_TEXT)


def _due(item: RiskItem) -> Cell:
    """The due date, in red with "overdue" once it has passed."""
    if item.overdue:
        return Cell(f"{item.due:%Y-%m-%d} overdue", color=BAD, bold=True)
    return Cell(f"{item.due:%Y-%m-%d}")


def _update_name(item: RiskItem) -> str:
    return f"{item.package} {item.candidate_version}".strip() + (f" ({item.kb})" if item.kb
                                                                else "")
