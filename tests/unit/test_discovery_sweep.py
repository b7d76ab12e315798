"""The sweep against real listeners on loopback addresses (127.0.0.0/8 only, never a LAN).

On Linux the whole of 127/8 is local: an address with nothing listening answers RST
(alive), a listener whose accept queue is full drops SYNs (silent), and asyncio servers
play SSH and web UIs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from app.core.progress import CancelToken, Progress
from app.discovery import (
    HostResult,
    ScanOptions,
    effective_concurrency,
    parse_targets,
    raise_nofile_limit,
    scan,
)
from app.discovery import sweep as sweep_module
from app.discovery.connect import AsyncioEngine, PortState, ProbeCallback, tcp_probe

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs all of 127.0.0.0/8 routed to lo (Linux)"
)

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
HTTP_PAGE = (
    b"HTTP/1.1 200 OK\r\nServer: FakeJet/1.0\r\nContent-Type: text/html\r\n\r\n"
    b"<html><head><title>Fake \x1b[31mPrinter</title></head></html>"
)


def _block() -> str:
    """A random 127.x.y prefix, so parallel test runs do not share addresses."""
    return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}"


@dataclass
class Loopback:
    """Listeners on loopback addresses, served by a private event loop in a thread."""

    loop: asyncio.AbstractEventLoop
    servers: list[asyncio.Server] = field(default_factory=list)
    plain: list[socket.socket] = field(default_factory=list)

    def listen(self, ip: str, port: int = 0, greeting: bytes | None = None) -> int:
        """Accept connections; send ``greeting`` (or answer HTTP if it is HTTP_PAGE)."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                if greeting == HTTP_PAGE:
                    await reader.readuntil(b"\r\n\r\n")
                if greeting:
                    writer.write(greeting)
                    await writer.drain()
                await asyncio.wait_for(reader.read(100), 1.0)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(handle, ip, port)

        server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def silent(self, ip: str, port: int = 0) -> int:
        """A listener that never accepts: once its queue is full, SYNs are dropped."""
        listener = socket.socket()
        listener.bind((ip, port))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        self.plain.append(listener)
        for _ in range(2):  # fill the accept queue (backlog 0 still queues one)
            filler = socket.socket()
            filler.settimeout(0.05)
            try:
                filler.connect((ip, port))
            except OSError:
                filler.close()
                break
            self.plain.append(filler)
        return port


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fixture = Loopback(loop)
    try:
        yield fixture
    finally:

        async def stop() -> None:
            for server in fixture.servers:
                server.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        for sock in fixture.plain:
            sock.close()


def no_neighbours() -> dict[str, str]:
    return {}


@dataclass
class Lab:
    """Four loopback hosts: .1 has services, .2 and .4 have none, .3 drops everything."""

    block: str
    open_port: int
    ssh_port: int
    web_port: int
    quiet_port: int

    def ip(self, host: int) -> str:
        return f"{self.block}.{host}"

    def options(self, **overrides: object) -> ScanOptions:
        values: dict[str, object] = {
            "ports": (self.open_port, self.ssh_port, self.web_port, self.quiet_port),
            "liveness_ports": (self.open_port, self.quiet_port),
            "timeout": 0.4,
            "resolve_names": False,
            "ssh_ports": (self.ssh_port,),
            "web_ports": ((self.web_port, False),),
        }
        values.update(overrides)
        return ScanOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def lab(loopback: Loopback) -> Lab:
    for _attempt in range(5):
        block = _block()
        try:
            open_port = loopback.listen(f"{block}.1")
            ssh_port = loopback.listen(f"{block}.1", greeting=SSH_BANNER)
            web_port = loopback.listen(f"{block}.1", greeting=HTTP_PAGE)
            quiet_port = loopback.silent(f"{block}.3")
            loopback.silent(f"{block}.3", open_port)
            return Lab(block, open_port, ssh_port, web_port, quiet_port)
        except OSError:
            continue
    pytest.skip("could not bind loopback listeners")


def by_ip(hosts: list[HostResult]) -> dict[str, HostResult]:
    return {host.ip: host for host in hosts}


# --- the sweep ----------------------------------------------------------------------------


def test_open_refused_and_silent(lab: Lab) -> None:
    streamed: list[HostResult] = []
    result = scan(
        parse_targets(f"{lab.ip(1)}-4"),
        lab.options(),
        on_host=streamed.append,
        neighbours=no_neighbours,
    )
    hosts = by_ip(result.hosts)
    assert set(hosts) == {lab.ip(1), lab.ip(2), lab.ip(4)}  # .3 is silent: not reported
    assert [host.ip for host in result.hosts] == [lab.ip(1), lab.ip(2), lab.ip(4)]
    assert {host.ip for host in streamed} == set(hosts)
    assert result.targets_count == 4
    assert not result.cancelled
    assert result.finished >= result.started

    services = hosts[lab.ip(1)]
    assert services.open_ports == sorted([lab.open_port, lab.ssh_port, lab.web_port])
    assert services.alive_reason == f"port {lab.open_port}/tcp open"
    assert services.ssh_banner == SSH_BANNER.decode().strip()
    assert services.http_title == "Fake [31mPrinter"  # control characters removed
    assert services.http_server == "FakeJet/1.0"
    assert (services.device_type, services.os_guess) == ("linux host", "Debian")
    assert any(
        "SSH banner" in line and "→ linux host, Debian" in line for line in services.evidence
    )
    assert services.rtt_ms is not None
    json.dumps(services.to_dict())

    refused = hosts[lab.ip(2)]
    assert refused.open_ports == []
    assert "refused the connection (RST)" in refused.alive_reason
    assert refused.device_type == "unknown"
    assert refused.mac is None


def test_neighbour_table_finds_hosts_that_drop_everything(lab: Lab) -> None:
    def neighbours() -> dict[str, str]:
        return {lab.ip(3): "00:1B:63:84:45:E6"}

    result = scan(
        parse_targets(lab.ip(3)),
        lab.options(),
        neighbours=neighbours,
        neighbour_states=lambda: {lab.ip(3): "REACHABLE"},
    )
    (host,) = result.hosts
    assert host.alive_reason == "alive (neighbour table only)"
    assert host.mac == "00:1b:63:84:45:e6"
    assert host.vendor == "Apple, Inc."
    assert f"MAC {host.mac} from the neighbour table" in host.evidence


@pytest.mark.parametrize(
    ("states", "alive"),
    [
        (["REACHABLE"], True),
        (["STALE", "DELAY", "PROBE", "REACHABLE"], True),
        (["STALE", "DELAY", "FAILED"], False),
        ([""], False),  # no entry at all
        ([None], True),  # states cannot be read: a complete entry counts
    ],
)
def test_stale_neighbour_entries_must_be_reconfirmed(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, states: list[str | None], alive: bool
) -> None:
    """A device that left keeps a STALE entry for minutes: it counts only once the kernel
    re-checked it (REACHABLE), not while it is STALE/DELAY/PROBE or after FAILED."""
    monkeypatch.setattr(sweep_module, "_NEIGHBOUR_POLL", 0.01)
    ip = lab.ip(3)
    readings = iter(states)
    last: list[str | None] = [states[0]]

    def read_states() -> dict[str, str] | None:
        last[0] = next(readings, last[0])
        if last[0] is None:
            return None
        return {ip: last[0]} if last[0] else {}

    result = scan(
        parse_targets(ip),
        lab.options(),
        neighbours=lambda: {ip: "02:00:00:00:00:03"},
        neighbour_states=read_states,
    )
    assert bool(result.hosts) is alive


def test_on_link_addresses_need_one_liveness_probe(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted: list[tuple[str, int]] = []

    class CountingEngine(AsyncioEngine):
        def submit(self, ip: str, port: int, timeout: float, done: ProbeCallback) -> None:
            submitted.append((ip, port))
            super().submit(ip, port, timeout, done)

    monkeypatch.setattr(sweep_module, "make_engine", CountingEngine)
    result = scan(
        parse_targets(f"{lab.ip(2)} {lab.ip(3)} {lab.ip(5)}"),
        lab.options(),
        neighbours=lambda: {lab.ip(3): "02:00:00:00:00:03"},
        on_link=[f"{lab.block}.0/24"],
        neighbour_states=lambda: None,  # states unknown: a complete entry counts
    )
    hosts = by_ip(result.hosts)
    assert set(hosts) == {lab.ip(2), lab.ip(3), lab.ip(5)}
    assert hosts[lab.ip(3)].alive_reason == "alive (neighbour table only)"
    assert hosts[lab.ip(3)].vendor == "private (randomised) MAC"
    # One liveness probe (the first port) per address, then the rest of the profile.
    for host in (2, 3, 5):
        probes = [port for ip, port in submitted if ip == lab.ip(host)]
        assert probes[0] == lab.open_port
        assert sorted(probes) == sorted(lab.options().ports)


def test_hosts_stream_before_slow_hosts_finish(lab: Lab) -> None:
    started = time.monotonic()
    seen: dict[str, float] = {}

    def on_host(host: HostResult) -> None:
        seen[host.ip] = time.monotonic() - started

    result = scan(
        parse_targets(f"{lab.ip(2)} {lab.ip(3)}"),
        lab.options(timeout=1.0),
        on_host=on_host,
        neighbours=no_neighbours,
    )
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0  # .3 had to time out
    assert seen[lab.ip(2)] < 0.5  # ...but .2 was reported long before
    assert [host.ip for host in result.hosts] == [lab.ip(2)]


def test_cancel_stops_within_200_ms(lab: Lab) -> None:
    cancel = CancelToken()
    timer = threading.Timer(0.2, cancel.cancel)
    timer.start()
    started = time.monotonic()
    try:
        result = scan(
            parse_targets(lab.ip(3)),
            lab.options(timeout=10.0),
            cancel=cancel,
            neighbours=no_neighbours,
        )
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert result.cancelled
    assert result.hosts == []
    assert elapsed < 0.2 + 0.2


def test_cancelled_before_start() -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = scan(parse_targets("127.0.0.1"), ScanOptions(), cancel=cancel)
    assert result.cancelled
    assert result.hosts == []


def test_progress_reaches_total_and_is_coalesced() -> None:
    reports: list[Progress] = []
    started = time.monotonic()
    result = scan(
        parse_targets(f"{_block()}.0/24"),
        ScanOptions(ports=(1, 2, 3), resolve_names=False, fingerprint=False, timeout=0.5),
        progress=reports.append,
        neighbours=no_neighbours,
    )
    elapsed = time.monotonic() - started
    assert len(result.hosts) == 254  # everything in 127/8 answers RST
    assert reports[-1].done == reports[-1].total == 254
    assert reports[-1].fraction == 1.0
    assert "254 alive" in reports[-1].message
    assert [report.done for report in reports] == sorted(report.done for report in reports)
    assert len(reports) <= 20 * elapsed + 3


def test_hostname_targets_are_resolved(lab: Lab) -> None:
    result = scan(
        parse_targets(f"localhost {lab.ip(2)} no-such-host.invalid"),
        lab.options(),
        neighbours=no_neighbours,
    )
    hosts = by_ip(result.hosts)
    assert "127.0.0.1" in hosts
    assert "localhost" in hosts["127.0.0.1"].hostnames
    assert "name localhost given as target" in hosts["127.0.0.1"].evidence
    assert result.unresolved == ["no-such-host.invalid"]
    assert result.targets_count == 2


def test_portable_engine_gives_the_same_answers(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_module, "make_engine", AsyncioEngine)
    result = scan(parse_targets(f"{lab.ip(1)}-4"), lab.options(), neighbours=no_neighbours)
    hosts = by_ip(result.hosts)
    assert set(hosts) == {lab.ip(1), lab.ip(2), lab.ip(4)}
    assert hosts[lab.ip(1)].open_ports == sorted([lab.open_port, lab.ssh_port, lab.web_port])


def test_tcp_probe_states(lab: Lab) -> None:
    async def run() -> list[PortState]:
        return [
            (await tcp_probe(lab.ip(1), lab.open_port, 0.5))[0],
            (await tcp_probe(lab.ip(2), lab.open_port, 0.5))[0],
            (await tcp_probe(lab.ip(3), lab.quiet_port, 0.2))[0],
        ]

    assert asyncio.run(run()) == [PortState.OPEN, PortState.CLOSED, PortState.SILENT]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="out of range"):
        ScanOptions(ports=(0,))
    with pytest.raises(ValueError, match="no ports"):
        ScanOptions(ports=())
    with pytest.raises(ValueError, match="positive"):
        ScanOptions(timeout=0)
    with pytest.raises(ValueError, match="concurrency"):
        ScanOptions(concurrency=0)
    assert ScanOptions(ports=(9100, 80)).probe_ports() == (9100, 80, 443, 22, 445)


# --- file descriptors ---------------------------------------------------------------------


def test_concurrency_stays_below_the_soft_fd_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 524288))
    assert effective_concurrency(512) == 512
    assert effective_concurrency(5000) == 1024 - sweep_module.FD_RESERVE
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (200, 200))
    assert effective_concurrency(512) == 100


def _run_with_fd_limit(code: str, soft: int, timeout: float) -> str:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < soft:
        pytest.skip(f"hard fd limit {hard} is below {soft}")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,  # only sets an rlimit in the child
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_raise_nofile_limit_raises_soft_towards_hard() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("hard fd limit too low to observe a raise")
    output = _run_with_fd_limit(
        """
        import resource
        from app.discovery import raise_nofile_limit
        print(raise_nofile_limit(2048), resource.getrlimit(resource.RLIMIT_NOFILE)[0],
              raise_nofile_limit(1500))
        """,
        soft=1024,
        timeout=20,
    )
    assert output == "2048 2048 2048"  # raised once, never lowered


def test_raise_nofile_limit_in_process_never_lowers() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_nofile_limit(target=16) == soft


@pytest.mark.slow
def test_slash16_with_1024_fds_does_not_run_out() -> None:
    """A /16 of loopback addresses (all answering) with the default 1024 soft limit."""
    block = f"127.{random.randint(200, 254)}"
    output = _run_with_fd_limit(
        f"""
        import json, time
        from app.discovery import ScanOptions, parse_targets, scan
        started = time.monotonic()
        result = scan(
            parse_targets("{block}.0.0/16", allow_large=True),
            ScanOptions(
                ports=(7,), liveness_ports=(7,), concurrency=4096,
                resolve_names=False, fingerprint=False,
            ),
            neighbours=dict,
        )
        print(json.dumps([len(result.hosts), result.targets_count, time.monotonic() - started]))
        """,
        soft=1024,
        timeout=120,
    )
    alive, total, seconds = json.loads(output)
    assert alive == total == 65_534
    print(f"/16 sweep with a 1024 fd limit: {seconds:.1f} s")


def test_a_slash_24_is_quick() -> None:
    started = time.monotonic()
    result = scan(
        parse_targets(f"{_block()}.0/24"),
        ScanOptions(resolve_names=False),
        neighbours=no_neighbours,
    )
    assert len(result.hosts) == 254
    assert time.monotonic() - started < 2.0


def test_children_do_not_inherit_the_master_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """[12].13: `ip`/`arp` ran with PATCHDESK_MASTER_PASSWORD in their environment."""
    from app.discovery import neighbours

    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", "hunter2-master")
    output = neighbours._run(["env"])  # a real child process printing what it was given
    assert output is not None and "PATH=" in output
    assert "hunter2-master" not in output and "PATCHDESK_MASTER_PASSWORD" not in output
