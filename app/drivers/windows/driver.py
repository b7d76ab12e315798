"""The Windows driver: facts, installed updates and software, missing updates (Windows Update,
Chocolatey and winget: :mod:`app.drivers.windows.apps`), pending reboot.

Every step runs one of the reviewed scripts in this package over WinRM
(:class:`app.remote.winrm.WinRMTransport`) and hands its one JSON document to the pure
parsers in :mod:`app.drivers.parsers.windows`. Missing updates come from the Windows
Update Agent run as a one-shot SYSTEM scheduled task (:func:`app.drivers.windows.wua.
run_wua_job`): the agent refuses its searcher to a WinRM logon on current builds.

Missing updates are stored like Linux ones: the package is the KB id (``kb`` too), the
source ``windows-update``; what only Windows has (update id and revision, size, reboot
behaviour, uninstallable) goes into the facts' ``details`` for the deployment to use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from app.core.assessment import Assessment, HostFacts, InstalledPackage, RebootState, Update
from app.drivers.base import Driver, DriverError, Transport, UnsupportedOperationError
from app.drivers.parsers import ParseError
from app.drivers.parsers.windows import (
    MAX_DOCUMENT,
    WindowsFacts,
    WindowsUpdate,
    parse_facts,
    parse_installed_software,
    parse_installed_updates,
    parse_pending_reboot,
)
from app.drivers.windows import script, with_args
from app.drivers.windows.wua import ScriptTransport, run_wua_job

NAME = "windows"
#: A Windows Update search takes minutes on real machines (85 s for three updates on
#: Server 2019, ansible.windows#463); an hour is the ceiling before giving up.
SEARCH_TIMEOUT = 3600.0
_ACCESS_DENIED = ("0x80070005", "Access is denied", "E_ACCESSDENIED")


def _ps(transport: Transport) -> ScriptTransport:
    if not callable(getattr(transport, "run_ps", None)):
        raise UnsupportedOperationError(f"{transport.host}: the Windows driver needs a WinRM "
                                        "transport")
    return cast(ScriptTransport, transport)


def run_script(transport: Transport, name: str, args: dict[str, Any] | None = None, *,
               timeout: float = 120.0) -> str:
    """Run one reviewed script and return its stdout (one JSON document).

    Raises:
        DriverError: ``access_denied`` (not an administrator, or a filtered token) or
            ``script_failed`` with the script's error text.
    """
    ps = _ps(transport)
    # No document we parse is larger than MAX_DOCUMENT: a host printing more is cut off
    # there (the transport's OutputTooLargeError) rather than held in memory up to the
    # transport's general cap.
    res = ps.run_ps(with_args(script(name), args), timeout=timeout, name=name,
                    max_output=MAX_DOCUMENT)
    if res.exit_code != 0:
        error = (res.stderr or res.stdout).strip()
        if any(marker in error for marker in _ACCESS_DENIED):
            raise DriverError(ps.host, "access_denied",
                              f"{name}: access denied. The account must be an administrator "
                              "on the host; a local account of a workgroup machine gets a "
                              "filtered token over the network unless "
                              "LocalAccountTokenFilterPolicy=1 (which weakens UAC for every "
                              "local administrator) — use the built-in Administrator or a "
                              "domain account instead")
        raise DriverError(ps.host, "script_failed",
                          f"{name}.ps1 failed (exit {res.exit_code}): {error[:300]}")
    return res.stdout


def _parsed(host: str, what: str, parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ParseError as exc:
        raise DriverError(host, "parse_error", f"unreadable {what}: {exc}") from None


def _backoff(host: str, should_stop: Callable[[], bool] | None = None, *,
             first: float = 0.25, cap: float = 5.0) -> Callable[[float], None]:
    """A sleep for the WUA task's polls: quick at first (a short search answers in
    seconds), then every ``cap`` seconds; it ends the job (whose clean-up then removes the
    task) once ``should_stop`` says so."""
    state = {"delay": first}

    def sleep(_interval: float) -> None:
        waited = 0.0
        while waited < state["delay"]:
            if should_stop is not None and should_stop():
                raise DriverError(host, "cancelled", "stopped while Windows Update searched")
            step = min(0.1, state["delay"] - waited)
            time.sleep(step)
            waited += step
        state["delay"] = min(cap, state["delay"] * 2)

    return sleep


class WindowsFactsCapability:
    """facts.ps1 → :class:`HostFacts` (with the Windows details kept)."""

    def __init__(self) -> None:
        self.windows: WindowsFacts | None = None

    def facts(self, transport: Transport) -> HostFacts:
        """OS name/edition/build.UBR/DisplayVersion, domain or workgroup, BIOS, NICs,
        disks, logged-on users, last boot."""
        self.windows = _parsed(transport.host, "facts", parse_facts,
                               run_script(transport, "facts", timeout=120))
        win = self.windows
        assert win is not None
        details = {"edition": win.edition, "installation_type": win.installation_type,
                   "build": win.build, "ubr": win.ubr, "revision": win.revision,
                   "display_version": win.display_version,
                   "part_of_domain": win.part_of_domain, "domain": win.domain,
                   "workgroup": win.workgroup, "windows_11": win.is_windows_11}
        return replace(win.facts, details=details)


class WindowsInventory:
    """Installed software (Uninstall keys) and installed updates (Get-HotFix + WUA history)
    as one package list; what could not be read is kept in ``warnings``."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.failed_history: tuple[str, ...] = ()

    def installed(self, transport: Transport) -> list[InstalledPackage]:
        """Software first, then every installed KB (package = the KB id)."""
        software = _parsed(transport.host, "installed software", parse_installed_software,
                           run_script(transport, "installed_software", timeout=180))
        updates = _parsed(transport.host, "installed updates", parse_installed_updates,
                          run_script(transport, "installed_updates", timeout=180))
        self.warnings = [f"installed updates: {w}" for w in updates.warnings]
        self.failed_history = updates.failed_history
        return [*software, *updates.as_packages()]


class WindowsUpdates:
    """Missing updates from the Windows Update Agent, searched by the SYSTEM task."""

    def __init__(self, *, timeout: float = SEARCH_TIMEOUT,
                 sleep: Callable[[float], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.timeout = timeout
        self.sleep = sleep
        self.should_stop = should_stop
        self.warnings: list[str] = []
        self.found: tuple[WindowsUpdate, ...] = ()
        self.reboot_pending: bool | None = None

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Every applicable, not hidden, not installed software update (``refresh`` does
        not apply: the agent always asks its update service)."""
        del refresh
        result = run_wua_job(_ps(transport), "search", timeout=self.timeout,
                             sleep=self.sleep or _backoff(transport.host, self.should_stop))
        if not result.ok:
            detail = result.error or "the search failed"
            raise DriverError(transport.host, "wua_search_failed",
                              f"Windows Update search failed: {detail}")
        self.found = result.updates
        self.reboot_pending = result.reboot_pending
        return [u.to_update() for u in result.updates]

    def details(self) -> dict[str, dict[str, Any]]:
        """Per missing update (by package), what only Windows tells: identity for the
        installer, size, reboot behaviour, whether it can be uninstalled."""
        out: dict[str, dict[str, Any]] = {}
        for u in self.found:
            package = u.to_update().package
            out[package] = {"update_id": u.update_id, "revision": u.revision,
                            "title": u.title, "kbs": list(u.kbs),
                            "categories": list(u.categories),
                            "max_download_size": u.max_download_size,
                            "reboot_behavior": {0: "never", 1: "always",
                                                2: "can request"}.get(
                                                    u.reboot_behavior or -1, "unknown"),
                            "uninstallable": u.uninstallable, "optional": u.optional}
        return out


class WindowsReboot:
    """pending_reboot.ps1: WUA SystemInfo, CBS RebootPending, WU RebootRequired and
    PendingFileRenameOperations, weighed by :func:`parse_pending_reboot`."""

    def reboot_state(self, transport: Transport) -> RebootState:
        """Whether a reboot is pending, with every signal that said so."""
        return cast(RebootState, _parsed(transport.host, "pending reboot",
                                         parse_pending_reboot,
                                         run_script(transport, "pending_reboot", timeout=60)))


def windows_driver(**updates_options: Any) -> Driver:
    """A fresh Windows driver (its capabilities keep per-host state)."""
    return Driver(NAME, facts=WindowsFactsCapability(), inventory=WindowsInventory(),
                  updates=WindowsUpdates(**updates_options), reboot=WindowsReboot())


def assess_windows(transport: Transport, **updates_options: Any) -> Assessment:
    """A full deep scan of a Windows host over WinRM.

    Raises:
        DriverError and the transport's errors (unreachable, auth, certificate, ...).
    """
    driver = windows_driver(**updates_options)
    result = Assessment(host=transport.host, driver=NAME)
    facts = driver.require("facts").facts(transport)
    inventory = cast(WindowsInventory, driver.require("inventory"))
    result.packages = inventory.installed(transport)
    result.warnings.extend(inventory.warnings)
    if inventory.failed_history:
        result.warnings.append("Windows Update history lists failed installs: "
                               + "; ".join(inventory.failed_history[:5]))
    updates = cast(WindowsUpdates, driver.require("updates"))
    result.updates = updates.missing(transport)
    # Third-party applications: Chocolatey where installed, winget best effort (a host
    # where neither can be read is still assessed; the warnings say why).
    from app.drivers.windows.apps import read_apps, to_update

    apps = read_apps(transport, _ps(transport), sleep=_backoff(
        transport.host, updates_options.get("should_stop")))
    result.updates += [to_update(u) for u in apps.upgrades]
    result.warnings.extend(apps.warnings)
    result.reboot = driver.require("reboot").reboot_state(transport)
    result.facts = replace(facts, details={**facts.details, "updates": updates.details()})
    return result
