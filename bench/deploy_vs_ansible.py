"""Benchmark: a PatchDesk deployment against Ansible's apt module installing the same update.

Run by hand as root (it starts the tests' network-namespace lab), not in CI::

    sudo .venv/bin/python bench/deploy_vs_ansible.py                  # 10 hosts, 3 rounds
    sudo .venv/bin/python bench/deploy_vs_ansible.py --hosts 20 --rounds 5 --trace

What runs, in the same run on the same lab (DESIGN.md §6), installing pd-tools 2.1-1 over
2.0-1 on every host:

* ours: ``patchdesk --site S deploy run --patch pd-tools=2.1-1 --targets all --yes --json
  --wave-size N --concurrency C --reboot never`` — one production ring in one wave, C hosts
  at a time. Per host (the apt fast path, app/drivers/apt_quick.py): the os-release read that
  picks the deployer; pre-flight — health snapshot (sudo, free disk, dpkg audit, failed
  units, pending reboot) and apt's simulation (the change set) — in one sudo call; keeping
  the old .deb for rollback, checking the installed versions are still pre-flight's and
  starting the install as a detached job in one sudo call; one call that waits on the host
  for the job and then reads the installed versions and a health snapshot; a light
  verification (installed versions and apt's simulation, one call) that also records the
  versions in the site's inventory. Every step is written to the site (and the audit log)
  before and after.
* Ansible: ``ansible-playbook -f C`` of a play with one task, ``apt: name=pd-tools=2.1-1
  state=present update_cache=no`` (become), ``gather_facts: false`` (``--gather-facts``
  turns it on, Ansible's default).

FAIRNESS. Each tool gets, every round, its own N brand-new lab hosts (2 × N per round,
removed afterwards), all made from the same lab layer: pd-tools 2.0-1 installed, 2.1-1 and
the apt lists already there, an empty apt archive cache, apt's binary caches generated
(``apt-cache gencaches``, untimed, on every host of both tools). So neither tool meets a
host the other (or an earlier round) already changed; no downgrades, no .debs left in
/var/cache/apt/archives. ``--targets all`` means "every host the last assessment found
missing the patch", so each round's PatchDesk site gets an untimed ``assess --all
--no-refresh`` before the timed run (the Ansible user is likewise not charged for knowing
what to install). Both log in as ``admin`` with the same ed25519 key and become root with
sudo and the same password; both verify host keys (Ansible against a known_hosts file of
the lab's keys, ours against the same keys pinned in the site beforehand). Ansible runs
with pipelining on, the interpreter given, its default ``ssh`` options (ControlPersist) and
a fresh ControlPath directory per run (no warm masters; ours starts without connections
too). Round 0 is an untimed warm-up of both. Whole-process wall times; rounds alternate
which tool goes first; medians are compared. After every run each of that tool's hosts is
checked with ``dpkg-query`` (2.1-1, ``ii``).

PatchDesk does more per host than Ansible's one apt call (above): that is the product, and
it is timed as a user runs it. The per-step breakdown comes from the deployment's own log
(``deploy status ID --json``; its timestamps have one-second resolution). ``--trace`` adds
one untimed in-process deployment on fresh hosts that times every remote step to the
millisecond (not part of the ratio).

READ THE RATIO WITH THIS: the lab's hosts share this machine's kernel and cores with both
tools, so on the lab, CPU spent on the hosts (Ansible's Python modules, our shell steps,
apt and dpkg for both) competes with the tools themselves. Each round prints wall time, the
tool's own CPU (its process and waited-for children) and the machine's busy CPU.

Ansible (``ansible-core`` from PyPI) lives in its own venv outside the repository
(``--ansible-venv``, reused when present); it is never a dependency of PatchDesk.

NETWORK SAFETY: only the lab's hosts (a private /24 in network namespaces with no uplink)
are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

# The assessment bench (same directory) has the shared set-up: site, key pinning, Ansible
# venv and environment, timed runs.
from assess_vs_ansible import (
    DEFAULT_VENV,
    MASTER,
    REPO,
    Run,
    close_masters,
    ensure_ansible,
    ensure_ssh_client,
    keygen,
    log,
    make_site,
    patchdesk_cmd,
    patchdesk_env,
    pin_host_keys,
    write_inventory,
)

PACKAGE, OLD, NEW = "pd-tools", "2.0-1", "2.1-1"
PLAYBOOK = f"""\
- name: deploy {PACKAGE} {NEW} (what the PatchDesk deployment installs)
  hosts: lab
  gather_facts: @GATHER@
  tasks:
    - name: install the exact version
      ansible.builtin.apt:
        name: "{PACKAGE}={NEW}"
        state: present
        update_cache: false
      become: true
"""


# --- set-up ---------------------------------------------------------------------------


def make_ansible_files(workdir: Path, hosts: list[tuple[str, str]], key: Path,
                       known_hosts: list[str], password: str,
                       gather: bool) -> tuple[Path, Path]:
    inventory = write_inventory(workdir, hosts, key, known_hosts, password)
    play = workdir / "deploy.yml"
    play.write_text(PLAYBOOK.replace("@GATHER@", "true" if gather else "false"))
    return inventory, play


def ansible_env(workdir: Path) -> dict[str, str]:
    control = workdir / "cp"
    control.mkdir(exist_ok=True)
    return {
        **os.environ,
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_CONFIG": str(workdir / "no-ansible.cfg"),  # ignore any ansible.cfg around
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }


def ours_argv(site: Path, hosts: int, concurrency: int) -> list[str]:
    return patchdesk_cmd(site, "deploy", "run", "--patch", f"{PACKAGE}={NEW}", "--targets",
                         "all", "--yes", "--json", "--wave-size", str(hosts),
                         "--concurrency", str(concurrency), "--reboot", "never")


def prepare_hosts(lab: Any, names: list[str]) -> None:
    """Untimed, on every host of both tools: apt's binary caches (the first apt command on
    a fresh host builds them; the assessment would do it for our hosts only)."""
    def one(name: str) -> None:
        lab.exec(name, "apt-cache gencaches >/dev/null", check=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, names))


def installed(lab: Any, names: list[str]) -> dict[str, str]:
    """The package's version and dpkg state on each host, read inside the host."""
    def one(name: str) -> str:
        out = lab.exec(name, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}",
                              PACKAGE])
        return out.stdout.strip()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def check_installed(lab: Any, names: list[str], tool: str) -> None:
    found = installed(lab, names)
    wrong = {n: v for n, v in found.items() if v != f"{NEW} ii"}
    if wrong:
        raise SystemExit(f"{tool}: {len(wrong)} host(s) do not have {PACKAGE} {NEW}: {wrong}")


# --- the deployment log ------------------------------------------------------------------

BREAKDOWN = ("start-up, unlock, plan", "pre-flight", "install wave", "verification",
             "output and exit")


def breakdown(data: dict[str, Any], started: datetime, ended: datetime) -> dict[str, float]:
    """Where a run's wall time went, from the deployment log (1 s timestamps)."""
    def at(prefix: str) -> datetime:
        for line in data["log"]:
            if line["message"].startswith(prefix):
                return datetime.fromisoformat(line["ts"])
        raise SystemExit(f"no '{prefix}' line in the deployment log")

    marks = [started, at("pre-flight checks started"), at("pre-flight done"), at("wave 1:"),
             at("production ring complete"), at("verified:"), ended]
    spans = [(b - a).total_seconds() for a, b in pairwise(marks)]
    # pre-flight done -> wave 1 are the same step's two writes; fold it into the wave.
    return {BREAKDOWN[0]: spans[0], BREAKDOWN[1]: spans[1],
            BREAKDOWN[2]: spans[2] + spans[3], BREAKDOWN[3]: spans[4],
            BREAKDOWN[4]: spans[5]}


def host_spans(data: dict[str, Any]) -> list[float]:
    """Per host: from the wave's start to its 'installed' line (1 s resolution)."""
    wave = next(datetime.fromisoformat(x["ts"]) for x in data["log"]
                if x["message"].startswith("wave 1:"))
    return [(datetime.fromisoformat(x["ts"]) - wave).total_seconds() for x in data["log"]
            if x["asset_id"] is not None and x["message"].endswith(": installed")]


# --- one run of each tool ----------------------------------------------------------------


def run_ours(argv: list[str]) -> tuple[Run, dict[str, Any], datetime, datetime]:
    started = datetime.now().astimezone().replace(microsecond=0)
    run = Run(argv, patchdesk_env())
    ended = datetime.now().astimezone().replace(microsecond=0)
    done = run.done
    if done.returncode != 0:
        raise SystemExit(f"patchdesk deploy failed ({done.returncode}):\n{done.stdout[-3000:]}"
                         f"\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    bad = [t for t in data["targets"]
           if t["state"] != "succeeded" or t["verified"] != "installed"]
    if data["phase"] != "done" or bad:
        raise SystemExit(f"patchdesk: phase {data['phase']}, not installed: {bad[:3]}")
    return run, data, started, ended


def run_ansible(argv: list[str], env: dict[str, str], hosts: int) -> Run:
    run = Run(argv, env)
    done = run.done
    if done.returncode != 0:
        raise SystemExit(f"ansible-playbook failed ({done.returncode}):\n"
                         f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    if done.stdout.count(" changed=1 ") != hosts:  # the play recap: one line per host
        raise SystemExit(f"ansible-playbook did not change every host:\n{done.stdout[-3000:]}")
    close_masters(Path(env["ANSIBLE_SSH_CONTROL_PATH_DIR"]))
    return run


# --- --trace: one instrumented in-process deployment --------------------------------------


def trace_ours(site: Path, hosts: int, concurrency: int) -> None:
    """Run one deployment in this process with every remote step timed (untimed overall,
    not in the ratio): where a host's time goes, to the millisecond."""
    from app.core.deployment import Gates, RebootPolicy
    from app.deploy import engine as engine_mod
    from app.services import SiteService

    samples: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def timed(name: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                with lock:
                    samples[name].append(time.perf_counter() - t0)
        return wrapper

    service = SiteService.open(site, actor="bench")
    try:
        t0 = time.perf_counter()
        service.remote.unlock(MASTER)
        samples["unlock vault (once)"].append(time.perf_counter() - t0)
        engine = service.deployer
        original_for = engine.deployer_for
        wrapped: dict[int, Any] = {}

        def traced_deployer(transport: Any) -> Any:
            d = original_for(transport)
            if id(d) not in wrapped:
                for attr, name in (("versions", "versions (dpkg-query)"),
                                   ("health", "health snapshot"),
                                   ("simulate", "simulate (apt-get -s)"),
                                   ("keep_for_rollback", "keep old .deb"),
                                   ("start", "start job"), ("status", "poll job")):
                    if hasattr(d, attr):
                        setattr(d, attr, timed(name, getattr(d, attr)))
                for attr, name in (("preflight", "pre-flight (1 trip)"),
                                   ("keep_and_start", "keep+check+start (1 trip)"),
                                   ("wait_job", "wait+versions+health (trip)"),
                                   ("check", "verify check (1 trip)")):
                    if hasattr(d, attr):
                        setattr(d, attr, timed(name, getattr(d, attr)))
                wrapped[id(d)] = d
            return d

        engine.deployer_for = traced_deployer
        from app.remote import ssh as ssh_mod
        original_run = ssh_mod.SshTransport.run

        def traced_run(self: Any, argv: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original_run(self, argv, *args, **kwargs)
            finally:
                what = "sudo" if kwargs.get("sudo") else "plain"
                with lock:
                    samples[f"ssh command ({what})"].append(time.perf_counter() - t0)

        ssh_mod.SshTransport.run = traced_run  # type: ignore[method-assign]
        original_connect_ssh = ssh_mod.SshTransport.connect

        def traced_connect(self: Any) -> None:
            fresh = self._client is None
            t0 = time.perf_counter()
            original_connect_ssh(self)
            if fresh:
                with lock:
                    samples["ssh connect (new)"].append(time.perf_counter() - t0)

        ssh_mod.SshTransport.connect = traced_connect  # type: ignore[method-assign]
        engine._checks = timed("pre-flight host", engine._checks)
        engine._wait = timed("wait for job (polls)", engine._wait)
        engine._install_host = timed("install host (all)", engine._install_host)
        engine._preflight = timed("pre-flight (all)", engine._preflight)
        engine._verify = timed("verification (all)", engine._verify)
        if engine.reassess is not None:
            engine.reassess = timed("re-assessment", engine.reassess)
        original_connect = service.remote.transport_for
        service.remote.transport_for = timed("transport_for", original_connect)
        t0 = time.perf_counter()
        dep = service.plan_deployment([f"{PACKAGE}={NEW}"], ["all"], gates=Gates(
            wave_size=hosts, concurrency=concurrency, reboot=RebootPolicy.NEVER))
        samples["plan"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dep = engine.run(dep.id)
        total = time.perf_counter() - t0
        if str(dep.phase) != "done":
            raise SystemExit(f"trace run ended in {dep.phase}")
    finally:
        service.close()
    log(f"trace (in-process, POLL_SECONDS={engine_mod.POLL_SECONDS}): engine.run "
        f"{total:.2f} s for {hosts} hosts, concurrency {concurrency}")
    log("  step                        calls   median s   max s   sum s")
    for name, values in samples.items():
        log(f"  {name:26s} {len(values):6d}   {statistics.median(values):8.3f} "
            f"{max(values):7.3f} {sum(values):7.2f}")


# --- main --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10, help="hosts per tool (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="our --concurrency and Ansible's -f forks (default 8)")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_VENV,
                        help=f"venv for ansible-core (default {DEFAULT_VENV})")
    parser.add_argument("--gather-facts", action="store_true",
                        help="let the play gather facts (Ansible's default; off by default)")
    parser.add_argument("--trace", action="store_true",
                        help="also one untimed in-process deployment with per-step timings")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (sites, inventories, key)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab needs network namespaces "
                         "(sudo .venv/bin/python bench/deploy_vs_ansible.py)")
    if args.hosts < 1 or args.rounds < 1 or args.concurrency < 1:
        raise SystemExit("--hosts, --rounds and --concurrency must be positive")
    if 2 * args.hosts > 200:
        raise SystemExit("--hosts: at most 100 (each round needs 2 × N lab addresses)")
    ensure_ssh_client()
    playbook, ansible_version = ensure_ansible(args.ansible_venv)
    # Bytecode for the repository's app package, as an installed PatchDesk has it (pip
    # compiles on install; Ansible's venv has it): untimed, and needed where the
    # environment sets PYTHONDONTWRITEBYTECODE (every start would compile the app again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "app")], check=True,
                   stdout=subprocess.DEVNULL)

    sys.path.insert(0, str(REPO))
    from tests.lab.lab import DEFAULT_PASSWORD, HostSpec, Lab

    workdir = Path(tempfile.mkdtemp(prefix="pdd-"))
    lab = Lab(prefix="pdlbdep", subnet=None)
    try:
        key, pubkey = keygen(workdir)
        lab.start([], timeout=60.0)
        log(f"lab on {lab.subnet}; this machine: {os.cpu_count()} cores, load "
            f"{os.getloadavg()[0]:.2f}; {args.hosts} fresh hosts per tool per round")
        log(f"peer: {ansible_version} (pipelining on, linear strategy, forks "
            f"{args.concurrency}, gather_facts {'on' if args.gather_facts else 'off'}, cold "
            "SSH masters per run)")

        def fresh_hosts(label: str) -> tuple[Path, list[str], list[str]]:
            """N hosts for each tool, a site with ours (keys pinned, assessed), Ansible's
            inventory with theirs. Untimed."""
            rdir = workdir / label
            rdir.mkdir()
            ours = [f"{label}p{i:02d}" for i in range(1, args.hosts + 1)]
            theirs = [f"{label}a{i:02d}" for i in range(1, args.hosts + 1)]
            # In batches: on a loaded machine twenty sshds starting at once may each take
            # longer than the lab's readiness probe waits for a banner.
            every = ours + theirs
            for first in range(0, len(every), 6):
                lab.add_hosts([HostSpec(n, authorized_keys=(pubkey,))
                               for n in every[first:first + 6]], timeout=180.0)
            prepare_hosts(lab, ours + theirs)
            site = make_site(rdir, [(n, lab.host(n).ip) for n in ours], key, DEFAULT_PASSWORD)
            pin_host_keys(site, {lab.host(n).ip: lab.host_keys(n) for n in ours})
            assessed = subprocess.run(patchdesk_cmd(site, "--json", "assess", "--all",
                                                    "--no-refresh"),
                                      env=patchdesk_env(), capture_output=True, text=True)
            if assessed.returncode != 0 or not all(o["ok"] for o in json.loads(
                    assessed.stdout or "[]")):
                raise SystemExit(f"assessment before the deployment failed:\n"
                                 f"{assessed.stdout[-2000:]}\n{assessed.stderr[-2000:]}")
            make_ansible_files(rdir, [(n, lab.host(n).ip) for n in theirs], key,
                               [line for n in theirs for line in lab.known_hosts_lines(n)],
                               DEFAULT_PASSWORD, args.gather_facts)
            if any(v != f"{OLD} ii" for v in installed(lab, ours + theirs).values()):
                raise SystemExit(f"fresh hosts do not start at {PACKAGE} {OLD}")
            return site, ours, theirs

        def drop(names: list[str]) -> None:
            for name in names:
                lab.remove_host(name)

        runs: dict[str, list[Run]] = {"ours": [], "ansible": []}
        parts: list[dict[str, float]] = []
        spans: list[float] = []
        log("round  tool       wall s   own CPU s   machine CPU s (incl. the lab hosts)")
        for number in range(args.rounds + 1):
            label = f"r{number}"
            site, ours, theirs = fresh_hosts(label)
            rdir = workdir / label
            our_cmd = ours_argv(site, args.hosts, args.concurrency)
            ans_cmd = [str(playbook), "-i", str(rdir / "inventory.ini"), "-f",
                       str(args.concurrency), str(rdir / "deploy.yml")]
            if number == 1:
                log("ours:    PATCHDESK_MASTER_PASSWORD=... " + " ".join(our_cmd))
                log("ansible: ANSIBLE_PIPELINING=True " + " ".join(ans_cmd))
            order = ("ours", "ansible") if number % 2 else ("ansible", "ours")
            for tool in order:
                if tool == "ours":
                    run, data, started, ended = run_ours(our_cmd)
                    check_installed(lab, ours, "ours")
                    if number:
                        parts.append(breakdown(data, started, ended))
                        spans.extend(host_spans(data))
                else:
                    run = run_ansible(ans_cmd, ansible_env(rdir), args.hosts)
                    check_installed(lab, theirs, "ansible")
                if number == 0:
                    log(f"    0  {tool:8s} {run.wall:8.2f}   (warm-up, untimed)")
                    continue
                runs[tool].append(run)
                log(f"{number:5d}  {tool:8s} {run.wall:8.2f}   {run.cpu:9.2f}   "
                    f"{run.machine_cpu:13.2f}")
            drop(ours + theirs)

        medians = {tool: statistics.median(r.wall for r in rs) for tool, rs in runs.items()}
        for tool, rs in runs.items():
            walls = [r.wall for r in rs]
            log(f"{tool:8s} median {medians[tool]:6.2f} s  (min {min(walls):.2f}, max "
                f"{max(walls):.2f}; own CPU {statistics.median(r.cpu for r in rs):.2f} s, "
                f"machine CPU {statistics.median(r.machine_cpu for r in rs):.2f} s)")
        log(f"ratio ours/ansible = {medians['ours'] / medians['ansible']:.2f}  "
            f"({args.hosts} hosts each, concurrency {args.concurrency}, {args.rounds} rounds)")
        log(f"every run verified: {PACKAGE} {NEW} installed (dpkg 'ii') on all "
            f"{args.hosts} hosts of each tool")
        log("ours, where the time went (deployment log, 1 s resolution; median of rounds):")
        for name in BREAKDOWN:
            log(f"  {name:24s} {statistics.median(p[name] for p in parts):5.1f} s")
        log(f"  hosts 'installed' after the wave started: median {statistics.median(spans):.0f}"
            f" s, max {max(spans):.0f} s")
        busy = max(statistics.median(r.machine_cpu / r.wall for r in rs)
                   for rs in runs.values())
        if busy > 0.8 * (os.cpu_count() or 1):
            log(f"note: the machine's {os.cpu_count()} cores were saturated during the runs "
                "(lab hosts included), so the ratio partly compares total CPU work")
        if args.trace:
            site, ours, theirs = fresh_hosts("tr")
            trace_ours(site, args.hosts, args.concurrency)
            check_installed(lab, ours, "ours (trace)")
            drop(ours + theirs)
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
