"""The dnf driver on captured outputs (tests/data/dnf, yum, os-release) through a scripted
transport: detection, classification, exit codes, locks, hostile names, reboot state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from app.core.models import Classification, Severity
from app.drivers.base import DriverError
from app.drivers.registry import assess_host, detect
from app.drivers.rpm import compare_evr
from tests.fakes import ScriptedTransport, starts

DATA = Path(__file__).parents[1] / "data"
CI = "dnf/fedora-29-ci"


def read(rel: str) -> str:
    return (DATA / rel).read_text(encoding="utf-8")


def code(rel: str) -> int:
    return int(read(rel + ".rc"))


def facts_output(os_release: str, kernel: str) -> str:
    """The facts script's sections (machine facts borrowed from the Debian capture)."""
    facts = DATA / "facts" / "debian-12"
    sections = {
        "os-release": os_release,
        "kernel": kernel,
        "arch": "x86_64",
        "hostname": "rpm1",
        "uptime": (facts / "uptime").read_text(),
        "boot-id": (facts / "boot_id").read_text(),
        "meminfo": (facts / "meminfo").read_text(),
        "cpuinfo": (facts / "cpuinfo").read_text(),
        "df": (facts / "df-P-B1.txt").read_text(),
        "ip-addr": (facts / "ip-j-addr.json").read_text(),
        "who": "",
        "dmi-sys_vendor": "@@pd-absent@@",
        "dmi-product_name": "@@pd-absent@@",
        "dmi-product_serial": "@@pd-absent@@",
        "reboot-required": "@@pd-absent@@",
        "reboot-required-pkgs": "@@pd-absent@@",
        "needrestart": "@@pd-absent@@",
    }
    text = "".join(f"\n@@pd:{name}@@\n{body}" for name, body in sections.items())
    return text + "\n@@pd:end@@\n"


def has(*words: str) -> Callable[[Sequence[str]], bool]:
    """Predicate: every word is one of argv's words."""
    return lambda argv: all(w in argv for w in words)


def rocky_host(*, check: tuple[int, str, str] | None = None,
               updateinfo: str | None = None, cves: str | None = None,
               makecache: tuple[int, str, str] = (0, "", ""),
               needs_restarting: tuple[int, str, str] | None = None,
               version: str = "4.14.0\n  Installed: dnf-0:4.14.0-9.el9.noarch\n",
               os_release: str = "os-release/rocky-9.7") -> ScriptedTransport:
    """A dnf4 host answering with the dnf CI's glibc/flac scenario."""
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read(os_release), "4.18.16-300.fc29.x86_64"))
    t.on(starts("dnf", "--version"), 0, version)
    t.on(starts("dnf", "-q", "makecache"), *makecache)
    t.on(has("check-update"), *(check or (code(f"{CI}/check-update-glibc-flac.txt"),
                                          read(f"{CI}/check-update-glibc-flac.txt"), "")))
    t.on(has("updateinfo", "--with-cve"), 0,
         cves if cves is not None else read(f"{CI}/updateinfo-list-with-cve-dnf4.txt"))
    t.on(has("updateinfo"), 0,
         updateinfo if updateinfo is not None else read(f"{CI}/updateinfo-list-dnf4.txt"))
    t.on(has("needs-restarting"), *(needs_restarting or (
        code(f"{CI}/needs-restarting-r-required.txt"),
        read(f"{CI}/needs-restarting-r-required.txt"), "")))
    t.on(starts("rpm", "-qa"), 0, read(f"{CI}/rpm-qa.txt"))
    t.on(starts("rpm", "-q", "--queryformat"), 0, read(f"{CI}/rpm-q-kernel.txt"))
    return t


def argvs(t: ScriptedTransport) -> list[tuple[str, ...]]:
    return [argv for argv, _ in t.calls]


# ----------------------------------------------------------------------------- assessment
def test_assessment_of_a_rocky_host_on_dnf_ci_outputs() -> None:
    t = rocky_host()
    result = assess_host(t)
    assert result.driver == "dnf"
    assert (result.facts.os_id, result.facts.os_version) == ("rocky", "9.7")
    by_name = {u.package: u for u in result.updates}
    assert set(by_name) == {"flac", "glibc", "glibc-all-langpacks", "glibc-common"}
    glibc = by_name["glibc"]
    assert (glibc.installed_version, glibc.candidate_version) == ("2.28-9.fc29", "2.28-26.fc29")
    assert glibc.classification is Classification.BUGFIX
    assert glibc.advisories == ("FEDORA-2018-318f184000",)
    assert glibc.source == "dnf-ci-fedora-updates"
    # The CI's reference ids "2999" and "CVE-2999" are not CVE ids: dropped, not stored.
    assert glibc.cves == ()
    assert by_name["flac"].classification is Classification.ENHANCEMENT
    assert by_name["glibc-common"].classification is Classification.OTHER  # no advisory
    assert {p.name for p in result.packages} >= {"glibc", "flac", "kernel-core"}
    assert result.warnings == []
    assert result.reboot.required is True
    assert any("glibc, kernel" in r for r in result.reboot.reasons)
    # Refresh and every dnf query run as root (one shared system cache); rpm does not.
    for argv, as_root in t.calls:
        if argv[0] == "dnf" and argv[1] != "--version":
            assert as_root, argv
        if argv[0] == "rpm":
            assert not as_root, argv


def test_without_refresh_dnf_runs_cache_only() -> None:
    t = rocky_host()
    assess_host(t, refresh=False)
    calls = argvs(t)
    assert not any("makecache" in argv for argv in calls)
    assert ("dnf", "-C", "check-update", "--setopt=exit_on_lock=True") in calls
    assert all("-C" in argv for argv in calls if "updateinfo" in argv)


@pytest.mark.parametrize("release", ["almalinux-9.1", "rhel-8.7", "fedora-37", "centos-8",
                                     "rocky-9.7"])
def test_rhel_family_os_releases_pick_the_dnf_driver(release: str) -> None:
    t = ScriptedTransport().on(starts("sh", "-c"), 0,
                               facts_output(read(f"os-release/{release}"), "5.14.0"))
    driver, _facts = detect(t)
    assert driver.name == "dnf"


# ----------------------------------------------------------------------------- advisories
SECURITY_CHECK = (
    "\nopenssl-libs.x86_64        1:3.0.7-27.el9        baseos\n"
    "glibc.x86_64               2.28-26.fc29          dnf-ci-fedora-updates\n"
)
# Rows in dnf4's format (dnf doc/command_ref.rst "updateinfo"); the RLSA/CVE ids are
# illustrative, the format is what dnf prints.
SECURITY_UPDATEINFO = (
    "RLSA-2024:1111 Moderate/Sec.  openssl-libs-1:3.0.7-25.el9.x86_64\n"
    "RLSA-2024:2222 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n"
    "FEDORA-2018-318f184000 bugfix glibc-2.28-26.fc29.x86_64\n"
)
SECURITY_CVES = (
    "CVE-2024-0727 Moderate/Sec.  openssl-libs-1:3.0.7-25.el9.x86_64\n"
    "CVE-2024-2511 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n"
    "CVE-2024-0727 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n"
)


def test_security_classification_severity_and_cves() -> None:
    t = rocky_host(check=(100, SECURITY_CHECK, ""), updateinfo=SECURITY_UPDATEINFO,
                   cves=SECURITY_CVES)
    by_name = {u.package: u for u in assess_host(t).updates}
    ssl = by_name["openssl-libs"]
    assert ssl.classification is Classification.SECURITY
    assert ssl.severity is Severity.IMPORTANT  # the highest of the advisories that apply
    assert ssl.advisories == ("RLSA-2024:1111", "RLSA-2024:2222")
    assert ssl.cves == ("CVE-2024-0727", "CVE-2024-2511")
    assert ssl.candidate_version == "1:3.0.7-27.el9"
    assert ssl.installed_version == ""  # not in this host's rpm database
    assert by_name["glibc"].severity is Severity.UNKNOWN  # bugfix: no security severity


@pytest.mark.parametrize(("word", "severity"), [("Critical", Severity.CRITICAL),
                                                ("Important", Severity.IMPORTANT),
                                                ("Moderate", Severity.MODERATE),
                                                ("Low", Severity.LOW)])
def test_each_red_hat_severity_maps(word: str, severity: Severity) -> None:
    t = rocky_host(check=(100, SECURITY_CHECK, ""), cves="",
                   updateinfo=f"RHSA-2024:1 {word}/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n")
    ssl = next(u for u in assess_host(t).updates if u.package == "openssl-libs")
    assert ssl.severity is severity


def test_dnf5_updateinfo_and_cve_listing() -> None:
    t = rocky_host(version="dnf5 version 5.2.5.0\ndnf5 plugin API version 2.0\n",
                   updateinfo=read(f"{CI}/updateinfo-list-dnf5.txt"),
                   cves=read(f"{CI}/updateinfo-list-with-cve-dnf5.txt"))
    by_name = {u.package: u for u in assess_host(t).updates}
    assert by_name["glibc"].classification is Classification.BUGFIX
    assert by_name["flac"].classification is Classification.ENHANCEMENT
    assert by_name["flac"].severity is Severity.UNKNOWN  # "Moderate" but not security


def test_repositories_without_updateinfo_give_a_warning_not_an_error() -> None:
    t = rocky_host(updateinfo="", cves="")
    result = assess_host(t)
    assert len(result.updates) == 4
    assert all(u.classification is Classification.OTHER for u in result.updates)
    assert any("no advisory data" in w for w in result.warnings)
    assert not any("--with-cve" in argv for argv in argvs(t))  # nothing to join CVEs to


def test_a_failing_updateinfo_is_a_warning() -> None:
    t = ScriptedTransport()
    t.on(has("updateinfo"), 1, "", "No such command: updateinfo.")
    for rule in rocky_host().rules:
        t.rules.append(rule)
    result = assess_host(t)
    assert len(result.updates) == 4
    assert any("updateinfo" in w and "exit 1" in w for w in result.warnings)


# ----------------------------------------------------------------------------- exit codes
def test_exit_0_means_no_updates() -> None:
    t = rocky_host(check=(0, "Last metadata expiration check: 0:01:02 ago on Mon.\n", ""))
    result = assess_host(t)
    assert result.updates == []
    assert not any("updateinfo" in argv for argv in argvs(t))


def test_exit_1_is_dnf_failed() -> None:
    t = rocky_host(check=(1, "", "Error: Failed to download metadata for repo 'baseos'"))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "dnf_failed"
    assert "baseos" in str(caught.value)


def test_exit_100_with_an_empty_listing_is_parse_failed() -> None:
    with pytest.raises(DriverError) as caught:
        assess_host(rocky_host(check=(100, "\n", "")))
    assert caught.value.kind == "parse_failed"


@pytest.mark.parametrize("rel", ["yum/centos-7/check-update-wrapped.txt",
                                 "dnf/fedora-44/check-upgrade-dnf5.txt",
                                 "dnf/openmandriva-4.0/check-update-obsoleting.txt"])
def test_captured_listings_parse_through_the_driver(rel: str) -> None:
    t = rocky_host(check=(code(rel), read(rel), ""), updateinfo="", cves="")
    updates = assess_host(t).updates
    assert updates
    assert len({(u.package, u.arch) for u in updates}) == len(updates)
    assert all(not u.source.startswith("@") for u in updates)


def test_unknown_output_is_parse_failed() -> None:
    t = rocky_host(check=(100, "Sorry, this is not a listing\n", ""))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "parse_failed"


def test_unknown_updateinfo_output_is_parse_failed() -> None:
    t = rocky_host(updateinfo="FEDORA-1 strange-type glibc-2.28-26.fc29.x86_64\n")
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "parse_failed"


# ----------------------------------------------------------------------------- locks
@pytest.mark.parametrize(("step", "answer"), [
    ("makecache", (1, "", "Waiting for process with pid 4242 to finish.\n")),
    ("makecache", (200, "", "Error: There was a problem with acquiring or releasing of locks")),
    ("check-update", (1, "", "error: can't create transaction lock on /var/lib/rpm/.rpm.lock "
                             "(Resource temporarily unavailable)\n")),
])
def test_held_rpm_lock_is_a_clear_error(step: str, answer: tuple[int, str, str]) -> None:
    t = rocky_host(makecache=answer if step == "makecache" else (0, "", ""),
                   check=answer if step == "check-update" else None)
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "rpm_lock"
    if "4242" in answer[2]:
        assert "process 4242" in str(caught.value)


def test_yum_lock_message_is_rpm_lock() -> None:
    t = yum_host(check=(200, "", "Another app is currently holding the yum lock; exiting as "
                                 "configured by exit_on_lock\n"))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "rpm_lock"


# ----------------------------------------------------------------------------- yum (EL7)
def yum_host(*, check: tuple[int, str, str] | None = None) -> ScriptedTransport:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read("os-release/centos-8").replace(
        'VERSION_ID="8"', 'VERSION_ID="7"'), "3.10.0-1160.el7.x86_64"))
    t.on(starts("dnf", "--version"), 127, "", "bash: dnf: command not found\n")
    t.on(starts("yum", "--version"), 0, "3.4.3\n  Installed: rpm-4.11.3-48.el7_9.x86_64\n")
    t.on(has("makecache"), 0, "")
    t.on(has("check-update"), *(check or (code("yum/centos-7/check-update-wrapped.txt"),
                                          read("yum/centos-7/check-update-wrapped.txt"), "")))
    # CentOS 7 repositories carry no updateinfo: yum lists nothing but its trailer line.
    t.on(has("updateinfo"), 0, "updateinfo list done\n")
    t.on(starts("needs-restarting"), 127, "", "bash: needs-restarting: command not found\n")
    t.on(starts("rpm", "-qa"), 0, read(f"{CI}/rpm-qa.txt"))
    t.on(starts("rpm", "-q", "--queryformat"), 1,
         "package kernel-core is not installed\nkernel 3.10.0-1160.el7.x86_64\n")
    return t


def test_yum_fallback_on_el7() -> None:
    t = yum_host()
    result = assess_host(t)
    assert result.driver == "dnf"
    assert result.updates
    assert any("no advisory data" in w for w in result.warnings)
    calls = argvs(t)
    assert ("yum", "-q", "--setopt=exit_on_lock=True", "makecache", "fast") in calls
    assert all(argv[0] != "dnf" or argv[1] == "--version" for argv in calls)
    # needs-restarting missing, kernel current: one inconclusive False, no verdict.
    assert result.reboot.required is None
    assert any("needs-restarting" in r and "no verdict" in r for r in result.reboot.reasons)


def test_neither_dnf_nor_yum() -> None:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read("os-release/rocky-9.7"), "5.14.0"))
    t.on(starts("rpm", "-qa"), 0, read(f"{CI}/rpm-qa.txt"))
    t.on(has("--version"), 127, "", "command not found")
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "no_package_manager"


# ----------------------------------------------------------------------------- reboot
def test_needs_restarting_no_and_current_kernel_mean_no_reboot() -> None:
    t = rocky_host(needs_restarting=(code(f"{CI}/needs-restarting-r-not-required.txt"),
                                     read(f"{CI}/needs-restarting-r-not-required.txt"), ""))
    assert assess_host(t).reboot.required is False


def test_missing_needs_restarting_plugin_is_inconclusive() -> None:
    t = rocky_host(needs_restarting=(1, "", "No such command: needs-restarting. Please use "
                                            "/usr/bin/dnf --help\n"))
    assert assess_host(t).reboot.required is None


def test_newer_installed_kernel_means_reboot() -> None:
    t = rocky_host(needs_restarting=(1, "", "No such command: needs-restarting."))
    t.rules.insert(0, (starts("rpm", "-q", "--queryformat"),
                       (0, "kernel-core 4.18.16-300.fc29.x86_64\n"
                           "kernel-core 4.19.15-300.fc29.x86_64\n", "")))
    reboot = assess_host(t).reboot
    assert reboot.required is True
    assert any("4.19.15-300.fc29.x86_64" in r for r in reboot.reasons)


# ----------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("hostile", ["$(reboot)", "pkg;rm", "`id`", "-oX", "a|b", "a&&b"])
def test_hostile_package_names_are_refused_and_never_reach_a_command(hostile: str) -> None:
    check = f"\n{hostile}.x86_64     1.0-1.el9     baseos\n"
    t = rocky_host(check=(100, check, ""))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "parse_failed"
    assert all(hostile not in " ".join(argv) for argv in argvs(t))


@pytest.mark.parametrize("field", ["rpm", "updateinfo"])
def test_hostile_values_elsewhere_are_refused(field: str) -> None:
    if field == "rpm":
        t = rocky_host()
        t.rules.insert(0, (starts("rpm", "-qa"), (0, "x;reboot\t0\t1.0\t1\tx86_64\n", "")))
    else:
        t = rocky_host(updateinfo="RHSA-1;reboot Important/Sec. glibc-2.28-26.fc29.x86_64\n")
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "parse_failed"
    assert all(";reboot" not in " ".join(argv) for argv in argvs(t))


# ----------------------------------------------------------------------------- rpm order
@pytest.mark.parametrize(("a", "b", "expected"), [
    ((0, "1.0", "1"), (0, "1.0", "1"), 0),
    ((0, "1.10", "1"), (0, "1.9", "1"), 1),
    ((1, "1.0", "1"), (0, "9.9", "9"), 1),
    ((0, "1.0~rc1", "1"), (0, "1.0", "1"), -1),
    ((0, "1.0^git1", "1"), (0, "1.0", "1"), 1),
    ((0, "1.0^git1", "1"), (0, "1.0.1", "1"), -1),
    ((0, "1.0a", "1"), (0, "1.0", "1"), 1),
    ((0, "2.28", "26.fc29"), (0, "2.28", "9.fc29"), 1),
    ((0, "1.01", "1"), (0, "1.1", "1"), 0),
])
def test_rpm_version_order(a: tuple[int, str, str], b: tuple[int, str, str],
                           expected: int) -> None:
    assert compare_evr(a, b) == expected
    assert compare_evr(b, a) == -expected
