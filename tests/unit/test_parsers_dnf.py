"""dnf/yum/dnf5 parsers on public captured output (dnf CI, bug reports) and crafted cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import (
    Nevra,
    parse_check_update,
    parse_evr,
    parse_needs_restarting,
    parse_nevra,
    parse_rpm_qa,
    parse_updateinfo_list,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def fixture(rel: str) -> tuple[str, int | None]:
    path = DATA / rel
    rc = path.with_name(path.name + ".rc")
    return path.read_text(), int(rc.read_text()) if rc.exists() else None


# ---------------------------------------------------------------- NEVRA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kernel-core-5.14.0-427.13.1.el9_4.x86_64",
            Nevra("kernel-core", None, "5.14.0", "427.13.1.el9_4", "x86_64"),
        ),
        (
            "python3-libs-3.9.18-3.el9.x86_64",
            Nevra("python3-libs", None, "3.9.18", "3.el9", "x86_64"),
        ),
        (
            "openssl-libs-1:3.5.9-1.fc44.x86_64",
            Nevra("openssl-libs", 1, "3.5.9", "1.fc44", "x86_64"),
        ),
        ("tar-2:1.35-9.fc44.x86_64", Nevra("tar", 2, "1.35", "9.fc44", "x86_64")),
        ("bc-0:1.08.2-4.fc44.aarch64", Nevra("bc", 0, "1.08.2", "4.fc44", "aarch64")),
        (
            "java-1.8.0-openjdk-1.8.0.412.b08-2.el9.x86_64",
            Nevra("java-1.8.0-openjdk", None, "1.8.0.412.b08", "2.el9", "x86_64"),
        ),
        (
            "apparmor-libs-6.0.0~alpha1-1.fc44.x86_64",
            Nevra("apparmor-libs", None, "6.0.0~alpha1", "1.fc44", "x86_64"),
        ),
        ("CQRlib-1.1.2-16.fc29.x86_64", Nevra("CQRlib", None, "1.1.2", "16.fc29", "x86_64")),
    ],
)
def test_parse_nevra(text: str, expected: Nevra) -> None:
    assert parse_nevra(text) == expected
    assert str(expected) == text


def test_nevr_without_arch_and_evr() -> None:
    assert parse_nevra("glibc-2.28-26.fc29", with_arch=False).arch is None
    assert parse_evr("1:3.0.7-27.el9") == (1, "3.0.7", "27.el9")
    assert parse_evr("2.17-157.el7_3.1") == (None, "2.17", "157.el7_3.1")


@pytest.mark.parametrize(
    "text",
    [
        "glibc",
        "glibc.x86_64",
        "glibc-2.28.x86_64",
        "x:1-2.x86_64",
        "glibc-a:2.28-1.x86_64",
        "glibc-2.28-1.X86-64",
        "foo bar-1-1.noarch",
    ],
)
def test_bad_nevra_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_nevra(text)


_NAME = st.from_regex(r"\A[A-Za-z0-9_+][A-Za-z0-9._+-]{0,15}\Z")
_VER = st.from_regex(r"\A[A-Za-z0-9._+~^]{1,10}\Z")
_ARCH = st.sampled_from(["x86_64", "noarch", "aarch64", "i686", "s390x", "ppc64le"])


@given(_NAME, st.one_of(st.none(), st.integers(0, 99)), _VER, _VER, _ARCH)
def test_nevra_round_trip(
    name: str, epoch: int | None, version: str, release: str, arch: str
) -> None:
    n = Nevra(name, epoch, version, release, arch)
    assert parse_nevra(str(n)) == n


# ---------------------------------------------------------------- check-update


def test_dnf5_fedora44_upgrades_and_obsoletes() -> None:
    text, rc = fixture("dnf/fedora-44/check-upgrade-dnf5.txt")
    assert rc == 100
    cu = parse_check_update(text, rc)
    assert [(u.name, u.arch, u.evr, u.repo) for u in cu.updates][:2] == [
        ("apparmor-libs", "x86_64", "6.0.0~alpha1-1.fc44", "terra"),
        ("proton-vpn-daemon", "noarch", "0.13.8-1.fc44", "protonvpn-fedora-stable"),
    ]
    assert len(cu.updates) == 5  # the obsoleting block must not add "updates"
    assert [(o.package.name, o.package.arch) for o in cu.obsoletes] == [
        ("python3-proton-vpn-api-core", "aarch64"),
        ("python3-proton-vpn-api-core", "x86_64"),
    ]
    assert [(r.name, r.arch, r.evr) for r in cu.obsoletes[0].replaces] == [
        ("python3-proton-vpn-api-core", "noarch", "5.2.5-1.fc44"),
        ("python3-proton-vpn-local-agent", "x86_64", "1.6.3-1.fc44"),
    ]


def test_openmandriva_obsoleting_only_with_installed_repos() -> None:
    text, rc = fixture("dnf/openmandriva-4.0/check-update-obsoleting.txt")
    assert rc is not None
    cu = parse_check_update(text, rc)
    assert cu.updates == ()
    assert [o.package.repo for o in cu.obsoletes] == ["@rock-x86_64", "rock-x86_64", "@rock-x86_64"]
    assert all(len(o.replaces) == 1 for o in cu.obsoletes)


def test_yum_centos7_wrapped_rows_are_joined() -> None:
    text, rc = fixture("yum/centos-7/check-update-wrapped.txt")
    assert rc is not None
    cu = parse_check_update(text, rc)
    assert len(cu.updates) == 12
    first, last = cu.updates[0], cu.updates[-1]
    assert (first.name, first.evr, first.repo) == (
        "AAAAAAAAA-AA-AAAAAAA-AAAAA",
        "1.16-1",
        "AAAAAAAAAAA-AAA-AAAAAAAAAA-AAAAA",
    )
    assert (last.name, last.arch, last.evr) == ("python2-s3transfer", "noarch", "0.1.10-1.el7")


def test_yum_rhel6_wrapped_name() -> None:
    text, rc = fixture("yum/rhel-6/check-update-wrapped.txt")
    assert rc is not None
    cu = parse_check_update(text, rc)
    names = [u.name for u in cu.updates]
    assert len(names) == 7
    assert "Red_Hat_Enterprise_Linux-Release_Notes-6-en-US" in names


def test_version_and_repo_wrapped_separately() -> None:
    # puppetlabs/puppet PR #3526: the repo alone on the continuation line
    text = (
        "libnl.x86_64                           1.1.4-2.el6               base\n"
        "libpcap.x86_64                         14:1.4.0-1.20130826git2dbcaa1.el6\n"
        "                                                                 base\n"
        "libproxy.x86_64                        0.3.0-4.el6_3             base\n"
    )
    cu = parse_check_update(text, 100)
    assert [(u.name, u.epoch, u.repo) for u in cu.updates] == [
        ("libnl", None, "base"),
        ("libpcap", 14, "base"),
        ("libproxy", None, "base"),
    ]


def test_exit_code_cross_check() -> None:
    text, _ = fixture("dnf/fedora-44/check-upgrade-dnf5.txt")
    with pytest.raises(ParseError, match="exited 0 but listed 5"):
        parse_check_update(text, 0)
    with pytest.raises(ParseError, match="listed none"):
        parse_check_update("Last metadata expiration check: 0:01:00 ago on Mon 01 Jan 2024.\n", 100)
    with pytest.raises(ParseError, match=r"exited 1 \(error\)"):
        parse_check_update("", 1)
    assert parse_check_update("Last metadata expiration check: 0:01:00 ago.\n", 0).updates == ()


@pytest.mark.parametrize(
    "text",
    [
        "glibc.x86_64 2.17 base\n",  # version without release
        "glibc.x86_64\n",  # wrapped row never completed
        "glibc.x86_64\nkernel.x86_64 1-1 base\n",  # continuation not indented
        "Error: Failed to download metadata for repo 'appstream'\n",
        "    glibc.x86_64 2.17-1 base\n",  # indented outside an obsoletes block
        "glibc.x86_64 2.17-1 base extra\n",
        "<html>\n",
    ],
)
def test_check_update_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_check_update(text, 100)


# ---------------------------------------------------------------- updateinfo


def test_updateinfo_dnf4_and_dnf5_formats_agree() -> None:
    dnf4 = parse_updateinfo_list(fixture("dnf/fedora-29-ci/updateinfo-list-dnf4.txt")[0])
    dnf5 = parse_updateinfo_list(fixture("dnf/fedora-29-ci/updateinfo-list-dnf5.txt")[0])
    assert {(r.ref, r.kind, str(r.package)) for r in dnf4} == {
        (r.ref, r.kind, str(r.package)) for r in dnf5
    }
    flac5 = next(r for r in dnf5 if r.ref == "FEDORA-2999:002-02")
    assert (flac5.severity, flac5.issued) == ("Moderate", "2019-01-17 00:00:00")
    glibc5 = next(r for r in dnf5 if r.package.name == "glibc")
    assert glibc5.severity is None  # dnf5 prints "none"


def test_updateinfo_security_rows() -> None:
    (sec4,) = parse_updateinfo_list(
        fixture("dnf/fedora-29-ci/updateinfo-list-all-security-dnf4.txt")[0]
    )
    assert (sec4.kind, sec4.severity, sec4.installed, sec4.package.name) == (
        "security",
        "Moderate",
        True,
        "CQRlib",
    )
    (sec5,) = parse_updateinfo_list(
        fixture("dnf/fedora-29-ci/updateinfo-list-all-security-dnf5.txt")[0]
    )
    assert (sec5.kind, sec5.severity, str(sec5.package)) == (
        "security",
        "Moderate",
        str(sec4.package),
    )
    (bug,) = parse_updateinfo_list(
        fixture("dnf/fedora-29-ci/updateinfo-list-all-bugfix-dnf4.txt")[0]
    )
    assert bug.installed is False


@pytest.mark.parametrize(
    "text",
    [
        "RHSA-2024:1234 Urgent/Sec. kernel-5.14.0-1.el9.x86_64\n",  # unknown severity
        "RHSA-2024:1234 Important/Sec.\n",  # no package
        "RHSA-2024:1234 Important/Sec. kernel\n",  # not a NEVRA
        "Name Type Severity Package Issued\nFEDORA-1 security Important foo-1-1.x86_64\n",
        "Error: Unknown argument\n",
    ],
)
def test_updateinfo_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_updateinfo_list(text)


# ---------------------------------------------------------------- rpm -qa


def test_rpm_qa() -> None:
    pkgs = parse_rpm_qa(
        "kernel-core\t0\t5.14.0\t427.13.1.el9_4\tx86_64\n"
        "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\n"
        "gpg-pubkey\t0\tfd431d51\t4ae0493b\t(none)\n"
    )
    assert [(p.name, p.epoch, p.arch) for p in pkgs] == [
        ("kernel-core", 0, "x86_64"),
        ("openssl-libs", 1, "x86_64"),
        ("gpg-pubkey", 0, None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "kernel 0 5.14.0 1.el9 x86_64\n",
        "kernel\t(none)\t5.14.0\t1.el9\tx86_64\n",
        "kernel\t0\t5.14.0\t1.el9\tX86 64\n",
        "package foo is not installed\n",
    ],
)
def test_rpm_qa_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_rpm_qa(text)


# ---------------------------------------------------------------- needs-restarting


def test_needs_restarting_fixtures() -> None:
    text, rc = fixture("dnf/fedora-29-ci/needs-restarting-r-required.txt")
    assert rc == 1
    r = parse_needs_restarting(text, rc)
    assert r.reboot_required and r.packages == ("glibc", "kernel")
    text, rc = fixture("dnf/fedora-29-ci/needs-restarting-r-not-required.txt")
    assert rc == 0
    assert parse_needs_restarting(text, rc).reboot_required is False


def test_needs_restarting_several_items_on_one_line_and_rhsm_noise() -> None:
    text = (
        "Updating Subscription Management repositories.\n"
        "Core libraries or services have been updated since boot-up:\n"
        "  * dbus-broker  * kernel  * kernel-core  * microcode_ctl\n"
        "Reboot is required to fully utilize these updates.\n"
        "More information: https://access.redhat.com/solutions/27943\n"
    )
    r = parse_needs_restarting(text, 1)
    assert r.packages == ("dbus-broker", "kernel", "kernel-core", "microcode_ctl")


def test_needs_restarting_exit_code_must_match_text() -> None:
    text, _ = fixture("dnf/fedora-29-ci/needs-restarting-r-required.txt")
    with pytest.raises(ParseError, match="exited 0"):
        parse_needs_restarting(text, 0)
    with pytest.raises(ParseError):
        parse_needs_restarting(
            "No such command: needs-restarting. Please use /usr/bin/dnf --help\n", 1
        )
    with pytest.raises(ParseError, match="says nothing"):
        parse_needs_restarting("", 1)
    with pytest.raises(ParseError):
        parse_needs_restarting("Reboot should not be necessary.\n", 2)
