"""Site files: creation, refusal of foreign or damaged files, WAL, foreign keys, audit."""

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from app.core.errors import SiteFileError
from app.core.models import Asset
from app.services import SiteService
from app.store.db import SiteDB
from app.store.schema import APPLICATION_ID


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_new_site_is_wal_with_foreign_keys_and_stamp(tmp_path: Path) -> None:
    service = SiteService.open(tmp_path / "a.pdsite", create=True, name="Acme")
    db = service.store.db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert service.site().name == "Acme"
    assert service.info().schema_version >= 1
    service.close()


def test_missing_site_is_not_created_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="no site"):
        SiteService.open(tmp_path / "nope.pdsite")
    assert not (tmp_path / "nope.pdsite").exists()


def test_text_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdsite"
    path.write_text("hello, not a database\n")
    before = fingerprint(path)
    with pytest.raises(SiteFileError, match="not an SQLite database"):
        SiteService.open(path, create=True)
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pdsite"]


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(SiteFileError, match="not a PatchDesk site"):
        SiteService.open(path, create=True)
    assert fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_damaged_site_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "d.pdsite"
    service = SiteService.open(path, create=True)
    for i in range(300):
        service.add_asset(Asset(hostname=f"h{i}", notes="x" * 500))
    service.close()
    # Fold the WAL into the main file so the damage below hits real pages.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, min(len(data), page * 12)):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    with pytest.raises(SiteFileError, match="damaged"):
        SiteService.open(path)
    assert fingerprint(path) == before


def test_too_new_site_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.pdsite"
    SiteService.open(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('patchdesk', '9999_from_the_future', '2030-01-01')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(SiteFileError, match="newer PatchDesk"):
        SiteService.open(path)


def test_empty_and_folder_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.pdsite").write_bytes(b"")
    with pytest.raises(SiteFileError, match="empty"):
        SiteService.open(tmp_path / "empty.pdsite")
    with pytest.raises(SiteFileError, match="folder"):
        SiteService.open(tmp_path)


def test_deleting_an_asset_cascades(tmp_path: Path) -> None:
    service = SiteService.open(tmp_path / "c.pdsite", create=True)
    asset = service.add_asset(Asset(hostname="web01"))
    db = service.store.db()
    with service.store.atomic():
        db.execute("INSERT INTO software (asset_id, name, version) VALUES (?, 'bash', '5.2')",
                   [asset.id])
    service.delete_assets([asset.id or 0])
    assert db.execute("SELECT count(*) FROM software").fetchone()[0] == 0
    service.close()


def test_connections_are_per_thread(tmp_path: Path) -> None:
    import threading

    store = SiteDB.open(tmp_path / "t.pdsite", create=True)
    seen = []

    def work() -> None:
        seen.append(id(store.db()))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen[0] != id(store.db())
    store.close()


def test_audit_tampering_is_detected_and_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.pdsite"
    service = SiteService.open(path, create=True)
    for name in ("a", "b", "c", "d"):
        service.add_asset(Asset(hostname=name))
    assert service.audit_verify() == []
    service.close()

    conn = sqlite3.connect(path)
    # The in-app triggers refuse edits...
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    # ...but someone with the file can drop them; the chain still tells.
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    conn.commit()
    conn.close()
    service = SiteService.open(path)
    problems = service.audit_verify()
    assert [(p.row_id, p.problem) for p in problems] == [
        (3, "content was changed after it was written")
    ]
    # the dropped guards are put back on open, and that is audited
    [restored] = [e for e in service.audit_events() if e.action == "site.protections_restored"]
    assert set(restored.details["restored"]) == {"trigger audit_log_no_update",
                                                 "trigger audit_log_no_delete"}
    service.close()

    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE id = 2")
    conn.commit()
    conn.close()
    service = SiteService.open(path)
    rows = {p.row_id for p in service.audit_verify()}
    assert {2, 3} <= rows
    service.close()


@pytest.mark.parametrize("crafted", [
    # deletes the pinned host keys, so a different key is "first use" again
    "CREATE TRIGGER pin_wipe AFTER INSERT ON audit_log BEGIN DELETE FROM host_keys; END",
    # widens every credential to the whole site
    "CREATE TRIGGER widen AFTER INSERT ON audit_log BEGIN "
    "UPDATE credential_scopes SET scope = 'all', value = ''; END",
    "CREATE VIEW innocent AS SELECT * FROM credentials",
])
def test_a_site_with_database_code_of_its_own_is_refused_untouched(tmp_path: Path,
                                                                  crafted: str) -> None:
    """[12].7: a crafted site file with its own triggers or views opened silently."""
    path = tmp_path / "crafted.pdsite"
    SiteService.open(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute(crafted)
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(SiteFileError, match="database code PatchDesk did not write"):
        SiteService.open(path)
    assert fingerprint(path) == before


def test_an_altered_guard_trigger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "altered.pdsite"
    SiteService.open(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                 "BEGIN SELECT 1; END")
    conn.commit()
    conn.close()
    with pytest.raises(SiteFileError, match="altered: trigger audit_log_no_delete"):
        SiteService.open(path)


def test_site_file_is_portable(tmp_path: Path) -> None:
    path = tmp_path / "p.pdsite"
    service = SiteService.open(path, create=True, name="Client A")
    service.add_asset(Asset(hostname="x"))
    service.close()
    moved = tmp_path / "elsewhere" / "copy.pdsite"
    moved.parent.mkdir()
    os.replace(path, moved)
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            os.replace(side, Path(str(moved) + suffix))
    again = SiteService.open(moved)
    assert [a.hostname for a in again.assets()] == ["x"]
    assert again.site().name == "Client A"
    again.close()


def test_an_older_site_is_backed_up_then_migrated(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from app.core.models import Site
    from app.store.repos import SiteRepo
    from app.store.schema import known_migration_names, migrations

    path = tmp_path / "old.pdsite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db = Database(conn)
    migrations.apply(db, stop_before="0002_discovery")  # a site from the first release
    SiteRepo(db).create(Site(name="Old client"))
    conn.commit()
    conn.close()

    service = SiteService.open(path)
    assert service.info().schema_version == len(known_migration_names())
    assert service.site().name == "Old client"
    service.close()
    [backup] = tmp_path.glob("old.pdsite.v1-*.bak")
    old = sqlite3.connect(backup)
    names = [r[0] for r in old.execute("SELECT name FROM _sqlite_migrations")]
    old.close()
    assert names == ["0001_initial"]
