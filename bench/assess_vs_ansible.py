"""Benchmark: PatchDesk's deep assessment against Ansible gathering the same information.

Run by hand as root (it starts the tests' network-namespace lab), not in CI::

    sudo .venv/bin/python bench/assess_vs_ansible.py                  # 20 hosts, 3 rounds
    sudo .venv/bin/python bench/assess_vs_ansible.py --hosts 12 --rounds 5 --concurrency 8

What runs, on the same lab hosts in the same run (DESIGN.md §6):

* ours: ``patchdesk --site S --json assess --all --concurrency N`` — facts (os-release,
  kernel, memory, CPU, disks, interfaces, DMI, users; as root), the dpkg package list,
  ``apt-get update`` (sudo), ``apt-get check`` (sudo, lock probe), ``apt-get -s
  dist-upgrade`` and the reboot state, stored in the site file.
* Ansible: ``ansible-playbook -f N`` of a play doing ``setup`` (become), ``package_facts``
  (apt), ``apt: update_cache=yes`` (become), ``command: apt-get -s dist-upgrade`` and a
  ``stat`` of /var/run/reboot-required, plus a local ``debug`` that reports the counts.

Both log in as ``admin`` with the same ed25519 key and become root with sudo and the same
password (sudo asks for it on the lab hosts). Both verify host keys: Ansible against a
known_hosts file made from the lab's keys, ours against the same keys pinned in the site
beforehand (so neither pins during a run). An untimed warm-up run of each tool comes
first. Ansible runs with pipelining on, the interpreter given (no discovery), its default
``ssh`` options (ControlPersist=60s) and the default ``linear`` strategy. Each Ansible run
gets a fresh ControlPath directory, so it starts without warm SSH masters as ours starts
without open connections (``--warm-ssh`` lets Ansible reuse them across rounds). Times
are whole-process wall times; rounds alternate which tool goes first; medians are
compared. The upgradable packages, installed-package counts and reboot state each tool
found on every host are compared as a sanity check.

READ THE RATIO WITH THIS: the lab's hosts share this machine's kernel and cores with both
tools. Both runs keep every core busy (see "machine CPU"), so on the lab the ratio mostly
compares the total CPU work of a run, most of it on the hosts, where Ansible runs Python
modules (setup, package_facts, apt through python-apt) and PatchDesk runs a shell script
and apt-get. On a real network each host has its own CPU and the gap narrows towards the
one-host ratio (``--hosts 1``). Each round prints wall time, the tool's own CPU (its
process and the children it waited for) and the whole machine's busy CPU over the run
(which also counts anything else running on the machine).

Ansible (``ansible-core`` from PyPI) is installed into its own venv outside the repository
(``--ansible-venv``, reused when present); it is never a dependency of PatchDesk.

NETWORK SAFETY: only the lab's hosts (a private /24 in network namespaces with no uplink)
are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path("/var/cache/patchdesk-bench/ansible-venv")
MASTER = "bench master password"
PLAYBOOK = """\
- name: assess (what PatchDesk's deep scan gathers)
  hosts: lab
  gather_facts: false
  tasks:
    - name: facts
      ansible.builtin.setup:
        gather_subset: "@GATHER_SUBSET@"
      become: true
    - name: installed packages
      ansible.builtin.package_facts:
        manager: apt
    - name: refresh apt metadata
      ansible.builtin.apt:
        update_cache: true
      become: true
    - name: missing updates
      ansible.builtin.command: >-
        apt-get -s -o APT::Get::Always-Include-Phased-Updates=true
        -o Debug::NoLocking=1 dist-upgrade
      environment:
        LANG: C
        LC_ALL: C
      register: simulation
      changed_when: false
    - name: reboot required
      ansible.builtin.stat:
        path: /var/run/reboot-required
      register: reboot_required
    - name: report
      ansible.builtin.debug:
        msg: >-
          PDBENCH {{ inventory_hostname }}
          installed={{ ansible_facts.packages | length }}
          reboot={{ reboot_required.stat.exists }}
          upgrades={{ simulation.stdout_lines | select('match', '^Inst ')
                      | map('split', ' ') | map(attribute=1) | sort | join(',') }}
"""
_REPORT = re.compile(r"PDBENCH (\S+) installed=(\d+) reboot=(\S+) upgrades=([^\s\"]*)")


def log(text: str) -> None:
    print(text, flush=True)


# --- set-up ---------------------------------------------------------------------------


def ensure_ansible(venv: Path) -> tuple[Path, str]:
    """ansible-playbook from its own venv (created with this machine's Python if missing)."""
    playbook = venv / "bin" / "ansible-playbook"
    if not playbook.exists():
        log(f"installing ansible-core into {venv} (once) ...")
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ansible-core"],
                       check=True)
    version = subprocess.run([str(venv / "bin" / "ansible"), "--version"], capture_output=True,
                             text=True, check=True).stdout.splitlines()[0]
    return playbook, version


def ensure_ssh_client() -> None:
    if shutil.which("ssh") is None:
        raise SystemExit("Ansible needs the OpenSSH client: apt-get install openssh-client")


def keygen(workdir: Path) -> tuple[Path, str]:
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pd-bench",
                    "-f", str(key)], check=True)
    return key, (workdir / "id_ed25519.pub").read_text().strip()


def patchdesk_cmd(site: Path, *rest: str) -> list[str]:
    return [str(REPO / ".venv" / "bin" / "patchdesk"), "--site", str(site), *rest]


def patchdesk_env() -> dict[str, str]:
    return {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}


def make_site(workdir: Path, hosts: list[tuple[str, str]], key: Path, password: str) -> Path:
    """A site with the lab hosts as assets and one SSH key credential (sudo password)."""
    site = workdir / "bench.pdsite"
    csv = workdir / "hosts.csv"
    csv.write_text("hostname,ip\n" + "".join(f"{n},{ip}\n" for n, ip in hosts))
    env = patchdesk_env()
    subprocess.run(patchdesk_cmd(site, "site", "init", "--name", "assess bench"), env=env,
                   check=True, capture_output=True)
    subprocess.run(patchdesk_cmd(site, "import", "csv", str(csv)), env=env, check=True,
                   capture_output=True)
    subprocess.run(patchdesk_cmd(site, "cred", "add", "lab", "--ssh-user", "admin",
                                 "--ssh-key", str(key), "--sudo-password-stdin", "--scope", "all"),
                   input=password + "\n", text=True, env=env, check=True, capture_output=True)
    return site


def pin_host_keys(site: Path, keys: dict[str, dict[str, str]]) -> None:
    """Pin the lab's host keys in the site, as Ansible gets them in known_hosts: both tools
    verify the same keys and neither pins during a timed run (set-up, untimed)."""
    from app.core.hostkeys import PinnedKey
    from app.services import SiteService

    service = SiteService.open(site, actor="bench")
    try:
        for ip, by_type in keys.items():
            for key_type, b64 in by_type.items():
                service.remote.host_keys.pin(ip, 22, PinnedKey(key_type, b64),
                                             accepted_by="bench (lab's keys)", replace=False)
    finally:
        service.close()


def write_inventory(workdir: Path, hosts: list[tuple[str, str]], key: Path,
                    known_hosts: list[str], password: str) -> Path:
    """An Ansible inventory for the lab hosts: same user, key, pinned keys and sudo password
    as PatchDesk uses (shared with bench/deploy_vs_ansible.py)."""
    kh = workdir / "known_hosts"
    kh.write_text("".join(line + "\n" for line in known_hosts))
    inventory = workdir / "inventory.ini"
    common = (f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes "
              "-o GlobalKnownHostsFile=/dev/null")
    lines = ["[lab]"]
    lines += [f"{name} ansible_host={ip}" for name, ip in hosts]
    lines += [
        "[lab:vars]",
        "ansible_user=admin",
        f"ansible_ssh_private_key_file={key}",
        f"ansible_ssh_common_args='{common}'",
        f"ansible_become_password={password}",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    inventory.write_text("\n".join(lines) + "\n")
    inventory.chmod(0o600)
    return inventory


def make_ansible_files(workdir: Path, hosts: list[tuple[str, str]], key: Path,
                       known_hosts: list[str], password: str,
                       gather_subset: str) -> tuple[Path, Path]:
    inventory = write_inventory(workdir, hosts, key, known_hosts, password)
    play = workdir / "assess.yml"
    play.write_text(PLAYBOOK.replace("@GATHER_SUBSET@", gather_subset))
    return inventory, play


# --- one run of each tool ----------------------------------------------------------------


class Run:
    """One timed process: wall time, its own CPU (with waited-for descendants) and the
    whole machine's busy CPU (the lab hosts share this machine's kernel and cores)."""

    def __init__(self, argv: list[str], env: dict[str, str], stdin: str | None = None) -> None:
        before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
        before_machine = machine_busy()
        started = time.perf_counter()
        self.done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
        self.wall = time.perf_counter() - started
        self.machine_cpu = machine_busy() - before_machine
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - before_self.ru_utime) + (after.ru_stime
                                                               - before_self.ru_stime)


def machine_busy() -> float:
    """CPU seconds this machine spent busy since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")



def run_ours(site: Path, concurrency: int) -> tuple[Run, dict[str, int]]:
    argv = patchdesk_cmd(site, "--json", "assess", "--all", "--concurrency", str(concurrency))
    run = Run(argv, patchdesk_env())
    done = run.done
    if done.returncode != 0:
        raise SystemExit(f"patchdesk assess failed ({done.returncode}):\n{done.stdout}\n"
                         f"{done.stderr[-2000:]}")
    outcomes = json.loads(done.stdout)
    bad = [o for o in outcomes if not o["ok"]]
    if bad:
        raise SystemExit(f"patchdesk: {len(bad)} hosts failed: {bad[:3]}")
    return run, {o["host"]: o["updates"] for o in outcomes}


def ansible_argv(playbook: Path, inventory: Path, play: Path, forks: int) -> list[str]:
    return [str(playbook), "-i", str(inventory), "-f", str(forks), str(play)]


def ansible_env(workdir: Path, round_label: str, warm: bool) -> dict[str, str]:
    control = workdir / ("cp" if warm else f"cp-{round_label}")
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


def run_ansible(argv: list[str], env: dict[str, str]) -> tuple[Run, dict[str, dict]]:
    run = Run(argv, env)
    done = run.done
    if done.returncode != 0:
        raise SystemExit(f"ansible-playbook failed ({done.returncode}):\n"
                         f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    found: dict[str, dict] = {}
    for m in _REPORT.finditer(done.stdout):
        name, installed, reboot, upgrades = m.groups()
        found[name] = {"installed": int(installed), "reboot": reboot == "True",
                       "upgrades": sorted(filter(None, upgrades.split(",")))}
    return run, found


def close_masters(control: Path) -> None:
    """Stop the ControlPersist masters a run left (untimed), so none outlive the bench."""
    for sock in control.glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "pd-bench"],
                       capture_output=True, timeout=10)


# --- sanity check ----------------------------------------------------------------------


def ours_details(site: Path) -> dict[str, dict]:
    """Per host: upgradable package names, installed-package count, reboot flag."""
    from app.services import SiteService

    service = SiteService.open(site, actor="bench")
    try:
        found: dict[str, dict] = {}
        for asset in service.assets():
            record = service.assessment(asset.id or 0)
            found[asset.hostname] = {
                "installed": record.packages if record else -1,
                "reboot": bool(record and record.reboot_required),
                "upgrades": sorted(p.package for p in service.patches(asset.id)),
            }
        return found
    finally:
        service.close()


# --- main --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20, help="lab hosts (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="our --concurrency and Ansible's -f forks (default 8)")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_VENV,
                        help=f"venv for ansible-core (default {DEFAULT_VENV})")
    parser.add_argument("--ansible-strategy", default="linear", choices=["linear", "free"],
                        help="Ansible's strategy (default linear, Ansible's default)")
    parser.add_argument("--gather-subset", default="all",
                        help="Ansible setup's gather_subset, e.g. '!all,hardware,network' "
                             "(default all, Ansible's default)")
    parser.add_argument("--warm-ssh", action="store_true",
                        help="let Ansible reuse its ControlPersist masters across rounds")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (site, inventory, key) for inspection")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab needs network namespaces "
                         "(sudo .venv/bin/python bench/assess_vs_ansible.py)")
    if args.hosts < 1 or args.rounds < 1 or args.concurrency < 1:
        raise SystemExit("--hosts, --rounds and --concurrency must be positive")
    ensure_ssh_client()
    playbook, ansible_version = ensure_ansible(args.ansible_venv)

    sys.path.insert(0, str(REPO))
    from tests.lab.lab import DEFAULT_PASSWORD, HostSpec, Lab

    workdir = Path(tempfile.mkdtemp(prefix="pdb-"))
    lab = Lab(prefix="pdlbench", subnet=None)
    try:
        key, pubkey = keygen(workdir)
        names = [f"h{i:02d}" for i in range(1, args.hosts + 1)]
        started = time.perf_counter()
        lab.start([HostSpec(n, authorized_keys=(pubkey,)) for n in names],
                  timeout=max(60.0, 5.0 * args.hosts))
        log(f"lab: {args.hosts} Debian 12 hosts on {lab.subnet} up in "
            f"{time.perf_counter() - started:.1f} s; this machine: {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}")
        hosts = [(n, lab.host(n).ip) for n in names]
        known = [line for n in names for line in lab.known_hosts_lines(n)]
        site = make_site(workdir, hosts, key, DEFAULT_PASSWORD)
        pin_host_keys(site, {lab.host(n).ip: lab.host_keys(n) for n in names})
        inventory, play = make_ansible_files(workdir, hosts, key, known, DEFAULT_PASSWORD,
                                             args.gather_subset)

        ours_argv = patchdesk_cmd(site, "--json", "assess", "--all", "--concurrency",
                                  str(args.concurrency))
        ans_argv = ansible_argv(playbook, inventory, play, args.concurrency)
        log(f"peer: {ansible_version} (pipelining on, {args.ansible_strategy} strategy, "
            f"forks {args.concurrency}, gather_subset {args.gather_subset}, "
            f"{'warm' if args.warm_ssh else 'cold'} SSH masters per run)")
        log("ours:    PATCHDESK_MASTER_PASSWORD=... " + " ".join(ours_argv))
        log(f"ansible: ANSIBLE_PIPELINING=True ANSIBLE_STRATEGY={args.ansible_strategy} "
            + " ".join(ans_argv))
        log(f"files in {workdir} (playbook assess.yml, inventory.ini)")

        def ansible_round(label: str) -> tuple[Run, dict[str, dict]]:
            env = ansible_env(workdir, label, args.warm_ssh)
            env["ANSIBLE_STRATEGY"] = args.ansible_strategy
            result = run_ansible(ans_argv, env)
            if not args.warm_ssh:
                close_masters(Path(env["ANSIBLE_SSH_CONTROL_PATH_DIR"]))
            return result

        # Untimed warm-up: fills the page cache and the site's tables for both.
        run_ours(site, args.concurrency)
        ansible_round("warmup")

        runs: dict[str, list[Run]] = {"ours": [], "ansible": []}
        ans_found: dict[str, dict] = {}
        ours_counts: dict[str, int] = {}
        log("round  tool       wall s   own CPU s   machine CPU s (incl. the lab hosts)")
        for number in range(1, args.rounds + 1):
            order = ("ours", "ansible") if number % 2 else ("ansible", "ours")
            for tool in order:
                if tool == "ours":
                    run, ours_counts = run_ours(site, args.concurrency)
                else:
                    run, ans_found = ansible_round(str(number))
                runs[tool].append(run)
                log(f"{number:5d}  {tool:8s} {run.wall:8.2f}   {run.cpu:9.2f}   "
                    f"{run.machine_cpu:13.2f}")
        if args.warm_ssh:
            close_masters(workdir / "cp")

        medians = {tool: statistics.median(r.wall for r in rs) for tool, rs in runs.items()}
        for tool, rs in runs.items():
            walls = [r.wall for r in rs]
            log(f"{tool:8s} median {medians[tool]:6.2f} s  (min {min(walls):.2f}, max "
                f"{max(walls):.2f}; own CPU {statistics.median(r.cpu for r in rs):.2f} s, "
                f"machine CPU {statistics.median(r.machine_cpu for r in rs):.2f} s)")
        log(f"ratio ours/ansible = {medians['ours'] / medians['ansible']:.2f}  "
            f"({args.hosts} hosts, concurrency {args.concurrency}, {args.rounds} rounds)")
        busy = max(statistics.median(r.machine_cpu / r.wall for r in rs)
                   for rs in runs.values())
        if busy > 0.8 * (os.cpu_count() or 1):
            log(f"note: the machine's {os.cpu_count()} cores were saturated during the runs "
                "(lab hosts and anything else running included), so this ratio compares total "
                "CPU work; see the module docstring")

        ours_found = ours_details(site)
        problems = []
        for name in names:
            ours, theirs = ours_found.get(name), ans_found.get(name)
            if ours is None or theirs is None:
                problems.append(f"{name}: missing from {'ours' if ours is None else 'ansible'}")
                continue
            if ours_counts.get(name) != len(theirs["upgrades"]):
                problems.append(f"{name}: {ours_counts.get(name)} vs "
                                f"{len(theirs['upgrades'])} upgradable")
            for field in ("upgrades", "installed", "reboot"):
                if ours[field] != theirs[field]:
                    problems.append(f"{name}: {field} ours={ours[field]} "
                                    f"ansible={theirs[field]}")
        if problems:
            log("sanity check FAILED:\n  " + "\n  ".join(problems))
            return 1
        sample = ours_found[names[0]]
        log(f"sanity check ok: on all {len(names)} hosts both found the same "
            f"{len(sample['upgrades'])} upgradable packages ({', '.join(sample['upgrades'])}), "
            f"the same number of installed packages ({sample['installed']} on {names[0]}) and "
            "the same reboot state")
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
