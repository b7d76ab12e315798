"""Stored deployments: the whole state as one JSON document per deployment, plus a log."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.clock import utcnow
from app.core.deployment import (
    Approval,
    Deployment,
    Gates,
    HostState,
    PackageChange,
    PackagePin,
    Phase,
    Stage,
    Target,
)
from app.core.errors import NotFoundError
from app.store.repos import SiteRepo

_HEX8 = re.compile(r"[0-9a-f]{8}")


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def to_json(dep: Deployment) -> dict[str, Any]:
    """A deployment as plain JSON data."""
    targets = []
    for t in dep.targets:
        item = asdict(t)
        item["stage"] = str(t.stage)
        item["state"] = str(t.state)
        item["preflight"] = list(t.preflight)
        item["started_at"] = _ts(t.started_at)
        item["finished_at"] = _ts(t.finished_at)
        targets.append(item)
    return {
        "id": dep.id,
        "packages": [{"name": p.name, "version": p.version, "arch": p.arch}
                     for p in dep.packages],
        "targets": targets,
        "phase": str(dep.phase),
        "gates": dep.gates.to_dict(),
        "created_by": dep.created_by,
        "created_at": _ts(dep.created_at),
        "approval": None if dep.approval is None else {
            "approver": dep.approval.approver, "at": _ts(dep.approval.at),
            "note": dep.approval.note},
        "halt_reason": dep.halt_reason,
        "window": dep.window,
        "uid": dep.uid,
        "archived": dep.archived,
        "change_set": dep.change_set_text(),
    }


def from_json(data: dict[str, Any]) -> Deployment:
    """Inverse of :func:`to_json`."""
    targets = []
    for item in data["targets"]:
        t = dict(item)
        t["stage"] = Stage(t["stage"])
        t["state"] = HostState(t["state"])
        t["preflight"] = tuple(t.get("preflight") or ())
        t["started_at"] = _dt(t.get("started_at"))
        t["finished_at"] = _dt(t.get("finished_at"))
        t["changes"] = tuple(PackageChange(**c) for c in t.get("changes") or ())
        targets.append(Target(**t))
    approval = data.get("approval")
    return Deployment(
        id=int(data["id"]),
        packages=tuple(PackagePin(p["name"], p["version"], p.get("arch", ""))
                       for p in data["packages"]),
        targets=tuple(targets),
        phase=Phase(data["phase"]),
        gates=Gates.from_dict(data.get("gates") or {}),
        created_by=data.get("created_by", ""),
        created_at=_dt(data.get("created_at")),
        approval=None if not approval else Approval(
            approval["approver"], _dt(approval["at"]) or utcnow(), approval.get("note", "")),
        halt_reason=data.get("halt_reason", ""),
        window=data.get("window", ""),
        uid=data.get("uid", ""),
        archived=str(data.get("archived") or ""),
    )


class DeploymentRepo:
    """Deployments of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, dep: Deployment) -> Deployment:
        """Store a new deployment; returns it with its id."""
        now = utcnow().isoformat()
        cursor = self.db.execute(
            "INSERT INTO deployments (phase, data, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [str(dep.phase), "{}", now, now])
        stored = Deployment(**{**_fields(dep), "id": int(cursor.lastrowid or 0)})
        self.save(stored)
        return stored

    def save(self, dep: Deployment) -> None:
        """Write the deployment's whole state."""
        self.db.execute(
            "UPDATE deployments SET phase = ?, data = ?, updated_at = ? WHERE id = ?",
            [str(dep.phase), json.dumps(to_json(dep), sort_keys=True), utcnow().isoformat(),
             dep.id])

    def get(self, dep_id: int) -> Deployment:
        """One deployment."""
        row = self.db.execute("SELECT data FROM deployments WHERE id = ?", [dep_id]).fetchone()
        if row is None:
            raise NotFoundError(f"No deployment with id {dep_id}.")
        return from_json(json.loads(row[0]))

    def all(self) -> list[Deployment]:
        """Every deployment, newest first."""
        return [from_json(json.loads(r[0])) for r in self.db.execute(
            "SELECT data FROM deployments ORDER BY id DESC")]

    def last_id(self) -> int | None:
        """The newest deployment's id."""
        row = self.db.execute("SELECT max(id) FROM deployments").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def log(self, dep_id: int, message: str, asset_id: int | None = None) -> None:
        """Append a line to the deployment's step log."""
        self.db.execute(
            "INSERT INTO deployment_log (deployment_id, ts, asset_id, message) "
            "VALUES (?, ?, ?, ?)", [dep_id, utcnow().isoformat(), asset_id, message])

    def log_lines(self, dep_id: int, asset_id: int | None = None) -> list[dict[str, Any]]:
        """The step log (optionally for one host), oldest first."""
        sql = "SELECT ts, asset_id, message FROM deployment_log WHERE deployment_id = ?"
        params: list[Any] = [dep_id]
        if asset_id is not None:
            sql += " AND asset_id = ?"
            params.append(asset_id)
        return [dict(r) for r in self.db.query(sql + " ORDER BY id", params)]


def site_job_id(db: Database) -> str:
    """This site's random id for host-side job ids (8 hex digits), created on first need
    and kept in the site's settings: a re-created site, or another site deploying to the
    same host, gets another one."""
    repo = SiteRepo(db)
    settings = repo.settings()
    value = settings.get("job_site_id")
    if not isinstance(value, str) or not _HEX8.fullmatch(value):
        value = secrets.token_hex(4)
        repo.set_settings({**settings, "job_site_id": value})
    return value


def _fields(dep: Deployment) -> dict[str, Any]:
    return {name: getattr(dep, name) for name in dep.__slots__}
