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
    code, out = run("--site", site, "deploy", command, *extra, "--targets", "web01", *yes)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("patchdesk: error: invalid ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert _deployments(site) == []
    audit = json.loads(run("--site", site, "audit", "list", "--json")[1])
    assert "deploy.plan" not in {e["action"] for e in audit}
