"""Scan history: each discovery run, what it saw per host and which assets it did not see."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.errors import NotFoundError
from app.core.models import Asset


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One stored scan and its diff against the inventory."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    targets: str
    exclude: str
    ports: tuple[int, ...]
    addresses: int
    cancelled: bool
    merged: bool
    actor: str
    summary: dict[str, int]
    hosts: list[dict[str, Any]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "targets": self.targets,
            "exclude": self.exclude,
            "ports": list(self.ports),
            "addresses": self.addresses,
            "cancelled": self.cancelled,
            "merged": self.merged,
            "actor": self.actor,
            "summary": self.summary,
            "hosts": self.hosts,
            "gone": self.gone,
        }


_HOST_JSON = ("hostnames", "open_ports", "evidence", "changes")


class ScanRepo:
    """Stored scans of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, *, started_at: datetime, targets: str, exclude: str, ports: list[int],
              addresses: int, actor: str) -> int:
        """Record that a scan started; returns its id."""
        cursor = self.db.execute(
            "INSERT INTO scans (started_at, targets, exclude, ports, addresses, actor) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [started_at.isoformat(), targets, exclude, json.dumps(ports), addresses, actor],
        )
        return int(cursor.lastrowid or 0)

    def add_host(self, scan_id: int, host: dict[str, Any], change: str,
                 changes: dict[str, Any], asset_id: int | None) -> None:
        """Store one observed host with its relation to the inventory."""
        row = {
            "scan_id": scan_id,
            "ip": host["ip"],
            "mac": host.get("mac") or "",
            "vendor": host.get("vendor") or "",
            "hostnames": json.dumps(host.get("hostnames") or []),
            "netbios_name": host.get("netbios_name") or "",
            "open_ports": json.dumps(host.get("open_ports") or []),
            "ssh_banner": host.get("ssh_banner") or "",
            "http_title": host.get("http_title") or "",
            "http_server": host.get("http_server") or "",
            "device_type": host.get("device_type") or "",
            "os_guess": host.get("os_guess") or "",
            "evidence": json.dumps(host.get("evidence") or []),
            "alive_reason": host.get("alive_reason") or "",
            "change": change,
            "changes": json.dumps(changes, default=str),
            "asset_id": asset_id,
        }
        self.db.execute(
            f"INSERT INTO scan_hosts ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    def add_gone(self, scan_id: int, asset: Asset) -> None:
        """Record an inventory asset the scan did not see."""
        self.db.execute(
            "INSERT INTO scan_gone (scan_id, asset_id, label, ips) VALUES (?, ?, ?, ?)",
            [scan_id, asset.id, asset.label, json.dumps(list(asset.ips))],
        )

    def finish(self, scan_id: int, *, finished_at: datetime, cancelled: bool, merged: bool,
               summary: dict[str, int]) -> None:
        """Record the end of a scan."""
        self.db.execute(
            "UPDATE scans SET finished_at = ?, cancelled = ?, merged = ?, summary = ? "
            "WHERE id = ?",
            [finished_at.isoformat(), int(cancelled), int(merged), json.dumps(summary),
             scan_id],
        )

    def set_host_asset(self, scan_id: int, ip: str, asset_id: int) -> None:
        """Link an observed host to the asset it was added as."""
        self.db.execute("UPDATE scan_hosts SET asset_id = ? WHERE scan_id = ? AND ip = ?",
                        [asset_id, scan_id, ip])

    def list(self, limit: int = 50) -> list[ScanRecord]:
        """Recent scans, newest first, without their hosts."""
        rows = self.db.query("SELECT * FROM scans ORDER BY id DESC LIMIT ?", [limit])
        return [_record(r) for r in rows]

    def get(self, scan_id: int) -> ScanRecord:
        """One scan with its hosts and not-seen assets."""
        rows = list(self.db.query("SELECT * FROM scans WHERE id = ?", [scan_id]))
        if not rows:
            raise NotFoundError(f"No scan with id {scan_id}.")
        hosts = []
        for row in self.db.query(
            "SELECT * FROM scan_hosts WHERE scan_id = ? ORDER BY id", [scan_id]
        ):
            host = dict(row)
            for key in _HOST_JSON:
                host[key] = json.loads(host[key])
            host.pop("scan_id")
            host.pop("id")
            hosts.append(host)
        gone = [
            {"asset_id": r["asset_id"], "label": r["label"], "ips": json.loads(r["ips"])}
            for r in self.db.query("SELECT * FROM scan_gone WHERE scan_id = ?", [scan_id])
        ]
        return _record(rows[0], hosts, gone)


def _record(row: dict[str, Any], hosts: list[dict[str, Any]] | None = None,
            gone: list[dict[str, Any]] | None = None) -> ScanRecord:
    return ScanRecord(
        id=row["id"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
        targets=row["targets"],
        exclude=row["exclude"],
        ports=tuple(json.loads(row["ports"])),
        addresses=row["addresses"],
        cancelled=bool(row["cancelled"]),
        merged=bool(row["merged"]),
        actor=row["actor"],
        summary=json.loads(row["summary"]),
        hosts=hosts or [],
        gone=gone or [],
    )
