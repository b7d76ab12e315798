"""[12].17: bad input on the command line or in a CSV gives a clear one-line error (or is
handled safely), never a traceback; nothing a host or a file supplies can drive the
terminal with control characters. Run as a real process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def patchdesk(*argv: str | bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "app", *argv], cwd=cwd, env=env,
                          capture_output=True, timeout=120, check=False)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert err.startswith("patchdesk: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("option", ["--hostname", "--notes", "--location"])
def test_invalid_utf8_in_argv_is_a_usage_error(tmp_path: Path, option: str) -> None:
    args = ["asset", "add", "--hostname", "ok"] if option != "--hostname" else ["asset", "add"]
    proc = patchdesk("--site", "s.pdsite", *args, option.encode(), b"we\xffb", cwd=tmp_path)
    err = one_line_error(proc)
    assert proc.returncode == 2 and "not valid UTF-8" in err
    assert not (tmp_path / "s.pdsite").exists()


@pytest.mark.parametrize("limit", ["-5", "0", "10000000"])
def test_audit_list_limit_out_of_range(tmp_path: Path, limit: str) -> None:
    assert patchdesk("--site", "s.pdsite", "asset", "add", "--hostname", "a",
                     cwd=tmp_path).returncode == 0
    proc = patchdesk("--site", "s.pdsite", "audit", "list", "--limit", limit, cwd=tmp_path)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert b"--limit" in proc.stderr and proc.stdout == b""


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    proc = patchdesk("--site", "s.pdsite", "asset", "add", "--hostname", "x\x1b[2J\x07y",
                     cwd=tmp_path)
    err = one_line_error(proc)
    assert "\x1b" not in err and "\x07" not in err and "\\x1b" in err
    assert patchdesk("--site", "s.pdsite", "asset", "add", "--hostname", "ok", "--location",
                     "rack\x1b]0;owned\x07 2", cwd=tmp_path).returncode == 0
    listed = patchdesk("--site", "s.pdsite", "asset", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert b"\x1b" not in listed.stdout and b"\x07" not in listed.stdout
    assert b"rack\\x1b]0;owned\\x07 2" in listed.stdout


@pytest.mark.parametrize(("content", "words"), [
    (b"hostname,notes\nh1," + b"a" * 140_000 + b"\n", "128 kB"),
    (b"hostname,notes\nh1,a\x00b\n", "NUL"),
    ("hostname,notes\nh1,x\n".encode("utf-16-be"), "NUL"),
])
def test_bad_csv_files_are_refused_clearly(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "in.csv").write_bytes(content)
    proc = patchdesk("--site", "s.pdsite", "import", "csv", "in.csv", cwd=tmp_path)
    err = one_line_error(proc)
    assert proc.returncode == 1 and words in err
    listed = patchdesk("--site", "s.pdsite", "asset", "list", "--json", cwd=tmp_path)
    assert listed.stdout.strip() in (b"[]", b"")


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_csv_in_another_encoding_is_read_right(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "in.csv").write_bytes("hostname,notes\nh1,café über\n".encode(encoding))
    proc = patchdesk("--site", "s.pdsite", "import", "csv", "in.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = patchdesk("--site", "s.pdsite", "asset", "show", "h1", "--json", cwd=tmp_path)
    assert "café über" in listed.stdout.decode("utf-8")
