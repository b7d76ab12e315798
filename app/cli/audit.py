"""``patchdesk audit verify|list``: the tamper-evident audit log."""

from __future__ import annotations

import argparse
from typing import TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    count_arg,
    emit,
    env_password,
    opened,
    unlock,
)
from app.services.audit import head_text


def cmd_audit_verify(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        # The seals need the master password: used when given without asking (a file or
        # $PATCHDESK_MASTER_PASSWORD); otherwise the output says they were not checked.
        if args.master_password_file or env_password():
            unlock(service, args)
        problems = service.audit_verify()
        count = service.info().audit_events
        head = service.audit.head()
    emit(args, out, {"ok": not problems, "events": count,
                     "problems": [{"row": p.row_id, "problem": p.problem} for p in problems],
                     "head": {"id": head["id"], "hash": head["hash"]},
                     "seals_checked": head["seals_checked"], "seals": head["seals"]},
         ("".join(f"TAMPERED {problem}\n" for problem in problems) if problems
          else f"audit log intact: {count} events, chain verified\n") + head_text(head) + "\n")
    return EXIT_FAILED if problems else EXIT_OK


def cmd_audit_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        events = service.audit_events(limit=args.limit)
    emit(args, out, [{"id": e.id, "ts": e.ts.isoformat(), "actor": e.actor, "action": e.action,
                      "object_type": e.object_type, "object_id": e.object_id,
                      "details": e.details, "outcome": str(e.outcome)} for e in events],
         Table([[str(e.id), e.ts.isoformat(), e.actor, e.action,
                 f"{e.object_type}:{e.object_id}".strip(":"), str(e.outcome)] for e in events],
               ["ID", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME"]))
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", metavar="ACTION", required=True)
    p = audit.add_parser("verify", parents=[common], help="check the hash chain")
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("list", parents=[common], help="show recent events")
    p.add_argument("--limit", type=count_arg(), default=50, metavar="N",
                   help="how many events, newest first (1–100000; default 50)")
    p.set_defaults(func=cmd_audit_list)
