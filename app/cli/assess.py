"""``patchdesk assess`` and ``patchdesk patches``: deep scans over SSH or WinRM and what they
found."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    emit,
    one_asset,
    opened,
    run_job,
    table,
    unlock,
)
from app.core.thirdparty import SOURCES, patch_source


def cmd_assess(args: argparse.Namespace, out: TextIO) -> int:
    if not args.selectors and not args.all:
        raise UsageError("name the assets to assess (id, host name, IP or MAC) or use --all")
    with opened(args) as service:
        ids: list[int] | None = None
        if args.selectors:
            ids = sorted({int(a.id or 0) for sel in args.selectors
                          for a in service.find_assets(sel)})
        unlock(service, args)
        outcomes = run_job("assess ", lambda bar, cancel: service.assess.assess_assets(
            ids, refresh=not args.no_refresh, concurrency=args.concurrency, progress=bar,
            cancel=cancel))
    def text(out: TextIO) -> None:
        table([[o.label, o.ip, "ok" if o.ok else o.kind, str(o.updates) if o.ok else "",
                str(o.security_updates) if o.ok else "",
                {True: "yes", False: "no", None: "?"}[o.reboot_required] if o.ok else "",
                "" if o.ok else o.message] for o in outcomes],
              ["HOST", "IP", "RESULT", "MISSING", "SECURITY", "REBOOT", "ERROR"], out)
        lookups = [o.lookups for o in outcomes if o.lookups]
        if lookups:
            out.write(f"changelog lookups: {sum(x.cached for x in lookups)} cached, "
                      f"{sum(x.fetched for x in lookups)} fetched, "
                      f"{sum(x.failed for x in lookups)} failed "
                      f"({sum(x.seconds for x in lookups):.1f} s over all hosts)\n")

    emit(args, out, [o.to_dict() for o in outcomes], text)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


def cmd_patches(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        assets = {a.id: a for a in service.assets()}
        asset_id = None
        if args.host:
            asset_id = one_asset(service, args.host).id
        patches = service.patches(asset_id)
        records = service.assessments()
    if args.security:
        patches = [p for p in patches if str(p.classification) == "security"]
    if args.source:  # the package manager: the patch's own source, else its host's driver
        patches = [p for p in patches if patch_source(
            p.source, records[p.asset_id].driver if p.asset_id in records else "")
                   == args.source]
    rows: list[dict[str, Any]] = []
    for p in patches:
        asset = assets.get(p.asset_id)
        record = records.get(p.asset_id)
        host_arch = str((record.facts if record else {}).get("arch") or "")
        rows.append({
            "asset_id": p.asset_id,
            "host": asset.label if asset else "",
            "ip": asset.primary_ip if asset else "",
            "package": p.package,
            "arch": p.arch,
            "name": p.label(host_arch),  # libc6:i386 when not the host's own architecture
            "kb": p.kb or None,
            "installed_version": p.installed_version,
            "candidate_version": p.candidate_version,
            "classification": str(p.classification),
            "severity": str(p.severity),
            "source": p.source,
            "cves": list(p.cves),
            "advisories": list(p.advisories),
            "evidence": list(p.evidence),
            "reboot_required": p.reboot_required,
            "first_seen": p.first_seen.isoformat() if p.first_seen else None,
            # What the host's last assessment could not fully read (see `assess --json`).
            "assessment_warnings": list(record.warnings) if record else [],
        })
        # What only Windows tells per update (update id, size, reboot, uninstallable).
        details = ((record.facts if record else {}).get("details") or {}).get("updates")
        if isinstance(details, dict) and isinstance(details.get(p.package), dict):
            extra = details[p.package]
            rows[-1].update({k: extra.get(k) for k in (
                "title", "update_id", "max_download_size", "reboot_behavior",
                "uninstallable")})
    emit(args, out, rows,
         Table([[str(r[k]) for k in ("host", "ip", "name", "installed_version",
                                     "candidate_version", "classification", "source")]
                for r in rows],
               ["HOST", "IP", "PACKAGE", "INSTALLED", "CANDIDATE", "CLASS", "SOURCE"]))
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    p = sub.add_parser("assess", parents=[common], help="deep-scan hosts over SSH or WinRM",
                       description="Facts, installed software, missing updates and reboot "
                                   "state of each host; per-host errors never stop the run.")
    p.add_argument("selectors", nargs="*", metavar="SELECTOR",
                   help="asset id, host name, IP or MAC")
    p.add_argument("--all", action="store_true", help="every asset with an address")
    p.add_argument("--no-refresh", action="store_true",
                   help="skip the package metadata refresh (apt-get update)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N",
                   help="hosts assessed at the same time (default 8)")
    p.set_defaults(func=cmd_assess)
    p = sub.add_parser("patches", parents=[common], help="missing updates across the site")
    p.add_argument("--host", metavar="SELECTOR", help="only this asset")
    p.add_argument("--security", action="store_true", help="only security updates")
    p.add_argument("--source", choices=SOURCES,
                   help="only updates from this package manager (Apple Software Update, "
                        "Homebrew, winget, Chocolatey, apt, dnf, zypper, Windows Update)")
    p.set_defaults(func=cmd_patches)
