"""The audit hash chain detects edits, deletions and truncation, naming the row."""

from typing import Any

from app.core.audit import GENESIS_HASH, canonical_details, row_hash, verify_chain


def make_chain(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        row = {"id": i, "ts": f"2026-01-01T00:00:0{i % 10}+00:00", "actor": "ann",
               "action": "asset.add", "object_type": "asset", "object_id": str(i),
               "details": canonical_details({"n": i}), "outcome": "ok", "prev_hash": prev}
        row["hash"] = row_hash(row_id=i, ts=row["ts"], actor="ann", action="asset.add",
                               object_type="asset", object_id=str(i),
                               details_json=row["details"], outcome="ok", prev_hash=prev)
        prev = row["hash"]
        rows.append(row)
    return rows


def head(rows: list[dict[str, Any]]) -> tuple[int, str]:
    return rows[-1]["id"], rows[-1]["hash"]


def test_intact_chain_has_no_problems() -> None:
    rows = make_chain(5)
    assert verify_chain(rows, head(rows)) == []
    assert verify_chain([], None) == []


def test_edited_row_is_named() -> None:
    rows = make_chain(5)
    recorded = head(rows)
    rows[2]["actor"] = "mallory"
    problems = verify_chain(rows, recorded)
    assert [(p.row_id, p.problem) for p in problems] == [
        (3, "content was changed after it was written")
    ]


def test_deleted_row_is_named() -> None:
    rows = make_chain(5)
    recorded = head(rows)
    del rows[1]
    problems = verify_chain(rows, recorded)
    assert problems[0].row_id == 2
    assert "deleted" in problems[0].problem


def test_deleted_tail_is_detected_from_the_head() -> None:
    rows = make_chain(5)
    recorded = head(rows)
    problems = verify_chain(rows[:3], recorded)
    assert [str(p) for p in problems] == ["audit row 4: rows 4–5 deleted from the end"]


def test_rehashed_forgery_breaks_the_head() -> None:
    rows = make_chain(3)
    recorded = head(rows)
    forged = make_chain(3)
    forged[2]["details"] = canonical_details({"n": 99})
    forged[2]["hash"] = row_hash(row_id=3, ts=forged[2]["ts"], actor="ann", action="asset.add",
                                 object_type="asset", object_id="3",
                                 details_json=forged[2]["details"], outcome="ok",
                                 prev_hash=forged[2]["prev_hash"])
    assert [p.row_id for p in verify_chain(forged, recorded)] == [3]
