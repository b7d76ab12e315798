"""The deployment engine: runs the state machine of :mod:`app.core.deployment` on real hosts.

Every step is written to the site before and after its remote action, so a deployment
killed at any point resumes exactly where it stood: a host whose install job was started
is re-attached to that job (the job itself refuses to start twice on the host), a finished
host is never touched again. Rings run wave by wave with bounded concurrency; a failure
threshold halts the wave and everything after it; test and pilot rings are promoted only
through their gates; rollback restores the versions recorded before installing from the
package files kept on each host.

The engine never names a package manager: each host's deployer comes from the driver
registry (:func:`app.drivers.registry.deployer_for`: apt, dnf or zypper from the host's
os-release), and pre-flight, install, verification and rollback go through its
:class:`~app.drivers.base.DeployCapability`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar

from app.core.clock import utcnow
from app.core.deployment import (
    PHASE_STAGE,
    Deployment,
    DeploymentError,
    Gates,
    HostState,
    PackageChange,
    PackagePin,
    Phase,
    RebootPolicy,
    Stage,
    Target,
    assign_waves,
    change_set_text,
    halted_at_preflight,
)
from app.core.errors import UserError
from app.core.models import Asset, AssetKind, Outcome
from app.core.policy import MaintenanceWindow
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.deploy.hosts import answering as _answering
from app.deploy.hosts import host_error_text, lock_problem, reschedule_if_pending
from app.deploy.hosts import pins as _pins
from app.deploy.install import install_host
from app.deploy.recheck import ADVICE as RECHECK_ADVICE
from app.deploy.recheck import recheck
from app.deploy.rollback import rollback_host
from app.deploy.verify import verify
from app.deploy.windows import host_windows, window_gate, window_open
from app.drivers.base import DeployCapability, DriverError, JobStatus, Transport
from app.drivers.quick import QuickDeploy
from app.drivers.registry import deployer_for
from app.remote.access import RemoteAccess
from app.store.db import SiteDB
from app.store.deployments import DeploymentRepo, site_job_id
from app.store.repos import AssetRepo, AuditRepo

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the longest wait between two polls of a package job
FIRST_POLL_SECONDS = 0.25  # the first wait after starting; doubled up to POLL_SECONDS
REBOOT_GRACE = 900.0  # seconds a host may take to come back after its reboot time
SNAPSHOT_AGE = 900.0  # seconds a pre-flight health snapshot serves as the "before" picture
EventCallback = Callable[[int, int | None, str], None]  # deployment id, asset id, message


class DeploymentBusyError(DeploymentError):
    """The deployment is already being run or rolled back in this process."""


class DeployEngine:
    """Plans, runs, resumes, approves and rolls back deployments of one site.

    The engine owns the run lock: one run or rollback of a deployment at a time in this
    process (:meth:`busy` tells; a second one raises :class:`DeploymentBusyError`),
    whichever engine or shell asks. Remote work holds no database transaction: every
    store write is one short transaction, so runs and rollbacks belong on a worker
    thread, never on a single write worker.
    """

    #: Deployments being run or rolled back in this process: (site file, id) → what.
    _active: ClassVar[dict[tuple[str, int], str]] = {}
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, store: SiteDB, remote: RemoteAccess, actor: str,
                 reassess: Callable[[list[int]], Any] | None = None) -> None:
        self.store = store
        self.remote = remote
        self.actor = actor
        self.reassess = reassess
        #: The host's deployer from its transport (the driver registry; tests may swap it).
        self.deployer_for: Callable[[Transport], DeployCapability] = deployer_for
        self._deployers: dict[int, DeployCapability] = {}  # by asset id, per operation
        self._lock = threading.Lock()
        self._site_id = ""
        self.on_event: EventCallback | None = None
        #: Called with the approver's name before an approval; raises UserError to refuse
        #: (the patch policy's "who may approve", set by the services layer).
        self.approval_guard: Callable[[str], None] | None = None
        #: The local time maintenance windows are judged by (a test may replace it).
        self.clock: Callable[[], datetime] = lambda: datetime.now().astimezone()
        #: Called with the targets about to be pre-flighted once their window is open (the
        #: Wake-on-LAN step, set by the services layer); returns nothing.
        self.before_preflight: Callable[[Deployment, list[Target]], object] | None = None

    # -- the run lock ----------------------------------------------------------------
    def _active_key(self, dep_id: int) -> tuple[str, int]:
        return str(Path(self.store.path).resolve()), dep_id

    def busy(self, dep_id: int) -> str:
        """What is running the deployment in this process ("running", "rolling back"),
        or "" when nothing is."""
        with DeployEngine._active_lock:
            return DeployEngine._active.get(self._active_key(dep_id), "")

    @contextmanager
    def _claimed(self, dep_id: int, what: str) -> Iterator[None]:
        key = self._active_key(dep_id)
        with DeployEngine._active_lock:
            other = DeployEngine._active.get(key)
            if other is not None:
                raise DeploymentBusyError(f"Deployment {dep_id} is {other} already; wait "
                                          "until that has stopped.")
            DeployEngine._active[key] = what
        try:
            yield
        finally:
            with DeployEngine._active_lock:
                DeployEngine._active.pop(key, None)

    # -- persistence -----------------------------------------------------------------
    def get(self, dep_id: int) -> Deployment:
        """One deployment as stored."""
        return DeploymentRepo(self.store.db()).get(dep_id)

    def _save(self, dep: Deployment, message: str = "", asset_id: int | None = None,
              audit: str = "") -> Deployment:
        with self.store.atomic() as db:
            repo = DeploymentRepo(db)
            repo.save(dep)
            if message:
                repo.log(dep.id, message, asset_id)
            if audit:
                AuditRepo(db).append(self.actor, audit, "deployment", str(dep.id),
                                     {"message": message, "asset_id": asset_id,
                                      "phase": str(dep.phase)})
        if message and self.on_event is not None:
            self.on_event(dep.id, asset_id, message)
        return dep

    def _update_target(self, dep_id: int, target: Target, message: str,
                       audit: str = "") -> Deployment:
        with self._lock:
            dep = self.get(dep_id).with_target(target)
            return self._save(dep, message, target.asset_id, audit)

    def _job_id(self, dep: Deployment, asset_id: int) -> str:
        """The host-side job id: this site's random id, the deployment's random id and the
        asset, so another site's (or a re-created site's) deployment of the same number
        never finds this one's job, nor this one another's."""
        if not self._site_id:
            with self.store.atomic() as db:
                self._site_id = site_job_id(db)
        return f"pd-{self._site_id}-{dep.uid}-a{asset_id}"

    def _with_uid(self, dep: Deployment) -> Deployment:
        """A deployment stored before deployments had a random id gets one now."""
        if dep.uid:
            return dep
        with self._lock:
            dep = self.get(dep.id)
            if not dep.uid:
                dep = self._save(replace(dep, uid=secrets.token_hex(4)))
            return dep

    def _deployer(self, asset_id: int, transport: Transport) -> DeployCapability:
        """The deployer of a host (asked once per operation; see :meth:`_forget_deployers`).

        Raises:
            DriverError: the host's package manager has no deployer (``unknown_os``...).
        """
        with self._lock:
            known = self._deployers.get(asset_id)
        if known is None:
            known = self.deployer_for(transport)
            with self._lock:
                self._deployers[asset_id] = known
        return known

    def _forget_deployers(self) -> None:
        """A new operation asks each host again (a host may have been re-installed)."""
        with self._lock:
            self._deployers.clear()

    # -- planning --------------------------------------------------------------------
    def plan(self, packages: Sequence[PackagePin], targets: Sequence[tuple[Asset, Stage]],
             gates: Gates, window: str = "") -> Deployment:
        """Create a deployment: which exact versions go to which hosts in which ring."""
        if not packages:
            raise UserError("A deployment needs at least one package.")
        if not targets:
            raise UserError("A deployment needs at least one target host.")
        plan_targets = [Target(asset_id=int(a.id or 0), label=a.label,
                               address=a.primary_ip or a.hostname, stage=stage)
                        for a, stage in targets]
        dep = Deployment(id=0, packages=tuple(packages),
                         targets=assign_waves(plan_targets, gates.wave_size), gates=gates,
                         created_by=self.actor, created_at=utcnow(), window=window,
                         uid=secrets.token_hex(4))
        with self.store.atomic() as db:
            stored = DeploymentRepo(db).create(dep)
            AuditRepo(db).append(self.actor, "deploy.plan", "deployment", str(stored.id), {
                "packages": [str(p) for p in packages],
                "targets": {str(t.stage): [x.label for x in stored.targets
                                           if x.stage is t.stage] for t in stored.targets},
                "gates": gates.to_dict()})
        return stored

    def simulate(self, dep_id: int) -> Deployment:
        """Record on each pending host what installing would change (the package
        manager's simulation, nothing installed), so the change set can be reviewed before
        the deployment runs. Pre-flight simulates again; a host that cannot be reached or
        simulated is logged."""
        self._forget_deployers()
        dep = self.get(dep_id)
        assets = {a.id: a for a in AssetRepo(self.store.db()).all()}

        def one(target: Target) -> None:
            asset = assets.get(target.asset_id)
            if asset is None or target.state is not HostState.PENDING:
                return
            try:
                transport = self.remote.transport_for(asset)
                sim = self._deployer(target.asset_id, transport).simulate(transport, _pins(dep))
            except Exception as exc:  # this host's problem only ([12].1)
                self._log(dep_id, target, f"simulation: {host_error_text(exc)}")
                return
            current = self.get(dep_id).target(target.asset_id)
            self._update_target(dep_id, replace(current, changes=sim.changes, health_before={
                **current.health_before, "native_arch": sim.native_arch, "pins": sim.pins}),
                                f"{target.label}: would change: "
                                + (change_set_text(sim.changes) or "nothing"))

        with ThreadPoolExecutor(max_workers=max(1, dep.gates.concurrency)) as pool:
            list(pool.map(one, dep.targets))
        return self.get(dep_id)

    # -- running ---------------------------------------------------------------------
    def run(self, dep_id: int, *, approve_as: str = "", progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None,
            pause_after_preflight: bool = False) -> Deployment:
        """Run (or resume) a deployment until it finishes, halts or awaits approval.

        Args:
            approve_as: approve at the approval step in this person's name (scripted runs);
                without it the run stops there and waits for :meth:`approve`.
            pause_after_preflight: return after pre-flight when hosts were excluded, so a
                person can override them before anything is installed.

        Raises:
            DeploymentBusyError: the deployment is being run or rolled back already.
        """
        with self._claimed(dep_id, "running"):
            return self._run(dep_id, approve_as=approve_as, progress=progress, cancel=cancel,
                             pause_after_preflight=pause_after_preflight)

    def _run(self, dep_id: int, *, approve_as: str, progress: ProgressCallback | None,
             cancel: CancelToken | None, pause_after_preflight: bool) -> Deployment:
        cancel = cancel or CancelToken()
        self._forget_deployers()
        dep = recheck(self, self._with_uid(self.get(dep_id)), cancel)  # failed hosts again
        if halted_at_preflight(dep):  # still blocked: halted as it now stands
            return dep
        if dep.phase is Phase.HALTED:
            raise DeploymentError(f"deployment {dep.id} halted: {dep.halt_reason}. Roll it "
                                  "back, or plan a new deployment.")
        if dep.finished:
            return dep
        while not cancel.cancelled:
            dep = self.get(dep_id)
            self._report(dep, progress)
            if dep.phase is Phase.PLANNED:
                opened = self._window_gate(dep, list(dep.targets), progress, cancel)
                if not opened:  # cancelled while waiting for the window
                    break
                if self.before_preflight is not None:
                    self.before_preflight(dep, opened)
                dep = self._save(dep.moved(Phase.PREFLIGHT), "pre-flight checks started",
                                 audit="deploy.preflight")
            elif dep.phase is Phase.PREFLIGHT:
                dep = self._preflight(dep, cancel)
                if cancel.wait(0):  # cancelled during the checks
                    break
                blocker = dep.preflight_blocker()
                if blocker:
                    self._halt(dep, f"{blocker}; {RECHECK_ADVICE}")
                    return self.get(dep_id)
                dep = self._save(dep.moved(dep.after_preflight()),
                                 f"pre-flight done: {sum(t.excluded for t in dep.targets)} "
                                 "host(s) excluded")
                if pause_after_preflight and any(t.excluded for t in dep.targets):
                    return dep
            elif dep.phase in PHASE_STAGE:
                self._run_ring(dep, PHASE_STAGE[dep.phase], progress, cancel)
            elif dep.phase is Phase.AWAITING_APPROVAL:
                if not approve_as:
                    return dep
                dep = self.approve(dep_id, approve_as)
            elif dep.phase is Phase.VERIFICATION:
                self._verify(dep)
            elif dep.phase is Phase.ROLLING_BACK:  # a rollback was interrupted: finish it
                return self._rollback(dep_id, None, cancel)
            else:
                return dep
        return self.get(dep_id)

    def approve(self, dep_id: int, approver: str, note: str = "") -> Deployment:
        """Named approval after the test ring (audited; refused approvals too)."""
        if self.approval_guard is not None:
            try:
                self.approval_guard(approver)
            except UserError as exc:
                with self.store.atomic() as db:
                    AuditRepo(db).append(self.actor, "deploy.approve", "deployment",
                                         str(dep_id), {"approver": approver,
                                                       "refused": str(exc)},
                                         outcome=Outcome.DENIED)
                raise
        with self._lock:
            dep = self.get(dep_id).approved(approver, utcnow(), note)
            return self._save(dep, f"approved by {dep.approval.approver if dep.approval else ''}"
                              + (f": {note}" if note else ""), audit="deploy.approve")

    def override(self, dep_id: int, asset_id: int, reason: str) -> Deployment:
        """Let a host that failed pre-flight take part anyway (audited, reason required)."""
        if not reason.strip():
            raise UserError("An override needs a reason.")
        with self._lock:
            dep = self.get(dep_id)
            target = replace(dep.target(asset_id), override=f"{self.actor}: {reason.strip()}")
            return self._save(dep.with_target(target),
                              f"pre-flight override for {target.label}: {reason.strip()}",
                              asset_id, audit="deploy.override")

    def _report(self, dep: Deployment, progress: ProgressCallback | None) -> None:
        if progress is None:
            return
        done = sum(1 for t in dep.targets if t.state in (HostState.SUCCEEDED,
                                                          HostState.FAILED,
                                                          HostState.SKIPPED))
        progress(Progress(done, len(dep.targets), f"{dep.phase}"))

    # -- maintenance windows ---------------------------------------------------------
    def _host_windows(self, dep: Deployment, target: Target) -> list[MaintenanceWindow]:
        """The plan's windows that apply to a host (:func:`app.deploy.windows.host_windows`)."""
        return host_windows(self, dep, target)

    def _window_open(self, dep: Deployment, target: Target,
                     now: datetime | None = None) -> bool:
        """Whether a host's maintenance window is open now."""
        return window_open(self, dep, target, now)

    def _window_gate(self, dep: Deployment, targets: list[Target],
                     progress: ProgressCallback | None, cancel: CancelToken) -> list[Target]:
        """The hosts that may start now (:func:`app.deploy.windows.window_gate`)."""
        return window_gate(self, dep, targets, progress, cancel)

    # -- pre-flight ------------------------------------------------------------------
    def _preflight(self, dep: Deployment, cancel: CancelToken,
                   again: frozenset[int] = frozenset()) -> Deployment:
        """Pre-flight of the hosts not checked yet (or again, of the hosts ``again``)."""
        assets = {a.id: a for a in AssetRepo(self.store.db()).all()}

        def check(target: Target) -> None:
            skip = target.asset_id not in again if again else bool(target.preflight)
            if cancel.cancelled or skip or target.state is not HostState.PENDING:
                return
            asset = assets.get(target.asset_id)
            snapshot: dict[str, Any] = {}
            changes: list[PackageChange] = []
            try:  # any failure is this host's pre-flight problem ([12].1)
                problems = self._checks(dep, asset, snapshot, changes) if asset \
                    else ["the asset was deleted"]
            except Exception as exc:
                problems = [host_error_text(exc)]
            message = ("pre-flight passed" if not problems
                       else "pre-flight failed: " + "; ".join(problems))
            if changes:
                message += "; would change: " + change_set_text(changes)
            try:
                self._update_target(dep.id, replace(target, preflight=tuple(problems),
                                                    health_before=snapshot,
                                                    changes=tuple(changes)), message,
                                    audit="" if not problems else "deploy.preflight_failed")
            except Exception as exc:  # its result could not be stored: its error alone
                self._host_error(dep.id, target.asset_id, exc, preflight=True)

        with ThreadPoolExecutor(max_workers=max(1, dep.gates.concurrency)) as pool:
            list(pool.map(check, dep.targets))
        return self.get(dep.id)

    def _checks(self, dep: Deployment, asset: Asset, snapshot: dict[str, Any],
                changes: list[PackageChange]) -> list[str]:
        """Pre-flight problems of one host; its health snapshot goes into ``snapshot``, the
        change set the package manager's simulation predicts into ``changes``."""
        problems: list[str] = []
        try:
            transport = self.remote.transport_for(asset)
            deployer = self._deployer(int(asset.id or 0), transport)  # the driver decides
            quick = deployer.preflight(transport, _pins(dep)) \
                if isinstance(deployer, QuickDeploy) else None  # health and simulation at once
            health = quick[0] if quick else deployer.health(transport)  # sudo checks sudo
            snapshot.update(health, taken_at=time.time())
            if health["uid"] != "0":
                problems.append("sudo does not give root")
            free = min((v for v in health["free_bytes"].values() if v is not None),
                       default=None)
            if free is not None and free < dep.gates.min_free_mb * 1024 * 1024:
                problems.append(f"only {free // 1_048_576} MB free (needs "
                                f"{dep.gates.min_free_mb} MB)")
            if health["package_audit"]:
                problems.append(f"the package database reports broken packages "
                                f"({health['package_audit'].splitlines()[0][:100]})")
            if health["reboot_required"] and dep.gates.reboot.value == "never":
                problems.append("a reboot is already pending")
            # an install would wait behind it (the fast path's one call probed it too)
            locked = str(quick[0].get("lock_holder", "")) if quick else lock_problem(
                deployer, transport)
            if locked:
                problems.append(locked)
            if deployer.tool not in health["package_tools"]:
                problems.append(f"{deployer.tool} is not installed on this host (no driver "
                                "for installs)")
            else:
                try:
                    sim = quick[1] if quick else deployer.simulate(transport, _pins(dep))
                    if isinstance(sim, DriverError):
                        raise sim
                    changes.extend(sim.changes)
                    snapshot.update(native_arch=sim.native_arch, pins=sim.pins)
                except DriverError as exc:
                    problems.append(str(exc).removeprefix(f"{transport.host}: "))
        except UserError as exc:
            problems.append(str(exc).removeprefix(f"{asset.primary_ip}: "))
        except Exception as exc:  # garbage from the host ([12].1)
            problems.append(host_error_text(exc))
        if (dep.gates.backup_days is not None and asset.kind is AssetKind.SERVER
                and not self._backup_attested(asset, dep.gates.backup_days)):
            problems.append(f"no verified backup in the last {dep.gates.backup_days} days")
        return problems

    def _backup_attested(self, asset: Asset, days: int) -> bool:
        events = AuditRepo(self.store.db()).events(object_type="asset",
                                                   object_id=str(asset.id), limit=200)
        cutoff = utcnow().timestamp() - days * 86400
        return any(e.action == "asset.backup_verified" and e.ts.timestamp() >= cutoff
                   for e in events)

    # -- rings and waves -------------------------------------------------------------
    def _run_ring(self, dep: Deployment, stage: Stage, progress: ProgressCallback | None,
                  cancel: CancelToken) -> None:
        while not cancel.cancelled:
            dep = self.get(dep.id)
            wave = dep.current_wave(stage)
            if not wave:
                break
            wave = self._window_gate(dep, wave, progress, cancel)
            if not wave:  # cancelled while waiting for the window
                return
            label = f"wave {wave[0].wave + 1}" if stage is Stage.PRODUCTION else f"{stage} ring"
            self._save(dep, f"{label}: {', '.join(t.label for t in wave)}")
            self._install_wave(dep, wave, cancel)
            dep = self.get(dep.id)
            self._report(dep, progress)
            reason = dep.failures_exceeded(stage)
            if reason:
                self._halt(dep, f"failure threshold reached: {reason}")
                return
        if cancel.cancelled:
            return
        dep = self.get(dep.id)
        passed, why = dep.gate_passed(stage)
        if not passed:
            self._halt(dep, f"gate not passed: {why}")
            return
        after = dep.after_ring(stage)
        self._save(dep.moved(after), f"{stage} ring complete "
                   f"({dep.success_rate(stage):.0%} succeeded)", audit="deploy.ring_done")

    def _install_wave(self, dep: Deployment, wave: list[Target], cancel: CancelToken) -> None:
        """Install one wave, ``concurrency`` hosts at a time (app.deploy.ansible: playbooks)."""
        with ThreadPoolExecutor(max_workers=max(1, dep.gates.concurrency)) as pool:
            list(pool.map(partial(self._install_host, dep.id), wave, repeat(cancel)))

    def _halt(self, dep: Deployment, reason: str) -> None:
        with self._lock:
            dep = self.get(dep.id)
            self._save(dep.moved(Phase.HALTED, reason=reason), f"halted: {reason}",
                       audit="deploy.halt")

    def _install_host(self, dep_id: int, target: Target, cancel: CancelToken) -> None:
        """One host's install (:func:`app.deploy.install.install_host`)."""
        install_host(self, dep_id, target, cancel)

    def _prepare(self, dep: Deployment, target: Target, asset: Asset, transport: Any,
                 job: str, deployer: DeployCapability) -> Target:
        """Record what the install will change and keep the old package files of all of it.

        The deployer's simulation (``apt-get -s install``, dnf's ``--assumeno`` table,
        zypper's ``--dry-run`` summary) names every package the transaction
        changes: the requested ones and what comes along (upgraded dependencies, new ones,
        removals). Their installed versions are the "before" picture, and the package file
        of each one that was installed is kept on the host for rollback. Returns the target as it
        is to be saved (SUCCEEDED when there is nothing to do)."""
        sim = deployer.simulate(transport, _pins(dep))
        native, pins = sim.native_arch, sim.pins
        # The change set carries the installed versions; a pin the transaction does not
        # touch is installed at its version already (it would be listed otherwise).
        before = {**pins, **{c.name: c.before for c in sim.changes}}
        names = list(before)
        if not sim.changes:  # nothing to do, unless dpkg says a pin is not fully installed
            before = deployer.versions(transport, names, native)
        if not sim.changes and before == pins:
            return replace(target, state=HostState.SUCCEEDED, before=before, after=before,
                           detail="already at the target version" if pins else
                           "no package applies to this host's architecture",
                           started_at=utcnow(), finished_at=utcnow(), changes=(),
                           health_before={**target.health_before, "native_arch": native,
                                          "pins": pins})
        # The pre-flight snapshot is the "before" picture when it is recent (a production
        # wave hours later in a maintenance window takes a new one).
        recent = target.health_before.get("taken_at", 0.0) > time.time() - SNAPSHOT_AGE
        health = dict(target.health_before) if recent else deployer.health(transport)
        kept = deployer.keep_for_rollback(
            transport, job, {n: before[n] for n in names if before.get(n)})
        return replace(target, state=HostState.RUNNING, before=before, job=job,
                       changes=sim.changes,
                       health_before={**health, "kept": kept, "native_arch": native,
                                      "pins": pins, "ports": list(asset.open_ports)},
                       started_at=utcnow())

    def _reboot_if_needed(self, dep: Deployment, deployer: DeployCapability, transport: Any,
                          target: Target, after: dict[str, str], cancel: CancelToken,
                          health: dict[str, Any] | None = None) -> tuple[str, Target]:
        """Reboot by policy: notice to logged-in users, scheduled reboot, wait for the new
        boot marker and a working login. Resumable: a reboot recorded as scheduled is asked
        again only while the host runs the same boot, then waited for. ``health`` is the
        snapshot taken after the install, when the caller has one (its reboot flag decides)."""
        policy = dep.gates.reboot
        if target.reboot != "scheduled":
            if health is None:
                health = deployer.health(transport)
            pending = bool(health.get("reboot_required"))
            if policy is RebootPolicy.NEVER or (policy is RebootPolicy.IF_NEEDED
                                                and not pending):
                return ("needed; not rebooted (policy: never)" if pending
                        else "not needed"), target
            minutes = dep.gates.reboot_lead_minutes
            message = dep.gates.reboot_text(minutes)  # never str.format ([12].15)
            target = replace(target, after=after, reboot="scheduled",
                             reboot_marker=deployer.rebooter.marker(transport))
            # Recorded before the notice goes out: a resumed run only waits for it.
            self._update_target(dep.id, target, f"{target.label}: reboot scheduled in "
                                f"{minutes} min; users notified", audit="deploy.reboot")
            deployer.rebooter.notify(transport, message)
            deployer.rebooter.schedule(transport, minutes, message)
        elif reschedule_if_pending(dep, deployer, transport, target):  # killed in between
            self._log(dep.id, target, "reboot scheduled again after an interruption")
        deadline = time.monotonic() + dep.gates.reboot_lead_minutes * 60 + REBOOT_GRACE
        seen_down = False
        transport.close()
        while True:
            if cancel.wait(2.0):
                raise DriverError(transport.host, "cancelled", "stopped waiting for the reboot")
            try:
                marker = deployer.rebooter.marker(transport)
                back = (marker and marker != target.reboot_marker) or (seen_down and not marker)
                if back and _answering(deployer, transport):
                    how = "boot marker changed" + (", seen down and back" if seen_down else "")
                    self._log(dep.id, target, f"back after reboot ({how})")
                    return f"done ({how})", target
            except UserError:
                seen_down = True
                transport.close()
            if time.monotonic() > deadline:
                raise DriverError(transport.host, "reboot_failed",
                                  "the host did not come back from its reboot in time")

    def cancel_reboot(self, dep_id: int, asset_id: int) -> Deployment:
        """Cancel a host's scheduled reboot (audited)."""
        dep = self.get(dep_id)
        target = dep.target(asset_id)
        asset = AssetRepo(self.store.db()).get(asset_id)
        transport = self.remote.transport_for(asset)
        self._deployer(asset_id, transport).rebooter.cancel(transport)
        return self._update_target(dep_id, replace(target, reboot="cancelled by " + self.actor),
                                   f"{target.label}: scheduled reboot cancelled",
                                   audit="deploy.reboot_cancel")

    def _wait(self, deployer: DeployCapability, transport: Any, job: str, timeout: float,
              cancel: CancelToken) -> JobStatus:
        """Poll a job until it is done: first after FIRST_POLL_SECONDS (a job just started
        is never done at once), then at doubling intervals up to POLL_SECONDS."""
        deadline = time.monotonic() + timeout
        delay = FIRST_POLL_SECONDS
        while True:
            if cancel.wait(delay):
                raise DriverError(transport.host, "cancelled", "stopped waiting (cancelled)")
            delay = min(POLL_SECONDS, delay * 2)
            status = deployer.status(transport, job)
            if status.state == "done":
                return status
            if status.state == "absent":
                raise DriverError(transport.host, "install_failed", "the install job vanished")
            if time.monotonic() > deadline:
                raise DriverError(transport.host, "timeout",
                                  f"the install did not finish within {timeout:.0f}s")

    def _host_error(self, dep_id: int, asset_id: int, exc: BaseException, *,
                    preflight: bool = False, state: bool = True) -> None:
        """One host's step failed in a way its own handling did not expect (garbage output,
        its result could not be stored): record that as the host's error, audited, and let
        the others go on ([12].1). Storing here is one small write of the host alone."""
        what = host_error_text(exc)
        log.warning("deployment %s, asset %s: %s", dep_id, asset_id, what)
        try:
            target = self.get(dep_id).target(asset_id)
            if preflight:
                target = replace(target, preflight=(what,))
            elif state:
                target = replace(target, state=HostState.FAILED, detail=what,
                                 finished_at=utcnow())
            else:
                target = replace(target, detail=what)
            self._update_target(dep_id, target, f"{target.label}: {what}",
                                audit="deploy.host_error")
        except Exception:  # the site itself refuses writes: nothing more to record here
            log.exception("could not record the error of asset %s", asset_id)

    def _log(self, dep_id: int, target: Target, message: str) -> None:
        with self.store.atomic() as db:
            DeploymentRepo(db).log(dep_id, f"{target.label}: {message}", target.asset_id)
        if self.on_event is not None:
            self.on_event(dep_id, target.asset_id, f"{target.label}: {message}")

    # -- verification ----------------------------------------------------------------
    def _verify(self, dep: Deployment) -> None:
        """The light verification (:func:`app.deploy.verify.verify`)."""
        verify(self, dep)

    # -- rollback --------------------------------------------------------------------
    def rollback(self, dep_id: int, asset_ids: Sequence[int] | None = None,
                 cancel: CancelToken | None = None) -> Deployment:
        """Restore the versions recorded before installing (per host or whole deployment).

        Raises:
            DeploymentBusyError: the deployment is being run or rolled back already.
        """
        with self._claimed(dep_id, "rolling back"):
            return self._rollback(dep_id, asset_ids, cancel)

    def _rollback(self, dep_id: int, asset_ids: Sequence[int] | None,
                  cancel: CancelToken | None) -> Deployment:
        cancel = cancel or CancelToken()
        self._forget_deployers()
        dep = self._with_uid(self.get(dep_id))
        whole = asset_ids is None
        if whole and dep.phase is not Phase.ROLLING_BACK:
            dep = self._save(dep.moved(Phase.ROLLING_BACK), "rollback started",
                             audit="deploy.rollback")
        wanted = [t for t in dep.targets
                  if (whole or t.asset_id in set(asset_ids or ()))
                  and t.before and t.state in (HostState.SUCCEEDED, HostState.FAILED,
                                               HostState.RUNNING)]
        self._rollback_hosts(dep_id, wanted, cancel)
        dep = self.get(dep_id)
        if whole:
            left = [t for t in dep.targets if t.state in (HostState.SUCCEEDED,
                                                          HostState.FAILED) and t.before]
            phase = Phase.ROLLED_BACK if not left else Phase.HALTED
            dep = self._save(dep.moved(phase, reason="rollback incomplete" if left else ""),
                             "rolled back" if not left else
                             f"rollback incomplete on {', '.join(t.label for t in left)}",
                             audit="deploy.rollback_done")
        return dep

    def _rollback_hosts(self, dep_id: int, wanted: list[Target], cancel: CancelToken) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.get(dep_id).gates.concurrency)) as pool:
            list(pool.map(lambda t: self._rollback_host(dep_id, t, cancel), wanted))

    def _rollback_host(self, dep_id: int, target: Target, cancel: CancelToken) -> None:
        """One host's rollback (:func:`app.deploy.rollback.rollback_host`)."""
        rollback_host(self, dep_id, target, cancel)
