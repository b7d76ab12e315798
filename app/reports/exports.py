"""CSV and JSON exports of missing patches, deployments and the audit log.

Qt-free functions over records the reports service
(:meth:`app.services.reports.ReportService.export`) collected; each file is written via a
temporary file beside it (never half a file, :mod:`app.files`) and every CSV cell goes through
the formula guard (:mod:`app.core.csvtext`). Recording the export is the service's job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.core.csvtext import records_csv
from app.core.errors import UserError
from app.core.models import Asset, AssetPatch, AuditEvent
from app.files import atomic_text, write_text
from app.reports.data import ReportOptions

KINDS = ("inventory", "patches", "deployments", "audit")
FORMATS = ("csv", "json")

PATCH_COLUMNS = ("asset_id", "host", "ip", "package", "installed_version",
                 "candidate_version", "classification", "severity", "cves", "advisories", "kb",
                 "reboot_required", "source", "status", "first_seen", "last_seen")
DEPLOYMENT_COLUMNS = ("deployment_id", "phase", "packages", "created_by", "created_at",
                      "approver", "approved_at", "host", "asset_id", "stage", "wave", "state",
                      "preflight", "override", "reboot", "verified", "detail", "before",
                      "after", "started_at", "finished_at")
AUDIT_COLUMNS = ("id", "ts", "actor", "action", "object_type", "object_id", "outcome",
                 "details", "prev_hash", "hash")


def _ts(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def patch_records(assets: Sequence[Asset], patches: Sequence[AssetPatch]
                  ) -> list[dict[str, Any]]:
    """Every missing update with its host, as flat records."""
    by_id = {int(a.id or 0): a for a in assets}
    out = []
    for p in patches:
        asset = by_id.get(p.asset_id)
        out.append({
            "asset_id": p.asset_id, "host": asset.label if asset else "",
            "ip": asset.primary_ip if asset else "", "package": p.package,
            "installed_version": p.installed_version, "candidate_version": p.candidate_version,
            "classification": str(p.classification), "severity": str(p.severity),
            "cves": list(p.cves), "advisories": list(p.advisories), "kb": p.kb,
            "reboot_required": p.reboot_required, "source": p.source, "status": str(p.status),
            "first_seen": _ts(p.first_seen), "last_seen": _ts(p.last_seen),
        })
    return out


def audit_records(events: Sequence[AuditEvent],
                  options: ReportOptions | None = None) -> list[dict[str, Any]]:
    """Audit events (newest first, as the log lists them) in the period, oldest first,
    with their hashes."""
    options = options or ReportOptions()
    return [{"id": e.id, "ts": e.ts.isoformat(), "actor": e.actor, "action": e.action,
             "object_type": e.object_type, "object_id": e.object_id,
             "outcome": str(e.outcome), "details": e.details, "prev_hash": e.prev_hash,
             "hash": e.hash}
            for e in reversed(events) if options.in_period(e.ts)]


def _write_csv(target: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    write_text(target, records_csv(columns, rows))


def _write_json(target: Path, site: dict[str, Any], key: str,
                rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    data = {"site": site, **(extra or {}), key: rows}
    with atomic_text(target) as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")


def _deployment_rows(deps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for dep in deps:
        approval = dep.get("approval") or {}
        base = {"deployment_id": dep["id"], "phase": dep["phase"],
                "packages": [f"{p['name']}={p['version']}" for p in dep["packages"]],
                "created_by": dep["created_by"], "created_at": dep["created_at"] or "",
                "approver": approval.get("approver", ""),
                "approved_at": approval.get("at", "")}
        for t in dep["targets"]:
            rows.append({**base, "host": t["label"], "asset_id": t["asset_id"],
                         "stage": t["stage"], "wave": t["wave"] + 1, "state": t["state"],
                         "preflight": t["preflight"], "override": t["override"],
                         "reboot": t["reboot"], "verified": t["verified"],
                         "detail": t["detail"], "before": t["before"], "after": t["after"],
                         "started_at": t["started_at"] or "",
                         "finished_at": t["finished_at"] or ""})
    return rows


def check_export(kind: str, fmt: str) -> None:
    """Refuse an unknown kind or format before anything is read or written.

    Raises:
        UserError: naming the choices.
    """
    if kind not in KINDS:
        raise UserError(f"Cannot export '{kind}'; choose from {', '.join(KINDS)}.")
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format '{fmt}'; choose csv or json.")


def write_export(kind: str, fmt: str, target: Path, site: dict[str, Any],
                 rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> int:
    """Write the records of one export (``patches``, ``deployments`` or ``audit``) as CSV or
    JSON; return how many records it holds.

    Args:
        site: the site summary the JSON form starts with.
        rows: :func:`patch_records`, deployments as JSON with their logs, or
            :func:`audit_records`.
        extra: more top-level JSON keys (the audit chain's state).

    Raises:
        UserError: unknown kind or format, or the file cannot be written.
    """
    check_export(kind, fmt)
    key = {"patches": "patches", "deployments": "deployments", "audit": "events"}.get(kind)
    if key is None:
        raise UserError(f"The {kind} export is written by the services.")
    if fmt == "json":
        _write_json(target, site, key, rows, extra)
    elif kind == "patches":
        _write_csv(target, PATCH_COLUMNS, rows)
    elif kind == "deployments":
        _write_csv(target, DEPLOYMENT_COLUMNS, _deployment_rows(rows))
    else:
        _write_csv(target, AUDIT_COLUMNS, rows)
    return len(rows)
