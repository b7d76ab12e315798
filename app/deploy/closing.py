"""Closing a deployment by hand ([13]): cancel one that will not go on (nothing more runs;
what it installed stays, and can still be rolled back), and archive one that is over (hidden
from the default list, shown with a filter; unarchive brings it back). Both hold the
engine's run lock, so a deployment being run or rolled back is refused, and both are
audited with who and why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.clock import utcnow
from app.core.deployment import (
    ARCHIVABLE_PHASES,
    CANCELLABLE_PHASES,
    Deployment,
    DeploymentError,
    Phase,
)
from app.core.errors import UserError

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine


def cancel(engine: DeployEngine, dep_id: int, reason: str) -> Deployment:
    """Cancel a deployment that is not finished (audited ``deploy.cancel`` with the reason).

    Raises:
        UserError: no reason given.
        DeploymentError: finished already, or rolling back; DeploymentBusyError when it is
            being run or rolled back in this process.
    """
    if not reason.strip():
        raise UserError("Cancelling a deployment needs a reason.")
    with engine._claimed(dep_id, "being cancelled"):
        dep = engine.get(dep_id)
        if dep.phase not in CANCELLABLE_PHASES:
            raise DeploymentError(f"Deployment {dep_id} is {dep.phase}; only a deployment "
                                  "that is not finished can be cancelled.")
        left = [t.label for t in dep.rollback_targets()]
        message = f"cancelled by {engine.actor}: {reason.strip()}" + (
            f" (installed on {', '.join(left)}: roll back to undo)" if left else "")
        return engine._save(dep.moved(Phase.CANCELLED), message, audit="deploy.cancel")


def archive(engine: DeployEngine, dep_id: int, archived: bool = True) -> Deployment:
    """Archive (or unarchive) a deployment that is over: done, halted, rolled back or
    cancelled (audited ``deploy.archive`` / ``deploy.unarchive``).

    Raises:
        DeploymentError: the deployment can still go on (cancel it first); or it is being
            run or rolled back (DeploymentBusyError).
    """
    with engine._claimed(dep_id, "being archived"):
        dep = engine.get(dep_id)
        if archived and dep.phase not in ARCHIVABLE_PHASES:
            raise DeploymentError(f"Deployment {dep_id} is {dep.phase}; archive a deployment "
                                  "once it is done, halted, rolled back or cancelled.")
        if bool(dep.archived) == archived:
            return dep
        stamp = f"{engine.actor} at {utcnow().isoformat(timespec='seconds')}"
        return engine._save(replace(dep, archived=stamp if archived else ""),
                            f"archived by {engine.actor}" if archived else
                            f"unarchived by {engine.actor}",
                            audit="deploy.archive" if archived else "deploy.unarchive")
