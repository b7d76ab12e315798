"""Compliance frameworks judged from the site's own records ([16]).

One function gathers :class:`~app.core.frameworks.ComplianceEvidence` from the site (the
same risk items the SLA compliance figure is made of, the deep scans, exceptions,
deployments, the audit log's verification and the policy in force) and judges the chosen
frameworks on it. ``patchdesk compliance --framework``, the report's appendices and the
per-framework patch export all come through here, so they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from app.core.audit import ChainProblem
from app.core.deployment import Deployment
from app.core.frameworks import (
    ComplianceEvidence,
    Framework,
    FrameworkResult,
    build_evidence,
    choose_frameworks,
    judge_frameworks,
    load_frameworks,
)
from app.core.policy import Role
from app.core.risk import RiskItem
from app.store.db import utcnow

if TYPE_CHECKING:
    from app.services.site import SiteService

__all__ = ["framework_evidence", "framework_results", "frameworks", "pick_frameworks"]


def frameworks() -> dict[str, Framework]:
    """Every bundled framework by id (read from ``resources/frameworks``)."""
    return load_frameworks()


def pick_frameworks(text: str | Sequence[str] | None) -> list[Framework]:
    """The frameworks named in ``pci-dss,cyber-essentials`` (``all``: every one).

    Raises:
        UserError: an unknown framework id (the message lists the known ones).
    """
    return choose_frameworks(text, frameworks())


def framework_evidence(site: SiteService, now: datetime | None = None, *,
                       risk_items: Sequence[RiskItem] | None = None,
                       audit_problems: Sequence[ChainProblem] | None = None,
                       audit_events: int | None = None,
                       deployments: Sequence[Deployment] | None = None,
                       ) -> ComplianceEvidence:
    """The evidence the frameworks are judged on, read from the site.

    Args:
        site: the open site.
        now: the moment judged (default: now).
        risk_items: :meth:`RiskService.risk_items` at ``now`` when the caller has them
            (the report computes them once); read otherwise.
        audit_problems: the audit log's verification when already done.
        audit_events: how many audit events there are, when already counted.
        deployments: the deployments to judge (default: every one recorded).
    """
    now = now or utcnow()
    policy = site.policy()
    assets = [a for a in site.assets() if policy.policy.in_scope(a)]
    last = {asset_id: rec.finished_at for asset_id, rec in site.assessments().items()
            if rec.ok}
    items = site.risk_items(now) if risk_items is None else risk_items
    problems = site.audit_verify() if audit_problems is None else audit_problems
    count = len(site.audit_events()) if audit_events is None else audit_events
    kev = site.kev_status()
    return build_evidence(
        now, assets, last, items, site.reviews(),
        site.deployments() if deployments is None else deployments,
        audit_intact=not problems, audit_events=count,
        policy_version=policy.version,
        policy_responsible=policy.policy.holders(Role.RESPONSIBLE),
        kev_imported_at=kev.imported_at if kev else None,
        cvss={i.cve: i.cvss.score for item in items for i in item.intel if i.cvss})


def framework_results(site: SiteService, chosen: Sequence[Framework],
                      now: datetime | None = None, *,
                      evidence: ComplianceEvidence | None = None) -> list[FrameworkResult]:
    """Judge the chosen frameworks on the site's evidence (read once for all of them;
    ``evidence`` when the caller gathered it already)."""
    if not chosen:
        return []
    return judge_frameworks(chosen, evidence or framework_evidence(site, now))
