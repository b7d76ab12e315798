"""``patchdesk asset conflicts`` and ``asset resolve``: identity conflicts for a person.

A host that reported a MAC address another asset has keeps both records, flagged
([12].5). ``asset conflicts`` lists them (A: the host that reported the address, B: the
asset that had it); ``asset resolve ID --keep A|B|both [--merge]`` records the decision:
keep A (B is deleted, A takes the address), keep B (A is deleted), or both (two machines;
B keeps the address and A's claim is dismissed). ``--merge`` folds the deleted record's
details into the one kept. Audited; a deleted record can be restored from its audit event.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from app.cli.common import EXIT_OK, Table, UsageError, emit, opened
from app.core.errors import UserError
from app.core.identity import Keep, parse_keep


def cmd_asset_conflicts(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        found = service.identity.conflicts()
    rows = [[str(c["id"]), str(c["mac"]), f"#{c['claimed_by']} {c['claimed_by_label']}",
             f"#{c['owner']} {c['owner_label']}", str(c["source"]),
             str(c["detected_at"])[:19]] for c in found]
    emit(args, out, {"conflicts": found},
         Table(rows, ["ID", "MAC", "A (REPORTED IT)", "B (HAD IT)", "SOURCE", "DETECTED"])
         if rows else "no open identity conflicts\n")
    return EXIT_OK


def cmd_asset_resolve(args: argparse.Namespace, out: TextIO) -> int:
    try:
        keep = parse_keep(args.keep)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    if keep is Keep.BOTH and args.merge:
        raise UsageError("--merge needs one record to keep (A or B), not both")
    with opened(args) as service:
        done: dict[str, Any] = service.identity.resolve(args.id, keep, merge=args.merge)
    a, b = done["A"], done["B"]
    what = {"A": f"kept #{a['id']} {a['label']}, deleted #{b['id']} {b['label']}",
            "B": f"kept #{b['id']} {b['label']}, deleted #{a['id']} {a['label']}",
            "both": f"kept both: #{b['id']} {b['label']} keeps {done['mac']}"}[str(keep)]
    emit(args, out, done, f"identity conflict {args.id} resolved: {what}"
         + (" (merged)" if args.merge else "") + "\n")
    return EXIT_OK


def register_commands(asset: Any, common: argparse.ArgumentParser) -> None:
    """Add ``conflicts`` and ``resolve`` to the ``asset`` command group."""
    p = asset.add_parser("conflicts", parents=[common],
                         help="identity conflicts waiting for a decision")
    p.set_defaults(func=cmd_asset_conflicts)
    p = asset.add_parser("resolve", parents=[common],
                         help="decide an identity conflict (audited)")
    p.add_argument("id", type=int, help="the conflict's id (asset conflicts)")
    p.add_argument("--keep", required=True, metavar="A|B|both",
                   help="A: the host that reported the MAC address is the machine (B is "
                        "deleted); B: the asset that had it is (A is deleted); both: two "
                        "machines (B keeps the address)")
    p.add_argument("--merge", action="store_true",
                   help="fold the deleted record's details into the one kept")
    p.set_defaults(func=cmd_asset_resolve)
