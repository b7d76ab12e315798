"""Stored deep-scan results: the latest facts and outcome per asset, software, patches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.assessment import Assessment, LookupStats
from app.core.models import AssetPatch, Classification, PatchStatus, Severity, Software


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    """The outcome of one deep scan of one asset."""

    asset_id: int
    started_at: datetime
    finished_at: datetime
    ok: bool
    error_kind: str
    error: str
    driver: str
    facts: dict[str, Any]
    packages: int
    updates: int
    security_updates: int
    reboot_required: bool | None
    reboot_reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    lookups: LookupStats | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "asset_id": self.asset_id, "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(), "ok": self.ok,
            "error_kind": self.error_kind or None, "error": self.error or None,
            "driver": self.driver, "packages": self.packages, "updates": self.updates,
            "security_updates": self.security_updates,
            "reboot_required": self.reboot_required,
            "reboot_reasons": list(self.reboot_reasons), "warnings": list(self.warnings),
            "cve_lookups": self.lookups.to_dict() if self.lookups else None,
            "facts": self.facts,
        }


class AssessmentRepo:
    """Deep-scan results of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record_failure(self, asset_id: int, started: datetime, finished: datetime,
                       kind: str, message: str) -> None:
        """Store a failed deep scan (the asset's software and patches are kept as they were)."""
        self.db.execute(
            "INSERT INTO assessments (asset_id, started_at, finished_at, ok, error_kind, error)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            [asset_id, started.isoformat(), finished.isoformat(), kind, message])

    def record_success(self, asset_id: int, started: datetime, finished: datetime,
                       result: Assessment) -> None:
        """Store a deep scan: its facts, the full software list and the missing updates.

        Updates that are no longer missing are marked installed; new ones get a first-seen
        time; ones still missing keep theirs.
        """
        now = finished.isoformat()
        security = sum(1 for u in result.updates if u.classification is Classification.SECURITY)
        self.db.execute(
            "INSERT INTO assessments (asset_id, started_at, finished_at, ok, driver, facts, "
            "packages, updates, security_updates, reboot_required, reboot_reasons, warnings, "
            "lookups) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [asset_id, started.isoformat(), now, result.driver,
             json.dumps(result.facts.to_dict()), len(result.packages), len(result.updates),
             security, None if result.reboot.required is None else int(result.reboot.required),
             json.dumps(list(result.reboot.reasons)), json.dumps(result.warnings),
             json.dumps(result.lookups.to_dict() if result.lookups else {})])
        self.db.execute("DELETE FROM software WHERE asset_id = ?", [asset_id])
        self.db.conn.executemany(
            "INSERT INTO software (asset_id, name, version, arch, source, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(asset_id, p.name, p.version, p.arch, p.source, now) for p in result.packages])
        # One row per (package, architecture): a multilib/multiarch pair is two rows.
        existing = {(r[0], r[1]): r[2] for r in self.db.execute(
            "SELECT package, arch, status FROM asset_patches WHERE asset_id = ?", [asset_id])}
        missing: set[tuple[str, str]] = set()
        for u in result.updates:
            key = (u.package, u.arch)
            if key in missing:
                continue  # a driver listing the same package and arch twice
            if key not in existing and (u.package, "") in existing and u.arch:
                # A row stored before architectures were recorded: it is this one.
                self.db.execute("UPDATE asset_patches SET arch=? WHERE asset_id=? AND "
                                "package=? AND arch=''", [u.arch, asset_id, u.package])
                existing[key] = existing.pop((u.package, ""))
            missing.add(key)
            row = [u.kb, u.installed_version, u.candidate_version, str(u.classification),
                   str(u.severity), u.source, json.dumps(list(u.cves)),
                   json.dumps(list(u.advisories)), int(u.reboot_required),
                   json.dumps(list(u.evidence))]
            if key in existing:
                self.db.execute(
                    "UPDATE asset_patches SET kb=?, installed_version=?, candidate_version=?, "
                    "classification=?, severity=?, source=?, cves=?, advisories=?, "
                    "reboot_required=?, evidence=?, status='missing', last_seen=?, "
                    "first_seen=CASE WHEN status='missing' THEN first_seen ELSE ? END "
                    "WHERE asset_id=? AND package=? AND arch=?",
                    [*row, now, now, asset_id, u.package, u.arch])
            else:
                self.db.execute(
                    "INSERT INTO asset_patches (kb, installed_version, candidate_version, "
                    "classification, severity, source, cves, advisories, reboot_required, "
                    "evidence, arch, asset_id, package, status, first_seen, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'missing', ?, ?)",
                    [*row, u.arch, asset_id, u.package, now, now])
        for (package, arch), status in existing.items():
            if (package, arch) not in missing and status == PatchStatus.MISSING.value:
                self.db.execute(
                    "UPDATE asset_patches SET status='installed', last_seen=? "
                    "WHERE asset_id=? AND package=? AND arch=?", [now, asset_id, package, arch])

    def previous_details(self, asset_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """``facts.details`` of these assets' latest successful deep scans (assets whose
        latest success has none are left out): what a driver stored for the next one."""
        out: dict[int, dict[str, Any]] = {}
        ids = list(dict.fromkeys(asset_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT a.asset_id, json_extract(a.facts, '$.details') FROM assessments a "
                "JOIN (SELECT asset_id, max(id) AS id FROM assessments WHERE ok = 1 AND "
                f"asset_id IN ({marks}) GROUP BY asset_id) m ON a.id = m.id",
                chunk).fetchall()
            for asset_id, text in rows:
                details = json.loads(text) if text else None
                if isinstance(details, dict) and details:
                    out[int(asset_id)] = details
        return out

    def keep_detail_latest_only(self, asset_id: int, key: str) -> None:
        """Remove ``facts.details.<key>`` from every deep scan of the asset but its latest
        (a state only the next assessment reads, not history)."""
        path = f'$.details."{key}"'
        self.db.execute(
            "UPDATE assessments SET facts = json_remove(facts, ?) WHERE asset_id = ? AND "
            "id < (SELECT max(id) FROM assessments WHERE asset_id = ?) AND "
            "json_extract(facts, ?) IS NOT NULL", [path, asset_id, asset_id, path])

    def record_installed(self, asset_id: int, versions: dict[str, str],
                         when: datetime) -> None:
        """What a deployment's verification read on a host (``name`` or ``name:arch`` →
        the installed version, "" = not installed): the stored software list takes those
        versions, and a missing update whose candidate version is now installed is marked
        installed (an update still newer than what was installed stays missing)."""
        now = when.isoformat()
        for key, version in versions.items():
            name, _, arch = key.partition(":")
            arch_sql, arch_arg = (" AND arch IN (?, '')", [arch]) if arch else ("", [])
            if not version:
                self.db.execute("DELETE FROM software WHERE asset_id=? AND name=?" + arch_sql,
                                [asset_id, name, *arch_arg])
                continue
            self.db.execute("UPDATE software SET version=?, seen_at=? WHERE asset_id=? AND "
                            "name=?" + arch_sql, [version, now, asset_id, name, *arch_arg])
            self.db.execute(
                "UPDATE asset_patches SET installed_version=?, last_seen=?, status=CASE WHEN "
                "candidate_version=? THEN 'installed' ELSE status END WHERE asset_id=? AND "
                "package=? AND status='missing'" + arch_sql,
                [version, now, version, asset_id, name, *arch_arg])

    def latest(self, asset_id: int) -> AssessmentRecord | None:
        """The newest deep scan of an asset."""
        rows = list(self.db.query(
            "SELECT * FROM assessments WHERE asset_id = ? ORDER BY id DESC LIMIT 1",
            [asset_id]))
        return _record(rows[0]) if rows else None

    def latest_all(self) -> dict[int, AssessmentRecord]:
        """The newest deep scan of every asset that has one."""
        rows = self.db.query(
            "SELECT a.* FROM assessments a JOIN (SELECT asset_id, max(id) AS id FROM "
            "assessments GROUP BY asset_id) m ON a.id = m.id")
        return {r["asset_id"]: _record(r) for r in rows}

    def software(self, asset_id: int) -> list[Software]:
        """Installed software of an asset, by name."""
        return [Software(r["asset_id"], r["name"], r["version"], r["arch"], r["source"],
                         datetime.fromisoformat(r["seen_at"]) if r["seen_at"] else None)
                for r in self.db.query(
                    "SELECT * FROM software WHERE asset_id = ? ORDER BY name", [asset_id])]

    def patches(self, asset_id: int | None = None,
                status: PatchStatus | None = PatchStatus.MISSING) -> list[AssetPatch]:
        """Patches (missing by default) of one asset or the whole site."""
        where: list[str] = []
        params: list[Any] = []
        if asset_id is not None:
            where.append("asset_id = ?")
            params.append(asset_id)
        if status is not None:
            where.append("status = ?")
            params.append(str(status))
        sql = "SELECT * FROM asset_patches"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY asset_id, package, arch"
        return [_patch(r) for r in self.db.query(sql, params)]


def _record(row: dict[str, Any]) -> AssessmentRecord:
    reboot = row["reboot_required"]
    return AssessmentRecord(
        asset_id=row["asset_id"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=datetime.fromisoformat(row["finished_at"]),
        ok=bool(row["ok"]),
        error_kind=row["error_kind"],
        error=row["error"],
        driver=row["driver"],
        facts=json.loads(row["facts"]),
        packages=row["packages"],
        updates=row["updates"],
        security_updates=row["security_updates"],
        reboot_required=None if reboot is None else bool(reboot),
        reboot_reasons=tuple(json.loads(row["reboot_reasons"])),
        warnings=tuple(json.loads(row["warnings"])),
        lookups=LookupStats.from_dict(lookups) if (lookups := json.loads(
            row.get("lookups") or "{}")) else None,
    )


def _patch(row: dict[str, Any]) -> AssetPatch:
    return AssetPatch(
        id=row["id"],
        asset_id=row["asset_id"],
        package=row["package"],
        kb=row["kb"],
        installed_version=row["installed_version"],
        candidate_version=row["candidate_version"],
        classification=Classification(row["classification"]),
        severity=Severity(row["severity"]),
        source=row["source"],
        cves=tuple(json.loads(row["cves"])),
        advisories=tuple(json.loads(row["advisories"])),
        reboot_required=bool(row["reboot_required"]),
        status=PatchStatus(row["status"]),
        first_seen=datetime.fromisoformat(row["first_seen"]) if row["first_seen"] else None,
        last_seen=datetime.fromisoformat(row["last_seen"]) if row["last_seen"] else None,
        arch=row["arch"],
        evidence=tuple(json.loads(row.get("evidence") or "[]")),
    )
