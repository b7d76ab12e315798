"""Writing files the product hands to people (exports, reports): atomically and safely.

The content goes to a temporary file created with :func:`tempfile.mkstemp` in the target's
own folder (an unpredictable name, created exclusively: an existing file or a symlink
planted there by someone else is never opened), is flushed to disk, then replaces the
target with :func:`os.replace`. A crash or an error leaves the old file (or none), never
half a file and never a stray temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from app.core.errors import UserError

#: Permissions of a new file when the process's umask cannot be read.
_DEFAULT_UMASK = 0o022


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every
    thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _DEFAULT_UMASK


def _mode_for(target: Path) -> int:
    """The replaced file's permissions, or what a plain ``open()`` would have given."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


@contextmanager
def _replacing(path: Path) -> Iterator[tuple[int, Path]]:
    """A new temporary file beside ``path`` (its descriptor, which the caller closes, and
    its name); when the block ends without an error it replaces ``path``; it is removed
    either way."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        yield fd, tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_text(target: Path | str) -> Iterator[TextIO]:
    """Write a UTF-8 text file (newlines as given: CSV decides its own) via a temporary
    file beside ``target`` that replaces it on success.

    Raises:
        UserError: the folder cannot be written, or the file cannot be replaced (saying
            which file and why); the target is left as it was.
    """
    path = Path(target)
    with _replacing(path) as (fd, _tmp), \
            os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        os.fchmod(fh.fileno(), _mode_for(path))
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


@contextmanager
def atomic_binary(target: Path | str) -> Iterator[BinaryIO]:
    """Like :func:`atomic_text` for bytes (a PDF)."""
    path = Path(target)
    with _replacing(path) as (fd, _tmp), os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), _mode_for(path))
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_text(target: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (:func:`atomic_text`)."""
    with atomic_text(target) as fh:
        fh.write(text)


def write_bytes(target: Path | str, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (:func:`atomic_text`)."""
    with atomic_binary(target) as fh:
        fh.write(data)
