"""Hosts that fail in the middle of the work, assessed and deployed to beside normal hosts
in one run ([12], issue 15, "prove it under faults"): a host that drops mid-command, one
that hangs (the command's deadline fires), one that closes the channel (the command dies
without an exit status), one with a full disk, one with a held dpkg lock and one whose
mirror cannot be reached. Each ends in its own clear error; the normal hosts' results are
exactly right, and the run takes the hung host's deadline, not longer.

Faults are injected on the lab hosts themselves: wrapper commands in /usr/local/bin and
/usr/local/sbin (first on the PATH of a login and of sudo), a small tmpfs over apt's
folders, the lab's dpkg lock holder, a sources.list pointing at a closed port, and
powering a host off (``lab.stop_host``) at the moment its wrapper says the command runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.deployment import Gates, HostState, Phase
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import HostInfo, Lab

MASTER = "lab master password"

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# `who` is run by the facts script only (not `uname`: PAM's motd scripts run that when an
# SSH session opens). The facts script is the wrapper's parent: killing it ends the
# command by a signal, so the channel closes without an exit status.
HANG = "#!/bin/sh\nsleep 3600\n"
DROP = "#!/bin/sh\ntouch /tmp/pd-drop-now\nsleep 30\nexec /usr/bin/who \"$@\"\n"
CLOSE = "#!/bin/sh\nkill -KILL $PPID\nkill -KILL $$\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "faults.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.credentials.access.accept_new_host_keys = True
    yield service
    service.close()


def install(lab: Lab, host: str, path: str, text: str) -> None:
    lab.exec(host, f"cat > {path} && chmod 755 {path}", input=text, check=True)


def fill_tmpfs_over(lab: Lab, host: str, folder: str, keep: bool) -> None:
    """A small tmpfs over ``folder`` (its contents copied in when ``keep``), filled up."""
    lab.exec(host, f"""set -e
        mkdir -p /tmp/pd-keep && {'cp -a ' + folder + '/. /tmp/pd-keep/' if keep else 'true'}
        mount -t tmpfs -o size=2m tmpfs {folder}
        cp -a /tmp/pd-keep/. {folder}/ 2>/dev/null || true
        mkdir -p {folder}/partial
        dd if=/dev/zero of={folder}/pd-filler bs=64k 2>/dev/null || true""", check=True)


def unreachable_mirror(lab: Lab, host: str) -> None:
    """The host's mirror (the lab's repository) cannot be reached from it any more: no
    route to it in the host's network namespace (the SSH traffic comes from elsewhere)."""
    lab.exec(host, ["ip", "route", "add", "unreachable", f"{lab.repo_ip}/32"], check=True)


def watch_for(lab: Lab, host: str, flag: str, then: Callable[[], None]) -> threading.Thread:
    """Run ``then`` once the file ``flag`` shows up on ``host`` (within 120 s)."""

    def loop() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if lab.exec(host, f"test -e {flag}").returncode == 0:
                then()
                return
            time.sleep(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def add(site: SiteService, *infos: HostInfo) -> None:
    for info in infos:
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))


def test_assessment_faults_end_in_their_own_error_and_the_rest_are_right(
        lab: Lab, lab_host, site: SiteService) -> None:
    normal = [lab_host(name=n) for n in ("afok1", "afok2")]
    hang, drop, close, full, locked, mirror = (
        lab_host(name=n) for n in ("afhang", "afdrop", "afclose", "affull", "aflock",
                                   "afmirror"))
    install(lab, "afhang", "/usr/local/bin/who", HANG)
    install(lab, "afdrop", "/usr/local/bin/who", DROP)
    install(lab, "afclose", "/usr/local/bin/who", CLOSE)
    # Over apt's cache (update fails at once, E: No space left); a full lists folder can
    # also make apt-get update hang, which its 300 s deadline ends as "timeout".
    fill_tmpfs_over(lab, "affull", "/var/cache/apt", keep=False)
    unreachable_mirror(lab, "afmirror")
    add(site, *normal, hang, drop, close, full, locked, mirror)
    dropper = watch_for(lab, "afdrop", "/tmp/pd-drop-now", lambda: lab.stop_host("afdrop"))
    started = time.monotonic()
    with lab.hold_dpkg_lock("aflock"):
        outcomes = {o.label: o for o in site.assess_assets(concurrency=8)}
    took = time.monotonic() - started
    dropper.join(5)
    expected = {n.name: (True, "") for n in normal}
    assert {n: (o.ok, o.kind) for n, o in outcomes.items()} == {
        **expected, "afhang": (False, "timeout"), "afdrop": (False, "unreachable"),
        "afclose": (False, "channel_closed"), "affull": (False, "disk_full"),
        "aflock": (False, "apt_lock"), "afmirror": (False, "apt_update_failed")}, \
        "\n".join(f"{n}: {o.summary}" for n, o in outcomes.items())
    assert took < 150  # the hung host's deadline, not a hang of the run
    assert "did not finish in time" in outcomes["afhang"].message
    assert "closed the channel" in outcomes["afclose"].message
    assert "No space left on device" in outcomes["affull"].message
    assert "dpkg is locked by process" in outcomes["aflock"].message
    # An unreachable mirror: no result from lists that could not be refreshed.
    assert "apt-get update failed" in outcomes["afmirror"].message
    assert "No route to host" in outcomes["afmirror"].message, outcomes["afmirror"].message
    # The normal hosts' results are exactly apt's.
    for info in normal:
        asset = site.find_assets(info.name)[0]
        ours = {p.package: p.candidate_version for p in site.patches(asset.id)}
        assert ours == {"pd-openssl": "1.0-2", "pd-tools": "2.1-1", "pd-broken": "1.1-1",
                        "pd-kernel": "5.1-1"}, info.name
    # Each failure is stored with the host (shown on its page later).
    for name, kind in (("afhang", "timeout"), ("afclose", "channel_closed"),
                       ("affull", "disk_full")):
        record = site.assessment(site.find_assets(name)[0].id or 0)
        assert record is not None and (record.ok, record.error_kind) == (False, kind)


def versions(lab: Lab, host: str, package: str) -> str:
    return lab.exec(host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}",
                           package]).stdout.strip()


def apt_installs(lab: Lab, host: str, package: str) -> int:
    text = lab.read_file(host, "/var/log/apt/history.log")
    return sum(1 for line in text.splitlines()
               if line.startswith("Commandline:") and f" {package}=" in line)


# sudo's PATH starts with /usr/local/sbin: the install job's apt-get is this one.
# (a simulation, ``apt-get -s install``, is left alone: pre-flight runs one under sudo)
APT_HANG = """#!/bin/sh
case " $* " in *" -s "*) ;; *" install "*) touch /tmp/pd-install-now; sleep 3600;; esac
exec /usr/bin/apt-get "$@"
"""
APT_SLOW = """#!/bin/sh
case " $* " in *" -s "*) ;; *" install "*) touch /tmp/pd-install-now; sleep 20;; esac
exec /usr/bin/apt-get "$@"
"""
# After the install, dpkg-query (the version check) dies without an exit status.
APT_THEN_CLOSE = """#!/bin/sh
/usr/bin/apt-get "$@"; code=$?
case " $* " in *" -s "*) ;; *" install "*) touch /tmp/pd-close-now;; esac
exit $code
"""
DPKG_QUERY_CLOSE = """#!/bin/sh
[ -e /tmp/pd-close-now ] && kill -KILL $$
exec /usr/bin/dpkg-query "$@"
"""


def test_deployment_faults_end_in_their_own_error_and_the_rest_finish(
        lab: Lab, lab_host, site: SiteService) -> None:
    names = ["dfok1", "dfok2", "dfhang", "dfdrop", "dfclose", "dffull", "dflock",
             "dfmirror"]
    infos = {n: lab_host(name=n) for n in names}
    add(site, *infos.values())
    install(lab, "dfhang", "/usr/local/sbin/apt-get", APT_HANG)
    install(lab, "dfdrop", "/usr/local/sbin/apt-get", APT_SLOW)
    install(lab, "dfclose", "/usr/local/sbin/apt-get", APT_THEN_CLOSE)
    install(lab, "dfclose", "/usr/local/bin/dpkg-query", DPKG_QUERY_CLOSE)
    fill_tmpfs_over(lab, "dffull", "/var/cache/apt/archives", keep=False)
    unreachable_mirror(lab, "dfmirror")
    dep = site.plan_deployment(["pd-tools=2.1-1"], names,
                               gates=Gates(concurrency=8, wave_size=8, host_timeout=30,
                                           max_failure_rate=1.0),
                               override_reason="lab test: faulty hosts must all run")
    dropper = watch_for(lab, "dfdrop", "/tmp/pd-install-now", lambda: lab.stop_host("dfdrop"))
    started = time.monotonic()
    with lab.hold_dpkg_lock("dflock"):
        dep = site.deployer.run(dep.id)
    took = time.monotonic() - started
    dropper.join(5)
    assert dep.phase is Phase.DONE, dep.halt_reason
    assert took < 240
    by = {t.label: t for t in dep.targets}
    summary = "\n".join(f"{n}: {t.state} {t.verified!r} {t.detail!r} {t.preflight}"
                        for n, t in by.items())
    for name in ("dfok1", "dfok2"):
        assert (by[name].state, by[name].verified) == (HostState.SUCCEEDED, "installed"), summary
        assert versions(lab, name, "pd-tools") == "2.1-1 ii"
        assert apt_installs(lab, name, "pd-tools") == 1
    assert by["dfhang"].state is HostState.FAILED, summary
    assert "did not finish within 30s" in by["dfhang"].detail
    assert by["dfdrop"].state is HostState.FAILED, summary
    # Whichever step met the dead host: the link's words, never a wrong result.
    assert any(w in by["dfdrop"].detail for w in (
        "no answer on port 22", "cannot connect to port 22", "SSH failed",
        "connection was lost", "cannot open a session", "closed the channel")), summary
    assert by["dfclose"].state is HostState.FAILED, summary
    # the version check died without answering: the link's words (a command of its own)
    # or the script's (dpkg-query inside the fast path's one call), never "not installed"
    assert ("closed the channel" in by["dfclose"].detail
            or "ended with status 137" in by["dfclose"].detail), summary
    assert by["dffull"].state is HostState.FAILED, summary
    assert "enough free space" in by["dffull"].detail or "No space" in by["dffull"].detail, \
        summary
    assert by["dflock"].excluded, summary  # refused at pre-flight, nothing started
    assert any("dpkg is locked" in p for p in by["dflock"].preflight), summary
    assert versions(lab, "dflock", "pd-tools") == "2.0-1 ii"
    assert by["dfmirror"].state is HostState.FAILED, summary
    assert "Failed to fetch" in by["dfmirror"].detail or "Unable to fetch" in \
        by["dfmirror"].detail, summary
    for name in ("dffull", "dfmirror", "dflock"):
        assert versions(lab, name, "pd-tools") == "2.0-1 ii", name  # untouched
