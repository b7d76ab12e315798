"""Allow-list validators and shell quoting for host-supplied values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.drivers.parsers.quote import (
    UnsafeValueError,
    ensure_advisory_id,
    ensure_cve_id,
    ensure_package_name,
    ensure_rpm_arch,
    ensure_version,
)

HOSTILE = [
    "; rm -rf /",
    "foo; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "foo\nreboot",
    "foo\n",
    "foo\x00bar",
    "-oAPT::Get::AllowUnauthenticated=1",
    "--force-yes",
    "-y",
    "fоo",  # Cyrillic o
    "ｆｏｏ",  # fullwidth
    "1.０",  # fullwidth digit
    "٣.1",  # Arabic-Indic digit
    "foo bar",
    "foo|cat",
    "foo&&id",
    "foo>/etc/passwd",
    "'quoted'",
    '"dq"',
    "",
    "a" * 300,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_package_names_refused(value: str) -> None:
    for family in ("deb", "rpm"):
        with pytest.raises(UnsafeValueError) as info:
            ensure_package_name(value, family)
        assert repr(value)[:20] in str(info.value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_versions_refused(value: str) -> None:
    for family in ("deb", "rpm"):
        with pytest.raises(UnsafeValueError):
            ensure_version(value, family)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_refused(value: str) -> None:
    for check in (ensure_advisory_id, ensure_cve_id, ensure_rpm_arch):
        with pytest.raises(UnsafeValueError):
            check(value)


@pytest.mark.parametrize(
    ("value", "family"),
    [
        ("libc6", "deb"),
        ("g++-12", "deb"),
        ("libstdc++6", "deb"),
        ("python3.11", "deb"),
        ("pd-openssl", "deb"),
        ("NetworkManager", "rpm"),
        ("perl-Net_SSLeay", "rpm"),
        ("python3-libs", "rpm"),
        ("kernel-core", "rpm"),
    ],
)
def test_real_package_names_accepted(value: str, family: str) -> None:
    assert ensure_package_name(value, family) == value


def test_debian_name_rules() -> None:
    for bad in ("Foo", "a", "-foo", "+foo", "foo_bar", "NetworkManager"):
        with pytest.raises(UnsafeValueError):
            ensure_package_name(bad, "deb")
    assert ensure_package_name("libc6:amd64", "deb", allow_arch=True) == "libc6:amd64"
    with pytest.raises(UnsafeValueError):
        ensure_package_name("libc6:amd64", "deb")
    with pytest.raises(UnsafeValueError):
        ensure_package_name("libc6:$(id)", "deb", allow_arch=True)
    with pytest.raises(ValueError, match="unknown package family"):
        ensure_package_name("x", "apk")


@pytest.mark.parametrize(
    ("value", "family"),
    [
        ("1:2.38.1-5+deb12u3", "deb"),
        ("3.0.19-1~deb12u2", "deb"),
        ("5.72-0ubuntu5.4", "deb"),
        ("1.103.2-1755709794", "deb"),
        ("5.14.0-427.13.1.el9_4", "rpm"),
        ("1:3.0.7-27.el9", "rpm"),
        ("6.0.0~alpha1-1.fc44", "rpm"),
        ("2.6.0-2.suse1699.10", "rpm"),
        ("1.2.3", "rpm"),
    ],
)
def test_real_versions_accepted(value: str, family: str) -> None:
    assert ensure_version(value, family) == value


def test_version_family_differences() -> None:
    with pytest.raises(UnsafeValueError):
        ensure_version("427.13.1.el9_4", "deb")  # "_" is not a Debian version character
    with pytest.raises(UnsafeValueError):
        ensure_version("~1.0", "deb")  # must start with a digit
    with pytest.raises(ValueError, match="unknown package family"):
        ensure_version("1", "msi")


def test_ids_accepted() -> None:
    for adv in (
        "RHSA-2024:1234",
        "FEDORA-2018-318f184000",
        "FEDORA-2999:002-02",
        "openSUSE-Leap-16.0-112",
        "SUSE-SLE-SERVER-12-SP2-2017-1252",
        "DSA-5555-1",
        "USN-6000-1",
        "RLSA-2025:23343",
    ):
        assert ensure_advisory_id(adv) == adv
    assert ensure_cve_id("CVE-2024-3094") == "CVE-2024-3094"
    assert ensure_rpm_arch("x86_64") == "x86_64"


def test_non_str_refused() -> None:
    with pytest.raises(UnsafeValueError):
        ensure_package_name(b"libc6", "deb")  # type: ignore[arg-type]


@given(st.text(max_size=30))
def test_validators_never_accept_shell_metacharacters(value: str) -> None:
    for family in ("deb", "rpm"):
        for check in (ensure_package_name, ensure_version):
            try:
                accepted = check(value, family)
            except UnsafeValueError:
                continue
            assert accepted == value
            assert not set(value) & set(" \t\n\r;&|$`'\"<>()*?![]{}\\\x00")
            assert not value.startswith("-") and value.isascii()
