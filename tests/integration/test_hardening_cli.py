"""Hardening findings of [12] seen from the command line: refused input exits 2 with one
line, nothing saved, never a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.services import SiteService


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> str:
    path = str(tmp_path / "h.pdsite")
    assert run("--site", path, "asset", "add", "--hostname", "web01", "--ip", "10.0.0.5")[0] == 0
    return path


def _deployments(site: str) -> list[object]:
    service = SiteService.open(site)
    try:
        return list(service.deployments.all())
    finally:
        service.close()


@pytest.mark.parametrize("extra", [
    ["--patch", "x;touch /tmp/p=1.0"], ["--patch", "openssl=1.0;reboot"],
    ["--patch", "openssl=1.0", "--max-failure-rate", "5"],
    ["--patch", "openssl=1.0", "--pilot-success", "-1"],
    ["--patch", "openssl=1.0", "--wave-size", "-1"],
])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_bad_pins_and_gates_exit_2_nothing_saved(site: str, capsys, monkeypatch,
                                                 command: str, extra: list[str]) -> None:
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", "correct horse battery")
    service = SiteService.open(site)
    try:
        service.credentials.unlock("correct horse battery", create=True)
    finally:
        service.close()
    capsys.readouterr()
    yes = ["--yes"] if command == "run" else []
    code, _ = run("--site", site, "deploy", command, *extra, "--targets", "web01", *yes)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("patchdesk: error: invalid ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert _deployments(site) == []
    audit = json.loads(run("--site", site, "audit", "list", "--json")[1])
    assert "deploy.plan" not in {e["action"] for e in audit}


def test_the_master_password_is_taken_out_of_the_environment(tmp_path: Path, monkeypatch,
                                                             ) -> None:
    """[12].13: once the CLI has read $PATCHDESK_MASTER_PASSWORD, no child it starts (ip,
    arp, nmap, ssh helpers) can inherit it: it is gone from os.environ while the command
    runs, and the vault still unlocks with it."""
    import subprocess
    import sys

    import app.cli.creds as creds_cli

    site = str(tmp_path / "e.pdsite")
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", "correct horse battery")
    seen: dict[str, str] = {}
    real_unlock = creds_cli.unlock

    def spying_unlock(service, args, *, create: bool = False) -> None:  # type: ignore[no-untyped-def]
        real_unlock(service, args, create=create)
        child = subprocess.run([sys.executable, "-c", "import os;print(os.environ.get("
                                "'PATCHDESK_MASTER_PASSWORD', '<unset>'))"],
                               capture_output=True, text=True, check=True)
        seen["child"] = child.stdout.strip()

    monkeypatch.setattr(creds_cli, "unlock", spying_unlock)
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    code, _ = run("--site", site, "cred", "add", "ops", "--ssh-user", "ops",
                  "--password-stdin", "--sudo", "nopasswd", "--scope", "all")
    assert code == 0
    assert seen["child"] == "<unset>"
    service = SiteService.open(site)
    try:
        service.credentials.unlock("correct horse battery")
        assert [c.name for c in service.credentials.credentials()] == ["ops"]
    finally:
        service.close()
