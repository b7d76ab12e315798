"""Pure parsers for third-party Windows package managers: Chocolatey and winget.

Untrusted input, as everywhere: package ids and versions are checked against strict
patterns (they go into a later ``choco upgrade NAME --version X`` / ``winget install --id``
as script parameters, never into script text), lines that are not data are counted and
reported, never guessed at.

* Chocolatey: ``choco outdated -r`` prints ``name|current|available|pinned`` per package
  (chocolatey/docs outdated.mdx); real machines add lines around the data even with
  ``-r`` — "Outdated Packages", " Output is package name | ...", a summary, "Warnings:",
  compatibility WARNING blocks (chocolatey/choco#1260, #2675, #457). ``choco list -r``
  (``list -lo -r`` before 2.0) prints ``name|version``. Chocolatey is not localized.
* winget: its table output is localized, truncates names and ids with "…" (U+2026; read
  in the wrong code page it arrives as "ΓÇª", winget-cli#4514) and is preceded by
  progress spinners. We never read its words: the installed ids and versions come from
  ``winget export --include-versions`` (JSON, MicrosoftDocs export.md), or from the
  Microsoft.WinGet.Client module's objects; the ``winget upgrade`` table is only searched
  for rows holding a KNOWN id (or a unique truncated prefix of one), and the tokens after
  it are taken as installed version, available version and source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.drivers.parsers._common import ParseError, truncate

__all__ = ["AppUpgrade", "ChocoOutdated", "parse_choco_list", "parse_choco_outdated",
           "parse_winget_export", "parse_winget_module", "parse_winget_upgrade",
           "valid_app_id", "valid_version"]

#: A Chocolatey package id (NuGet id rules) or a winget PackageIdentifier
#: ("Microsoft.VCRedist.2015+.x64", "Notepad++.Notepad++",
#: "IDMComputerSolutions,Inc.UltraEdit"): no spaces, no quotes, no shell characters.
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+,\-]{0,127}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_\-]{0,63}$")
_ELLIPSES = ("\u2026", "\u0393\u00c7\u00aa")  # "…" and its CP437 mojibake "ΓÇª"
_SPINNER = re.compile(r"^[\s\\|/\-\u2580-\u259f\u2588\u2592]*$")


def valid_app_id(name: str) -> bool:
    """Whether ``name`` may be a Chocolatey or winget package id."""
    return bool(_APP_ID.match(name))


def valid_version(version: str) -> bool:
    """Whether ``version`` may be a package version (digits first or a letter, no
    spaces)."""
    return bool(_VERSION.match(version)) and any(c.isdigit() for c in version)


@dataclass(frozen=True, slots=True)
class AppUpgrade:
    """One third-party package with a newer version available."""

    manager: str  # "choco" | "winget"
    id: str
    installed: str  # "" unknown (winget "Unknown", "< 3.11.0")
    available: str
    pinned: bool = False
    name: str = ""
    source: str = ""  # winget's source ("winget", "msstore")


@dataclass(frozen=True, slots=True)
class ChocoOutdated:
    """What ``choco outdated -r`` said: the packages and the lines that were not data."""

    upgrades: tuple[AppUpgrade, ...]
    warnings: tuple[str, ...] = ()


def parse_choco_outdated(text: str) -> ChocoOutdated:
    """Parse ``choco outdated -r`` (``--limit-output``).

    Lines that are not ``name|current|available|pinned`` (headers, summaries, warning
    blocks) are skipped and named in ``warnings``; a line that has the four fields but
    an impossible id or version is skipped with its own warning. A package whose
    available version equals the installed one (choco lists those when a source answers
    oddly, chocolatey/choco#843) is not an upgrade.
    """
    upgrades: list[AppUpgrade] = []
    other: list[str] = []
    warnings: list[str] = []
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line:
            continue
        fields = line.split("|")
        if len(fields) != 4 or fields[3].lower() not in ("true", "false"):
            other.append(line)
            continue
        name, current, available, pinned = (f.strip() for f in fields)
        if not valid_app_id(name) or not valid_version(current) \
                or not valid_version(available):
            warnings.append(f"choco outdated: unreadable package line {truncate(line, 80)!r}")
            continue
        if current == available:
            continue
        upgrades.append(AppUpgrade("choco", name, current, available,
                                   pinned=pinned.lower() == "true"))
    if other:
        warnings.append(f"choco outdated printed {len(other)} line(s) that are not package "
                        f"data, first: {truncate(other[0], 80)!r}")
    return ChocoOutdated(tuple(upgrades), tuple(warnings))


def parse_choco_list(text: str) -> dict[str, str]:
    """Parse ``choco list -r`` (local packages): id → version; other lines skipped."""
    found: dict[str, str] = {}
    for raw in text.lstrip("\ufeff").splitlines():
        fields = raw.strip().split("|")
        if len(fields) == 2 and valid_app_id(fields[0]) and valid_version(fields[1]):
            found[fields[0]] = fields[1]
    return found


def parse_winget_export(text: str) -> dict[str, str]:
    """Parse a ``winget export --include-versions`` file: PackageIdentifier → Version
    ("" when the export has no version for it).

    Raises:
        ParseError: not JSON, or no ``Sources`` list.
    """
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ParseError(f"winget export: not JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Sources"), list):
        raise ParseError("winget export: no Sources list")
    found: dict[str, str] = {}
    for source in doc["Sources"]:
        if not isinstance(source, dict):
            continue
        for pkg in source.get("Packages") or []:
            if not isinstance(pkg, dict):
                continue
            ident = pkg.get("PackageIdentifier")
            version = pkg.get("Version")
            if isinstance(ident, str) and valid_app_id(ident):
                found[ident] = version if isinstance(version, str) \
                    and valid_version(version) else ""
    return found


def parse_winget_module(items: Any) -> list[AppUpgrade]:
    """The Microsoft.WinGet.Client module's ``Get-WinGetPackage`` objects (as our worker
    serialises them: Id, Name, InstalledVersion, AvailableVersions, IsUpdateAvailable,
    Source) → the packages with an update."""
    found: list[AppUpgrade] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("IsUpdateAvailable") is not True:
            continue
        ident = item.get("Id")
        versions = item.get("AvailableVersions")
        available = versions[0] if isinstance(versions, list) and versions else None
        installed = item.get("InstalledVersion")
        if not (isinstance(ident, str) and valid_app_id(ident) and isinstance(available, str)
                and valid_version(available)):
            continue
        name = item.get("Name")
        source = item.get("Source")
        found.append(AppUpgrade(
            "winget", ident, installed if isinstance(installed, str)
            and valid_version(installed) else "", available,
            name=truncate(name, 120) if isinstance(name, str) else "",
            source=source if isinstance(source, str) and valid_app_id(source) else ""))
    return found


def _resolve(token: str, known: dict[str, str]) -> str | None:
    """A known id for a table token: equal (case-insensitive), or the unique id a
    truncated token ("Microsoft.VCRedist.2015+.x…") is a prefix of."""
    lower = {k.lower(): k for k in known}
    if token.lower() in lower:
        return lower[token.lower()]
    for ellipsis in _ELLIPSES:
        if token.endswith(ellipsis):
            stem = token[: -len(ellipsis)].lower()
            matches = [k for low, k in lower.items() if low.startswith(stem)]
            return matches[0] if len(matches) == 1 else None
    return None


def parse_winget_upgrade(text: str, known: dict[str, str]) -> tuple[list[AppUpgrade], list[str]]:
    """Find the upgrades in ``winget upgrade`` table output without reading its words.

    ``known`` is id → installed version from the export. A row counts when one of its
    whitespace-separated tokens is a known id (or a unique truncated prefix of one) and
    the tokens after it are ``[<] installed available [source]`` with ``available`` a
    version. Everything else — localized headers, the dash line, "N upgrades available.",
    spinners, the second "explicit targeting" table's header — is not data. Returns the
    upgrades and warnings (ambiguous truncated ids, rows that looked like data but were
    not readable).
    """
    found: dict[str, AppUpgrade] = {}
    warnings: list[str] = []
    for raw in text.lstrip("\ufeff").replace("\r\n", "\n").split("\n"):
        line = raw.rsplit("\r", 1)[-1]  # a spinner redraws the line with \r
        if not line.strip() or _SPINNER.match(line) or set(line.strip()) == {"-"}:
            continue
        tokens = line.split()
        for index, token in enumerate(tokens):
            ident = _resolve(token, known)
            if ident is None:
                if any(token.endswith(e) for e in _ELLIPSES) and index > 0 \
                        and len(tokens) - index in (3, 4, 5):
                    warnings.append(f"winget: truncated id {truncate(token, 60)!r} matches "
                                    "no single installed package; skipped")
                continue
            rest = tokens[index + 1:]
            if rest and rest[0] in ("<", ">"):
                rest = rest[1:]
                installed = ""  # "< 3.11.0": winget only knows a range
            else:
                installed = rest[0] if rest and valid_version(rest[0]) else ""
            if len(rest) < 2 or not valid_version(rest[1]):
                continue  # "Unknown" handled below; anything else is not an upgrade row
            available = rest[1]
            source = rest[2] if len(rest) > 2 and valid_app_id(rest[2]) else ""
            name = " ".join(tokens[:index])
            found[ident] = AppUpgrade("winget", ident, known.get(ident) or installed,
                                      available, name=truncate(name, 120), source=source)
            break
    return list(found.values()), warnings
