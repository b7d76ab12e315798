"""What a report shows, collected from the services and reduced to figures (Qt-free).

The reports service (:meth:`app.services.reports.ReportService.collect`) reads the site
once into a :class:`ReportData`; everything after that (figures, top risks, the audit
checklist) is a pure function of it, so tests can check the numbers without reading a PDF.
The risk items (score, priority, due date, KEV, review) are computed once, and the
compliance figure is the one of those items: the same figure the dashboard and
``patchdesk compliance`` show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core.audit import ChainProblem
from app.core.deployment import Deployment, HostState, Phase, Stage
from app.core.errors import UserError
from app.core.frameworks import FrameworkResult
from app.core.models import (
    Asset,
    AssetPatch,
    AuditEvent,
    Classification,
    Site,
)
from app.core.patchgroups import SEVERITY_ORDER
from app.core.policy import PolicyVersion, Role
from app.core.risk import PRIORITY_ORDER, Compliance, Decision, Review, RiskItem
from app.store.assessments import AssessmentRecord
from app.store.reports import ReportRun
from app.store.risk import KevImport

#: Section keys in report order, with their titles.
SECTIONS: dict[str, str] = {
    "exec": "Executive summary",
    "inventory": "Inventory",
    "patches": "Missing patches",
    "deployments": "Deployments",
    "exceptions": "Exceptions and urgency decisions",
    "checklist": "Patch-audit checklist",
    "hosts": "Per-host appendix",
}

#: An asset counts as current when it was assessed or seen this recently.
CURRENT_DAYS = 30
#: How many prioritised items the executive summary lists as top risks.
TOP_RISKS = 10
#: Marks stored figures whose ``compliance_pct`` is the SLA compliance figure
#: (:func:`app.core.risk.compliance`). Reports stored before it measured the share of
#: assessed assets without a missing security update under that key.
COMPLIANCE_BASIS = "sla"

#: Severities as the report lists them: the worst first.
SEVERITIES_WORST_FIRST = tuple(reversed(SEVERITY_ORDER))
CRITICALITY_FIELDS = ("impact", "data_sensitivity", "critical_operations", "public_facing",
                      "internet_facing")


def parse_sections(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Section keys from ``exec,inventory,...`` (None or "all": every section), in order.

    Raises:
        UserError: naming an unknown section and the known ones.
    """
    if text is None:
        return tuple(SECTIONS)
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {s.strip().lower() for s in items if s.strip()}
    if not wanted or wanted == {"all"}:
        return tuple(SECTIONS)
    unknown = sorted(wanted - set(SECTIONS))
    if unknown:
        raise UserError(f"Unknown report section(s): {', '.join(unknown)}; choose from "
                        f"{', '.join(SECTIONS)}.")
    return tuple(s for s in SECTIONS if s in wanted)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What the user asked for: sections and the period (inclusive dates, either open)."""

    sections: tuple[str, ...] = tuple(SECTIONS)
    period_from: date | None = None
    period_to: date | None = None
    frameworks: tuple[str, ...] = ()  # compliance framework ids, one appendix each

    def __post_init__(self) -> None:
        parse_sections(self.sections)
        if self.period_from and self.period_to and self.period_from > self.period_to:
            raise UserError(f"The period starts ({self.period_from}) after it ends "
                            f"({self.period_to}).")

    def in_period(self, when: datetime | None) -> bool:
        """Whether a moment falls inside the period (unknown moments do not)."""
        if when is None:
            return self.period_from is None and self.period_to is None
        day = when.date()
        return not ((self.period_from and day < self.period_from)
                    or (self.period_to and day > self.period_to))

    @property
    def period_text(self) -> str:
        """The period as a person reads it."""
        if self.period_from and self.period_to:
            return f"{self.period_from.isoformat()} to {self.period_to.isoformat()}"
        if self.period_from:
            return f"since {self.period_from.isoformat()}"
        if self.period_to:
            return f"up to {self.period_to.isoformat()}"
        return "all recorded history"


@dataclass(frozen=True, slots=True)
class Figures:
    """The key numbers of a site at one moment (stored with each report for the trend)."""

    assets: int
    assessed: int
    assessment_failed: int
    not_assessed: int
    compliant: int  # assessed and no missing security update
    fully_patched: int  # assessed and no missing update at all
    missing_total: int
    missing_security: int
    hosts_with_missing: int
    reboot_required: int
    by_severity: dict[str, int]
    by_classification: dict[str, int]
    by_os: dict[str, int]
    sla: Compliance | None = None  # the SLA compliance figure (SiteService.compliance)
    overdue_by_priority: dict[str, int] = field(default_factory=dict)  # every kind in scope

    @property
    def compliance_pct(self) -> float | None:
        """The SLA compliance figure, as the dashboard shows it (None: not computed)."""
        return None if self.sla is None else self.sla.percent

    @property
    def assets_compliant_pct(self) -> float | None:
        """Share of assessed assets with no missing security update (None: none assessed);
        what reports called "compliance" before the patch policy existed."""
        return None if not self.assessed else 100.0 * self.compliant / self.assessed

    @property
    def overdue(self) -> int:
        """Missing updates past their due date (every update kind the policy covers)."""
        return sum(self.overdue_by_priority.values())

    def to_dict(self) -> dict[str, Any]:
        """The figures a later report compares to (stored with the report run)."""
        sla = self.sla
        return {
            "assets": self.assets, "assessed": self.assessed, "compliant": self.compliant,
            "compliance_pct": self.compliance_pct,
            "compliance_basis": COMPLIANCE_BASIS,
            "sla_pairs": sla.pairs if sla else None,
            "sla_overdue": sla.overdue if sla else None,
            "sla_excepted": sla.excepted if sla else None,
            "assets_with_overdue": sla.assets_with_overdue if sla else None,
            "overdue": self.overdue,
            "assets_compliant_pct": None if self.assets_compliant_pct is None
            else round(self.assets_compliant_pct, 1),
            "fully_patched": self.fully_patched, "missing_total": self.missing_total,
            "missing_security": self.missing_security,
            "critical": self.by_severity.get("critical", 0),
            "important": self.by_severity.get("important", 0),
            "hosts_with_missing": self.hosts_with_missing,
        }


def stored_figure(figures: dict[str, Any], key: str) -> Any:
    """A figure of a stored report run, read across the change of definition.

    Runs stored before :data:`COMPLIANCE_BASIS` kept the asset-based share under
    ``compliance_pct``: for them that is ``assets_compliant_pct`` and they have no SLA
    compliance figure (None), so a trend never compares the two definitions.
    """
    current = figures.get("compliance_basis") == COMPLIANCE_BASIS
    if key == "compliance_pct":
        return figures.get(key) if current else None
    if key == "assets_compliant_pct" and not current:
        return figures.get("compliance_pct")
    return figures.get(key)


def compliance_trend(history: Sequence[ReportRun], now_pct: float | None,
                     options: ReportOptions | None = None,
                     keep: int = 11) -> list[tuple[str, float]]:
    """The SLA-compliance points the report's trend chart draws (and the dashboard's): the
    last ``keep`` stored reports in the period that have the figure, by day, then "now"."""
    options = options or ReportOptions()
    points = [(r.generated_at.strftime("%Y-%m-%d"),
               float(stored_figure(r.figures, "compliance_pct")))
              for r in history
              if stored_figure(r.figures, "compliance_pct") is not None
              and options.in_period(r.generated_at)][-keep:]
    if now_pct is not None:
        points.append(("now", float(now_pct)))
    return points


def os_label(asset: Asset) -> str:
    """The OS an asset is counted under in "devices by OS"."""
    if asset.os_name:
        return f"{asset.os_name} {asset.os_version}".strip()
    return str(asset.os_family) if str(asset.os_family) != "unknown" else "Unknown"


def compute_figures(assets: Sequence[Asset], assessments: dict[int, AssessmentRecord],
                    missing: Sequence[AssetPatch], sla: Compliance | None = None,
                    items: Sequence[RiskItem] = ()) -> Figures:
    """The key numbers from the inventory, the latest deep scans and the missing updates,
    with the SLA compliance figure and the prioritised items it was made of."""
    ids = {int(a.id or 0) for a in assets}
    ok = {i for i, r in assessments.items() if r.ok and i in ids}
    failed = {i for i, r in assessments.items() if not r.ok and i in ids}
    per_host: Counter[int] = Counter()
    security_hosts: set[int] = set()
    by_sev: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    security = 0
    for p in missing:
        per_host[p.asset_id] += 1
        by_sev[str(p.severity)] += 1
        by_class[str(p.classification)] += 1
        if p.classification is Classification.SECURITY:
            security += 1
            security_hosts.add(p.asset_id)
    return Figures(
        assets=len(assets),
        assessed=len(ok),
        assessment_failed=len(failed),
        not_assessed=len(ids - ok - failed),
        compliant=len(ok - security_hosts),
        fully_patched=len({i for i in ok if not per_host[i]}),
        missing_total=len(missing),
        missing_security=security,
        hosts_with_missing=len([i for i in per_host if per_host[i]]),
        reboot_required=sum(1 for i in ok if assessments[i].reboot_required),
        by_severity={str(s): by_sev[str(s)] for s in SEVERITIES_WORST_FIRST if by_sev[str(s)]},
        by_classification=dict(by_class.most_common()),
        by_os=dict(Counter(os_label(a) for a in assets).most_common()),
        sla=sla,
        overdue_by_priority=overdue_by_priority(items),
    )


def overdue_by_priority(items: Sequence[RiskItem]) -> dict[str, int]:
    """Overdue items per priority, highest priority first (priorities with none left out)."""
    counts = Counter(str(i.priority) for i in items if i.overdue)
    return {str(p): counts[str(p)] for p in PRIORITY_ORDER if counts[str(p)]}


def short_why(item: RiskItem) -> str:
    """The factors that add points to an item's score, briefly ("why this score")."""
    parts = []
    for f in item.risk.factors:
        if not f.points:
            continue
        if f.name == "severity":
            label = f"severity {item.severity}" if "CVSS" not in f.detail else f.detail
        elif f.name == "security update":
            label = "security"
        elif f.name == "known exploited (CISA KEV)":
            label = "known exploited (KEV)"
        elif f.name in ("CVSS base score", "EPSS exploit probability"):
            label = f"{f.name.split()[0]} {f.detail.split()[0]}"
        elif f.name == "asset impact":
            label = f"impact {f.detail}"
        elif f.name == "age":
            label = f"age {f.detail.split()[0]} d"
        else:
            label = f.name
        parts.append(f"{label} +{f.points}")
    text = ", ".join(parts) or "no risk factor"
    return text + ("; KEV: at least high" if item.risk.kev_floor else "")


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One step of the patch-audit checklist, judged from the data."""

    step: str
    status: str  # "met" | "partly" | "not met" | "n/a"
    evidence: str


@dataclass(slots=True)
class ReportData:
    """Everything one report shows, read from the site in one go."""

    site: Site
    site_path: str
    options: ReportOptions
    generated_at: datetime
    generated_by: str
    assets: list[Asset]
    assessments: dict[int, AssessmentRecord]
    missing: list[AssetPatch]
    excepted: list[AssetPatch]
    deployments: list[Deployment]
    deployment_logs: dict[int, list[dict[str, Any]]]
    audit_events: list[AuditEvent]
    audit_total: int
    audit_problems: list[ChainProblem]
    vault_in_use: bool
    credentials: int
    policy: PolicyVersion  # the version in force (0: the built-in defaults)
    policy_history: list[PolicyVersion]  # every saved version, newest first
    risk_items: list[RiskItem]  # SiteService.risk_items at generated_at, highest risk first
    compliance: Compliance  # SiteService.compliance of those same items
    kev: KevImport | None  # the last KEV import (None: never, so nothing is flagged)
    reviews: list[Review]  # every urgency review and exception, oldest first
    history: list[ReportRun] = field(default_factory=list)
    frameworks: list[FrameworkResult] = field(default_factory=list)  # options.frameworks
    #: The audit log's head and whether its seals were checked, in words ([12].6).
    audit_head: str = ""
    #: Imported vulnerability feeds older than the policy allows ("FIRST EPSS: 9 days old").
    stale_feeds: list[str] = field(default_factory=list)
    figures: Figures = field(init=False)

    def __post_init__(self) -> None:
        self.figures = compute_figures(self.assets, self.assessments, self.missing,
                                       self.compliance, self.risk_items)

    def top_risks(self, limit: int = TOP_RISKS) -> list[RiskItem]:
        """The highest-risk missing updates (risk score, then the earliest due date)."""
        return self.risk_items[:limit]

    def risk_by_patch(self) -> dict[tuple[int, str], RiskItem]:
        """Prioritised items by (asset id, package); updates outside the policy are absent."""
        return {(i.asset_id, i.package): i for i in self.risk_items}

    def reviews_in_period(self) -> list[Review]:
        """Reviews recorded in the period, and exceptions in force during any of it."""
        return [r for r in self.reviews if review_in_period(r, self.options)]

    def review_effects(self) -> dict[int, list[RiskItem]]:
        """The missing updates each review currently decides (the newest covering review
        applies to an update), by review id."""
        out: dict[int, list[RiskItem]] = {}
        for item in self.risk_items:
            if item.review is not None and item.review.id is not None:
                out.setdefault(item.review.id, []).append(item)
        return out

    @property
    def previous(self) -> ReportRun | None:
        """The last report generated before this one."""
        return self.history[-1] if self.history else None

    def asset_by_id(self) -> dict[int, Asset]:
        """Assets by id."""
        return {int(a.id or 0): a for a in self.assets}

    def missing_by_host(self) -> dict[int, list[AssetPatch]]:
        """Missing updates grouped per asset."""
        out: dict[int, list[AssetPatch]] = {}
        for p in self.missing:
            out.setdefault(p.asset_id, []).append(p)
        return out

    def checklist(self) -> list[CheckItem]:
        """The patch-audit checklist, each step evaluated from the data."""
        return evaluate_checklist(self)


def review_in_period(review: Review, options: ReportOptions) -> bool:
    """Whether a review belongs in a report of the period: recorded in it, or (exceptions)
    in force during part of it."""
    if options.in_period(review.created_at):
        return True
    if review.decision is not Decision.EXCEPTION:
        return False
    start = review.created_at.date()
    end = review.expires_at.date() if review.expires_at else None
    return not ((options.period_to and start > options.period_to)
                or (options.period_from and end is not None and end < options.period_from))


def exception_status(review: Review, items: Sequence[RiskItem], now: datetime) -> str:
    """An exception's standing in words; an expired one says whether its update is overdue
    again (``items``: the missing updates the exception still decides)."""
    if not review.expired(now):
        left = (review.until - now.date()).days if review.until else 0
        return f"in force until {review.until} ({left} day(s) left)"
    when = (f"ended early on {review.ended_at:%Y-%m-%d} by {review.ended_by or 'unknown'}"
            if review.ended_at else f"last day {review.until}")
    if any(i.overdue for i in items):
        return f"expired — item overdue again ({when})"
    return f"expired ({when}); no missing update depends on it now"


def _status(good: int, total: int) -> str:
    if total == 0 or good == 0:
        return "not met"
    return "met" if good == total else "partly"


def policy_check(current: PolicyVersion, history: Sequence[PolicyVersion]) -> CheckItem:
    """ "Patch policy documented": met once a person saved a policy version, partly while
    only the built-in defaults apply."""
    sla = ", ".join(f"{p} {hours_text(h)}" for p, h in current.policy.sla_hours)
    if current.version == 0:
        return CheckItem(
            "Patch policy documented", "partly",
            "Nobody has saved a patch policy for this site yet, so PatchDesk's built-in "
            f"default policy (version 0) applies: SLAs {sla}. Save the site's own policy "
            "(responsible person, approvers, windows) to meet this step; see the Patch "
            "policy appendix.")
    people = current.policy.holders(Role.RESPONSIBLE)
    return CheckItem(
        "Patch policy documented", "met",
        f"Patch policy version {current.version} saved by {current.author or 'unknown'} on "
        f"{current.created_at:%Y-%m-%d}" + (f" ({len(history)} version(s) kept)"
                                            if len(history) > 1 else "")
        + f"; responsible: {', '.join(people) or 'nobody named'}; SLAs {sla}; "
        f"{len(current.policy.windows)} maintenance window(s). Printed in the Patch policy "
        "appendix.")


def hours_text(hours: int) -> str:
    """An SLA in words: "48 hours", "7 days"."""
    count, unit = (hours // 24, "day") if hours % 24 == 0 else (hours, "hour")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def evaluate_checklist(data: ReportData) -> list[CheckItem]:
    """Judge each audit step from the data as met / partly / not met (or n/a) with evidence."""
    items: list[CheckItem] = []
    now = data.generated_at
    cutoff = now - timedelta(days=CURRENT_DAYS)
    total = len(data.assets)
    current = 0
    never = 0
    for a in data.assets:
        record = data.assessments.get(int(a.id or 0))
        seen = [t for t in (a.last_seen, record.finished_at if record and record.ok else None)
                if t is not None]
        if record is None or not record.ok:
            never += 1
        if seen and max(seen) >= cutoff:
            current += 1
    items.append(CheckItem(
        "Inventory complete and current", _status(current, total),
        f"{total} asset(s) in the inventory; {current} assessed or seen by discovery in the "
        f"last {CURRENT_DAYS} days; {never} without a successful deep scan."
        if total else "The inventory is empty."))

    answered = sum(1 for a in data.assets if any(f in a.field_sources
                                                 for f in CRITICALITY_FIELDS))
    items.append(CheckItem(
        "Priorities set (asset criticality)", _status(answered, total),
        f"{answered} of {total} asset(s) have their impact / criticality answers recorded."))

    items.append(policy_check(data.policy, data.policy_history))

    started = [d for d in data.deployments if d.phase is not Phase.PLANNED]
    if not started:
        items.append(CheckItem("Patches tested before deployment", "n/a",
                               "No deployment was started in the period."))
    else:
        tested = [d for d in started if d.stage_targets(Stage.TEST) and d.approval]
        items.append(CheckItem(
            "Patches tested before deployment", _status(len(tested), len(started)),
            f"{len(tested)} of {len(started)} deployment(s) in the period went through a "
            "test ring and a named approval."
            + ("" if len(tested) == len(started) else " Without: "
               + ", ".join(f"#{d.id}" for d in started if d not in tested) + ".")))

    intact = not data.audit_problems
    if intact:
        audit_text = f"Audit log intact: {data.audit_total} event(s), hash chain verified."
    else:
        rows = sorted({p.row_id for p in data.audit_problems})
        audit_text = ("Audit log TAMPERED (rows " + ", ".join(str(r) for r in rows) + "): "
                      + "; ".join(p.problem for p in data.audit_problems[:5]) + ".")
    if data.audit_head:  # anchor it outside the file; says what could not be checked
        audit_text += f" {data.audit_head[0].upper()}{data.audit_head[1:]}."
    vault_text = (f"Credentials are kept in the encrypted vault ({data.credentials} stored)."
                  if data.vault_in_use else "No credential vault is in use yet.")
    items.append(CheckItem(
        "Efforts documented and access restricted",
        "not met" if not intact else ("met" if data.vault_in_use else "partly"),
        f"{audit_text} {len(data.audit_events)} event(s) in the period. {vault_text}"))

    finished = [d for d in started if d.phase in (Phase.DONE, Phase.ROLLED_BACK,
                                                  Phase.VERIFICATION)
                or any(t.verified for t in d.targets)]
    verified = [d for d in started if any(t.verified for t in d.targets)]
    if not started:
        items.append(CheckItem("Deployment audited and verified", "n/a",
                               "No deployment was started in the period."))
    else:
        items.append(CheckItem(
            "Deployment audited and verified", _status(len(verified), len(started)),
            f"{len(verified)} of {len(started)} deployment(s) have a verification rescan "
            f"recorded ({len(finished)} reached verification or later); every step is in "
            "the deployment log and the audit log."))

    installed = [d for d in started if any(t.state in (HostState.SUCCEEDED, HostState.FAILED,
                                                       HostState.ROLLED_BACK)
                                           for t in d.targets)]
    kept = [d for d in installed if any(t.health_before.get("kept") for t in d.targets)]
    rolled = [d for d in started if d.phase in (Phase.ROLLED_BACK, Phase.ROLLING_BACK)
              or any(t.state is HostState.ROLLED_BACK for t in d.targets)]
    if not installed:
        items.append(CheckItem("Rollback plan", "n/a",
                               "No deployment installed anything in the period."))
    else:
        items.append(CheckItem(
            "Rollback plan", _status(len(kept), len(installed)),
            f"{len(kept)} of {len(installed)} deployment(s) kept the previous package "
            f"versions for rollback; {len(rolled)} rollback(s) recorded."))

    prev = data.previous
    items.append(CheckItem(
        "Reporting", "met",
        f"This report, generated {data.generated_at:%Y-%m-%d %H:%M} UTC by "
        f"{data.generated_by}."
        + (f" Previous report: {prev.generated_at:%Y-%m-%d %H:%M} UTC." if prev else
           " It is the first report of this site.")))
    return items


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What a generated report holds."""

    path: Path
    pages: int
    seconds: float
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": str(self.path), "pages": self.pages,
                "seconds": round(self.seconds, 2), "figures": self.figures}
