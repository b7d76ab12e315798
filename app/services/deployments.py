"""Deployments: the one way to the deployment engine (plan, run, approve, override, cancel a
reboot, roll back, resume) and to the deployment history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.deployment import Deployment, Gates, PackagePin, Stage
from app.core.errors import NotFoundError, UserError, ValidationError
from app.core.models import Asset
from app.core.policy import Role
from app.core.progress import CancelToken, ProgressCallback
from app.core.validate import check_gates, check_package_pin
from app.deploy.engine import DeployEngine, EventCallback
from app.services.base import ServicePart
from app.store.deployments import DeploymentRepo, to_json


class DeploymentService(ServicePart):
    """The deployments of one site and the engine that runs them (one per open site).

    The engine's methods the shells need are here under the same names and signatures;
    ``service.deployments()`` (calling the service) still lists every deployment.
    """

    _engine: DeployEngine | None = None

    @property
    def engine(self) -> DeployEngine:
        """The deployment engine of this site (one per open site)."""
        if self._engine is None:
            self._engine = DeployEngine(
                self.store, self.site.remote, self.actor,
                reassess=lambda ids: self.site.assess_assets(ids, refresh=False))
            self._engine.approval_guard = self.site.risk.approval_guard  # who may approve
        return self._engine

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
        errors = [e for p in packages for e in check_package_pin(
            f"{p.name}:{p.arch}" if p.arch else p.name, p.version)]
        errors += check_gates(gates)  # the gates as finally assembled (policy, options)
        if errors:
            raise ValidationError(errors)
        return self.engine.plan(packages, targets, gates, window)

    def run(self, dep_id: int, *, approve_as: str = "", progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None,
            pause_after_preflight: bool = False, pin: str | None = None) -> Deployment:
        """Run (or resume) a deployment until it finishes, halts or awaits approval
        (:meth:`app.deploy.engine.DeployEngine.run`).

        Raises:
            UserError: ``approve_as`` is given without that person's PIN ([12].8).
        """
        if approve_as:  # deploying with an approval needs proof of the named person
            self.site.people.prove(approve_as, pin, "approve deployments", "deployment",
                                   str(dep_id))
        return self.engine.run(dep_id, approve_as=approve_as, progress=progress, cancel=cancel,
                               pause_after_preflight=pause_after_preflight)

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

    def cancel_reboot(self, dep_id: int, asset_id: int) -> Deployment:
        """Cancel a host's scheduled reboot."""
        return self.engine.cancel_reboot(dep_id, asset_id)

    def simulate(self, dep_id: int) -> Deployment:
        """Ask each host's package manager what the install would change (nothing is
        installed); the change set is stored on the deployment."""
        return self.engine.simulate(dep_id)

    def rollback(self, dep_id: int, asset_ids: Sequence[int] | None = None,
                 cancel: CancelToken | None = None) -> Deployment:
        """Restore the versions recorded before installing (per host or whole deployment)."""
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
    ) -> Deployment:
        """Plan a deployment of exact versions to hosts in rings.

        Args:
            patches: ``name`` (the candidate version the last assessment found, which must
                be the same on every target) or ``name=version``.
            targets: asset selectors; None or ``["all"]`` means every asset missing one of
                the patches.
            test_ring: selectors of the test ring (also targets).
            pilot: selectors of the pilot group (also targets).
            gates: thresholds, wave size, reboot policy (defaults from :class:`Gates`).

        Raises:
            UserError: unknown package or asset, ambiguous versions, empty plan; the patch
                policy names deployers and the actor is not one of them (audited).
        """
        self.site.risk.check_role(self.actor, Role.DEPLOYER, "plan deployments")  # patch policy
        missing = self.site.assess.patches()
        pins: list[PackagePin] = []
        for spec in patches:
            name, _, version = spec.partition("=")
            name, _, arch = name.strip().partition(":")  # "name:arch=version" pins an arch
            if version:
                pins.append(PackagePin(name, version.strip(), arch))
                continue
            # One pin per architecture the patch rows name (a multiarch host can miss the
            # same update for amd64 and i386); apt is given name:arch for a foreign one.
            by_arch: dict[str, set[str]] = {}
            for p in missing:
                row_arch = str(p.arch or "")
                if p.package == name and (not arch or row_arch == arch):
                    by_arch.setdefault(row_arch, set()).add(p.candidate_version)
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
        staged = [(a, Stage.TEST if a.id in test else Stage.PILOT if a.id in pilots
                   else Stage.PRODUCTION) for a in everyone.values()]
        staged.sort(key=lambda item: (list(Stage).index(item[1]), item[0].label))
        return self.plan(pins, staged, gates or Gates(), window)

    def all(self) -> list[Deployment]:
        """Every deployment, newest first."""
        return DeploymentRepo(self.store.db()).all()

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

    def json(self, dep_id: int, *, with_log: bool = True) -> dict[str, Any]:
        """A deployment as JSON data (plan, hosts, approval), with its step log."""
        data = to_json(self.deployment(dep_id))
        if with_log:
            data["log"] = self.log(dep_id)
        return data

    def __call__(self) -> list[Deployment]:
        """Every deployment, newest first (``service.deployments()`` as it always was)."""
        return self.all()
