"""The site file under faults ([12], issue 15): a full disk, a read-only disk, another
process holding it locked, damage (its backup offered and restored) and power loss in the
middle of writes. Each is a clear one-line error (never a traceback), and the file opens
consistent afterwards: SQLite's integrity check passes and the audit chain verifies.

Full and read-only disks are real mounts (a small tmpfs, a read-only bind mount): those
tests need root and are skipped without it (CI runs them: it runs the lab as root).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.errors import SiteFileError
from app.core.models import Asset
from app.services import SiteService

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, check=False, cwd=ROOT)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("patchdesk: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def consistent(path: Path) -> int:
    """Open the site as PatchDesk does; check SQLite's integrity and the audit chain;
    return how many assets it holds."""
    service = SiteService.open(path)
    try:
        check = service.store.db().execute("PRAGMA integrity_check").fetchall()
        assert check == [("ok",)], check
        assert service.audit_verify() == []
        return len(service.assets())
    finally:
        service.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@needs_root
def test_a_full_disk_is_a_clear_error_and_the_file_stays_consistent(small_disk: Path) -> None:
    path = small_disk / "full.pdsite"
    service = SiteService.open(path, create=True)
    service.add_asset(Asset(hostname="before-full", ips=("10.0.0.1",)))
    filler = small_disk / "filler"
    with filler.open("wb") as fh:  # everything the disk has left
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    failure: SiteFileError | None = None
    for i in range(200):  # the WAL may have some room left in its last pages
        try:
            service.add_asset(Asset(hostname=f"h{i}", notes="x" * 2000))
        except SiteFileError as exc:
            failure = exc
            break
    assert failure is not None and "disk is full" in str(failure)
    service.close()
    result = cli("--site", str(path), "asset", "add", "--hostname", "after-full")
    one_line_error(result, "could not be written: the disk is full", "Nothing of this change")
    filler.unlink()  # space again: the file is whole and takes writes
    count = consistent(path)
    assert cli("--site", str(path), "asset", "add", "--hostname", "later").returncode == 0
    assert consistent(path) == count + 1


@needs_root
def test_a_read_only_disk_is_named_not_called_damaged(tmp_path: Path) -> None:
    folder, ro = tmp_path / "rw", tmp_path / "ro"
    folder.mkdir()
    ro.mkdir()
    path = folder / "ro.pdsite"
    service = SiteService.open(path, create=True)
    service.add_asset(Asset(hostname="kept"))
    service.close()
    before = path.read_bytes()
    subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(ro)], check=True)
    try:
        for args in (["asset", "list"], ["asset", "add", "--hostname", "x"]):
            result = cli("--site", str(ro / "ro.pdsite"), *args)
            one_line_error(result, "read-only", "left untouched")
            assert "damaged" not in result.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert path.read_bytes() == before
    assert consistent(path) == 1


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_site_locked_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdsite"
    SiteService.open(path, create=True).close()
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    try:
        started = time.monotonic()
        result = cli("--site", str(path), "asset", "add", "--hostname", "blocked")
        waited = time.monotonic() - started
        one_line_error(result, "another program holds it locked", "Nothing of this change")
        assert waited < 30
        # Reading still works beside the writer (WAL).
        assert cli("--site", str(path), "asset", "list").returncode == 0
    finally:
        locker.communicate("")  # ends the holder: its transaction rolls back
    assert cli("--site", str(path), "asset", "add", "--hostname", "later").returncode == 0
    assert consistent(path) == 1


def damage(path: Path) -> None:
    """Fold the WAL into the file, then overwrite pages in its middle."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 3, min(len(data), 4096 * 12)):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))


def damaged_site_with_backup(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "d.pdsite"
    service = SiteService.open(path, create=True)
    service.add_asset(Asset(hostname="in-the-backup"))
    backup = tmp_path / "d.pdsite.v14-20261201T000000Z.bak"
    service.store.backup_to(backup)
    for i in range(300):
        service.add_asset(Asset(hostname=f"h{i}", notes="x" * 500))
    service.close()
    damage(path)
    return path, backup


def test_a_damaged_site_names_its_backup_and_site_restore_puts_it_back(tmp_path: Path) -> None:
    path, backup = damaged_site_with_backup(tmp_path)
    damaged_bytes = path.read_bytes()
    result = cli("--site", str(path), "asset", "list")
    one_line_error(result, "is damaged", f"The newest backup is {backup}",
                   f"patchdesk site restore --site {path} --from {backup}")
    assert path.read_bytes() == damaged_bytes  # refused untouched

    restored = cli("--site", str(path), "site", "restore", "--from", str(backup))
    assert restored.returncode == 0, restored.stderr
    kept = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    assert [p.read_bytes() for p in kept] == [damaged_bytes]  # nothing thrown away
    service = SiteService.open(path)
    try:
        assert [a.hostname for a in service.assets()] == ["in-the-backup"]
        events = service.audit_events(limit=5)
        assert events[0].action == "site.restore_backup"
        assert events[0].details["backup"] == str(backup)
    finally:
        service.close()
    consistent(path)


def test_a_damaged_site_without_backup_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nb.pdsite"
    service = SiteService.open(path, create=True)
    for i in range(300):
        service.add_asset(Asset(hostname=f"h{i}", notes="x" * 500))
    service.close()
    damage(path)
    one_line_error(cli("--site", str(path), "asset", "list"), "is damaged",
                   "No backup of it was found")
    one_line_error(cli("--site", str(path), "site", "restore", "--from",
                       str(tmp_path / "none.bak")), "There is no backup at")


WRITER = """
import sys
from app.core.models import Asset
from app.services import SiteService
service = SiteService.open(sys.argv[1])
print("open", flush=True)
i = 0
while True:
    i += 1
    service.add_asset(Asset(hostname=f"w{i}", notes="n" * 3000))
"""


def test_power_loss_mid_write_leaves_a_consistent_file(tmp_path: Path) -> None:
    """SIGKILL of a process in the middle of a stream of writes (no chance to finish or
    clean up), then the tail of its WAL torn off as a power cut mid-write would leave it,
    and its shared-memory index gone: the file opens whole, every surviving asset has its
    audit event and the chain verifies. Five rounds at random moments."""
    path = tmp_path / "power.pdsite"
    SiteService.open(path, create=True).close()
    rng = random.Random(1215)
    for _round in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT,
                                  env=ENV, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "open\n"
        time.sleep(rng.uniform(0.3, 1.2))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 4096:
            with wal.open("r+b") as fh:  # a torn last frame
                fh.truncate(wal.stat().st_size - rng.randrange(1, 4096))
        Path(f"{path}-shm").unlink(missing_ok=True)
        count = consistent(path)
        service = SiteService.open(path)
        try:
            added = [e for e in service.audit_events(limit=100000) if e.action == "asset.add"]
            assert len(added) == count  # no asset without its audit event, nor the reverse
        finally:
            service.close()
    assert count > 0
