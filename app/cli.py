"""The ``patchdesk`` command line: a thin shell over :mod:`app.services`.

Exit codes: 0 success; 1 the operation failed (site file unusable, asset not found, a host
or file error); 2 the command line was wrong (unknown option, invalid field value) and
nothing was written. Errors go to stderr as one line.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app import __version__
from app.core.errors import (
    FieldError,
    NotFoundError,
    PatchDeskError,
    UserError,
    ValidationError,
)
from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.core.progress import CancelToken, Progress
from app.core.records import record_to_asset
from app.services import (
    LargeRangeError,
    SiteService,
    asset_to_json,
    check_scan_range,
    default_site_path,
)
from app.store.scans import ScanRecord

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

log = logging.getLogger("patchdesk")


class UsageError(PatchDeskError):
    """The command line is wrong; exit code 2."""


# -- output helpers ------------------------------------------------------------------------
def _emit_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


def _table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 40)

    def fmt(cells: list[str]) -> str:
        return "  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out.write(fmt(headers) + "\n")
    for row in rows:
        out.write(fmt(row) + "\n")


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None, label: str = "") -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and progress.done < progress.total:
            return
        self._last = now
        width = 30
        filled = int(progress.fraction * width)
        elapsed = now - self._start
        rate = progress.done / elapsed if elapsed > 0 else 0.0
        eta = (progress.total - progress.done) / rate if rate > 0 else 0.0
        self.stream.write(
            f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.done}/{progress.total} {progress.message[:40]:<40} ETA {eta:4.0f}s"
        )
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# -- asset field options -------------------------------------------------------------------
def _add_asset_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("asset fields")
    g.add_argument("--hostname")
    g.add_argument("--ip", action="append", metavar="IP",
                   help="IP address (repeat or comma-separate for several)")
    g.add_argument("--mac", action="append", metavar="MAC",
                   help="MAC address (repeat or comma-separate for several)")
    g.add_argument("--os", metavar="TEXT",
                   help='operating system in one line, e.g. "Ubuntu 22.04"')
    g.add_argument("--os-family", choices=[str(f) for f in OsFamily])
    g.add_argument("--os-name")
    g.add_argument("--os-version")
    g.add_argument("--os-build", help="build / revision level, e.g. 22631.4460")
    g.add_argument("--kind", choices=[str(k) for k in AssetKind])
    g.add_argument("--location")
    g.add_argument("--manufacturer")
    g.add_argument("--model")
    g.add_argument("--serial")
    g.add_argument("--vendor")
    g.add_argument("--order-number")
    g.add_argument("--purchase-date", metavar="YYYY-MM-DD")
    g.add_argument("--warranty-end", metavar="YYYY-MM-DD")
    g.add_argument("--support-contact")
    g.add_argument("--owner")
    g.add_argument("--tag", action="append", metavar="TAG",
                   help="tag / group (repeat or comma-separate)")
    g.add_argument("--ring", choices=[str(r) for r in Ring if str(r)] + ["none"])
    g.add_argument("--impact", choices=[str(i) for i in Impact],
                   help="business impact if the asset is down")
    g.add_argument("--data", metavar="KINDS",
                   help="sensitive data held: comma list of "
                        + ", ".join(str(d) for d in DataSensitivity) + " (or 'none')")
    for flag in ("critical-operations", "public-facing", "internet-facing"):
        g.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--notes")


_TEXT_OPTIONS = (
    "hostname", "os", "os_family", "os_name", "os_version", "os_build", "kind", "location",
    "manufacturer", "model", "serial", "vendor", "order_number", "purchase_date",
    "warranty_end", "support_contact", "owner", "impact", "notes",
)


def _record_from_args(args: argparse.Namespace) -> dict[str, str]:
    record: dict[str, str] = {}
    for name in _TEXT_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            record[name] = value
    for option, column in (("ip", "ips"), ("mac", "macs"), ("tag", "tags")):
        values = getattr(args, option, None)
        if values is not None:
            record[column] = ";".join(values)
    if args.ring is not None:
        record["ring"] = "" if args.ring == "none" else args.ring
    if args.data is not None:
        record["data_sensitivity"] = "" if args.data.strip().lower() == "none" else args.data
    for name in ("critical_operations", "public_facing", "internet_facing"):
        value = getattr(args, name, None)
        if value is not None:
            record[name] = "yes" if value else "no"
    return record


def _asset_row(a: Asset) -> list[str]:
    return [str(a.id), a.hostname, ", ".join(a.ips), ", ".join(a.macs), a.os_display,
            str(a.kind), a.location, str(a.impact)]


_ASSET_HEADERS = ["ID", "HOSTNAME", "IP", "MAC", "OS", "KIND", "LOCATION", "IMPACT"]


# -- commands ------------------------------------------------------------------------------
@contextmanager
def _site(args: argparse.Namespace, *, create: bool = False) -> Iterator[SiteService]:
    """The site named on the command line, closed when the command is done."""
    service = _open(args, create=create)
    try:
        yield service
    finally:
        service.close()


def _open(args: argparse.Namespace, *, create: bool = False) -> SiteService:
    path = Path(args.site).expanduser() if args.site else default_site_path()
    default = not args.site
    return SiteService.open(path, create=create or default, actor=args.actor,
                            name="Default site" if default else None)


def cmd_site_init(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.site).expanduser() if args.site else default_site_path()
    if path.exists():
        raise UserError(f"{path} already exists; use `site info` or `site set`.")
    service = SiteService.open(path, create=True, name=args.name or path.stem, actor=args.actor)
    try:
        changes = {k: v for k, v in (("client", args.client), ("address", args.address),
                                      ("msp_name", args.msp_name), ("logo_path", args.logo))
                   if v is not None}
        if changes:
            service.update_site(**changes)
        return _print_info(service, args, out)
    finally:
        service.close()


def _print_info(service: SiteService, args: argparse.Namespace, out: TextIO) -> int:
    info = service.info().to_dict()
    if args.json:
        _emit_json(info, out)
    else:
        for key, value in info.items():
            out.write(f"{key:15} {value if value is not None else ''}\n")
    return EXIT_OK


def cmd_site_info(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        return _print_info(service, args, out)


def cmd_site_set(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        changes = {k: v for k, v in (("name", args.name), ("client", args.client),
                                      ("address", args.address), ("msp_name", args.msp_name),
                                      ("logo_path", args.logo)) if v is not None}
        if not changes:
            raise UsageError("nothing to change: give --name, --client, --address, "
                             "--msp-name or --logo")
        service.update_site(**changes)
        return _print_info(service, args, out)


def cmd_asset_add(args: argparse.Namespace, out: TextIO) -> int:
    # Validate before opening (or creating) the site, so a bad value writes nothing.
    asset = record_to_asset(_record_from_args(args))
    with _site(args, create=True) as service:
        stored = service.add_asset(asset)
        if args.json:
            _emit_json(asset_to_json(stored), out)
        else:
            out.write(f"added asset {stored.id} ({stored.label})\n")
        return EXIT_OK


def cmd_asset_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        assets = service.assets()
        if args.filter:
            needle = args.filter.lower()
            assets = [a for a in assets if needle in " ".join(_asset_row(a)).lower()
                      or needle in a.owner.lower() or needle in " ".join(a.tags).lower()]
        if args.json:
            _emit_json([asset_to_json(a) for a in assets], out)
        else:
            _table([_asset_row(a) for a in assets], _ASSET_HEADERS, out)
        return EXIT_OK


def _one(service: SiteService, selector: str) -> Asset:
    found = service.find_assets(selector)
    if len(found) > 1:
        ids = ", ".join(f"#{a.id}" for a in found)
        raise UserError(f"'{selector}' matches several assets ({ids}); use an id.")
    return found[0]


def cmd_asset_show(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        asset = _one(service, args.selector)
        data = asset_to_json(asset)
        if args.json:
            _emit_json(data, out)
        else:
            for key, value in data.items():
                if isinstance(value, list):
                    value = ", ".join(value)
                out.write(f"{key:20} {'' if value is None else value}\n")
        return EXIT_OK


def cmd_asset_edit(args: argparse.Namespace, out: TextIO) -> int:
    record = _record_from_args(args)
    if not record:
        raise UsageError("nothing to change: give at least one field option")
    with _site(args) as service:
        asset = _one(service, args.selector)
        stored = service.update_asset(record_to_asset(record, base=asset))
        if args.json:
            _emit_json(asset_to_json(stored), out)
        else:
            out.write(f"updated asset {stored.id} ({stored.label})\n")
        return EXIT_OK


def cmd_asset_rm(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        targets: dict[int, Asset] = {}
        for selector in args.selectors:
            for asset in service.find_assets(selector):
                targets[int(asset.id or 0)] = asset
        labels = ", ".join(a.label for a in targets.values())
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"refusing to delete {len(targets)} asset(s) without --yes "
                                 "(no terminal to confirm on)")
            sys.stderr.write(f"Delete {len(targets)} asset(s): {labels}? [y/N] ")
            sys.stderr.flush()
            if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                sys.stderr.write("nothing deleted\n")
                return EXIT_FAILED
        deleted = service.delete_assets(list(targets))
        if args.json:
            _emit_json({"deleted": [asset_to_json(a) for a in deleted]}, out)
        else:
            out.write(f"deleted {len(deleted)} asset(s): {labels}\n")
        return EXIT_OK


def cmd_import_csv(args: argparse.Namespace, out: TextIO) -> int:
    mapping = None
    if args.map:
        mapping = {}
        for item in args.map:
            header, sep, column = item.partition("=")
            if not sep or not header or not column:
                raise UsageError(f"--map expects HEADER=COLUMN, got '{item}'")
            mapping[header] = column
    service = _open(args, create=True)
    bar = ProgressBar(label="import ")
    try:
        report = service.import_csv(args.file, mapping, dry_run=args.dry_run, progress=bar)
    finally:
        bar.finish()
        service.close()
    if args.json:
        _emit_json(report.to_dict(), out)
    else:
        verb = "would add" if args.dry_run else "added"
        out.write(f"{verb} {len(report.added)}, updated {len(report.updated)}, "
                  f"unchanged {report.unchanged}, refused {len(report.errors)} row(s)\n")
        for err in report.errors:
            sys.stderr.write(f"  {err}\n")
    return EXIT_FAILED if report.errors else EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from app.reports.exports import export

    kind, fmt = args.what, args.format
    if kind in ("csv", "json"):  # the original form: `export csv|json` is the inventory
        if fmt and fmt != kind:
            raise UsageError(f"'export {kind}' contradicts --format {fmt}")
        kind, fmt = "inventory", kind
    fmt = fmt or "csv"
    options = _period(args)
    with _site(args) as service:
        if args.output in (None, "-"):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / f"export.{fmt}"
                export(service, kind, fmt, target, options)
                out.write(target.read_text(encoding="utf-8"))
        else:
            count = export(service, kind, fmt, Path(args.output), options)
            noun = {"inventory": "asset", "patches": "missing update",
                    "deployments": "deployment", "audit": "audit event"}[kind]
            sys.stderr.write(f"wrote {count} {noun}(s) to {args.output}\n")
        return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        problems = service.audit_verify()
        count = service.info().audit_events
    if args.json:
        _emit_json({"ok": not problems, "events": count,
                    "problems": [{"row": p.row_id, "problem": p.problem} for p in problems]},
                   out)
    elif problems:
        for problem in problems:
            out.write(f"TAMPERED {problem}\n")
    else:
        out.write(f"audit log intact: {count} events, chain verified\n")
    return EXIT_FAILED if problems else EXIT_OK


def cmd_audit_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        events = service.audit_events(limit=args.limit)
    if args.json:
        _emit_json([{"id": e.id, "ts": e.ts.isoformat(), "actor": e.actor, "action": e.action,
                     "object_type": e.object_type, "object_id": e.object_id,
                     "details": e.details, "outcome": str(e.outcome)} for e in events], out)
    else:
        _table([[str(e.id), e.ts.isoformat(), e.actor, e.action,
                 f"{e.object_type}:{e.object_id}".strip(":"), str(e.outcome)] for e in events],
               ["ID", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME"], out)
    return EXIT_OK


def _scan_json(record: ScanRecord) -> dict[str, Any]:
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


def _print_scan(record: ScanRecord, out: TextIO) -> None:
    rows = []
    for h in record.hosts:
        names = ", ".join(h["hostnames"] or ([h["netbios_name"]] if h["netbios_name"] else []))
        rows.append([h["ip"], h["mac"], h["vendor"][:24], names,
                     ",".join(str(p) for p in h["open_ports"]), h["device_type"],
                     h["os_guess"], h["change"]])
    _table(rows, ["IP", "MAC", "VENDOR", "NAMES", "PORTS", "TYPE", "OS GUESS", "CHANGE"], out)
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
    from app.discovery import PortError, local_subnets, parse_ports

    targets = " ".join(args.range)
    if not targets:
        subnets = local_subnets()
        if not subnets:
            raise UsageError("no range given and no local subnet found; give a range "
                             "such as 10.0.0.0/24")
        targets = " ".join(subnets)
        sys.stderr.write(f"scanning the local subnet(s): {targets}\n")
    ports = None
    if args.ports:
        try:
            ports = parse_ports(args.ports)
        except PortError as exc:
            raise ValidationError([FieldError("ports", str(exc))]) from None
    # Check the range before touching the site: a bad range starts and writes nothing.
    try:
        check_scan_range(targets, args.exclude or "", allow_large=args.yes_large)
    except LargeRangeError as exc:
        raise ValidationError([FieldError("range", f"{exc.errors[0].message}; add "
                                                   "--yes-large to confirm")]) from None
    service = _open(args, create=True)
    bar = ProgressBar(label="scan ")
    cancel = CancelToken()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["record"] = service.scan_network(
                targets, exclude=args.exclude or "", ports=ports, allow_large=args.yes_large,
                merge=not args.no_merge, progress=bar, cancel=cancel)
        except BaseException as exc:  # handed to the main thread below
            box["error"] = exc

    thread = threading.Thread(target=work, name="scan", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                sys.stderr.write("\ncancelling...\n")
                cancel.cancel()
    finally:
        thread.join()
        bar.finish()
        service.close()
    if "error" in box:
        raise box["error"]
    record: ScanRecord = box["record"]
    if args.json:
        _emit_json(_scan_json(record), out)
    else:
        _print_scan(record, out)
    return EXIT_FAILED if record.cancelled else EXIT_OK


def cmd_scans_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        records = service.scans(args.limit)
    if args.json:
        _emit_json([r.to_dict() for r in records], out)
    else:
        _table([[str(r.id), r.started_at.isoformat(), r.targets[:30], str(r.addresses),
                 str(r.summary.get("live", "")), str(r.summary.get("new", "")),
                 str(r.summary.get("changed", "")), str(r.summary.get("gone", "")),
                 "cancelled" if r.cancelled else ""] for r in records],
               ["ID", "STARTED", "TARGETS", "ADDRS", "LIVE", "NEW", "CHANGED", "GONE", ""],
               out)
    return EXIT_OK


def cmd_scans_show(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        record = service.scan_record(args.scan_id)
    if args.json:
        _emit_json(_scan_json(record), out)
    else:
        _print_scan(record, out)
    return EXIT_OK


# -- credentials -------------------------------------------------------------------------
def _master_password(args: argparse.Namespace) -> str:
    """The vault's master password: a file, $PATCHDESK_MASTER_PASSWORD, or a prompt."""
    if args.master_password_file:
        try:
            return Path(args.master_password_file).expanduser().read_text(
                encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"Cannot read the master password file: {exc.strerror}") from None
    env = os.environ.get("PATCHDESK_MASTER_PASSWORD")
    if env:
        return env
    if sys.stdin.isatty() or _tty_available():
        return getpass.getpass("PatchDesk master password: ")
    raise UsageError("the vault is locked: set PATCHDESK_MASTER_PASSWORD, use "
                     "--master-password-file, or run on a terminal")


def _tty_available() -> bool:
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _unlock(service: SiteService, args: argparse.Namespace, *, create: bool = False) -> None:
    if not service.remote.unlocked:
        service.remote.unlock(_master_password(args), create=create)


_stdin_lines: list[str] | None = None


def _secret(flag_stdin: bool, file: str | None, what: str) -> str | None:
    """A secret from a file or the next line of stdin; never from the command line."""
    global _stdin_lines
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"Cannot read the {what} file: {exc.strerror}") from None
    if flag_stdin:
        if _stdin_lines is None:
            _stdin_lines = sys.stdin.read().splitlines()
        if not _stdin_lines:
            raise UsageError(f"expected the {what} on standard input")
        return _stdin_lines.pop(0)
    return None


def cmd_cred_add(args: argparse.Namespace, out: TextIO) -> int:
    from app.core.credentials import Scope, SudoMode

    try:
        scopes = tuple(Scope.parse(s) for s in (args.scope or ["all"]))
    except ValueError as exc:
        raise ValidationError([FieldError("scope", str(exc))]) from None
    password = _secret(args.password_stdin, args.password_file, "password")
    if args.ask_password:
        password = getpass.getpass(f"SSH password for {args.ssh_user}: ")
    sudo_password = _secret(args.sudo_password_stdin, args.sudo_password_file, "sudo password")
    with _site(args, create=True) as service:
        _unlock(service, args, create=True)
        cred = service.remote.add_ssh_credential(
            args.name, args.ssh_user, password=password, key_file=args.ssh_key,
            sudo_mode=SudoMode(args.sudo), sudo_password=sudo_password,
            port=args.port, scopes=scopes)
    if args.json:
        _emit_json(_cred_json(cred), out)
    else:
        out.write(f"added credential '{cred.name}' for {cred.username} "
                  f"({', '.join(str(s) for s in cred.scopes)})\n")
    return EXIT_OK


def _cred_json(cred: Any) -> dict[str, Any]:
    return {"name": cred.name, "kind": str(cred.kind), "username": cred.username,
            "port": cred.port, "key_path": cred.key_path, "sudo_mode": str(cred.sudo_mode),
            "scopes": [str(s) for s in cred.scopes], "has_password": cred.has_password,
            "has_key": cred.has_key, "has_sudo_password": cred.has_sudo_password}


def cmd_cred_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        creds = service.remote.credentials()
    if args.json:
        _emit_json([_cred_json(c) for c in creds], out)
    else:
        _table([[c.name, str(c.kind), c.username, str(c.sudo_mode),
                 ", ".join(str(s) for s in c.scopes),
                 "+".join(k for k, v in (("password", c.has_password), ("key", c.has_key))
                          if v)] for c in creds],
               ["NAME", "KIND", "USER", "SUDO", "SCOPE", "SECRETS"], out)
    return EXIT_OK


def cmd_cred_rm(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        service.remote.delete_credential(args.name)
    out.write(f"deleted credential '{args.name}'\n")
    return EXIT_OK


def cmd_cred_test(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        _unlock(service, args)
        asset = _one(service, args.selector)
        result = service.remote.test_credential(args.name, asset)
    if args.json:
        _emit_json(result, out)
    else:
        out.write(f"{result['asset']}: login as {result['user']} ok; sudo "
                  f"{'ok' if result['sudo'] else 'REFUSED'}\n")
    return EXIT_OK if result["sudo"] else EXIT_FAILED


def cmd_hostkey_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        keys = service.remote.host_keys.all()
    if args.json:
        _emit_json(keys, out)
    else:
        _table([[str(k["host"]), str(k["port"]), str(k["key_type"]), str(k["fingerprint"]),
                 str(k["accepted_by"])] for k in keys],
               ["HOST", "PORT", "TYPE", "FINGERPRINT", "ACCEPTED BY"], out)
    return EXIT_OK


def cmd_hostkey_accept(args: argparse.Namespace, out: TextIO) -> int:
    from app.remote.ssh import fetch_host_key

    with _site(args) as service:
        key = fetch_host_key(args.host, args.port)
        if key.fingerprint != args.fingerprint:
            raise UserError(f"{args.host} now presents {key.fingerprint}, not "
                            f"{args.fingerprint}; nothing was accepted")
        service.remote.accept_host_key(args.host, args.port, key.key_type, key.key_b64)
    out.write(f"accepted {key.fingerprint} for {args.host}:{args.port}\n")
    return EXIT_OK


# -- assessment --------------------------------------------------------------------------
def cmd_assess(args: argparse.Namespace, out: TextIO) -> int:
    if not args.selectors and not args.all:
        raise UsageError("name the assets to assess (id, host name, IP or MAC) or use --all")
    service = _open(args)
    bar = ProgressBar(label="assess ")
    try:
        ids: list[int] | None = None
        if args.selectors:
            ids = sorted({int(a.id or 0) for sel in args.selectors
                          for a in service.find_assets(sel)})
        _unlock(service, args)
        cancel = CancelToken()
        try:
            outcomes = service.assess_assets(ids, refresh=not args.no_refresh,
                                             concurrency=args.concurrency, progress=bar,
                                             cancel=cancel)
        except KeyboardInterrupt:
            cancel.cancel()
            raise
    finally:
        bar.finish()
        service.close()
    if args.json:
        _emit_json([o.to_dict() for o in outcomes], out)
    else:
        _table([[o.label, o.ip, "ok" if o.ok else o.kind, str(o.updates) if o.ok else "",
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
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


def cmd_patches(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        assets = {a.id: a for a in service.assets()}
        asset_id = None
        if args.host:
            asset_id = _one(service, args.host).id
        patches = service.patches(asset_id)
        records = service.assessments()
    if args.security:
        patches = [p for p in patches if str(p.classification) == "security"]
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
    if args.json:
        _emit_json(rows, out)
    else:
        _table([[str(r[k]) for k in ("host", "ip", "name", "installed_version",
                                     "candidate_version", "classification", "source")]
                for r in rows],
               ["HOST", "IP", "PACKAGE", "INSTALLED", "CANDIDATE", "CLASS", "SOURCE"], out)
    return EXIT_OK


# -- deployment --------------------------------------------------------------------------
def _gates(args: argparse.Namespace) -> Any:
    from app.core.deployment import Gates, RebootPolicy

    base = Gates()
    return Gates(
        test_success=base.test_success,
        pilot_success=args.pilot_success if args.pilot_success is not None
        else base.pilot_success,
        max_failures=args.max_failures,
        max_failure_rate=args.max_failure_rate if args.max_failure_rate is not None
        else base.max_failure_rate,
        wave_size=args.wave_size or base.wave_size,
        concurrency=args.concurrency or base.concurrency,
        reboot=RebootPolicy(args.reboot),
        backup_days=args.backup_days,
    )


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _dep_json(service: SiteService, dep: Any, with_log: bool = False) -> dict[str, Any]:
    return service.deployment_json(dep.id, with_log=with_log)


def _print_dep(dep: Any, out: TextIO) -> None:
    pins = ", ".join(str(p) for p in dep.packages)
    out.write(f"deployment {dep.id}: {dep.phase}  ({pins})\n")
    if dep.halt_reason and str(dep.phase) == "halted":
        out.write(f"  halted: {dep.halt_reason}\n")
    if dep.approval:
        out.write(f"  approved by {dep.approval.approver} at "
                  f"{dep.approval.at.isoformat()}\n")
    _table([[t.label, t.address, str(t.stage), str(t.wave + 1), str(t.state),
             t.verified, ("; ".join(t.preflight) + (f" [override: {t.override}]"
                                                     if t.override else "")) or t.detail]
            for t in dep.targets],
           ["HOST", "ADDRESS", "RING", "WAVE", "STATE", "VERIFIED", "DETAIL"], out)


def cmd_deploy_plan(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        dep = service.plan_deployment(
            _split(args.patch), _split(args.targets) or None,
            test_ring=_split(args.test_ring), pilot=_split(args.pilot), gates=_gates(args))
        if args.json:
            _emit_json(_dep_json(service, dep), out)
        else:
            _print_dep(dep, out)
        return EXIT_OK


def cmd_deploy_run(args: argparse.Namespace, out: TextIO) -> int:
    service = _open(args)
    bar = ProgressBar(label="deploy ")
    cancel = CancelToken()
    try:
        _unlock(service, args)
        if args.patch:
            dep = service.plan_deployment(
                _split(args.patch), _split(args.targets) or None,
                test_ring=_split(args.test_ring), pilot=_split(args.pilot),
                gates=_gates(args))
            if not args.yes:
                if not sys.stdin.isatty():
                    raise UsageError("refusing to deploy without --yes (no terminal to "
                                     "confirm on)")
                _print_dep(dep, sys.stderr)
                sys.stderr.write("Start this deployment? [y/N] ")
                if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                    sys.stderr.write("not started (the plan is kept)\n")
                    return EXIT_FAILED
            dep_id = dep.id
        else:
            dep_id = args.id if args.id is not None else service.deployment().id
        engine = service.deployer
        if not args.json:
            engine.on_event = _print_event
        try:
            dep = engine.run(dep_id, approve_as=args.approve_as or "", progress=bar,
                             cancel=cancel)
        except KeyboardInterrupt:
            cancel.cancel()
            raise
    finally:
        bar.finish()
        service.close()
    if args.json:
        service = _open(args)
        try:
            _emit_json(_dep_json(service, dep, with_log=True), out)
        finally:
            service.close()
    else:
        _print_dep(dep, out)
        if str(dep.phase) == "awaiting_approval":
            out.write(f"the test ring passed; approve with: patchdesk deploy approve {dep.id} "
                      "--as NAME, then deploy resume\n")
    return EXIT_OK if str(dep.phase) in ("done", "awaiting_approval") else EXIT_FAILED


def cmd_deploy_status(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        dep = service.deployment(args.id)
        if args.json:
            _emit_json(_dep_json(service, dep, with_log=True), out)
        else:
            _print_dep(dep, out)
            if args.log:
                for line in service.deployment_log(dep.id):
                    out.write(f"{line['ts']}  {line['message']}\n")
    return EXIT_OK


def cmd_deploy_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        deps = service.deployments()
        data = [service.deployment_json(d.id, with_log=False) for d in deps] \
            if args.json else []
    if args.json:
        _emit_json(data, out)
    else:
        _table([[str(d.id), d.created_at.isoformat() if d.created_at else "", str(d.phase),
                 ", ".join(str(p) for p in d.packages), str(len(d.targets))] for d in deps],
               ["ID", "CREATED", "PHASE", "PACKAGES", "HOSTS"], out)
    return EXIT_OK


def cmd_deploy_approve(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        dep = service.deployer.approve(args.id, args.approver, args.note or "")
        _print_dep(dep, out)
    return EXIT_OK


def cmd_deploy_override(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        asset = _one(service, args.host)
        dep = service.deployer.override(args.id, int(asset.id or 0), args.reason)
        _print_dep(dep, out)
    return EXIT_OK


def cmd_deploy_rollback(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        _unlock(service, args)
        dep_id = service.deployment(None if args.last or args.id is None else args.id).id
        ids = [int(_one(service, sel).id or 0) for sel in _split(args.host)] or None
        engine = service.deployer
        if not args.json:
            engine.on_event = _print_event
        dep = engine.rollback(dep_id, ids)
        if args.json:
            _emit_json(_dep_json(service, dep, with_log=True), out)
        else:
            _print_dep(dep, out)
    return EXIT_OK if str(dep.phase) != "halted" else EXIT_FAILED


def cmd_deploy_cancel_reboot(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        _unlock(service, args)
        asset = _one(service, args.host)
        dep = service.deployer.cancel_reboot(args.id, int(asset.id or 0))
        _print_dep(dep, out)
    return EXIT_OK


def _now() -> datetime:
    """The current time in UTC, second precision (as the site records it)."""
    return datetime.now(UTC).replace(microsecond=0)


def _print_event(_dep_id: int, _asset_id: int | None, message: str) -> None:
    sys.stderr.write(f"  {message}\n")
    sys.stderr.flush()


def _add_plan_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--patch", action="append", required=required, metavar="PKG[=VERSION]",
                   help="package to deploy (repeatable); without a version, the candidate "
                        "the last assessment found")
    p.add_argument("--targets", action="append", metavar="SELECTORS",
                   help="hosts (comma list of ids, names, IPs) or 'all' (default: every "
                        "host missing the patch)")
    p.add_argument("--test-ring", action="append", metavar="SELECTORS")
    p.add_argument("--pilot", action="append", metavar="SELECTORS")
    p.add_argument("--wave-size", type=int, metavar="N", help="production hosts per wave")
    p.add_argument("--concurrency", type=int, metavar="N", help="hosts at a time in a wave")
    p.add_argument("--reboot", choices=["never", "if-needed", "always"], default="if-needed")
    p.add_argument("--max-failures", type=int, metavar="N",
                   help="halt production after N failed hosts")
    p.add_argument("--max-failure-rate", type=float, metavar="F",
                   help="halt production above this share of failed hosts (default 0.2)")
    p.add_argument("--pilot-success", type=float, metavar="F",
                   help="share of the pilot that must succeed (default 0.9)")
    p.add_argument("--backup-days", type=int, metavar="N",
                   help="servers need a verified backup within N days")


def _date_arg(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _add_period_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="period_from", type=_date_arg, metavar="DATE",
                   help="period start, YYYY-MM-DD (deployments, audit events, trend)")
    p.add_argument("--to", dest="period_to", type=_date_arg, metavar="DATE",
                   help="period end, YYYY-MM-DD (inclusive)")


def _period(args: argparse.Namespace, sections: str | None = None) -> Any:
    from app.reports.data import ReportOptions, parse_sections

    try:
        return ReportOptions(parse_sections(sections), args.period_from, args.period_to)
    except UserError as exc:
        raise UsageError(str(exc)) from None


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from app.reports.report import generate_report

    options = _period(args, args.sections)
    service = _open(args)
    bar = ProgressBar(label="report ")
    try:
        result = generate_report(service, Path(args.output), options, progress=bar)
    finally:
        bar.finish()
        service.close()
    if args.json:
        _emit_json(result.to_dict(), out)
    else:
        pct = result.figures.get("compliance_pct")
        out.write(f"wrote {result.pages} page(s) to {result.path} in {result.seconds:.1f} s "
                  f"(compliance {'—' if pct is None else f'{pct}%'}, "
                  f"{result.figures['missing_total']} missing update(s))\n")
    return EXIT_OK


# -- risk and policy -----------------------------------------------------------------------
def _review_date(text: str | None, flag: str) -> Any:
    from app.core.validate import parse_date

    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise ValidationError([FieldError(flag, str(exc))]) from None


def cmd_kev_import(args: argparse.Namespace, out: TextIO) -> int:
    if bool(args.source) == bool(args.sample):
        raise UsageError("give a file or URL of the KEV catalogue, or --sample")
    with _site(args) as service:
        result = service.kev_import(args.source, sample=args.sample, timeout=args.timeout)
    if args.json:
        _emit_json(result.to_dict(), out)
    else:
        out.write(f"imported KEV catalogue {result.catalog_version or '(no version)'}: "
                  f"{result.entries} entries ({result.added} new, {result.removed} gone) "
                  f"from {result.source}\n")
    return EXIT_OK


def cmd_kev_status(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        last = service.kev_status()
        items = service.risk_items() if last else []
    listed = sorted({e.cve_id for i in items for e in i.kev})
    if args.json:
        _emit_json({"imported": last.to_dict() if last else None,
                    "matched_cves": listed,
                    "matched_updates": sum(1 for i in items if i.kev)}, out)
    elif last is None:
        out.write("no KEV catalogue imported: nothing is flagged as known exploited. Import "
                  "one with `patchdesk kev import FILE|URL` (or --sample)\n")
    else:
        out.write(f"KEV catalogue {last.catalog_version} ({last.entries} entries), imported "
                  f"{last.imported_at:%Y-%m-%d %H:%M} UTC by {last.actor} from {last.source}\n"
                  f"known exploited CVEs among missing updates: "
                  f"{', '.join(listed) or 'none'}\n")
    return EXIT_OK


def cmd_policy_show(args: argparse.Namespace, out: TextIO) -> int:
    from app.core.policy import format_policy

    with _site(args) as service:
        version = service.policy(args.version)
    if args.json:
        _emit_json(version.to_dict(), out)
    else:
        out.write(format_policy(version))
    return EXIT_OK


def cmd_policy_set(args: argparse.Namespace, out: TextIO) -> int:
    from app.core.policy import Policy, setting_keys

    pairs = list(args.settings or [])
    if len(pairs) % 2:
        raise UsageError(f"'{pairs[-1]}' has no value: give KEY VALUE pairs (keys: "
                         f"{', '.join(setting_keys())})")
    if not pairs and not args.file:
        raise UsageError("nothing to change: give KEY VALUE pairs or --file policy.json")
    policy = None
    if args.file:
        try:
            data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"There is no file {args.file}.") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"Cannot read {args.file} as JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("policy"), dict):
            data = data["policy"]  # the output of `policy show --json`
        policy = Policy.from_dict(data)
    with _site(args) as service:
        if policy is not None:
            from app.core.policy import set_value

            for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                policy = set_value(policy, key, value)
            saved = service.save_policy(policy, args.note or "")
        else:
            saved = service.set_policy_values(list(zip(pairs[::2], pairs[1::2], strict=True)),
                                              args.note or "")
    if args.json:
        _emit_json(saved.to_dict(), out)
    else:
        out.write(f"saved patch policy version {saved.version} ({saved.author})\n")
    return EXIT_OK


def cmd_policy_history(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        versions = service.policy_history()
    if args.json:
        _emit_json([v.to_dict() for v in versions], out)
    else:
        _table([[str(v.version), v.created_at.isoformat() if v.created_at else "", v.author,
                 v.note] for v in versions], ["VERSION", "SAVED", "AUTHOR", "NOTE"], out)
    return EXIT_OK


def cmd_risk(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        items = service.risk_items()
        if args.host:
            wanted = {a.id for a in service.find_assets(args.host)}
            items = [i for i in items if i.asset_id in wanted]
        kev_known = service.kev_status() is not None
    if args.overdue:
        items = [i for i in items if i.overdue]
    if args.priority:
        items = [i for i in items if str(i.priority) == args.priority]
    if args.top:
        items = items[: args.top]
    if args.json:
        _emit_json([i.to_dict() for i in items], out)
        return EXIT_OK
    if not kev_known:
        sys.stderr.write("note: no KEV catalogue imported; nothing is flagged as known "
                         "exploited (patchdesk kev import FILE|URL)\n")
    _table([[str(i.risk.score), str(i.priority), i.host, i.ip, i.kb or i.package,
             f"{i.due:%Y-%m-%d}", "OVERDUE" if i.overdue else "", "KEV" if i.kev else "",
             str(i.state) if i.review else ""] for i in items],
           ["SCORE", "PRIORITY", "HOST", "IP", "UPDATE", "DUE", "OVERDUE", "KEV", "REVIEW"],
           out)
    if args.why:
        for i in items:
            out.write(f"\n{i.host} {i.kb or i.package}: {i.risk.why}\n")
    return EXIT_OK


def cmd_compliance(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        figure = service.compliance()
    if args.json:
        _emit_json(figure.to_dict(), out)
    else:
        out.write(f"SLA compliance {figure.percent:.1f}%: {figure.on_time} of {figure.pairs} "
                  f"missing security update(s) within their due date ({figure.overdue} "
                  f"overdue, {figure.excepted} under an exception); {figure.assets_compliant} "
                  f"of {figure.assets} asset(s) with nothing overdue\n")
    return EXIT_OK


def _review_row(r: Any, now: Any) -> list[str]:
    state = ""
    if str(r.decision) == "exception":
        state = "EXPIRED" if r.expired(now) else "active"
    return [str(r.id), str(r.decision), r.package,
            r.cve or "", r.host or "all hosts", r.decided_by,
            r.until.isoformat() if r.until else (r.planned.isoformat() if r.planned else ""),
            state, r.reason]


_REVIEW_HEADERS = ["ID", "DECISION", "UPDATE", "CVE", "HOST", "BY", "UNTIL/DATE", "STATE",
                   "REASON"]


def _add_review(args: argparse.Namespace, out: TextIO, decision: str) -> int:
    from app.core.risk import Decision

    until = _review_date(args.until, "until")
    planned = _review_date(getattr(args, "date", None), "date")
    with _site(args) as service:
        review = service.add_review(
            Decision(decision.replace("-", "_")), reason=args.reason, by=args.by,
            package=args.patch or "", cve=args.cve or "", host=args.host, until=until,
            planned=planned)
    if args.json:
        _emit_json(review.to_dict(), out)
    else:
        what = review.package or review.cve
        out.write(f"recorded {review.decision} #{review.id} for {what} on "
                  f"{review.host or 'all hosts'} by {review.decided_by}"
                  + (f", until {review.until}" if review.until else "") + "\n")
    return EXIT_OK


def cmd_review_add(args: argparse.Namespace, out: TextIO) -> int:
    return _add_review(args, out, args.decision)


def cmd_exception_add(args: argparse.Namespace, out: TextIO) -> int:
    return _add_review(args, out, "exception")


def cmd_review_list(args: argparse.Namespace, out: TextIO) -> int:
    from app.core.risk import Decision
    with _site(args) as service:
        reviews = service.reviews(Decision(args.decision.replace("-", "_"))
                                  if args.decision else None)
    now = _now()
    if args.json:
        _emit_json([r.to_dict(now) for r in reviews], out)
    else:
        _table([_review_row(r, now) for r in reviews], _REVIEW_HEADERS, out)
    return EXIT_OK


def cmd_exception_list(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        reviews = service.exceptions()
    now = _now()
    if args.active:
        reviews = [r for r in reviews if not r.expired(now)]
    if args.json:
        _emit_json([r.to_dict(now) for r in reviews], out)
    else:
        _table([_review_row(r, now) for r in reviews], _REVIEW_HEADERS, out)
    return EXIT_OK


def cmd_exception_expire(args: argparse.Namespace, out: TextIO) -> int:
    with _site(args) as service:
        review = service.end_exception(args.id, args.by)
    if args.json:
        _emit_json(review.to_dict(review.ended_at), out)
    else:
        out.write(f"exception #{review.id} ended; {review.package or review.cve} on "
                  f"{review.host or 'all hosts'} is due again (overdue)\n")
    return EXIT_OK


def _add_review_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patch", metavar="PKG", help="the update: package name or KB")
    p.add_argument("--cve", metavar="CVE", help="or every update carrying this CVE (KEV item)")
    p.add_argument("--host", metavar="SELECTOR", help="one asset (default: every host)")
    p.add_argument("--reason", required=True, help="the justification (and workaround)")
    p.add_argument("--by", required=True, metavar="NAME", help="the person who decided")


def cmd_gui(args: argparse.Namespace, out: TextIO) -> int:
    from app.ui.main import main as gui_main

    argv = [sys.argv[0]]
    if args.site:
        argv += ["--site", args.site]
    return int(gui_main(argv))


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs test)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable JSON output")

    parser = argparse.ArgumentParser(
        prog="patchdesk",
        description="Agentless patch management: inventory, discovery, assessment, "
                    "deployment and audit reports.",
        epilog="Exit codes: 0 success, 1 operation failed, 2 bad command line "
               "(nothing written).",
    )
    parser.add_argument("--version", action="version", version=f"PatchDesk {__version__}")
    parser.add_argument("--site", metavar="PATH",
                        help=f"site file (default: {default_site_path()}, or $PATCHDESK_SITE)")
    parser.add_argument("--actor", metavar="NAME",
                        help="name recorded in the audit log (default: your user name)")
    parser.add_argument("--json", action="store_true", default=False,
                        help="machine-readable JSON output")
    parser.add_argument("--master-password-file", metavar="FILE",
                        help="unlock the credential vault with this file's first line "
                             "(or set $PATCHDESK_MASTER_PASSWORD)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("gui", help="start the desktop application")
    p.set_defaults(func=cmd_gui)

    site = sub.add_parser("site", help="create and describe sites").add_subparsers(
        dest="site_command", metavar="ACTION", required=True)
    for name, func, helptext in (("init", cmd_site_init, "create a new site file"),
                                 ("set", cmd_site_set, "change the site's name or branding")):
        p = site.add_parser(name, parents=[common], help=helptext)
        p.add_argument("--name")
        p.add_argument("--client", help="client (company) name for reports")
        p.add_argument("--address")
        p.add_argument("--msp-name", help="your company's name for reports")
        p.add_argument("--logo", metavar="FILE", help="logo image for reports")
        p.set_defaults(func=func)
    p = site.add_parser("info", parents=[common], help="show the site's summary")
    p.set_defaults(func=cmd_site_info)

    asset = sub.add_parser("asset", help="manage the inventory").add_subparsers(
        dest="asset_command", metavar="ACTION", required=True)
    p = asset.add_parser("add", parents=[common], help="add an asset")
    _add_asset_options(p)
    p.set_defaults(func=cmd_asset_add)
    p = asset.add_parser("list", parents=[common], help="list assets")
    p.add_argument("--filter", metavar="TEXT", help="only assets whose row contains TEXT")
    p.set_defaults(func=cmd_asset_list)
    p = asset.add_parser("show", parents=[common], help="show one asset")
    p.add_argument("selector", help="id, host name, IP or MAC")
    p.set_defaults(func=cmd_asset_show)
    p = asset.add_parser("edit", parents=[common], help="change fields of an asset")
    p.add_argument("selector", help="id, host name, IP or MAC")
    _add_asset_options(p)
    p.set_defaults(func=cmd_asset_edit)
    p = asset.add_parser("rm", parents=[common], help="delete assets")
    p.add_argument("selectors", nargs="+", metavar="SELECTOR", help="id, host name, IP or MAC")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_asset_rm)

    imp = sub.add_parser("import", help="import assets").add_subparsers(
        dest="import_command", metavar="FORMAT", required=True)
    p = imp.add_parser("csv", parents=[common], help="import assets from a CSV file")
    p.add_argument("file", type=Path)
    p.add_argument("--map", action="append", metavar="HEADER=COLUMN",
                   help="map a CSV header to an asset column (repeatable); "
                        "default: guessed from the headers")
    p.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    p.set_defaults(func=cmd_import_csv)

    p = sub.add_parser("export", parents=[common],
                       help="export the inventory, missing patches, deployments or audit log")
    p.add_argument("what", metavar="WHAT",
                   choices=["inventory", "patches", "deployments", "audit", "csv", "json"],
                   help="inventory, patches, deployments or audit ('csv' or 'json' alone: "
                        "the inventory in that format)")
    p.add_argument("--format", choices=["csv", "json"], help="file format (default: csv)")
    _add_period_options(p)
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(func=cmd_export)

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
    p.add_argument("--no-merge", action="store_true",
                   help="record and report only; do not add or update assets")
    p.set_defaults(func=cmd_scan)
    scans = sub.add_parser("scans", help="scan history and diffs").add_subparsers(
        dest="scans_command", metavar="ACTION", required=True)
    p = scans.add_parser("list", parents=[common], help="recent scans")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_scans_list)
    p = scans.add_parser("show", parents=[common], help="one scan's hosts and diff")
    p.add_argument("scan_id", type=int)
    p.set_defaults(func=cmd_scans_show)

    cred = sub.add_parser("cred", help="credentials in the encrypted vault").add_subparsers(
        dest="cred_command", metavar="ACTION", required=True)
    p = cred.add_parser("add", parents=[common], help="store an SSH credential",
                        description="Secrets are read from stdin, a file or a prompt — never "
                                    "from the command line.")
    p.add_argument("name")
    p.add_argument("--ssh-user", required=True, metavar="USER")
    p.add_argument("--ssh-key", metavar="FILE", help="private key file (sealed into the vault)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the login password from the first line of stdin")
    p.add_argument("--password-file", metavar="FILE")
    p.add_argument("--ask-password", action="store_true", help="prompt for the password")
    p.add_argument("--sudo", choices=["password", "nopasswd", "root"], default="password",
                   help="how the user becomes root (default: sudo with a password)")
    p.add_argument("--sudo-password-stdin", action="store_true",
                   help="read the sudo password from the next line of stdin "
                        "(default: the login password)")
    p.add_argument("--sudo-password-file", metavar="FILE")
    p.add_argument("--port", type=int)
    p.add_argument("--scope", action="append", metavar="SCOPE",
                   help="all (default), asset:ID, tag:NAME or ring:NAME; repeatable")
    p.set_defaults(func=cmd_cred_add)
    p = cred.add_parser("list", parents=[common], help="list credentials (no secrets)")
    p.set_defaults(func=cmd_cred_list)
    p = cred.add_parser("rm", parents=[common], help="delete a credential")
    p.add_argument("name")
    p.set_defaults(func=cmd_cred_rm)
    p = cred.add_parser("test", parents=[common], help="log in to an asset and check sudo")
    p.add_argument("name")
    p.add_argument("selector", help="asset id, host name, IP or MAC")
    p.set_defaults(func=cmd_cred_test)

    hostkey = sub.add_parser("hostkey", help="pinned SSH host keys").add_subparsers(
        dest="hostkey_command", metavar="ACTION", required=True)
    p = hostkey.add_parser("list", parents=[common], help="pinned keys")
    p.set_defaults(func=cmd_hostkey_list)
    p = hostkey.add_parser("accept", parents=[common],
                           help="accept a host's new key after checking its fingerprint")
    p.add_argument("host")
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--fingerprint", required=True, metavar="SHA256:...",
                   help="the fingerprint you verified (from the warning)")
    p.set_defaults(func=cmd_hostkey_accept)

    p = sub.add_parser("assess", parents=[common], help="deep-scan hosts over SSH",
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
    p.set_defaults(func=cmd_patches)

    deploy = sub.add_parser("deploy", help="test-then-deploy with approval and rollback"
                            ).add_subparsers(dest="deploy_command", metavar="ACTION",
                                             required=True)
    p = deploy.add_parser("plan", parents=[common], help="plan a deployment")
    _add_plan_options(p, required=True)
    p.set_defaults(func=cmd_deploy_plan)
    for name, helptext in (("run", "plan (with --patch) and run, or run a planned one"),
                           ("resume", "continue an interrupted or approved deployment")):
        p = deploy.add_parser(name, parents=[common], help=helptext)
        p.add_argument("id", nargs="?", type=int, help="deployment id (default: the newest)")
        _add_plan_options(p, required=False)
        p.add_argument("--approve-as", metavar="NAME",
                       help="approve after the test ring in this person's name")
        p.add_argument("--yes", action="store_true", help="do not ask before starting")
        p.set_defaults(func=cmd_deploy_run)
    p = deploy.add_parser("status", parents=[common], help="a deployment's state")
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--log", action="store_true", help="also print the step log")
    p.set_defaults(func=cmd_deploy_status)
    p = deploy.add_parser("list", parents=[common], help="deployment history")
    p.set_defaults(func=cmd_deploy_list)
    p = deploy.add_parser("approve", parents=[common], help="named approval after the test ring")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="approver", required=True, metavar="NAME")
    p.add_argument("--note")
    p.set_defaults(func=cmd_deploy_approve)
    p = deploy.add_parser("override", parents=[common],
                          help="let a host that failed pre-flight take part (audited)")
    p.add_argument("id", type=int)
    p.add_argument("host", metavar="SELECTOR")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_deploy_override)
    p = deploy.add_parser("cancel-reboot", parents=[common],
                          help="cancel a host's scheduled reboot (shutdown -c)")
    p.add_argument("id", type=int)
    p.add_argument("host", metavar="SELECTOR")
    p.set_defaults(func=cmd_deploy_cancel_reboot)
    p = deploy.add_parser("rollback", parents=[common],
                          help="restore the versions from before a deployment")
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--last", action="store_true", help="the newest deployment")
    p.add_argument("--host", action="append", metavar="SELECTORS", help="only these hosts")
    p.set_defaults(func=cmd_deploy_rollback)

    p = sub.add_parser("report", parents=[common], help="write the PDF audit and compliance report",
                       description="Executive summary, inventory, missing patches, "
                                   "deployments, exceptions, the patch-audit checklist and a "
                                   "per-host appendix, branded with the site's client, MSP "
                                   "and logo.")
    p.add_argument("--sections", metavar="LIST",
                   help="comma list of exec,inventory,patches,deployments,exceptions,"
                        "checklist,hosts (default: all)")
    _add_period_options(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf")
    p.set_defaults(func=cmd_report)

    kev = sub.add_parser("kev", help="the CISA Known Exploited Vulnerabilities catalogue"
                         ).add_subparsers(dest="kev_command", metavar="ACTION", required=True)
    p = kev.add_parser("import", parents=[common], help="import the catalogue (replaces it)",
                       description="Import CISA's known_exploited_vulnerabilities.json from a "
                                   "file or an http(s) URL, e.g. https://www.cisa.gov/sites/"
                                   "default/files/feeds/known_exploited_vulnerabilities.json")
    p.add_argument("source", nargs="?", metavar="FILE|URL")
    p.add_argument("--sample", action="store_true",
                   help="import the bundled 20-entry sample (offline first run, demos)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a URL (default 30)")
    p.set_defaults(func=cmd_kev_import)
    p = kev.add_parser("status", parents=[common],
                       help="the imported catalogue and the known exploited CVEs found")
    p.set_defaults(func=cmd_kev_status)

    policy = sub.add_parser("policy", help="the versioned patch policy").add_subparsers(
        dest="policy_command", metavar="ACTION", required=True)
    p = policy.add_parser("show", parents=[common], help="print the policy")
    p.add_argument("--version", type=int, metavar="N", help="an older version")
    p.set_defaults(func=cmd_policy_show)
    p = policy.add_parser("set", parents=[common], help="change settings (a new version)",
                          description="KEY VALUE pairs, e.g. approvers alice,bob  "
                                      "sla_hours.emergency 24h  windows "
                                      "'ring:production=sat 22:00-04:00'  people.carol "
                                      "reviewer; or --file with the JSON of `policy show "
                                      "--json`.")
    p.add_argument("settings", nargs="*", metavar="KEY VALUE")
    p.add_argument("--file", metavar="FILE", help="the whole policy as JSON")
    p.add_argument("--note", help="why it changed (kept with the version)")
    p.set_defaults(func=cmd_policy_set)
    p = policy.add_parser("history", parents=[common], help="every saved version")
    p.set_defaults(func=cmd_policy_history)

    p = sub.add_parser("risk", parents=[common], help="missing updates by risk, with due dates",
                       description="Score, priority, SLA due date, overdue and KEV flags per "
                                   "(host, update), highest risk first.")
    p.add_argument("--top", type=int, metavar="N", help="only the N riskiest")
    p.add_argument("--host", metavar="SELECTOR", help="only this asset")
    p.add_argument("--overdue", action="store_true", help="only overdue items")
    p.add_argument("--priority", choices=["emergency", "high", "standard", "low"])
    p.add_argument("--why", action="store_true", help="explain every score")
    p.set_defaults(func=cmd_risk)
    p = sub.add_parser("compliance", parents=[common],
                       help="the SLA compliance figure and its parts")
    p.set_defaults(func=cmd_compliance)

    review = sub.add_parser("review", help="urgency reviews: patch now, schedule, exception"
                            ).add_subparsers(dest="review_command", metavar="ACTION",
                                             required=True)
    p = review.add_parser("add", parents=[common], help="record a named person's decision")
    _add_review_options(p)
    p.add_argument("--decision", required=True,
                   choices=["patch-now", "schedule", "exception"])
    p.add_argument("--until", metavar="YYYY-MM-DD", help="exception: valid through this day")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="schedule: the planned day")
    p.set_defaults(func=cmd_review_add)
    p = review.add_parser("list", parents=[common], help="every review")
    p.add_argument("--decision", choices=["patch-now", "schedule", "exception"])
    p.set_defaults(func=cmd_review_list)
    exc = sub.add_parser("exception", help="workaround + exception with an expiry date"
                         ).add_subparsers(dest="exception_command", metavar="ACTION",
                                          required=True)
    p = exc.add_parser("add", parents=[common], help="grant an exception until a date")
    _add_review_options(p)
    p.add_argument("--until", required=True, metavar="YYYY-MM-DD",
                   help="valid through this day; then the update is overdue again")
    p.set_defaults(func=cmd_exception_add)
    p = exc.add_parser("list", parents=[common], help="exceptions (expired ones flagged)")
    p.add_argument("--active", action="store_true", help="only unexpired ones")
    p.set_defaults(func=cmd_exception_list)
    p = exc.add_parser("expire", parents=[common], help="end an exception now")
    p.add_argument("id", type=int)
    p.add_argument("--by", metavar="NAME", help="who ended it (default: --actor)")
    p.set_defaults(func=cmd_exception_expire)

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", metavar="ACTION", required=True)
    p = audit.add_parser("verify", parents=[common], help="check the hash chain")
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("list", parents=[common], help="show recent events")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_audit_list)

    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; return the exit code."""
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args, out))
    except ValidationError as exc:
        _error(f"invalid {exc}")
        return EXIT_USAGE
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except NotFoundError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except UserError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _error(message: str) -> None:
    sys.stderr.write(f"patchdesk: error: {' '.join(message.split())}\n")


if __name__ == "__main__":
    sys.exit(main())
