"""The Ansible engine: PatchDesk's deployment engine with every remote step run by Ansible.

:class:`AnsibleDeployEngine` is the built-in :class:`~app.deploy.engine.DeployEngine` with
its host-facing steps replaced; the state machine, gates, approvals, failure thresholds,
maintenance windows, the records and the audit events are the built-in engine's own:

* pre-flight, preparing an install (the package manager's simulation, the old packages
  kept for rollback) and verification run the driver's own commands through
  ``commands.yml`` (:mod:`.replay`), so they record exactly what the built-in engine does;
* a wave installs through ``install.yml`` (``apt``/``dnf``/``zypper`` modules with exact
  versions, ``forks`` = the plan's concurrency), reads versions and health back and is
  judged by the same rules; hosts that need it reboot through ``reboot.yml``;
* rollback reinstalls the kept package files through ``rollback.yml``.

Resuming a killed run: a host recorded RUNNING (its install playbook may have run) runs
the install playbook again (the package modules do nothing when the versions are in place);
a host whose reboot was recorded as scheduled is rebooted again only when its boot marker
has not changed since.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

from app.core.clock import utcnow
from app.core.deployment import (
    Deployment,
    HostState,
    Phase,
    Target,
    change_set_text,
)
from app.core.errors import UserError
from app.core.models import Asset
from app.core.progress import CancelToken
from app.deploy.ansible import playbooks as pb
from app.deploy.ansible.availability import collection_present
from app.deploy.ansible.playbooks import module_packages
from app.deploy.ansible.replay import (
    Command,
    ReplayTransport,
    command_vars,
    first_command,
    host_outputs,
    run_steps,
)
from app.deploy.ansible.runner import (
    HostResult,
    Login,
    RunFailedError,
    connection_vars,
    run_playbook,
)
from app.deploy.ansible.waves import install_wave, rollback_hosts
from app.deploy.engine import REBOOT_GRACE, SNAPSHOT_AGE, DeployEngine
from app.deploy.hosts import failure_detail, host_error_text, host_pins, pins, port_open
from app.deploy.hosts import unexpected_changes as unexpected
from app.drivers.base import DeployCapability, JobStatus
from app.drivers.linux_deploy import compare_health
from app.drivers.linux_deploy import health as linux_health
from app.drivers.registry import DEPLOYERS, deployer_for
from app.remote.access import RemoteAccess
from app.remote.ssh import HostKeyUnconfirmedError, fetch_host_key
from app.store.db import SiteDB
from app.store.deployments import DeploymentRepo
from app.store.repos import AssetRepo

__all__ = ["AnsibleDeployEngine", "module_packages", "show_playbooks"]

T = TypeVar("T")


def show_playbooks(title: str, example_pins: dict[str, str]) -> dict[str, str]:
    """The playbooks a run uses, by file name, and the install's host variables for a host
    of each package manager with ``example_pins`` (for review before a run)."""
    zypper = collection_present("community.general")
    shown = {
        "preflight.yml": pb.playbook(f"{title} pre-flight",
                                     what="Health snapshot, simulation (driver commands)"),
        "prepare.yml": pb.playbook(f"{title} prepare",
                                   what="Simulate again, keep the old packages for rollback"),
        "install.yml": pb.install_playbook(f"{title} install", zypper=zypper),
        "reboot.yml": pb.reboot_playbook(f"{title} reboot"),
        "verify.yml": pb.playbook(f"{title} verification", what="Installed versions"),
        "rollback.yml": pb.rollback_playbook(f"{title} rollback", zypper=zypper),
    }
    if collection_present("ansible.windows"):
        shown["windows.yml"] = pb.windows_playbook(f"{title} Windows updates")
    shown["host_vars (install)"] = "".join(
        f"# a host of {tool}:\npd_tool: {tool}\npd_packages: "
        f"{pb.unsafe_yaml(module_packages(tool, example_pins))}\n"
        for tool in ("apt", "dnf", "zypper"))
    notes = []
    if not zypper:
        notes.append("community.general is not installed: zypper hosts fail pre-flight "
                     "(ansible-galaxy collection install community.general)")
    if not collection_present("ansible.windows"):
        notes.append("ansible.windows is not installed: Windows hosts fail pre-flight "
                     "(ansible-galaxy collection install ansible.windows)")
    if notes:
        shown["notes"] = "\n".join(notes) + "\n"
    return shown


def _guess_tool(asset: Asset | None) -> str:
    """The package tool an asset's OS name suggests ("" when it suggests none)."""
    name = (asset.os_name if asset is not None else "").lower()
    for words, tool in ((("debian", "ubuntu", "mint", "raspbian", "devuan", "kali"), "apt"),
                        (("rocky", "alma", "red hat", "rhel", "centos", "fedora", "oracle"),
                         "dnf"), (("suse",), "zypper")):
        if any(w in name for w in words):
            return tool
    return ""


class _ReplayRemote:
    """The site's remote access, except that a host being replayed gets its
    :class:`ReplayTransport` (the built-in steps ask ``remote.transport_for``)."""

    def __init__(self, real: RemoteAccess, replaying: dict[int, ReplayTransport]) -> None:
        self._real = real
        self._replaying = replaying

    def transport_for(self, asset: Asset, cred: Any = None) -> Any:
        found = self._replaying.get(int(asset.id or 0))
        return found if found is not None else self._real.transport_for(asset, cred)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class AnsibleDeployEngine(DeployEngine):
    """The deployment engine with Ansible running every step on the hosts."""

    engine_name = "ansible"

    def __init__(self, store: SiteDB, remote: RemoteAccess, actor: str,
                 reassess: Callable[[list[int]], Any] | None = None) -> None:
        self._replaying: dict[int, ReplayTransport] = {}
        self.real_remote = remote
        super().__init__(store, cast(RemoteAccess, _ReplayRemote(remote, self._replaying)),
                         actor, reassess)
        self._cancel: CancelToken | None = None

    # -- Ansible runs --------------------------------------------------------------------
    def _known_hosts(self, address: str, port: int, password: bool) -> list[str]:
        """known_hosts lines of the keys the site pinned for a host (trust on first use as
        the built-in engine: never a password to a host whose key no person confirmed)."""
        keys = self.real_remote.host_keys
        pinned = keys.pinned(address, port)
        accept = self.real_remote.accept_new_host_keys
        if pinned and password and not keys.confirmed(address, port):
            if not accept:
                first = pinned[0]
                raise HostKeyUnconfirmedError(address, port, first.key_type,
                                              [k.fingerprint for k in pinned],
                                              first.fingerprint, first.key_b64)
            for key in pinned:
                keys.pin(address, port, key, accepted_by=f"confirmed ({self.actor})",
                         replace=False)
        if not pinned:
            key = fetch_host_key(address, port)
            if password and not accept:
                raise HostKeyUnconfirmedError(address, port, key.key_type, [],
                                              key.fingerprint, key.key_b64)
            how = "confirmed at first use" if accept else "first use"
            keys.pin(address, port, key, accepted_by=f"{how} ({self.actor})", replace=False)
            pinned = [key]
        name = address if port == 22 else f"[{address}]:{port}"
        return [f"{name} {k.key_type} {k.key_b64}" for k in pinned]

    def _execute(self, dep: Deployment, playbook: str, host_vars: dict[int, dict[str, Any]],
                 on_event: Callable[[int, str, str], None] | None = None,
                 ) -> dict[int, HostResult | UserError]:
        """Run ``playbook`` on the hosts (asset id → its step's variables): one
        ansible-runner run per credential, ``concurrency`` forks; results by asset id."""
        assets = {a.id: a for a in AssetRepo(self.store.db()).all()}
        groups: dict[str, tuple[Login, dict[str, dict[str, Any]], list[str]]] = {}
        out: dict[int, HostResult | UserError] = {}
        for asset_id, variables in host_vars.items():
            asset = assets.get(asset_id)
            try:
                if asset is None:
                    raise UserError("the asset was deleted")
                cred = self.real_remote.credential_for(asset)
                ssh = self.real_remote.ssh_credential(cred)
                address = asset.primary_ip or asset.hostname
                port = cred.port or 22
                login = Login(ssh.username, ssh.key_pem, ssh.key_passphrase, ssh.password,
                              ssh.sudo_mode, ssh.sudo_password)
                known = self._known_hosts(address, port, bool(ssh.password) or (
                    ssh.sudo_mode == "password" and bool(ssh.sudo_password)))
            except UserError as exc:
                out[asset_id] = exc
                continue
            group = groups.setdefault(cred.name, (login, {}, []))
            group[1][f"a{asset_id}"] = {**connection_vars(address, port, login), **variables}
            group[2].extend(known)
        cancel = self._cancel

        def hook(host: str, task: str, kind: str) -> None:
            if on_event is not None and host.startswith("a"):
                on_event(int(host[1:]), task, kind)

        for login, hosts, known in groups.values():
            try:
                results = run_playbook(playbook, hosts, login, known_hosts=known,
                                       forks=dep.gates.concurrency,
                                       timeout=dep.gates.host_timeout + REBOOT_GRACE
                                       + dep.gates.reboot_lead_minutes * 60,
                                       on_event=hook,
                                       cancelled=(lambda: bool(cancel and cancel.cancelled)))
            except RunFailedError as exc:
                for name in hosts:
                    out[int(name[1:])] = UserError(str(exc))
                continue
            for name, result in results.items():
                out[int(name[1:])] = result
        return out

    def _replay(self, dep: Deployment, title: str,
                steps: dict[int, Callable[[ReplayTransport], T]],
                prefetch: dict[int, list[Command]] | None = None,
                ) -> dict[int, T | BaseException]:
        """Run built-in steps per host (asset id → step) with Ansible running their
        commands (:func:`app.deploy.ansible.replay.run_steps`)."""
        addresses = {t.asset_id: t.address for t in dep.targets}
        text = pb.playbook(f"deployment {dep.id} {title}")

        def execute(batch: dict[str, list[Command]]) -> dict[str, dict[Command, Any]]:
            ran = self._execute(dep, text, {int(n): command_vars(cs)
                                            for n, cs in batch.items()})
            found: dict[str, dict[Command, Any]] = {}
            for name, commands in batch.items():
                result = ran.get(int(name))
                found[name] = (dict.fromkeys(commands, result) if isinstance(result, UserError)
                               else host_outputs(addresses.get(int(name), name),
                                                 result or HostResult(), commands))
            return found

        def bound(asset_id: int, step: Callable[[ReplayTransport], T],
                  ) -> Callable[[ReplayTransport], T]:
            def run(transport: ReplayTransport) -> T:
                self._replaying[asset_id] = transport
                try:
                    return step(transport)
                finally:
                    self._replaying.pop(asset_id, None)
            return run

        results = run_steps({str(a): (addresses.get(a, str(a)), bound(a, s))
                             for a, s in steps.items()}, execute,
                            {str(a): cs for a, cs in (prefetch or {}).items()})
        return {int(n): r for n, r in results.items()}

    def prefetch(self, dep: Deployment, target: Target, asset: Asset | None = None, *,
                 step: str = "") -> list[Command]:
        """The commands a host's step will run, known ahead so one playbook run serves
        it: os-release, and for the host's package tool (recorded by pre-flight, else
        guessed from the asset's OS name) the simulation ("preflight", "prepare"), the
        keeping of the versions pre-flight saw ("prepare") or the versions ("verify").
        A wrong guess only costs a read-only command (or keeps a package file too many);
        the step then asks for what it really needs in a second run."""
        wanted = [first_command(deployer_for)]
        tool = str(target.health_before.get("package_tool", "")) or _guess_tool(asset)
        factory = DEPLOYERS.get(tool)
        if factory is None:
            return [c for c in wanted if c is not None]
        deployer = factory()
        wanted.append(first_command(linux_health) if step == "preflight" else None)
        if step in ("preflight", "prepare"):
            wanted.append(first_command(lambda t: deployer.simulate(t, pins(dep))))
        recorded = target.health_before.get("pins")
        if step == "prepare" and isinstance(recorded, dict):
            before = {**recorded, **{c.name: c.before for c in target.changes}}
            job = self._job_id(dep, target.asset_id)
            wanted.append(first_command(lambda t: deployer.keep_for_rollback(
                t, job, {n: v for n, v in before.items() if v})))
            if target.health_before.get("taken_at", 0.0) <= time.time() - SNAPSHOT_AGE:
                wanted.append(first_command(linux_health))
        if step == "verify":
            native = str(target.health_before.get("native_arch", ""))
            wanted.append(first_command(lambda t: deployer.versions(
                t, list(host_pins(dep, target)), native)))
        return [c for c in wanted if c is not None]

    # -- pre-flight --------------------------------------------------------------------
    def _preflight(self, dep: Deployment, cancel: CancelToken,
                   again: frozenset[int] = frozenset()) -> Deployment:
        """Pre-flight through Ansible of the hosts not checked yet (or again, of the hosts
        ``again``: Retry/Resume after an override re-checks them, as the built-in does)."""
        self._cancel = cancel
        self._log_engine(dep)
        assets = {a.id: a for a in AssetRepo(self.store.db()).all()}
        todo = [t for t in dep.targets if t.state is HostState.PENDING
                and (t.asset_id in again if again else not t.preflight)]
        if cancel.cancelled:
            return self.get(dep.id)
        steps: dict[int, Callable[[ReplayTransport], tuple[list[str], dict[str, Any],
                                                           list[Any]]]] = {}
        found: dict[int, Any] = {}
        for target in todo:
            asset = assets.get(target.asset_id)
            if asset is None:
                found[target.asset_id] = (["the asset was deleted"], {}, [])
            elif self._windows(asset):
                found[target.asset_id] = ([self._windows_problem()], {}, [])
            else:
                steps[target.asset_id] = self._preflight_step(dep, asset)
        targets = {t.asset_id: t for t in todo}
        found.update(self._replay(dep, "pre-flight", steps, {
            a: self.prefetch(dep, targets[a], assets.get(a), step="preflight")
            for a in steps}))
        if cancel.wait(0):  # cut short: the hosts stay as they were recorded
            return self.get(dep.id)
        for target in todo:
            result = found[target.asset_id]
            problems, snapshot, changes = (([host_error_text(result)], {}, [])
                                           if isinstance(result, BaseException) else result)
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
        return self.get(dep.id)

    def _preflight_step(self, dep: Deployment, asset: Asset) -> Callable[
            [ReplayTransport], tuple[list[str], dict[str, Any], list[Any]]]:
        def step(_transport: ReplayTransport) -> tuple[list[str], dict[str, Any], list[Any]]:
            snapshot: dict[str, Any] = {}
            changes: list[Any] = []
            problems = self._checks(dep, asset, snapshot, changes)
            if self._deployers.get(int(asset.id or 0)) is not None:
                tool = self._deployers[int(asset.id or 0)].tool
                if tool == "zypper" and not collection_present("community.general"):
                    problems.append("zypper hosts need the community.general collection for "
                                    "Ansible (ansible-galaxy collection install "
                                    "community.general); it is not installed here")
            return problems, snapshot, changes
        return step

    def _windows(self, asset: Asset) -> bool:
        try:
            return str(self.real_remote.access_kind(asset)) == "winrm"
        except UserError:
            return False

    def _windows_problem(self) -> str:
        if not collection_present("ansible.windows"):
            return ("Windows hosts need the ansible.windows collection for win_updates "
                    "(ansible-galaxy collection install ansible.windows); it is not "
                    "installed here. Deploy Windows hosts with the built-in engine.")
        return ("the Ansible engine does not record Windows hosts yet (win_updates is shown "
                "in the playbooks); deploy Windows hosts with the built-in engine")

    def _log_engine(self, dep: Deployment) -> None:
        """Say once, in the log and the audit, that Ansible runs this deployment (a
        resumed run without --engine finds it there)."""
        if any("engine: ansible" in str(e.get("message", ""))
               for e in DeploymentRepo(self.store.db()).log_lines(dep.id)):
            return
        self._save(self.get(dep.id), "engine: ansible (ansible-runner; generated playbooks)",
                   audit="deploy.engine")

    # -- waves -------------------------------------------------------------------------
    def _install_wave(self, dep: Deployment, wave: list[Target], cancel: CancelToken) -> None:
        self._cancel = cancel
        self._log_engine(dep)
        install_wave(self, dep.id, wave, cancel)

    def _rollback_hosts(self, dep_id: int, targets: list[Target],
                        cancel: CancelToken) -> None:
        self._cancel = cancel
        rollback_hosts(self, dep_id, targets)

    # -- verification -----------------------------------------------------------------
    def _verify(self, dep: Deployment) -> None:
        assets = {a.id: a for a in AssetRepo(self.store.db()).all()}
        checked = [t for t in dep.targets if not t.excluded and t.asset_id in assets]

        def step_for(target: Target) -> Callable[[ReplayTransport], str]:
            native = str(target.health_before.get("native_arch", ""))
            wanted = host_pins(dep, target)

            def step(transport: ReplayTransport) -> str:
                now = self._deployer(target.asset_id, transport).versions(
                    transport, list(wanted), native)
                return "installed" if now == wanted else (
                    "failed" if target.state is HostState.FAILED else "missing")
            return step

        results = self._replay(dep, "verification", {t.asset_id: step_for(t) for t in checked},
                               {t.asset_id: self.prefetch(dep, t, step="verify")
                                for t in checked})
        verdicts = [r if isinstance(r, str) else f"unverified: {host_error_text(r)}"
                    for r in (results[t.asset_id] for t in checked)]
        if self.reassess is not None:
            self.reassess([t.asset_id for t in dep.targets if not t.excluded])
        for target, found in zip(checked, verdicts, strict=True):
            dep = dep.with_target(replace(target, verified=found))
        summary = {v: sum(1 for t in dep.targets if t.verified == v)
                   for v in ("installed", "missing", "failed")}
        self._save(dep.moved(Phase.DONE), "verified: " + ", ".join(
            f"{n} {k}" for k, n in summary.items()), audit="deploy.verified")

    # -- helpers shared with app.deploy.ansible.waves ------------------------------------
    def read_back(self, deployer: DeployCapability, names: list[str], native: str,
                  ) -> list[Command]:
        """The commands that read versions and health back after a change."""
        wanted = [first_command(lambda t: deployer.versions(t, names, native)),
                  first_command(deployer.health)]
        return [c for c in wanted if c is not None]

    def judge(self, dep: Deployment, target: Target, deployer: DeployCapability,
              outputs: dict[Command, Any], module: dict[str, Any] | None,
              ) -> tuple[Target, str]:
        """A host's result after the install playbook, by the built-in engine's rules:
        the target as it is to be saved and the log message."""
        transport = ReplayTransport(target.address, outputs)
        native = str(target.health_before.get("native_arch", ""))
        wanted = host_pins(dep, target)
        names = list(dict.fromkeys([*wanted, *target.before]))
        after = deployer.versions(transport, names, native)
        health_after = deployer.health(transport)
        wrong = unexpected(target.changes, wanted, after)
        module = module or {}
        problems: list[str] = []
        if module.get("failed"):
            rc = module.get("rc")
            status = JobStatus("done", int(rc) if isinstance(rc, int) else 1,
                               "\n".join(str(module.get(k) or "") for k in ("stdout", "stderr",
                                                                               "msg")), ())
            problems = deployer.job_problems(status) or [
                f"{deployer.tool} module: {str(module.get('msg') or '')[:200]}"]
            detail = failure_detail(deployer, status, problems, wrong)
        ok = not problems and not wrong
        if ok:
            detail = "installed"
        elif not problems:
            detail = failure_detail(deployer, JobStatus("done", 0, "", ()), [], wrong)
        closed = [p for p in target.health_before.get("ports", [])
                  if not port_open(target.address, p)]
        issues = compare_health(target.health_before, health_after, closed)
        saved = replace(target, state=HostState.SUCCEEDED if ok else HostState.FAILED,
                        after=after, detail=detail,
                        health_after={**health_after, "problems": issues},
                        finished_at=utcnow())
        return saved, f"{target.label}: {detail}" + (f"; health: {'; '.join(issues)}"
                                                     if issues else "")

    def log_host(self, dep_id: int, target: Target, message: str) -> None:
        """A line in the deployment's log for one host."""
        self._log(dep_id, target, message)

    def hosts_of(self, targets: Sequence[Target]) -> dict[int, Asset]:
        """The assets of ``targets`` that still exist."""
        ids = {t.asset_id for t in targets}
        return {int(a.id or 0): a for a in AssetRepo(self.store.db()).all() if a.id in ids}
