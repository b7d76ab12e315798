"""pytest fixtures: three simulated Windows hosts over WinRM on loopback (HTTPS, lab CA).

``windows_trio`` starts Windows 11 23H2 (domain member), Server 2022 and a Windows 10 22H2
workgroup PC (tests/lab/winrm_hosts.py) as real WinRM endpoints (NTLM, TLS with a
certificate from a fresh lab CA) on three 127.x addresses sharing ONE port, as real
Windows hosts share 5986 — so one credential with one port reaches all three. The second
octet is random per run so concurrent test runs do not meet. Only 127.0.0.0/8 is used.
Loaded by tests/conftest.py.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab.winrm_ca import LabCA
from tests.lab.winrm_endpoint import WinRMEndpoint
from tests.lab.winrm_hosts import PRESETS

USER, PASSWORD = "Administrator", "Lab-Passw0rd!"
TRIO = ("win11", "server2022", "workgroup")


@dataclass
class WindowsTrio:
    """The three running endpoints and how to reach them."""

    endpoints: dict[str, WinRMEndpoint]  # preset name -> endpoint
    ca: LabCA
    port: int
    user: str = USER
    password: str = PASSWORD

    @property
    def ca_file(self) -> Path:
        """The lab CA certificate that validates all three."""
        return self.ca.ca_file

    def ip(self, name: str) -> str:
        """The address of one host."""
        return str(self.endpoints[name].address)

    def hostname(self, name: str) -> str:
        """The Windows computer name of one host."""
        return self.endpoints[name].host.name


def _free_shared_port(addresses: list[str]) -> int:
    for _ in range(50):
        probe = socket.socket()
        probe.bind((addresses[0], 0))
        port = int(probe.getsockname()[1])
        probe.close()
        ok = True
        for address in addresses[1:]:
            with socket.socket() as other:
                try:
                    other.bind((address, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on every trio address")


def start_trio(directory: Path, *, names: tuple[str, ...] = TRIO) -> WindowsTrio:
    """Start the endpoints (HTTPS, NTLM; Basic off) and return them (stop with
    :func:`stop_trio`)."""
    ca = LabCA(directory / "ca")
    octet = random.randint(100, 250)
    addresses = [f"127.{octet}.0.{31 + i}" for i in range(len(names))]
    port = _free_shared_port(addresses)
    endpoints: dict[str, WinRMEndpoint] = {}
    try:
        for name, address in zip(names, addresses, strict=True):
            host = PRESETS[name]()
            # The facts report the address the host is really reached at.
            for nic in host.interfaces:
                nic["addresses"] = [address, *nic["addresses"][1:]]
            cert = ca.issue(host.name.lower(), address)
            endpoints[name] = WinRMEndpoint(host, address=address, port=port,
                                            users=[(USER, PASSWORD)], tls=cert).start()
    except Exception:
        for ep in endpoints.values():
            ep.stop()
        raise
    return WindowsTrio(endpoints, ca, port)


def stop_trio(trio: WindowsTrio) -> None:
    """Stop every endpoint."""
    for ep in trio.endpoints.values():
        ep.stop()


@pytest.fixture
def windows_trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WindowsTrio]:
    """Windows 11, Server 2022 and a workgroup PC over WinRM HTTPS on loopback."""
    trio = start_trio(tmp_path_factory.mktemp("windows-trio"))
    try:
        yield trio
    finally:
        stop_trio(trio)
