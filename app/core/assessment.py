"""What a deep scan of a host finds, as plain data (filled by drivers, stored by the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.models import Classification, Severity


@dataclass(frozen=True, slots=True)
class Disk:
    """One mounted filesystem."""

    mount: str
    size_bytes: int
    free_bytes: int
    filesystem: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface."""

    name: str
    mac: str | None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What a deep scan learns about a host besides its software."""

    os_id: str = ""
    os_name: str = ""
    os_version: str = ""
    os_codename: str = ""
    os_pretty: str = ""
    kernel: str = ""
    arch: str = ""
    hostname: str = ""
    uptime_seconds: float | None = None
    boot_id: str = ""
    last_boot: datetime | None = None
    cpu_model: str = ""
    cpu_count: int | None = None
    memory_total: int | None = None
    memory_available: int | None = None
    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    logged_in_users: tuple[str, ...] = ()
    #: Platform-only details as plain JSON values (Windows: edition, build, UBR, domain,
    #: and per missing update its id, size, reboot behaviour and uninstallable flag).
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "os_id": self.os_id, "os_name": self.os_name, "os_version": self.os_version,
            "os_codename": self.os_codename, "os_pretty": self.os_pretty,
            "kernel": self.kernel, "arch": self.arch, "hostname": self.hostname,
            "uptime_seconds": self.uptime_seconds, "boot_id": self.boot_id,
            "last_boot": self.last_boot.isoformat() if self.last_boot else None,
            "cpu_model": self.cpu_model, "cpu_count": self.cpu_count,
            "memory_total": self.memory_total, "memory_available": self.memory_available,
            "disks": [{"mount": d.mount, "size_bytes": d.size_bytes,
                       "free_bytes": d.free_bytes, "filesystem": d.filesystem}
                      for d in self.disks],
            "interfaces": [{"name": i.name, "mac": i.mac, "addresses": list(i.addresses)}
                           for i in self.interfaces],
            "manufacturer": self.manufacturer, "model": self.model, "serial": self.serial,
            "logged_in_users": list(self.logged_in_users),
            **({"details": self.details} if self.details else {}),
        }


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    """One installed package."""

    name: str
    version: str
    arch: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class Update:
    """One missing update with the evidence for listing it."""

    package: str
    candidate_version: str
    installed_version: str = ""
    arch: str = ""
    classification: Classification = Classification.OTHER
    severity: Severity = Severity.UNKNOWN
    source: str = ""  # repository / suite / origin the candidate comes from
    kb: str = ""  # Windows KB article id
    cves: tuple[str, ...] = ()
    advisories: tuple[str, ...] = ()
    reboot_required: bool = False
    # Why it is classified as it is: "archive Debian-Security:12/bookworm-security",
    # "changelog names CVE-2024-1234", ...
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RebootState:
    """Whether the host needs a reboot, and every signal that said so."""

    required: bool | None  # None: no reliable signal
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LookupStats:
    """What the changelog/CVE lookups of one assessment cost.

    ``cached``: answered from the site's cache (or by another host's fetch in the same
    run); ``fetched``: read from the host now; ``failed``: could not be read (retried next
    time); ``deferred``: over this assessment's fetch limit, read on a later one.
    """

    cached: int = 0
    fetched: int = 0
    failed: int = 0
    deferred: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"cached": self.cached, "fetched": self.fetched, "failed": self.failed,
                "deferred": self.deferred, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LookupStats:
        """Inverse of :meth:`to_dict` (missing keys are 0)."""
        return cls(int(data.get("cached", 0)), int(data.get("fetched", 0)),
                   int(data.get("failed", 0)), int(data.get("deferred", 0)),
                   float(data.get("seconds", 0.0)))


@dataclass(slots=True)
class Assessment:
    """Everything one deep scan of one host found."""

    host: str
    driver: str
    facts: HostFacts = field(default_factory=HostFacts)
    packages: list[InstalledPackage] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    reboot: RebootState = field(default_factory=lambda: RebootState(None))
    warnings: list[str] = field(default_factory=list)
    lookups: LookupStats | None = None  # changelog/CVE lookups, when the driver makes any


# -- facts a host reports are untrusted ([12].5) ---------------------------------------------
_TEXT_FACTS = ("os_id", "os_name", "os_version", "os_codename", "os_pretty", "kernel", "arch",
               "boot_id", "cpu_model", "manufacturer", "model", "serial")
_MAX_FACT = 200


def _clean_text(value: str) -> str:
    """One line of printable text, at most ``_MAX_FACT`` characters."""
    return "".join(c for c in value if c.isprintable())[:_MAX_FACT].strip()


def clean_facts(facts: HostFacts) -> tuple[HostFacts, list[str]]:
    """The facts as they may be stored and merged, and a warning per value dropped.

    A host name must be a host name (``=1+1`` is not), a MAC address a MAC address
    (normalised; anything else dropped), text one printable line of bounded length.
    """
    from dataclasses import replace

    from app.core.validate import normalize_mac, validate_hostname

    warnings: list[str] = []
    changes: dict[str, Any] = {}
    for name in _TEXT_FACTS:
        value = getattr(facts, name)
        cleaned = _clean_text(value)
        if cleaned != value:
            changes[name] = cleaned
    hostname = facts.hostname
    if hostname:
        try:
            hostname = validate_hostname(hostname)
        except ValueError:
            warnings.append(f"the host reported an invalid host name "
                            f"{_clean_text(hostname)[:60]!r}; ignored")
            hostname = ""
        changes["hostname"] = hostname
    interfaces = []
    for iface in facts.interfaces:
        mac = iface.mac
        if mac:
            try:
                mac = normalize_mac(mac)
            except ValueError:
                warnings.append(f"interface {_clean_text(iface.name)[:20]!r} reported an "
                                f"invalid MAC address {_clean_text(mac)[:40]!r}; ignored")
                mac = None
        interfaces.append(Interface(_clean_text(iface.name)[:64], mac,
                                    tuple(_clean_text(a)[:64] for a in iface.addresses)))
    changes["interfaces"] = tuple(interfaces)
    changes["logged_in_users"] = tuple(_clean_text(u)[:64] for u in facts.logged_in_users)
    return replace(facts, **changes), warnings
