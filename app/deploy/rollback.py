"""Rollback of one host: every package the install changed, back in one transaction."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.deployment import HostState, Target
from app.core.progress import CancelToken
from app.deploy.hosts import host_error_text
from app.drivers.base import DriverError
from app.store.repos import AssetRepo

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine


def rollback_host(engine: DeployEngine, dep_id: int, target: Target,
                  cancel: CancelToken) -> None:
    """Restore every package the install changed, in ONE transaction of the host's
    package manager: the kept old package files of what was upgraded (or removed), and
    removal of what the install added; then check each package (dpkg, rpm)."""
    dep = engine.get(dep_id)
    job = (target.job or engine._job_id(dep, target.asset_id)) + "-rb"
    try:
        asset = AssetRepo(engine.store.db()).get(target.asset_id)
        transport = engine.remote.transport_for(asset)
        deployer = engine._deployer(target.asset_id, transport)
        native = str(target.health_before.get("native_arch", ""))
        restore = dict(target.before)  # name → version ("" = was not installed)
        problems: list[str] = []
        now = deployer.versions(transport, list(restore), native)
        if now != restore:
            kept: dict[str, str] = target.health_before.get("kept", {})
            back = [n for n, v in restore.items() if v and now.get(n) != v]
            missing = [n for n in back if n not in kept]
            if missing:  # a platform that keeps nothing says why (macOS)
                reason = getattr(deployer, "no_rollback", "")
                names = ", ".join(missing)
                raise DriverError(transport.host, "rollback_impossible",
                                  f"{reason}: {names}" if reason
                                  else f"no kept package file for {names}")
            remove = [n for n, v in restore.items() if not v and now.get(n)]
            engine._log(dep_id, target, "rolling back: " + ", ".join(
                [f"{n}={restore[n]}" for n in back] + [f"remove {n}" for n in remove]))
            _answer, started = deployer.start_rollback(
                transport, job, [kept[n] for n in back], remove)
            status = engine._wait(deployer, transport, started, 1800, cancel)
            problems = deployer.job_problems(status)  # e.g. what Windows cannot uninstall
            now = deployer.versions(transport, list(restore), native)
        wrong = [n for n, v in restore.items() if now.get(n, "") != v]
        ok = not wrong
        state = HostState.ROLLED_BACK if ok else target.state
        detail = "rolled back" if ok else "rollback did not restore: " + ", ".join(
            f"{n} is {now.get(n) or 'absent'} (was {restore[n] or 'absent'})"
            for n in wrong) + "".join(f"; {p}" for p in problems if not ok)
        if ok and len(restore) > 1:
            detail += " (" + ", ".join(f"{n} {v or 'removed'}"
                                       for n, v in restore.items()) + ")"
        engine._update_target(dep_id, replace(engine.get(dep_id).target(target.asset_id),
                                            state=state, detail=detail, after=now),
                            f"{target.label}: {detail}", audit="deploy.rollback_host")
    except Exception as exc:  # any failure is this host's error ([12].1)
        what = host_error_text(exc)
        try:
            engine._update_target(dep_id, replace(engine.get(dep_id).target(target.asset_id),
                                                detail=f"rollback failed: {what}"),
                                f"{target.label}: rollback failed: {what}",
                                audit="deploy.rollback_host")
        except Exception as store_exc:
            engine._host_error(dep_id, target.asset_id, store_exc, state=False)
