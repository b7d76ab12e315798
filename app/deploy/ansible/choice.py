"""Choosing the execution engine: which class runs a deployment, and which one ran it."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.deployment import Deployment
from app.core.errors import UserError
from app.deploy.ansible.availability import ENGINES, missing_reason
from app.deploy.ansible.engine import AnsibleDeployEngine, show_playbooks
from app.deploy.engine import DeployEngine
from app.deploy.hosts import pins
from app.store.db import SiteDB
from app.store.deployments import DeploymentRepo

__all__ = ["ENGINES", "engine_class", "missing_reason", "playbooks_for", "preview_playbooks",
           "recorded_engine"]


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


def playbooks_for(dep: Deployment) -> dict[str, str]:
    """The playbooks the Ansible engine runs for a planned deployment."""
    return show_playbooks(f"deployment {dep.id}", pins(dep))


def preview_playbooks(specs: Sequence[str]) -> dict[str, str]:
    """The playbooks for a deployment of ``specs`` ("name" or "name=version") not planned
    yet (a version left open is shown as VERSION: the plan takes the assessment's)."""
    example = {}
    for spec in specs:
        name, _, version = spec.partition("=")
        example[name.strip()] = version.strip() or "VERSION"
    return show_playbooks("new deployment", example)
