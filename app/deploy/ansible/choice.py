"""Choosing the execution engine: which class runs a deployment, and which one ran it."""

from __future__ import annotations

from app.core.errors import UserError
from app.deploy.ansible.availability import ENGINES, missing_reason
from app.deploy.ansible.engine import AnsibleDeployEngine, show_playbooks
from app.deploy.engine import DeployEngine
from app.store.db import SiteDB
from app.store.deployments import DeploymentRepo

__all__ = ["ENGINES", "engine_class", "recorded_engine", "show_playbooks"]


def engine_class(kind: str) -> type[DeployEngine]:
    """The engine class of ``kind``.

    Raises:
        UserError: an unknown engine, or "ansible" when it cannot run here (says why).
    """
    if kind == "builtin":
        return DeployEngine
    if kind == "ansible":
        reason = missing_reason()
        if reason:
            raise UserError(f"The Ansible engine is not available: {reason}.")
        return AnsibleDeployEngine
    raise UserError(f"Unknown engine {kind!r}: choose {' or '.join(ENGINES)}.")


def recorded_engine(store: SiteDB, dep_id: int) -> str:
    """The engine that ran a deployment ("ansible" when its log says so, else
    "builtin")."""
    lines = DeploymentRepo(store.db()).log_lines(dep_id)
    return "ansible" if any(str(line.get("message", "")).startswith("engine: ansible")
                            for line in lines) else "builtin"
