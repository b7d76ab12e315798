"""The hash chain of the audit log: how a row's hash is computed and how a chain is checked.

Each row's hash covers its own content and the previous row's hash, so editing or deleting
any row breaks the chain from that row on. Pure functions; the store persists the rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_details(details: dict[str, Any]) -> str:
    """Serialise details deterministically (sorted keys, no whitespace variance)."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def row_hash(
    *,
    row_id: int,
    ts: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details_json: str,
    outcome: str,
    prev_hash: str,
) -> str:
    """Return the SHA-256 hex digest that seals one audit row."""
    payload = json.dumps(
        [row_id, ts, actor, action, object_type, object_id, details_json, outcome, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One break in the audit chain, pointing at the row where it shows."""

    row_id: int
    problem: str

    def __str__(self) -> str:
        return f"audit row {self.row_id}: {self.problem}"


def verify_chain(
    rows: Iterable[dict[str, Any]], head: tuple[int, str] | None
) -> list[ChainProblem]:
    """Check stored audit rows (ordered by id) against their hashes and the recorded head.

    Args:
        rows: dicts with the audit table's columns, in id order.
        head: (last id, last hash) recorded separately when the last row was written, or
            None if nothing was ever written.

    Returns:
        Every problem found; an empty list means the chain is intact.
    """
    problems: list[ChainProblem] = []
    expected_prev = GENESIS_HASH
    expected_id = 1
    last: tuple[int, str] | None = None
    for row in rows:
        rid = int(row["id"])
        if rid != expected_id:
            if rid > expected_id:
                missing = (
                    f"row {expected_id}" if rid - expected_id == 1
                    else f"rows {expected_id}–{rid - 1}"
                )
                problems.append(ChainProblem(expected_id, f"{missing} deleted"))
            else:
                problems.append(ChainProblem(rid, "row id out of order"))
        if row["prev_hash"] != expected_prev:
            problems.append(ChainProblem(rid, "does not link to the previous row"))
        computed = row_hash(
            row_id=rid,
            ts=row["ts"],
            actor=row["actor"],
            action=row["action"],
            object_type=row["object_type"],
            object_id=row["object_id"],
            details_json=row["details"],
            outcome=row["outcome"],
            prev_hash=row["prev_hash"],
        )
        if computed != row["hash"]:
            problems.append(ChainProblem(rid, "content was changed after it was written"))
        expected_prev = row["hash"]
        expected_id = rid + 1
        last = (rid, row["hash"])
    if head is not None and last != head:
        if last is None or head[0] > last[0]:
            start = 1 if last is None else last[0] + 1
            problems.append(ChainProblem(start, f"rows {start}–{head[0]} deleted from the end"))
        elif head[1] != last[1] or head[0] != last[0]:
            problems.append(ChainProblem(last[0], "does not match the recorded chain head"))
    elif head is None and last is not None:
        problems.append(ChainProblem(last[0], "chain head record is missing"))
    return problems
