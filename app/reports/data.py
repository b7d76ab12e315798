"""What a report shows, collected from the services and reduced to figures (Qt-free).

:func:`collect` reads the site once through :class:`app.services.SiteService`; everything
after that (figures, top risks, the audit checklist) is a pure function of the collected
:class:`ReportData`, so tests can check the numbers without reading a PDF.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.core.audit import ChainProblem
from app.core.deployment import Deployment, HostState, Phase, Stage
from app.core.errors import UserError
from app.core.models import (
    Asset,
    AssetPatch,
    AuditEvent,
    Classification,
    Impact,
    PatchStatus,
    Severity,
    Site,
)
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.store.assessments import AssessmentRecord
from app.store.db import utcnow
from app.store.reports import ReportRepo, ReportRun

if TYPE_CHECKING:
    from app.services import SiteService

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

SEVERITY_ORDER = (Severity.CRITICAL, Severity.IMPORTANT, Severity.MODERATE, Severity.LOW,
                  Severity.UNKNOWN)
IMPACT_RANK = {Impact.CRITICAL: 3, Impact.HIGH: 2, Impact.LOW: 1, Impact.NONE: 0}
SEVERITY_RANK = {s: len(SEVERITY_ORDER) - i for i, s in enumerate(SEVERITY_ORDER)}
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

    @property
    def compliance_pct(self) -> float | None:
        """Share of assessed assets with no missing security update (None: none assessed)."""
        return None if not self.assessed else 100.0 * self.compliant / self.assessed

    def to_dict(self) -> dict[str, Any]:
        """The figures a later report compares to."""
        return {
            "assets": self.assets, "assessed": self.assessed, "compliant": self.compliant,
            "compliance_pct": None if self.compliance_pct is None
            else round(self.compliance_pct, 1),
            "fully_patched": self.fully_patched, "missing_total": self.missing_total,
            "missing_security": self.missing_security,
            "critical": self.by_severity.get("critical", 0),
            "important": self.by_severity.get("important", 0),
            "hosts_with_missing": self.hosts_with_missing,
        }


def os_label(asset: Asset) -> str:
    """The OS an asset is counted under in "devices by OS"."""
    if asset.os_name:
        return f"{asset.os_name} {asset.os_version}".strip()
    return str(asset.os_family) if str(asset.os_family) != "unknown" else "Unknown"


def compute_figures(assets: Sequence[Asset], assessments: dict[int, AssessmentRecord],
                    missing: Sequence[AssetPatch]) -> Figures:
    """The key numbers from the inventory, the latest deep scans and the missing updates."""
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
        by_severity={str(s): by_sev[str(s)] for s in SEVERITY_ORDER if by_sev[str(s)]},
        by_classification=dict(by_class.most_common()),
        by_os=dict(Counter(os_label(a) for a in assets).most_common()),
    )


@dataclass(frozen=True, slots=True)
class Risk:
    """A host with missing security updates, ranked by its criticality answers."""

    asset: Asset
    security_updates: int
    worst: Severity
    packages: tuple[str, ...]
    cves: tuple[str, ...]

    @property
    def exposure(self) -> str:
        """Criticality answers in words."""
        parts = [f"impact {self.asset.impact}"]
        if self.asset.internet_facing:
            parts.append("internet-facing")
        if self.asset.public_facing:
            parts.append("public-facing")
        if self.asset.critical_operations:
            parts.append("critical operations")
        if self.asset.data_sensitivity:
            parts.append("data: " + ", ".join(str(d) for d in self.asset.data_sensitivity))
        return "; ".join(parts)


def top_risks(assets: Sequence[Asset], missing: Sequence[AssetPatch],
              limit: int = 10) -> list[Risk]:
    """Hosts with missing security updates, highest impact and exposure first.

    Until a risk module exists this is the stated stand-in: ranked by the asset's impact,
    exposure and data answers, then by the worst vendor severity and the count.
    """
    by_id = {int(a.id or 0): a for a in assets}
    groups: dict[int, list[AssetPatch]] = {}
    for p in missing:
        if p.classification is Classification.SECURITY and p.asset_id in by_id:
            groups.setdefault(p.asset_id, []).append(p)
    risks = []
    for asset_id, patches in groups.items():
        worst = max((p.severity for p in patches), key=lambda s: SEVERITY_RANK[s])
        cves = tuple(dict.fromkeys(c for p in patches for c in p.cves))
        risks.append(Risk(by_id[asset_id], len(patches), worst,
                          tuple(sorted(p.package for p in patches)), cves))

    def key(r: Risk) -> tuple[int, ...]:
        a = r.asset
        return (IMPACT_RANK[a.impact], int(a.internet_facing), int(a.public_facing),
                len(a.data_sensitivity), int(a.critical_operations), SEVERITY_RANK[r.worst],
                r.security_updates)

    risks.sort(key=key, reverse=True)
    return risks[:limit]


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
    history: list[ReportRun] = field(default_factory=list)
    figures: Figures = field(init=False)

    def __post_init__(self) -> None:
        self.figures = compute_figures(self.assets, self.assessments, self.missing)

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


def _status(good: int, total: int) -> str:
    if total == 0 or good == 0:
        return "not met"
    return "met" if good == total else "partly"


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

    items.append(CheckItem(
        "Patch policy documented", "not met",
        "PatchDesk has no patch-policy module yet: no SLAs, maintenance windows or "
        "responsibilities are recorded, so none can be evidenced here."))

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


def collect(service: SiteService, options: ReportOptions | None = None, *,
            progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> ReportData:
    """Read everything a report needs from the site.

    Args:
        service: the open site.
        options: sections and period (default: everything, all history).
        progress: steps done / total.
        cancel: checked between steps.

    Raises:
        Cancelled: cancelled.
    """
    options = options or ReportOptions()
    steps = 6

    def step(n: int, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(Progress(n, steps, message))

    step(0, "reading the inventory")
    assets = service.assets()
    assessments = service.assessments()
    step(1, "reading missing updates")
    missing = service.patches()
    excepted = service.patches(status=PatchStatus.EXCEPTED)
    step(2, "reading deployments")
    deployments = [d for d in service.deployments() if options.in_period(d.created_at)]
    logs = {d.id: service.deployment_log(d.id) for d in deployments} \
        if "deployments" in options.sections else {}
    step(3, "verifying the audit log")
    events = service.audit_events()
    problems = service.audit_verify()
    step(4, "reading the credential vault")
    remote = service.remote
    vault = remote.vault_exists
    credentials = len(remote.credentials()) if vault else 0
    history = ReportRepo(service.store.db()).all()
    step(5, "computing figures")
    data = ReportData(
        site=service.site(), site_path=str(service.path), options=options,
        generated_at=utcnow(), generated_by=service.actor, assets=assets,
        assessments=assessments, missing=missing, excepted=excepted,
        deployments=deployments, deployment_logs=logs,
        audit_events=[e for e in events if options.in_period(e.ts)],
        audit_total=len(events), audit_problems=problems, vault_in_use=vault,
        credentials=credentials, history=history,
    )
    step(6, "collected")
    return data
