"""The zypper driver on captured zypper XML (tests/data/zypper) through a scripted
transport: updates and patches, exit codes, the ZYPP lock, hostile names, reboot state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from app.core.models import Classification, Severity
from app.drivers.base import DriverError
from app.drivers.registry import assess_host, detect
from app.drivers.zypper import suse_kernel_release
from tests.fakes import ScriptedTransport, starts

DATA = Path(__file__).parents[1] / "data"
LEAP = "zypper/opensuse-leap-16.0"
RUNNING = "6.12.0-160000.7-default"


def read(rel: str) -> str:
    return (DATA / rel).read_text(encoding="utf-8")


def facts_output(os_release: str, kernel: str) -> str:
    """The facts script's sections (machine facts borrowed from the Debian capture)."""
    facts = DATA / "facts" / "debian-12"
    sections = {
        "os-release": os_release, "kernel": kernel, "arch": "aarch64", "hostname": "leap1",
        "uptime": (facts / "uptime").read_text(), "boot-id": (facts / "boot_id").read_text(),
        "meminfo": (facts / "meminfo").read_text(), "cpuinfo": (facts / "cpuinfo").read_text(),
        "df": (facts / "df-P-B1.txt").read_text(),
        "ip-addr": (facts / "ip-j-addr.json").read_text(), "who": "",
        "dmi-sys_vendor": "@@pd-absent@@", "dmi-product_name": "@@pd-absent@@",
        "dmi-product_serial": "@@pd-absent@@", "reboot-required": "@@pd-absent@@",
        "reboot-required-pkgs": "@@pd-absent@@", "needrestart": "@@pd-absent@@",
    }
    text = "".join(f"\n@@pd:{name}@@\n{body}" for name, body in sections.items())
    return text + "\n@@pd:end@@\n"


def has(*words: str) -> Callable[[Sequence[str]], bool]:
    """Predicate: every word is one of argv's words."""
    return lambda argv: all(w in argv for w in words)


def leap_host(*, refresh: tuple[int, str, str] = (0, "All repositories have been refreshed.\n",
                                                   ""),
              updates: tuple[int, str, str] | None = None,
              patches: tuple[int, str, str] | None = None,
              needs_rebooting: int = 0,
              kernels: str = "kernel-default 6.12.0-160000.7.1\n") -> ScriptedTransport:
    t = ScriptedTransport()
    t.on(starts("sh", "-c"), 0, facts_output(read("os-release/opensuse-leap-15.4"), RUNNING))
    t.on(has("refresh"), *refresh)
    t.on(has("list-updates"), *(updates or (100, read(f"{LEAP}/list-updates.xml"), "")))
    t.on(has("list-patches"), *(patches or (
        101, read(f"{LEAP}/list-patches-security-qemu.xml"), "")))
    t.on(starts("zypper", "needs-rebooting"), needs_rebooting, "")
    # no patch information: the patches stay updates of their own (see
    # tests/unit/test_rpm_lab_outputs.py for patches folded into their packages)
    t.on(has("info", "patch"), 0, "Loading repository data...\nReading installed packages...\n")
    t.on(starts("rpm", "-qa"), 0, read(f"{LEAP}/rpm-qa.txt"))
    t.on(starts("rpm", "-q", "--queryformat"), 0, kernels)
    return t


def argvs(t: ScriptedTransport) -> list[tuple[str, ...]]:
    return [argv for argv, _ in t.calls]


def test_assessment_of_an_opensuse_leap_host() -> None:
    t = leap_host()
    result = assess_host(t)
    assert result.driver == "zypper"
    assert result.facts.os_id == "opensuse-leap"
    by_name = {u.package: u for u in result.updates}
    kernel = by_name["kernel-default"]
    assert (kernel.installed_version, kernel.candidate_version) == (
        "6.12.0-160000.7.1", "6.12.0-160000.8.1")
    assert kernel.classification is Classification.OTHER  # package updates: unclassified
    assert kernel.source == "https-download.opensuse.org-4bc031d9"
    qemu = by_name["openSUSE-Leap-16.0-112"]
    assert qemu.classification is Classification.SECURITY
    assert qemu.severity is Severity.IMPORTANT
    assert qemu.cves == ("CVE-2025-11234", "CVE-2025-12464")  # bugzilla refs left out
    assert qemu.advisories == ("openSUSE-Leap-16.0-112",)
    assert qemu.reboot_required is False
    assert by_name["openSUSE-Leap-16.0-113"].reboot_required is True
    assert len(result.updates) == 4 + 2
    assert {p.name for p in result.packages} == {"kernel-default", "kernel-default-extra",
                                                 "kernel-default-optional", "qemu-guest-agent"}
    assert result.warnings == []
    # needs-rebooting 0 is conclusive; the kernel maps and is the newest installed.
    assert result.reboot.required is False
    assert any("running the newest installed kernel" in r for r in result.reboot.reasons)
    calls = argvs(t)
    assert ("zypper", "-n", "--gpg-auto-import-keys", "refresh") in calls
    assert all("--no-refresh" in argv for argv in calls if "--xmlout" in argv)
    assert all(as_root for argv, as_root in t.calls if argv[0] == "zypper" and "-n" in argv)


def test_without_refresh_nothing_is_refreshed() -> None:
    t = leap_host()
    assess_host(t, refresh=False)
    assert not any("refresh" in argv for argv in argvs(t))


@pytest.mark.parametrize("release", ["opensuse-leap-15.4", "opensuse-tumbleweed-20230304"])
def test_suse_os_releases_pick_the_zypper_driver(release: str) -> None:
    t = ScriptedTransport().on(starts("sh", "-c"), 0,
                               facts_output(read(f"os-release/{release}"), RUNNING))
    assert detect(t)[0].name == "zypper"


def test_tumbleweed_one_update_and_none() -> None:
    one = "zypper/opensuse-tumbleweed/list-updates-one.xml"
    none = "zypper/opensuse-tumbleweed/list-updates-none.xml"
    t = leap_host(updates=(100, read(one), ""), patches=(0, read(none), ""))
    (update,) = assess_host(t).updates
    assert (update.package, update.installed_version, update.candidate_version) == (
        "libopenh264-8", "2.6.0~noopenh264-1.5", "2.6.0-2.suse1699.10")
    t = leap_host(updates=(0, read(none), ""), patches=(0, read(none), ""))
    assert assess_host(t).updates == []


def test_applied_patches_are_not_missing() -> None:
    xml = read(f"{LEAP}/list-patches-security-qemu.xml").replace(
        'status="needed"', 'status="applied"', 1)
    names = {u.package for u in assess_host(leap_host(patches=(0, xml, ""))).updates}
    assert "openSUSE-Leap-16.0-112" not in names
    assert "openSUSE-Leap-16.0-113" in names


@pytest.mark.parametrize(("category", "severity", "classification", "level"), [
    ("recommended", "moderate", Classification.BUGFIX, Severity.MODERATE),
    ("optional", "low", Classification.ENHANCEMENT, Severity.LOW),
    ("security", "critical", Classification.SECURITY, Severity.CRITICAL),
    ("yast", "unspecified", Classification.OTHER, Severity.UNKNOWN),
])
def test_patch_category_and_severity_mapping(category: str, severity: str,
                                             classification: Classification,
                                             level: Severity) -> None:
    xml = read(f"{LEAP}/list-patches-security-qemu.xml").replace(
        'category="security" severity="important"',
        f'category="{category}" severity="{severity}"', 1)
    qemu = next(u for u in assess_host(leap_host(patches=(0, xml, ""))).updates
                if u.package == "openSUSE-Leap-16.0-112")
    assert (qemu.classification, qemu.severity) == (classification, level)


# ----------------------------------------------------------------------------- exit codes
LOCKED = ("System management is locked by the application with pid 4242 (zypper).\n"
          "Close this application before trying again.\n")


@pytest.mark.parametrize("step", ["refresh", "list-updates", "list-patches"])
def test_zypp_lock_is_a_clear_error(step: str) -> None:
    answer = (7, "", LOCKED)
    t = leap_host(refresh=answer if step == "refresh" else (0, "", ""),
                  updates=answer if step == "list-updates" else None,
                  patches=answer if step == "list-patches" else None)
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "zypp_lock"
    assert "process 4242 (zypper)" in str(caught.value)


def test_no_repositories_is_a_warning() -> None:
    t = leap_host(refresh=(6, "", "No repositories defined. Operation aborted.\n"),
                  updates=(6, "", "Warning: No repositories defined.\n"),
                  patches=(6, "", "Warning: No repositories defined.\n"))
    result = assess_host(t)
    assert result.updates == []
    assert any("no repositories defined" in w for w in result.warnings)


def test_skipped_repositories_are_a_warning() -> None:
    t = leap_host(refresh=(106, "", "Some of the repositories have not been refreshed.\n"))
    result = assess_host(t)
    assert result.updates
    assert any("INF_REPOS_SKIPPED" in w for w in result.warnings)


def test_error_exit_is_zypper_failed() -> None:
    t = leap_host(updates=(4, "", "Problem retrieving files from 'repo-oss'.\n"))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "zypper_failed"
    assert "libzypp" in str(caught.value)


def test_unknown_exit_code_and_unknown_output_are_parse_failed() -> None:
    for answer in [(42, "", "?"), (0, "Loading repository data...\nNot XML\n", "")]:
        with pytest.raises(DriverError) as caught:
            assess_host(leap_host(updates=answer))
        assert caught.value.kind == "parse_failed"


# ----------------------------------------------------------------------------- hostile
@pytest.mark.parametrize("hostile", ["$(reboot)", "pkg;rm", "`id`", "-oX", "a|b"])
def test_hostile_names_are_refused_and_never_reach_a_command(hostile: str) -> None:
    xml = read(f"{LEAP}/list-updates.xml").replace('name="qemu-guest-agent"',
                                                     f'name="{hostile}"')
    t = leap_host(updates=(100, xml, ""))
    with pytest.raises(DriverError) as caught:
        assess_host(t)
    assert caught.value.kind == "parse_failed"
    assert all(hostile not in " ".join(argv) for argv in argvs(t))


def test_hostile_cve_id_is_refused() -> None:
    xml = read(f"{LEAP}/list-patches-security-qemu.xml").replace(
        'id="CVE-2025-11234"', 'id="CVE-2025-1;reboot"', 1)
    with pytest.raises(DriverError) as caught:
        assess_host(leap_host(patches=(101, xml, "")))
    assert caught.value.kind == "parse_failed"


# ----------------------------------------------------------------------------- reboot
def test_needs_rebooting_102_means_reboot() -> None:
    reboot = assess_host(leap_host(needs_rebooting=102)).reboot
    assert reboot.required is True
    assert any("zypper needs-rebooting" in r for r in reboot.reasons)


def test_old_zypper_without_needs_rebooting_is_inconclusive() -> None:
    # A single inconclusive kernel "no" is not enough for a verdict.
    assert assess_host(leap_host(needs_rebooting=2)).reboot.required is None


def test_newer_kernel_installed_means_reboot() -> None:
    kernels = "kernel-default 6.12.0-160000.7.1\nkernel-default 6.12.0-160000.8.1\n"
    reboot = assess_host(leap_host(needs_rebooting=2, kernels=kernels)).reboot
    assert reboot.required is True
    assert any("6.12.0-160000.8-default" in r for r in reboot.reasons)


def test_unmapped_kernel_names_give_no_kernel_signal() -> None:
    reboot = assess_host(leap_host(needs_rebooting=2,
                                   kernels="kernel-default 7.0.0-1.1\n")).reboot
    assert reboot.required is None
    assert not any(r.startswith("kernel:") for r in reboot.reasons)


def test_suse_kernel_release_mapping() -> None:
    assert suse_kernel_release("6.4.0-150600.23.7.1") == "6.4.0-150600.23.7-default"
    assert suse_kernel_release("6.8.5-1.1") == "6.8.5-1-default"
