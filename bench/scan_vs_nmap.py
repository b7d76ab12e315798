"""Benchmark: PatchDesk's discovery sweep against ``nmap -sT`` on the same range and ports.

Run by hand, not in CI::

    .venv/bin/python bench/scan_vs_nmap.py                       # loopback /24 + listeners
    .venv/bin/python bench/scan_vs_nmap.py --range 10.77.0.0/24 --netns pd-client
    .venv/bin/python bench/scan_vs_nmap.py --full                # with rDNS and fingerprints

Both tools run in child processes, alternating, for ``--rounds`` rounds; the medians are
compared. nmap's time is its process wall time; ours is the ``scan()`` call inside a child
process (Python start-up and imports, ~0.2 s, are reported separately as "process").
By default both skip reverse DNS (``-n``) so the resolver is not what is measured, and our
fingerprinting (banners, titles, NetBIOS) is off because ``nmap -sT`` does none; ``--full``
turns both on. The open ports each tool found are compared as a sanity check.

NETWORK SAFETY: without ``--range`` only 127.1.2.0/24 (loopback) is scanned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RANGE = "127.1.2.0/24"
# (address, port, what the listener sends) for the default loopback range.
LISTENERS: tuple[tuple[str, int, bytes], ...] = (
    ("127.1.2.10", 22, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
    ("127.1.2.10", 80, b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n<title>bench web</title>"),
    ("127.1.2.20", 9100, b""),
    ("127.1.2.20", 631, b""),
    ("127.1.2.30", 445, b""),
    ("127.1.2.30", 135, b""),
    ("127.1.2.30", 3389, b""),
    ("127.1.2.40", 8080, b"HTTP/1.1 200 OK\r\n\r\n<title>router</title>"),
)


# --- children ------------------------------------------------------------------------


def serve_listeners() -> None:
    """Child process: listen on the loopback addresses until killed."""

    async def main() -> None:
        servers = []
        for address, port, greeting in LISTENERS:

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                greeting: bytes = greeting,
            ) -> None:
                try:
                    if greeting:
                        writer.write(greeting)
                        await writer.drain()
                    await asyncio.wait_for(reader.read(1024), 2.0)
                except (OSError, TimeoutError):
                    pass
                finally:
                    writer.transport.abort()

            try:
                servers.append(await asyncio.start_server(handle, address, port))
            except OSError as exc:
                print(f"listener {address}:{port} not started: {exc}", file=sys.stderr)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def run_ours(range_text: str, ports: list[int], full: bool) -> None:
    """Child process: one scan, result as JSON on stdout."""
    sys.path.insert(0, str(REPO))
    from app.discovery import ScanOptions, parse_targets, raise_nofile_limit, scan

    raise_nofile_limit()
    targets = parse_targets(range_text, allow_large=True)
    options = ScanOptions(ports=ports, resolve_names=full, fingerprint=full)
    started = time.perf_counter()
    result = scan(targets, options)
    elapsed = time.perf_counter() - started
    found = {host.ip: host.open_ports for host in result.hosts if host.open_ports}
    print(json.dumps({"seconds": elapsed, "alive": len(result.hosts), "open": found}))


# --- parent --------------------------------------------------------------------------


def _prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def time_ours(args: argparse.Namespace) -> tuple[float, float, int, dict[str, list[int]]]:
    argv = [
        *_prefix(args.netns),
        sys.executable,
        __file__,
        "--child-ours",
        "--range",
        args.range,
        "--ports",
        ",".join(map(str, args.port_list)),
    ]
    if args.full:
        argv.append("--full")
    started = time.perf_counter()
    completed = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    return data["seconds"], wall, data["alive"], data["open"]


def nmap_argv(args: argparse.Namespace) -> list[str]:
    argv = [*_prefix(args.netns), args.nmap, "-sT", "-T4", "--open", "-oX", "-"]
    argv += ["-p", ",".join(map(str, args.port_list))]
    if not args.full:
        argv.append("-n")
    return [*argv, *args.nmap_args, args.range]


def time_nmap(args: argparse.Namespace) -> tuple[float, int, dict[str, list[int]]]:
    started = time.perf_counter()
    completed = subprocess.run(nmap_argv(args), capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    root = ET.fromstring(completed.stdout)  # noqa: S314 — nmap's own XML
    found: dict[str, list[int]] = {}
    for host in root.iter("host"):
        address = host.find("address")
        ports = [
            int(port.get("portid", "0"))
            for port in host.iter("port")
            if (state := port.find("state")) is not None and state.get("state") == "open"
        ]
        if address is not None and ports:
            found[address.get("addr", "")] = sorted(ports)
    hosts_up = root.find("runstats/hosts")
    alive = int(hosts_up.get("up", "0")) if hosts_up is not None else -1
    return wall, alive, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default=DEFAULT_RANGE, help="targets (default: loopback)")
    parser.add_argument("--ports", default="default", help="port list or profile name")
    parser.add_argument("--netns", help="run both tools inside `ip netns exec NAME`")
    parser.add_argument("--lab", action="store_true",
                        help="start the tests' network-namespace lab (root) and scan its /24 "
                             "from its client namespace, which has no route out")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="rDNS + our fingerprinting on")
    parser.add_argument("--nmap", default=shutil.which("nmap") or "/usr/bin/nmap")
    parser.add_argument("--nmap-args", nargs=argparse.REMAINDER, default=[])
    parser.add_argument("--child-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve_listeners()
        return 0
    sys.path.insert(0, str(REPO))
    from app.discovery import parse_ports

    args.port_list = parse_ports(args.ports)
    if args.child_ours:
        run_ours(args.range, args.port_list, args.full)
        return 0

    lab = None
    if args.lab:
        from tests.lab.lab import Lab, default_hosts

        lab = Lab()
        lab.start(default_hosts())
        args.netns = lab.client_ns
        args.range = str(lab.subnet)
    listeners = None
    if args.range == DEFAULT_RANGE and not args.netns:
        listeners = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
        )
        assert listeners.stdout is not None
        listeners.stdout.readline()  # "ready"
    try:
        print(f"range {args.range}, {len(args.port_list)} ports, netns {args.netns or '-'}")
        print("nmap command:", " ".join(nmap_argv(args)))
        ours_scan: list[float] = []
        ours_wall: list[float] = []
        nmap_wall: list[float] = []
        ours_found: dict[str, list[int]] = {}
        nmap_found: dict[str, list[int]] = {}
        for round_number in range(args.rounds):
            # Alternate who goes first so caches and CPU frequency favour neither.
            order = ("ours", "nmap") if round_number % 2 == 0 else ("nmap", "ours")
            for tool in order:
                if tool == "ours":
                    seconds, wall, alive, ours_found = time_ours(args)
                    ours_scan.append(seconds)
                    ours_wall.append(wall)
                    print(f"  round {round_number + 1}: ours  {seconds:7.3f} s  ({alive} alive)")
                else:
                    wall, alive, nmap_found = time_nmap(args)
                    nmap_wall.append(wall)
                    print(f"  round {round_number + 1}: nmap  {wall:7.3f} s  ({alive} up)")
        ours_median = statistics.median(ours_scan)
        nmap_median = statistics.median(nmap_wall)
        print(
            f"ours  median {ours_median:.3f} s (min {min(ours_scan):.3f}; "
            f"process incl. start-up {statistics.median(ours_wall):.3f} s)"
        )
        print(f"nmap  median {nmap_median:.3f} s (min {min(nmap_wall):.3f})")
        print(f"ratio ours/nmap = {ours_median / nmap_median:.2f} (scan call); "
              f"{statistics.median(ours_wall) / nmap_median:.2f} (whole process, incl. "
              "Python start-up)")
        if ours_found == nmap_found:
            print(f"open ports agree: {len(ours_found)} hosts with open ports")
        else:
            print("open ports DIFFER:")
            print("  ours:", json.dumps(ours_found, sort_keys=True))
            print("  nmap:", json.dumps(nmap_found, sort_keys=True))
    finally:
        if listeners is not None:
            listeners.terminate()
            listeners.wait(5)
        if lab is not None:
            lab.teardown()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
