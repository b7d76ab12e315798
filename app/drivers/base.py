"""The driver interface: small capabilities a platform driver may offer, and their results.

A driver is a bundle of capabilities (facts, inventory, updates, reboot); a capability a
platform cannot offer is ``None``. Capabilities take a :class:`Transport`, own no threads,
and validate and quote every value from a host that goes back into a command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.assessment import (
    Assessment,
    Disk,
    HostFacts,
    InstalledPackage,
    Interface,
    RebootState,
    Update,
)
from app.core.errors import UserError

__all__ = [
    "Assessment",
    "CommandOutput",
    "Disk",
    "Driver",
    "DriverError",
    "FactsCapability",
    "HostFacts",
    "InstalledPackage",
    "Interface",
    "InventoryCapability",
    "RebootCapability",
    "RebootState",
    "Transport",
    "UnsupportedOperationError",
    "Update",
    "UpdatesCapability",
]


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
