"""The ``patchdesk`` command line: a thin shell over :mod:`app.services`.

Each command group is a module of this package that declares its sub-commands next to
their handlers (``register``); this module builds the parser from them and runs a command.

Exit codes: 0 success; 1 the operation failed (site file unusable, asset not found, a host
or file error); 2 the command line was wrong (unknown option, invalid field value) and
nothing was written. Errors go to stderr as one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from app import __version__
from app.cli import (
    assess,
    assets,
    audit,
    common,
    creds,
    deploy,
    feeds,
    people,
    report,
    risk,
    scan,
    schedule,
    site,
    transfer,
)
from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    json_parent,
    master_password_from_environment,
    terminal_safe,
)
from app.core.errors import NotFoundError, UserError, ValidationError
from app.services import default_site_path

#: The command groups in the order ``patchdesk --help`` lists them.
GROUPS = (site, assets, transfer, scan, creds, people, assess, deploy, schedule, report, risk,
          feeds, audit)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs test)."""
    common = json_parent()

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
    parser.add_argument("--accept-new-host-keys", action="store_true", default=False,
                        help="let a password credential make first contact with hosts whose "
                             "SSH key was never confirmed")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; return the exit code."""
    out = out or sys.stdout
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # bytes that were not UTF-8 (surrogate-escaped)
            _error(f"argument {position} ({terminal_safe(arg)}) is not valid UTF-8 text")
            return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    common.reset_stdin()  # secrets read from stdin belong to this command only
    try:
        with master_password_from_environment():  # no child inherits it ([12].13)
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
    text = terminal_safe(" ".join(message.split()), keep_newlines=False)
    sys.stderr.write(f"patchdesk: error: {text}\n")
