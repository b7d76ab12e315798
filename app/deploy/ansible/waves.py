"""A wave and a rollback run by Ansible, recorded as the built-in engine records them.

A wave: ``prepare`` (the driver's simulation and keeping the old packages, through
``commands.yml``; each host recorded RUNNING before anything is installed), ``install.yml``
(exact versions through the package module, then the versions and health read back),
``reboot.yml`` for the hosts the reboot policy restarts, and each host's result written
with the same texts and audit events as the built-in engine's. A rollback: the installed
versions read, ``rollback.yml`` with the kept package files, the versions read back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.core.clock import utcnow
from app.core.deployment import HostState, RebootPolicy, Target, change_set_text
from app.core.errors import UserError
from app.core.progress import CancelToken
from app.deploy.ansible import playbooks as pb
from app.deploy.ansible.availability import collection_present
from app.deploy.ansible.playbooks import INSTALL_TASKS, REBOOT_TASK, module_packages
from app.deploy.ansible.replay import (
    Command,
    NeedCommands,
    ReplayTransport,
    command_vars,
    first_command,
    host_outputs,
)
from app.deploy.ansible.runner import HostResult
from app.deploy.engine import REBOOT_GRACE
from app.deploy.hosts import host_error_text, host_pins
from app.drivers.base import DeployCapability, DriverError
from app.drivers.linux_deploy import compare_health
from app.drivers.linux_deploy import health as linux_health
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name

if TYPE_CHECKING:
    from app.deploy.ansible.engine import AnsibleDeployEngine

__all__ = ["install_wave", "rollback_hosts"]

_KEPT = re.compile(r"^/var/cache/patchdesk/rollback/[A-Za-z0-9_.-]+/[A-Za-z0-9_.%+~:-]+"
                   r"\.(deb|rpm)$")


def _fail(engine: AnsibleDeployEngine, dep_id: int, target: Target,
          exc: BaseException) -> None:
    """A host's step failed: FAILED with the error, as the built-in engine records it."""
    if not isinstance(exc, UserError):
        engine._host_error(dep_id, target.asset_id, exc)
        return
    current = replace(engine.get(dep_id).target(target.asset_id), state=HostState.FAILED,
                      detail=str(exc), finished_at=utcnow())
    try:
        engine._update_target(dep_id, current, f"{current.label}: failed: {exc}",
                              audit="deploy.install_done")
    except Exception as store_exc:
        engine._host_error(dep_id, target.asset_id, store_exc)


def install_wave(engine: AnsibleDeployEngine, dep_id: int, wave: list[Target],
                 cancel: CancelToken) -> None:
    """Install one wave's hosts through Ansible (see the module's text)."""
    dep = engine.get(dep_id)
    assets = engine.hosts_of(wave)
    fresh: list[Target] = []
    resumed: list[Target] = []
    for listed in wave:
        target = dep.target(listed.asset_id)
        if target.state not in (HostState.PENDING, HostState.RUNNING) or cancel.cancelled:
            continue
        if target.state is HostState.PENDING and not engine._window_open(dep, target):
            engine.log_host(dep_id, target, "not started: its maintenance window has closed")
            continue
        if target.asset_id not in assets:
            _fail(engine, dep_id, target, UserError("the asset was deleted"))
            continue
        (fresh if target.state is HostState.PENDING else resumed).append(target)
    if not fresh and not resumed:
        return

    def prepare(target: Target) -> Callable[[ReplayTransport], tuple[Target | None,
                                                                       DeployCapability]]:
        asset = assets[target.asset_id]
        job = engine._job_id(dep, target.asset_id)

        def step(transport: ReplayTransport) -> tuple[Target | None, DeployCapability]:
            deployer = engine._deployer(target.asset_id, transport)
            if target.state is HostState.RUNNING:  # resumed: prepared before the kill
                return None, deployer
            return engine._prepare(dep, target, asset, transport, job, deployer), deployer
        return step

    everyone = [*fresh, *resumed]
    prepared = engine._replay(dep, "prepare", {t.asset_id: prepare(t) for t in everyone},
                              {t.asset_id: engine.prefetch(dep, t, step="prepare")
                               for t in fresh}
                              | {t.asset_id: engine.prefetch(dep, t) for t in resumed})
    if cancel.cancelled:  # cut short: the hosts stay as they were recorded
        return
    running: list[tuple[Target, DeployCapability]] = []
    for target in everyone:
        result = prepared[target.asset_id]
        if isinstance(result, BaseException):
            _fail(engine, dep_id, target, result)
            continue
        ready, deployer = result
        if ready is None:
            engine.log_host(dep_id, target, "resumed: the install playbook runs again "
                            "(the package module does nothing where the versions are in "
                            "place)")
            running.append((target, deployer))
            continue
        if ready.state is HostState.SUCCEEDED:
            engine._update_target(dep_id, ready, f"{ready.label}: already up to date")
            continue
        # Written BEFORE the install starts: a killed run resumes this host.
        engine._update_target(dep_id, ready, f"{ready.label}: installing "
                              f"{', '.join(str(p) for p in dep.packages)}"
                              + (f" ({change_set_text(ready.changes)})"
                                 if ready.changes else ""), audit="deploy.install_start")
        kept = ready.health_before.get("kept") or {}  # as the built-in engine's log says it
        engine.log_host(dep_id, ready, "old package(s) kept: "
                        + (", ".join(sorted(kept)) or "none found"))
        running.append((ready, deployer))
    if not running or cancel.cancelled:
        return
    _install(engine, dep_id, running, cancel)


def _install(engine: AnsibleDeployEngine, dep_id: int,
             running: list[tuple[Target, DeployCapability]], cancel: CancelToken) -> None:
    dep = engine.get(dep_id)
    readback: dict[int, list[Command]] = {}
    host_vars: dict[int, dict[str, Any]] = {}
    for target, deployer in running:
        native = str(target.health_before.get("native_arch", ""))
        wanted = host_pins(dep, target)
        names = list(dict.fromkeys([*wanted, *target.before]))
        readback[target.asset_id] = engine.read_back(deployer, names, native)
        host_vars[target.asset_id] = {
            "pd_tool": deployer.tool, "pd_packages": module_packages(deployer.tool, wanted),
            **command_vars(readback[target.asset_id], "pd_after")}
    text = pb.install_playbook(f"deployment {dep.id} install",
                               zypper=collection_present("community.general"))
    ran = engine._execute(dep, text, host_vars)
    done: list[tuple[Target, DeployCapability, str]] = []
    for target, deployer in running:
        result = ran.get(target.asset_id) or HostResult()
        try:
            if isinstance(result, UserError):
                raise result
            if result.unreachable:
                raise DriverError(target.address, "unreachable",
                                  f"unreachable (Ansible: {result.unreachable[:300]})")
            outputs = host_outputs(target.address, result, readback[target.asset_id],
                                   "pd_after")
            task = INSTALL_TASKS[deployer.tool]
            module = {**result.tasks.get(task, {}), "failed": task in result.failed}
            saved, message = engine.judge(dep, target, deployer, outputs, module)
        except (Exception, NeedCommands) as exc:
            if cancel.cancelled:
                return
            _fail(engine, dep_id, target, exc if not isinstance(exc, NeedCommands)
                  else DriverError(target.address, "install_failed", "no read-back"))
            continue
        done.append((saved, deployer, message))
    _reboot_and_record(engine, dep_id, done, cancel)


def _reboot_and_record(engine: AnsibleDeployEngine, dep_id: int,
                       done: list[tuple[Target, DeployCapability, str]],
                       cancel: CancelToken) -> None:
    """The reboot policy for the hosts that succeeded, then every host's record."""
    dep = engine.get(dep_id)
    policy = dep.gates.reboot
    minutes = dep.gates.reboot_lead_minutes
    rebooting: dict[int, tuple[Target, DeployCapability, str]] = {}
    for saved, deployer, message in done:
        marker = str(saved.health_after.get("boot_marker", ""))
        if saved.state is not HostState.SUCCEEDED:
            engine._update_target(dep_id, replace(saved, reboot="not needed"), message,
                                  audit="deploy.install_done")
            continue
        pending = bool(saved.health_after.get("reboot_required"))
        if saved.reboot == "scheduled" and saved.reboot_marker and marker \
                and marker != saved.reboot_marker:  # resumed: the reboot happened
            engine.log_host(dep_id, saved, "back after reboot (boot marker changed)")
            engine._update_target(dep_id, replace(saved, reboot="done (boot marker changed)"),
                                  message, audit="deploy.install_done")
            continue
        if saved.reboot != "scheduled" and (
                policy is RebootPolicy.NEVER or (policy is RebootPolicy.IF_NEEDED
                                                 and not pending)):
            reboot = "needed; not rebooted (policy: never)" if pending else "not needed"
            engine._update_target(dep_id, replace(saved, reboot=reboot), message,
                                  audit="deploy.install_done")
            continue
        scheduled = replace(saved, reboot="scheduled", reboot_marker=marker,
                            state=HostState.RUNNING)
        # Recorded before the notice goes out: a resumed run knows the reboot was due.
        engine._update_target(dep_id, scheduled, f"{saved.label}: reboot scheduled in "
                              f"{minutes} min; users notified", audit="deploy.reboot")
        rebooting[saved.asset_id] = (saved, deployer, message)
    if not rebooting or cancel.cancelled:
        return
    text = dep.gates.reboot_text(minutes)  # never str.format ([12].15)
    ran = engine._execute(dep, pb.reboot_playbook(f"deployment {dep.id} reboot"), {
        a: {"pd_reboot_text": text, "pd_reboot_lead_minutes": minutes,
            "pd_reboot_timeout": int(REBOOT_GRACE)} for a in rebooting})
    back = [a for a in rebooting
            if isinstance(ran.get(a), HostResult)
            and (ran[a].tasks.get(REBOOT_TASK) or {}).get("rebooted")]  # type: ignore[union-attr]
    first = first_command(linux_health)
    fresh = engine._replay(dep, "after reboot",
                           {a: (lambda d: lambda t: d.health(t))(rebooting[a][1]) for a in back},
                           {a: [first] if first else [] for a in back})
    for asset_id, (saved, _deployer, message) in rebooting.items():
        result = ran.get(asset_id)
        if asset_id not in back:
            why = (str(result) if isinstance(result, UserError) else
                   (result.unreachable or "; ".join(result.failed.values())) if result
                   else "no result")
            _fail(engine, dep_id, saved, DriverError(
                saved.address, "reboot_failed",
                f"the host did not come back from its reboot in time ({why[:200]})"))
            continue
        engine.log_host(dep_id, saved, "back after reboot (boot marker changed)")
        health_after = fresh.get(asset_id)
        if isinstance(health_after, dict):
            problems = compare_health(saved.health_before, health_after, [])
            saved = replace(saved, health_after={**health_after, "problems": problems})
        engine._update_target(dep_id, replace(saved, reboot="done (boot marker changed)"),
                              message, audit="deploy.install_done")


# -- rollback ------------------------------------------------------------------------------
def _checked(target: Target, tool: str, files: list[str], remove: list[str]) -> None:
    for path in files:
        if not _KEPT.match(path):
            raise DriverError(target.address, "unsafe_value", f"bad package path {path!r}")
    try:
        for name in remove:
            ensure_package_name(name, "deb" if tool == "apt" else "rpm", allow_arch=True)
    except UnsafeValueError as exc:
        raise DriverError(target.address, "unsafe_value", str(exc)) from None


def rollback_hosts(engine: AnsibleDeployEngine, dep_id: int, targets: list[Target]) -> None:
    """Restore the recorded versions on ``targets`` through ``rollback.yml``."""
    dep = engine.get(dep_id)

    def current(target: Target) -> Callable[[ReplayTransport], tuple[DeployCapability,
                                                                       dict[str, str]]]:
        def step(transport: ReplayTransport) -> tuple[DeployCapability, dict[str, str]]:
            deployer = engine._deployer(target.asset_id, transport)
            native = str(target.health_before.get("native_arch", ""))
            return deployer, deployer.versions(transport, list(target.before), native)
        return step

    found = engine._replay(dep, "rollback check", {t.asset_id: current(t) for t in targets},
                           {t.asset_id: engine.prefetch(dep, t) for t in targets})
    host_vars: dict[int, dict[str, Any]] = {}
    pending: dict[int, tuple[Target, DeployCapability, list[Command]]] = {}
    for target in targets:
        result = found[target.asset_id]
        try:
            if isinstance(result, BaseException):
                raise result
            deployer, now = result
            restore = dict(target.before)
            if now == restore:
                _rolled(engine, dep_id, target, now)
                continue
            kept: dict[str, str] = target.health_before.get("kept", {})
            back = [n for n, v in restore.items() if v and now.get(n) != v]
            missing = [n for n in back if n not in kept]
            if missing:
                raise DriverError(target.address, "rollback_impossible",
                                  f"no kept package file for {', '.join(missing)}")
            remove = [n for n, v in restore.items() if not v and now.get(n)]
            files = [kept[n] for n in back]
            _checked(target, deployer.tool, files, remove)
            engine.log_host(dep_id, target, "rolling back: " + ", ".join(
                [f"{n}={restore[n]}" for n in back] + [f"remove {n}" for n in remove]))
            native = str(target.health_before.get("native_arch", ""))
            readback = engine.read_back(deployer, list(restore), native)[:1]
            host_vars[target.asset_id] = {"pd_tool": deployer.tool, "pd_restore": files,
                                          "pd_remove": remove,
                                          **command_vars(readback, "pd_after")}
            pending[target.asset_id] = (target, deployer, readback)
        except Exception as exc:  # any failure is this host's error ([12].1)
            _rollback_failed(engine, dep_id, target, exc)
    if not host_vars:
        return
    text = pb.rollback_playbook(f"deployment {dep.id} rollback",
                                zypper=collection_present("community.general"))
    ran = engine._execute(dep, text, host_vars)
    for asset_id, (target, deployer, readback) in pending.items():
        try:
            answer = ran.get(asset_id) or HostResult()
            if isinstance(answer, UserError):
                raise answer
            outputs = host_outputs(target.address, answer, readback, "pd_after")
            native = str(target.health_before.get("native_arch", ""))
            now = deployer.versions(ReplayTransport(target.address, outputs),
                                    list(target.before), native)
            _rolled(engine, dep_id, target, now)
        except Exception as exc:
            _rollback_failed(engine, dep_id, target, exc)


def _rolled(engine: AnsibleDeployEngine, dep_id: int, target: Target,
            now: dict[str, str]) -> None:
    restore = dict(target.before)
    wrong = [n for n, v in restore.items() if now.get(n, "") != v]
    ok = not wrong
    state = HostState.ROLLED_BACK if ok else target.state
    detail = "rolled back" if ok else "rollback did not restore: " + ", ".join(
        f"{n} is {now.get(n) or 'absent'} (was {restore[n] or 'absent'})" for n in wrong)
    if ok and len(restore) > 1:
        detail += " (" + ", ".join(f"{n} {v or 'removed'}" for n, v in restore.items()) + ")"
    engine._update_target(dep_id, replace(engine.get(dep_id).target(target.asset_id),
                                        state=state, detail=detail, after=now),
                          f"{target.label}: {detail}", audit="deploy.rollback_host")


def _rollback_failed(engine: AnsibleDeployEngine, dep_id: int, target: Target,
                     exc: BaseException) -> None:
    what = host_error_text(exc)
    try:
        engine._update_target(dep_id, replace(engine.get(dep_id).target(target.asset_id),
                                            detail=f"rollback failed: {what}"),
                              f"{target.label}: rollback failed: {what}",
                              audit="deploy.rollback_host")
    except Exception as store_exc:
        engine._host_error(dep_id, target.asset_id, store_exc, state=False)
