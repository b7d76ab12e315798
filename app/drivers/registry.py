"""Which driver serves a host (an ordered detection chain), one full deep scan of a host,
and which deployer installs on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from app.drivers.apt import AptReboot, AptUpdates, DpkgInventory, start_refresh
from app.drivers.apt_quick import AptQuickDeployer
from app.drivers.base import Assessment, DeployCapability, Driver, DriverError, Transport
from app.drivers.changelogs import ChangelogBroker
from app.drivers.dnf import dnf_driver
from app.drivers.linux import LinuxFacts, gather, host_facts, os_release
from app.drivers.macos.deploy import MacDeployer
from app.drivers.macos.driver import assess_macos, is_darwin
from app.drivers.parsers import ParseError
from app.drivers.parsers.osrelease import package_family, parse_os_release
from app.drivers.rpm_deploy import DnfDeployer, ZypperDeployer
from app.drivers.windows.deploy import WindowsDeployer
from app.drivers.windows.driver import assess_windows
from app.drivers.zypper import zypper_driver


def _apt(facts: LinuxFacts) -> Driver:
    inventory = DpkgInventory()
    return Driver("apt", facts=facts, inventory=inventory,
                  updates=AptUpdates(inventory, facts=facts), reboot=AptReboot(facts))


#: Package-manager family (from os-release ID / ID_LIKE) → driver factory. A factory is
#: called once per host, so its capabilities may keep per-host state (tool, inventory).
DRIVERS: dict[str, Callable[[LinuxFacts], Driver]] = {
    "apt": _apt,
    "dnf": dnf_driver,
    "zypper": zypper_driver,
}


#: Package-manager family → the deployer that installs, keeps and rolls back with it.
DEPLOYERS: dict[str, Callable[[], DeployCapability]] = {
    "apt": AptQuickDeployer,
    "dnf": DnfDeployer,
    "zypper": ZypperDeployer,
}


def deployer_for(transport: Transport) -> DeployCapability:
    """The deployer of the host's package manager, chosen from its os-release (ID and
    ID_LIKE, as :func:`detect` chooses the driver); one short command. A WinRM transport
    (one that runs PowerShell scripts) gets the Windows Update deployer.

    Raises:
        DriverError: ``unknown_os`` (no package manager PatchDesk knows) or
            ``unsupported_os`` (known, but nothing here installs with it).
    """
    if callable(getattr(transport, "run_ps", None)):
        return WindowsDeployer()
    result = transport.run(["sh", "-c", "cat /etc/os-release 2>/dev/null || "
                            "cat /usr/lib/os-release; echo; echo @@pd:uname-s@@; uname -s"],
                           timeout=60)
    text, _, system = result.stdout.partition("\n@@pd:uname-s@@\n")
    if system.strip() == "Darwin":  # macOS (whatever os-release says): softwareupdate, brew
        return MacDeployer()
    try:
        release = parse_os_release(text)
    except ParseError as exc:
        raise DriverError(transport.host, "unknown_os",
                          f"os-release could not be read: {exc}") from None
    family = package_family(release)
    if family is None:
        raise DriverError(transport.host, "unknown_os",
                          f"{release.pretty_name} ({release.id}) uses no package manager "
                          "PatchDesk knows (no driver for installs)")
    factory = DEPLOYERS.get(family)
    if factory is None:
        raise DriverError(transport.host, "unsupported_os",
                          f"{release.pretty_name}: PatchDesk cannot install with {family} "
                          "on this version")
    return factory()


def detect(transport: Transport) -> tuple[Driver, LinuxFacts]:
    """Identify the host's platform and return its driver (facts already gathered).

    Raises:
        DriverError: ``unknown_os`` or ``unsupported_os``.
    """
    sections, _raw = gather(transport)
    return _linux_driver(sections, transport.host)


def _linux_driver(sections: dict[str, str | None], host: str) -> tuple[Driver, LinuxFacts]:
    release = os_release(sections, host)
    family = package_family(release)
    if family is None:
        raise DriverError(host, "unknown_os",
                          f"{release.pretty_name} ({release.id}) uses no package manager "
                          "PatchDesk knows")
    factory = DRIVERS.get(family)
    if factory is None:
        raise DriverError(host, "unsupported_os",
                          f"{release.pretty_name}: {family} hosts are recognised but cannot "
                          "be assessed by this version")
    facts = LinuxFacts(sections)
    return factory(facts), facts


def assess_host(transport: Transport, *, refresh: bool = True,
                changelogs: ChangelogBroker | None = None,
                previous: Mapping[str, Any] | None = None) -> Assessment:
    """A full deep scan: facts, installed software, missing updates, reboot state.

    Args:
        changelogs: the run's changelog broker (site cache, shared by all hosts), for
            drivers that read changelogs; None gives each host a private one.
        previous: ``facts.details`` of this host's previous successful assessment: an
            updates capability that can (``reuse_from``) reuses what it stored there
            while the host's state is unchanged, and adds what the next one may reuse
            (``stored_details()``) to this assessment's details.

    Raises:
        DriverError and the transport's errors (unreachable, auth, sudo, host key).
    """
    # A host that was an apt host last time refreshes apt's lists beside the facts script.
    early = start_refresh(transport, previous) if refresh else None
    try:
        sections, _raw = gather(transport)
        if is_darwin(sections):  # the host answers uname -s with Darwin: a Mac
            if early is not None:
                wait([early])
            return assess_macos(transport, refresh=refresh)
        driver, facts = _linux_driver(sections, transport.host)
    except BaseException:
        if early is not None:
            wait([early])
        raise
    if early is not None:
        if isinstance(driver.updates, AptUpdates):
            driver.updates.early_refresh = early
        else:  # no longer an apt host: what that refresh did means nothing here
            wait([early])
    result = Assessment(host=transport.host, driver=driver.name)
    result.facts = host_facts(facts.sections, result.warnings)
    inventory = driver.require("inventory")
    updates = driver.require("updates")
    reboot = driver.require("reboot")
    if changelogs is not None and hasattr(updates, "changelogs"):
        updates.changelogs = changelogs
    if previous and hasattr(updates, "reuse_from"):
        updates.reuse_from(dict(previous))
    if getattr(updates, "concurrent_reads", False):
        # Independent reads over one SSH connection (one channel each): the package list
        # and the reboot state come while apt refreshes and simulates.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="host") as pool:
            packages = pool.submit(inventory.installed, transport)
            missing = pool.submit(updates.missing, transport, refresh=refresh)
            state = pool.submit(reboot.reboot_state, transport)
            result.packages = packages.result()
            result.updates = missing.result()
            result.reboot = state.result()
    else:
        result.packages = inventory.installed(transport)
        result.updates = updates.missing(transport, refresh=refresh)
        result.reboot = reboot.reboot_state(transport)
    # Capabilities that can degrade (no advisory data, skipped repositories) say so here.
    result.warnings.extend(getattr(updates, "warnings", ()))
    result.lookups = getattr(updates, "lookups", None)
    if hasattr(updates, "stored_details"):
        result.facts = replace(result.facts,
                               details={**result.facts.details, **updates.stored_details()})
    return result


def assess_windows_host(transport: Transport, *, refresh: bool = True,
                        should_stop: Callable[[], bool] | None = None) -> Assessment:
    """A full deep scan of a Windows host over WinRM (facts, installed updates and
    software, missing updates from the Windows Update Agent, pending reboot).

    ``refresh`` does not apply: the Windows Update Agent always asks its update service.
    ``should_stop`` ends a (long) Windows Update search early; its task is still removed.

    Raises:
        DriverError and the WinRM transport's errors.
    """
    del refresh
    return assess_windows(transport, should_stop=should_stop)
