"""The apt driver (Debian, Ubuntu and derivatives): installed packages, missing updates,
security classification and pending-reboot state.

Commands that are parsed run with ``LANG=C LC_ALL=C`` (the transport adds it);
``apt-get`` (stable CLI) is used rather than ``apt``; the simulation includes phased
updates so pilot and production see the same versions (tech-notes §0.6, §1.1).
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace

from app.core.assessment import LookupStats
from app.core.changelogs import ChangelogInfo, ChangelogKey
from app.core.models import Classification
from app.drivers.advisories import TrackerFinding, lookup, release_keys, update_key
from app.drivers.base import (
    DriverError,
    InstalledPackage,
    RebootState,
    Transport,
    Update,
)
from app.drivers.changelogs import (
    HIGH_URGENCIES,
    ChangelogBroker,
    FetchGroup,
    fetch_changelogs,
    relevant,
)
from app.drivers.linux import LinuxFacts, reboot_signals
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt import (
    DPKG_QUERY_FORMAT,
    AptSummaryMismatchError,
    parse_apt_simulation,
    parse_dpkg_query,
)
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version
from app.drivers.parsers.reboot import combine_reboot_signals, signal_from_kernel

#: Changelogs read from one host in one assessment (the rest: on the next ones).
MAX_CHANGELOG_FETCHES = 300
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
#: How long the changelog lookup waits for the inventory running beside it (seconds).
INVENTORY_WAIT = 300.0
#: How long apt waits for the dpkg lock before giving up (seconds).
LOCK_TIMEOUT = 10
_ARCH = re.compile(r"[a-z0-9][a-z0-9-]*")
_LOCK_HOLDER = re.compile(r"held by process (\d+) \(([^)]*)\)")


# Usage: sh -c "$this" pd-lockprobe TIMEOUT. Prints "pd-lock-free" when no lock in
# /proc/locks is on the inode of one of dpkg's lock files (any device: overlay and
# container file systems may show another device number); otherwise runs apt-get check,
# which waits up to TIMEOUT seconds for the lock and names its holder.
_LOCK_PROBE = r"""
inodes=$(stat -c %i /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock 2>/dev/null)
if [ -z "$inodes" ] || [ ! -r /proc/locks ]; then
  exec apt-get check -q -o "DPkg::Lock::Timeout=$1"
fi
if awk -v want=" $(echo $inodes) " '
    { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]+:[0-9a-f]+:[0-9]+$/) {
        split($i, p, ":"); if (index(want, " " p[3] " ")) found = 1 } }
    END { exit !found }' /proc/locks; then
  exec apt-get check -q -o "DPkg::Lock::Timeout=$1"
fi
echo pd-lock-free
"""


def _lock_error(host: str, text: str) -> DriverError | None:
    if "Could not get lock" not in text and "Unable to acquire the dpkg" not in text:
        return None
    holder = _LOCK_HOLDER.search(text)
    who = f" by process {holder.group(1)} ({holder.group(2)})" if holder else ""
    return DriverError(host, "apt_lock",
                       f"dpkg is locked{who}: another package operation is running; "
                       "try again when it has finished")


class AptUpdates:
    #: The host's inventory, updates and reboot state may be read at the same time
    #: (registry.assess_host); ``classify`` waits for the inventory's source names.
    concurrent_reads = True

    """Missing updates from an ``apt-get -s dist-upgrade`` simulation, classified from
    their archive and their own changelogs.

    ``warnings`` (reset by each :meth:`missing`) carries what degraded the result without
    making it wrong: apt-get update's ``W:``/``E:`` lines (stale lists), simulation lines
    the parser did not understand while apt's summary still agreed, deferred changelogs.

    Args:
        inventory: this host's inventory capability (its source-package names key the
            changelog cache: binaries of one source share one changelog).
        changelogs: the run's shared changelog broker (None: a private one, no cache).
    """

    def __init__(self, inventory: DpkgInventory | None = None,
                 changelogs: ChangelogBroker | None = None,
                 facts: LinuxFacts | None = None) -> None:
        self.inventory = inventory
        self.changelogs = changelogs
        self.facts = facts  # the host's release keys the security trackers' data
        self.lookups: LookupStats | None = None
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

        A lock on dpkg's lock files shows in ``/proc/locks`` (by inode): when none does,
        that is the answer (no apt run: building apt's cache costs about a second on a
        real host); when one might, ``apt-get check`` decides and names the holder.

        Raises:
            DriverError: kind ``apt_lock``.
        """
        result = transport.run(
            ["sh", "-c", _LOCK_PROBE, "pd-lockprobe", str(LOCK_TIMEOUT)],
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
        return self.classify(transport, updates)

    def classify(self, transport: Transport, updates: list[Update]) -> list[Update]:
        """Classify each update from every signal and record the evidence: the archive it
        comes from (security archive or not) and its own changelog entries newer than the
        installed version (CVE ids, security wording, urgency). An update whose changelog
        names CVE ids or a security fix is a security update whatever its archive is
        called.

        Changelogs come from the broker (the site's cache first; what is missing is read
        from this host in one command, each (source, version) once per site). At most
        :data:`MAX_CHANGELOG_FETCHES` are read per assessment, security-archive updates
        first; the rest are read by the next assessments.
        """
        if self.inventory is not None and self.inventory.asked:
            # The inventory may be running beside this (registry.assess_host): wait for
            # its source-package names, which key the cache.
            self.inventory.answered.wait(INVENTORY_WAIT)
        sources = self.inventory.sources if self.inventory is not None else {}
        broker = self.changelogs or ChangelogBroker()
        # The security trackers first: an update they answer needs no changelog.
        tracked = lookup(broker.advisories, release_keys(self.facts), updates, sources)
        broker.count_tracked(len(tracked))
        groups: dict[ChangelogKey, list[str]] = {}
        order = sorted((u for u in updates if u.installed_version
                        and update_key(u) not in tracked),
                       key=lambda u: u.classification is not Classification.SECURITY)
        for u in order:
            key = ChangelogKey(sources.get(u.package) or u.package, u.candidate_version)
            # Arch-qualified: a foreign-architecture package (libc6:i386 alone) is found.
            arch = f":{u.arch}" if _ARCH.fullmatch(u.arch) and u.arch != "all" else ""
            pin = f"{u.package}{arch}={u.candidate_version}"
            if pin not in groups.setdefault(key, []):
                groups[key].append(pin)

        def fetch(keys: list[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
            return fetch_changelogs(transport, [FetchGroup(k, tuple(groups[k])) for k in keys])

        found, stats = broker.lookup(groups, fetch, limit=MAX_CHANGELOG_FETCHES)
        self.lookups = stats
        if stats.deferred:
            self.warnings.append(f"{stats.deferred} changelog(s) not read yet (at most "
                                 f"{MAX_CHANGELOG_FETCHES} per assessment): their CVE ids "
                                 "come with the next assessments")
        out = []
        for u in updates:
            info = found.get(ChangelogKey(sources.get(u.package) or u.package,
                                          u.candidate_version))
            out.append(_classified(u, info, tracked.get(update_key(u))))
        return out


def _classified(update: Update, info: ChangelogInfo | None,
                tracker: TrackerFinding | None = None) -> Update:
    archive_security = update.classification is Classification.SECURITY
    evidence = [f"{'security archive' if archive_security else 'archive'} "
                f"{update.source or '(unknown)'}"]
    if tracker is not None:  # asked first; its update's changelog was not read
        evidence.insert(0, tracker.evidence())
        return replace(update, cves=tracker.cves, evidence=tuple(evidence),
                       classification=Classification.SECURITY)
    cves: tuple[str, ...] = ()
    changelog_security = False
    if info is not None and update.installed_version:
        finding = relevant(info, update.installed_version)
        cves = finding.cves
        if cves:
            shown = ", ".join(cves[:5]) + (f" (+{len(cves) - 5} more)" if len(cves) > 5 else "")
            evidence.append(f"changelog names {shown}")
        if finding.security:
            evidence.append("changelog mentions a security fix")
        if finding.urgency in HIGH_URGENCIES:
            evidence.append(f"changelog urgency={finding.urgency}")
        changelog_security = bool(cves) or finding.security
    security = archive_security or changelog_security
    return replace(update, cves=cves or update.cves, evidence=tuple(evidence),
                   classification=Classification.SECURITY if security
                   else update.classification)


class DpkgInventory:
    """Installed packages from the dpkg database (the last answer's binary → source
    package names are kept in ``sources``)."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self.asked = False
        self.answered = threading.Event()  # set when installed() has finished, either way

    def installed(self, transport: Transport) -> list[InstalledPackage]:
        """Fully installed packages (``ii``/``hi``).

        Raises:
            DriverError: kind ``parse_failed`` or ``dpkg_failed``.
        """
        self.asked = True
        try:
            return self._installed(transport)
        finally:
            self.answered.set()

    def _installed(self, transport: Transport) -> list[InstalledPackage]:
        result = transport.run(["dpkg-query", "-W", f"-f={DPKG_QUERY_FORMAT}"], timeout=120)
        if result.exit_code != 0:
            raise DriverError(transport.host, "dpkg_failed",
                              f"dpkg-query failed: {_tail(result.stderr)}")
        try:
            inventory = parse_dpkg_query(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed",
                              f"dpkg-query output was not understood: {exc}") from None
        installed = [InstalledPackage(p.name, p.version, p.arch, p.source_name)
                     for p in inventory.installed]
        self.sources = {p.name: p.source for p in installed if p.source}
        return installed


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


def _tail(text: str, limit: int = 300) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:])[-limit:] or "no output"
