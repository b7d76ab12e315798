"""The verification after the last ring: a light one per host, the site's inventory
updated from it.

Per host, one remote call on the connection the install left open: the installed
versions of the pins and the package manager's simulation of installing them again
(:meth:`app.drivers.quick.QuickDeploy.check`; a deployer without it reads the versions
only). "installed" needs both: every pin at its version and nothing left to change. The
versions read (and those the install recorded) go into the stored software list and
missing updates (:meth:`app.store.assessments.AssessmentRepo.record_installed`), so the
inventory shows the deployment without a full re-assessment. The other hosts (deployers
without the light check: dnf, zypper, Windows; a host that could not be checked) are
re-assessed through the engine's ``reassess`` hook, as before.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.clock import utcnow
from app.core.deployment import Deployment, HostState, Phase, Target, change_set_text
from app.deploy.hosts import host_error_text, host_pins
from app.drivers.quick import QuickDeploy
from app.store.assessments import AssessmentRepo
from app.store.repos import AssetRepo

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine


def verify(engine: DeployEngine, dep: Deployment) -> None:
    """Verify every host that took part, record the versions, move to DONE (audited)."""
    assets = {a.id: a for a in AssetRepo(engine.store.db()).all()}
    checked = [t for t in dep.targets if not t.excluded and t.asset_id in assets]
    read: dict[int, dict[str, str]] = {}
    light: set[int] = set()  # hosts verified and recorded by the light check

    def verdict(target: Target) -> str:
        native = str(target.health_before.get("native_arch", ""))
        pins = host_pins(dep, target)
        try:
            transport = engine.remote.transport_for(assets[target.asset_id])
            deployer = engine._deployer(target.asset_id, transport)
            left = ""
            if isinstance(deployer, QuickDeploy):
                now, sim = deployer.check(transport, pins, native)
                left = change_set_text(sim.changes)
                light.add(target.asset_id)
            else:
                now = deployer.versions(transport, list(pins), native)
        except Exception as exc:  # this host's problem only ([12].1)
            return f"unverified: {host_error_text(exc)}"
        read[target.asset_id] = now
        if now == pins and not left:
            return "installed"
        return "failed" if target.state is HostState.FAILED else "missing"

    with ThreadPoolExecutor(max_workers=max(1, dep.gates.concurrency)) as pool:
        verdicts = list(pool.map(verdict, checked))
    with engine.store.atomic() as db:
        repo = AssessmentRepo(db)
        for target in checked:
            if target.asset_id in light and target.state in (HostState.SUCCEEDED,
                                                             HostState.FAILED):
                repo.record_installed(target.asset_id,
                                      {**target.after, **read[target.asset_id]}, utcnow())
    others = [t.asset_id for t in dep.targets if not t.excluded and t.asset_id not in light]
    if engine.reassess is not None and others:
        engine.reassess(others)  # a full re-assessment where the light check was not made
    for target, found in zip(checked, verdicts, strict=True):
        dep = dep.with_target(replace(target, verified=found))
    summary = {v: sum(1 for t in dep.targets if t.verified == v)
               for v in ("installed", "missing", "failed")}
    engine._save(dep.moved(Phase.DONE), "verified: " + ", ".join(
        f"{n} {k}" for k, n in summary.items()), audit="deploy.verified")
