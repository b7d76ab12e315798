"""Simulated Windows hosts in the lab: a WinRM endpoint per "windows" host with a preset.

A lab host of kind ``windows`` with ``HostSpec.windows`` naming a preset of
tests/lab/winrm_hosts.py (``win11``, ``server2022``, ``workgroup``) runs ONE process in its
network namespace: ``python -m tests.lab.winrm_endpoint`` serving WinRM over HTTPS on 5986
(certificate from the lab's CA, :attr:`Lab.winrm_ca_file`) and HTTP on 5985 (NTLM with
message encryption), plus the port-only listeners of a Windows box (135, 139, 445, 3389,
NBSTAT on UDP 137) from tests/lab/devices.py — so a discovery scan from the client
namespace sees a Windows machine and ``assess`` reaches it. Its state model lives in that
process: a restart of the process (``lab.simulate_reboot``) restores the preset. The
process writes a JSON snapshot of the state after every script (:func:`state`).

The endpoint needs pyspnego and cryptography (the project's environment), so it runs with
the interpreter that has them (this one, ``PATCHDESK_LAB_PYTHON`` or the repository's
``.venv``); without one such hosts start port-only with a note. Stdlib only at import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: ``Administrator`` with this password logs in to every simulated Windows lab host.
WINRM_USER, WINRM_PASSWORD = "Administrator", "Lab-Passw0rd!"
PRESETS = ("win11", "server2022", "workgroup")


def winrm_python() -> str | None:
    """An interpreter that can run the endpoint (pyspnego + cryptography), or None."""
    if importlib.util.find_spec("spnego") and importlib.util.find_spec("cryptography"):
        return sys.executable
    for cand in (os.environ.get("PATCHDESK_LAB_PYTHON"), str(REPO / ".venv" / "bin" / "python")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class WindowsCA:
    """The lab's CA for the endpoints' certificates, made on first use (cryptography is
    imported only then)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ca: Any = None

    @property
    def ca_file(self) -> Path:
        """The CA certificate a WinRM credential validates the lab hosts with."""
        return self._get().ca_file  # type: ignore[no-any-return]

    def _get(self) -> Any:
        if self._ca is None:
            from tests.lab.winrm_ca import LabCA

            self._ca = LabCA(self.directory, "PatchDesk Lab Windows CA")
        return self._ca

    def issue(self, host: str, ip: str) -> tuple[Path, Path]:
        """Certificate and key files for one host."""
        cert = self._get().issue(host, ip)
        return cert.cert_file, cert.key_file


def endpoint_argv(python: str, preset: str, ip: str, mac: str, netbios: str,
                  host_dir: Path, ca: WindowsCA) -> list[str]:
    """The command (to run inside the host's namespace) serving one simulated host."""
    if preset not in PRESETS:
        raise ValueError(f"unknown Windows preset {preset!r} (one of {', '.join(PRESETS)})")
    secret = host_dir / "winrm-password"
    secret.write_text(WINRM_PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o600)
    cert, key = ca.issue(f"{preset}-lab", ip)
    return [python, "-m", "tests.lab.winrm_endpoint", "--address", ip, "--port", "5986",
            "--http-port", "5985", "--host", preset, "--user", WINRM_USER,
            "--password-file", str(secret), "--cert", str(cert), "--key", str(key),
            "--devices", mac, "--netbios", netbios, "--state-file", str(state_file(host_dir))]


def endpoint_env(path: str) -> dict[str, str]:
    """The endpoint process's environment (the repository importable)."""
    return {"PATH": path, "LANG": "C", "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}


def state_file(host_dir: Path) -> Path:
    """Where the endpoint writes its state snapshot."""
    return host_dir / "winrm-state.json"


def state(host_dir: Path) -> dict[str, Any]:
    """The host's last state snapshot (installs, notices, last boot, tasks, ...)."""
    return dict(json.loads(state_file(host_dir).read_text(encoding="utf-8")))
