"""Risk per (asset, update), priorities, due dates, urgency reviews and the compliance figure.

Pure functions over plain data. The score is a sum of named points, so every score can be
explained factor by factor ("why this score"):

=====================================  ==========================================
factor                                 points
=====================================  ==========================================
severity (vendor, or CVSS band when    critical 40, important 30, moderate 20,
higher)                                low 10, unknown 15 (security) / 5 (other)
security update                        10
known exploited (CISA KEV)             35, and 5 more if used by ransomware
CVSS base score (NVD; highest of the   ≥ 9.0: 10, ≥ 7.0: 5, lower 0
update's CVEs)
EPSS probability (FIRST; highest of    ≥ 50 %: 15, ≥ 10 %: 10, ≥ 1 %: 5, lower 0
the update's CVEs)
asset impact if down                   critical 15, high 10, low 0, none 0
sensitive data                         payment 8, health 8, personal 5 (each)
critical operations                    5
public-facing / internet-facing        8 / 8
age since first seen missing           1 per full week, at most 10
=====================================  ==========================================

The score is the sum capped at 100; the priority follows from it (emergency ≥ 75, high ≥ 50,
standard ≥ 25, else low), except that a known-exploited update is always at least high
(tech-notes §7: KEV overrides vendor severity). CVSS also raises the severity points when it
puts the update in a higher band than the vendor did. CVSS and EPSS come from the site's
imported feeds (``feeds import nvd|epss``); their factors name the value, the CVE and the
source, and are absent (not zero) when no feed knows the update's CVEs.

Due dates come from the policy's SLA of the priority, counted from the day the update was
first seen missing. An urgency review changes that: "patch now" brings the due date forward
to the emergency SLA from the decision; an exception replaces the due date with its expiry,
so once it expires (or is ended early) the item is overdue again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.core.errors import FieldError, ValidationError
from app.core.feeds import CveIntel
from app.core.kev import CVE_ID, KevEntry, kev_matches
from app.core.models import (
    Asset,
    AssetPatch,
    Classification,
    DataSensitivity,
    Impact,
    Severity,
    StrEnum,
)
from app.core.policy import Policy, Priority

SEVERITY_POINTS: dict[Severity, int] = {
    Severity.CRITICAL: 40, Severity.IMPORTANT: 30, Severity.MODERATE: 20, Severity.LOW: 10,
}
UNKNOWN_SECURITY_POINTS = 15  # a security update whose platform gives no severity
UNKNOWN_OTHER_POINTS = 5
SECURITY_POINTS = 10
KEV_POINTS = 35
RANSOMWARE_POINTS = 5
IMPACT_POINTS: dict[Impact, int] = {
    Impact.CRITICAL: 15, Impact.HIGH: 10, Impact.LOW: 0, Impact.NONE: 0,
}
DATA_POINTS: dict[DataSensitivity, int] = {
    DataSensitivity.PAYMENT: 8, DataSensitivity.HEALTH: 8, DataSensitivity.PERSONAL: 5,
}
CRITICAL_OPERATIONS_POINTS = 5
PUBLIC_FACING_POINTS = 8
INTERNET_FACING_POINTS = 8
#: (lowest CVSS base score, points), highest first.
CVSS_POINTS: tuple[tuple[float, int], ...] = ((9.0, 10), (7.0, 5))
#: (lowest EPSS probability, points), highest first.
EPSS_POINTS: tuple[tuple[float, int], ...] = ((0.5, 15), (0.1, 10), (0.01, 5))
AGE_POINTS_PER_WEEK = 1
AGE_POINTS_MAX = 10
MAX_SCORE = 100
#: Lowest score of each priority, highest first.
THRESHOLDS: tuple[tuple[Priority, int], ...] = (
    (Priority.EMERGENCY, 75), (Priority.HIGH, 50), (Priority.STANDARD, 25), (Priority.LOW, 0),
)
PRIORITY_ORDER: tuple[Priority, ...] = tuple(p for p, _ in THRESHOLDS)


def cvss_severity(cvss: float) -> Severity:
    """The CVSS v3 qualitative band of a base score (9.0 critical, 7.0 high, 4.0 medium)."""
    if cvss >= 9.0:
        return Severity.CRITICAL
    if cvss >= 7.0:
        return Severity.IMPORTANT
    if cvss >= 4.0:
        return Severity.MODERATE
    return Severity.LOW if cvss > 0 else Severity.UNKNOWN


@dataclass(frozen=True, slots=True)
class Factor:
    """One named contribution to a score."""

    name: str
    points: int
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.detail} ({self.points:+d})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"factor": self.name, "points": self.points, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class RiskInput:
    """Everything the score looks at for one update on one asset."""

    severity: Severity = Severity.UNKNOWN
    security: bool = False
    kev: tuple[str, ...] = ()  # the update's CVE ids listed in the KEV catalogue
    kev_ransomware: bool = False
    cvss: float | None = None
    cvss_detail: str = ""  # vector, CVE and source of the CVSS score
    epss: float | None = None  # highest EPSS probability of the update's CVEs
    epss_detail: str = ""  # percentile, CVE and source
    impact: Impact = Impact.LOW
    data: tuple[DataSensitivity, ...] = ()
    critical_operations: bool = False
    public_facing: bool = False
    internet_facing: bool = False
    age_days: int = 0


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A score, its priority and the factors that make it up."""

    score: int
    priority: Priority
    factors: tuple[Factor, ...]
    raw: int  # the sum before the cap
    kev_floor: bool = False  # the priority was raised to "high" because of KEV

    @property
    def why(self) -> str:
        """One line naming each contributing factor and its points."""
        parts = [str(f) for f in self.factors if f.points]
        text = "; ".join(parts) or "no risk factor"
        cap = f", capped at {MAX_SCORE}" if self.raw > MAX_SCORE else ""
        floor = "; known exploited, so at least high" if self.kev_floor else ""
        return f"{text} = {self.raw}{cap} → {self.priority}{floor}"


def _band(value: float, bands: tuple[tuple[float, int], ...]) -> int:
    return next((points for low, points in bands if value >= low), 0)


def score(inp: RiskInput) -> RiskScore:
    """Score one update on one asset (see the module docstring for the table)."""
    factors: list[Factor] = []
    vendor = SEVERITY_POINTS.get(inp.severity)
    if vendor is None:
        vendor = UNKNOWN_SECURITY_POINTS if inp.security else UNKNOWN_OTHER_POINTS
    band = cvss_severity(inp.cvss) if inp.cvss is not None else Severity.UNKNOWN
    if band in SEVERITY_POINTS and SEVERITY_POINTS[band] > vendor:
        factors.append(Factor("severity", SEVERITY_POINTS[band],
                              f"CVSS {inp.cvss:.1f} ({band}), above the vendor's "
                              f"'{inp.severity}'"))
    else:
        cvss = f", CVSS {inp.cvss:.1f}" if inp.cvss is not None else ""
        factors.append(Factor("severity", vendor, f"{inp.severity}{cvss}"))
    factors.append(Factor("security update", SECURITY_POINTS if inp.security else 0,
                          "yes" if inp.security else "no"))
    factors.append(Factor("known exploited (CISA KEV)", KEV_POINTS if inp.kev else 0,
                          ", ".join(inp.kev) if inp.kev else "no"))
    if inp.kev and inp.kev_ransomware:
        factors.append(Factor("used in ransomware campaigns", RANSOMWARE_POINTS, "yes"))
    if inp.cvss is not None:
        factors.append(Factor("CVSS base score", _band(inp.cvss, CVSS_POINTS),
                              f"{inp.cvss:.1f} {inp.cvss_detail}".strip()))
    if inp.epss is not None:
        factors.append(Factor("EPSS exploit probability", _band(inp.epss, EPSS_POINTS),
                              f"{inp.epss:.1%} {inp.epss_detail}".strip()))
    factors.append(Factor("asset impact", IMPACT_POINTS[inp.impact], str(inp.impact)))
    for kind in DataSensitivity:
        if kind in inp.data:
            factors.append(Factor(f"{kind} data", DATA_POINTS[kind], "held"))
    if not inp.data:
        factors.append(Factor("sensitive data", 0, "none"))
    factors.append(Factor("critical operations",
                          CRITICAL_OPERATIONS_POINTS if inp.critical_operations else 0,
                          "yes" if inp.critical_operations else "no"))
    factors.append(Factor("public-facing", PUBLIC_FACING_POINTS if inp.public_facing else 0,
                          "yes" if inp.public_facing else "no"))
    factors.append(Factor("internet-facing",
                          INTERNET_FACING_POINTS if inp.internet_facing else 0,
                          "yes" if inp.internet_facing else "no"))
    weeks = max(0, inp.age_days) // 7
    factors.append(Factor("age", min(AGE_POINTS_MAX, weeks * AGE_POINTS_PER_WEEK),
                          f"{max(0, inp.age_days)} days missing"))
    raw = sum(f.points for f in factors)
    value = max(0, min(MAX_SCORE, raw))
    priority = next(p for p, low in THRESHOLDS if value >= low)
    floor = bool(inp.kev) and PRIORITY_ORDER.index(priority) > PRIORITY_ORDER.index(
        Priority.HIGH)
    if floor:
        priority = Priority.HIGH
    return RiskScore(value, priority, tuple(factors), raw, floor)


# -- urgency reviews -------------------------------------------------------------------------
class Decision(StrEnum):
    """What a named person decided about an urgent update."""

    PATCH_NOW = "patch_now"
    SCHEDULE = "schedule"
    EXCEPTION = "exception"  # workaround + exception, with an expiry date


#: The longest an exception may run before it must be reviewed again.
MAX_EXCEPTION_DAYS = 366


@dataclass(frozen=True, slots=True)
class Review:
    """An urgency review: a decision about one update (or one CVE) on one or all hosts."""

    decision: Decision
    reason: str
    decided_by: str
    created_at: datetime
    package: str = ""  # empty: every update carrying ``cve``
    cve: str = ""  # empty: the update ``package`` whatever its CVEs
    asset_id: int | None = None  # None: every host
    host: str = ""  # the host's label when the review was recorded
    until: date | None = None  # exceptions: valid through this day (UTC)
    planned: date | None = None  # schedule: the planned day
    ended_at: datetime | None = None  # an exception ended early
    ended_by: str = ""
    id: int | None = None

    def covers(self, asset_id: int, package: str, cves: Sequence[str]) -> bool:
        """Whether this review is about an update on an asset."""
        if self.asset_id is not None and self.asset_id != asset_id:
            return False
        if self.package and self.package != package:
            return False
        return not self.cve or self.cve in cves

    @property
    def expires_at(self) -> datetime | None:
        """When an exception stops covering its update (None for other decisions)."""
        if self.decision is not Decision.EXCEPTION:
            return None
        if self.ended_at is not None:
            return self.ended_at
        if self.until is None:
            return None
        return datetime.combine(self.until + timedelta(days=1), time(), UTC)

    def expired(self, now: datetime) -> bool:
        """Whether an exception has run out (or was ended)."""
        at = self.expires_at
        return at is not None and at <= now

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready form (with ``expired`` when ``now`` is given)."""
        data: dict[str, Any] = {
            "id": self.id, "decision": str(self.decision), "package": self.package or None,
            "cve": self.cve or None, "asset_id": self.asset_id, "host": self.host or None,
            "reason": self.reason, "decided_by": self.decided_by,
            "created_at": self.created_at.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "planned": self.planned.isoformat() if self.planned else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ended_by": self.ended_by or None,
        }
        if now is not None and self.decision is Decision.EXCEPTION:
            data["expired"] = self.expired(now)
        return data


def check_review(review: Review, today: date) -> Review:
    """Validate a new review and return it normalised.

    Raises:
        ValidationError: naming every problem.
    """
    errors: list[FieldError] = []
    reason = " ".join(review.reason.split())
    by = " ".join(review.decided_by.split())
    cve = review.cve.strip().upper()
    if not reason:
        errors.append(FieldError("reason", "say why (the justification is required)"))
    if len(reason) > 5000:
        errors.append(FieldError("reason", "is longer than 5,000 characters"))
    if not by:
        errors.append(FieldError("by", "name the person who decided"))
    if not review.package.strip() and not cve:
        errors.append(FieldError("patch", "name the update (package / KB) or a CVE"))
    if cve and not CVE_ID.fullmatch(cve):
        errors.append(FieldError("cve", f"'{review.cve}' is not a CVE id"))
    if review.decision is Decision.EXCEPTION:
        if review.until is None:
            errors.append(FieldError("until", "an exception needs an expiry date"))
        elif review.until < today:
            errors.append(FieldError("until", "an exception must expire today or later"))
        elif review.until > today + timedelta(days=MAX_EXCEPTION_DAYS):
            errors.append(FieldError("until", f"an exception may run at most "
                                     f"{MAX_EXCEPTION_DAYS} days before it is reviewed"))
    elif review.until is not None:
        errors.append(FieldError("until", "only an exception has an expiry date"))
    if review.planned is not None and review.decision is not Decision.SCHEDULE:
        errors.append(FieldError("date", "only a 'schedule' decision has a planned date"))
    if review.planned is not None and review.planned < today:
        errors.append(FieldError("date", "the planned date is in the past"))
    if errors:
        raise ValidationError(errors)
    return Review(review.decision, reason, by, review.created_at, review.package.strip(), cve,
                  review.asset_id, review.host, review.until, review.planned, id=review.id)


# -- prioritised items -----------------------------------------------------------------------
class ItemState(StrEnum):
    """Where an item stands with respect to its review."""

    OPEN = "open"  # no review yet
    PATCH_NOW = "patch_now"
    SCHEDULED = "scheduled"
    EXCEPTED = "excepted"  # an exception covers it until it expires
    EXCEPTION_EXPIRED = "exception_expired"  # back for review, and overdue


@dataclass(frozen=True, slots=True)
class RiskItem:
    """One missing update on one asset with its score, due date and review."""

    asset_id: int
    host: str
    ip: str
    package: str
    kb: str
    candidate_version: str
    classification: Classification
    severity: Severity
    cves: tuple[str, ...]
    kev: tuple[KevEntry, ...]
    risk: RiskScore
    first_seen: datetime
    sla_due: datetime
    due: datetime
    overdue: bool
    state: ItemState
    review: Review | None = None
    intel: tuple[CveIntel, ...] = ()  # CVSS / EPSS of its CVEs the feeds know

    @property
    def priority(self) -> Priority:
        """The priority class."""
        return self.risk.priority

    @property
    def kev_due(self) -> date | None:
        """The earliest CISA due date of its known-exploited CVEs (federal deadline)."""
        return min((e.due_date for e in self.kev if e.due_date), default=None)

    @property
    def security(self) -> bool:
        """A security update (by classification, or because a CVE of it is known exploited)."""
        return self.classification is Classification.SECURITY or bool(self.kev)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``patchdesk risk --json``."""
        return {
            "asset_id": self.asset_id, "host": self.host, "ip": self.ip,
            "package": self.package, "kb": self.kb or None,
            "candidate_version": self.candidate_version,
            "classification": str(self.classification), "severity": str(self.severity),
            "score": self.risk.score, "priority": str(self.risk.priority),
            "first_seen": self.first_seen.isoformat(), "sla_due": self.sla_due.isoformat(),
            "due": self.due.isoformat(), "overdue": self.overdue, "state": str(self.state),
            "kev": bool(self.kev), "kev_cves": [e.cve_id for e in self.kev],
            "kev_due": self.kev_due.isoformat() if self.kev_due else None,
            "cves": list(self.cves),
            "why": self.risk.why,
            "factors": [f.to_dict() for f in self.risk.factors],
            "review": self.review.to_dict() if self.review else None,
            "cve_intel": [i.to_dict() for i in self.intel],
        }


def _intel_inputs(intel: Sequence[CveIntel]) -> dict[str, Any]:
    """The CVSS and EPSS inputs of a patch: the highest of its CVEs, with the source."""
    out: dict[str, Any] = {}
    top = max((i for i in intel if i.cvss is not None),
              key=lambda i: i.cvss.score if i.cvss else 0.0, default=None)
    if top is not None and top.cvss is not None:
        scorer = f", scored by {top.cvss.scorer}" if top.cvss.scorer else ""
        out["cvss"] = top.cvss.score
        out["cvss_detail"] = (f"{top.cvss.vector or 'CVSS ' + top.cvss.version} "
                              f"({top.cve}, NVD{scorer})")
    best = max((i for i in intel if i.epss is not None),
               key=lambda i: i.epss.epss if i.epss else 0.0, default=None)
    if best is not None and best.epss is not None:
        out["epss"] = best.epss.epss
        out["epss_detail"] = (f"(percentile {best.epss.percentile:.3f}; {best.cve}, "
                              "FIRST EPSS)")
    return out


def risk_input(asset: Asset, patch: AssetPatch, kev: Sequence[KevEntry], now: datetime,
               cvss: float | None = None, intel: Sequence[CveIntel] = ()) -> RiskInput:
    """The score's inputs for one update on one asset (``intel``: what the feeds know of
    its CVEs; its CVSS wins over ``cvss``)."""
    first = patch.first_seen or now
    feeds = _intel_inputs(intel)
    if "cvss" not in feeds and cvss is not None:
        feeds["cvss"] = cvss
    return RiskInput(
        severity=patch.severity,
        security=patch.classification is Classification.SECURITY or bool(kev),
        kev=tuple(e.cve_id for e in kev),
        kev_ransomware=any(e.ransomware for e in kev),
        impact=asset.impact,
        data=asset.data_sensitivity,
        critical_operations=asset.critical_operations,
        public_facing=asset.public_facing,
        internet_facing=asset.internet_facing,
        age_days=max(0, (now - first).days),
        **feeds,
    )


def latest_review(reviews: Sequence[Review], asset_id: int, package: str,
                  cves: Sequence[str]) -> Review | None:
    """The newest review covering an update on an asset."""
    found = [r for r in reviews if r.covers(asset_id, package, cves)]
    return max(found, key=lambda r: (r.created_at, r.id or 0)) if found else None


def prioritise(
    assets: Sequence[Asset],
    patches: Sequence[AssetPatch],
    kev: Mapping[str, KevEntry],
    policy: Policy,
    reviews: Sequence[Review] = (),
    now: datetime | None = None,
    cvss: Mapping[str, float] | None = None,
    intel: Mapping[str, CveIntel] | None = None,
) -> list[RiskItem]:
    """Score, date and review every missing update on the assets the policy covers.

    Args:
        assets: the site's assets (others' patches are ignored).
        patches: missing updates.
        kev: the KEV catalogue by CVE id.
        policy: for the scope, the update kinds in scope and the SLAs.
        reviews: urgency reviews and exceptions (all of them; the newest covering an
            update applies).
        now: the moment to judge "overdue" at (default: now, UTC).
        cvss: CVSS base scores by CVE id, where known (the highest of a patch's CVEs counts).
        intel: CVSS and EPSS by CVE id from the site's feeds (named factors in "why").

    Returns:
        Items, highest score first (then earliest due date).
    """
    now = now or datetime.now(UTC)
    by_id = {a.id: a for a in assets if policy.in_scope(a)}
    kinds = set(policy.classifications)
    items: list[RiskItem] = []
    for patch in patches:
        asset = by_id.get(patch.asset_id)
        if asset is None:
            continue
        listed = kev_matches(patch.cves, kev)
        if patch.classification not in kinds and not listed:
            continue
        scores = [cvss[c] for c in patch.cves if cvss and c in cvss]
        known = tuple(intel[c] for c in dict.fromkeys(patch.cves) if intel and c in intel)
        risk = score(risk_input(asset, patch, listed, now, max(scores) if scores else None,
                                known))
        first = patch.first_seen or now
        sla_due = policy.due(first, risk.priority)
        review = latest_review(reviews, patch.asset_id, patch.package, patch.cves)
        due, state = sla_due, ItemState.OPEN
        if review is not None:
            if review.decision is Decision.EXCEPTION:
                due = review.expires_at or sla_due
                state = ItemState.EXCEPTION_EXPIRED if review.expired(now) \
                    else ItemState.EXCEPTED
            elif review.decision is Decision.PATCH_NOW:
                due = min(sla_due, review.created_at + policy.sla(Priority.EMERGENCY))
                state = ItemState.PATCH_NOW
            else:
                state = ItemState.SCHEDULED
        items.append(RiskItem(
            asset_id=patch.asset_id, host=asset.label, ip=asset.primary_ip,
            package=patch.package, kb=patch.kb, candidate_version=patch.candidate_version,
            classification=patch.classification, severity=patch.severity, cves=patch.cves,
            kev=listed, risk=risk, first_seen=first, sla_due=sla_due, due=due,
            overdue=due <= now, state=state, review=review, intel=known))
    items.sort(key=lambda i: (-i.risk.score, i.due, i.host, i.package))
    return items


# -- compliance ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compliance:
    """The SLA compliance figure and the counts it is made of (see :func:`compliance`)."""

    percent: float | None  # one decimal, what every screen shows; None: nothing assessed
    pairs: int  # missing (asset, security update) pairs on assets the policy covers
    on_time: int  # of those, not overdue (including excepted ones)
    overdue: int
    excepted: int  # covered by an exception that has not expired
    assets: int  # assets the policy covers
    assets_with_overdue: int
    as_of: datetime
    #: Covered assets whose latest deep scan succeeded (None: the caller did not say, and
    #: every covered asset is taken as assessed).
    assessed: int | None = None

    @property
    def not_assessed(self) -> int:
        """Covered assets never deep-scanned or whose last deep scan failed."""
        return 0 if self.assessed is None else max(0, self.assets - self.assessed)

    @property
    def assets_compliant(self) -> int:
        """Assessed covered assets with no overdue security update (an asset nobody could
        look at is never compliant)."""
        known = self.assets if self.assessed is None else self.assessed
        return max(0, known - self.assets_with_overdue)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"percent": self.percent, "pairs": self.pairs, "on_time": self.on_time,
                "overdue": self.overdue, "excepted": self.excepted, "assets": self.assets,
                "assessed": self.assets if self.assessed is None else self.assessed,
                "not_assessed": self.not_assessed,
                "assets_with_overdue": self.assets_with_overdue,
                "assets_compliant": self.assets_compliant, "as_of": self.as_of.isoformat(),
                "definition": COMPLIANCE_DEFINITION}


COMPLIANCE_DEFINITION = (
    "share of missing (asset, security update) pairs on the assets the patch policy covers "
    "that are not past their SLA due date; an update under an unexpired exception counts "
    "as on time, one whose exception expired counts as overdue; 100% when none is missing; "
    "only assessed assets count (hosts never deep-scanned or whose last scan failed are "
    "reported as not assessed, never as compliant; no figure when none is assessed)"
)


def compliance(items: Sequence[RiskItem], assets: int, now: datetime,
               assessed: int | None = None) -> Compliance:
    """SLA compliance: the one figure the dashboard and the PDF executive summary show.

    Definition: of the missing (asset, security update) pairs on the assets the patch
    policy covers, the percentage that are not overdue. "Security update" means classified
    as security by the platform, or carrying a CVE listed in the KEV catalogue. An update
    under an unexpired exception counts as on time (and is counted in ``excepted``); one
    whose exception expired is overdue. With nothing missing the figure is 100.0.
    Unassessed assets (never deep-scanned, or whose last deep scan failed: no credential,
    refused, unreachable) have no known missing updates: they are counted as not assessed,
    never as compliant, and when no covered asset is assessed there is no figure (None)
    rather than a 100 % nobody measured. Show the coverage beside the figure.

    Args:
        items: the output of :func:`prioritise` (all priorities; only security ones count).
        assets: how many assets the policy covers (for ``assets_with_overdue``'s context).
        now: the moment the items were judged at (reported as ``as_of``).
        assessed: how many of those assets have a successful latest deep scan (None: all).

    Returns:
        The figure (rounded to one decimal) and its parts.
    """
    security = [i for i in items if i.security]
    overdue = [i for i in security if i.overdue]
    excepted = sum(1 for i in security if i.state is ItemState.EXCEPTED and not i.overdue)
    pairs = len(security)
    on_time = pairs - len(overdue)
    percent: float | None = 100.0 if pairs == 0 else round(100.0 * on_time / pairs, 1)
    if assessed is not None and assessed == 0 and assets > 0 and pairs == 0:
        percent = None  # nothing was measured: no figure, never "100 %"
    return Compliance(percent=percent, pairs=pairs, on_time=on_time, overdue=len(overdue),
                      excepted=excepted, assets=assets,
                      assets_with_overdue=len({i.asset_id for i in overdue}), as_of=now,
                      assessed=assessed)
