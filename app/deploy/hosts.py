"""Small per-host helpers of the deployment engine: pins as a host names them, what a
transaction did not do, failure texts, and a TCP probe."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Sequence

from app.core.deployment import Deployment, PackageChange, Target
from app.core.errors import UserError
from app.drivers.base import DeployCapability, JobStatus, Transport


def host_error_text(exc: BaseException) -> str:
    """A host's failure in words: ours as they are, a storage failure as such, anything
    else (a parser meeting garbage) as an internal error naming the exception."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return f"its result could not be stored ({type(exc).__name__}: {exc})"
    return f"internal error: {type(exc).__name__}: {exc}"


def pins(dep: Deployment, native: str = "") -> dict[str, str]:
    """The deployment's packages as the host names them, for its native architecture
    (``name:arch`` for another architecture; every one qualified when it is unknown)."""
    return {p.host_name(native): p.version for p in dep.packages}


def host_pins(dep: Deployment, target: Target) -> dict[str, str]:
    """The pins that applied to a host, as recorded when its install was prepared (the
    deployment's own for a host recorded before pins were)."""
    recorded = target.health_before.get("pins")
    if isinstance(recorded, dict):
        return {str(n): str(v) for n, v in recorded.items()}
    return pins(dep, str(target.health_before.get("native_arch", "")))


def unexpected_changes(changes: Sequence[PackageChange], pins: dict[str, str],
                after: dict[str, str]) -> list[str]:
    """What dpkg shows that the transaction did not do: a requested package not at its
    version, or a change the simulation announced that did not happen."""
    wrong = [f"{n} is {after.get(n) or 'not installed'}" for n, v in pins.items()
             if after.get(n) != v]
    wrong += [f"{c.name} is {after.get(c.name) or 'not installed'} (expected "
              f"{c.after or 'removed'})" for c in changes
              if c.name not in pins and after.get(c.name, "") != c.after]
    return wrong


def failure_detail(deployer: DeployCapability, status: JobStatus, problems: list[str],
                    wrong: list[str]) -> str:
    """"failed: " with the package manager's verdict first, then what the versions show."""
    first = problems[:1] or [f"{deployer.tool} exited {status.exit_code}"]
    return "failed: " + "; ".join([*first, *wrong, *problems[1:]])


def answering(deployer: DeployCapability, transport: Transport) -> bool:
    """Whether a host back from its restart works again: the platform's own check where it
    has one (Windows: WinRM answers and the servicing stack is idle), else a login that
    runs ``true``."""
    ready = getattr(deployer.rebooter, "ready", None)
    if callable(ready):
        return bool(ready(transport))
    return transport.run(["true"], timeout=30).exit_code == 0


def port_open(address: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
