"""The hash chain of the audit log: how a row's hash is computed and how a chain is checked.

Each row's hash covers its own content and the previous row's hash, so editing or deleting
any row breaks the chain from that row on. Pure functions; the store persists the rows.

A plain hash chain can be recomputed by anyone holding the file. So each row is also sealed
with a forward-secure MAC (Schneier–Kelsey / systemd-journal "forward secure sealing"):
row *i* gets ``HMAC(k_i, hash_i)`` and the key then evolves, ``k_{i+1} = H(k_i)``; only the
current key is kept in the file. Whoever copies the file can seal rows *after* it, but
cannot re-seal an earlier row (that needs an earlier key, and H is one-way) nor drop rows
from the end (the stored key would then be "ahead" of the log). The first key, ``k_0``, is
sealed in the credential vault: checking the seals needs the master password.
"""

from __future__ import annotations

import hashlib
import hmac
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


def evolve_key(key: bytes) -> bytes:
    """The next sealing key (one-way: an earlier key cannot be derived from a later one)."""
    return hashlib.sha256(b"patchdesk-audit-evolve\x00" + key).digest()


def row_mac(key: bytes, row_hash_hex: str) -> str:
    """The seal of one row: HMAC-SHA256 of its hash under that row's key."""
    return hmac.new(key, row_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def verify_seals(rows: Iterable[dict[str, Any]], first_key: bytes, first_row: int,
                 stored_key: bytes, stored_next: int) -> list[ChainProblem]:
    """Check the forward-secure seals of rows ``first_row`` on, and the stored key state.

    Args:
        rows: the audit rows (with ``id``, ``hash``, ``mac``), in id order.
        first_key: ``k_0``, opened from the vault.
        first_row: the first row sealed with ``k_0``.
        stored_key: the current key the file holds.
        stored_next: the row id the stored key would seal next.

    Returns:
        Every problem found; an empty list means every sealed row and the key state hold.
    """
    problems: list[ChainProblem] = []
    key, position, last = first_key, first_row, first_row - 1
    for row in rows:
        rid = int(row["id"])
        if rid < first_row:
            continue
        while position < rid:  # rows deleted in between: the chain check names them
            key, position = evolve_key(key), position + 1
        mac = str(row.get("mac") or "")
        if not hmac.compare_digest(mac, row_mac(key, str(row["hash"]))):
            later = _sealed_later(key, position, mac, str(row["hash"]), stored_next)
            if later is None:
                problems.append(ChainProblem(rid, "its seal does not match: the row was changed "
                                                  "or the chain recomputed after it was written"))
            else:  # appended after rows were cut off the end: its key was further along
                key, position = later
                problems.append(ChainProblem(rid, f"rows were removed from the end before it "
                                                  f"was written (it was sealed as row "
                                                  f"{position})"))
        key, position, last = evolve_key(key), position + 1, rid
    if stored_next > position:
        problems.append(ChainProblem(last + 1, f"{stored_next - position} row(s) were removed "
                                               "from the end (the sealing key is ahead of the "
                                               "log)"))
    elif stored_next != position or not hmac.compare_digest(stored_key, key):
        problems.append(ChainProblem(max(last, first_row), "the stored sealing key was replaced "
                                                           "(the seals after it cannot be "
                                                           "trusted)"))
    return problems


def _sealed_later(key: bytes, position: int, mac: str, hash_hex: str,
                  stored_next: int) -> tuple[bytes, int] | None:
    """The (key, position) at which ``mac`` seals ``hash_hex``, searching forward up to the
    position the stored key has reached (rows cut off the end move later rows' seals)."""
    for _ in range(max(0, min(stored_next - position, 1_000_000))):
        key, position = evolve_key(key), position + 1
        if hmac.compare_digest(mac, row_mac(key, hash_hex)):
            return key, position
    return None
