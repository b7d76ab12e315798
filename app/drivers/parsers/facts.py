"""Parsers for Linux inventory facts: meminfo, df, ip -j addr, cpuinfo, uptime, who, DMI."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from app.drivers.parsers._common import ParseError, numbered_lines

# Sources for what to read: tech-notes §4.1 (Ansible facts, Vuls), §3.1 (boot_id).

# --------------------------------------------------------------------------- /proc/meminfo
_MEMINFO = re.compile(r"(?P<key>[A-Za-z0-9_()]+):\s+(?P<value>\d+)(?: (?P<unit>kB))?")


@dataclass(frozen=True)
class MemInfo:
    """Memory totals in bytes (MemAvailable is absent on kernels before 3.14)."""

    total: int
    available: int | None


def parse_meminfo(text: str) -> MemInfo:
    """Parse ``/proc/meminfo``.

    Raises:
        ParseError: on a malformed line or a missing MemTotal.
    """
    values: dict[str, int] = {}
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        m = _MEMINFO.fullmatch(line.strip())
        if m is None:
            raise ParseError("meminfo: unexpected line", line, lineno)
        values[m["key"]] = int(m["value"]) * (1024 if m["unit"] else 1)
    if "MemTotal" not in values:
        raise ParseError("meminfo: no MemTotal line")
    return MemInfo(values["MemTotal"], values.get("MemAvailable"))


# --------------------------------------------------------------------------- df -P
# POSIX output format (df -P): "Filesystem <N>-blocks Used Available Capacity Mounted on";
# with -B1 the block size is 1 so the numbers are bytes. [U] tech-notes §4.1.
_DF_HEADER = re.compile(
    r"Filesystem\s+(?P<bs>\d+)-blocks\s+Used\s+Available\s+Capacity\s+Mounted on"
)
_DF_ROW = re.compile(
    r"(?P<device>\S.*?)\s+(?P<size>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+"
    r"(?P<cap>\d+%|-)\s+(?P<mount>/.*)"
)


@dataclass(frozen=True)
class Filesystem:
    """One df row, sizes in bytes."""

    device: str
    size: int
    used: int
    available: int
    capacity_percent: int | None
    mount: str


def parse_df(text: str) -> tuple[Filesystem, ...]:
    """Parse ``LANG=C df -P -B1`` (or ``df -P -k``; the header's block size is applied).

    Raises:
        ParseError: without the POSIX header, or on a row with non-numeric sizes.
    """
    lines = [(n, ln) for n, ln in numbered_lines(text) if ln.strip()]
    if not lines or not (h := _DF_HEADER.fullmatch(lines[0][1].strip())):
        raise ParseError("df: missing POSIX header (run df -P)", lines[0][1] if lines else None)
    block = int(h["bs"])
    out: dict[str, Filesystem] = {}
    for lineno, line in lines[1:]:
        if header := _DF_HEADER.fullmatch(line.strip()):
            block = int(header["bs"])  # a second df's table (the script's fallback)
            continue
        # Read from the right: the device may hold spaces ("//nas/My Share"), the mount
        # point too, and the mount point starts with "/".
        m = _DF_ROW.fullmatch(line)
        if m is None:
            raise ParseError("df: unreadable row", line, lineno)
        cap = m["cap"]
        out.setdefault(m["mount"], Filesystem(
            m["device"],
            int(m["size"]) * block,
            int(m["used"]) * block,
            int(m["avail"]) * block,
            None if cap == "-" else int(cap[:-1]),
            m["mount"],
        ))
    return tuple(out.values())


# --------------------------------------------------------------------------- ip -j addr


@dataclass(frozen=True)
class IpAddress:
    """One address of an interface."""

    family: str
    address: str
    prefixlen: int
    scope: str | None


@dataclass(frozen=True)
class Interface:
    """One network interface from ``ip -j addr``.

    Attributes:
        name: interface name.
        mac: link-layer address (None for interfaces without one).
        link_type: ``ether``, ``loopback``, ...
        operstate: ``UP``, ``DOWN``, ``UNKNOWN``...
        addresses: the inet/inet6 addresses.
    """

    name: str
    mac: str | None
    link_type: str | None
    operstate: str | None
    addresses: tuple[IpAddress, ...]


def _req(obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise ParseError(
            f"ip -j addr: {what} has no {kind.__name__} {key!r}", json.dumps(obj)[:120]
        )
    return value


def parse_ip_addr_json(text: str) -> tuple[Interface, ...]:
    """Parse ``ip -j addr`` (iproute2 JSON output).

    Raises:
        ParseError: on invalid JSON or objects without the expected keys/types.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"ip -j addr: invalid JSON ({exc.msg})", text[:120]) from None
    if not isinstance(data, list):
        raise ParseError("ip -j addr: expected a JSON list")
    out: list[Interface] = []
    for obj in data:
        if not isinstance(obj, dict):
            raise ParseError("ip -j addr: list item is not an object")
        name = _req(obj, "ifname", str, "interface")
        addrs: list[IpAddress] = []
        for a in obj.get("addr_info", []):
            if not isinstance(a, dict):
                raise ParseError("ip -j addr: addr_info item is not an object")
            if "local" not in a:  # iproute2 emits {} placeholders for some entries
                continue
            addrs.append(
                IpAddress(
                    _req(a, "family", str, name),
                    _req(a, "local", str, name),
                    _req(a, "prefixlen", int, name),
                    a.get("scope"),
                )
            )
        mac = obj.get("address")
        link_type = obj.get("link_type")
        out.append(
            Interface(
                name,
                mac if isinstance(mac, str) and link_type != "loopback" else None,
                link_type if isinstance(link_type, str) else None,
                obj.get("operstate"),
                tuple(addrs),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- cpuinfo / uptime


@dataclass(frozen=True)
class CpuInfo:
    """CPU model (first one listed) and logical CPU count."""

    model: str | None
    count: int


_CPU_MODEL_KEYS = ("model name", "Model", "Hardware", "cpu")  # x86, ARM/RPi, ARM, POWER


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse ``/proc/cpuinfo``: the model name and the number of ``processor`` entries.

    Raises:
        ParseError: on lines that are not ``key : value``, or no processor entry.
    """
    count = 0
    found: dict[str, str] = {}
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ParseError("cpuinfo: not a 'key : value' line", line, lineno)
        key = key.strip()
        if key == "processor":
            count += 1
        found.setdefault(key, value.strip())
    if count == 0:
        raise ParseError("cpuinfo: no 'processor' entries")
    model = next((found[k] for k in _CPU_MODEL_KEYS if found.get(k)), None)
    return CpuInfo(model, count)


def parse_uptime(text: str) -> float:
    """Parse ``/proc/uptime`` and return the seconds since boot.

    Raises:
        ParseError: unless the text is two non-negative numbers.
    """
    parts = text.split()
    try:
        if len(parts) != 2:
            raise ValueError
        up = float(parts[0])
        float(parts[1])
    except ValueError:
        raise ParseError("uptime: expected two numbers", text) from None
    if up < 0:
        raise ParseError("uptime: negative", text)
    return up


def parse_boot_id(text: str) -> str:
    """Parse ``/proc/sys/kernel/random/boot_id`` (a UUID; changes on every boot).

    Raises:
        ParseError: unless the text is one UUID.
    """
    value = text.strip()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ParseError("boot_id: not a UUID", value) from None


# --------------------------------------------------------------------------- logged-in users
# coreutils who: with LC_TIME=C the time is "%Y-%m-%d %H:%M" (who.c, time_string), then
# an optional "(host or display)" comment.
_WHO = re.compile(
    r"(?P<user>\S+)\s+(?P<line>\S+)\s+(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d)"
    r"(?:\s+\((?P<host>[^)]*)\))?"
)


@dataclass(frozen=True)
class Login:
    """A logged-in session.

    Attributes:
        user: user name.
        tty: terminal/line (``pts/0``, ``tty2``, ``seat0``) or None.
        since: login time as printed (``YYYY-MM-DD HH:MM``), or None.
        host: remote host or display from who's comment, or None.
    """

    user: str
    tty: str | None
    since: str | None
    host: str | None


def parse_who(text: str) -> tuple[Login, ...]:
    """Parse ``LANG=C who``.

    Raises:
        ParseError: on a line not in who's default format.
    """
    out: list[Login] = []
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        m = _WHO.fullmatch(line.strip())
        if m is None:
            raise ParseError("who: unexpected line", line, lineno)
        out.append(Login(m["user"], m["line"], m["time"], m["host"] or None))
    return tuple(out)


# --------------------------------------------------------------------------- DMI
# /sys/devices/virtual/dmi/id/{sys_vendor,product_name,product_serial} (tech-notes §4.1;
# product_serial is root-only, mode 0400). Firmware vendors leave template strings in
# these fields; such placeholders mean "unknown". [U] list assembled from values commonly
# seen in the field (AMI "To Be Filled By O.E.M.", ASUS "System Product Name", ...).
DMI_PLACEHOLDERS = frozenset(
    {
        "to be filled by o.e.m.",
        "to be filled by oem",
        "default string",
        "not specified",
        "not applicable",
        "none",
        "n/a",
        "na",
        "unknown",
        "system product name",
        "system manufacturer",
        "system serial number",
        "system version",
        "0123456789",
        "123456789",
        "o.e.m.",
        "oem",
        "invalid",
        "type1productconfigid",
        "chassis serial number",
        "base board serial number",
        "serial",
        "xxxxxxxxxxxx",
        "0",
        "00000000",
    }
)


def clean_dmi_value(raw: str | None) -> str | None:
    """Return a DMI string, or None when it is missing, blank or a placeholder.

    Args:
        raw: the file's contents (None when unreadable/absent).

    Returns:
        The stripped value, or None.
    """
    if raw is None:
        return None
    value = raw.strip().strip("\x00").strip()
    if not value or value.lower() in DMI_PLACEHOLDERS or set(value) <= {"0", " ", "-", "F", "f"}:
        return None
    return value


@dataclass(frozen=True)
class DmiInfo:
    """Manufacturer, model and serial number (each None when unknown)."""

    vendor: str | None
    product: str | None
    serial: str | None


def parse_dmi(
    sys_vendor: str | None, product_name: str | None, product_serial: str | None
) -> DmiInfo:
    """Build DmiInfo from the three sysfs files' contents (None for unreadable files)."""
    return DmiInfo(
        clean_dmi_value(sys_vendor), clean_dmi_value(product_name), clean_dmi_value(product_serial)
    )
