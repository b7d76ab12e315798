"""Opening, checking, migrating and connecting to a site file (one SQLite file per site).

A file is checked read-only before anything is written to it: a file that is not SQLite,
not a PatchDesk site, damaged, or written by a newer PatchDesk is refused and left untouched.
Before migrating an older file a backup copy is taken next to it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from app.core.clock import utcnow as utcnow  # the core's clock, kept here for old callers
from app.core.errors import SiteFileError
from app.store.schema import APPLICATION_ID, known_migration_names, migrations

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
SITE_SUFFIX = ".pdsite"
BUSY_TIMEOUT_MS = 5000
#: Site files carry password hashes and the sealed vault: owner-only, whatever the umask.
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (never through a symlink, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    os.close(fd)


def make_private(path: Path) -> None:
    """Tighten an existing site file (and its -wal/-shm) to 0600 if group/others may read it.

    SQLite gives the -wal and -shm files the database file's permissions, so the main file's
    mode is the one that matters; the companions are fixed too when they already exist.
    """
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = candidate.stat()
        except FileNotFoundError:
            continue
        if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
            candidate.chmod(FILE_MODE)
            log.info("made %s private (mode 0600)", candidate)


def _readonly_check(path: Path) -> list[str]:
    """Check an existing file without writing to it; return the migrations applied.

    Raises:
        SiteFileError: the file is not a usable PatchDesk site.
    """
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise SiteFileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if header != SQLITE_MAGIC:
        raise SiteFileError(
            f"{path} is not a PatchDesk site: it is not an SQLite database. "
            "Choose a .pdsite file, or create a new site."
        )
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise SiteFileError(
            f"{path} cannot be opened for writing: the file or its folder is read-only "
            "(a read-only disk, mount or folder). It was left untouched; copy it to a "
            "writable folder, or make it writable, to open it.")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise SiteFileError(f"Cannot open {path}: {exc}") from exc
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise SiteFileError(
                f"{path} is an SQLite database but not a PatchDesk site; it was left untouched."
            )
        result = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if result != ["ok"]:
            raise damaged(path, "; ".join(result)[:200])
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
            (migrations.migrations_table,),
        ).fetchone()
        if not has_table:
            return []
        applied = [
            row[0]
            for row in conn.execute(
                f"SELECT name FROM [{migrations.migrations_table}] "
                "WHERE migration_set = ? ORDER BY rowid",
                (migrations.name,),
            )
        ]
        if applied and all(name in known_migration_names() for name in applied):
            _check_code_objects(path, conn, tuple(applied))
        return applied
    except SiteFileError:
        raise
    except sqlite3.DatabaseError as exc:
        raise damaged(path, str(exc)) from exc
    finally:
        conn.close()


def damaged(path: Path, detail: str) -> SiteFileError:
    """The refusal of a damaged site, naming its newest backup when there is one
    (:attr:`SiteFileError.backup`: the GUI offers to restore it)."""
    found = backups_of(path)
    error = SiteFileError(
        f"{path} is damaged ({detail}). It was left untouched. "
        + (f"The newest backup is {found[0]} ({len(found)} in all); restore it with: "
           f"patchdesk site restore --site {path} --from {found[0]}" if found else
           "No backup of it was found beside it; restore it from your own backups."))
    error.backup = found[0] if found else None
    return error


def _make_folders(folder: Path) -> None:
    """Create the missing folders of ``folder`` owner-only (0700); existing ones are kept."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for item in reversed(missing):
        item.mkdir(mode=FOLDER_MODE)
        item.chmod(FOLDER_MODE)  # mkdir's mode is filtered by the umask


_CODE_OBJECTS_SQL = "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')"


def _fold(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _code_objects(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """The triggers and views of a database: (type, name) → SQL with whitespace folded."""
    return {(kind, name): _fold(sql) for kind, name, sql in conn.execute(_CODE_OBJECTS_SQL)}


@functools.cache
def _expected_sql(applied: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """The triggers and views a site gets from exactly these migrations, as created (built
    in an in-memory database)."""
    conn = sqlite3.connect(":memory:")
    try:
        db = Database(conn)
        # exactly the applied set, in this build's order (a file may have skipped none, but
        # a development build may have applied a later-numbered migration first)
        for migration in migrations._migrations:  # sqlite-utils has no public API for this
            if migration.name in applied:
                with db.atomic():
                    migration.fn(db)
        return {(kind, name): sql for kind, name, sql in conn.execute(_CODE_OBJECTS_SQL)}
    finally:
        conn.close()


def _expected_code_objects(applied: tuple[str, ...]) -> dict[tuple[str, str], str]:
    return {key: _fold(sql) for key, sql in _expected_sql(applied).items()}


def _check_code_objects(path: Path, conn: sqlite3.Connection, applied: tuple[str, ...]) -> None:
    """Refuse a file whose triggers or views are not exactly the ones PatchDesk creates.

    Triggers and views run SQL on every open or write: a crafted site file with a trigger of
    its own once deleted pinned host keys (so a different key was "first use" again) and
    widened a credential's scope. Such a file is refused, untouched, naming what was found.
    """
    expected = _expected_code_objects(applied)
    found = _code_objects(conn)
    unknown = sorted(f"{kind} {name}" for kind, name in found.keys() - expected.keys())
    changed = sorted(f"{kind} {name}" for key in found.keys() & expected.keys()
                     if found[key] != expected[key] for kind, name in [key])
    missing = sorted(f"{kind} {name}" for kind, name in expected.keys() - found.keys())
    if unknown or changed:
        what = "; ".join(filter(None, [
            f"unknown: {', '.join(unknown)}" if unknown else "",
            f"altered: {', '.join(changed)}" if changed else ""]))
        raise SiteFileError(
            f"{path} contains database code PatchDesk did not write ({what[:300]}). It may "
            "have been crafted to change credentials or host keys; it was left untouched. "
            "Open a trusted copy or a backup instead.")
    if missing:  # restored (and audited) by SiteDB.open; the hash chain tells what changed
        log.warning("%s lacks %s (protection triggers removed?)", path, ", ".join(missing))


def _restore_code_objects(db: Database) -> list[str]:
    """Re-create PatchDesk's own triggers/views that were dropped from a file (the append-only
    guards of the audit log and policy history); returns their names."""
    expected = _expected_sql(tuple(m.name for m in migrations.applied(db)))
    missing = sorted(expected.keys() - _code_objects(db.conn).keys())
    for key in missing:
        db.conn.execute(expected[key])
    return [f"{kind} {name}" for kind, name in missing]


def write_failure(path: Path, exc: sqlite3.Error) -> SiteFileError | None:
    """What a failed write to the site file means for a person (disk full, read-only,
    locked by another program, I/O error), or None when it is not about the file."""
    text = str(exc).lower()
    if "disk is full" in text or "disk full" in text:
        why = "the disk is full; free some space and try again"
    elif "readonly" in text or "read-only" in text:
        why = "the file or its folder is read-only; copy the site to a writable folder"
    elif "locked" in text or "busy" in text:
        why = (f"another program holds it locked (waited {BUSY_TIMEOUT_MS // 1000} s); "
               "close it or wait, then try again")
    elif "disk i/o error" in text:
        why = "the disk reported an I/O error; check the disk and keep a copy of the file"
    else:
        return None
    return SiteFileError(f"{path} could not be written: {why}. Nothing of this change "
                         "was saved.")


def backups_of(path: Path) -> list[Path]:
    """The backup copies PatchDesk made of a site (``NAME.*.bak`` beside it), newest
    first."""
    try:
        found = [p for p in path.parent.glob(f"{path.name}.*.bak") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")


def _backup_copy(path: Path, applied: list[str]) -> Path:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.v{len(applied)}-{stamp}.bak")
    _create_private(target)
    src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    log.info("backed up %s to %s before migrating", path, target)
    return target


class SiteDB:
    """A checked, migrated site file; hands out one sqlite-utils Database per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False) -> SiteDB:
        """Open (and if asked, create) a site file, migrating it to the current schema.

        Raises:
            SiteFileError: the file is missing (and ``create`` is false), not a PatchDesk
                site, damaged or from a newer PatchDesk. The file is not modified.
        """
        path = Path(path).expanduser()
        known = known_migration_names()
        if path.exists():
            if path.is_dir():
                raise SiteFileError(f"{path} is a folder, not a site file.")
            if path.stat().st_size == 0:
                raise SiteFileError(f"{path} is an empty file, not a PatchDesk site.")
            applied = _readonly_check(path)
            unknown = [name for name in applied if name not in known]
            if unknown:
                raise SiteFileError(
                    f"{path} was written by a newer PatchDesk (schema {', '.join(unknown)}); "
                    "update PatchDesk to open it. The file was left untouched."
                )
            if not applied:
                raise SiteFileError(f"{path} is a PatchDesk file with no schema; it is damaged.")
            try:
                make_private(path)
            except OSError as exc:  # a read-only medium: opening still works, say why not
                log.warning("cannot make %s private: %s", path, exc)
            if len(applied) < len(known):
                _backup_copy(path, applied)
        elif not create:
            raise SiteFileError(f"There is no site at {path}.")
        else:
            try:
                _make_folders(path.parent)
                _create_private(path)
            except OSError as exc:
                raise SiteFileError(f"Cannot create {path}: {exc.strerror or exc}") from exc
        site = cls(path)
        db = site.db()
        try:
            if not path.exists() or db.conn.execute("PRAGMA application_id").fetchone()[0] == 0:
                db.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(db)
            restored = _restore_code_objects(db)
            if restored:
                from app.store.repos import AuditRepo  # repos imports this module

                with site.atomic() as tx:
                    AuditRepo(tx).append("patchdesk", "site.protections_restored", "site", "",
                                         {"restored": restored})
        except sqlite3.OperationalError as exc:
            site.close()
            raise SiteFileError(f"Cannot write {path}: {exc}") from exc
        return site

    def db(self) -> Database:
        """The calling thread's connection (created on first use)."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
                _configure(conn)
            except sqlite3.Error as exc:
                raise SiteFileError(f"Cannot open {self.path}: {exc}") from exc
            with self._lock:
                self._all.append(conn)
            db = Database(conn)
            self._local.db = db
        return db

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        """A write transaction on the calling thread's connection (nested: a savepoint).

        The outermost block starts with ``BEGIN IMMEDIATE``: it takes the write lock up
        front, so a concurrent writer waits for the busy timeout instead of failing at
        once with "database is locked" when a deferred read transaction tries to upgrade
        (WAL mode returns SQLITE_BUSY without waiting in that case).
        """
        db = self.db()
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.conn.rollback()  # a no-op if an error already ended the transaction
                raise
            else:
                db.conn.commit()
        except sqlite3.OperationalError as exc:  # the file, not the change: say which
            with contextlib.suppress(sqlite3.Error):
                db.conn.rollback()  # a no-op when no transaction is open
            failure = write_failure(self.path, exc)
            if failure is None:
                raise
            raise failure from exc

    def schema_version(self) -> int:
        """How many migrations this file has applied."""
        return len(migrations.applied(self.db()))

    def close(self) -> None:
        """Close every connection this object opened (on any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            # Closing from another thread than the creator is refused by sqlite3 for
            # connections still in use there; the thread's exit closes it instead.
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.close()
        self._local = threading.local()

    def backup_to(self, target: Path) -> None:
        """Write a consistent copy of the site to ``target`` (SQLite online backup), 0600."""
        target = Path(target)
        if not target.exists():
            _create_private(target)
        else:
            make_private(target)
        dst = sqlite3.connect(target)
        try:
            self.db().conn.backup(dst)
        finally:
            dst.close()



def restore_backup(path: Path, backup: Path) -> Path:
    """Put a backup copy in place of a (damaged) site file: the damaged file and its
    -wal/-shm are kept beside it as ``NAME.damaged-STAMP`` (never deleted, and a stale WAL
    is never replayed onto the restored copy), the backup is copied in with SQLite's
    backup (0600). Returns where the damaged file was kept.

    Raises:
        SiteFileError: the backup is not a usable site, or the files cannot be moved.
    """
    path, backup = Path(path).expanduser(), Path(backup).expanduser()
    if not backup.is_file():
        raise SiteFileError(f"There is no backup at {backup}.")
    applied = _readonly_check(backup)
    if not applied or any(name not in known_migration_names() for name in applied):
        raise SiteFileError(f"{backup} is not a usable PatchDesk site backup.")
    kept = path.with_name(f"{path.name}.damaged-{utcnow().strftime('%Y%m%dT%H%M%SZ')}")
    try:
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                part.rename(f"{kept}{suffix}")
        _create_private(path)
        src = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(path)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except (OSError, sqlite3.Error) as exc:
        raise SiteFileError(f"Cannot restore {path} from {backup}: {exc}") from exc
    log.warning("restored %s from %s; the damaged file is kept as %s", path, backup, kept)
    return kept
