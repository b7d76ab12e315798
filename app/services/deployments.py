"""Deployments: the one way to the deployment engine (plan, run, approve, override, cancel a
reboot, roll back, resume) and to the deployment history."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core.deployment import (
    Deployment,
    Gates,
    HostState,
    PackagePin,
    Phase,
    Stage,
    Target,
    targets_csv,
)
from app.core.errors import NotFoundError, UserError, ValidationError
from app.core.models import Asset
from app.core.planrules import RULES, Request, plan_gates
from app.core.policy import Role, selector_matches
from app.core.progress import CancelToken, ProgressCallback
from app.core.thirdparty import rollback_notes
from app.core.validate import check_gates, check_package_pin
from app.deploy import closing
from app.deploy.ansible import choice as engine_choice
from app.deploy.engine import DeployEngine, EventCallback
from app.deploy.hosts import port_open as _port_open
from app.drivers.parsers.windows import UPDATE_SOURCE
from app.drivers.windows.deploy import INSTALLED
from app.files import write_text
from app.remote.wol import broadcast_for, send_magic_packet
from app.services.base import ServicePart
from app.store.deployments import DeploymentRepo, to_json
from app.store.repos import AuditRepo

log = logging.getLogger(__name__)


def deployment_note(dep: Deployment) -> tuple[str, str]:
    """A deployment's result as an e-mail: (subject, body), per host its state, its
    verification and what happened; the reason when it halted."""
    halted = dep.phase is Phase.HALTED
    word = "HALTED" if halted else str(dep.phase)
    done = sum(1 for t in dep.targets if t.state is HostState.SUCCEEDED)
    subject = (f"PatchDesk: deployment {dep.id} {word} ({done} of {len(dep.targets)} "
               "host(s) succeeded)")
    body = (f"Deployment {dep.id} {word}: " + ", ".join(str(p) for p in dep.packages) + "\n"
            + "\n".join(f"  {t.label}: {t.state} {t.verified} {t.detail}".rstrip()
                        for t in dep.targets)
            + (f"\nReason: {dep.halt_reason}" if halted else ""))
    return subject, body


class DeploymentService(ServicePart):
    """The deployments of one site and the engine that runs them (one per open site).

    The engine's methods the shells need are here under the same names and signatures;
    ``service.deployments()`` (calling the service) still lists every deployment.

    Threads: :meth:`run`, :meth:`resume`, :meth:`rollback` and :meth:`simulate` do long
    remote work (a rollback may wait up to 1,800 s per host) and write to the site only in
    short transactions of their own: a shell runs them on a worker thread, never on its
    single write worker. :meth:`plan`, :meth:`approve` and :meth:`override` are short
    writes. :meth:`busy` says whether a deployment is being run or rolled back.
    """

    _engine: DeployEngine | None = None
    engine_kind = "builtin"  #: which engine runs what follows (:meth:`use_engine`)

    @property
    def engine(self) -> DeployEngine:
        """The deployment engine of this site (one per open site)."""
        if self._engine is None:
            # Re-assessed at the end of a run: the hosts whose deployer has no light
            # verification that records the versions (app.deploy.verify).
            self._engine = engine_choice.engine_class(self.engine_kind)(
                self.store, self.site.remote, self.actor,
                reassess=lambda ids: self.site.assess_assets(ids, refresh=False))
            self._engine.approval_guard = self.site.risk.approval_guard  # who may approve
            self._engine.before_preflight = self.wake_hosts  # Wake-on-LAN at window start
        return self._engine

    def use_engine(self, kind: str = "", dep_id: int | None = None) -> str:
        """Run what follows with ``kind`` ("builtin" or "ansible"; "" = the one that ran
        ``dep_id`` before, else the built-in one); returns the engine chosen.

        Raises:
            UserError: an unknown engine, or Ansible is not installed.
        """
        kind = kind or (engine_choice.recorded_engine(self.store, dep_id) if dep_id
                        else "builtin")
        engine_choice.engine_class(kind)  # refuses an engine that cannot run here
        if kind != self.engine_kind:
            callback = self._engine.on_event if self._engine is not None else None
            self.engine_kind, self._engine = kind, None
            self.engine.on_event = callback
        return kind

    @staticmethod
    def engines() -> dict[str, str]:
        """The execution engines and what each does."""
        return dict(engine_choice.ENGINES)

    @staticmethod
    def engine_problem(kind: str) -> str:
        """Why an engine cannot run here ("" when it can)."""
        return engine_choice.missing_reason() if kind == "ansible" else ""

    def playbooks(self, dep_id: int | None = None, specs: Sequence[str] = ()) -> dict[str, str]:
        """The playbooks the Ansible engine runs for a deployment, or would run for
        ``specs`` not planned yet (to show before a run)."""
        if dep_id is None:
            return engine_choice.preview_playbooks(specs)
        return engine_choice.playbooks_for(self.get(dep_id))

    def wake_hosts(self, dep: Deployment, targets: Sequence[Target]) -> list[str]:
        """Wake-on-LAN before pre-flight: a host whose SSH port does not answer and whose
        MAC is known gets the magic packet (to its subnet's broadcast, or the site setting
        ``wol_broadcast``), then up to ``wol_wait`` seconds (default 120) to come up.
        Logged on the deployment and audited. Returns the labels of the hosts woken."""
        settings = self.site.settings()
        wait = float(settings.get("wol_wait", 120))
        assets = {a.id: a for a in self.site.inventory.assets()}
        asleep = []
        for t in targets:
            asset = assets.get(t.asset_id)
            if asset is None or not asset.primary_mac or t.state.value != "pending":
                continue
            try:
                port = self.site.remote.access_port(asset)
            except UserError:  # locked vault or no credential: pre-flight will say so
                port = 22
            if not _port_open(t.address, port, 1.0):
                asleep.append((t, asset, port))
        woken: list[str] = []
        for t, asset, _port in asleep:
            target = str(settings.get("wol_broadcast") or broadcast_for(t.address))
            send_magic_packet(asset.primary_mac, target)
            self._log_step(dep.id, t.asset_id, f"{t.label}: off at the window's start; "
                           f"Wake-on-LAN sent to {asset.primary_mac} via {target}",
                           "deploy.wake")
        deadline = time.monotonic() + wait
        for t, _asset, port in asleep:
            while not _port_open(t.address, port, 1.0) and time.monotonic() < deadline:
                time.sleep(1.0)
            up = _port_open(t.address, port, 1.0)
            self._log_step(dep.id, t.asset_id, f"{t.label}: " + (
                "awake after Wake-on-LAN" if up else f"still off after {wait:.0f} s"))
            if up:
                woken.append(t.label)
        return woken

    def _log_step(self, dep_id: int, asset_id: int, message: str, audit: str = "") -> None:
        with self.store.atomic() as db:
            DeploymentRepo(db).log(dep_id, message, asset_id)
            if audit:
                AuditRepo(db).append(self.actor, audit, "deployment", str(dep_id),
                                     {"message": message, "asset_id": asset_id})
        if self.on_event is not None:
            self.on_event(dep_id, asset_id, message)

    @property
    def on_event(self) -> EventCallback | None:
        """Called with (deployment id, asset id or None, message) on every logged step."""
        return self.engine.on_event

    @on_event.setter
    def on_event(self, callback: EventCallback | None) -> None:
        self.engine.on_event = callback

    # -- the engine ----------------------------------------------------------------------
    def get(self, dep_id: int) -> Deployment:
        """One deployment as stored."""
        return self.engine.get(dep_id)

    def plan(self, packages: Sequence[PackagePin], targets: Sequence[tuple[Asset, Stage]],
             gates: Gates, window: str = "") -> Deployment:
        """Create a deployment: which exact versions go to which hosts in which ring.

        Raises:
            ValidationError: a package name or version a package manager could read as
                syntax, or a gate out of range ([12].2); nothing is saved.
        """
        # Apple labels and Homebrew names have their own rules: the patches name their source
        # (an explicitly named major macOS upgrade is Apple's too).
        sources = {p.package: p.source for p in self.site.assess.patches()}
        for record in self.site.assess.assessments().values():
            for major in (record.facts.get("details") or {}).get("major_upgrades") or ():
                sources.setdefault(str(major.get("label", "")), "apple")
        errors = [e for p in packages for e in check_package_pin(
            f"{p.name}:{p.arch}" if p.arch else p.name, p.version, sources.get(p.name, ""))]
        errors += check_gates(gates)  # the gates as finally assembled (policy, options)
        if errors:
            raise ValidationError(errors)
        return self.engine.plan(packages, targets, gates, window)

    def run(self, dep_id: int, *, approve_as: str = "", progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None,
            pause_after_preflight: bool = False, pin: str | None = None,
            notify: bool = True) -> Deployment:
        """Run (or resume) a deployment until it finishes, halts or awaits approval
        (:meth:`app.deploy.engine.DeployEngine.run`). A run that ends (done) or halts
        e-mails the result to the site's notification recipients (:func:`deployment_note`
        through :meth:`app.services.schedules.ScheduleService.notify`) unless ``notify`` is
        false (the scheduled runner sends its own summary).

        Raises:
            UserError: ``approve_as`` is given without that person's PIN ([12].8).
        """
        if approve_as:  # deploying with an approval needs proof of the named person
            self.site.people.prove(approve_as, pin, "approve deployments", "deployment",
                                   str(dep_id))
        was = self.engine.get(dep_id).phase
        dep = self.engine.run(dep_id, approve_as=approve_as, progress=progress, cancel=cancel,
                              pause_after_preflight=pause_after_preflight)
        if notify and dep.phase is not was and dep.phase in (Phase.DONE, Phase.HALTED):
            try:  # no mail server: nothing; a failure to send is audited by notify
                self.site.schedules.notify(*deployment_note(dep))
            except Exception:  # the run's result stands whatever the mail does
                log.exception("could not send the notification of deployment %s", dep.id)
        return dep

    def resume(self, dep_id: int, *, approve_as: str = "",
               progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None, pin: str | None = None) -> Deployment:
        """Continue an interrupted or approved deployment from its stored phase."""
        return self.run(dep_id, approve_as=approve_as, progress=progress, cancel=cancel,
                        pin=pin)

    def approve(self, dep_id: int, approver: str, note: str = "", *,
                pin: str | None = None) -> Deployment:
        """Record the named approval after the test ring (the patch policy decides who;
        the approver proves who they are with their PIN, audited as "proved by PIN").

        Raises:
            UserError: no or wrong PIN, or the policy does not let ``approver`` approve.
        """
        self.site.people.prove(approver, pin, "approve deployments", "deployment",
                               str(dep_id))
        return self.engine.approve(dep_id, approver, note)

    def override(self, dep_id: int, asset_id: int, reason: str) -> Deployment:
        """Let a host that failed pre-flight take part (audited with the reason)."""
        return self.engine.override(dep_id, asset_id, reason)

    def cancel(self, dep_id: int, reason: str) -> Deployment:
        """Cancel a deployment that will not go on (:func:`app.deploy.closing.cancel`)."""
        return closing.cancel(self.engine, dep_id, reason)

    def archive(self, dep_id: int, archived: bool = True) -> Deployment:
        """Archive (or unarchive) a deployment that is over (:func:`app.deploy.closing.archive`)."""
        return closing.archive(self.engine, dep_id, archived)

    def busy(self, dep_id: int) -> str:
        """What is running the deployment in this process ("running", "rolling back"), or
        "" (the engine's run lock: the one registry of running deployments)."""
        return self.engine.busy(dep_id)

    def cancel_reboot(self, dep_id: int, asset_id: int) -> Deployment:
        """Cancel a host's scheduled reboot."""
        return self.engine.cancel_reboot(dep_id, asset_id)

    def simulate(self, dep_id: int) -> Deployment:
        """Ask each host's package manager what the install would change (nothing is
        installed); the change set is stored on the deployment."""
        return self.engine.simulate(dep_id)

    def rollback(self, dep_id: int, asset_ids: Sequence[int] | None = None,
                 cancel: CancelToken | None = None) -> Deployment:
        """Restore the versions recorded before installing (per host or whole deployment).

        Raises:
            UserError: nothing was installed on the hosts asked for ([13]: a rollback is
                offered only where something was installed).
        """
        dep = self.engine.get(dep_id)
        if dep.phase is not Phase.ROLLING_BACK:  # an interrupted rollback is finished
            there = {t.asset_id for t in dep.rollback_targets()}
            if not (there if asset_ids is None else there & set(asset_ids)):
                raise UserError(f"Nothing to roll back: deployment {dep_id} installed nothing "
                                "on " + ("any host." if asset_ids is None else
                                         "the hosts asked for."))
        return self.engine.rollback(dep_id, asset_ids, cancel)

    # -- planning by selectors and the history --------------------------------------------
    def plan_deployment(
        self,
        patches: Sequence[str],
        targets: Sequence[str] | None = None,
        *,
        test_ring: Sequence[str] = (),
        pilot: Sequence[str] = (),
        gates: Gates | None = None,
        window: str = "",
        requested: Mapping[str, Request] | None = None,
        source: str = "caller",
        override_reason: str = "",
        emergency: str = "",
    ) -> Deployment:
        """Plan a deployment of exact versions to hosts in rings.

        Args:
            patches: ``name`` (the candidate version the last assessment found, which must
                be the same on every target) or ``name=version``.
            targets: asset selectors; None or ``["all"]`` means every asset missing one of
                the patches.
            test_ring: selectors of the test ring (also targets).
            pilot: selectors of the pilot group (also targets).
            gates: wave size, concurrency, timeouts; its policy rules (reboot, failures,
                backup, ...) that differ from :class:`Gates`' defaults are requests by
                ``source``.
            requested: rules asked for (``{"max_failures": Request(1, "flag
                --max-failures")}``); the rest come from the policy in force.
            override_reason: allow requests that loosen the policy: the actor must be
                the policy's responsible person (audited as ``policy.override``).
            emergency: the reason for an emergency run outside the maintenance windows
                (the policy's emergency procedure; responsible person, audited).

        Raises:
            UserError: unknown package or asset, ambiguous versions, empty plan; the patch
                policy names deployers and the actor is not one of them (audited); a
                request loosens a rule without an override.
        """
        self.site.risk.check_role(self.actor, Role.DEPLOYER, "plan deployments")  # patch policy
        current = self.site.risk.policy()
        policy, label = current.policy, f"policy v{current.version}"
        asks = dict(requested or {})
        if gates is not None:  # a caller's Gates: what differs from the defaults is asked
            default = Gates()
            for rule in RULES:
                if rule not in asks and getattr(gates, rule) != getattr(default, rule):
                    asks[rule] = Request(getattr(gates, rule), source)
        # Values out of range are refused as such (exit 2, nothing saved) before anyone asks
        # whether they are looser than the policy ([12].2).
        gate_fields = set(Gates.__dataclass_fields__)
        asked = {rule: req.value for rule, req in asks.items() if rule in gate_fields}
        problems = check_gates(replace(gates or Gates(), **asked))
        if problems:
            raise ValidationError(problems)
        _, loose = plan_gates(policy, current.version, gates or Gates(), asks)
        if loose and not override_reason.strip():
            raise UserError("The plan loosens the patch policy (" + label + "): "
                            + "; ".join(str(x) for x in loose) + ". Keep the policy's rule, or "
                            "override it with a reason as the policy's responsible person "
                            "(command line: --override REASON).")
        if loose:
            self.site.risk.check_role(self.actor, Role.RESPONSIBLE,
                                      "override the patch policy's rules")
        if emergency.strip():
            self.site.risk.check_role(self.actor, Role.RESPONSIBLE,
                                      "open an emergency run outside the maintenance windows")
        final, _ = plan_gates(policy, current.version, gates or Gates(), asks,
                              override_by=self.actor if loose else "",
                              override_reason=override_reason.strip(),
                              emergency_by=self.actor if emergency.strip() else "",
                              emergency_reason=emergency.strip())
        rings_source = source if (test_ring or pilot) else label
        final = replace(final, sources=(*final.sources, ("rings", rings_source)))
        problems = check_gates(final)
        if problems:
            raise ValidationError(problems)
        missing = self.site.assess.patches()
        pins: list[PackagePin] = []
        for spec in patches:
            name, _, version = spec.partition("=")
            name, _, arch = name.strip().partition(":")  # "name:arch=version" pins an arch
            if version and any(p.package == name and p.source == UPDATE_SOURCE
                               for p in missing):
                version = INSTALLED  # a Windows KB (the wizard gives its title as version)
            if version:
                pins.append(PackagePin(name, version.strip(), arch))
                continue
            # One pin per architecture the patch rows name (a multiarch host can miss the
            # same update for amd64 and i386); apt is given name:arch for a foreign one.
            by_arch: dict[str, set[str]] = {}
            for p in missing:
                row_arch = str(p.arch or "")
                if p.package == name and (not arch or row_arch == arch):
                    # A Windows update's target is "installed" (its row names its title).
                    by_arch.setdefault(row_arch, set()).add(
                        INSTALLED if p.source == UPDATE_SOURCE else p.candidate_version)
            if not by_arch:
                raise UserError(f"No assessed host is missing '{name}'; assess first or "
                                "give name=version.")
            for row_arch, versions in sorted(by_arch.items()):
                if len(versions) > 1:
                    raise UserError(f"'{name}' has several candidate versions "
                                    f"({', '.join(sorted(versions))}); give name=version.")
                pins.append(PackagePin(name, versions.pop(), row_arch))
        names = {p.name for p in pins}

        def resolve(selectors: Sequence[str]) -> list[Asset]:
            found: dict[int, Asset] = {}
            for sel in selectors:
                for asset in self.site.inventory.find_assets(sel):
                    found[int(asset.id or 0)] = asset
            return list(found.values())

        if not targets or list(targets) == ["all"]:
            ids = {p.asset_id for p in missing if p.package in names}
            chosen = [a for a in self.site.inventory.assets() if a.id in ids]
        else:
            chosen = resolve(targets)
        test = {a.id for a in resolve(test_ring)}
        pilots = {a.id for a in resolve(pilot)}
        everyone = {a.id: a for a in [*chosen, *resolve(test_ring), *resolve(pilot)]}
        if not test_ring and not pilot:  # the policy's rings, among the chosen hosts
            test = {a.id for a in everyone.values()
                    if any(selector_matches(s, a) for s in policy.test_group)}
            pilots = {a.id for a in everyone.values() if a.id not in test
                      and any(selector_matches(s, a) for s in policy.pilot_group)}
        staged = [(a, Stage.TEST if a.id in test else Stage.PILOT if a.id in pilots
                   else Stage.PRODUCTION) for a in everyone.values()]
        staged.sort(key=lambda item: (list(Stage).index(item[1]), item[0].label))
        dep = self.plan(pins, staged, final, window)
        if loose or final.emergency:
            with self.store.atomic() as db:
                audit = AuditRepo(db)
                if loose:
                    audit.append(self.actor, "policy.override", "deployment", str(dep.id), {
                        "policy_version": current.version, "reason": override_reason.strip(),
                        "rules": {x.rule: {"policy": str(x.policy_value),
                                           "now": str(x.requested), "asked_by": x.source}
                                  for x in loose}})
                if final.emergency:
                    audit.append(self.actor, "deploy.emergency", "deployment", str(dep.id), {
                        "policy_version": current.version, "reason": emergency.strip(),
                        "windows": list(final.windows)})
        return dep

    def all(self) -> list[Deployment]:
        """Every deployment, newest first."""
        return DeploymentRepo(self.store.db()).all()

    def listed(self, archived: bool | None = False) -> list[Deployment]:
        """Deployments newest first: not archived (the default list), only archived
        (``True``) or all (``None``)."""
        return [d for d in self.all() if archived is None or bool(d.archived) == archived]

    def deployment(self, dep_id: int | None = None) -> Deployment:
        """One deployment (the newest when ``dep_id`` is None)."""
        repo = DeploymentRepo(self.store.db())
        if dep_id is None:
            last = repo.last_id()
            if last is None:
                raise NotFoundError("There are no deployments yet.")
            dep_id = last
        return repo.get(dep_id)

    def log(self, dep_id: int, asset_id: int | None = None) -> list[dict[str, Any]]:
        """A deployment's step log."""
        return DeploymentRepo(self.store.db()).log_lines(dep_id, asset_id)

    def rollback_notes(self, dep_id: int) -> list[str]:
        """What of a deployment cannot be rolled back, said before approval (Apple updates,
        Homebrew upgrades: :func:`app.core.thirdparty.rollback_notes`)."""
        names = {p.name for p in self.deployment(dep_id).packages}
        return rollback_notes(p.source for p in self.site.assess.patches(status=None)
                              if p.package in names)

    def json(self, dep_id: int, *, with_log: bool = True) -> dict[str, Any]:
        """A deployment as JSON data (plan, hosts, approval), with its step log."""
        data = to_json(self.deployment(dep_id))
        data["rollback_notes"] = self.rollback_notes(dep_id)
        if with_log:
            data["log"] = self.log(dep_id)
        return data

    def export(self, dep_id: int, path: Path | str, fmt: str) -> Path:
        """Write one deployment as CSV (its hosts, :func:`app.core.deployment.targets_csv`)
        or JSON (all of it, with its log), atomically; returns the path.

        Raises:
            UserError: unknown format, or the file cannot be written.
        """
        if fmt == "json":
            text = json.dumps(self.json(dep_id), indent=2, sort_keys=True) + "\n"
        elif fmt == "csv":
            text = targets_csv(self.deployment(dep_id))
        else:
            raise UserError(f"Unknown export format '{fmt}'; choose csv or json.")
        target = Path(path)
        write_text(target, text)
        return target

    def __call__(self) -> list[Deployment]:
        """Every deployment, newest first (``service.deployments()`` as it always was)."""
        return self.all()
