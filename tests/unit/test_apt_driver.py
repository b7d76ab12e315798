"""The apt driver on captured Debian 12 outputs (tests/data), through a scripted transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.models import Classification
from app.drivers.base import DriverError
from app.drivers.registry import assess_host
from tests.fakes import ScriptedTransport, contains, starts

DATA = Path(__file__).parents[1] / "data"


def read(rel: str) -> str:
    return (DATA / rel).read_text(encoding="utf-8")


def facts_output(*, reboot_required: bool) -> str:
    facts = DATA / "facts" / "debian-12"
    sections = {
        "os-release": read("apt/debian-12/os-release"),
        "kernel": "6.1.0-18-amd64",
        "arch": "x86_64",
        "hostname": "deb1",
        "uptime": (facts / "uptime").read_text(),
        "boot-id": (facts / "boot_id").read_text(),
        "meminfo": (facts / "meminfo").read_text(),
        "cpuinfo": (facts / "cpuinfo").read_text(),
        "df": (facts / "df-P-B1.txt").read_text(),
        "ip-addr": (facts / "ip-j-addr.json").read_text(),
        "who": "admin    pts/0        2026-11-26 10:00 (10.0.0.250)",
        "dmi-sys_vendor": "Dell Inc.",
        "dmi-product_name": "PowerEdge R650",
        "dmi-product_serial": "ABC1234",
        "reboot-required": read("reboot/debian-12/reboot-required") if reboot_required
        else "@@pd-absent@@",
        "reboot-required-pkgs": read("reboot/debian-12/reboot-required.pkgs")
        if reboot_required else "@@pd-absent@@",
        "needrestart": "@@pd-absent@@",
    }
    text = "".join(f"\n@@pd:{name}@@\n{body}" for name, body in sections.items())
    return text + "\n@@pd:end@@\n"


def debian_host(*, reboot_required: bool = False, simulation: str | None = None,
                check: tuple[int, str, str] = (0, "Reading package lists...\n", "")
                ) -> ScriptedTransport:
    t = ScriptedTransport()
    t.on(contains("changelogs"), 0, "\n@@pd:end@@\n")  # no changelog could be read
    t.on(contains("pd-lockprobe"), *check)  # /proc/locks, then apt-get check if needed
    t.on(contains("dist-upgrade"), 0,  # the simulation (a script) and its download list
         simulation if simulation is not None else read("apt/debian-12/apt-get-s-upgrade.txt"))
    t.on(contains("pd-update"), 0, "Reading package lists...\n")
    t.on(starts("sh", "-c"), 0, facts_output(reboot_required=reboot_required))
    t.on(starts("dpkg-query", "-W", "-f=${Package} ${Status}\\n"), 1, "")
    t.on(starts("dpkg-query", "-W"), 0, read("apt/debian-12/dpkg-query-before.txt"))
    return t


def test_assessment_of_a_captured_debian_host() -> None:
    transport = debian_host(reboot_required=True)
    result = assess_host(transport)
    assert result.driver == "apt"
    assert (result.facts.os_name, result.facts.os_version) == ("Debian GNU/Linux", "12")
    assert (result.facts.manufacturer, result.facts.serial) == ("Dell Inc.", "ABC1234")
    assert result.facts.logged_in_users == ("admin",)
    by_name = {u.package: u for u in result.updates}
    assert by_name["pd-openssl"].classification is Classification.SECURITY
    assert by_name["pd-openssl"].installed_version == "1.0-1"
    assert by_name["pd-openssl"].candidate_version == "1.0-2"
    assert "bookworm-security" in by_name["pd-openssl"].source
    assert all(u.classification is Classification.OTHER
               for name, u in by_name.items() if name != "pd-openssl")
    assert result.reboot.required is True
    assert any("pd-kernel" in r for r in result.reboot.reasons)
    assert {p.name for p in result.packages} >= {"pd-openssl", "pd-tools", "bash"}
    # Refresh and lock check run as root; parsing commands ran without sudo.
    scripts = {(argv[3], as_root) for argv, as_root in transport.calls
               if argv[:2] == ("sh", "-c") and len(argv) > 3}
    assert {("pd-update", True), ("pd-lockprobe", True), ("pd-simulate", False),
            ("pd-apt", False)} <= scripts
    assert not any(as_root for name, as_root in scripts if name in ("pd-simulate", "pd-apt"))
    assert not any(as_root for argv, as_root in transport.calls if argv[0] != "sh")


def test_missing_reboot_file_alone_proves_nothing() -> None:
    assert assess_host(debian_host()).reboot.required is None


def test_held_dpkg_lock_is_a_clear_error() -> None:
    lock = (100, "", "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process "
                     "4242 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock\n")
    with pytest.raises(DriverError) as caught:
        assess_host(debian_host(check=lock))
    assert caught.value.kind == "apt_lock"
    assert "process 4242 (unattended-upgr)" in str(caught.value)


@pytest.mark.parametrize("hostile", ["$(reboot)", "pkg;rm", "`id`", "-oAPT::x=1"])
def test_hostile_package_names_never_reach_a_command(hostile: str) -> None:
    simulation = (
        "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
        "The following packages will be upgraded:\n"
        f"  {hostile}\n"
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        f"Inst {hostile} [1.0] (1.1 Debian:12/bookworm [all])\n"
        f"Conf {hostile} (1.1 Debian:12/bookworm [all])\n"
    )
    transport = debian_host(simulation=simulation)
    with pytest.raises(DriverError) as caught:
        assess_host(transport)
    assert caught.value.kind == "parse_failed"
    assert all(hostile not in " ".join(argv) for argv, _ in transport.calls)


def test_unknown_os_is_reported() -> None:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(reboot_required=False).replace(
        "ID=debian", "ID=plan9").replace("VERSION_CODENAME", "X"))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "unknown_os"


def test_security_updates_get_cves_from_their_own_changelog() -> None:
    """apt's simulation names no CVEs; the candidate's changelog (a real one, captured from
    libssl3 on Debian 12) does, for versions newer than the installed one."""
    changelog = read("apt/debian-12-host/changelog.Debian-libssl3-head120.txt")
    simulation = (
        "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
        "The following packages will be upgraded:\n  libssl3\n"
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst libssl3 [3.0.18-1~deb12u2] (3.0.19-1~deb12u2 Debian-Security:12/"
        "stable-security [amd64])\n"
        "Conf libssl3 (3.0.19-1~deb12u2 Debian-Security:12/stable-security [amd64])\n")
    transport = debian_host(simulation=simulation)
    transport.rules.insert(0, (contains("changelogs"), (
        0, f"\n@@pd:0@@\n{changelog}\n@@pd:end@@\n", "")))
    result = assess_host(transport)
    [update] = result.updates
    assert update.cves == ("CVE-2026-28387", "CVE-2026-28389", "CVE-2026-28390",
                           "CVE-2026-31789", "CVE-2026-31790")
    assert update.evidence[0] == "security archive Debian-Security:12/stable-security"
    assert update.evidence[1].startswith("changelog names CVE-2026-28387, ")
    call = next(argv for argv, _ in transport.calls if "changelogs" in argv)
    assert call[-2:] == ("0", "libssl3:amd64=3.0.19-1~deb12u2")
    assert result.lookups is not None
    assert (result.lookups.fetched, result.lookups.cached, result.lookups.failed) == (1, 0, 0)


def _no_changelogs(transport: ScriptedTransport) -> ScriptedTransport:
    transport.rules.insert(0, (contains("changelogs"), (0, "\n@@pd:end@@\n", "")))
    return transport


def test_real_debian12_backlog_is_assessed_whole() -> None:
    """This machine's own simulation (tests/data/apt/debian-12-realhost): 144 upgrades with
    ordering hints on Inst/Conf lines, Debian 12 as "oldstable"."""
    simulation = read("apt/debian-12-realhost/apt-get-s-dist-upgrade.txt")
    result = assess_host(_no_changelogs(debian_host(simulation=simulation)))
    assert len(result.updates) == 144
    by_name = {u.package: u for u in result.updates}
    pam = by_name["libpam-modules-bin"]
    assert (pam.installed_version, pam.candidate_version, pam.arch) == (
        "1.5.2-6+deb12u1", "1.5.2-6+deb12u3", "amd64")
    assert pam.classification is Classification.SECURITY
    assert by_name["systemd-timesyncd"].classification is Classification.OTHER
    assert result.warnings == []


def test_zero_backlog_is_an_empty_result_not_an_error() -> None:
    simulation = ("Reading package lists...\nBuilding dependency tree...\n"
                  "Reading state information...\nCalculating upgrade...\n"
                  "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
    transport = debian_host(simulation=simulation)
    result = assess_host(transport)
    assert result.updates == [] and result.warnings == []
    assert not any("changelogs" in argv for argv, _ in transport.calls)


def test_multiarch_pair_gives_one_update_per_architecture() -> None:
    simulation = (
        "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
        "The following packages will be upgraded:\n  libc6 libc6:i386\n"
        "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst libc6:i386 [2.36-9+deb12u7] (2.36-9+deb12u13 Debian-Security:12/"
        "oldstable-security [i386]) [libc6:amd64 on libc6:i386]\n"
        "Inst libc6 [2.36-9+deb12u7] (2.36-9+deb12u13 Debian-Security:12/oldstable-security "
        "[amd64]) [libc6:amd64 on libc6:i386] [libc6:i386 on libc6:amd64]\n"
        "Conf libc6:i386 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [i386]) []\n"
        "Conf libc6 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [amd64]) []\n")
    transport = _no_changelogs(debian_host(simulation=simulation))
    result = assess_host(transport)
    assert sorted((u.package, u.arch, u.candidate_version) for u in result.updates) == [
        ("libc6", "amd64", "2.36-9+deb12u13"), ("libc6", "i386", "2.36-9+deb12u13")]
    call = next(argv for argv, _ in transport.calls if "changelogs" in argv)
    # One changelog per package and version: one group, both architectures may serve it.
    assert call[-2:] == ("0", "libc6:i386=2.36-9+deb12u13,libc6:amd64=2.36-9+deb12u13")


def test_unreadable_lines_and_apt_warnings_become_assessment_warnings() -> None:
    simulation = (
        "Reading package lists...\n"
        "Some line a future apt prints\n"
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst pd-tools [2.0-1] (2.1-1 PatchDesk Lab:12/bookworm [all])\n"
        "Conf pd-tools {2.1-1 in a shape nobody knows}\n")
    transport = debian_host(simulation=simulation)
    transport.rules.insert(0, (contains("pd-update"), (
        0, "Reading package lists...\n",
        "W: Failed to fetch http://10.0.0.1/debian/dists/bookworm/InRelease  "
        "Could not connect\n")))
    result = assess_host(transport)
    assert [u.package for u in result.updates] == ["pd-tools"]
    assert len(result.warnings) == 3
    assert "Failed to fetch" in result.warnings[0]
    assert "line 2" in result.warnings[1] and "Some line a future apt prints" in result.warnings[1]
    assert "Conf pd-tools {2.1-1" in result.warnings[2]


def test_an_unreadable_operation_fails_the_host_clearly() -> None:
    simulation = (
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst pd-tools <2.0-1> (2.1-1)\n")
    with pytest.raises(DriverError) as caught:
        assess_host(debian_host(simulation=simulation))
    assert caught.value.kind == "apt_output_mismatch"
    assert "Inst pd-tools <2.0-1>" in str(caught.value)
    assert "summary says 1 upgraded" in str(caught.value)
