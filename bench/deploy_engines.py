"""Benchmark: the same PatchDesk deployment run by the built-in engine and by the Ansible
engine (``deploy run --engine ansible``), on fresh lab hosts.

Run by hand as root (it starts the tests' network-namespace lab), not in CI, from a Python
with the extra ``.[ansible]`` (ansible-core, ansible-runner)::

    sudo .venv/bin/python bench/deploy_engines.py                       # 30 hosts, 2 rounds
    sudo .venv/bin/python bench/deploy_engines.py --hosts 10 --rounds 3 --wave-size 5

What runs, per round, for each engine on its own N brand-new lab hosts (2 × N per round,
removed afterwards; pd-tools 2.0-1 installed, 2.1-1 in the lab's repository, apt's binary
caches generated untimed on every host)::

    patchdesk --site S deploy run --patch pd-tools=2.1-1 --targets H1,...,HN --yes --json
        --wave-size W --concurrency C --reboot never --engine builtin|ansible

The whole plan: pre-flight of every host, the production ring in waves of W hosts (C at a
time; Ansible's forks = C), the failure threshold after each wave, verification (versions
and the re-assessment). Each engine's site has its own assets, the same SSH key and sudo
password, the lab's host keys pinned beforehand and an untimed assessment. Whole-process
wall times; rounds alternate which engine goes first; medians are compared. After every
run the deployment must be ``done`` with every host succeeded and verified, and each
host's dpkg must show 2.1-1 ``ii``; the two engines' per-host records are compared (state,
before, after, change set, verification) and must be equal.

The breakdown comes from each deployment's own log (1 s resolution): pre-flight, waves,
verification. READ THE FIGURES WITH THIS: the lab's hosts share this machine's cores with
both engines (and Ansible's forks are processes on it too), so a loaded machine slows the
engine that spends more CPU here.

NETWORK SAFETY: only the lab's hosts (a private /24 in network namespaces with no uplink)
are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from assess_vs_ansible import MASTER, REPO, Run, keygen, log

PACKAGE, OLD, NEW = "pd-tools", "2.0-1", "2.1-1"
ENGINES = ("builtin", "ansible")
PARTS = ("start-up and plan", "pre-flight", "waves", "verification", "output and exit")


def patchdesk(site: Path, *rest: str) -> list[str]:
    return [sys.executable, "-m", "app", "--site", str(site), *rest]


def env() -> dict[str, str]:
    return {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER, "PYTHONPATH": str(REPO)}


def make_site(path: Path, lab: Any, names: list[str], key: Path, password: str) -> None:
    """A site with the hosts, one key credential (sudo password), the lab's host keys
    pinned and an assessment (untimed set-up)."""
    from app.core.hostkeys import PinnedKey
    from app.core.models import Asset
    from app.services import SiteService

    service = SiteService.open(path, create=True, actor="bench")
    try:
        service.remote.unlock(MASTER, create=True)
        service.remote.add_ssh_credential("lab", "admin", key_file=str(key),
                                          sudo_password=password)
        for name in names:
            ip = lab.host(name).ip
            service.add_asset(Asset(hostname=name, ips=(ip,)))
            for key_type, b64 in lab.host_keys(name).items():
                service.remote.host_keys.pin(ip, 22, PinnedKey(key_type, b64),
                                             accepted_by="bench (lab's keys)", replace=False)
        results = service.assess_assets(refresh=False)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"assessment before the deployment failed: {failed[:3]}")
    finally:
        service.close()


def installed(lab: Any, names: list[str]) -> dict[str, str]:
    def one(name: str) -> str:
        return lab.exec(name, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}",
                               PACKAGE]).stdout.strip()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def breakdown(data: dict[str, Any], started: datetime, ended: datetime) -> dict[str, float]:
    def at(prefix: str) -> datetime:
        for line in data["log"]:
            if line["message"].startswith(prefix):
                return datetime.fromisoformat(line["ts"])
        raise SystemExit(f"no '{prefix}' line in the deployment log")

    marks = [started, at("pre-flight checks started"), at("pre-flight done"),
             at("production ring complete"), at("verified:"), ended]
    return dict(zip(PARTS, [(b - a).total_seconds() for a, b in pairwise(marks)],
                    strict=True))


def records(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {t["label"].removeprefix(prefix): (t["state"], t["before"], t["after"],
                                              t["verified"], json.dumps(t["changes"]))
            for t in data["targets"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=30, help="hosts per engine (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (default 2)")
    parser.add_argument("--wave-size", type=int, default=10, help="hosts per wave (10)")
    parser.add_argument("--concurrency", type=int, default=10,
                        help="hosts at a time; Ansible's forks (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--trace", action="store_true",
                        help="run with -v and list each Ansible run and its wall time")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab needs network namespaces")
    if not 1 <= args.hosts <= 100 or args.rounds < 1 or args.concurrency < 1:
        raise SystemExit("--hosts 1..100, --rounds and --concurrency positive")
    sys.path.insert(0, str(REPO))
    from app.deploy.ansible import missing_reason
    from tests.lab.lab import DEFAULT_PASSWORD, HostSpec, Lab

    if missing_reason():
        raise SystemExit(f"the Ansible engine is not available: {missing_reason()}")
    from importlib.metadata import version as package_version

    from ansible.release import __version__ as ansible_version

    workdir = Path(tempfile.mkdtemp(prefix="pde-"))
    lab = Lab(prefix="pdlbeng", subnet=None)
    try:
        key, pubkey = keygen(workdir)
        lab.start([], timeout=60.0)
        log(f"lab on {lab.subnet}; this machine: {os.cpu_count()} cores, load "
            f"{os.getloadavg()[0]:.2f}; {args.hosts} fresh hosts per engine per round; "
            f"waves of {args.wave_size}, concurrency {args.concurrency}; ansible-core "
            f"{ansible_version}, ansible-runner {package_version('ansible-runner')}")
        walls: dict[str, list[Run]] = {e: [] for e in ENGINES}
        parts: dict[str, list[dict[str, float]]] = {e: [] for e in ENGINES}
        log("round  engine     wall s   own CPU s   machine CPU s (incl. the lab hosts)")
        for number in range(1, args.rounds + 1):
            names = {e: [f"r{number}{e[0]}{i:02d}" for i in range(1, args.hosts + 1)]
                     for e in ENGINES}
            every = [n for ns in names.values() for n in ns]
            lab.add_hosts([HostSpec(n, authorized_keys=(pubkey,)) for n in every],
                          timeout=max(120.0, 8.0 * len(every)))
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda n: lab.exec(n, "apt-cache gencaches >/dev/null",
                                                 check=True), every))
            if any(v != f"{OLD} ii" for v in installed(lab, every).values()):
                raise SystemExit(f"fresh hosts do not start at {PACKAGE} {OLD}")
            sites = {}
            for engine in ENGINES:
                sites[engine] = workdir / f"r{number}-{engine}.pdsite"
                make_site(sites[engine], lab, names[engine], key, DEFAULT_PASSWORD)
            seen: dict[str, dict[str, Any]] = {}
            order = ENGINES if number % 2 else tuple(reversed(ENGINES))
            for engine in order:
                verbose = ["-v"] if args.trace else []
                argv = patchdesk(sites[engine], *verbose, "deploy", "run", "--patch",
                                 f"{PACKAGE}={NEW}", "--targets", ",".join(names[engine]),
                                 "--yes", "--json", "--wave-size", str(args.wave_size),
                                 "--concurrency", str(args.concurrency), "--reboot", "never",
                                 "--engine", engine)
                if number == 1:
                    shown = [a if not a.startswith(f"r{number}") else "H1,...,HN" for a in argv]
                    log(f"{engine}: PATCHDESK_MASTER_PASSWORD=... " + " ".join(shown))
                started = datetime.now().astimezone().replace(microsecond=0)
                run = Run(argv, env())
                ended = datetime.now().astimezone().replace(microsecond=0)
                if run.done.returncode != 0:
                    raise SystemExit(f"{engine} failed ({run.done.returncode}):\n"
                                     f"{run.done.stdout[-3000:]}\n{run.done.stderr[-3000:]}")
                data = json.loads(run.done.stdout)
                bad = [t["label"] for t in data["targets"]
                       if t["state"] != "succeeded" or t["verified"] != "installed"]
                if data["phase"] != "done" or bad:
                    raise SystemExit(f"{engine}: phase {data['phase']}, not installed: {bad}")
                wrong = {n: v for n, v in installed(lab, names[engine]).items()
                         if v != f"{NEW} ii"}
                if wrong:
                    raise SystemExit(f"{engine}: dpkg disagrees: {wrong}")
                seen[engine] = records(data, f"r{number}{engine[0]}")
                if args.trace:
                    for line in run.done.stderr.splitlines():
                        if "ansible-runner:" in line:
                            log("    " + line.split("ansible-runner:", 1)[1].strip())
                walls[engine].append(run)
                parts[engine].append(breakdown(data, started, ended))
                log(f"{number:5d}  {engine:8s} {run.wall:8.2f}   {run.cpu:9.2f}   "
                    f"{run.machine_cpu:13.2f}")
            if seen["builtin"] != seen["ansible"]:
                raise SystemExit("the engines' per-host records differ")
            for name in every:
                lab.remove_host(name)
        medians = {e: statistics.median(r.wall for r in rs) for e, rs in walls.items()}
        for engine, rs in walls.items():
            times = [r.wall for r in rs]
            log(f"{engine:8s} median {medians[engine]:6.2f} s (min {min(times):.2f}, max "
                f"{max(times):.2f}; own CPU {statistics.median(r.cpu for r in rs):.2f} s, "
                f"machine CPU {statistics.median(r.machine_cpu for r in rs):.2f} s)")
            log("    " + ", ".join(f"{p} {statistics.median(x[p] for x in parts[engine]):.0f} s"
                                   for p in PARTS))
        log(f"ratio ansible/builtin = {medians['ansible'] / medians['builtin']:.2f} "
            f"({args.hosts} hosts each, {args.rounds} round(s)); per-host records equal; "
            f"{PACKAGE} {NEW} 'ii' on every host")
        return 0
    finally:
        lab.teardown()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
