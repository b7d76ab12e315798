"""Scan → mark → assess a simulated Windows host living in its own lab namespace.

A "windows" lab host (RPC/SMB/RDP/WinRM-HTTP listeners and a NetBIOS name) also serves the
simulated WinRM endpoint over HTTPS on 5986 (``python -m tests.lab.winrm_endpoint`` inside
its namespace, certificate from a lab CA). ``patchdesk scan`` from the lab's client
namespace finds it and marks it Windows; ``patchdesk assess --all`` then reaches it over
WinRM with the credential's CA and lists its missing KBs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import app.cli.common
from app.cli import main
from tests.lab.lab import HostInfo, Lab
from tests.lab.winrm_ca import LabCA

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Ns-Passw0rd!"
pytestmark = pytest.mark.lab


def cli(site: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    app.cli.common._stdin_lines = None
    try:
        code = main(["--site", str(site), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_scan_marks_a_windows_host_and_assess_reaches_it_over_winrm(
        lab: Lab, lab_host: Callable[..., HostInfo], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", "lab master password")
    host = lab_host(kind="windows", name="winsrv", netbios_name="SRV22-LAB01")
    ca = LabCA(tmp_path / "ca")
    cert = ca.issue("srv22-lab01", host.ip)
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, sys.executable, "-m", "tests.lab.winrm_endpoint",
         "--address", host.ip, "--port", "5986", "--host", "server2022",
         "--password-file", str(secret), "--cert", str(cert.cert_file),
         "--key", str(cert.key_file)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"serving https://{host.ip}:5986/wsman"
        site = tmp_path / "scan.pdsite"
        scan = lab.client_run(
            [sys.executable, "-m", "app.cli", "--site", str(site), "scan", host.ip, "--json"],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=240)
        assert scan.returncode == 0, scan.stderr[-2000:]
        [found] = json.loads(scan.stdout)["hosts"]
        assert {135, 445, 3389, 5985, 5986} <= set(found["open_ports"])
        assert found["os_guess"] == "Windows"
        code, text = cli(site, "asset", "list", "--json")
        [asset] = json.loads(text)
        assert asset["os_family"] == "windows" and asset["ips"] == [host.ip]
        # One WinRM credential for the site (HTTPS 5986 by default, the lab CA).
        code, text = cli(site, "cred", "add", "windows", "--scope", "all",
                         "--winrm-user", "Administrator",
                         "--password-stdin", "--ca-file", str(ca.ca_file),
                         stdin=PASSWORD + "\n")
        assert code == 0, text
        code, text = cli(site, "assess", "--all", "--json")
        assert code == 0, text
        [outcome] = json.loads(text)
        assert outcome["ok"] and outcome["driver"] == "windows"
        assert {u["kb"]: u["severity"] for u in outcome["missing"]
                if u["source"] == "windows-update"} == {
            "KB5046616": "critical", "KB5046540": "important"}
        assert outcome["reboot_required"] is True
        code, text = cli(site, "asset", "list", "--json")
        [asset] = json.loads(text)
        assert (asset["os_name"], asset["os_version"], asset["os_build"]) == (
            "Windows Server 2022 Standard", "21H2", "10.0.20348.2762")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
