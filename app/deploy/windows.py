"""Maintenance windows in the engine: which apply to a host, whether one is open, and the
gate that holds hosts until their window opens (cancellable, logged and audited)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.core.deployment import Deployment, HostState, Target
from app.core.errors import UserError
from app.core.policy import MaintenanceWindow, selector_matches
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.store.repos import AssetRepo

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine


def host_windows(engine: DeployEngine, dep: Deployment, target: Target) -> list[MaintenanceWindow]:
    """The plan's windows that apply to a host (none: any time; emergency: none)."""
    if dep.gates.emergency or not dep.gates.windows:
        return []
    try:
        asset = AssetRepo(engine.store.db()).get(target.asset_id)
    except UserError:
        return []
    windows = [MaintenanceWindow.parse(w) for w in dep.gates.windows]
    return [w for w in windows if selector_matches(w.group, asset)]

def window_open(engine: DeployEngine, dep: Deployment, target: Target,
                 now: datetime | None = None) -> bool:
    """Whether a host's maintenance window is open now (a RUNNING host is in flight)."""
    windows = host_windows(engine, dep, target)
    now = now or engine.clock()
    return not windows or any(w.contains(now) for w in windows)

def window_gate(engine: DeployEngine, dep: Deployment, targets: list[Target],
                 progress: ProgressCallback | None, cancel: CancelToken) -> list[Target]:
    """The hosts of ``targets`` that may start now: in flight, or their window is open.
    While none may, wait (cancellable) for the first window to open, saying so in the
    log and the progress. Returns [] only when cancelled."""
    said = ""
    while True:
        now = engine.clock()
        ready = [t for t in targets if t.state is HostState.RUNNING
                 or window_open(engine, dep, t, now)]
        if ready or not targets:
            return ready
        opens = min(w.next_open(now) for t in targets for w in host_windows(engine, dep, t))
        message = f"waiting for window {opens:%a %H:%M}"
        if message != said:
            said = message
            engine._save(engine.get(dep.id), f"{message} ({len(targets)} host(s))",
                       audit="deploy.window_wait")
        if progress is not None:
            done = sum(1 for t in dep.targets if t.state in (
                HostState.SUCCEEDED, HostState.FAILED, HostState.SKIPPED))
            progress(Progress(done, len(dep.targets), message))
        if cancel.wait(min(30.0, max(0.2, (opens - now).total_seconds()))):
            return []
