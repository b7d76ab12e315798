"""Pre-flight again before a retry or a resume ([13]).

An override lets a host that failed pre-flight take part, but the failed check left it
without a health snapshot and without the package manager's simulation (its change set).
So when a run starts again — Retry after a halt at pre-flight, Resume, or Continue after
overriding — the hosts that failed pre-flight are checked again first:

* halted at pre-flight (nothing installed yet): every host that failed, overridden or not
  (the cause may have been fixed: a locked vault, a full disk);
* otherwise: the overridden hosts that have not started installing.

A host that passes now takes part without needing its override; one that still fails keeps
its override (and takes part with the new problems recorded) or stays left out. Then a
deployment halted at pre-flight either goes on, or stays halted with the reason as it now
stands — never an error for the person who just pressed Retry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.deployment import Deployment, HostState, Phase, halted_at_preflight
from app.core.progress import CancelToken

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine

#: The halt reason's advice after a blocked pre-flight.
ADVICE = "override hosts (with a reason) and resume, or plan again"


def to_recheck(dep: Deployment) -> list[int]:
    """Asset ids whose pre-flight runs again before this run goes on (see the module)."""
    if dep.phase in (Phase.PLANNED, Phase.PREFLIGHT):
        return []  # pre-flight is still to come (or under way) anyway
    everyone = halted_at_preflight(dep)
    if dep.phase is Phase.HALTED and not everyone:
        return []  # halted after installing: a rollback or a new plan, not a retry
    return [t.asset_id for t in dep.targets
            if t.preflight and t.state is HostState.PENDING and not t.job
            and (everyone or t.override)]


def recheck(engine: DeployEngine, dep: Deployment, cancel: CancelToken) -> Deployment:
    """Run pre-flight again where :func:`to_recheck` says; a deployment halted at
    pre-flight then moves on to its first ring, or stays halted with the current reason.
    Returns the deployment as it now stands."""
    again = to_recheck(dep)
    if again:
        labels = ", ".join(dep.target(a).label for a in again)
        engine._save(dep, f"pre-flight again for {labels}", audit="deploy.preflight")
        dep = engine._preflight(dep, cancel, again=frozenset(again))
    if cancel.cancelled or not halted_at_preflight(dep):
        return dep
    blocker = dep.preflight_blocker()
    if blocker:
        reason = f"{blocker}; {ADVICE}"
        if reason != dep.halt_reason or again:
            dep = engine._save(replace(dep, halt_reason=reason), f"still halted: {reason}")
        return dep
    return engine._save(dep.moved(dep.after_preflight()),
                        "resumed after pre-flight " + ("checks" if again else "overrides"),
                        audit="deploy.resume")
