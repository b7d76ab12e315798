"""The change set of one dnf or zypper transaction, and installed versions from rpm.

Three outputs, all read from RPM hosts (real dnf 4.14 / zypper 1.14 / rpm 4.18 of the test
lab, tests/data/rpmdeploy/NOTES.md):

* ``rpm -q --queryformat "%{NAME}\\t%{ARCH}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n"``
  (one row per installed instance; "package X is not installed" for a missing name);
* dnf's transaction table (``dnf --assumeno install ...``, exit 1 "Operation aborted"):
  section headers such as ``Upgrading:``/``Installing dependencies:``/``Removing:``
  followed by `` name  arch  version  repository  size`` rows; a name too long for its
  column goes on a line of its own and the row continues on the next line;
* zypper's ``--xmlout install --dry-run`` ``<install-summary>``: ``<to-upgrade>``,
  ``<to-install>``... of ``<solvable name edition arch edition-old arch-old>``.

Names follow the deployment's naming: a package of the host's native architecture (or
``noarch``) is ``name``, one of another architecture ``name:arch``. Every value read is
validated: it becomes a command argument later (keep, roll back).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # input is screened by _DTD first
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.deployment import PackageChange
from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import parse_evr
from app.drivers.parsers.quote import (
    UnsafeValueError,
    ensure_package_name,
    ensure_rpm_arch,
    ensure_version,
)
from app.drivers.rpm import compare_evr  # rpm's version order (pure)

#: The rpm query format of :func:`parse_rpm_rows` (epoch only when the package has one).
RPM_ROW_FORMAT = "%{NAME}\\t%{ARCH}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n"
PLAIN_ARCHS = frozenset({"noarch", ""})
_DTD = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
# dnf4's section headers → action ("Installing dependencies:", "Installing weak
# dependencies:", "Removing unused dependencies:", "Removing dependent packages:"...).
_SECTIONS = (("Upgrad", "upgrade"), ("Downgrad", "downgrade"), ("Reinstall", "reinstall"),
             ("Install", "install"), ("Remov", "remove"), ("Erasing", "remove"))
_ZYPPER_LISTS = {"to-install": "install", "to-upgrade": "upgrade",
                 "to-downgrade": "downgrade", "to-reinstall": "reinstall",
                 "to-remove": "remove", "to-change-arch": "upgrade",
                 "to-change-vendor": "upgrade"}


@dataclass(frozen=True, slots=True)
class RpmRow:
    """One installed package instance."""

    name: str
    arch: str
    evr: str  # [epoch:]version-release, epoch only when not 0


def _normal_evr(evr: str) -> str:
    return evr.removeprefix("0:")


def _safe(what: str, name: str, arch: str, *versions: str) -> None:
    try:
        ensure_package_name(name, "rpm")
        ensure_rpm_arch(arch)
        for version in versions:
            if version:
                ensure_version(version, "rpm")
    except UnsafeValueError as exc:
        raise ParseError(f"{what}: {exc}") from None


def key(name: str, arch: str, native: str) -> str:
    """The deployment's name of a package: ``name`` for the native arch or noarch."""
    return name if arch in PLAIN_ARCHS or arch == native else f"{name}:{arch}"


def parse_rpm_rows(text: str) -> list[RpmRow]:
    """Rows of :data:`RPM_ROW_FORMAT` output ("is not installed" lines are skipped).

    Raises:
        ParseError: a row with an unsafe name, arch or version.
    """
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, arch, evr = parts[0], parts[1], _normal_evr(parts[2].strip())
        _safe("rpm -q", name, arch, evr)
        rows.append(RpmRow(name, arch, evr))
    return rows


def rpm_states(rows: Iterable[RpmRow], names: list[str], native: str) -> dict[str, str]:
    """Installed version of each ``name`` (native arch or noarch first) or ``name:arch``
    ("" when not installed). Several instances (install-only packages such as kernels):
    the newest."""
    def newest(evrs: list[str]) -> str:
        best = ""
        for evr in evrs:
            if not best or compare_evr(_triple(evr), _triple(best)) > 0:
                best = evr
        return best

    table = list(rows)
    found: dict[str, str] = {}
    for name in names:
        bare, _, arch = name.partition(":")
        if arch:
            found[name] = newest([r.evr for r in table if r.name == bare and r.arch == arch])
            continue
        mine = [r.evr for r in table if r.name == bare and (r.arch in PLAIN_ARCHS
                                                             or r.arch == native)]
        other = [r.evr for r in table if r.name == bare]
        found[name] = newest(mine or other)
    return found


def _triple(evr: str) -> tuple[int, str, str]:
    epoch, version, release = parse_evr(evr)
    return epoch or 0, version, release


def _action(old: str, new: str) -> str:
    if not old:
        return "install"
    order = compare_evr(_triple(new), _triple(old))
    return "upgrade" if order > 0 else "downgrade" if order < 0 else "reinstall"


def changes_from(rows: Iterable[tuple[str, str, str, str]], before: dict[str, str],
                 pins: dict[str, str], native: str) -> tuple[PackageChange, ...]:
    """Change set from ``(action, name, arch, new version)`` rows and the installed
    versions ``before`` (by deployment name)."""
    changes: dict[str, PackageChange] = {}
    for action, name, arch, version in rows:
        k = key(name, arch, native)
        old = before.get(k, "")
        if action == "remove":
            changes[k] = PackageChange(k, old or version, "", "remove", k in pins)
        else:
            changes[k] = PackageChange(k, old, version, _action(old, version), k in pins)
    return tuple(changes.values())


def parse_dnf_transaction(text: str) -> list[tuple[str, str, str, str]]:
    """``(action, name, arch, version)`` of every row of dnf's transaction table.

    Raises:
        ParseError: a row that cannot be read, or an unsafe name/arch/version.
    """
    rows: list[tuple[str, str, str, str]] = []
    action = ""
    pending = ""  # a name whose row continues on the next line
    for line in text.splitlines():
        if not line.strip() or line.startswith("="):
            continue
        if not line.startswith(" "):
            if line.startswith("Transaction Summary"):
                break
            header = line.rstrip()
            action = next((a for prefix, a in _SECTIONS
                           if header.endswith(":") and header.startswith(prefix)), "")
            pending = ""
            continue
        if not action or line.lstrip().startswith("replacing "):
            continue
        tokens = line.split()
        if pending:
            tokens, pending = [pending, *tokens], ""
        if len(tokens) == 1:
            pending = tokens[0]
            continue
        if len(tokens) < 4:
            raise ParseError(f"dnf transaction: unreadable row {line.strip()!r}")
        name, arch, version = tokens[0], tokens[1], _normal_evr(tokens[2])
        _safe("dnf transaction", name, arch, version)
        rows.append((action, name, arch, version))
    return rows


def parse_zypper_summary(text: str) -> list[tuple[str, str, str, str]]:
    """``(action, name, arch, version)`` of every package in zypper's install summary
    (``--xmlout install --dry-run``); patches and other kinds are left out.

    Raises:
        ParseError: a DTD, malformed XML, an error message, an unsafe value.
    """
    if _DTD.search(text):
        raise ParseError("zypper XML: DTD or entity declarations are refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs/entities refused above
    except ET.ParseError as exc:
        raise ParseError(f"zypper XML: not well-formed ({exc})") from None
    for message in root.iter("message"):
        if message.get("type") == "error":
            raise ParseError(f"zypper reported an error: {(message.text or '').strip()}")
    rows: list[tuple[str, str, str, str]] = []
    for summary in root.iter("install-summary"):
        for group in summary:
            action = _ZYPPER_LISTS.get(group.tag)
            if action is None:
                continue
            for s in group.iter("solvable"):
                if s.get("type", "package") != "package":
                    continue
                name, arch = s.get("name", ""), s.get("arch", "")
                version = _normal_evr(s.get("edition", ""))
                _safe("zypper summary", name, arch, version)
                rows.append((action, name, arch, version))
    return rows
