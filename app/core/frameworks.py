"""Compliance frameworks as data, and each requirement judged from the figures PatchDesk holds.

A framework (PCI DSS, HIPAA, Cyber Essentials, ...) is one JSON file in
``resources/frameworks/`` (``app/resources/frameworks`` in a wheel): its version and source,
the deadlines it sets for installing security updates (:class:`DeadlineRule`), and its
requirements (:class:`Requirement`), each worded in our own words and tied to the kinds of
evidence PatchDesk holds (:class:`EvidenceKind`). The files are read by
:func:`load_frameworks`, the only I/O (:mod:`app.core.framework_defs`, re-exported here with
the data types); everything else is pure.

:func:`deadline_for` answers "by when must this update be installed under that framework";
:func:`evaluate` judges every requirement as met / partly / not met / not applicable from a
:class:`ComplianceEvidence` the services fill, and says which figures it used.

Deadlines are counted from the update's release when that is known, else from the day
PatchDesk first saw it missing (which is never earlier than the release, so the figure can
only flatter the site by the time between release and first scan; the judgement says which
clock it used). A month is counted as 30 days. A release date has no time of day, so the
last allowed day counts whole: released on 5 November, "within a month" runs to the end of
5 December UTC (30 days old is within, 31 is not); from a first-seen time the deadline is
exact. :func:`build_evidence` gathers the figures from the site's own records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.core.deployment import Deployment, Phase, Stage
from app.core.errors import UserError
from app.core.framework_defs import FRAMEWORK_DIR as FRAMEWORK_DIR
from app.core.framework_defs import DeadlineRule as DeadlineRule
from app.core.framework_defs import EvidenceKind as EvidenceKind
from app.core.framework_defs import Framework as Framework
from app.core.framework_defs import Requirement as Requirement
from app.core.framework_defs import Source as Source
from app.core.framework_defs import Status as Status
from app.core.framework_defs import frameworks_dir as frameworks_dir
from app.core.framework_defs import load_frameworks as load_frameworks
from app.core.framework_defs import parse_framework as parse_framework
from app.core.models import Asset, Severity
from app.core.patchgroups import worst_severity
from app.core.policy import Policy, Priority
from app.core.risk import Decision, Review, RiskItem, cvss_severity

#: Statuses from the worst to the best.
_WORST = (Status.NOT_MET, Status.PARTLY, Status.MET)


# -- deadlines -------------------------------------------------------------------------------
def deadline_for(framework: Framework, severity: Severity, known_exploited: bool,
                 internet_facing: bool, security: bool = True,
                 rules: Iterable[str] = ()) -> timedelta | None:
    """The time a framework allows for installing an update, or None if it sets none.

    Args:
        framework: the framework.
        severity: the update's severity (the higher of the vendor's and the CVSS band).
        known_exploited: a CVE of it is known to be exploited (listed in CISA KEV).
        internet_facing: the asset faces the internet.
        security: a security update (non-security updates fall under no deadline of the
            frameworks we ship).
        rules: only these rule ids (default: all of the framework's rules).

    Returns:
        The shortest deadline of the rules that match, or None when none does.
    """
    only = set(rules)
    found = [r.within for r in framework.rules
             if (not only or r.id in only)
             and r.matches(severity, known_exploited, internet_facing, security)]
    return min(found) if found else None


def deadline_presets(framework: Framework) -> list[tuple[str, timedelta, str]]:
    """The framework's deadlines as (rule id, deadline, rule in words), shortest first, for
    offering them as SLA presets."""
    return sorted(((r.id, r.within, r.text) for r in framework.rules), key=lambda t: t[1])


def duration_text(delta: timedelta) -> str:
    """A deadline in words: "48 hours", "14 days", "30 days"."""
    hours = int(delta.total_seconds() // 3600)
    if hours % 24 or hours < 72:
        return f"{hours} hour{'' if hours == 1 else 's'}"
    days = hours // 24
    return f"{days} day{'' if days == 1 else 's'}"


# -- the evidence ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What PatchDesk knows of one asset in the scope of the report."""

    asset_id: int
    label: str
    internet_facing: bool = False
    last_seen: datetime | None = None  # by discovery or any contact
    last_assessed: datetime | None = None  # last successful deep scan


@dataclass(frozen=True, slots=True)
class MissingUpdate:
    """One update missing on one asset."""

    asset_id: int
    host: str
    package: str
    first_seen: datetime  # when PatchDesk first found it missing
    severity: Severity = Severity.UNKNOWN  # the higher of vendor severity and CVSS band
    security: bool = True  # a security update (or one fixing a KEV-listed CVE)
    known_exploited: bool = False
    internet_facing: bool = False
    released: date | None = None  # the vendor's release date, when known
    excepted_until: datetime | None = None  # an exception covers it until then

    def clock_start(self) -> datetime:
        """When its deadline starts: the release (UTC midnight) if known, else first seen."""
        if self.released is not None:
            return datetime.combine(self.released, time(), UTC)
        return self.first_seen

    def late(self, as_of: datetime, limit: timedelta) -> bool:
        """Whether it is past a deadline of ``limit`` at ``as_of``.

        A release date has no time of day, so the last allowed day counts whole: released
        on 5 November, "within 30 days" runs to the end of 5 December (UTC). From a
        first-seen time the deadline is exact.
        """
        if self.released is not None:
            last_day = (self.clock_start() + limit).date()
            return as_of >= datetime.combine(last_day + timedelta(days=1), time(), UTC)
        return as_of - self.first_seen > limit


@dataclass(frozen=True, slots=True)
class ExceptionFacts:
    """An exception (risk acceptance) recorded in an urgency review."""

    id: int
    decided_by: str
    expires_at: datetime | None  # None: no expiry recorded
    covers_missing: int = 0  # missing updates it currently decides


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    """A deployment that was started (planned-only ones are left out by the services)."""

    id: int
    tested: bool  # went through a test ring
    approved_by: str  # "" when nobody approved it
    verified: bool  # a verification rescan is recorded


@dataclass(frozen=True, slots=True)
class ComplianceEvidence:
    """The figures a framework is judged on; filled by the services, built by hand in tests."""

    as_of: datetime
    assets: tuple[AssetFacts, ...] = ()
    missing: tuple[MissingUpdate, ...] = ()
    exceptions: tuple[ExceptionFacts, ...] = ()
    deployments: tuple[DeploymentFacts, ...] = ()
    audit_intact: bool | None = None  # None: not verified
    audit_events: int = 0
    policy_version: int = 0  # 0: only PatchDesk's built-in default policy applies
    policy_responsible: tuple[str, ...] = ()
    kev_imported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """How one requirement stands, and the figures that say so."""

    requirement_id: str
    status: Status
    figures: str
    evidence: tuple[EvidenceKind, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"requirement": self.requirement_id, "status": str(self.status),
                "figures": self.figures, "evidence": [str(e) for e in self.evidence]}


def effective_severity(vendor: Severity, cvss: float | None) -> Severity:
    """The higher of the vendor's severity and the CVSS v3 band of the highest score."""
    if cvss is None:
        return vendor
    band = cvss_severity(cvss)
    return worst_severity((vendor, band))


def build_evidence(
    as_of: datetime,
    assets: Sequence[Asset],
    last_assessed: Mapping[int, datetime],
    risk_items: Sequence[RiskItem],
    reviews: Sequence[Review] = (),
    deployments: Sequence[Deployment] = (),
    *,
    audit_intact: bool | None = None,
    audit_events: int = 0,
    policy_version: int = 0,
    policy_responsible: Sequence[str] = (),
    kev_imported_at: datetime | None = None,
    cvss: Mapping[str, float] | None = None,
    released: Mapping[tuple[int, str], date] | None = None,
) -> ComplianceEvidence:
    """Gather the evidence from the site's own records (for the services to call).

    Args:
        as_of: the moment judged (the report's generation time).
        assets: the assets in scope (those the patch policy covers).
        last_assessed: each asset's last *successful* deep scan, by asset id.
        risk_items: :func:`app.core.risk.prioritise` at ``as_of``: the same missing updates
            the compliance figure is made of, with their reviews and exceptions.
        reviews: every urgency review (exceptions are taken from them).
        deployments: the deployments of the period (planned-only ones are left out here).
        audit_intact: whether the audit log verified (None: not checked).
        audit_events: how many audit events there are.
        policy_version: the saved policy version in force (0: built-in defaults).
        policy_responsible: the people the policy names as responsible.
        kev_imported_at: when the KEV catalogue was last imported.
        cvss: CVSS base scores by CVE id, where known.
        released: vendor release dates by (asset id, package), where known.

    An asset counts as internet-facing when it is marked internet-facing or public-facing.
    """
    exposed = {int(a.id or 0): a.internet_facing or a.public_facing for a in assets}
    facts = tuple(AssetFacts(int(a.id or 0), a.label, exposed[int(a.id or 0)], a.last_seen,
                             last_assessed.get(int(a.id or 0))) for a in assets)
    missing: list[MissingUpdate] = []
    decides: dict[int, int] = {}
    for item in risk_items:
        scores = [cvss[c] for c in item.cves if cvss and c in cvss]
        review = item.review
        until = None
        if review is not None and review.decision is Decision.EXCEPTION:
            until = review.expires_at
            if review.id is not None:
                decides[review.id] = decides.get(review.id, 0) + 1
        missing.append(MissingUpdate(
            asset_id=item.asset_id, host=item.host, package=item.package,
            first_seen=item.first_seen,
            severity=effective_severity(item.severity, max(scores) if scores else None),
            security=item.security, known_exploited=bool(item.kev),
            internet_facing=exposed.get(item.asset_id, False),
            released=(released or {}).get((item.asset_id, item.package)),
            excepted_until=until))
    exceptions = tuple(ExceptionFacts(int(r.id or 0), r.decided_by, r.expires_at,
                                      decides.get(int(r.id or 0), 0))
                       for r in reviews if r.decision is Decision.EXCEPTION)
    started = tuple(DeploymentFacts(d.id, bool(d.stage_targets(Stage.TEST)),
                                    d.approval.approver if d.approval else "",
                                    any(t.verified for t in d.targets))
                    for d in deployments if d.phase is not Phase.PLANNED)
    return ComplianceEvidence(
        as_of=as_of, assets=facts, missing=tuple(missing), exceptions=exceptions,
        deployments=started, audit_intact=audit_intact, audit_events=audit_events,
        policy_version=policy_version, policy_responsible=tuple(policy_responsible),
        kev_imported_at=kev_imported_at)


# -- judging ---------------------------------------------------------------------------------
def evaluate(framework: Framework, evidence: ComplianceEvidence) -> list[Judgement]:
    """Judge every requirement of a framework from the evidence, in the framework's order.

    A requirement resting on several kinds of evidence is as good as the weakest of them
    (kinds that do not apply, such as approvals when nothing was deployed, are left out; if
    none applies the requirement is not applicable).
    """
    out: list[Judgement] = []
    for req in framework.requirements:
        parts = [_judge(kind, req, framework, evidence) for kind in req.evidence]
        live = [p for p in parts if p[0] is not Status.NOT_APPLICABLE]
        if not live:
            status = Status.NOT_APPLICABLE
        else:
            status = next(s for s in _WORST if any(p[0] is s for p in live))
        out.append(Judgement(req.id, status, " ".join(p[1] for p in parts), req.evidence))
    return out


def _judge(kind: EvidenceKind, req: Requirement, fw: Framework,
           ev: ComplianceEvidence) -> tuple[Status, str]:
    judge = _JUDGES[kind]
    return judge(req, fw, ev)


def _share(good: int, total: int) -> Status:
    if total == 0 or good == 0:
        return Status.NOT_MET
    return Status.MET if good == total else Status.PARTLY


def _names(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _days(req: Requirement, default: int) -> int:
    value = req.params.get("within_days", default)
    return int(value)


def _last_contact(asset: AssetFacts) -> datetime | None:
    times = [t for t in (asset.last_seen, asset.last_assessed) if t is not None]
    return max(times) if times else None


def _inventory(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    days = _days(req, 30)
    cutoff = ev.as_of - timedelta(days=days)
    total = len(ev.assets)
    if not total:
        return Status.NOT_MET, "The inventory is empty."
    current = [a for a in ev.assets if (t := _last_contact(a)) is not None and t >= cutoff]
    stale = [a.label for a in ev.assets if a not in current]
    return _share(len(current), total), (
        f"{len(current)} of {total} asset(s) seen or assessed in the last {days} days"
        + (f" (not: {_names(stale)})." if stale else "."))


def _assessment(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    total = len(ev.assets)
    if not total:
        return Status.NOT_MET, "No asset to assess."
    never = [a.label for a in ev.assets if a.last_assessed is None]
    return _share(total - len(never), total), (
        f"{total - len(never)} of {total} asset(s) have a successful deep scan"
        + (f" (never: {_names(never)})." if never else "."))


def _recency(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    days = _days(req, 30)
    exposed = bool(req.params.get("internet_facing_only", False))
    pool = [a for a in ev.assets if a.internet_facing] if exposed else list(ev.assets)
    which = "internet-facing asset(s)" if exposed else "asset(s)"
    if not pool:
        if exposed:
            return Status.NOT_APPLICABLE, "No asset is marked internet-facing."
        return Status.NOT_MET, "No asset to scan."
    cutoff = ev.as_of - timedelta(days=days)
    late = [a.label for a in pool if a.last_assessed is None or a.last_assessed < cutoff]
    return _share(len(pool) - len(late), len(pool)), (
        f"{len(pool) - len(late)} of {len(pool)} {which} assessed in the last {days} days"
        + (f" (not: {_names(late)})." if late else "."))


def _sla(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    rules = [fw.rule(r) for r in req.rules] if req.rules else list(fw.rules)
    rule_text = "; ".join(f"{r.id}: {r.text}" for r in rules)
    assessed = [a for a in ev.assets if a.last_assessed is not None]
    never = len(ev.assets) - len(assessed)
    if not ev.assets:
        return Status.NOT_MET, f"The inventory is empty, so nothing is known under {rule_text}."
    if not assessed:
        return Status.NOT_MET, (f"No asset has been assessed, so the updates missing under "
                                f"{rule_text} are unknown.")
    due: list[tuple[MissingUpdate, timedelta, timedelta]] = []
    for m in ev.missing:
        limit = deadline_for(fw, m.severity, m.known_exploited, m.internet_facing,
                             m.security, [r.id for r in rules])
        if limit is not None:
            due.append((m, limit, ev.as_of - m.clock_start()))
    late = [(m, limit, age) for m, limit, age in due if m.late(ev.as_of, limit)]
    overdue = [t for t in late if not (t[0].excepted_until and t[0].excepted_until > ev.as_of)]
    excepted = len(late) - len(overdue)
    guessed = sum(1 for m, _, _ in due if m.released is None)
    detail = ", ".join(f"{m.host}: {m.package} {age.days} days old (limit "
                       f"{duration_text(limit)})" for m, limit, age in
                       sorted(overdue, key=lambda t: -t[2])[:3])
    text = (f"Under {rule_text}: {len(due)} missing update(s) fall under a deadline; "
            f"{len(overdue)} overdue" + (f" ({detail}" + (", ..." if len(overdue) > 3 else "")
                                         + ")" if overdue else "")
            + f"; {excepted} late but under an unexpired exception"
            + (f"; {guessed} counted from first seen (release date unknown)" if guessed else "")
            + (f"; {never} asset(s) never assessed" if never else "") + ".")
    if overdue:
        return Status.NOT_MET, text
    if excepted or never:
        return Status.PARTLY, text
    return Status.MET, text


def _ranking(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    if not any(a.last_assessed for a in ev.assets):
        return Status.NOT_MET, "No asset has been assessed, so nothing is ranked."
    security = [m for m in ev.missing if m.security]
    unrated = [m for m in security if m.severity is Severity.UNKNOWN]
    if not security:
        return Status.MET, ("Every missing update is scored for risk; no security update "
                            "is missing.")
    status = Status.MET if not unrated else Status.PARTLY
    return status, (f"{len(security) - len(unrated)} of {len(security)} missing security "
                    "update(s) carry a vendor or CVSS severity; all are scored for risk "
                    "(severity, known exploitation, asset exposure and criticality).")


def _intel(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    days = _days(req, 7)
    if ev.kev_imported_at is None:
        return Status.NOT_MET, "The CISA KEV catalogue has never been imported."
    age = (ev.as_of - ev.kev_imported_at).days
    when = f"The CISA KEV catalogue was last imported {age} day(s) ago"
    if ev.as_of - ev.kev_imported_at <= timedelta(days=days):
        return Status.MET, f"{when} (within {days} days)."
    return Status.PARTLY, f"{when}, more than {days} days."


def _exceptions(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    if not ev.exceptions:
        return Status.NOT_APPLICABLE, "No exception has been recorded."
    unnamed = [e for e in ev.exceptions if not e.decided_by.strip()]
    open_ended = [e for e in ev.exceptions if e.expires_at is None]
    in_force = [e for e in ev.exceptions if e.expires_at and e.expires_at > ev.as_of]
    lapsed = [e for e in ev.exceptions
              if e.expires_at and e.expires_at <= ev.as_of and e.covers_missing]
    text = (f"{len(ev.exceptions)} exception(s): {len(in_force)} in force, each with an "
            f"expiry and a named decider" if not (unnamed or open_ended) else
            f"{len(ev.exceptions)} exception(s): {len(in_force)} in force; "
            f"{len(unnamed)} without a named decider, {len(open_ended)} without an expiry")
    text += (f"; {len(lapsed)} expired while its update is still missing "
             f"(#{', #'.join(str(e.id) for e in lapsed[:5])})." if lapsed else ".")
    if unnamed or open_ended:
        return Status.NOT_MET, text
    return (Status.PARTLY if lapsed else Status.MET), text


def _deploy_share(ev: ComplianceEvidence, good: Sequence[DeploymentFacts], what: str,
                  ) -> tuple[Status, str]:
    if not ev.deployments:
        return Status.NOT_APPLICABLE, f"No deployment was started, so none {what}."
    without = [f"#{d.id}" for d in ev.deployments if d not in good]
    return _share(len(good), len(ev.deployments)), (
        f"{len(good)} of {len(ev.deployments)} deployment(s) {what}"
        + (f" (not: {_names(without)})." if without else "."))


def _approvals(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    good = [d for d in ev.deployments if d.approved_by.strip()]
    return _deploy_share(ev, good, "had an approval by a named person")


def _tested(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    good = [d for d in ev.deployments if d.tested]
    return _deploy_share(ev, good, "went through a test ring first")


def _verified(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    good = [d for d in ev.deployments if d.verified]
    return _deploy_share(ev, good, "were verified by a rescan")


def _audit(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    if ev.audit_intact is None:
        return Status.PARTLY, (f"The audit log ({ev.audit_events} event(s)) was not "
                               "verified for this report.")
    if not ev.audit_intact:
        return Status.NOT_MET, (f"The audit log ({ev.audit_events} event(s)) FAILED "
                                "verification: rows were changed or removed.")
    return Status.MET, (f"The audit log ({ev.audit_events} event(s)) verifies: hash chain "
                        "intact.")


def _policy(req: Requirement, fw: Framework, ev: ComplianceEvidence) -> tuple[Status, str]:
    if ev.policy_version <= 0:
        return Status.PARTLY, ("Only PatchDesk's built-in default policy applies; nobody has "
                               "saved the site's own patch policy.")
    if not ev.policy_responsible:
        return Status.PARTLY, (f"Patch policy version {ev.policy_version} is saved but names "
                               "nobody responsible.")
    return Status.MET, (f"Patch policy version {ev.policy_version} is saved; responsible: "
                        f"{_names(list(ev.policy_responsible))}.")


_JUDGES = {
    EvidenceKind.INVENTORY_COVERAGE: _inventory,
    EvidenceKind.ASSESSMENT_COVERAGE: _assessment,
    EvidenceKind.SCAN_RECENCY: _recency,
    EvidenceKind.SLA_COMPLIANCE: _sla,
    EvidenceKind.RISK_RANKING: _ranking,
    EvidenceKind.VULNERABILITY_INTEL: _intel,
    EvidenceKind.EXCEPTIONS: _exceptions,
    EvidenceKind.APPROVALS: _approvals,
    EvidenceKind.TEST_BEFORE_DEPLOY: _tested,
    EvidenceKind.VERIFICATION: _verified,
    EvidenceKind.AUDIT_LOG_INTEGRITY: _audit,
    EvidenceKind.POLICY_DOCUMENTED: _policy,
}


# -- results and choices ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FrameworkResult:
    """A framework judged at one moment: the same object feeds the report's appendix and
    ``patchdesk compliance --framework``."""

    framework: Framework
    as_of: datetime
    judgements: tuple[Judgement, ...]

    def counts(self) -> dict[str, int]:
        """How many requirements stand at each status (every status listed)."""
        return {str(s): sum(1 for j in self.judgements if j.status is s) for s in Status}

    def counts_text(self) -> str:
        """"3 met, 1 partly, 0 not met, 1 not applicable"."""
        return ", ".join(f"{n} {s}" for s, n in self.counts().items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        fw = self.framework
        return {"framework": fw.id, "title": fw.title, "version": fw.version,
                "source": fw.source.url, "as_of": self.as_of.isoformat(),
                "deadlines": [{"rule": r.id, "within_hours": int(r.within.total_seconds()
                                                                 // 3600), "text": r.text}
                              for r in fw.rules],
                "counts": self.counts(),
                "judgements": [{**j.to_dict(), "title": fw.requirement(j.requirement_id).title}
                               for j in self.judgements],
                "not_covered": [{"requirement": i, "why": w} for i, w in fw.not_covered]}


def judge_frameworks(frameworks: Sequence[Framework], evidence: ComplianceEvidence
                     ) -> list[FrameworkResult]:
    """Judge each framework on the same evidence, in the order given."""
    return [FrameworkResult(fw, evidence.as_of, tuple(evaluate(fw, evidence)))
            for fw in frameworks]


def choose_frameworks(text: str | Sequence[str] | None,
                      known: Mapping[str, Framework]) -> list[Framework]:
    """Frameworks from ``pci-dss,cyber-essentials`` (``all``: every one; None or empty:
    none), in the order given, each once.

    Raises:
        UserError: naming the unknown ids and the known ones.
    """
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted: list[str] = []
    for item in items:
        key = item.strip().lower()
        if key and key not in wanted:
            wanted.append(key)
    if wanted == ["all"]:
        return list(known.values())
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UserError(f"Unknown compliance framework(s): {', '.join(unknown)}; choose from "
                        f"{', '.join(known)} (or all).")
    return [known[w] for w in wanted]


#: For each policy priority, the kind of update it stands for when a framework's deadlines
#: become the policy's SLAs: (severity, known exploited, internet-facing). PatchDesk's
#: priorities come from the risk score (severity, KEV, exposure, criticality), so an
#: emergency is a critical, exploited update on an exposed host and a low one a low-severity
#: update; each priority takes the framework's deadline for that kind of update.
PRIORITY_STANDS_FOR: dict[str, tuple[Severity, bool, bool]] = {
    "emergency": (Severity.CRITICAL, True, True),
    "high": (Severity.CRITICAL, False, False),
    "standard": (Severity.MODERATE, False, False),
    "low": (Severity.LOW, False, False),
}


def sla_presets(framework: Framework, current: Mapping[str, int]) -> dict[str, int]:
    """The policy's SLA hours per priority under a framework's deadlines.

    A framework's deadline is the longest it allows, so an SLA already shorter is kept (a
    preset never gives updates more time); a priority whose kind of update the framework
    sets no deadline for keeps its current SLA. Then no priority is allowed longer than a
    lower one (an emergency is never given more time than a high-priority update).

    Args:
        framework: the framework.
        current: the policy's SLA hours by priority name (``emergency`` ... ``low``).
    """
    out: dict[str, int] = {}
    for priority, (severity, exploited, exposed) in PRIORITY_STANDS_FOR.items():
        limit = deadline_for(framework, severity, exploited, exposed)
        out[priority] = (min(int(limit.total_seconds() // 3600), int(current[priority]))
                         if limit is not None else int(current[priority]))
    order = list(PRIORITY_STANDS_FOR)
    for higher, lower in zip(reversed(order[:-1]), reversed(order[1:]), strict=True):
        out[higher] = min(out[higher], out[lower])
    return out


@dataclass(frozen=True, slots=True)
class DueUnder:
    """When one missing update is due under a framework's deadlines."""

    within: timedelta
    due: datetime  # the last moment it is on time
    clock: str  # "release" or "first seen"
    overdue: bool  # late and not under an unexpired exception (as the SLA judgement counts)
    excepted_until: datetime | None = None


def due_under(framework: Framework, evidence: ComplianceEvidence
              ) -> dict[tuple[int, str], DueUnder]:
    """Each missing update's deadline under a framework, by (asset id, package); updates no
    rule of the framework covers are absent. Overdue is decided exactly as the
    ``sla_compliance`` judgement counts it."""
    out: dict[tuple[int, str], DueUnder] = {}
    for m in evidence.missing:
        limit = deadline_for(framework, m.severity, m.known_exploited, m.internet_facing,
                             m.security)
        if limit is None:
            continue
        if m.released is not None:
            last_day = (m.clock_start() + limit).date()
            due = datetime.combine(last_day + timedelta(days=1), time(), UTC) \
                - timedelta(seconds=1)
        else:
            due = m.first_seen + limit
        excepted = m.excepted_until is not None and m.excepted_until > evidence.as_of
        out[(m.asset_id, m.package)] = DueUnder(
            limit, due, "release" if m.released is not None else "first seen",
            m.late(evidence.as_of, limit) and not excepted, m.excepted_until)
    return out


def policy_with_deadlines(policy: Policy, framework: Framework) -> Policy:
    """The policy with its SLA per priority set from a framework's deadlines
    (:func:`sla_presets`); everything else unchanged."""
    current = {str(p): int(policy.sla(p).total_seconds() // 3600) for p in Priority}
    hours = sla_presets(framework, current)
    return replace(policy, sla_hours=tuple((p, hours[str(p)]) for p in Priority))


def presets_text(framework: Framework, policy: Policy) -> str:
    """What applying a framework's deadlines would do, for the confirmation."""
    new = policy_with_deadlines(policy, framework)
    rules = "\n".join(f"  {rid}: {duration_text(within)} - {text}"
                      for rid, within, text in deadline_presets(framework))
    slas = "\n".join(f"  {p}: {duration_text(policy.sla(p))} -> {duration_text(new.sla(p))}"
                     for p in Priority)
    return (f"{framework.title} {framework.version} sets these deadlines:\n{rules}\n\n"
            f"The policy's SLAs would become:\n{slas}")
