"""A deployment as an explicit state machine: plan → pre-flight → test ring → approval →
pilot → production waves → verification → done, or halted / rolled back.

Pure: the deployment engine (``app/deploy``) performs the remote work and persists every
change; this module only says which transitions are allowed and what comes next, so the
rules are testable without hosts and a resumed deployment follows the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.core.csvtext import csv_text
from app.core.errors import UserError
from app.core.models import StrEnum


class Phase(StrEnum):
    """Where a deployment stands."""

    PLANNED = "planned"
    PREFLIGHT = "preflight"
    TEST_RING = "test_ring"
    AWAITING_APPROVAL = "awaiting_approval"
    PILOT = "pilot"
    PRODUCTION = "production"
    VERIFICATION = "verification"
    DONE = "done"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"  # closed by a person: nothing more runs (audited)


class HostState(StrEnum):
    """Where one target host stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"


class Stage(StrEnum):
    """The ring a target is deployed in."""

    TEST = "test"
    PILOT = "pilot"
    PRODUCTION = "production"


class RebootPolicy(StrEnum):
    """When to reboot after installing."""

    NEVER = "never"
    IF_NEEDED = "if-needed"
    ALWAYS = "always"


#: The ring each installing phase works on.
PHASE_STAGE: dict[Phase, Stage] = {
    Phase.TEST_RING: Stage.TEST,
    Phase.PILOT: Stage.PILOT,
    Phase.PRODUCTION: Stage.PRODUCTION,
}

#: Allowed transitions (from → to). Anything else is a bug or a wrong command.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PLANNED: frozenset({Phase.PREFLIGHT, Phase.HALTED}),
    Phase.PREFLIGHT: frozenset({Phase.TEST_RING, Phase.PILOT, Phase.PRODUCTION,
                                Phase.HALTED}),
    Phase.TEST_RING: frozenset({Phase.AWAITING_APPROVAL, Phase.HALTED}),
    Phase.AWAITING_APPROVAL: frozenset({Phase.PILOT, Phase.PRODUCTION, Phase.HALTED}),
    Phase.PILOT: frozenset({Phase.PRODUCTION, Phase.VERIFICATION, Phase.HALTED}),
    Phase.PRODUCTION: frozenset({Phase.VERIFICATION, Phase.HALTED}),
    Phase.VERIFICATION: frozenset({Phase.DONE, Phase.HALTED}),
    Phase.DONE: frozenset({Phase.ROLLING_BACK}),
    Phase.HALTED: frozenset({Phase.ROLLING_BACK, Phase.TEST_RING, Phase.AWAITING_APPROVAL,
                             Phase.PILOT, Phase.PRODUCTION, Phase.VERIFICATION,
                             Phase.CANCELLED}),
    Phase.ROLLING_BACK: frozenset({Phase.ROLLED_BACK, Phase.HALTED}),
    Phase.ROLLED_BACK: frozenset(),
    Phase.CANCELLED: frozenset({Phase.ROLLING_BACK}),  # what it installed can go back
}
# A person may cancel a deployment that is not finished (not while it runs: the service
# checks the run lock); a rollback under way is finished first.
for _phase in (Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING, Phase.AWAITING_APPROVAL,
               Phase.PILOT, Phase.PRODUCTION, Phase.VERIFICATION):
    TRANSITIONS[_phase] = TRANSITIONS[_phase] | {Phase.CANCELLED}
#: Phases a deployment can be cancelled from.
CANCELLABLE_PHASES = frozenset(p for p, to in TRANSITIONS.items() if Phase.CANCELLED in to)
#: Phases a deployment can be archived in (hidden from the default list): nothing more runs.
ARCHIVABLE_PHASES = frozenset({Phase.DONE, Phase.HALTED, Phase.ROLLED_BACK, Phase.CANCELLED})


#: Phases in which a run has work to do.
RUNNING_PHASES = frozenset({Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING, Phase.PILOT,
                            Phase.PRODUCTION, Phase.VERIFICATION})
#: Phases a deployment can be resumed from: a run continues it, or it awaits approval.
RESUMABLE_PHASES = RUNNING_PHASES | {Phase.AWAITING_APPROVAL}
#: Phases a person should come back to: resumable, or a rollback that was interrupted.
UNFINISHED_PHASES = RESUMABLE_PHASES | {Phase.ROLLING_BACK}


class DeploymentError(UserError):
    """A command that the deployment's state does not allow (says why)."""


#: Architectures that never need a ``name:arch`` qualifier.
_PLAIN_ARCHS = frozenset({"", "all"})


@dataclass(frozen=True, slots=True)
class PackagePin:
    """An exact package version to install (``arch`` from the patch row, "" when unknown)."""

    name: str
    version: str
    arch: str = ""

    def __str__(self) -> str:
        return f"{self.host_name()}={self.version}"

    def host_name(self, native: str = "") -> str:
        """The name to give apt/dpkg on a host whose native architecture is ``native``:
        ``name:arch`` for another architecture than the host's own (or "all")."""
        if self.arch in _PLAIN_ARCHS or self.arch == native:
            return self.name
        return f"{self.name}:{self.arch}"


@dataclass(frozen=True, slots=True)
class PackageChange:
    """One package an install transaction changes (from apt's simulation, then dpkg)."""

    name: str  # as apt names it: "zlib1g", or "libfoo:i386" for a foreign architecture
    before: str  # "" = not installed before
    after: str  # "" = removed
    action: str  # "install" | "upgrade" | "downgrade" | "reinstall" | "remove"
    requested: bool = False  # one of the deployment's own packages (else pulled along)

    def __str__(self) -> str:
        if self.action == "install":
            return f"{self.name} (new) {self.after}"
        if self.action == "remove":
            return f"{self.name} {self.before} → removed"
        return f"{self.name} {self.before} → {self.after}"


def change_set_text(changes: Iterable[PackageChange]) -> str:
    """What a transaction changes, the requested packages first: "zlib1g-dev 1 → 2, and
    with it: zlib1g 1 → 2" ("" for no change)."""
    ordered = sorted(changes, key=lambda c: (not c.requested, c.name, c.before, c.after))
    asked = [str(c) for c in ordered if c.requested]
    along = [str(c) for c in ordered if not c.requested]
    if not asked:
        return ", ".join(along)
    return ", ".join(asked) + (f", and with it: {', '.join(along)}" if along else "")


@dataclass(frozen=True, slots=True)
class Gates:
    """The policy numbers a deployment runs by."""

    test_success: float = 1.0  # share of the test ring that must succeed
    pilot_success: float = 0.9
    max_failures: int | None = None  # production halts when this many hosts failed, or
    max_failure_rate: float = 0.2  # (when no count is given) above this share so far
    wave_size: int = 5
    concurrency: int = 4
    host_timeout: float = 1800.0
    reboot: RebootPolicy = RebootPolicy.IF_NEEDED
    reboot_lead_minutes: int = 5
    reboot_message: str = "PatchDesk: this computer restarts in {minutes} minutes to finish " \
                          "installing updates. Please save your work."
    min_free_mb: int = 500
    backup_days: int | None = None  # servers need a verified backup this recent
    #: Maintenance windows (``[GROUP=]DAYS HH:MM-HH:MM``, see
    #: :class:`app.core.policy.MaintenanceWindow`); a host matching none may go any time.
    windows: tuple[str, ...] = ()
    emergency: str = ""  # "who: why" of an audited out-of-window emergency run
    #: Where each rule came from: ("max_failures", "policy v3"), ("reboot", "flag --reboot")
    sources: tuple[tuple[str, str], ...] = ()

    def reboot_text(self, minutes: int) -> str:
        """The reboot notice for users: a person's text where only the literal
        ``{minutes}`` is filled in (never ``str.format``: ``{x}`` stays text, [12].15)."""
        return self.reboot_message.replace("{minutes}", str(int(minutes)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, RebootPolicy):
                value = str(value)
            elif name == "windows":
                value = list(value)
            elif name == "sources":
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gates:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__slots__}
        if "reboot" in known:
            known["reboot"] = RebootPolicy(known["reboot"])
        if "windows" in known:
            known["windows"] = tuple(str(w) for w in known["windows"] or ())
        if "sources" in known:
            known["sources"] = tuple((str(k), str(v)) for k, v in
                                     dict(known["sources"] or {}).items())
        return cls(**known)

    def source(self, rule: str) -> str:
        """Where a rule came from ("" when the plan does not say)."""
        return dict(self.sources).get(rule, "")


@dataclass(frozen=True, slots=True)
class Target:
    """One host of a deployment and everything recorded about it."""

    asset_id: int
    label: str
    address: str
    stage: Stage
    wave: int = 0
    state: HostState = HostState.PENDING
    detail: str = ""
    preflight: tuple[str, ...] = ()  # failed checks ("" when all passed)
    override: str = ""  # who overrode failed pre-flight checks, and why
    before: dict[str, str] = field(default_factory=dict)  # package → version before
    after: dict[str, str] = field(default_factory=dict)  # package → version after
    job: str = ""  # id of the install job on the host (idempotent launch)
    changes: tuple[PackageChange, ...] = ()  # the transaction's change set on this host
    reboot: str = ""  # "", "not needed", "scheduled", "done ...", "failed: ..."
    reboot_marker: str = ""  # boot marker before the reboot (to tell it happened)
    health_before: dict[str, Any] = field(default_factory=dict)
    health_after: dict[str, Any] = field(default_factory=dict)
    verified: str = ""  # "installed" | "missing" | "failed"
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def excluded(self) -> bool:
        """Failed pre-flight and not overridden: the host is left out."""
        return bool(self.preflight) and not self.override


@dataclass(frozen=True, slots=True)
class Approval:
    """Who approved promotion past the test ring, when, and why."""

    approver: str
    at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment's whole state (what the engine persists after every step)."""

    id: int
    packages: tuple[PackagePin, ...]
    targets: tuple[Target, ...]
    phase: Phase = Phase.PLANNED
    gates: Gates = field(default_factory=Gates)
    created_by: str = ""
    created_at: datetime | None = None
    approval: Approval | None = None
    halt_reason: str = ""
    window: str = ""  # maintenance window description ("" = now)
    uid: str = ""  # random id (host-side job ids; unique across sites and machines)
    archived: str = ""  # "who at when" it was archived (hidden from the default list)

    # -- queries -------------------------------------------------------------------------
    def change_set(self) -> tuple[PackageChange, ...]:
        """Every distinct package change over the hosts (requested packages first)."""
        seen = dict.fromkeys(c for t in self.targets for c in t.changes)
        return tuple(sorted(seen, key=lambda c: (not c.requested, c.name, c.before,
                                                 c.after)))

    def change_set_text(self) -> str:
        """The change set in one line ("" before pre-flight simulated it)."""
        return change_set_text(self.change_set())

    @property
    def simulated(self) -> bool:
        """apt's simulation ran on a host (an empty change set then means no change)."""
        return any(t.changes or "native_arch" in t.health_before for t in self.targets)

    def change_summary(self) -> str:
        """The change set for people: what changes, "no package changes", or when it will
        be known."""
        if not self.simulated:
            return "known after pre-flight (apt's simulation on each host)"
        return self.change_set_text() or "no package changes"

    def stage_targets(self, stage: Stage) -> list[Target]:
        """Targets of one ring that take part (pre-flight exclusions left out)."""
        return [t for t in self.targets if t.stage is stage and not t.excluded]

    def success_rate(self, stage: Stage) -> float:
        """Share of a ring's hosts that succeeded (1.0 for an empty ring)."""
        hosts = self.stage_targets(stage)
        if not hosts:
            return 1.0
        return sum(1 for t in hosts if t.state is HostState.SUCCEEDED) / len(hosts)

    def next_hosts(self, stage: Stage) -> list[Target]:
        """The hosts of a ring still to do, in wave order: interrupted ones first."""
        todo = [t for t in self.stage_targets(stage)
                if t.state in (HostState.PENDING, HostState.RUNNING)]
        return sorted(todo, key=lambda t: (t.state is not HostState.RUNNING, t.wave,
                                           t.asset_id))

    def current_wave(self, stage: Stage) -> list[Target]:
        """The lowest-numbered wave of a ring that still has hosts to do."""
        todo = self.next_hosts(stage)
        if not todo:
            return []
        wave = min(t.wave for t in todo)
        return [t for t in todo if t.wave == wave]

    def failures_exceeded(self, stage: Stage) -> str:
        """Why the failure threshold of a ring is exceeded ("" when it is not)."""
        hosts = self.stage_targets(stage)
        attempted = [t for t in hosts if t.state in (HostState.SUCCEEDED, HostState.FAILED)]
        failed = [t for t in attempted if t.state is HostState.FAILED]
        if not failed:
            return ""
        if stage is Stage.TEST:
            needed = self.gates.test_success
            rate = 1 - len(failed) / max(1, len(hosts))
            if rate < needed:
                return f"{len(failed)} of {len(hosts)} test host(s) failed"
            return ""
        if stage is Stage.PILOT:
            worst = 1 - len(failed) / max(1, len(hosts))
            if worst < self.gates.pilot_success:
                return (f"{len(failed)} of {len(hosts)} pilot host(s) failed (needs "
                        f"{self.gates.pilot_success:.0%} success)")
            return ""
        if self.gates.max_failures is not None:  # a count, when given, replaces the rate
            if len(failed) >= self.gates.max_failures:
                return (f"{len(failed)} production host(s) failed (limit "
                        f"{self.gates.max_failures})")
            return ""
        if len(failed) / len(attempted) > self.gates.max_failure_rate:
            return (f"{len(failed)} of {len(attempted)} production host(s) failed (limit "
                    f"{self.gates.max_failure_rate:.0%})")
        return ""

    def gate_passed(self, stage: Stage) -> tuple[bool, str]:
        """Whether a finished ring may be promoted: success rate and health checks."""
        hosts = self.stage_targets(stage)
        needed = {Stage.TEST: self.gates.test_success,
                  Stage.PILOT: self.gates.pilot_success}.get(stage, 0.0)
        rate = self.success_rate(stage)
        if rate < needed:
            return False, f"{stage} ring: {rate:.0%} succeeded, {needed:.0%} needed"
        unhealthy = [t.label for t in hosts if t.state is HostState.SUCCEEDED
                     and t.health_after.get("problems")]
        if unhealthy and stage is not Stage.PRODUCTION:
            return False, f"{stage} ring: health checks failed on {', '.join(unhealthy)}"
        return True, ""

    def target(self, asset_id: int) -> Target:
        """One target by asset id."""
        for t in self.targets:
            if t.asset_id == asset_id:
                return t
        raise DeploymentError(f"asset {asset_id} is not a target of deployment {self.id}")

    # -- transitions (each returns a new Deployment) -------------------------------------
    def moved(self, phase: Phase, *, reason: str = "") -> Deployment:
        """The deployment in another phase, if the rules allow it.

        Raises:
            DeploymentError: the transition is not allowed from the current phase.
        """
        if phase not in TRANSITIONS[self.phase]:
            raise DeploymentError(f"deployment {self.id} is {self.phase}; it cannot go to "
                                  f"{phase}")
        return replace(self, phase=phase,
                       halt_reason=reason if phase is Phase.HALTED else self.halt_reason)

    def with_target(self, target: Target) -> Deployment:
        """The deployment with one target replaced."""
        return replace(self, targets=tuple(target if t.asset_id == target.asset_id else t
                                           for t in self.targets))

    def approved(self, approver: str, at: datetime, note: str = "") -> Deployment:
        """Record the named approval and move on to the pilot (or production).

        Raises:
            DeploymentError: not awaiting approval, or no approver named.
        """
        if self.phase is not Phase.AWAITING_APPROVAL:
            raise DeploymentError(f"deployment {self.id} is {self.phase}, not awaiting "
                                  "approval")
        if not approver.strip():
            raise DeploymentError("an approval needs the approver's name")
        after = Phase.PILOT if self.stage_targets(Stage.PILOT) else Phase.PRODUCTION
        moved = replace(self, approval=Approval(approver.strip(), at, note.strip()))
        return moved.moved(after)

    def after_preflight(self) -> Phase:
        """The first installing phase (rings with no hosts are skipped)."""
        for phase, stage in PHASE_STAGE.items():
            if self.stage_targets(stage):
                return phase
        return Phase.VERIFICATION

    def preflight_blocker(self) -> str:
        """Why the deployment cannot go on after pre-flight ("" when it can).

        A ring that was planned but lost every host to pre-flight must not be skipped
        silently: without its test ring (or pilot) the deployment would go to production
        untested.
        """
        if not any(not t.excluded for t in self.targets):
            return "every host failed pre-flight"
        for stage in (Stage.TEST, Stage.PILOT):
            planned = [t for t in self.targets if t.stage is stage]
            if planned and not self.stage_targets(stage):
                return f"the whole {stage} ring failed pre-flight"
        return ""

    @property
    def untouched(self) -> bool:
        """No host was started yet (a halt before any install can be resumed)."""
        return all(t.state is HostState.PENDING and not t.job for t in self.targets)

    def after_ring(self, stage: Stage) -> Phase:
        """Where a passed ring leads."""
        if stage is Stage.TEST:
            return Phase.AWAITING_APPROVAL
        if stage is Stage.PILOT:
            return Phase.PRODUCTION if self.stage_targets(Stage.PRODUCTION) \
                else Phase.VERIFICATION
        return Phase.VERIFICATION

    @property
    def finished(self) -> bool:
        """Done, rolled back or cancelled: nothing more will run."""
        return self.phase in (Phase.DONE, Phase.ROLLED_BACK, Phase.CANCELLED)

    def rollback_targets(self) -> list[Target]:
        """The hosts where something may have been installed (:func:`installed_on`)."""
        return [t for t in self.targets if installed_on(t)]


def assign_waves(targets: Sequence[Target], wave_size: int) -> tuple[Target, ...]:
    """Number production targets into waves of ``wave_size`` (other rings: wave 0)."""
    size = max(1, wave_size)
    out: list[Target] = []
    production = [t for t in targets if t.stage is Stage.PRODUCTION]
    for index, target in enumerate(production):
        out.append(replace(target, wave=index // size))
    others = [replace(t, wave=0) for t in targets if t.stage is not Stage.PRODUCTION]
    return tuple(others + out)


def wave_count(targets: Iterable[Target]) -> int:
    """How many production waves there are."""
    waves = {t.wave for t in targets if t.stage is Stage.PRODUCTION}
    return len(waves)


def installed_on(target: Target) -> bool:
    """Something may have been installed on this host (its versions before were recorded
    and its install started): only such a host can be rolled back."""
    return bool(target.before) and target.state in (HostState.SUCCEEDED, HostState.FAILED,
                                                    HostState.RUNNING)


def halted_at_preflight(dep: Deployment | None) -> bool:
    """Halted before anything was installed: overrides and a retry can go on."""
    return dep is not None and dep.phase is Phase.HALTED and dep.untouched


def paused_after_preflight(dep: Deployment) -> bool:
    """A run started with ``pause_after_preflight`` came back right after pre-flight: hosts
    were left out, and nothing is installed until someone overrides them or goes on.

    The engine's ``run`` only returns in a phase that still has work when it was cancelled
    or paused there, so the caller checks its cancel token too.
    """
    return dep.phase in RUNNING_PHASES - {Phase.PLANNED, Phase.PREFLIGHT} \
        and any(t.excluded for t in dep.targets)


def versions_text(versions: dict[str, str]) -> str:
    """``name version`` pairs of a target's before/after record."""
    return ", ".join(f"{n} {v or 'absent'}" for n, v in sorted(versions.items()))


#: Columns of a deployment's hosts as CSV (:func:`targets_csv`).
TARGET_CSV_COLUMNS = ("deployment", "host", "address", "ring", "wave", "state", "verified",
                      "before", "after", "reboot", "detail", "preflight", "override",
                      "started_at", "finished_at")


def targets_csv(dep: Deployment) -> str:
    """The deployment's hosts as CSV text (one row per target, formulas kept as text)."""
    return csv_text(TARGET_CSV_COLUMNS, ((
        dep.id, t.label, t.address, t.stage, t.wave + 1, t.state, t.verified,
        versions_text(t.before), versions_text(t.after), t.reboot, t.detail,
        "; ".join(t.preflight), t.override,
        t.started_at.isoformat() if t.started_at else "",
        t.finished_at.isoformat() if t.finished_at else "") for t in dep.targets),
        lineterminator="\n")
