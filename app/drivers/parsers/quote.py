"""Validators and quoting for host-supplied values that end up in remote commands."""

from __future__ import annotations

import re

# Everything read from a host is hostile (tech-notes §6.5): validate with strict
# allow-lists, then quote anyway. All patterns are ASCII-only and used with fullmatch,
# so "\n" at the end, look-alike unicode letters/digits and a leading "-" (option
# injection) never pass.

# Debian Policy §5.6.1: lower case letters, digits, "+", "-", "."; at least two
# characters; must start with an alphanumeric. https://www.debian.org/doc/debian-policy/ch-controlfields.html#source
_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+", re.ASCII)
# apt accepts "name:arch" (multiarch); arch names are lower case words like amd64, all.
_DEB_ARCH = re.compile(r"[a-z0-9][a-z0-9-]*", re.ASCII)
# Debian versions: [epoch:]upstream[-revision], characters [A-Za-z0-9.+~:-]
# (git-buildpackage debian_version_chars, tech-notes §6.5); must start with a digit.
_DEB_VERSION = re.compile(r"[0-9][A-Za-z0-9.+~:-]*", re.ASCII)
# RPM names are wider than Debian's (upper case, "_", e.g. "NetworkManager",
# "perl-Net_SSLeay"); never a leading "-". [U] tech-notes §6.5 allow-list.
_RPM_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*", re.ASCII)
# RPM [epoch:]version[-release]; rpm versions also use "~" and "^" (rpm >= 4.15).
_RPM_VERSION = re.compile(r"(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?", re.ASCII)
_RPM_ARCH = re.compile(r"[a-z0-9_]+", re.ASCII)
# RHSA-2024:1234, FEDORA-2024-1a2b3c4d5e, openSUSE-SU-2024:0001-1, SUSE-SLE-SERVER-12-SP2-
# 2017-1022, openSUSE-Leap-16.0-112, DSA-5555-1, USN-6000-1, ALSA-2024:1234.
_ADVISORY = re.compile(r"[A-Za-z][A-Za-z0-9._:-]{2,79}", re.ASCII)
_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}", re.ASCII)
_MAX_LEN = 255


class UnsafeValueError(ValueError):
    """A value from a host failed its allow-list and must not reach a command line."""

    def __init__(self, kind: str, value: object):
        self.kind = kind
        self.value = value
        super().__init__(f"refusing unsafe {kind}: {value!r}")


def _check(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or len(value) > _MAX_LEN or not pattern.fullmatch(value):
        raise UnsafeValueError(kind, value)
    return value


def ensure_package_name(value: str, family: str = "deb", *, allow_arch: bool = False) -> str:
    """Return ``value`` if it is a valid package name, else raise.

    Args:
        value: the name as read from a host.
        family: ``"deb"`` (Debian Policy rules) or ``"rpm"`` (wider: upper case, ``_``).
        allow_arch: accept a ``name:arch`` (Debian) / ``name.arch`` is NOT split for rpm.

    Returns:
        ``value`` unchanged.

    Raises:
        UnsafeValueError: when the value is not allowed.
        ValueError: for an unknown family.
    """
    if family == "deb":
        if allow_arch and isinstance(value, str) and value.count(":") == 1:
            name, arch = value.split(":")
            _check("package name", name, _DEB_NAME)
            _check("architecture", arch, _DEB_ARCH)
            return value
        return _check("package name", value, _DEB_NAME)
    if family == "rpm":
        return _check("package name", value, _RPM_NAME)
    raise ValueError(f"unknown package family {family!r}")


def ensure_version(value: str, family: str = "deb") -> str:
    """Return ``value`` if it is a valid package version, else raise.

    Args:
        value: the version as read from a host.
        family: ``"deb"`` ([A-Za-z0-9.+~:-], starting with a digit) or ``"rpm"``
            ([epoch:]version[-release] over [A-Za-z0-9._+~^]).

    Returns:
        ``value`` unchanged.

    Raises:
        UnsafeValueError: when the value is not allowed.
        ValueError: for an unknown family.
    """
    if family == "deb":
        return _check("version", value, _DEB_VERSION)
    if family == "rpm":
        return _check("version", value, _RPM_VERSION)
    raise ValueError(f"unknown package family {family!r}")


def ensure_rpm_arch(value: str) -> str:
    """Return ``value`` if it is an RPM architecture token (``x86_64``, ``noarch``...)."""
    return _check("architecture", value, _RPM_ARCH)


def ensure_advisory_id(value: str) -> str:
    """Return ``value`` if it looks like an advisory id (RHSA-2024:1234, openSUSE-SU-...).

    Raises:
        UnsafeValueError: when the value is not allowed.
    """
    return _check("advisory id", value, _ADVISORY)


def ensure_cve_id(value: str) -> str:
    """Return ``value`` if it is a CVE id (``CVE-2024-3094``), else raise UnsafeValueError."""
    return _check("CVE id", value, _CVE)
