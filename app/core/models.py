"""The domain of PatchDesk as typed dataclasses and enums: sites, assets, software, patches.

Pure data: no Qt, no I/O. The store turns rows into these objects and back; the UI and the
CLI only ever see these objects.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from app.core.errors import FieldError, ValidationError
from app.core.validate import normalize_ip, normalize_mac, validate_hostname


class StrEnum(enum.StrEnum):
    """An enum whose values are their stored text; ``str()`` gives the value."""

    @classmethod
    def parse(cls, text: str) -> StrEnum:
        """Parse the stored value or a label, case- and separator-insensitively.

        Raises:
            ValueError: naming the allowed values.
        """
        key = re.sub(r"[\s_-]+", "_", text.strip().lower())
        for member in cls:
            if key in (member.value, member.name.lower()):
                return member
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"'{text}' is not one of: {allowed}")


class OsFamily(StrEnum):
    """Broad operating-system family, which decides the driver and transport."""

    UNKNOWN = "unknown"
    LINUX = "linux"
    WINDOWS = "windows"
    MACOS = "macos"
    BSD = "bsd"
    NETWORK_OS = "network_os"
    PRINTER_FIRMWARE = "printer_firmware"
    OTHER = "other"


class AssetKind(StrEnum):
    """What an asset is, as a person would say it."""

    UNKNOWN = "unknown"
    SERVER = "server"
    WORKSTATION = "workstation"
    LAPTOP = "laptop"
    VIRTUAL_MACHINE = "virtual_machine"
    NETWORK_DEVICE = "network_device"
    PRINTER = "printer"
    STORAGE = "storage"
    PHONE_TABLET = "phone_tablet"
    IOT = "iot"
    OTHER = "other"


class Impact(StrEnum):
    """Business impact if the asset is down (the criticality questionnaire's first answer)."""

    NONE = "none"
    LOW = "low"
    HIGH = "high"
    CRITICAL = "critical"


class DataSensitivity(StrEnum):
    """Kinds of sensitive data an asset holds or processes."""

    PERSONAL = "personal"
    HEALTH = "health"
    PAYMENT = "payment"


class Ring(StrEnum):
    """Deployment ring an asset belongs to."""

    NONE = ""
    TEST = "test"
    PILOT = "pilot"
    PRODUCTION = "production"


class Severity(StrEnum):
    """Vendor severity of an update, normalised across platforms."""

    UNKNOWN = "unknown"
    LOW = "low"
    MODERATE = "moderate"
    IMPORTANT = "important"
    CRITICAL = "critical"


class Classification(StrEnum):
    """What kind of update it is."""

    SECURITY = "security"
    BUGFIX = "bugfix"
    ENHANCEMENT = "enhancement"
    OTHER = "other"


class PatchStatus(StrEnum):
    """State of one update on one asset."""

    MISSING = "missing"
    INSTALLED = "installed"
    FAILED = "failed"
    EXCEPTED = "excepted"


class Outcome(StrEnum):
    """Result of an audited action."""

    OK = "ok"
    FAILED = "failed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Criticality:
    """The answers to "how critical is this asset to the business"."""

    impact: Impact = Impact.LOW
    data: tuple[DataSensitivity, ...] = ()
    critical_operations: bool = False
    public_facing: bool = False
    internet_facing: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """One client site: one ``.pdsite`` file."""

    name: str
    client: str = ""
    address: str = ""
    msp_name: str = ""
    logo_path: str = ""
    created_at: datetime | None = None


#: Asset fields a person edits; discovery and assessment fill these only when they are
#: empty or were themselves filled by a scan ("nothing typed by hand is overwritten").
EDITABLE_FIELDS: tuple[str, ...] = (
    "hostname",
    "location",
    "ips",
    "macs",
    "os_family",
    "os_name",
    "os_version",
    "os_build",
    "kind",
    "manufacturer",
    "model",
    "serial",
    "vendor",
    "order_number",
    "purchase_date",
    "warranty_end",
    "support_contact",
    "owner",
    "tags",
    "ring",
    "impact",
    "data_sensitivity",
    "critical_operations",
    "public_facing",
    "internet_facing",
    "notes",
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One managed device and everything the inventory knows about it.

    ``field_sources`` maps a field name to who set it: ``"manual"`` (a person, via the
    GUI, CLI or CSV), ``"scan"`` (discovery) or ``"assess"`` (a deep scan).
    """

    hostname: str = ""
    location: str = ""
    ips: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    os_family: OsFamily = OsFamily.UNKNOWN
    os_name: str = ""
    os_version: str = ""
    os_build: str = ""
    kind: AssetKind = AssetKind.UNKNOWN
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    vendor: str = ""
    order_number: str = ""
    purchase_date: date | None = None
    warranty_end: date | None = None
    support_contact: str = ""
    owner: str = ""
    tags: tuple[str, ...] = ()
    ring: Ring = Ring.NONE
    impact: Impact = Impact.LOW
    data_sensitivity: tuple[DataSensitivity, ...] = ()
    critical_operations: bool = False
    public_facing: bool = False
    internet_facing: bool = False
    notes: str = ""
    open_ports: tuple[int, ...] = ()
    nic_vendor: str = ""
    id: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    field_sources: dict[str, str] = field(default_factory=dict)

    @property
    def criticality(self) -> Criticality:
        """The criticality answers bundled together."""
        return Criticality(
            self.impact,
            self.data_sensitivity,
            self.critical_operations,
            self.public_facing,
            self.internet_facing,
        )

    @property
    def primary_ip(self) -> str:
        """The first IP address, or an empty string."""
        return self.ips[0] if self.ips else ""

    @property
    def primary_mac(self) -> str:
        """The first MAC address, or an empty string."""
        return self.macs[0] if self.macs else ""

    @property
    def os_display(self) -> str:
        """Operating system as one line: name, version and build."""
        parts = [self.os_name, self.os_version]
        text = " ".join(p for p in parts if p)
        if self.os_build:
            text = f"{text} (build {self.os_build})" if text else f"build {self.os_build}"
        return text

    @property
    def label(self) -> str:
        """How to name this asset to a person: host name, else IP, else MAC, else id."""
        return self.hostname or self.primary_ip or self.primary_mac or f"asset #{self.id}"

    def with_changes(self, **changes: Any) -> Asset:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)

    def normalized(self) -> Asset:
        """Validate every field and return the asset with canonical IPs, MACs and names.

        Raises:
            ValidationError: listing every invalid field; nothing is changed.
        """
        errors: list[FieldError] = []
        hostname = self.hostname.strip()
        if hostname:
            try:
                hostname = validate_hostname(hostname)
            except ValueError as exc:
                errors.append(FieldError("hostname", str(exc)))
        ips: list[str] = []
        for ip in self.ips:
            try:
                canon = normalize_ip(ip)
            except ValueError as exc:
                errors.append(FieldError("ip", str(exc)))
                continue
            if canon not in ips:
                ips.append(canon)
        macs: list[str] = []
        for mac in self.macs:
            try:
                canon = normalize_mac(mac)
            except ValueError as exc:
                errors.append(FieldError("mac", str(exc)))
                continue
            if canon not in macs:
                macs.append(canon)
        if not (hostname or ips or macs):
            errors.append(FieldError("hostname", "an asset needs a host name, an IP or a MAC"))
        if (
            self.purchase_date
            and self.warranty_end
            and self.warranty_end < self.purchase_date
        ):
            errors.append(FieldError("warranty_end", "warranty ends before the purchase date"))
        for name in ("location", "owner", "support_contact", "manufacturer", "model"):
            if len(getattr(self, name)) > 500:
                errors.append(FieldError(name, "is longer than 500 characters"))
        if len(self.notes) > 20000:
            errors.append(FieldError("notes", "is longer than 20,000 characters"))
        if errors:
            raise ValidationError(errors)
        tags = tuple(dict.fromkeys(t.strip() for t in self.tags if t.strip()))
        return replace(
            self,
            hostname=hostname,
            ips=tuple(ips),
            macs=tuple(macs),
            tags=tags,
            data_sensitivity=tuple(dict.fromkeys(self.data_sensitivity)),
        )


ASSET_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Asset))


@dataclass(frozen=True, slots=True)
class Software:
    """One installed package or application on an asset."""

    asset_id: int
    name: str
    version: str
    arch: str = ""
    source: str = ""
    seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AssetPatch:
    """One update that applies to one asset, with the evidence for listing it."""

    asset_id: int
    package: str
    candidate_version: str
    installed_version: str = ""
    kb: str = ""
    classification: Classification = Classification.OTHER
    severity: Severity = Severity.UNKNOWN
    source: str = ""
    cves: tuple[str, ...] = ()
    advisories: tuple[str, ...] = ()
    reboot_required: bool = False
    status: PatchStatus = PatchStatus.MISSING
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    id: int | None = None
    evidence: tuple[str, ...] = ()  # why it is classified as it is
    arch: str = ""  # the package's architecture (amd64, i386, x86_64, i686, all, noarch...)

    def label(self, host_arch: str) -> str:
        """The package name as shown: qualified ``libc6:i386`` when its architecture is
        not the host's own (``host_arch`` from uname -m or dpkg, either spelling) nor
        architecture-independent."""
        if not self.arch or self.arch in _ARCH_INDEPENDENT:
            return self.package
        if host_arch and _ARCH_ALIASES.get(host_arch, host_arch) == _ARCH_ALIASES.get(
                self.arch, self.arch):
            return self.package
        return f"{self.package}:{self.arch}"


_ARCH_INDEPENDENT = frozenset({"all", "noarch", "any"})
#: uname -m / rpm spellings → dpkg's, so "x86_64" and "amd64" are the same machine.
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386", "i586": "i386",
                 "armv7l": "armhf", "ppc64le": "ppc64el"}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row of the append-only, hash-chained audit log."""

    ts: datetime
    actor: str
    action: str
    object_type: str = ""
    object_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.OK
    id: int | None = None
    prev_hash: str = ""
    hash: str = ""


def parse_os(text: str) -> tuple[OsFamily, str, str]:
    """Split a free-text OS such as "Ubuntu 22.04" into (family, name, version).

    A guess, used when a person types one line: "Windows Server 2022" →
    (windows, "Windows Server", "2022"); "Debian 12.5" → (linux, "Debian", "12.5").
    """
    value = " ".join(text.split())
    if not value:
        return OsFamily.UNKNOWN, "", ""
    match = re.match(r"^(.*?)[\s]+v?(\d[\w.\-]*)$", value)
    name, version = (match.group(1), match.group(2)) if match else (value, "")
    lower = value.lower()
    family = OsFamily.OTHER
    for needle, fam in _OS_FAMILY_HINTS:
        if needle in lower:
            family = fam
            break
    return family, name, version


_OS_FAMILY_HINTS: tuple[tuple[str, OsFamily], ...] = (
    ("windows", OsFamily.WINDOWS),
    ("macos", OsFamily.MACOS),
    ("mac os", OsFamily.MACOS),
    ("os x", OsFamily.MACOS),
    ("freebsd", OsFamily.BSD),
    ("openbsd", OsFamily.BSD),
    ("ios-xe", OsFamily.NETWORK_OS),
    ("routeros", OsFamily.NETWORK_OS),
    ("junos", OsFamily.NETWORK_OS),
    *(
        (distro, OsFamily.LINUX)
        for distro in (
            "linux", "ubuntu", "debian", "rhel", "red hat", "rocky", "alma", "centos",
            "fedora", "suse", "sles", "opensuse", "mint", "raspbian", "alpine", "arch",
            "oracle",
        )
    ),
)
