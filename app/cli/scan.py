"""``patchdesk scan`` and ``patchdesk scans list|show``: network discovery and its history."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    count_arg,
    emit,
    opened,
    run_job,
    table,
)
from app.core.errors import FieldError, ValidationError
from app.services.discovery import (
    LargeRangeError,
    PublicScanError,
    ScanRecord,
    check_scan_range,
    local_scan_ranges,
    parse_scan_ports,
)


def scan_json(record: ScanRecord) -> dict[str, Any]:
    hosts = []
    for host in record.hosts:
        item = dict(host)
        item["names"] = list(host["hostnames"])
        if host.get("netbios_name") and host["netbios_name"] not in item["names"]:
            item["names"].append(host["netbios_name"])
        for key in ("mac", "vendor", "netbios_name", "ssh_banner", "http_title", "http_server",
                    "os_guess"):
            item[key] = item.get(key) or None
        hosts.append(item)
    duration = ((record.finished_at - record.started_at).total_seconds()
                if record.finished_at else None)
    return {
        "scan_id": record.id,
        "targets": record.targets,
        "exclude": record.exclude,
        "addresses": record.addresses,
        "ports": list(record.ports),
        "started_at": record.started_at.isoformat(),
        "duration_s": duration,
        "cancelled": record.cancelled,
        "merged": record.merged,
        "summary": record.summary,
        "hosts": hosts,
        "diff": {
            "new": [h["ip"] for h in record.hosts if h["change"] == "new"],
            "changed": [{"ip": h["ip"], "asset_id": h["asset_id"], "changes": h["changes"]}
                        for h in record.hosts if h["change"] == "changed"],
            "gone": record.gone,
        },
    }


def print_scan(record: ScanRecord, out: TextIO) -> None:
    rows = []
    for h in record.hosts:
        names = ", ".join(h["hostnames"] or ([h["netbios_name"]] if h["netbios_name"] else []))
        rows.append([h["ip"], h["mac"], h["vendor"][:24], names,
                     ",".join(str(p) for p in h["open_ports"]), h["device_type"],
                     h["os_guess"], h["change"]])
    table(rows, ["IP", "MAC", "VENDOR", "NAMES", "PORTS", "TYPE", "OS GUESS", "CHANGE"], out)
    s = record.summary
    out.write(f"\n{s.get('live', 0)} live of {record.addresses} addresses: "
              f"{s.get('new', 0)} new, {s.get('changed', 0)} changed, "
              f"{s.get('gone', 0)} not seen this time"
              f"{' (cancelled)' if record.cancelled else ''}\n")
    for h in record.hosts:
        if h["change"] == "changed":
            detail = "; ".join(f"{k} {v[0]} → {v[1]}" for k, v in h["changes"].items())
            out.write(f"  changed  {h['ip']}: {detail}\n")
    for g in record.gone:
        out.write(f"  not seen {g['label']} ({', '.join(g['ips'])})\n")


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    targets = " ".join(args.range)
    if not targets:
        subnets = local_scan_ranges()
        if not subnets:
            raise UsageError("no range given and no local subnet found; give a range "
                             "such as 10.0.0.0/24")
        targets = " ".join(subnets)
        sys.stderr.write(f"scanning the local subnet(s): {targets}\n")
    ports = None
    if args.ports:
        ports = parse_scan_ports(args.ports)
    # Check the range before touching the site: a bad range starts and writes nothing.
    try:
        check_scan_range(targets, args.exclude or "", allow_large=args.yes_large,
                         allow_public=args.public)
    except LargeRangeError as exc:
        raise ValidationError([FieldError("range", f"{exc.errors[0].message}; add "
                                                   "--yes-large to confirm")]) from None
    except PublicScanError as exc:
        raise ValidationError([FieldError("range", f"{exc.errors[0].message}; add "
                                                   "--public to choose that")]) from None
    with opened(args, create=True) as service:
        record = run_job("scan ", lambda bar, cancel: service.discovery.scan_network(
            targets, exclude=args.exclude or "", ports=ports, allow_large=args.yes_large,
            allow_public=args.public,
            merge=not args.no_merge, progress=bar, cancel=cancel))
    emit(args, out, scan_json(record), lambda out: print_scan(record, out))
    return EXIT_FAILED if record.cancelled else EXIT_OK


def cmd_scans_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        records = service.scans(args.limit)
    emit(args, out, [r.to_dict() for r in records],
         Table([[str(r.id), r.started_at.isoformat(), r.targets[:30], str(r.addresses),
                 str(r.summary.get("live", "")), str(r.summary.get("new", "")),
                 str(r.summary.get("changed", "")), str(r.summary.get("gone", "")),
                 "cancelled" if r.cancelled else ""] for r in records],
               ["ID", "STARTED", "TARGETS", "ADDRS", "LIVE", "NEW", "CHANGED", "GONE", ""]))
    return EXIT_OK


def cmd_scans_show(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        record = service.scan_record(args.scan_id)
    emit(args, out, scan_json(record), lambda out: print_scan(record, out))
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    p = sub.add_parser("scan", parents=[common], help="discover devices on the network",
                       description="Sweep IP ranges for live hosts, fingerprint them and "
                                   "merge them into the inventory.")
    p.add_argument("range", nargs="*", metavar="RANGE",
                   help="CIDR, a-b range, IP, host name or list; !ADDR excludes "
                        "(default: the local subnets)")
    p.add_argument("--exclude", metavar="RANGE", help="addresses to leave out")
    p.add_argument("--ports", metavar="PORTS",
                   help="TCP ports or profile names, e.g. 22,80,8000-8010 or windows")
    p.add_argument("--yes-large", action="store_true",
                   help="confirm a scan of more than 65,536 addresses (a /16)")
    p.add_argument("--public", action="store_true",
                   help="the range may include public Internet addresses (only networks "
                        "you are allowed to scan); more than a /12 is never scanned")
    p.add_argument("--no-merge", action="store_true",
                   help="record and report only; do not add or update assets")
    p.set_defaults(func=cmd_scan)
    scans = sub.add_parser("scans", help="scan history and diffs").add_subparsers(
        dest="scans_command", metavar="ACTION", required=True)
    p = scans.add_parser("list", parents=[common], help="recent scans")
    p.add_argument("--limit", type=count_arg(), default=20)
    p.set_defaults(func=cmd_scans_list)
    p = scans.add_parser("show", parents=[common], help="one scan's hosts and diff")
    p.add_argument("scan_id", type=int)
    p.set_defaults(func=cmd_scans_show)
