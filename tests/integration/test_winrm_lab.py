"""The WinRM endpoint served from inside a lab host's network namespace (HTTPS, lab CA).

The same endpoint as tests/integration/test_winrm_endpoint.py, but as its own process in a
fresh "windows" lab host (``python -m tests.lab.winrm_endpoint``), reached over the lab's
bridge from the test's namespace — the way the next step (assess/deploy against simulated
Windows hosts) will use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.drivers.parsers.windows import parse_facts
from app.drivers.windows import script
from app.remote.winrm import CertificateError, WinRMCredential, WinRMTransport
from tests.lab.lab import HostInfo, Lab
from tests.lab.winrm_ca import LabCA

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def test_endpoint_in_a_lab_namespace_over_https(
        lab: Lab, lab_host: Callable[..., HostInfo], tmp_path: Path) -> None:
    host = lab_host(kind="windows")
    ca = LabCA(tmp_path / "ca")
    cert = ca.issue("srv22", host.ip)
    secret = tmp_path / "password"
    secret.write_text("Ns-Passw0rd!\n", encoding="utf-8")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, sys.executable, "-m", "tests.lab.winrm_endpoint",
         "--address", host.ip, "--port", "5986", "--host", "server2022",
         "--password-file", str(secret), "--cert", str(cert.cert_file),
         "--key", str(cert.key_file)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"serving https://{host.ip}:5986/wsman", proc.stderr
        cred = WinRMCredential("Administrator", "Ns-Passw0rd!", ca_file=str(ca.ca_file))
        res = WinRMTransport(host.ip, cred).run_ps(script("facts").text)
        assert res.ok, res.stderr
        assert parse_facts(res.stdout).facts.os_name == "Windows Server 2022 Standard"
        with pytest.raises(CertificateError):
            WinRMTransport(host.ip, WinRMCredential("Administrator", "Ns-Passw0rd!"),
                           retries=0).run_raw("hostname")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes its pipes
