"""The dnf and zypper parsers and drivers on outputs of the REAL binaries, captured on the
test lab's RPM hosts (Debian 12's dnf 4.14 / zypper 1.14 / rpm 4.18 against an rpm-md
repository built with rpmbuild + createrepo_c + modifyrepo_c; see the NOTES.md files in
tests/data/dnf/lab-rocky-9 and tests/data/zypper/lab-opensuse-leap-15.5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.models import Classification, Severity
from app.drivers.base import DriverError
from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import (
    parse_check_update,
    parse_needs_restarting,
    parse_rpm_qa,
    parse_updateinfo_list,
)
from app.drivers.parsers.zypper import (
    PatchTarget,
    parse_patch_info,
    parse_zypper_xml,
)
from app.drivers.registry import assess_host
from tests.fakes import ScriptedTransport, starts
from tests.unit.test_dnf_driver import facts_output, has

DATA = Path(__file__).resolve().parents[1] / "data"
ROCKY = DATA / "dnf" / "lab-rocky-9"
LEAP = DATA / "zypper" / "lab-opensuse-leap-15.5"
UPDATES = {("pd-broken", "noarch", "1.1-1.pdlab"), ("pd-multi", "i686", "1.1-1.pdlab"),
           ("pd-multi", "x86_64", "1.1-1.pdlab"), ("pd-openssl", "x86_64", "1.0-2.pdlab"),
           ("pd-tools", "noarch", "2.1-1.pdlab")}


def out(path: Path) -> tuple[str, int]:
    return path.read_text(), int(path.with_name(path.name + ".rc").read_text())


# ---------------------------------------------------------------- dnf 4.14


@pytest.mark.parametrize("name", ["check-update", "check-update-C", "check-update-refresh",
                                  "check-update-unreachable-repo"])
def test_real_check_update_outputs(name: str) -> None:
    # -refresh / -unreachable-repo: dnf prints a repository's download progress line
    # ("PatchDesk Lab 9 - x86_64   1.6 MB/s | 1.7 kB   00:00") on stdout whenever it
    # fetches metadata during check-update; the parser took it for a package row.
    text, rc = out(ROCKY / f"{name}.txt")
    listing = parse_check_update(text, rc)
    assert {(p.name, p.arch, p.evr) for p in listing.updates} == UPDATES
    assert {p.repo for p in listing.updates} == {"pdlab"}
    assert listing.obsoletes == ()


@pytest.mark.parametrize("line", [
    "PatchDesk Lab 9 - x86_64                        1.6 MB/s | 1.7 kB     00:00    ",
    "_dnf_local                                      0.0  B/s |   0  B     00:00    ",
    "Rocky Linux 9 - AppStream                        12 MB/s |  20 MB     00:01    ",
    "Extra Packages for Enterprise Linux 9 - x86_64  5.2 MB/s |  21 MB     01:04    ",
])
def test_progress_lines_are_noise(line: str) -> None:
    text = f"{line}\n\npd-tools.noarch    2.1-1.pdlab    pdlab\n"
    assert [p.name for p in parse_check_update(text, 100).updates] == ["pd-tools"]


def test_real_updateinfo_outputs() -> None:
    rows = parse_updateinfo_list((ROCKY / "updateinfo-list-updates.txt").read_text())
    assert [(r.ref, r.kind, r.severity, str(r.package)) for r in rows] == [
        ("PDLAB-2024:0001", "security", "Important", "pd-openssl-1.0-2.pdlab.x86_64"),
        ("PDLAB-2024:0002", "bugfix", None, "pd-tools-2.1-1.pdlab.noarch")]
    (cve,) = parse_updateinfo_list((ROCKY / "updateinfo-list-updates-with-cve.txt").read_text())
    assert (cve.ref, cve.is_cve, cve.severity) == ("CVE-2024-0727", True, "Important")
    every = parse_updateinfo_list((ROCKY / "updateinfo-list-all.txt").read_text())
    assert [r.installed for r in every] == [False, False]  # "--all": two-space indent


def test_real_rpm_qa_and_needs_restarting() -> None:
    packages = parse_rpm_qa((ROCKY / "rpm-qa.txt").read_text())
    assert {(p.name, p.arch) for p in packages} >= {("pd-multi", "x86_64"), ("pd-multi", "i686")}
    text, rc = out(ROCKY / "needs-restarting-r.txt")
    assert parse_needs_restarting(text, rc).reboot_required is False


def rocky_lab_host(check: str = "check-update") -> ScriptedTransport:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read_text(DATA / "os-release" / "rocky-9.7"),
                                             "6.1.0-28-amd64"))
    t.on(starts("dnf", "--version"), 0, (ROCKY / "dnf-version.txt").read_text())
    t.on(starts("dnf", "-q", "makecache"), 0, "")
    text, rc = out(ROCKY / f"{check}.txt")
    stderr = ROCKY / f"{check}.txt.stderr"
    t.on(has("check-update"), rc, text, stderr.read_text() if stderr.exists() else "")
    t.on(has("updateinfo", "--with-cve"), 0,
         (ROCKY / "updateinfo-list-updates-with-cve.txt").read_text())
    t.on(has("updateinfo"), 0, (ROCKY / "updateinfo-list-updates.txt").read_text())
    text, rc = out(ROCKY / "needs-restarting-r.txt")
    t.on(has("needs-restarting"), rc, text)
    t.on(starts("rpm", "-qa"), 0, (ROCKY / "rpm-qa.txt").read_text())
    text, rc = out(ROCKY / "rpm-q-kernel.txt")
    t.on(starts("rpm", "-q", "--queryformat"), rc, text)
    return t


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_dnf_driver_on_the_real_outputs() -> None:
    result = assess_host(rocky_lab_host())
    assert result.driver == "dnf"
    got = {(u.package, u.arch, u.candidate_version): u for u in result.updates}
    assert set(got) == UPDATES
    openssl = got[("pd-openssl", "x86_64", "1.0-2.pdlab")]
    assert (openssl.classification, openssl.severity) == (Classification.SECURITY,
                                                          Severity.IMPORTANT)
    assert (openssl.cves, openssl.advisories) == (("CVE-2024-0727",), ("PDLAB-2024:0001",))
    assert openssl.installed_version == "1.0-1.pdlab"
    assert got[("pd-tools", "noarch", "2.1-1.pdlab")].classification is Classification.BUGFIX
    assert got[("pd-broken", "noarch", "1.1-1.pdlab")].classification is Classification.OTHER
    assert result.warnings == []


def test_a_skipped_repository_is_a_warning() -> None:
    # skip_if_unavailable=True: dnf exits 100 with what the other repositories offer and
    # says on stderr which repository it ignored; the result must not look complete.
    result = assess_host(rocky_lab_host("check-update-unreachable-repo"))
    assert {(u.package, u.arch, u.candidate_version) for u in result.updates} == UPDATES
    assert result.warnings == [
        "dnf skipped repositories whose metadata could not be downloaded: pdlab-gone; "
        "updates from them are not listed"]


# ---------------------------------------------------------------- zypper 1.14


def test_real_zypper_xml() -> None:
    updates = parse_zypper_xml((LEAP / "list-updates.xml").read_text())
    assert {(u.name, u.arch, u.edition, u.edition_old) for u in updates} == {
        ("pd-broken", "noarch", "1.1-1.pdlab", "1.0-1.pdlab"),
        ("pd-openssl", "x86_64", "1.0-2.pdlab", "1.0-1.pdlab"),
        ("pd-tools", "noarch", "2.1-1.pdlab", "2.0-1.pdlab")}
    patches = parse_zypper_xml((LEAP / "list-patches.xml").read_text())
    assert [(p.name, p.category, p.severity, p.cves) for p in patches] == [
        ("PDLAB-2024:0001", "security", "important", ("CVE-2024-0727",)),
        ("PDLAB-2024:0002", "bugfix", "", ())]


def test_real_zypper_patch_info() -> None:
    targets = parse_patch_info((LEAP / "info-patch.txt").read_text())
    assert targets == {
        "PDLAB-2024:0001": (PatchTarget("pd-openssl", "x86_64", "1.0-2.pdlab"),
                            PatchTarget("pd-openssl", "noarch", "1.0-2.pdlab")),
        "PDLAB-2024:0002": (PatchTarget("pd-tools", None, "2.1-1.pdlab"),)}
    # an unknown id is "patch 'NOPE-1' not found." (exit 0): just absent
    assert set(parse_patch_info((LEAP / "info-patch-unknown.txt").read_text())) == {
        "PDLAB-2024:0001"}


@pytest.mark.parametrize("text", [
    "Information for patch A-1:\nConflicts   : [2]\n    pd-x.noarch < 1-1\n",
    "Information for patch A-1:\nConflicts   : pd-x <= 1-1\n",
    "Information for patch A-1:\nConflicts   : [1]\nName : x\n",
])
def test_patch_info_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_patch_info(text)


def leap_lab_host(info: str = "info-patch.txt") -> ScriptedTransport:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read_text(DATA / "os-release" /
                                                       "opensuse-leap-15.4"), "6.1.0-28-amd64"))
    text, rc = out(LEAP / "refresh.txt")
    t.on(has("refresh"), rc, text)
    text, rc = out(LEAP / "list-updates.xml")
    t.on(has("list-updates"), rc, text)
    text, rc = out(LEAP / "list-patches.xml")
    t.on(has("list-patches"), rc, text)
    text, rc = out(LEAP / info)
    t.on(has("info", "-t", "patch"), rc, text)
    t.on(starts("zypper", "needs-rebooting"), 0, (LEAP / "needs-rebooting.txt").read_text())
    t.on(starts("rpm", "-qa"), 0, (LEAP / "rpm-qa.txt").read_text())
    t.on(starts("rpm", "-q", "--queryformat"), 1, "package kernel-default is not installed\n")
    return t


def test_zypper_driver_on_the_real_outputs() -> None:
    # A patch's name is its updateinfo id, which may contain ":" (RHSA-style ids, as in
    # the lab's repository): it is an advisory id, not a package name. The needed
    # patches' data lands on the packages they update; no patch is left on its own.
    t = leap_lab_host()
    result = assess_host(t)
    assert result.driver == "zypper"
    got = {(u.package, u.arch, u.candidate_version): u for u in result.updates}
    assert set(got) == {("pd-broken", "noarch", "1.1-1.pdlab"),
                        ("pd-openssl", "x86_64", "1.0-2.pdlab"),
                        ("pd-tools", "noarch", "2.1-1.pdlab")}
    openssl = got[("pd-openssl", "x86_64", "1.0-2.pdlab")]
    assert (openssl.classification, openssl.severity, openssl.cves, openssl.advisories) == (
        Classification.SECURITY, Severity.IMPORTANT, ("CVE-2024-0727",), ("PDLAB-2024:0001",))
    assert openssl.installed_version == "1.0-1.pdlab"
    tools = got[("pd-tools", "noarch", "2.1-1.pdlab")]
    assert (tools.classification, tools.severity, tools.advisories) == (
        Classification.BUGFIX, Severity.UNKNOWN, ("PDLAB-2024:0002",))
    assert got[("pd-broken", "noarch", "1.1-1.pdlab")].classification is Classification.OTHER
    assert result.warnings == []
    (info,) = [argv for argv, _ in t.calls if "info" in argv]
    assert info == ("zypper", "-n", "--no-refresh", "info", "-t", "patch",
                    "PDLAB-2024:0001", "PDLAB-2024:0002")


def test_a_patch_zypper_does_not_describe_stays_on_its_own() -> None:
    result = assess_host(leap_lab_host("info-patch-unknown.txt"))
    by_name = {u.package: u for u in result.updates}
    assert by_name["pd-openssl"].classification is Classification.SECURITY
    assert by_name["pd-tools"].classification is Classification.OTHER
    patch = by_name["PDLAB-2024:0002"]  # not described by info: reported as itself
    assert (patch.classification, patch.advisories) == (Classification.BUGFIX,
                                                        ("PDLAB-2024:0002",))
    assert "PDLAB-2024:0001" not in by_name


def test_an_unreadable_patch_info_is_a_warning() -> None:
    t = leap_lab_host()
    t.rules.insert(0, (has("info", "-t", "patch"), (4, "", "Unexpected exception.\n")))
    result = assess_host(t)
    assert {u.package for u in result.updates} >= {"PDLAB-2024:0001", "PDLAB-2024:0002"}
    assert any("zypper info -t patch was not understood" in w for w in result.warnings)


# ---------------------------------------------------------------- dnf's locks
#
# Real dnf 4.14 waits, silently under -q, for as long as another process holds its
# metadata lock (makecache-locked-waits.txt: killed by `timeout 5`, no output), so an
# assessment hung until the command timeout (600 s for the refresh). With
# --setopt=exit_on_lock=True it exits 200 at once, naming the holder on stderr.


def dnf4_argvs(t: ScriptedTransport) -> list[tuple[str, ...]]:
    return [argv for argv, _ in t.calls if argv[0] == "dnf" and "--version" not in argv]


def test_dnf4_commands_never_wait_for_a_held_lock() -> None:
    t = rocky_lab_host()
    assess_host(t)
    assert dnf4_argvs(t)
    assert all("--setopt=exit_on_lock=True" in argv for argv in dnf4_argvs(t))


@pytest.mark.parametrize(("step", "capture"), [
    ("makecache", "makecache-locked.txt"),
    ("check-update", "check-update-locked.txt"),
])
def test_a_held_dnf_lock_is_a_clear_error_at_once(step: str, capture: str) -> None:
    t = rocky_lab_host()
    text, rc = out(ROCKY / capture)
    t.rules.insert(0, (has(step), (rc, text, (ROCKY / f"{capture}.stderr").read_text())))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "rpm_lock"
    pid = re.search(r"locked by (\d+)", (ROCKY / f"{capture}.stderr").read_text())
    assert pid is not None
    assert f"locked by process {pid.group(1)}" in str(caught.value)


def test_dnf5_gets_no_dnf4_option() -> None:
    t = rocky_lab_host()
    t.rules.insert(0, (starts("dnf", "--version"), (0, "dnf5 version 5.2.5.0\n", "")))
    assess_host(t)
    assert not any("--setopt=exit_on_lock=True" in argv for argv in dnf4_argvs(t))


@pytest.mark.parametrize(("step", "capture"), [
    ("refresh", "refresh-locked.txt"),
    ("list-updates", "list-updates-locked.xml"),
])
def test_a_held_zypp_lock_is_a_clear_error(step: str, capture: str) -> None:
    # Real zypper 1.14 exits 7 at once (no waiting), naming the holder (here a `sleep`
    # whose pid is in /run/zypp.pid): on stderr for the text command, as an XML
    # <message type="error"> on stdout with --xmlout.
    t = leap_lab_host()
    text, rc = out(LEAP / capture)
    stderr = LEAP / f"{capture}.stderr"
    t.rules.insert(0, (has(step), (rc, text, stderr.read_text() if stderr.exists() else "")))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "zypp_lock"
    assert "zypper is locked by process 13 (sleep)" in str(caught.value)
