"""Benchmark: assessing THIS real Debian machine with PatchDesk (first and repeat) vs Ansible.

Run by hand as root, not in CI::

    sudo .venv/bin/python bench/assess_real_vs_ansible.py              # 3 rounds
    sudo .venv/bin/python bench/assess_real_vs_ansible.py --rounds 5 --no-refresh

This machine is served over SSH on loopback by tests/lab/realhost.py (a private sshd on a
127.0.0.x address and a high port, root by a throw-away key; nothing else changes). In
each round, on that same sshd:

* ours, first: a brand-new site (empty changelog cache, no stored state), then
  ``patchdesk --json assess --all`` — facts, dpkg list, ``apt-get update``, lock probe
  with the package-state fingerprint, ``apt-get -s dist-upgrade``, reboot state, and the
  changelogs of every update (read beside the simulation from apt's download list: one
  batch download of one binary per source package, changelog.Debian.gz extracted),
  stored in the site file.
* ours, repeat: the same command again on that site: ``apt-get update`` (beside the
  facts script) and the fingerprint; while the package state is unchanged the stored
  simulation is parsed again instead of simulating ("reused" below), changelogs from the
  site's cache.
* Ansible: ``ansible-playbook`` of ``package_facts`` (apt), ``apt: update_cache=yes`` and
  ``command: apt-get -s dist-upgrade`` (what issue [7] names), no fact gathering.

Both log in as root with the same key against the same pinned host key; whole-process
wall times; rounds alternate which tool goes first; medians are compared. ``apt-get
update`` (both tools) and our changelog downloads reach the Debian mirrors this machine is
configured with — the package registry, nothing else. ``--no-refresh`` leaves
``apt-get update`` out of both (Ansible's ``apt`` task then only checks the cache).

Ansible (``ansible-core`` from PyPI) lives in its own venv outside the repository (see
bench/assess_vs_ansible.py, ``--ansible-venv``); it is never a dependency of PatchDesk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from assess_vs_ansible import DEFAULT_VENV, ensure_ansible, ensure_ssh_client

REPO = Path(__file__).resolve().parent.parent
MASTER = "bench master password"
PLAYBOOK = """\
- name: assess (package facts, refreshed lists, apt's simulation)
  hosts: real
  gather_facts: false
  tasks:
    - name: installed packages
      ansible.builtin.package_facts:
        manager: apt
    - name: refresh apt metadata
      ansible.builtin.apt:
        update_cache: @UPDATE_CACHE@
    - name: missing updates
      ansible.builtin.command: >-
        apt-get -s -o APT::Get::Always-Include-Phased-Updates=true
        -o Debug::NoLocking=1 dist-upgrade
      environment:
        LANG: C
        LC_ALL: C
      register: simulation
      changed_when: false
    - name: report
      ansible.builtin.debug:
        msg: >-
          PDBENCH installed={{ ansible_facts.packages | length }}
          upgrades={{ simulation.stdout_lines | select('match', '^Inst ') | list | length }}
"""
_REPORT = re.compile(r"PDBENCH installed=(\d+) upgrades=(\d+)")


def log(text: str) -> None:
    print(text, flush=True)


def ours_argv(site: Path, refresh: bool) -> list[str]:
    argv = [sys.executable, "-m", "app.cli", "--site", str(site), "--json", "assess", "--all"]
    return argv if refresh else [*argv, "--no-refresh"]


def ours_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PATCHDESK_MASTER_PASSWORD": MASTER}


def make_site(path: Path, host: Any) -> None:
    """A site with this machine as its one asset, root by the sshd's key, host key pinned
    (untimed set-up)."""
    from app.core.credentials import SudoMode
    from app.core.models import Asset
    from app.services import SiteService

    site = SiteService.open(path, create=True, actor="bench")
    try:
        site.remote.unlock(MASTER, create=True)
        site.remote.add_ssh_credential("realhost-root", host.user, key_file=str(host.key_path),
                                       sudo_mode=SudoMode.ROOT, port=host.port)
        site.remote.accept_host_key(host.ip, host.port, *host.host_key)
        site.add_asset(Asset(hostname="realhost", ips=(host.ip,)))
    finally:
        site.close()


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    return wall, done.stdout


def run_ours(site: Path, refresh: bool) -> tuple[float, dict[str, Any]]:
    wall, out = timed(ours_argv(site, refresh), ours_env())
    [outcome] = json.loads(out)
    if not outcome["ok"]:
        raise SystemExit(f"patchdesk: the assessment failed: {outcome}")
    return wall, outcome


def reused(outcome: dict[str, Any]) -> bool:
    """Whether the assessment parsed a stored simulation (package state unchanged)."""
    return any("package state unchanged since" in w for w in outcome["warnings"])


def write_ansible_files(workdir: Path, host: Any, refresh: bool) -> tuple[Path, Path]:
    known = workdir / "known_hosts"
    known.write_text(host.known_hosts_line + "\n")
    inventory = workdir / "inventory.ini"
    common = (f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
              "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes")
    inventory.write_text("\n".join([
        "[real]",
        f"realhost ansible_host={host.ip} ansible_port={host.port}",
        "[real:vars]",
        f"ansible_user={host.user}",
        f"ansible_ssh_private_key_file={host.key_path}",
        f"ansible_ssh_common_args='{common}'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]) + "\n")
    play = workdir / "assess.yml"
    play.write_text(PLAYBOOK.replace("@UPDATE_CACHE@", "true" if refresh else "false"))
    return inventory, play


def ansible_env(workdir: Path, label: str) -> dict[str, str]:
    control = workdir / f"cp-{label}"
    control.mkdir(exist_ok=True)
    return {**os.environ,
            "ANSIBLE_HOME": str(workdir / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
            "ANSIBLE_CONFIG": str(workdir / "no-ansible.cfg"),
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False"}


def close_masters(control: Path) -> None:
    for sock in control.glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "pd-bench"],
                       capture_output=True, timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--no-refresh", action="store_true",
                        help="no apt-get update in either tool")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_VENV,
                        help=f"venv for ansible-core (default {DEFAULT_VENV})")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the private sshd logs in as root "
                         "(sudo .venv/bin/python bench/assess_real_vs_ansible.py)")
    if args.rounds < 1:
        raise SystemExit("--rounds must be positive")
    refresh = not args.no_refresh
    ensure_ssh_client()
    playbook, ansible_version = ensure_ansible(args.ansible_venv)
    # Bytecode for the repository's app package, as an installed PatchDesk has it (pip
    # compiles on install; Ansible's venv has it): untimed, and needed where the
    # environment sets PYTHONDONTWRITEBYTECODE (every start would compile the app again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "app")], check=True,
                   stdout=subprocess.DEVNULL)
    sys.path.insert(0, str(REPO))
    from tests.lab.realhost import serve_this_machine

    workdir = Path(tempfile.mkdtemp(prefix="pdrb-"))
    with serve_this_machine() as host:
        inventory, play = write_ansible_files(workdir, host, refresh)
        ans_argv = [str(playbook), "-i", str(inventory), str(play)]
        log(f"this machine over SSH at {host.ip}:{host.port}; {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}; apt-get update: {'yes' if refresh else 'no'}")
        log(f"peer: {ansible_version} (pipelining on, cold SSH master per run)")
        log("ours:    " + " ".join(ours_argv(workdir / "rN.pdsite", refresh)))
        log("ansible: " + " ".join(ans_argv))
        # Untimed warm-up of both: page cache, Python byte code, apt's lists.
        make_site(workdir / "warmup.pdsite", host)
        run_ours(workdir / "warmup.pdsite", refresh)
        timed(ans_argv, ansible_env(workdir, "warmup"))
        close_masters(workdir / "cp-warmup")

        first: list[float] = []
        repeat: list[float] = []
        ansible: list[float] = []
        log("round  ours first s  (lookups: fetched/cached/failed, s)  ours repeat s  "
            "(lookups, reused?)  ansible s")
        for number in range(1, args.rounds + 1):
            site = workdir / f"r{number}.pdsite"
            make_site(site, host)
            row: dict[str, Any] = {}
            order = ("ours", "ansible") if number % 2 else ("ansible", "ours")
            for tool in order:
                if tool == "ours":
                    row["first"] = run_ours(site, refresh)
                    row["repeat"] = run_ours(site, refresh)
                else:
                    label = f"r{number}"
                    wall, out = timed(ans_argv, ansible_env(workdir, label))
                    close_masters(workdir / f"cp-{label}")
                    m = _REPORT.search(out)
                    row["ansible"] = (wall, m.groups() if m else ("?", "?"))
            (w1, o1), (w2, o2), (wa, found) = row["first"], row["repeat"], row["ansible"]
            first.append(w1)
            repeat.append(w2)
            ansible.append(wa)
            lk1, lk2 = o1["cve_lookups"] or {}, o2["cve_lookups"] or {}
            log(f"{number:>5}  {w1:>12.2f}  ({lk1.get('fetched')}/{lk1.get('cached')}/"
                f"{lk1.get('failed')}, {lk1.get('seconds')} s)  {w2:>13.2f}  "
                f"({lk2.get('fetched')}/{lk2.get('cached')}/{lk2.get('failed')}, "
                f"{lk2.get('seconds')} s{', reused' if reused(o2) else ''})  {wa:>9.2f}")
            if reused(o1) or o1["missing"] != o2["missing"]:
                raise SystemExit("the first assessment reused a state, or the repeat "
                                 "found other updates")
            log(f"       ours: {o1['updates']} updates ({o1['security_updates']} security); "
                f"ansible: {found[1]} Inst lines, {found[0]} installed")
        mf, mr, ma = (statistics.median(x) for x in (first, repeat, ansible))
        log(f"median: ours first {mf:.2f} s, repeat {mr:.2f} s, ansible {ma:.2f} s; "
            f"first/ansible {mf / ma:.2f} (target <= 1), repeat/ansible {mr / ma:.2f} "
            f"(target <= 0.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
