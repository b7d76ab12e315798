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
from app.core.deployment import PackageChange
from app.core.errors import UserError

__all__ = [
    "Assessment",
    "CommandOutput",
    "DeployCapability",
    "Disk",
    "Driver",
    "DriverError",
    "FactsCapability",
    "HostFacts",
    "InstalledPackage",
    "Interface",
    "InventoryCapability",
    "JobStatus",
    "RebootCapability",
    "RebootControl",
    "RebootState",
    "Simulation",
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


# -- deploying ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Simulation:
    """What installing exact versions would do on a host: its native architecture, the
    pins that apply to it (``name`` or ``name:arch`` → version; a pin of another
    architecture applies only where that architecture's package is installed) and the
    change set (every package the transaction changes, the pins and what comes along)."""

    native_arch: str
    pins: dict[str, str]
    changes: tuple[PackageChange, ...]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What a package job on a host is doing (see app/drivers/scripts/job_start.sh)."""

    state: str  # "absent" | "running" | "done"
    exit_code: int | None
    log_tail: str
    #: Lines of the whole log that tell of a failure (E:, dpkg errors, failed scriptlets).
    notes: tuple[str, ...] = ()


class RebootControl(Protocol):
    """Notices to logged-in users and scheduled reboots of one platform."""

    def notify(self, transport: Transport, message: str) -> None:
        """Broadcast a message to every logged-in user."""
        ...

    def schedule(self, transport: Transport, minutes: int, message: str) -> None:
        """Schedule a reboot in ``minutes`` with the notice."""
        ...

    def cancel(self, transport: Transport) -> None:
        """Cancel a scheduled reboot."""
        ...

    def marker(self, transport: Transport) -> str:
        """A boot marker that changes with every boot ("" when it cannot be read)."""
        ...


class DeployCapability(Protocol):
    """Installs exact versions, keeps the old packages and rolls back, on one platform.

    Package names are the platform's own (``name``, or ``name:arch`` for a package of
    another architecture than the host's native one); versions are the platform's version
    strings as assessments record them. Installs and rollbacks run as *jobs* on the host:
    started at most once per job id, detached from the session, polled with
    :meth:`status`, so a resumed deployment re-attaches instead of installing twice.
    """

    @property
    def tool(self) -> str:
        """The package tool, for messages ("apt", "dnf", "zypper")."""
        ...

    @property
    def rebooter(self) -> RebootControl:
        """Reboot notices and scheduling on this platform."""
        ...

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """Installed version of each package ("" when absent or not fully installed)."""
        ...

    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """What installing ``pins`` would change (nothing is installed).

        Raises:
            DriverError: kind ``install_impossible`` when the package manager refuses.
        """
        ...

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Keep the package file of each given installed version on the host for a
        rollback; name → path (a version with no copy anywhere is left out)."""
        ...

    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing exact versions as a job: ("started" or "already-started", the
        job id actually used)."""
        ...

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Start ONE transaction as a job: install the kept package ``files`` (downgrades
        allowed) and remove the packages in ``remove``."""
        ...

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll a job."""
        ...

    def job_problems(self, status: JobStatus) -> list[str]:
        """What a finished job's exit code and log say went wrong (empty: nothing). The
        package manager's own verdict; the engine checks the versions on top."""
        ...

    def health(self, transport: Transport) -> dict[str, Any]:
        """A health snapshot: ``uid`` (of sudo), ``boot_marker``, ``free_bytes`` per
        mount, ``package_tools`` (the package tools found, named like :attr:`tool`),
        ``package_audit`` (broken packages, "" when none), ``failed_units``,
        ``reboot_required``, load and memory."""
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
