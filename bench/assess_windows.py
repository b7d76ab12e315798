"""Benchmark: deep assessment of simulated Windows hosts (WinRM) and Linux lab hosts together,
with the time split by phase.

Run by hand, not in CI::

    .venv/bin/python bench/assess_windows.py                       # 20 Windows hosts
    sudo .venv/bin/python bench/assess_windows.py --linux 4        # + 4 Debian lab hosts
    .venv/bin/python bench/assess_windows.py --windows 20 --rounds 3 --concurrency 8

What runs: ``SiteService.assess.assess_assets()`` (what ``patchdesk assess --all`` calls)
on one site holding N simulated Windows hosts — the tests' WinRM endpoint (HTTPS with a
lab CA, NTLM, WinRS; tests/lab/winrm_endpoint.py) serving the Windows 11 / Server 2022 /
workgroup presets in turn, all in ONE separate process (``--serve``), so the endpoints' CPU
is not counted in ours — and optionally M Debian hosts of the network-namespace lab over
SSH (root needed). Each Windows host runs the real client path: 4 scripts plus the WUA
task's start, polls and clean-up, choco.ps1 twice (list, outdated) where Chocolatey is
installed and the winget task (start, polls, clean-up), each a fresh WinRM shell with its
own NTLM handshake.

Phases (summed over hosts, so with concurrency they add up to more than the wall time):

* transport — a WinRM call's time minus the host's own: connecting, NTLM, TLS/encryption,
  the WinRS exchange (measured as the call's time less the endpoint's script time);
* script — the host running our scripts: the simulated host answering (measured inside the
  endpoint process; ~0: its answers are canned) and the WUA task running while we poll
  (0.25 s first, doubling to 5 s; real Windows takes minutes for a WUA search);
* Linux hosts: remote = transport + the host's own commands (apt) together;
* parse — our parsers on the Windows hosts' documents;
* store — writing the result into the site file;
* other — the rest of each host's time until its result (driver code, Linux parsers).

READ IT WITH THIS: the endpoint and the client share this machine's cores; nothing here
says how long a real Windows host takes (WUA searches take minutes on real machines).

NETWORK SAFETY: 127.0.0.0/8 for the Windows hosts, the lab's namespaces for Linux.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MASTER = "bench master password"
USER, PASSWORD = "Administrator", "Lab-Passw0rd!"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the endpoint process -------------------------------------------------------------------
def serve(count: int, directory: Path) -> int:
    """Serve ``count`` simulated Windows hosts on 127.77.0.10+ sharing one port; print the
    port, then wait for stdin to close."""
    sys.path.insert(0, str(REPO))
    from tests.lab.winrm_ca import LabCA
    from tests.lab.winrm_endpoint import WinRMEndpoint
    from tests.lab.winrm_fixtures import _free_shared_port
    from tests.lab.winrm_hosts import PRESETS

    ca = LabCA(directory)
    presets = list(PRESETS)
    addresses = [f"127.77.{i // 200}.{10 + i % 200}" for i in range(count)]
    port = _free_shared_port(addresses)
    endpoints = []
    for i, address in enumerate(addresses):
        host = PRESETS[presets[i % len(presets)]]()
        host.name = f"{host.name[:10]}-{i:02d}"
        endpoints.append(WinRMEndpoint(host, address=address, port=port,
                                       users=[(USER, PASSWORD)],
                                       tls=ca.issue(host.name.lower(), address)).start())
    # The hosts' own time answering scripts (the "script" phase; the rest of a WinRM call is
    # transport), summed here and asked for with a "stats" line on stdin.
    spent = [0.0]
    lock = threading.Lock()
    original = WinRMEndpoint._script

    def timed_script(self: Any, text: str) -> Any:
        started = time.perf_counter()
        try:
            return original(self, text)
        finally:
            with lock:
                spent[0] += time.perf_counter() - started

    WinRMEndpoint._script = timed_script  # type: ignore[method-assign]
    print(f"{port} {ca.ca_file}", flush=True)
    for line in sys.stdin:  # until the parent closes our stdin
        if line.strip() == "stats":
            with lock:
                print(f"{spent[0]:.6f}", flush=True)
    for ep in endpoints:
        ep.stop()
    return 0


def host_script_seconds(server: subprocess.Popen[str]) -> float:
    """The endpoint process's total time answering scripts so far."""
    assert server.stdin is not None
    assert server.stdout is not None
    server.stdin.write("stats\n")
    server.stdin.flush()
    return float(server.stdout.readline())


# -- phase timing ------------------------------------------------------------------------------
class Phases:
    """Thread-safe sums of seconds per (platform, phase)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def add(self, platform: str, phase: str, seconds: float) -> None:
        with self.lock:
            self.sums[(platform, phase)] += seconds


@contextmanager
def instrumented(phases: Phases) -> Iterator[None]:
    """Wrap the transports, parsers, WUA sleeps and the store write with timers."""
    import app.drivers.windows.apps as winapps
    import app.drivers.windows.driver as windriver
    import app.drivers.windows.wua as wua
    from app.remote.ssh import SshTransport
    from app.remote.winrm import WinRMTransport
    from app.services.assessment import AssessmentService

    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, platform: str | Callable[..., str], phase: str) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                which = platform(*args) if callable(platform) else platform
                phases.add(which, phase, time.perf_counter() - started)

        setattr(owner, name, timed)

    wrap(WinRMTransport, "run_ps", "windows", "remote")
    wrap(SshTransport, "run", "linux", "remote (transport + the host's commands)")
    for name in ("parse_facts", "parse_installed_software", "parse_installed_updates",
                 "parse_pending_reboot"):
        wrap(windriver, name, "windows", "parse")
    for name in ("parse_wua_poll", "parse_task_action"):
        wrap(wua, name, "windows", "parse")
    for name in ("load_document", "parse_choco_list", "parse_choco_outdated",
                 "parse_winget_export", "parse_winget_module", "parse_winget_upgrade"):
        wrap(winapps, name, "windows", "parse")  # Chocolatey and winget

    original_backoff = windriver._backoff
    saved.append((windriver, "_backoff", original_backoff))

    def backoff(*args: Any, **kwargs: Any) -> Callable[[float], None]:
        sleep = original_backoff(*args, **kwargs)

        def timed(interval: float) -> None:
            started = time.perf_counter()
            try:
                sleep(interval)
            finally:
                phases.add("windows", "script (WUA task running)",
                           time.perf_counter() - started)
        return timed

    windriver._backoff = backoff  # type: ignore[assignment]
    wrap(AssessmentService, "_store_assessment",
         lambda _self, _asset, _started, result: str(
             "windows" if result.driver == "windows" else "linux"), "store")
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


# -- the run -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20, help="simulated Windows hosts")
    parser.add_argument("--linux", type=int, default=0,
                        help="Debian lab hosts besides them (needs root)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, Path(args.dir))
    if args.linux and os.geteuid() != 0:
        raise SystemExit("--linux needs root (the lab's network namespaces)")
    sys.path.insert(0, str(REPO))
    from app.core.credentials import Scope
    from app.core.models import Asset
    from app.services import SiteService

    workdir = Path(tempfile.mkdtemp(prefix="pdwin-"))
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(args.windows),
         "--dir", str(workdir / "ca")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    lab = None
    try:
        assert server.stdout is not None
        port_text, ca_file = server.stdout.readline().split()
        port = int(port_text)
        linux: list[tuple[str, str]] = []
        if args.linux:
            from tests.lab.lab import DEFAULT_PASSWORD, HostSpec, Lab
            lab = Lab(prefix="pdlwbench", subnet=None)
            names = [f"l{i:02d}" for i in range(1, args.linux + 1)]
            lab.start([HostSpec(n) for n in names], timeout=max(60.0, 5.0 * args.linux))
            linux = [(n, lab.host(n).ip) for n in names]
        log(f"{args.windows} simulated Windows hosts (one endpoint process, port {port}), "
            f"{len(linux)} Debian lab hosts; {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}")
        walls: list[float] = []
        per_round: list[Phases] = []
        for round_no in range(args.rounds + 1):  # round 0: an untimed warm-up
            site_path = workdir / f"round{round_no}.pdsite"
            service = SiteService.open(site_path, create=True, actor="bench")
            service.remote.unlock(MASTER, create=True)
            for i in range(args.windows):
                service.add_asset(Asset(hostname=f"win{i:02d}",
                                        ips=(f"127.77.{i // 200}.{10 + i % 200}",),
                                        tags=("windows",)))
            for name, ip in linux:
                service.add_asset(Asset(hostname=name, ips=(ip,), tags=("linux",)))
            service.remote.add_winrm_credential(
                "windows", USER, password=PASSWORD, port=port, ca_file=ca_file,
                scopes=(Scope.parse("tag:windows"),))
            if linux:
                from tests.lab.lab import DEFAULT_PASSWORD
                service.remote.add_ssh_credential("linux", "admin", password=DEFAULT_PASSWORD,
                                                  scopes=(Scope.parse("tag:linux"),))
            if args.linux:
                service.credentials.access.accept_new_host_keys = True  # fresh lab hosts
            phases = Phases()
            host_before = host_script_seconds(server)
            with instrumented(phases):
                started = time.perf_counter()
                outcomes = service.assess.assess_assets(concurrency=args.concurrency,
                                                        refresh=False)
                wall = time.perf_counter() - started
            service.close()
            # Split each WinRM call's time: the simulated host's own work answering the
            # script, and the rest (connect, NTLM, TLS/encryption, WinRS exchange).
            host_side = host_script_seconds(server) - host_before
            remote = phases.sums.pop(("windows", "remote"), 0.0)
            phases.add("windows", "transport", max(0.0, remote - host_side))
            phases.add("windows", "script (host answering)", host_side)
            for o in outcomes:
                phases.add("windows" if o.driver == "windows" else "linux", "total", o.duration)
            failed = [o for o in outcomes if not o.ok]
            if failed:
                raise SystemExit(f"{len(failed)} host(s) failed: {failed[0].summary}")
            kbs = sum(o.updates for o in outcomes if o.driver == "windows")
            log(f"round {round_no}{' (warm-up)' if round_no == 0 else ''}: {wall:.2f} s, "
                f"{len(outcomes)} hosts, {kbs} missing updates on the Windows hosts "
                "(KBs, Chocolatey and winget)")
            if round_no:
                walls.append(wall)
                per_round.append(phases)
        print(f"\nmedian wall time of {args.rounds} rounds: {statistics.median(walls):.2f} s "
              f"({args.windows} Windows + {len(linux)} Linux hosts, concurrency "
              f"{args.concurrency})")
        print("phase seconds summed over hosts (median of rounds), per platform:")
        keys = sorted({k for p in per_round for k in p.sums})
        for platform in ("windows", "linux"):
            row = {phase: statistics.median(p.sums.get((platform, phase), 0.0)
                                            for p in per_round)
                   for (plat, phase) in keys if plat == platform}
            if row:
                total = row.pop("total", 0.0)
                # A host's duration ends before its result is stored.
                row["other (driver code, Linux parsers)"] = max(
                    0.0, total - sum(v for k, v in row.items() if k != "store"))
                row = {"host total": total, **row}
                hosts = args.windows if platform == "windows" else len(linux)
                parts = ", ".join(f"{phase} {secs:.2f} s ({1000 * secs / hosts:.0f} ms/host)"
                                  for phase, secs in row.items())
                print(f"  {platform}: {parts}")
        return 0
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
        if lab is not None:
            lab.teardown()


if __name__ == "__main__":
    raise SystemExit(main())
