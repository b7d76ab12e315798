"""Parsers for zypper: --xmlout list-updates/list-patches, the table fallback, exit codes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # input is screened by _refuse_dtd first
from dataclasses import dataclass

from app.drivers.parsers._common import ParseError, numbered_lines

# Exit codes from zypper's src/main.h / Zypper.h (ZYPPER_EXIT_*), tech-notes §1.3: below
# 100 are errors, 100 and above are information, 0 is a normal run. 104-107 as named in
# zypper's source and handled by openQA/kiwi (104 CAP_NOT_FOUND, 105 ON_SIGNAL,
# 106 REPOS_SKIPPED, 107 RPM_SCRIPT_FAILED).
EXIT_CODES: dict[int, tuple[str, str]] = {
    0: ("OK", "normal successful run"),
    1: ("ERR_BUG", "unexpected situation (a bug)"),
    2: ("ERR_SYNTAX", "wrong command syntax"),
    3: ("ERR_INVALID_ARGS", "invalid arguments"),
    4: ("ERR_ZYPP", "libzypp reported an error"),
    5: ("ERR_PRIVILEGES", "insufficient privileges"),
    6: ("NO_REPOS", "no repositories defined"),
    7: ("ZYPP_LOCKED", "the package manager is locked by another process"),
    8: ("ERR_COMMIT", "error during installation or removal"),
    100: ("INF_UPDATE_NEEDED", "updates are available"),
    101: ("INF_SEC_UPDATE_NEEDED", "security updates are available"),
    102: ("INF_REBOOT_NEEDED", "a reboot is needed"),
    103: ("INF_RESTART_NEEDED", "zypper updated itself; run it again"),
    104: ("INF_CAP_NOT_FOUND", "a requested package/capability was not found"),
    105: ("ON_SIGNAL", "zypper was interrupted by SIGINT/SIGTERM"),
    106: ("INF_REPOS_SKIPPED", "some repositories were skipped (refresh failed)"),
    107: ("INF_RPM_SCRIPT_FAILED", "an rpm scriptlet failed; the transaction completed"),
}


def exit_code_meaning(code: int) -> tuple[str, str]:
    """Return ``(ZYPPER_EXIT_ name suffix, description)`` for a zypper exit code.

    Raises:
        ParseError: for a code zypper does not define.
    """
    try:
        return EXIT_CODES[code]
    except KeyError:
        raise ParseError(f"zypper: unknown exit code {code}") from None


def needs_rebooting(exit_code: int) -> bool:
    """Interpret ``zypper needs-rebooting``: 102 = reboot needed, 0 = not (zypper >= 1.14.15).

    Raises:
        ParseError: for any other exit code (e.g. 2 on a zypper without the command).
    """
    if exit_code == 102:
        return True
    if exit_code == 0:
        return False
    meaning = EXIT_CODES.get(exit_code, ("?", "unknown exit code"))[1]
    raise ParseError(f"zypper needs-rebooting exited {exit_code} ({meaning})")


# --------------------------------------------------------------------------- XML
#
# `zypper --xmlout list-updates` / `list-patches` print
#   <stream><message .../>*<update-status version="0.6"><update-list><update .../>...
# (zypper src/update.cc list_updates / xml_print_patch). The XML comes from a managed
# host: refuse DTDs and entities outright (no billion-laughs, no external entities)
# instead of trusting the parser's defaults.
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class ZypperUpdate:
    """One ``<update>`` element.

    Attributes:
        kind: ``package`` or ``patch`` (also ``pattern``, ``product``).
        name: package or patch name (``openSUSE-Leap-16.0-112``).
        edition: new version (packages) or patch edition.
        edition_old: installed version (packages), else None.
        arch: architecture.
        status: patch status (``needed``, ``applied``, ``not-needed``), None for packages.
        category: patch category (``security``, ``recommended``, ...), else None.
        severity: patch severity (``critical``, ``important``, ``moderate``, ``low``,
            ``unspecified``), else None.
        restart: patch requires a reboot (``restart="true"``).
        pkgmanager: patch updates the package manager itself (install it first).
        interactive: patch needs interaction (licence, message).
        summary: one-line summary, or None.
        repo: the source repository alias, or None.
        issues: ``(type, id)`` pairs from ``<issue-list>`` (``("cve", "CVE-2025-11234")``).
        blocked: listed under ``<blocked-update-list>`` (not installable now).
    """

    kind: str
    name: str
    edition: str
    edition_old: str | None
    arch: str
    status: str | None
    category: str | None
    severity: str | None
    restart: bool
    pkgmanager: bool
    interactive: bool
    summary: str | None
    repo: str | None
    issues: tuple[tuple[str, str], ...]
    blocked: bool = False

    @property
    def cves(self) -> tuple[str, ...]:
        """The CVE ids among ``issues``."""
        return tuple(i for t, i in self.issues if t == "cve")


def _refuse_dtd(text: str) -> None:
    if _DTD.search(text):
        raise ParseError("zypper XML: refusing a document with a DTD or entity declaration")


def _flag(el: ET.Element, name: str) -> bool:
    value = el.get(name, "false")
    if value not in ("true", "false"):
        raise ParseError(f"zypper XML: {name}={value!r} is not true/false")
    return value == "true"


def _update(el: ET.Element, blocked: bool) -> ZypperUpdate:
    for attr in ("kind", "name", "edition", "arch"):
        if not el.get(attr):
            shown = ET.tostring(el, "unicode")[:120]
            raise ParseError(f"zypper XML: <update> without {attr}=", shown)
    source = el.find("source")
    summary = el.findtext("summary")
    issues = tuple(
        (str(i.get("type", "")), str(i.get("id", ""))) for i in el.findall("issue-list/issue")
    )
    return ZypperUpdate(
        kind=str(el.get("kind")),
        name=str(el.get("name")),
        edition=str(el.get("edition")),
        edition_old=el.get("edition-old"),
        arch=str(el.get("arch")),
        status=el.get("status"),
        category=el.get("category"),
        severity=el.get("severity"),
        restart=_flag(el, "restart"),
        pkgmanager=_flag(el, "pkgmanager"),
        interactive=_flag(el, "interactive"),
        summary=summary.strip() if summary else None,
        repo=source.get("alias") if source is not None else None,
        issues=issues,
        blocked=blocked,
    )


def parse_zypper_xml(text: str) -> tuple[ZypperUpdate, ...]:
    """Parse ``zypper --xmlout list-updates`` or ``list-patches`` output.

    Args:
        text: stdout (one ``<stream>`` document).

    Returns:
        Every ``<update>``, blocked ones flagged.

    Raises:
        ParseError: on a DTD/entity declaration, malformed XML, a root other than
            ``<stream>``, an error ``<message>``, an unknown element, or when the number
            of ``<update`` tags in the text differs from the elements parsed.
    """
    _refuse_dtd(text)
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs/entities refused above
    except ET.ParseError as exc:
        raise ParseError(f"zypper XML: not well-formed ({exc})") from None
    if root.tag != "stream":
        raise ParseError(f"zypper XML: root element is <{root.tag}>, expected <stream>")
    updates: list[ZypperUpdate] = []
    for child in root:
        if child.tag == "message":
            if child.get("type") == "error":
                raise ParseError(f"zypper reported an error: {(child.text or '').strip()}")
            continue
        if child.tag != "update-status":
            raise ParseError(f"zypper XML: unexpected element <{child.tag}>")
        for lst in child:
            if lst.tag not in ("update-list", "blocked-update-list"):
                raise ParseError(f"zypper XML: unexpected element <{lst.tag}> in <update-status>")
            for el in lst:
                if el.tag != "update":
                    raise ParseError(f"zypper XML: unexpected element <{el.tag}> in <{lst.tag}>")
                updates.append(_update(el, lst.tag == "blocked-update-list"))
    tags = len(re.findall(r"<update\s", text))
    if tags != len(updates):
        raise ParseError(f"zypper XML: {tags} <update> tags in the text but {len(updates)} parsed")
    return tuple(updates)


# --------------------------------------------------------------------------- patch info
#
# `zypper -n --no-refresh info -t patch ID...` (C locale) prints, per patch, a block
# "Information for patch ID:" with "Key : value" lines; the packages a patch updates are
# its Conflicts: "pd-tools < 2.1-1.pdlab" inline for one, or "Conflicts   : [2]" followed
# by that many indented "name.arch < edition" lines (real zypper 1.14, lab capture
# tests/data/zypper/lab-opensuse-leap-15.5/info-patch.txt). An arch-specific package
# appears as name.arch plus name.noarch; a noarch one without an arch. Unknown ids give
# "patch 'X' not found." and exit 0. Description lines are indented, keys are not.
_INFO_HEADER = re.compile(r"Information for patch (?P<id>\S+):")
_INFO_CONFLICTS = re.compile(r"Conflicts\s*: (?:\[(?P<count>\d+)\]|(?P<one>.+))")
_INFO_TARGET = re.compile(r"(?P<name>[A-Za-z0-9_.+-]+) < (?P<edition>[A-Za-z0-9_.+~^:-]+)",
                          re.ASCII)
#: Architecture suffixes zypper appends to a conflict's name.
RPM_ARCHES = frozenset({
    "noarch", "x86_64", "i386", "i486", "i586", "i686", "aarch64", "armv7hl", "armv6hl",
    "ppc64le", "ppc64", "s390x", "riscv64", "x86_64_v2", "x86_64_v3", "x86_64_v4",
})


@dataclass(frozen=True)
class PatchTarget:
    """A package a patch updates: ``name`` older than ``edition`` (any arch if None)."""

    name: str
    arch: str | None
    edition: str


def _target(text: str) -> PatchTarget:
    m = _INFO_TARGET.fullmatch(text.strip())
    if m is None:
        raise ParseError("zypper info: unreadable Conflicts entry", text)
    name, arch = m["name"], None
    head, dot, tail = name.rpartition(".")
    if dot and head and tail in RPM_ARCHES:
        name, arch = head, tail
    return PatchTarget(name, arch, m["edition"])


def parse_patch_info(text: str) -> dict[str, tuple[PatchTarget, ...]]:
    """Parse ``zypper info -t patch`` output: patch id → the packages it updates.

    Raises:
        ParseError: a Conflicts list shorter than announced or an unreadable entry.
    """
    found: dict[str, list[PatchTarget]] = {}
    current: list[PatchTarget] | None = None
    pending = 0
    for lineno, line in numbered_lines(text):
        if pending:
            if not line.startswith(" "):
                raise ParseError("zypper info: Conflicts list cut short", line, lineno)
            assert current is not None
            current.append(_target(line))
            pending -= 1
            continue
        if m := _INFO_HEADER.fullmatch(line.strip()):
            current = found.setdefault(m["id"], [])
            continue
        if current is None or line.startswith(" "):
            continue
        if m := _INFO_CONFLICTS.fullmatch(line.rstrip()):
            if m["count"] is not None:
                pending = int(m["count"])
            else:
                current.append(_target(m["one"]))
    if pending:
        raise ParseError("zypper info: Conflicts list cut short at the end of the output")
    return {k: tuple(v) for k, v in found.items()}
