"""``patchdesk import csv`` and ``patchdesk export``: assets in, records out."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    UsageError,
    add_period_options,
    emit,
    framework_choice,
    opened,
    period,
    run_job,
)
from app.services import SiteService


def cmd_import_csv(args: argparse.Namespace, out: TextIO) -> int:
    mapping = None
    if args.map:
        mapping = {}
        for item in args.map:
            header, sep, column = item.partition("=")
            if not sep or not header or not column:
                raise UsageError(f"--map expects HEADER=COLUMN, got '{item}'")
            mapping[header] = column
    with opened(args, create=True) as service:
        report = run_job("import ", lambda bar, cancel: service.inventory.import_csv(
            args.file, mapping, dry_run=args.dry_run, progress=bar, cancel=cancel))
    def text(out: TextIO) -> None:
        verb = "would add" if args.dry_run else "added"
        out.write(f"{verb} {len(report.added)}, updated {len(report.updated)}, "
                  f"unchanged {report.unchanged}, refused {len(report.errors)} row(s)\n")
        for err in report.errors:
            sys.stderr.write(f"  {err}\n")

    emit(args, out, report.to_dict(), text)
    return EXIT_FAILED if report.errors else EXIT_OK


def cmd_import_nmap(args: argparse.Namespace, out: TextIO) -> int:
    from app.cli.scan import print_scan, scan_json

    with opened(args, create=True) as service:
        record = service.discovery.import_nmap(args.file, merge=not args.no_merge)
    emit(args, out, scan_json(record), lambda out: print_scan(record, out))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    kind, fmt = args.what, args.format
    if kind in ("csv", "json"):  # the original form: `export csv|json` is the inventory
        if fmt and fmt != kind:
            raise UsageError(f"'export {kind}' contradicts --format {fmt}")
        kind, fmt = "inventory", kind
    if args.framework and kind != "patches":
        raise UsageError("--framework applies to 'export patches' only")
    if kind in ("psa", "ansible-inventory") and fmt:
        raise UsageError(f"the {kind} export has one format; leave out --format")
    framework = framework_choice(args.framework)
    if len(framework) > 1:
        raise UsageError("--framework takes one framework for the patch export")
    fmt = fmt or "csv"
    options = period(args)

    def write(service: SiteService, target: Path) -> str:
        if kind == "psa":
            return f"{service.reports.export_psa(target)} asset(s)"
        if kind == "ansible-inventory":
            hosts, skipped = service.reports.export_ansible_inventory(target)
            return f"{hosts} host(s) ({skipped} printer/network asset(s) left out)"
        if framework:
            count = service.reports.export_framework_patches(framework[0].id, fmt, target)
            return f"{count} missing update(s) with {framework[0].id} due dates"
        count = service.reports.export(kind, fmt, target, options)
        noun = {"inventory": "asset", "patches": "missing update",
                "deployments": "deployment", "audit": "audit event"}[kind]
        return f"{count} {noun}(s)"

    with opened(args) as service:
        if args.output in (None, "-"):
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "export"
                write(service, target)
                out.write(target.read_text(encoding="utf-8"))
        else:
            what = write(service, Path(args.output))
            sys.stderr.write(f"wrote {what} to {args.output}\n")
        return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    imp = sub.add_parser("import", help="import assets").add_subparsers(
        dest="import_command", metavar="FORMAT", required=True)
    p = imp.add_parser("csv", parents=[common], help="import assets from a CSV file")
    p.add_argument("file", type=Path)
    p.add_argument("--map", action="append", metavar="HEADER=COLUMN",
                   help="map a CSV header to an asset column (repeatable); "
                        "default: guessed from the headers")
    p.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    p.set_defaults(func=cmd_import_csv)
    p = imp.add_parser("nmap", parents=[common],
                       help="import an Nmap XML report (nmap -oX) as a scan",
                       description="Store the report as a scan with its diff against the "
                                   "inventory (new, changed, not seen) and merge its hosts, "
                                   "MACs, vendors, open ports, OS matches and names into the "
                                   "inventory, as 'patchdesk scan' does.")
    p.add_argument("file", type=Path, metavar="FILE.xml")
    p.add_argument("--no-merge", action="store_true",
                   help="record and report only; do not add or update assets")
    p.set_defaults(func=cmd_import_nmap)

    p = sub.add_parser("export", parents=[common],
                       help="export the inventory, missing patches, deployments, audit "
                            "log, a PSA asset list or an Ansible inventory")
    p.add_argument("what", metavar="WHAT",
                   choices=["inventory", "patches", "deployments", "audit", "psa",
                            "ansible-inventory", "csv", "json"],
                   help="inventory, patches, deployments, audit, psa (CSV asset list for a "
                        "PSA/ticketing import) or ansible-inventory (YAML) ('csv' or 'json' "
                        "alone: the inventory in that format)")
    p.add_argument("--framework", metavar="ID",
                   help="patches: add each update's due date and overdue flag under this "
                        "compliance framework's deadlines, e.g. pci-dss")
    p.add_argument("--format", choices=["csv", "json"], help="file format (default: csv)")
    add_period_options(p)
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(func=cmd_export)
