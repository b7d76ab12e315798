"""Site files hold password hashes and the sealed vault: only their owner may read them.

Finding [12].9: site files and their backups were created 0644 in a 0755 folder, so any
local user could copy one and guess the master password offline.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.core.models import Asset, Site
from app.services import SiteService
from app.store.repos import SiteRepo
from app.store.schema import APPLICATION_ID, migrations


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _loose_umask() -> object:
    old = os.umask(0o022)  # a typical desktop umask: files 0644, folders 0755
    yield
    os.umask(old)


def test_a_new_site_and_its_wal_are_private_in_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "client" / "acme.pdsite"
    service = SiteService.open(path, create=True, name="Acme")
    service.add_asset(Asset(hostname="web01"))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700  # the folder PatchDesk created for it
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if extra.exists():
            assert mode(extra) == 0o600, extra
    service.close()


def test_an_existing_readable_site_is_made_private_on_open(tmp_path: Path) -> None:
    path = tmp_path / "shared.pdsite"
    SiteService.open(path, create=True, name="Shared").close()
    path.chmod(0o644)
    service = SiteService.open(path)
    assert mode(path) == 0o600
    service.close()


def test_backups_before_migrating_are_private(tmp_path: Path) -> None:
    path = tmp_path / "old.pdsite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db = Database(conn)
    migrations.apply(db, stop_before="0002_discovery")
    SiteRepo(db).create(Site(name="Old client"))
    conn.commit()
    conn.close()
    path.chmod(0o644)
    SiteService.open(path).close()
    [backup] = tmp_path.glob("old.pdsite.v1-*.bak")
    assert mode(backup) == 0o600
    assert mode(path) == 0o600


def test_an_existing_user_folder_is_left_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "Documents"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    SiteService.open(folder / "a.pdsite", create=True, name="A").close()
    assert mode(folder) == 0o755  # not ours to change; the file itself is 0600
    assert mode(folder / "a.pdsite") == 0o600
