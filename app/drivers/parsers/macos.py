"""Pure parsers for macOS command output: ``sw_vers``, ``system_profiler
SPHardwareDataType`` (text and ``-json``), ``softwareupdate --list`` (the format up to
10.14 and the one from 10.15) and ``/Library/Receipts/InstallHistory.plist``.

Everything here is remote output: untrusted, parsed strictly, and refused (ParseError)
rather than guessed when it does not look like what Apple's tools print.
"""

from __future__ import annotations

import json
import plistlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.drivers.parsers._common import ParseError, numbered_lines, truncate

_MAX_TEXT = 200


def _text(value: object) -> str:
    """One printable line of bounded length (the host's word is untrusted)."""
    return "".join(c for c in str(value) if c.isprintable())[:_MAX_TEXT].strip()


# -- sw_vers --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SwVers:
    """What ``sw_vers`` prints: "Mac OS X" up to 10.15, "macOS" from 11; a Rapid Security
    Response adds ``ProductVersionExtra`` ("(a)")."""

    product_name: str
    product_version: str
    build: str
    version_extra: str = ""

    @property
    def full_version(self) -> str:
        """"13.3.1 (a)" with a Rapid Security Response, else "13.3.1"."""
        return f"{self.product_version} {self.version_extra}".strip()

    @property
    def major(self) -> tuple[int, ...]:
        """The release family: (10, 14) up to 10.15, (13,) from 11 on."""
        return os_major(self.product_version)


_VERSION = re.compile(r"^\d+(?:\.\d+){0,3}$")
_EXTRA = re.compile(r"^\([a-z]\)$")
_BUILD = re.compile(r"^[0-9A-Za-z]{3,16}$")


def os_major(version: str) -> tuple[int, ...]:
    """The release family of a macOS version: ``(10, 14)`` for 10.14.6, ``(14,)`` for
    14.6.1; ``()`` when it is not a version."""
    if not _VERSION.match(version):
        return ()
    parts = [int(p) for p in version.split(".")]
    return (10, parts[1] if len(parts) > 1 else 0) if parts[0] == 10 else (parts[0],)


def parse_sw_vers(text: str) -> SwVers:
    """Parse ``sw_vers`` output ("Key:<tabs>value" lines).

    Raises:
        ParseError: no ProductVersion/BuildVersion, or values that are not versions.
    """
    values: dict[str, str] = {}
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip().isalpha():
            raise ParseError("not a sw_vers line", line, lineno)
        values[key.strip()] = value.strip()
    version = values.get("ProductVersion", "")
    build = values.get("BuildVersion", "")
    extra = values.get("ProductVersionExtra", "")
    if not _VERSION.match(version):
        raise ParseError(f"sw_vers gave no ProductVersion ({truncate(version)!r})")
    if not _BUILD.match(build):
        raise ParseError(f"sw_vers gave no BuildVersion ({truncate(build)!r})")
    if extra and not _EXTRA.match(extra):
        raise ParseError(f"unexpected ProductVersionExtra {truncate(extra)!r}")
    return SwVers(_text(values.get("ProductName", "macOS")) or "macOS", version, build, extra)


# -- system_profiler SPHardwareDataType -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class MacHardware:
    """The hardware overview: marketing name, model identifier, serial, chip or CPU."""

    model_name: str = ""
    model_id: str = ""
    serial: str = ""
    chip: str = ""
    memory_bytes: int | None = None
    cores: int | None = None

    @property
    def apple_silicon(self) -> bool:
        """An Apple-silicon Mac (its hardware overview names an Apple chip)."""
        return self.chip.startswith("Apple ")


_MEMORY = re.compile(r"^(\d+)\s*(MB|GB|TB)$")
_UNITS = {"MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
#: Text keys of the hardware overview (current names first, then the 10.5-10.6 ones).
_TEXT_KEYS = {
    "Model Name": "model_name", "Machine Name": "model_name",
    "Model Identifier": "model_id", "Machine Model": "model_id",
    "Serial Number (system)": "serial", "Serial Number": "serial",
    "Chip": "chip", "Processor Name": "chip",
    "Memory": "memory", "Total Number of Cores": "cores", "Total Number Of Cores": "cores",
}


def _memory(text: str) -> int | None:
    match = _MEMORY.match(text.strip())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _cores(text: str) -> int | None:
    match = re.match(r"^(\d+)", text.strip())
    return int(match.group(1)) if match else None


def parse_hardware_text(text: str) -> MacHardware:
    """Parse ``system_profiler SPHardwareDataType`` (text: the only form before 10.15).

    Raises:
        ParseError: no model identifier (not the hardware overview, or localized labels).
    """
    found: dict[str, str] = {}
    for _lineno, line in numbered_lines(text):
        key, sep, value = line.strip().partition(":")
        field = _TEXT_KEYS.get(key.strip())
        if sep and field and value.strip() and field not in found:
            found[field] = value.strip()
    if "model_id" not in found:
        raise ParseError("system_profiler printed no Model Identifier (localized or not "
                         "the hardware overview)")
    return MacHardware(_text(found.get("model_name", "")), _text(found["model_id"]),
                       _text(found.get("serial", "")), _text(found.get("chip", "")),
                       _memory(found.get("memory", "")), _cores(found.get("cores", "")))


def parse_hardware_json(text: str) -> MacHardware:
    """Parse ``system_profiler -json SPHardwareDataType`` (10.15 and later).

    Raises:
        ParseError: not JSON, or no hardware overview in it.
    """
    try:
        data = json.loads(text)
        item = data["SPHardwareDataType"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ParseError("system_profiler -json gave no SPHardwareDataType entry") from None
    if not isinstance(item, dict) or not isinstance(item.get("machine_model"), str):
        raise ParseError("the SPHardwareDataType entry has no machine_model")
    cores: int | None = None
    procs = item.get("number_processors")
    if isinstance(procs, int):
        cores = procs
    elif isinstance(procs, str):  # "proc 8:4:4": total, performance, efficiency
        match = re.match(r"^proc (\d+)", procs)
        cores = int(match.group(1)) if match else None
    return MacHardware(
        _text(item.get("machine_name", "")), _text(item["machine_model"]),
        _text(item.get("serial_number", "")),
        _text(item.get("chip_type") or item.get("cpu_type") or ""),
        _memory(str(item.get("physical_memory", ""))), cores)


def parse_hardware(text: str) -> MacHardware:
    """The JSON form when the output is JSON, the text form otherwise."""
    return parse_hardware_json(text) if text.lstrip().startswith("{") else \
        parse_hardware_text(text)


# -- softwareupdate --list ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AppleUpdate:
    """One item of ``softwareupdate --list``. ``label`` is the install key, kept exactly as
    printed (a trailing space can be part of it); ``action`` is "restart", "shut down" or
    ""."""

    label: str
    title: str
    version: str
    size_kib: int | None = None
    recommended: bool = False
    action: str = ""

    @property
    def restart(self) -> bool:
        """The update needs the Mac restarted or shut down to finish."""
        return self.action in ("restart", "shut down")

    def is_major_upgrade(self, current: str) -> bool:
        """A macOS of a newer release family than ``current`` (listed beside the updates
        from 11 on; installed only on an explicit approval)."""
        if not re.match(r"^(macOS|OS X|Mac OS X) ", self.title):
            return False
        mine, theirs = os_major(self.version), os_major(current)
        return bool(mine and theirs and mine > theirs)


NO_UPDATES = "No new software available."
_ITEM = re.compile(r"^\s*([*-]) (.*)$")
_OLD_DETAIL = re.compile(
    r"^(?P<title>.*)\((?P<version>[^()]*)\),\s*(?P<size>\d+)K,?(?P<flags>(?:\s*\[[a-z ]+\])*)"
    r"\s*$")
_NEW_SPLIT = re.compile(r",\s*(?=(?:Version|Size|Recommended|Action):\s)")
_SIZE = re.compile(r"^(\d+)(K|KiB)$")
_ACTIONS = ("restart", "shut down")


def _parse_old(label: str, detail: str, starred: bool, lineno: int) -> AppleUpdate:
    match = _OLD_DETAIL.match(detail.strip())
    if not match:
        raise ParseError("not a softwareupdate item (10.14 format)", detail, lineno)
    flags = re.findall(r"\[([a-z ]+)\]", match.group("flags"))
    action = next((f for f in flags if f in _ACTIONS), "")
    return AppleUpdate(label, _text(match.group("title").strip().rstrip(",")),
                       _text(match.group("version")), int(match.group("size")),
                       starred and "recommended" in flags, action)


def _parse_new(label: str, detail: str, starred: bool, lineno: int) -> AppleUpdate:
    fields: dict[str, str] = {}
    for part in _NEW_SPLIT.split(detail.strip()):
        key, sep, value = part.partition(": ")
        if not sep:
            raise ParseError("not a softwareupdate item (10.15 format)", detail, lineno)
        fields[key.strip()] = value.strip().rstrip(",").strip()
    if "Title" not in fields or "Version" not in fields:
        raise ParseError("a softwareupdate item without Title or Version", detail, lineno)
    size = _SIZE.match(fields.get("Size", ""))
    action = fields.get("Action", "")
    if action and action not in _ACTIONS:
        raise ParseError(f"unknown softwareupdate action {truncate(action)!r}", detail, lineno)
    return AppleUpdate(label, _text(fields["Title"]), _text(fields["Version"]),
                       int(size.group(1)) if size else None,
                       starred and fields.get("Recommended", "").upper() == "YES", action)


def parse_softwareupdate_list(text: str, exit_code: int = 0) -> tuple[list[AppleUpdate],
                                                                       list[str]]:
    """Parse ``softwareupdate --list`` (stdout and stderr together): its updates, and the
    other lines it printed (headers, stray framework warnings) as notes.

    Both formats are read: up to 10.14 ``* LABEL`` / ``TITLE (VERSION), SIZEK
    [recommended] [restart]``; from 10.15 ``* Label: LABEL`` / ``Title: T, Version: V,
    Size: NKiB, Recommended: YES, Action: restart,``. "No new software available." may
    come with exit status 1 (10.15.7): that is an empty list, not a failure.

    Raises:
        ParseError: an item without its detail line (output cut short), a detail line in
            neither format, or a failing exit status without the "no updates" message.
    """
    lines = list(numbered_lines(text))
    updates: list[AppleUpdate] = []
    notes: list[str] = []
    index = 0
    while index < len(lines):
        lineno, line = lines[index]
        index += 1
        match = _ITEM.match(line)
        if not match:
            if line.strip():
                notes.append(_text(line))
            continue
        if index >= len(lines) or _ITEM.match(lines[index][1]) or not lines[index][1].strip():
            raise ParseError("a softwareupdate item without its detail line", line, lineno)
        detail_no, detail = lines[index]
        index += 1
        starred = match.group(1) == "*"
        rest = match.group(2)
        if rest.startswith("Label: "):
            updates.append(_parse_new(rest[len("Label: "):], detail, starred, detail_no))
        else:
            updates.append(_parse_old(rest, detail, starred, detail_no))
    if exit_code != 0 and not updates and NO_UPDATES not in text:
        raise ParseError(f"softwareupdate --list failed (exit {exit_code})")
    for update in updates:
        if not update.label.strip() or any(not c.isprintable() for c in update.label):
            raise ParseError("a softwareupdate label that is empty or not printable",
                             update.label)
    return updates, notes


# -- InstallHistory.plist -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One installation recorded in /Library/Receipts/InstallHistory.plist."""

    date: datetime | None
    name: str
    version: str
    process: str
    content_type: str = ""
    packages: tuple[str, ...] = ()

    @property
    def apple_update(self) -> bool:
        """Installed by Software Update (not a package someone opened)."""
        return self.process in ("softwareupdated", "Software Update", "macOS Installer",
                                "OS X Installer")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"date": self.date.isoformat() if self.date else None, "name": self.name,
                "version": self.version, "process": self.process,
                "content_type": self.content_type}


def parse_install_history(data: bytes) -> list[HistoryEntry]:
    """Parse InstallHistory.plist (XML or binary), oldest first as the file keeps them.

    Raises:
        ParseError: not a property list, or not a list of installation records.
    """
    try:
        items = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError) as exc:
        raise ParseError(f"InstallHistory.plist is not a property list ({exc})") from None
    except Exception as exc:  # expat errors from garbage (xml.parsers.expat.ExpatError)
        raise ParseError(f"InstallHistory.plist is not a property list "
                         f"({type(exc).__name__})") from None
    if not isinstance(items, list):
        raise ParseError("InstallHistory.plist does not hold a list")
    entries: list[HistoryEntry] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("displayName"), str):
            raise ParseError("an InstallHistory record without a displayName")
        date = item.get("date")
        if isinstance(date, datetime) and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)  # plistlib gives naive UTC
        packages = item.get("packageIdentifiers", [])
        entries.append(HistoryEntry(
            date if isinstance(date, datetime) else None, _text(item["displayName"]),
            _text(item.get("displayVersion", "")), _text(item.get("processName", "")),
            _text(item.get("contentType", "")),
            tuple(_text(p) for p in packages if isinstance(p, str))
            if isinstance(packages, list) else ()))
    return entries
