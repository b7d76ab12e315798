"""The driver interface: small capabilities a platform driver may offer, and their results.

A driver is a bundle of capabilities (facts, inventory, updates, reboot); a capability a
platform cannot offer is ``None``. Capabilities take a :class:`Transport`, own no threads,
and validate and quote every value from a host that goes back into a command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.core.errors import UserError
from app.core.models import Classification, Severity


class CommandOutput(Protocol):
    """What a transport returns for one command."""

    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


class Transport(Protocol):
    """Runs argv lists on one host (SSH here; WinRM later; a fake in tests)."""

    host: str

    def run(
        self,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        timeout: float = 120.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        c_locale: bool = True,
    ) -> CommandOutput:
        """Run one command to completion."""
        ...


class UnsupportedOperationError(UserError):
    """The host's platform has no driver, or its driver lacks this capability."""


class DriverError(UserError):
    """A driver step failed on the host; ``kind`` names the failure for per-host reports."""

    def __init__(self, host: str, kind: str, message: str) -> None:
        self.host = host
        self.kind = kind
        super().__init__(f"{host}: {message}")


# -- results -------------------------------------------------------------------------------
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
    cves: tuple[str, ...] = ()
    advisories: tuple[str, ...] = ()
    reboot_required: bool = False


@dataclass(frozen=True, slots=True)
class RebootState:
    """Whether the host needs a reboot, and every signal that said so."""

    required: bool | None  # None: no reliable signal
    reasons: tuple[str, ...] = ()


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


# -- capabilities --------------------------------------------------------------------------
class FactsCapability(Protocol):
    """Gathers :class:`HostFacts`."""

    def facts(self, transport: Transport) -> HostFacts:
        """Facts of the host."""
        ...


class InventoryCapability(Protocol):
    """Lists installed software."""

    def installed(self, transport: Transport) -> list[InstalledPackage]:
        """Installed packages."""
        ...


class UpdatesCapability(Protocol):
    """Lists missing updates."""

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Updates the host lacks (refreshing package metadata first when asked)."""
        ...


class RebootCapability(Protocol):
    """Tells whether a reboot is pending."""

    def reboot_state(self, transport: Transport) -> RebootState:
        """Pending-reboot state from every available signal."""
        ...


@dataclass(frozen=True, slots=True)
class Driver:
    """A platform driver: a name, the OS ids it serves and its capabilities."""

    name: str
    facts: FactsCapability | None = None
    inventory: InventoryCapability | None = None
    updates: UpdatesCapability | None = None
    reboot: RebootCapability | None = None

    def require(self, capability: str) -> Any:
        """A capability, or :class:`UnsupportedOperationError` if the driver lacks it."""
        value = getattr(self, capability)
        if value is None:
            raise UnsupportedOperationError(f"the {self.name} driver cannot do '{capability}'")
        return value
