"""Validation and normalisation of the values users type: IPs, MACs, host names, dates."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import TYPE_CHECKING

from app.core.errors import FieldError

if TYPE_CHECKING:  # deployment imports models, which import this module
    from app.core.deployment import Gates

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def normalize_ip(text: str) -> str:
    """Return the canonical text form of an IPv4 or IPv6 address.

    Raises:
        ValueError: with a short reason if ``text`` is not an IP address.
    """
    value = text.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IPv4 or IPv6 address") from None


def normalize_mac(text: str) -> str:
    """Return a MAC address as lower-case ``aa:bb:cc:dd:ee:ff``.

    Accepts colon, dash, dot (Cisco) and bare hex forms.

    Raises:
        ValueError: if ``text`` is not a 48-bit MAC address.
    """
    value = text.strip()
    bare = re.sub(r"[:\-.\s]", "", value).lower()
    if not _MAC_HEX.match(bare):
        raise ValueError(f"'{value}' is not a valid MAC address (expected 6 hex octets)")
    return ":".join(bare[i : i + 2] for i in range(0, 12, 2))


def validate_hostname(text: str) -> str:
    """Check a host name (RFC 1123 labels; underscores tolerated as Windows uses them).

    Raises:
        ValueError: if the name is empty, too long or has invalid characters.
    """
    value = text.strip().rstrip(".")
    if not value:
        raise ValueError("host name is empty")
    if len(value) > 253:
        raise ValueError(f"host name is {len(value)} characters long (at most 253)")
    for label in value.split("."):
        if not _HOST_LABEL.match(label):
            raise ValueError(
                f"'{value}' is not a valid host name (letters, digits, '-', '_' and dots; "
                "no label may start or end with '-')"
            )
    return value


def parse_date(text: str) -> date | None:
    """Parse an ISO date (YYYY-MM-DD); empty text means no date.

    Raises:
        ValueError: if the text is not an ISO date.
    """
    value = text.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a date (expected YYYY-MM-DD)") from None


def split_list(text: str) -> list[str]:
    """Split a user-typed list on commas, semicolons or whitespace; drop empties."""
    return [part for part in re.split(r"[,;\s]+", text.strip()) if part]


# --- deployment plans ([12].2) --------------------------------------------------------------

#: A package name as the package managers we drive accept it, optionally with ``:arch``:
#: Debian's policy (lower-case letters, digits, ``+ - .``, two or more characters), RPM's
#: wider set (upper case, ``_``), and Windows update ids (``KB5031356``). No shell
#: metacharacter, space, ``=`` or ``/`` can pass.
_PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}(:[a-z0-9_-]{1,16})?$")
#: A version string: Debian (epoch, upstream, revision, ``~``), RPM (``-release``, ``^``),
#: Windows build numbers. Again nothing a shell or apt would read as syntax.
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~:^_-]{0,127}$")


#: A macOS Software Update label (spaces, parentheses and commas occur: "Command Line Tools
#: (macOS Mojave version 10.14) for Xcode-10.3"); each goes to softwareupdate as one argument.
_APPLE_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ()+.,_-]{0,127}$")
#: A Homebrew formula or cask by its full name (tap/tap/name); cask versions have commas.
_BREW_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}/[A-Za-z0-9][A-Za-z0-9_.-]{0,39}/"
                      r"[A-Za-z0-9][A-Za-z0-9@+._-]{0,99}$")
_BREW_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.,+~:_-]{0,99}$")


def check_package_pin(name: str, version: str, source: str = "") -> list[FieldError]:
    """Problems with one ``name=version`` a plan would install (empty: fine). ``source``
    "apple" (a Software Update label) and "brew" (a Homebrew full name) have their own
    name rules; every other name is a Linux/Windows package name."""
    if source == "apple" and _APPLE_LABEL_RE.fullmatch(name) and \
            _VERSION_RE.fullmatch(version):
        return []
    if source == "brew" and _BREW_RE.fullmatch(name) and _BREW_VERSION_RE.fullmatch(version):
        return []
    errors = []
    if not _PACKAGE_RE.fullmatch(name):
        errors.append(FieldError("package", f"{name[:60]!r} is not a package name (letters, "
                                            "digits and + . _ - only, optionally :arch)"))
    if not _VERSION_RE.fullmatch(version):
        errors.append(FieldError("version", f"{version[:60]!r} is not a package version "
                                            f"(for {name[:60]!r})"))
    return errors


def check_gates(gates: Gates) -> list[FieldError]:
    """Problems with a plan's numbers: shares are 0–1, counts and sizes positive."""
    errors = []
    for name in ("test_success", "pilot_success", "max_failure_rate"):
        value = getattr(gates, name)
        if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            errors.append(FieldError(name, f"must be a share between 0 and 1 (e.g. 0.2 for "
                                           f"20 %), not {value!r}"))
    for name, low in (("wave_size", 1), ("concurrency", 1), ("reboot_lead_minutes", 0),
                      ("min_free_mb", 0)):
        value = getattr(gates, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 100_000:
            errors.append(FieldError(name, f"must be a whole number of at least {low}, "
                                           f"not {value!r}"))
    if gates.max_failures is not None and (not isinstance(gates.max_failures, int)
                                           or gates.max_failures < 0):
        errors.append(FieldError("max_failures", f"must be 0 or more, not "
                                                 f"{gates.max_failures!r}"))
    if not 0 < gates.host_timeout <= 86_400:
        errors.append(FieldError("host_timeout", "must be between 1 s and a day"))
    if gates.backup_days is not None and not 0 <= gates.backup_days <= 3650:
        errors.append(FieldError("backup_days", f"must be 0–3650 days, not "
                                                f"{gates.backup_days!r}"))
    return errors
