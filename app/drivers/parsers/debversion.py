"""Debian version comparison (dpkg's algorithm), pure Python."""

from __future__ import annotations

import re

# deb-version(7): [epoch:]upstream_version[-debian_revision]; comparison splits each part
# into alternating non-digit / digit runs; "~" sorts before everything, even the empty
# string; letters sort before non-letters. Mirrors dpkg lib/dpkg/version.c verrevcmp().
_EPOCH = re.compile(r"([0-9]+):(.*)", re.ASCII | re.DOTALL)


def split_version(version: str) -> tuple[int, str, str]:
    """Split a Debian version into ``(epoch, upstream, revision)``.

    Args:
        version: e.g. ``"1:2.38.1-5+deb12u3"``.

    Returns:
        The three parts; epoch 0 and revision ``""`` when absent.

    Raises:
        ValueError: for an empty version or upstream part.
    """
    epoch = 0
    rest = version
    m = _EPOCH.fullmatch(version)
    if m:
        epoch, rest = int(m[1]), m[2]
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    if not upstream:
        raise ValueError(f"not a Debian version: {version!r}")
    return epoch, upstream, revision


def _isdigit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _order(ch: str) -> int:
    if ch == "~":
        return -1
    if _isdigit(ch):
        return 0
    if ch.isascii() and ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not _isdigit(a[i])) or (j < len(b) and not _isdigit(b[j])):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and _isdigit(a[i]) and j < len(b) and _isdigit(b[j]):
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and _isdigit(a[i]):
            return 1
        if j < len(b) and _isdigit(b[j]):
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions``.

    Args:
        a: first version.
        b: second version.

    Returns:
        A negative number, zero or a positive number as ``a`` is older than, equal to
        or newer than ``b``.

    Raises:
        ValueError: if either is not a Debian version.
    """
    ea, ua, ra = split_version(a)
    eb, ub, rb = split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = _verrevcmp(ua, ub)
    if c:
        return -1 if c < 0 else 1
    c = _verrevcmp(ra, rb)
    return 0 if c == 0 else (-1 if c < 0 else 1)
