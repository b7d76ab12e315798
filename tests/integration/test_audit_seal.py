"""The audit log holds against someone with the file ([12].6).

Before: drop the triggers, edit a row or delete the last rows, recompute the hashes and the
head → "audit log intact". Now every row after the vault exists carries a forward-secure
seal whose first key is in the vault: recomputing or truncating is named.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.core.audit import GENESIS_HASH, row_hash
from app.core.models import Asset
from app.services import SiteService

MASTER = "correct horse battery"


def _site(tmp_path: Path) -> Path:
    path = tmp_path / "audit.pdsite"
    service = SiteService.open(path, create=True, name="Audit")
    service.add_asset(Asset(hostname="before-vault"))  # a row before sealing starts
    service.remote.unlock(MASTER, create=True)
    for name in ("a", "b", "c", "d"):
        service.add_asset(Asset(hostname=name))
    assert service.audit_verify() == []
    assert service.audit_seal_checked()
    service.close()
    return path


def _recompute(conn: sqlite3.Connection) -> None:
    """What a forger with the file does: re-hash every row and move the head."""
    prev, last = GENESIS_HASH, (0, "")
    rows = conn.execute("SELECT id, ts, actor, action, object_type, object_id, details, "
                        "outcome FROM audit_log ORDER BY id").fetchall()
    for rid, ts, actor, action, otype, oid, details, outcome in rows:
        digest = row_hash(row_id=rid, ts=ts, actor=actor, action=action, object_type=otype,
                          object_id=oid, details_json=details, outcome=outcome, prev_hash=prev)
        conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?",
                     [prev, digest, rid])
        prev, last = digest, (rid, digest)
    conn.execute("UPDATE site SET audit_head_id = ?, audit_head_hash = ?", list(last))


def _forge(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in sql:
        conn.execute(statement)
    _recompute(conn)
    conn.commit()
    conn.close()


def _check(path: Path, *, unlock: bool) -> tuple[list[str], bool]:
    service = SiteService.open(path)
    if unlock:
        service.remote.unlock(MASTER)
    problems = [str(p) for p in service.audit_verify()]
    checked = service.audit_seal_checked()
    service.close()
    return problems, checked


def test_an_edited_row_with_recomputed_hashes_is_named(tmp_path: Path) -> None:
    path = _site(tmp_path)
    sealed_row = 5
    _forge(path, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {sealed_row}")
    problems, checked = _check(path, unlock=False)
    assert problems == [] and not checked  # the plain chain cannot tell: and says so
    problems, checked = _check(path, unlock=True)
    assert checked
    assert any(p.startswith(f"audit row {sealed_row}:") and "seal does not match" in p
               for p in problems), problems


def test_rows_removed_from_the_end_are_named(tmp_path: Path) -> None:
    path = _site(tmp_path)
    conn = sqlite3.connect(path)
    last = conn.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    conn.close()
    _forge(path, f"DELETE FROM audit_log WHERE id > {last - 2}")
    problems, _ = _check(path, unlock=False)
    assert problems == []
    problems, _ = _check(path, unlock=True)
    assert any("removed from the end" in p for p in problems), problems


def test_a_replaced_key_state_is_named(tmp_path: Path) -> None:
    path = _site(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE site SET audit_key = ?", ["00" * 32])
    conn.commit()
    conn.close()
    problems, _ = _check(path, unlock=True)
    assert any("sealing key was replaced" in p for p in problems), problems


def test_an_untouched_log_is_intact_across_sessions(tmp_path: Path) -> None:
    path = _site(tmp_path)
    service = SiteService.open(path)
    service.add_asset(Asset(hostname="e"))  # appended while the vault is locked: sealed too
    service.close()
    assert _check(path, unlock=True) == ([], True)


@pytest.mark.parametrize("column", ["mac"])
def test_a_row_without_its_seal_is_named(tmp_path: Path, column: str) -> None:
    path = _site(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute(f"UPDATE audit_log SET {column} = '' WHERE id = 4")
    conn.commit()
    conn.close()
    problems, _ = _check(path, unlock=True)
    assert any(p.startswith("audit row 4:") for p in problems), problems
