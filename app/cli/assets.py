"""``patchdesk asset add|list|show|edit|rm|conflicts|resolve``: the inventory by asset."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    emit,
    one_asset,
    opened,
)
from app.cli.identity import register_commands as register_identity
from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.core.records import record_to_asset
from app.services import asset_to_json


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


def cmd_asset_add(args: argparse.Namespace, out: TextIO) -> int:
    # Validate before opening (or creating) the site, so a bad value writes nothing.
    asset = record_to_asset(_record_from_args(args))
    with opened(args, create=True) as service:
        stored = service.add_asset(asset)
        emit(args, out, asset_to_json(stored), f"added asset {stored.id} ({stored.label})\n")
        return EXIT_OK


def cmd_asset_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        assets = service.assets()
        if args.filter:
            needle = args.filter.lower()
            assets = [a for a in assets if needle in " ".join(_asset_row(a)).lower()
                      or needle in a.owner.lower() or needle in " ".join(a.tags).lower()]
        emit(args, out, [asset_to_json(a) for a in assets],
             Table([_asset_row(a) for a in assets], _ASSET_HEADERS))
        return EXIT_OK


def cmd_asset_show(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        asset = one_asset(service, args.selector)
        data = asset_to_json(asset)
        # a MAC address claimed by two assets, waiting for a person ([12].5)
        data["identity_conflicts"] = service.assess.identity_conflicts(int(asset.id or 0))

        def text(out: TextIO) -> None:
            for key, value in data.items():
                if key == "identity_conflicts":
                    value = "; ".join(f"MAC {c['mac']} also claimed (asset #"
                                      f"{c['other_asset_id']})" for c in value)
                elif isinstance(value, list):
                    value = ", ".join(value)
                out.write(f"{key:20} {'' if value is None else value}\n")

        emit(args, out, data, text)
        return EXIT_OK


def cmd_asset_edit(args: argparse.Namespace, out: TextIO) -> int:
    record = _record_from_args(args)
    if not record:
        raise UsageError("nothing to change: give at least one field option")
    with opened(args) as service:
        asset = one_asset(service, args.selector)
        stored = service.update_asset(record_to_asset(record, base=asset), base=asset)
        emit(args, out, asset_to_json(stored), f"updated asset {stored.id} ({stored.label})\n")
        return EXIT_OK


def cmd_asset_rm(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
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
        emit(args, out, {"deleted": [asset_to_json(a) for a in deleted]},
             f"deleted {len(deleted)} asset(s): {labels}\n")
        return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
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
    register_identity(asset, common)  # conflicts, resolve ([12].5)
