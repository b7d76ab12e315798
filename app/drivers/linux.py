"""Facts and reboot signals shared by every Linux driver, gathered in one SSH round trip."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

from app.drivers.base import Disk, DriverError, HostFacts, Interface, Transport
from app.drivers.parsers import ParseError
from app.drivers.parsers import facts as pf
from app.drivers.parsers.osrelease import OsRelease, parse_os_release
from app.drivers.parsers.reboot import (
    RebootSignal,
    parse_needrestart_batch,
    signal_from_needrestart,
    signal_from_reboot_required,
)

T = TypeVar("T")
ABSENT = "@@pd-absent@@"
_SECTION = re.compile(r"^@@pd:([a-z0-9_-]+)@@$", re.MULTILINE)
#: Filesystems worth reporting (real disks), by mount point prefix to skip.
_SKIP_MOUNTS = ("/proc", "/sys", "/dev", "/run")


def facts_script() -> str:
    """The shell script that prints every fact section (package data, no parameters)."""
    return resources.files("app.drivers").joinpath("scripts/linux_facts.sh").read_text(
        encoding="utf-8")


def split_sections(text: str) -> dict[str, str | None]:
    """Section name → its text (None where the script printed the absent marker).

    Raises:
        ParseError: the output lacks the end marker (cut short) or has no sections.
    """
    parts = _SECTION.split(text)
    if len(parts) < 3 or "end" not in parts[1::2]:
        raise ParseError("the facts script's output is incomplete (no end marker)")
    sections: dict[str, str | None] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.strip("\n")
        sections[name] = None if body.strip() == ABSENT else body
    return sections


def gather(transport: Transport, *, sudo: bool = True) -> tuple[dict[str, str | None], str]:
    """Run the facts script; returns its sections and the raw output.

    Raises:
        DriverError: the script failed or its output is not understood.
    """
    result = transport.run(["sh", "-c", facts_script()], sudo=sudo, timeout=60)
    try:
        return split_sections(result.stdout), result.stdout
    except ParseError as exc:
        raise DriverError(transport.host, "facts_failed",
                          f"could not read the host's facts ({exc}; exit {result.exit_code}: "
                          f"{result.stderr.strip()[:200]})") from None


def os_release(sections: dict[str, str | None], host: str) -> OsRelease:
    """The parsed os-release section.

    Raises:
        DriverError: kind ``unknown_os`` when there is none.
    """
    text = sections.get("os-release")
    if not text:
        raise DriverError(host, "unknown_os", "no /etc/os-release: not a supported Linux")
    try:
        return parse_os_release(text)
    except ParseError as exc:
        raise DriverError(host, "unknown_os", f"unreadable /etc/os-release ({exc})") from None


def host_facts(sections: dict[str, str | None],
               warnings: list[str] | None = None) -> HostFacts:
    """Build :class:`HostFacts` from the sections (missing pieces stay empty).

    A section the host gave but this parser could not read stays empty too, and says so
    in ``warnings`` (when given): the assessment carries it rather than hiding it.
    """
    release = parse_os_release(sections["os-release"] or "")
    sink = warnings
    mem = _try(pf.parse_meminfo, sections.get("meminfo"), "meminfo", sink)
    cpu = _try(pf.parse_cpuinfo, sections.get("cpuinfo"), "cpuinfo", sink)
    disks = _try(pf.parse_df, sections.get("df"), "df", sink) or ()
    ifaces = _try(pf.parse_ip_addr_json, sections.get("ip-addr"), "ip -j addr", sink) or ()
    who = _try(pf.parse_who, sections.get("who"), "who", sink) or ()
    dmi = pf.parse_dmi(sections.get("dmi-sys_vendor"), sections.get("dmi-product_name"),
                       sections.get("dmi-product_serial"))
    uptime = _try(pf.parse_uptime, sections.get("uptime"), "uptime", sink)
    boot_id = _try(pf.parse_boot_id, sections.get("boot-id"), "boot_id", sink) or ""
    return HostFacts(
        os_id=release.id,
        os_name=release.name,
        os_version=release.version_id or "",
        os_codename=release.version_codename or "",
        os_pretty=release.pretty_name,
        kernel=(sections.get("kernel") or "").strip(),
        arch=(sections.get("arch") or "").strip(),
        hostname=(sections.get("hostname") or "").strip(),
        uptime_seconds=uptime,
        boot_id=boot_id,
        cpu_model=(cpu.model or "") if cpu else "",
        cpu_count=cpu.count if cpu else None,
        memory_total=mem.total if mem else None,
        memory_available=mem.available if mem else None,
        disks=tuple(Disk(d.mount, d.size, d.available, d.device) for d in disks
                    if not d.mount.startswith(_SKIP_MOUNTS)),
        interfaces=tuple(
            Interface(i.name, i.mac, tuple(f"{a.address}/{a.prefixlen}" for a in i.addresses))
            for i in ifaces if i.link_type != "loopback"),
        manufacturer=dmi.vendor or "",
        model=dmi.product or "",
        serial=dmi.serial or "",
        logged_in_users=tuple(dict.fromkeys(login.user for login in who)),
    )


def reboot_signals(sections: dict[str, str | None], *,
                   absent_file_counts: bool = True) -> list[RebootSignal]:
    """Signals every Linux host can give: reboot-required files and needrestart.

    Args:
        sections: the facts script's sections.
        absent_file_counts: whether a missing /var/run/reboot-required is a (weak) "no".
            Only Debian-family tools write that file; on RPM hosts its absence says
            nothing, so the dnf and zypper drivers pass False (a present file still counts).
    """
    signals = []
    required = signal_from_reboot_required(sections.get("reboot-required"),
                                           sections.get("reboot-required-pkgs"))
    if required.required or absent_file_counts:
        signals.append(required)
    nr = sections.get("needrestart")
    if nr:
        batch = _try(parse_needrestart_batch, nr)
        if batch is not None:
            signals.append(signal_from_needrestart(batch))
    return signals


class LinuxFacts:
    """Facts of any Linux host from one facts-script run; the sections are kept so the
    family's reboot capability can reuse them without a second round trip."""

    def __init__(self, sections: dict[str, str | None] | None = None) -> None:
        self._sections: dict[str, str | None] = dict(sections or {})

    @property
    def sections(self) -> dict[str, str | None]:
        """The facts script's output sections from the last run."""
        return self._sections

    def ensure(self, transport: Transport) -> dict[str, str | None]:
        """The sections, running the facts script first if it has not run yet."""
        if not self._sections:
            self._sections, _raw = gather(transport)
        return self._sections

    def facts(self, transport: Transport) -> HostFacts:
        """Run the facts script (as root where the credential allows)."""
        self._sections, _raw = gather(transport)
        return host_facts(self._sections)

    @property
    def running_kernel(self) -> str:
        """``uname -r`` from the last run ("" when unknown)."""
        return (self._sections.get("kernel") or "").strip()


def _try(parse: Callable[[str], T], text: str | None, what: str = "",
         warnings: list[str] | None = None) -> T | None:
    """Parse an optional section; a section the host could not give is just missing, one
    it gave but that could not be read is missing with a warning."""
    if not text or not text.strip() or text.strip() == "@@pd-absent@@":
        return None
    try:
        return parse(text)
    except ParseError as exc:
        if warnings is not None:
            warnings.append(f"facts: {what} output was not understood: {exc}")
        return None
