"""apt/dpkg parsers on captured Debian 12 / Ubuntu 24.04 output and crafted edge cases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.drivers.parsers import ParseError
from app.drivers.parsers.apt import (
    changelog_cves,
    is_security_origin,
    parse_apt_simulation,
    parse_dpkg_query,
)
from app.drivers.parsers.debversion import compare_versions, split_version

DATA = Path(__file__).resolve().parents[1] / "data" / "apt"
DEB12 = DATA / "debian-12"
UBU2404 = DATA / "ubuntu-24.04"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- apt-get -s


def test_dist_upgrade_debian12_lists_upgrades_new_package_and_security() -> None:
    sim = parse_apt_simulation(read(DEB12 / "apt-get-s-dist-upgrade.txt"))
    assert [(u.name, u.installed_version, u.candidate_version) for u in sim.upgrades] == [
        ("pd-broken", "1.0-1", "1.1-1"),
        ("pd-kernel", "5.0-1", "5.1-1"),
        ("pd-openssl", "1.0-1", "1.0-2"),
        ("pd-tools", "2.0-1", "2.2-1"),
    ]
    (new,) = sim.new_packages
    assert (new.name, new.installed_version, new.candidate_version, new.arch) == (
        "pd-newdep",
        None,
        "1.0-1",
        "all",
    )
    assert [u.name for u in sim.security_upgrades] == ["pd-openssl"]
    assert sim.security_upgrades[0].origins == ("Debian-Security:12/bookworm-security",)
    assert sim.installs[0].origins == ("PatchDesk Lab:12/bookworm",)
    assert sim.summary.upgraded == 4 and sim.summary.newly_installed == 1
    assert sim.held_back == ()
    assert len(sim.configures) == 5


def test_upgrade_debian12_reports_kept_back_package() -> None:
    sim = parse_apt_simulation(read(DEB12 / "apt-get-s-upgrade.txt"))
    assert sim.held_back == ("pd-tools",)
    assert [u.name for u in sim.upgrades] == ["pd-broken", "pd-kernel", "pd-openssl"]
    assert sim.summary.not_upgraded == 1


def test_upgrade_with_apt_mark_hold_reports_held_package_as_kept_back() -> None:
    sim = parse_apt_simulation(read(DEB12 / "apt-get-s-upgrade-held.txt"))
    assert sim.held_back == ("pd-kernel", "pd-tools")
    assert [u.name for u in sim.installs] == ["pd-broken", "pd-openssl"]


def test_remove_and_new_install_simulations() -> None:
    rm = parse_apt_simulation(read(DEB12 / "apt-get-s-remove.txt"))
    assert [(r.name, r.installed_version, r.purge) for r in rm.removals] == [
        ("pd-tools", "2.0-1", False)
    ]
    assert rm.installs == ()
    new = parse_apt_simulation(read(DEB12 / "apt-get-s-install-new.txt"))
    assert [u.name for u in new.new_packages] == ["pd-newdep"]


def test_half_configured_package_shows_as_conf_only() -> None:
    sim = parse_apt_simulation(read(DEB12 / "apt-get-s-dist-upgrade-after.txt"))
    assert "pd-broken" in sim.configures
    assert "pd-broken" not in [u.name for u in sim.installs]


def test_ubuntu_2404_phased_updates_are_held_back_not_pending() -> None:
    sim = parse_apt_simulation(read(UBU2404 / "apt-get-s-upgrade-phased.txt"))
    assert len(sim.phased) == 7
    assert sim.phased == sim.held_back
    assert "libgtk-4-1" in sim.phased
    assert len(sim.upgrades) == 6
    code = next(u for u in sim.installs if u.name == "code")
    assert code.origins == ("code stable:stable",)
    assert not code.is_security
    assert sim.security_upgrades == ()


@pytest.mark.parametrize(
    ("origin", "security"),
    [
        ("Debian-Security:12/bookworm-security", True),
        ("Debian-Security:12/stable-security", True),
        ("Ubuntu:22.04/jammy-security", True),
        ("UbuntuESMApps:22.04/jammy-apps-security", True),
        ("Ubuntu:22.04/jammy-updates", False),
        ("Debian:12.5/stable", False),
        ("PatchDesk Lab:12/bookworm", False),
        ("code stable:stable", False),
    ],
)
def test_security_origin(origin: str, security: bool) -> None:
    assert is_security_origin(origin) is security


def test_multiple_origins_any_security_counts() -> None:
    text = (
        "Inst libc6 [2.35-0ubuntu3.6] (2.35-0ubuntu3.7 Ubuntu:22.04/jammy-updates, "
        "Ubuntu:22.04/jammy-security [amd64]) []\n"
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    )
    sim = parse_apt_simulation(text)
    (u,) = sim.installs
    assert u.origins == ("Ubuntu:22.04/jammy-updates", "Ubuntu:22.04/jammy-security")
    assert u.is_security


def test_summary_count_mismatch_raises() -> None:
    text = read(DEB12 / "apt-get-s-dist-upgrade.txt").replace(
        "4 upgraded, 1 newly installed", "5 upgraded, 1 newly installed"
    )
    with pytest.raises(ParseError, match="summary says 5 upgraded"):
        parse_apt_simulation(text)


def test_new_count_mismatch_raises() -> None:
    text = read(DEB12 / "apt-get-s-dist-upgrade.txt").replace(
        "1 newly installed", "0 newly installed"
    )
    with pytest.raises(ParseError, match="NEW package"):
        parse_apt_simulation(text)


def test_block_names_must_match_inst_lines() -> None:
    text = read(DEB12 / "apt-get-s-upgrade.txt").replace(
        "  pd-broken pd-kernel pd-openssl", "  pd-broken pd-kernel pd-other"
    )
    with pytest.raises(ParseError, match="'upgraded' block"):
        parse_apt_simulation(text)


def test_missing_summary_raises() -> None:
    with pytest.raises(ParseError, match="no 'N upgraded"):
        parse_apt_simulation("Reading package lists...\n")


@pytest.mark.parametrize(
    "line",
    [
        "Inst foo 1.0",  # an operation line that cannot be read: what would foo become?
        "Remv",
        "E: Could not get lock /var/lib/dpkg/lock-frontend",
    ],
)
def test_unreadable_operations_and_errors_raise(line: str) -> None:
    text = f"{line}\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    with pytest.raises(ParseError):
        parse_apt_simulation(text)


@pytest.mark.parametrize(
    "line",
    [
        "Installing foo",  # unknown line that looks like data
        "The following packages have unmet dependencies:",
        "Die folgenden Pakete werden aktualisiert:",  # wrong locale
    ],
)
def test_unknown_lines_are_kept_as_unreadable(line: str) -> None:
    text = f"{line}\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    sim = parse_apt_simulation(text)
    assert len(sim.unreadable) == 1 and line in sim.unreadable[0]


def test_garbage_raises() -> None:
    with pytest.raises(ParseError):
        parse_apt_simulation("hello world\n")


def test_simulation_note_and_warnings_are_tolerated() -> None:
    text = (
        "NOTE: This is only a simulation!\n"
        "      apt-get needs root privileges for real execution.\n"
        "      Keep also in mind that locking is deactivated,\n"
        "      so don't depend on the relevance to the real current situation!\n"
        "W: Some index files failed to download.\n"
        "Reading package lists...\n"
        "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    )
    sim = parse_apt_simulation(text)
    assert sim.warnings == ("W: Some index files failed to download.",)


def test_downgrade_counted() -> None:
    text = (
        "The following packages will be DOWNGRADED:\n  pd-tools\n"
        "0 upgraded, 0 newly installed, 1 downgraded, 0 to remove and 0 not upgraded.\n"
        "Inst pd-tools [2.2-1] (2.1-1 PatchDesk Lab:12/bookworm [all])\n"
        "Conf pd-tools (2.1-1 PatchDesk Lab:12/bookworm [all])\n"
    )
    sim = parse_apt_simulation(text)
    assert sim.summary.downgraded == 1 and len(sim.upgrades) == 1


# ---------------------------------------------------------------- dpkg-query


def test_dpkg_query_debian12_installed_and_half_configured() -> None:
    inv = parse_dpkg_query(read(DEB12 / "dpkg-query-after.txt"))
    names = {p.name for p in inv.installed}
    assert {"apt", "dpkg", "pd-openssl", "pd-tools", "libc6"} <= names
    assert [(p.name, p.status) for p in inv.other] == [("pd-broken", "iF ")]
    libc = next(p for p in inv.installed if p.name == "libc6")
    assert (libc.arch, libc.source_name) == ("amd64", "glibc")
    bsd = next(p for p in inv.installed if p.name == "bsdutils")
    assert (bsd.version, bsd.source_name, bsd.source_version) == (
        "1:2.38.1-5+deb12u3",
        "util-linux",
        "2.38.1-5+deb12u3",
    )
    lines = [x for x in read(DEB12 / "dpkg-query-after.txt").splitlines() if x]
    assert len(inv.installed) + len(inv.other) == len(lines)


def test_dpkg_query_held_package_counts_as_installed() -> None:
    inv = parse_dpkg_query(read(DEB12 / "dpkg-query-held.txt"))
    kernel = next(p for p in inv.installed if p.name == "pd-kernel")
    assert kernel.held and kernel.status == "hi "


@pytest.mark.parametrize(
    "line",
    [
        "foo\tii \t1.0\tamd64\tfoo",  # 5 fields
        "foo\tzz \t1.0\tamd64\tfoo\t1.0",  # bad status
        "foo bar\tii \t1.0\tamd64\tfoo\t1.0",  # space in name
        "<html>",
    ],
)
def test_dpkg_query_bad_lines_raise(line: str) -> None:
    with pytest.raises(ParseError):
        parse_dpkg_query(line + "\n")


def test_dpkg_query_other_states() -> None:
    inv = parse_dpkg_query("old\trc \t1.0\tamd64\told\t1.0\nbad\tiHR\t1.0\tall\tbad\t1.0\n")
    assert inv.installed == ()
    assert [p.name for p in inv.other] == ["old", "bad"]


# ---------------------------------------------------------------- history.log


# ---------------------------------------------------------------- apt-cache policy


# ---------------------------------------------------------------- changelog CVEs


def test_changelog_cves_newer_than_installed_libssl3() -> None:
    text = read(DATA / "debian-12-host" / "changelog.Debian-libssl3-head120.txt")
    assert changelog_cves(text, "3.0.19-1~deb12u2") == ()
    newer = changelog_cves(text, "3.0.19-1~deb12u1")
    assert newer == (
        "CVE-2026-28387",
        "CVE-2026-28389",
        "CVE-2026-28390",
        "CVE-2026-31789",
        "CVE-2026-31790",
    )
    older = changelog_cves(text, "3.0.18-1~deb12u1")
    assert older[:5] == newer and "CVE-2025-15467" in older
    assert len(older) == len(set(older))
    everything = changelog_cves(text, None)
    assert len(everything) == 25


def test_changelog_apt_get_progress_lines_and_garbage() -> None:
    text = "Get:1 https://metadata.ftp-master.debian.org foo 1.1 Changelog [1 kB]\n\n" + (
        "foo (1.1) unstable; urgency=high\n\n  * Fix CVE-2024-0001 and CVE-2024-0001.\n\n"
        " -- A <a@b.c>  Mon, 01 Jan 2024 00:00:00 +0000\n"
    )
    assert changelog_cves(text, "1.0") == ("CVE-2024-0001",)
    with pytest.raises(ParseError):
        changelog_cves("<html>nope</html>\n", "1.0")
    with pytest.raises(ParseError):
        changelog_cves("", "1.0")


# ---------------------------------------------------------------- dpkg versions

_VERSIONS = st.from_regex(r"\A(?:[0-9]{1,2}:)?[0-9][A-Za-z0-9.+~]{0,6}(?:-[A-Za-z0-9.+~]{1,4})?\Z")


@given(_VERSIONS, _VERSIONS)
def test_compare_is_antisymmetric(a: str, b: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)


@given(_VERSIONS)
def test_split_round_trip(v: str) -> None:
    epoch, upstream, revision = split_version(v)
    rebuilt = (f"{epoch}:" if ":" in v else "") + upstream + (f"-{revision}" if revision else "")
    assert compare_versions(rebuilt, v) == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
@settings(max_examples=60, deadline=None)
@given(_VERSIONS, _VERSIONS)
def test_compare_agrees_with_dpkg(a: str, b: str) -> None:
    ours = compare_versions(a, b)
    op = "lt" if ours < 0 else ("eq" if ours == 0 else "gt")
    proc = subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False)
    assert proc.returncode == 0, (a, op, b)


# ---------------------------------------------------------------- real-host apt lines ([7], [11])
# Lines exactly as apt 2.6 printed them on a real Debian 12 machine (issue [7]) and the
# multiarch ordering hint of issue [11].
CONF_PERL_BASE = ("Conf perl-base (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security "
                  "[amd64]) []")
INST_PAM_BIN = ("Inst libpam-modules-bin [1.5.2-6+deb12u1] (1.5.2-6+deb12u3 "
                "Debian-Security:12/oldstable-security [amd64]) [libpam-modules:amd64 on "
                "libpam-modules-bin:amd64] [libpam-modules:amd64 ]")
INST_LIBC6_MULTIARCH = ("Inst libc6 [2.36-9+deb12u7] (2.36-9+deb12u13 "
                        "Debian-Security:12/oldstable-security [amd64]) "
                        "[libc6:amd64 on libc6:i386] [libc6:i386 on libc6:amd64] "
                        "[libc6:amd64 libc6:i386 ]")


def _sim(*lines: str, summary: str) -> str:
    return "\n".join(["Reading package lists...", *lines, summary, ""])


def test_conf_line_with_empty_trailing_group_is_read() -> None:
    sim = parse_apt_simulation(_sim(
        "Inst perl-base [5.36.0-7+deb12u1] (5.36.0-7+deb12u4 "
        "Debian-Security:12/oldstable-security [amd64]) []",
        CONF_PERL_BASE,
        summary="1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."))
    assert sim.configures == ("perl-base",)
    assert sim.unreadable == ()
    (u,) = sim.upgrades
    assert (u.name, u.candidate_version, u.arch, u.is_security) == (
        "perl-base", "5.36.0-7+deb12u4", "amd64", True)


def test_inst_line_with_several_ordering_groups_is_read() -> None:
    sim = parse_apt_simulation(_sim(
        INST_PAM_BIN, summary="1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."))
    (u,) = sim.upgrades
    assert (u.name, u.installed_version, u.candidate_version, u.arch) == (
        "libpam-modules-bin", "1.5.2-6+deb12u1", "1.5.2-6+deb12u3", "amd64")
    assert u.origins == ("Debian-Security:12/oldstable-security",)
    assert u.is_security


def test_multiarch_pair_is_two_upgrades_one_per_architecture() -> None:
    sim = parse_apt_simulation("\n".join([
        "The following packages will be upgraded:",
        "  libc6 libc6:i386",
        "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.",
        "Inst libc6:i386 [2.36-9+deb12u7] (2.36-9+deb12u13 "
        "Debian-Security:12/oldstable-security [i386]) [libc6:amd64 on libc6:i386]",
        INST_LIBC6_MULTIARCH,
        "Conf libc6:i386 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [i386]) []",
        "Conf libc6 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [amd64]) []",
        ""]))
    assert [(u.name, u.arch, u.candidate_version) for u in sim.upgrades] == [
        ("libc6:i386", "i386", "2.36-9+deb12u13"), ("libc6", "amd64", "2.36-9+deb12u13")]
    assert [(u.package, u.arch) for u in sim.upgrades] == [("libc6", "i386"), ("libc6", "amd64")]
    assert sim.configures == ("libc6:i386", "libc6")


def test_remv_line_with_several_groups_is_read() -> None:
    sim = parse_apt_simulation(_sim(
        "Remv libfoo1:i386 [1.0-1] [libbar:i386 ] [libbaz:i386 ]",
        summary="0 upgraded, 0 newly installed, 1 to remove and 0 not upgraded."))
    assert [(r.name, r.installed_version) for r in sim.removals] == [("libfoo1:i386", "1.0-1")]


def test_oldstable_and_stable_suites_are_security_or_not_by_origin() -> None:
    assert is_security_origin("Debian-Security:12/oldstable-security")
    assert is_security_origin("Debian-Security:13/stable-security")
    assert not is_security_origin("Debian:12.15/oldstable")
    assert not is_security_origin("Debian:13.2/stable")


def test_an_unreadable_line_is_a_warning_when_the_summary_still_agrees() -> None:
    sim = parse_apt_simulation(_sim(
        INST_PAM_BIN,
        "Conf libpam-modules-bin {something apt 3 may print}",
        "The following frobnicated packages are new in apt 9:",
        "  foo bar",
        "Something no apt prints today",
        summary="1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."))
    assert len(sim.upgrades) == 1
    assert len(sim.unreadable) == 3
    assert "line 3" in sim.unreadable[0] and "{something apt 3 may print}" in sim.unreadable[0]
    assert "frobnicated" in sim.unreadable[1]
    assert "Something no apt prints today" in sim.unreadable[2]


def test_an_unreadable_inst_line_breaks_the_summary_cross_check_clearly() -> None:
    with pytest.raises(ParseError) as caught:
        parse_apt_simulation(_sim(
            INST_PAM_BIN,
            "Inst libfoo {version 2.0 in a shape no apt prints}",
            summary="2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."))
    message = str(caught.value)
    assert "summary says 2 upgraded" in message
    assert "libfoo {version 2.0" in message  # the line that could not be read is named


def test_held_phased_esm_and_notice_lines() -> None:
    sim = parse_apt_simulation("\n".join([
        "Reading package lists...",
        "Building dependency tree...",
        "Reading state information...",
        "Calculating upgrade...",
        "The following upgrades have been deferred due to phasing:",
        "  libgtk-4-1",
        "The following packages have been kept back:",
        "  pd-held",
        "The following security updates require Ubuntu Pro with 'esm-apps' enabled:",
        "  imagemagick",
        "Learn more about Ubuntu Pro at https://ubuntu.com/pro",
        "The following packages will be upgraded:",
        "  curl",
        "1 upgraded, 0 newly installed, 0 to remove and 2 not upgraded.",
        "1 standard LTS security update",
        "W: Target Packages (main/binary-amd64/Packages) is configured multiple times",
        "N: Skipping acquire of configured file 'main/binary-i386/Packages'",
        "Inst curl [8.5.0-2ubuntu10.1] (8.5.0-2ubuntu10.6 Ubuntu:24.04/noble-updates, "
        "Ubuntu:24.04/noble-security [amd64])",
        "Conf curl (8.5.0-2ubuntu10.6 Ubuntu:24.04/noble-updates, "
        "Ubuntu:24.04/noble-security [amd64])",
        "",
    ]))
    assert sim.phased == ("libgtk-4-1",)
    assert sim.held_back == ("pd-held", "libgtk-4-1")
    assert [u.name for u in sim.security_upgrades] == ["curl"]
    assert len(sim.warnings) == 2 and sim.unreadable == ()
