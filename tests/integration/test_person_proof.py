"""[12].8: approving, deploying with an approval and granting exceptions need proof of the
named person: their PIN, kept only as a scrypt hash in the site; the audit log records who
proved it and every wrong try."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.core.deployment import Gates, PackagePin, Phase, Stage
from app.services import SiteService
from app.store.deployments import DeploymentRepo


def run(*argv: str, stdin: str = "") -> tuple[int, str]:
    import sys

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        import app.cli.common as common

        common._stdin_lines = None  # each run reads its own stdin
        return main(list(argv), out=out), out.getvalue()
    finally:
        sys.stdin = old


@pytest.fixture
def site(tmp_path: Path) -> str:
    """A site with a deployment waiting for its named approval, and J. Smith's PIN."""
    path = str(tmp_path / "p.pdsite")
    assert run("--site", path, "asset", "add", "--hostname", "web01", "--ip", "10.0.0.5")[0] == 0
    assert run("--site", path, "person", "add", "J. Smith", "--pin-stdin",
               stdin="4711-blue\n")[0] == 0
    service = SiteService.open(path)
    try:
        web = service.find_assets("web01")[0]
        dep = service.deployments.plan([PackagePin("openssl", "3.0.2")],
                                       [(web, Stage.TEST)], Gates())
        dep = dep.moved(Phase.PREFLIGHT).moved(Phase.TEST_RING).moved(Phase.AWAITING_APPROVAL)
        with service.store.atomic() as db:
            DeploymentRepo(db).save(dep)
    finally:
        service.close()
    return path


def _audit(site: str) -> list[dict[str, object]]:
    return list(json.loads(run("--site", site, "audit", "list", "--json")[1]))


def test_a_typed_name_alone_no_longer_approves(site: str, capsys) -> None:
    code, _ = run("--site", site, "--actor", "someone-else", "deploy", "approve", "1", "--as",
                  "J. Smith")
    assert code == 2 and "--pin-stdin" in capsys.readouterr().err
    code, _ = run("--site", site, "--actor", "someone-else", "deploy", "approve", "1", "--as",
                  "J. Smith", "--pin-stdin", stdin="0000\n")
    assert code == 1 and "Wrong PIN for J. Smith" in capsys.readouterr().err
    failed = next(e for e in _audit(site) if e["action"] == "person.proof_failed")
    assert failed["outcome"] == "denied" and failed["actor"] == "someone-else"
    status = json.loads(run("--site", site, "deploy", "status", "1", "--json")[1])
    assert status["phase"] == "awaiting_approval"
    code, _ = run("--site", site, "deploy", "approve", "1", "--as", "Mallory", "--pin-stdin",
                  stdin="4711-blue\n")
    assert code == 1 and "Mallory has no PIN" in capsys.readouterr().err


def test_the_named_persons_pin_approves_and_the_audit_says_so(site: str) -> None:
    code, text = run("--site", site, "--actor", "tech", "deploy", "approve", "1", "--as",
                     "J. Smith", "--pin-stdin", stdin="4711-blue\n")
    assert code == 0 and "approved by J. Smith" in text
    proof = next(e for e in _audit(site) if e["action"] == "person.proved")
    assert proof["details"]["person"] == "J. Smith"  # type: ignore[index]
    assert proof["details"]["proved_by"] == "PIN"  # type: ignore[index]
    assert proof["object_type"] == "deployment" and proof["object_id"] == "1"


def test_run_with_approve_as_needs_the_pin(site: str, capsys) -> None:
    code, _ = run("--site", site, "deploy", "resume", "1", "--approve-as", "J. Smith")
    assert code == 2 and "--pin-stdin" in capsys.readouterr().err


def test_exceptions_need_the_pin_of_who_grants_them(site: str, capsys) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    args = ["--site", site, "exception", "add", "--patch", "openssl", "--reason", "vendor fix "
            "pending", "--until", until, "--by", "J. Smith"]
    assert run(*args)[0] == 2
    assert run(*args, "--pin-stdin", stdin="wrong\n")[0] == 1
    assert json.loads(run("--site", site, "exception", "list", "--json")[1]) == []
    code, _ = run(*args, "--pin-stdin", stdin="4711-blue\n")
    assert code == 0
    assert [r["decided_by"] for r in json.loads(run("--site", site, "exception", "list",
                                                    "--json")[1])] == ["J. Smith"]


def test_pins_are_stored_hashed_and_people_are_not_replaced(site: str, capsys) -> None:
    with sqlite3.connect(site) as db:
        [(stored,)] = db.execute("SELECT pin_hash FROM people").fetchall()
    assert stored.startswith("scrypt$16384$8$1$") and "4711" not in stored
    assert b"4711-blue" not in Path(site).read_bytes()
    code, _ = run("--site", site, "person", "add", "j. smith", "--pin-stdin", stdin="9999\n")
    assert code == 1 and "already has a PIN" in capsys.readouterr().err
    assert run("--site", site, "person", "add", "Bob", "--pin-stdin", stdin="12\n")[0] == 2
    added = next(e for e in _audit(site) if e["action"] == "person.add")
    assert "4711" not in json.dumps(added)


def test_too_many_wrong_pins_lock_the_name(site: str, capsys) -> None:
    for _ in range(5):
        run("--site", site, "deploy", "approve", "1", "--as", "J. Smith", "--pin-stdin",
            stdin="bad-pin\n")
    capsys.readouterr()
    code, _ = run("--site", site, "deploy", "approve", "1", "--as", "J. Smith", "--pin-stdin",
                  stdin="4711-blue\n")
    assert code == 1 and "Too many wrong PINs" in capsys.readouterr().err


def test_change_pin_needs_the_current_one(site: str, capsys) -> None:
    assert run("--site", site, "person", "change-pin", "J. Smith", "--pin-stdin",
               stdin="wrong\nnew-pin-1\n")[0] == 1
    assert "Wrong PIN" in capsys.readouterr().err
    assert run("--site", site, "person", "change-pin", "J. Smith", "--pin-stdin",
               stdin="4711-blue\nnew-pin-1\n")[0] == 0
    assert run("--site", site, "deploy", "approve", "1", "--as", "J. Smith", "--pin-stdin",
               stdin="4711-blue\n")[0] == 1
    assert run("--site", site, "deploy", "approve", "1", "--as", "J. Smith", "--pin-stdin",
               stdin="new-pin-1\n")[0] == 0
    assert "person.pin_changed" in {e["action"] for e in _audit(site)}
