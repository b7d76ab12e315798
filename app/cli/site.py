"""``patchdesk site init|info|set|restore`` and ``patchdesk gui``: the site file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from app.cli.common import (
    EXIT_OK,
    Subparsers,
    UsageError,
    emit,
    opened,
)
from app.core.errors import UserError
from app.services import SiteService, default_site_path


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
    emit(args, out, info, "".join(f"{key:15} {value if value is not None else ''}\n"
                                  for key, value in info.items()))
    return EXIT_OK


def cmd_site_info(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        return _print_info(service, args, out)


def cmd_site_set(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        changes = {k: v for k, v in (("name", args.name), ("client", args.client),
                                      ("address", args.address), ("msp_name", args.msp_name),
                                      ("logo_path", args.logo)) if v is not None}
        if not changes:
            raise UsageError("nothing to change: give --name, --client, --address, "
                             "--msp-name or --logo")
        service.update_site(**changes)
        return _print_info(service, args, out)


def cmd_site_restore(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.site).expanduser() if args.site else default_site_path()
    service = SiteService.restore_backup(path, args.backup, actor=args.actor)
    try:
        sys.stderr.write(f"restored {path} from {args.backup} (the damaged file is kept "
                         "beside it as *.damaged-*)\n")
        return _print_info(service, args, out)
    finally:
        service.close()


def cmd_gui(args: argparse.Namespace, out: TextIO) -> int:
    from app.ui.main import main as gui_main

    argv = [sys.argv[0]]
    if args.site:
        argv += ["--site", args.site]
    return int(gui_main(argv))


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
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
    p = site.add_parser("restore", parents=[common],
                        help="replace a damaged site file by a backup copy (the damaged "
                             "file is kept)")
    p.add_argument("--from", dest="backup", required=True, metavar="BACKUP",
                   help="the backup copy (NAME.*.bak, named when the site is refused)")
    p.set_defaults(func=cmd_site_restore)
