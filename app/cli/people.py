"""``patchdesk person add|list|change-pin``: named people and the PINs that prove them
([12].8). PINs are read from standard input, never from the command line."""

from __future__ import annotations

import argparse
from typing import TextIO

from app.cli.common import EXIT_OK, Subparsers, Table, UsageError, emit, opened, secret


def pin_from_stdin(args: argparse.Namespace, whose: str) -> str:
    """The PIN of ``--pin-stdin`` (the next line of stdin); a usage error without it."""
    pin = secret(bool(getattr(args, "pin_stdin", False)), None, f"{whose}'s PIN")
    if pin is None:
        raise UsageError(f"acting in {whose}'s name needs their PIN: add --pin-stdin and "
                         "give it on standard input")
    return pin


def cmd_person_add(args: argparse.Namespace, out: TextIO) -> int:
    pin = pin_from_stdin(args, args.name)
    with opened(args, create=True) as service:
        name = service.people.add(args.name, pin)
    emit(args, out, {"name": name}, f"added {name} (PIN stored as a scrypt hash)\n")
    return EXIT_OK


def cmd_person_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        names = service.people.names()
    emit(args, out, names, Table([[n] for n in names], ["NAME"]))
    return EXIT_OK


def cmd_person_change_pin(args: argparse.Namespace, out: TextIO) -> int:
    old = pin_from_stdin(args, args.name)
    new = secret(True, None, "new PIN")
    with opened(args) as service:
        service.people.change_pin(args.name, old, new or "")
    out.write(f"changed the PIN of {args.name}\n")
    return EXIT_OK


def add_pin_option(p: argparse.ArgumentParser, whose: str) -> None:
    """``--pin-stdin``: read the named person's PIN from the next line of stdin."""
    p.add_argument("--pin-stdin", action="store_true",
                   help=f"read {whose}'s PIN from the next line of standard input")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    person = sub.add_parser("person", help="named people and their PINs (proof for approvals "
                                           "and exceptions)").add_subparsers(
        dest="person_command", metavar="ACTION", required=True)
    p = person.add_parser("add", parents=[common], help="register a person with a PIN")
    p.add_argument("name")
    add_pin_option(p, "the person")
    p.set_defaults(func=cmd_person_add)
    p = person.add_parser("list", parents=[common], help="people who have a PIN")
    p.set_defaults(func=cmd_person_list)
    p = person.add_parser("change-pin", parents=[common],
                          help="change a PIN (stdin: the current PIN, then the new one)")
    p.add_argument("name")
    add_pin_option(p, "the person")
    p.set_defaults(func=cmd_person_change_pin)
