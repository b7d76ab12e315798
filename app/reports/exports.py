"""CSV and JSON exports of the inventory, missing patches, deployments and the audit log.

Qt-free functions over an open :class:`app.services.SiteService`; each writes its file via a
temporary sibling (never half a file) and records the export in the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import UserError
from app.reports.data import ReportOptions
from app.store.deployments import to_json as deployment_json
from app.store.repos import AuditRepo

if TYPE_CHECKING:
    from app.services import SiteService

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


@contextmanager
def _atomic_text(target: Path) -> Iterator[io.TextIOWrapper]:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"Cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _ts(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def patch_records(service: SiteService) -> list[dict[str, Any]]:
    """Every missing update with its host, as flat records."""
    assets = {int(a.id or 0): a for a in service.assets()}
    out = []
    for p in service.patches():
        asset = assets.get(p.asset_id)
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


def deployment_records(service: SiteService,
                       options: ReportOptions | None = None) -> list[dict[str, Any]]:
    """Deployments (in the period) as their stored JSON, with each one's step log."""
    options = options or ReportOptions()
    out = []
    for dep in service.deployments():
        if options.in_period(dep.created_at):
            out.append({**deployment_json(dep), "log": service.deployment_log(dep.id)})
    return out


def audit_records(service: SiteService,
                  options: ReportOptions | None = None) -> list[dict[str, Any]]:
    """Audit events (in the period), oldest first, with their hashes."""
    options = options or ReportOptions()
    return [{"id": e.id, "ts": e.ts.isoformat(), "actor": e.actor, "action": e.action,
             "object_type": e.object_type, "object_id": e.object_id,
             "outcome": str(e.outcome), "details": e.details, "prev_hash": e.prev_hash,
             "hash": e.hash}
            for e in reversed(service.audit_events()) if options.in_period(e.ts)]


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def _write_csv(target: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with _atomic_text(target) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(row.get(k)) for k in columns})


def _write_json(target: Path, service: SiteService, key: str,
                rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    data = {"site": service.info().to_dict(), **(extra or {}), key: rows}
    with _atomic_text(target) as fh:
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


def export(service: SiteService, kind: str, fmt: str, path: Path | str,
           options: ReportOptions | None = None) -> int:
    """Write one export; return how many records it holds.

    Args:
        kind: ``inventory``, ``patches``, ``deployments`` or ``audit``.
        fmt: ``csv`` or ``json``.
        path: the file to write (replaced).
        options: the period for deployments and audit events (sections are ignored).

    Raises:
        UserError: unknown kind or format, or the file cannot be written.
    """
    if kind not in KINDS:
        raise UserError(f"Cannot export '{kind}'; choose from {', '.join(KINDS)}.")
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format '{fmt}'; choose csv or json.")
    target = Path(path)
    if kind == "inventory":  # the inventory export exists in the services (and audits)
        return service.export_csv(target) if fmt == "csv" else service.export_json(target)
    writers: dict[str, Callable[[], int]] = {}

    def patches() -> int:
        rows = patch_records(service)
        if fmt == "csv":
            _write_csv(target, PATCH_COLUMNS, rows)
        else:
            _write_json(target, service, "patches", rows)
        return len(rows)

    def deployments() -> int:
        deps = deployment_records(service, options)
        if fmt == "csv":
            _write_csv(target, DEPLOYMENT_COLUMNS, _deployment_rows(deps))
        else:
            _write_json(target, service, "deployments", deps)
        return len(deps)

    def audit() -> int:
        rows = audit_records(service, options)
        problems = service.audit_verify()
        if fmt == "csv":
            _write_csv(target, AUDIT_COLUMNS, rows)
        else:
            _write_json(target, service, "events", rows, {"chain": {
                "intact": not problems,
                "problems": [{"row": p.row_id, "problem": p.problem} for p in problems]}})
        return len(rows)

    writers.update(patches=patches, deployments=deployments, audit=audit)
    count = writers[kind]()
    with service.store.atomic() as db:
        AuditRepo(db).append(service.actor, f"export.{kind}", "site", "",
                             {"file": str(target), "format": fmt, "records": count})
    return count
