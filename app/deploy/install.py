"""Installing on one host: prepare (change set, old packages kept), start the job, wait,
check the versions and the health, reboot by policy — resumable at every step.

With a deployer of the fast path (:class:`app.drivers.quick.QuickDeploy`) and a recent
pre-flight, a host costs three remote calls after pre-flight: keeping the old packages,
checking the host is still as pre-flight saw it and starting the job (one); waiting for
the job on the host, then its installed versions and health snapshot (one, repeated only
for a job longer than :data:`WAIT_SECONDS`); the verification's (one, app.deploy.verify).
The steps and their records are those of the step-by-step path: the change set and the
"before" versions are written before the job starts, the kept files right after.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.core.clock import utcnow
from app.core.deployment import Deployment, HostState, Target, change_set_text
from app.core.errors import UserError
from app.core.progress import CancelToken
from app.deploy.hosts import failure_detail, host_pins, unexpected_changes
from app.deploy.hosts import port_open as _port_open
from app.drivers.base import DeployCapability, DriverError
from app.drivers.linux_deploy import compare_health
from app.drivers.quick import JobOutcome, QuickDeploy
from app.store.repos import AssetRepo

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine

#: The longest a single wait call blocks on the host (a cancel is seen between calls).
WAIT_SECONDS = 5


def install_host(engine: DeployEngine, dep_id: int, target: Target,
                 cancel: CancelToken) -> None:
    """Install the deployment's packages on one host (see the module's text)."""
    dep = engine.get(dep_id)
    target = dep.target(target.asset_id)
    if target.state not in (HostState.PENDING, HostState.RUNNING) or cancel.cancelled:
        return
    if target.state is HostState.PENDING and not engine._window_open(dep, target):
        engine._log(dep_id, target, "not started: its maintenance window has closed")
        return  # stays pending; the ring waits for the next window
    job = engine._job_id(dep, target.asset_id)
    try:
        asset = AssetRepo(engine.store.db()).get(target.asset_id)
        transport = engine.remote.transport_for(asset)
        deployer = engine._deployer(target.asset_id, transport)
        quick = deployer if isinstance(deployer, QuickDeploy) else None
        if target.state is HostState.PENDING:
            prepared = from_preflight(dep, target, asset.open_ports, job) if quick else None
            target = prepared or engine._prepare(dep, target, asset, transport, job, deployer)
            if target.state is HostState.SUCCEEDED:
                engine._update_target(dep_id, target, f"{target.label}: already up to date")
                return
            # Written BEFORE the install starts: a crash from here on resumes this job.
            engine._update_target(dep_id, target, f"{target.label}: installing "
                                  f"{', '.join(str(p) for p in dep.packages)}"
                                  + (f" ({change_set_text(target.changes)})"
                                     if target.changes else ""),
                                  audit="deploy.install_start")
        native = str(target.health_before.get("native_arch", ""))
        pins = host_pins(dep, target)
        outcome: JobOutcome | None = None
        if quick is not None:
            started, target = _keep_and_start(engine, dep, target, asset, transport, job,
                                              deployer, quick, pins)
            if not started:
                return
        else:
            answer, started = deployer.start(transport, target.job or job, pins)
            target = _started(engine, dep_id, target, answer, started)
        names = list(dict.fromkeys([*pins, *target.before]))
        if quick is not None:
            outcome = _wait_quick(quick, transport, started, names, native,
                                  dep.gates.host_timeout, cancel)
            status, after = outcome.status, outcome.versions or {}
        else:
            status = engine._wait(deployer, transport, started, dep.gates.host_timeout, cancel)
            after = deployer.versions(transport, names, native)
        _finish(engine, dep, target, deployer, transport, status, after,
                outcome.health if outcome else None, pins, cancel)
    except (UserError, DriverError) as exc:
        if cancel.wait(0):  # cut short by a cancel: the host stays as it was recorded
            return
        target = replace(engine.get(dep_id).target(target.asset_id),
                         state=HostState.FAILED, detail=str(exc), finished_at=utcnow())
        try:
            engine._update_target(dep_id, target, f"{target.label}: failed: {exc}",
                                  audit="deploy.install_done")
        except Exception as store_exc:
            engine._host_error(dep_id, target.asset_id, store_exc)
    except Exception as exc:  # any other failure is this host's error ([12].1)
        if cancel.wait(0):
            return
        engine._host_error(dep_id, target.asset_id, exc)


def from_preflight(dep: Deployment, target: Target, ports: Any, job: str) -> Target | None:
    """The target ready to install from its pre-flight (health snapshot and simulation),
    when that is recent and predicts changes; None: prepare it step by step."""
    from app.deploy.engine import SNAPSHOT_AGE

    health = target.health_before
    if (not target.changes or not isinstance(health.get("pins"), dict)
            or health.get("taken_at", 0.0) <= time.time() - SNAPSHOT_AGE):
        return None
    pins = {str(n): str(v) for n, v in health["pins"].items()}
    # A pin the transaction does not touch is installed at its version already.
    before = {**pins, **{c.name: c.before for c in target.changes}}
    return replace(target, state=HostState.RUNNING, before=before, job=job,
                   health_before={**health, "ports": list(ports)}, started_at=utcnow())


def _keep_and_start(engine: DeployEngine, dep: Deployment, target: Target, asset: Any,
                    transport: Any, job: str, deployer: DeployCapability, quick: QuickDeploy,
                    pins: dict[str, str]) -> tuple[str, Target]:
    """Keep the old packages and start the job in one call; the kept files are recorded
    at once. A host that changed since its pre-flight is prepared again step by step."""
    keep = {n: v for n, v in target.before.items() if v}
    done = quick.keep_and_start(transport, target.job or job, keep, dict(target.before), pins)
    if done.answer == "not-started":  # installed versions differ from pre-flight's
        engine._log(dep.id, target, "changed since pre-flight ("
                    + ", ".join(done.drift) + "); checking it again")
        target = engine._prepare(dep, replace(target, state=HostState.PENDING), asset,
                                 transport, job, deployer)
        if target.state is HostState.SUCCEEDED:  # by another hand: nothing left to do
            engine._update_target(dep.id, target, f"{target.label}: already up to date")
            return "", target
        engine._update_target(dep.id, target, f"{target.label}: change set now "
                              + (change_set_text(target.changes) or "empty"))
        answer, started = deployer.start(transport, target.job or job, host_pins(dep, target))
        return started, _started(engine, dep.id, target, answer, started)
    target = _started(engine, dep.id, target, done.answer, done.job)
    target = replace(target, health_before={**target.health_before, "kept": done.kept})
    engine._update_target(dep.id, target, f"{target.label}: old package(s) kept: "
                          + (", ".join(sorted(done.kept)) or "none found"))
    return done.job, target


def _started(engine: DeployEngine, dep_id: int, target: Target, answer: str,
             started: str) -> Target:
    """Record a job that runs under another id than recorded (the recorded one was
    another deployment's) and say when the run re-attached to a job already running."""
    if started != target.job:
        engine._log(dep_id, target, f"job {target.job} on the host is another "
                    f"deployment's; this one runs as {started}")
        target = replace(target, job=started)
        engine._update_target(dep_id, target, "")
    if answer == "already-started":
        engine._log(dep_id, target, "re-attached to the install job already running")
    return target


def _wait_quick(quick: QuickDeploy, transport: Any, job: str, names: list[str], native: str,
                timeout: float, cancel: CancelToken) -> JobOutcome:
    """Wait for a job on the host, :data:`WAIT_SECONDS` per call at most."""
    deadline = time.monotonic() + timeout
    while True:
        if cancel.wait(0):
            raise DriverError(transport.host, "cancelled", "stopped waiting (cancelled)")
        left = deadline - time.monotonic()
        outcome = quick.wait_job(transport, job, names, native,
                                 int(max(0, min(WAIT_SECONDS, left))))
        if outcome.status.state == "done":
            return outcome
        if outcome.status.state == "absent":
            raise DriverError(transport.host, "install_failed", "the install job vanished")
        if time.monotonic() > deadline:
            raise DriverError(transport.host, "timeout",
                              f"the install did not finish within {timeout:.0f}s")


def _finish(engine: DeployEngine, dep: Deployment, target: Target, deployer: DeployCapability,
            transport: Any, status: Any, after: dict[str, str],
            health_after: dict[str, Any] | None, pins: dict[str, str],
            cancel: CancelToken) -> None:
    """The job's verdict, the reboot by policy and the after-install health, recorded."""
    wrong = unexpected_changes(target.changes, pins, after)
    job_problems = deployer.job_problems(status)
    ok = not job_problems and not wrong
    detail = "installed" if ok else failure_detail(deployer, status, job_problems, wrong)
    reboot = "not needed"
    if ok:
        if target.reboot != "scheduled" and health_after is None:
            health_after = deployer.health(transport)  # one snapshot serves the decision
        reboot, target = engine._reboot_if_needed(dep, deployer, transport, target, after,
                                                  cancel, health_after)
        if reboot.startswith("done"):  # rebooted: the snapshot must be from after
            health_after = None
    if health_after is None:
        health_after = deployer.health(transport)
    closed = [p for p in target.health_before.get("ports", [])
              if not _port_open(target.address, p)]
    problems = compare_health(target.health_before, health_after, closed)
    target = replace(target, state=HostState.SUCCEEDED if ok else HostState.FAILED,
                     after=after, detail=detail, reboot=reboot,
                     health_after={**health_after, "problems": problems},
                     finished_at=utcnow())
    engine._update_target(dep.id, target, f"{target.label}: {detail}"
                          + (f"; health: {'; '.join(problems)}" if problems else ""),
                          audit="deploy.install_done")
