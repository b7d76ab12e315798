"""The apt driver (Debian, Ubuntu and derivatives): installed packages, missing updates,
security classification and pending-reboot state.

Commands that are parsed run with ``LANG=C LC_ALL=C`` (the transport adds it);
``apt-get`` (stable CLI) is used rather than ``apt``; the simulation includes phased
updates so pilot and production see the same versions (tech-notes §0.6, §1.1).
"""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources

from app.core.models import Classification
from app.drivers.base import (
    DriverError,
    InstalledPackage,
    RebootState,
    Transport,
    Update,
)
from app.drivers.linux import LinuxFacts, reboot_signals
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt import (
    DPKG_QUERY_FORMAT,
    AptSummaryMismatchError,
    changelog_cves,
    parse_apt_simulation,
    parse_dpkg_query,
)
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version
from app.drivers.parsers.reboot import combine_reboot_signals, signal_from_kernel

#: Security updates whose changelogs are read for CVE ids in one assessment.
MAX_CHANGELOGS = 60
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
#: How long apt waits for the dpkg lock before giving up (seconds).
LOCK_TIMEOUT = 10
_LOCK_HOLDER = re.compile(r"held by process (\d+) \(([^)]*)\)")


def _lock_error(host: str, text: str) -> DriverError | None:
    if "Could not get lock" not in text and "Unable to acquire the dpkg" not in text:
        return None
    holder = _LOCK_HOLDER.search(text)
    who = f" by process {holder.group(1)} ({holder.group(2)})" if holder else ""
    return DriverError(host, "apt_lock",
                       f"dpkg is locked{who}: another package operation is running; "
                       "try again when it has finished")


class AptUpdates:
    """Missing updates from an ``apt-get -s dist-upgrade`` simulation.

    ``warnings`` (reset by each :meth:`missing`) carries what degraded the result without
    making it wrong: apt-get update's ``W:``/``E:`` lines (stale lists) and simulation
    lines the parser did not understand while apt's summary still agreed.
    """

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def refresh(self, transport: Transport) -> list[str]:
        """``apt-get update``; returns apt's warnings (unreachable mirrors...).

        Raises:
            DriverError: kinds ``apt_lock`` or ``apt_update_failed``.
        """
        result = transport.run(
            ["apt-get", "-q", "update", "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"],
            sudo=True, timeout=300, env=NONINTERACTIVE)
        text = result.stdout + result.stderr
        lock = _lock_error(transport.host, text)
        if lock:
            raise lock
        if result.exit_code != 0:
            raise DriverError(transport.host, "apt_update_failed",
                              f"apt-get update failed: {_tail(result.stderr or result.stdout)}")
        return [line for line in text.splitlines() if line.startswith(("W:", "E:"))]

    def check_lock(self, transport: Transport) -> None:
        """Fail when another package operation holds dpkg's lock (its state is in flux).

        Raises:
            DriverError: kind ``apt_lock``.
        """
        result = transport.run(
            ["apt-get", "check", "-q", "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"],
            sudo=True, timeout=LOCK_TIMEOUT + 60, env=NONINTERACTIVE)
        lock = _lock_error(transport.host, result.stdout + result.stderr)
        if lock:
            raise lock

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Upgrades of installed packages apt would make, with their origin as evidence.

        Raises:
            DriverError: ``apt_lock``, ``apt_update_failed`` or ``parse_failed``.
        """
        self.warnings = []
        if refresh:
            self.warnings.extend(f"apt-get update: {w}" for w in self.refresh(transport))
        self.check_lock(transport)
        result = transport.run(
            ["apt-get", "-s", "-o", "APT::Get::Always-Include-Phased-Updates=true",
             "-o", "Debug::NoLocking=1", "dist-upgrade"],
            timeout=180, env=NONINTERACTIVE)
        if result.exit_code != 0:
            raise DriverError(transport.host, "apt_failed",
                              f"apt-get -s dist-upgrade failed: {_tail(result.stderr)}")
        try:
            simulation = parse_apt_simulation(result.stdout)
        except AptSummaryMismatchError as exc:
            raise DriverError(transport.host, "apt_output_mismatch",
                              f"apt's simulation cannot be trusted: {exc}") from None
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed",
                              f"apt's simulation output was not understood: {exc}") from None
        updates = []
        for upgrade in simulation.upgrades:
            # Remote output is untrusted: names and versions that later go back into
            # commands (install, rollback) must be plain package names and versions.
            try:
                ensure_package_name(upgrade.name, "deb", allow_arch=True)
                ensure_version(upgrade.candidate_version, "deb")
                if upgrade.installed_version:
                    ensure_version(upgrade.installed_version, "deb")
            except UnsafeValueError as exc:
                raise DriverError(transport.host, "parse_failed",
                                  f"apt reported an unsafe package name or version: {exc}"
                                  ) from None
            updates.append(Update(
                package=upgrade.package,
                installed_version=upgrade.installed_version or "",
                candidate_version=upgrade.candidate_version,
                arch=upgrade.arch,
                classification=(Classification.SECURITY if upgrade.is_security
                                else Classification.OTHER),
                source=", ".join(upgrade.origins),
            ))
        self.warnings.extend(f"apt-get -s dist-upgrade: {w}"
                             for w in (*simulation.unreadable, *simulation.warnings))
        return self.with_changelog_cves(transport, updates)

    def with_changelog_cves(self, transport: Transport, updates: list[Update]) -> list[Update]:
        """Add the CVE ids that each security update's own changelog names for versions
        newer than the installed one (apt's simulation carries none; KEV matching needs
        them). At most :data:`MAX_CHANGELOGS` packages; a package whose changelog cannot be
        read just gets no CVEs."""
        # One changelog per package and version: a multi-arch pair shares it.
        wanted = list({(u.package, u.candidate_version): u for u in updates
                       if u.classification is Classification.SECURITY}.values())
        wanted = wanted[:MAX_CHANGELOGS]
        if not wanted:
            return updates
        result = transport.run(
            ["sh", "-c", _script("changelogs.sh"), "changelogs",
             *(f"{u.package}={u.candidate_version}" for u in wanted)],
            sudo=True, timeout=300, env=NONINTERACTIVE)
        texts = _changelog_sections(result.stdout)
        found: dict[str, tuple[str, ...]] = {}
        for update in wanted:
            text = texts.get(update.package)
            if text:
                try:
                    found[update.package] = changelog_cves(text, update.installed_version)
                except ParseError:
                    continue
        return [replace(u, cves=found[u.package]) if found.get(u.package) else u
                for u in updates]


class DpkgInventory:
    """Installed packages from the dpkg database."""

    def installed(self, transport: Transport) -> list[InstalledPackage]:
        """Fully installed packages (``ii``/``hi``).

        Raises:
            DriverError: kind ``parse_failed`` or ``dpkg_failed``.
        """
        result = transport.run(["dpkg-query", "-W", f"-f={DPKG_QUERY_FORMAT}"], timeout=120)
        if result.exit_code != 0:
            raise DriverError(transport.host, "dpkg_failed",
                              f"dpkg-query failed: {_tail(result.stderr)}")
        try:
            inventory = parse_dpkg_query(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed",
                              f"dpkg-query output was not understood: {exc}") from None
        return [InstalledPackage(p.name, p.version, p.arch, p.source_name)
                for p in inventory.installed]


class AptReboot:
    """Pending-reboot state of a Debian-family host: the facts script's signals plus the
    running vs installed ``linux-image-*`` kernels."""

    def __init__(self, facts: LinuxFacts) -> None:
        self._facts = facts

    def reboot_state(self, transport: Transport) -> RebootState:
        """reboot-required files, needrestart, and the running vs installed kernels."""
        sections = self._facts.ensure(transport)
        signals = reboot_signals(sections)
        kernels = transport.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n",
                                 "linux-image-*"], timeout=60)
        installed = [line.split()[0].removeprefix("linux-image-")
                     for line in kernels.stdout.splitlines()
                     if line.endswith("install ok installed")
                     and re.match(r"linux-image-\d", line)]
        running = self._facts.running_kernel
        if installed and running:
            signals.append(signal_from_kernel(running, installed))
        state = combine_reboot_signals(signals)
        return RebootState(state.required, state.reasons)


_CHANGELOG_SECTION = re.compile(r"^@@pd:([a-z0-9][a-z0-9+.-]*)@@$", re.MULTILINE)


def _changelog_sections(text: str) -> dict[str, str]:
    parts = _CHANGELOG_SECTION.split(text)
    return {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)
            if name != "end" and body.strip() and body.strip() != "@@pd-absent@@"}


def _script(name: str) -> str:
    return resources.files("app.drivers").joinpath(f"scripts/{name}").read_text(
        encoding="utf-8")


def _tail(text: str, limit: int = 300) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:])[-limit:] or "no output"
