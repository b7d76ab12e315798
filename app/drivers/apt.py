"""The apt driver (Debian, Ubuntu and derivatives): installed packages, missing updates,
security classification and pending-reboot state.

Commands that are parsed run with ``LANG=C LC_ALL=C`` (the transport adds it);
``apt-get`` (stable CLI) is used rather than ``apt``; the simulation includes phased
updates so pilot and production see the same versions (tech-notes §0.6, §1.1).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from app.core.assessment import LookupStats
from app.core.changelogs import ChangelogInfo, ChangelogKey
from app.core.models import Classification
from app.drivers.advisories import TrackerFinding, lookup, release_keys, update_key
from app.drivers.apt_state import (
    CACHE_FUNCTION,
    STATE_FUNCTION,
    STATE_KEY,
    AptState,
    split_state,
)
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

log = logging.getLogger(__name__)

#: Changelogs read from one host in one assessment (the rest: on the next ones).
MAX_CHANGELOG_FETCHES = 300
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
#: How long the changelog lookup waits for the inventory running beside it (seconds).
INVENTORY_WAIT = 300.0
#: How long apt waits for the dpkg lock before giving up (seconds).
LOCK_TIMEOUT = 10
_NO_ARCHIVES = "/nonexistent/patchdesk-no-archives/"
_ARCH = re.compile(r"[a-z0-9][a-z0-9-]*")
_LOCK_HOLDER = re.compile(r"held by process (\d+) \(([^)]*)\)")


# pd_lockprobe TIMEOUT: prints "pd-lock-free" when no lock in /proc/locks is on the inode
# of one of dpkg's lock files (any device: overlay and container file systems may show
# another device number); otherwise runs apt-get check, which waits up to TIMEOUT seconds
# for the lock and names its holder (and fails when it is still held).
_LOCK_FUNCTION = r"""
pd_lockprobe() {
  inodes=$(stat -c %i /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock 2>/dev/null)
  if [ -z "$inodes" ] || [ ! -r /proc/locks ]; then
    apt-get check -q -o "DPkg::Lock::Timeout=$1" || return $?
  elif awk -v want=" $(echo $inodes) " '
      { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]+:[0-9a-f]+:[0-9]+$/) {
          split($i, p, ":"); if (index(want, " " p[3] " ")) found = 1 } }
      END { exit !found }' /proc/locks; then
    apt-get check -q -o "DPkg::Lock::Timeout=$1" || return $?
  else
    echo pd-lock-free
  fi
  echo @@pd-lock-checked
}
"""
_LOCK_CHECKED = "@@pd-lock-checked"
#: The lock probe as a shell function (``pd_lockprobe TIMEOUT``), for composed scripts.
LOCK_FUNCTION = _LOCK_FUNCTION
# Usage: sh -c "$this" pd-lockprobe TIMEOUT: the lock probe, then (the lock being free)
# the package state's fingerprint (apt_state.STATE_FUNCTION).
_LOCK_PROBE = STATE_FUNCTION + _LOCK_FUNCTION + r"""
pd_lockprobe "$1" || exit $?
pd_state
"""
# Usage: sh -c "$this" pd-simulate APT-GET-ARGS... : apt-get's simulation, then (when it
# succeeded) the package state's fingerprint, to pair the state with this simulation.
# As "pd-apt", apt-get alone. Both with PatchDesk's apt caches where apt keeps none.
_SIMULATE = STATE_FUNCTION + CACHE_FUNCTION + r"""
# shellcheck disable=SC2046
apt-get $(pd_cache) "$@"
rc=$?
[ "$rc" -eq 0 ] && [ "$0" = pd-simulate ] && pd_state
exit "$rc"
"""
# Usage: sh -c "$this" pd-update TIMEOUT APT-GET-ARGS... (as root): apt-get update,
# writing PatchDesk's apt caches where apt keeps none (the later commands read them),
# then the lock probe and the package state's fingerprint (one round trip for the three).
_UPDATE = CACHE_FUNCTION + STATE_FUNCTION + _LOCK_FUNCTION + r"""
timeout=$1; shift
# shellcheck disable=SC2046
apt-get $(pd_cache) "$@" || exit $?
pd_lockprobe "$timeout" || exit $?
pd_state
"""
_SIMULATION_ARGS = ("-s", "-o", "APT::Get::Always-Include-Phased-Updates=true",
                    "-o", "Debug::NoLocking=1", "dist-upgrade")


def lock_error(host: str, text: str) -> DriverError | None:
    """The ``apt_lock`` error that apt's output shows (None: not locked)."""
    return _lock_error(host, text)


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
        #: The state stored by this host's previous assessment (see :meth:`reuse_from`).
        self.previous: AptState | None = None
        #: This assessment's state, for the next one (None: nothing to store).
        self.state: AptState | None = None
        self._early: _Early | None = None
        #: ``apt-get update`` already started (:func:`start_refresh`): :meth:`missing`
        #: takes its outcome instead of refreshing again.
        self.early_refresh: Future[Refreshed] | None = None

    def reuse_from(self, details: dict[str, Any]) -> None:
        """Take the previous assessment's stored state from its ``facts.details`` (a
        missing or damaged one is ignored: apt simulates)."""
        self.previous = AptState.from_details(details.get(STATE_KEY))

    def stored_details(self) -> dict[str, Any]:
        """What this assessment adds to the facts' details: its state, when known."""
        stored = self.state.to_details() if self.state is not None else None
        return {STATE_KEY: stored} if stored else {}

    def refresh(self, transport: Transport) -> Refreshed:
        """``apt-get update``, then (same command) the lock probe and the package state's
        fingerprint; returns apt's warnings (unreachable mirrors...), whether the lock
        probe ran and the fingerprint.

        Raises:
            DriverError: kinds ``apt_lock``, ``disk_full`` or ``apt_update_failed``.
        """
        result = transport.run(
            ["sh", "-c", _UPDATE, "pd-update", str(LOCK_TIMEOUT), "-q", "update", "-o",
             f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"], sudo=True, timeout=300, env=NONINTERACTIVE)
        text = result.stdout + result.stderr
        lock = _lock_error(transport.host, text)
        if lock:
            raise lock
        full = [line for line in text.splitlines() if "No space left on device" in line]
        if full:  # also when apt only warns and exits 0: no or old lists are not a result
            raise DriverError(transport.host, "disk_full",
                              "apt-get update could not store the package lists (No space "
                              f"left on device): {_tail(full[0], 200)}; free space on the "
                              "host and assess it again")
        if result.exit_code != 0:
            raise DriverError(transport.host, "apt_update_failed",
                              f"apt-get update failed: {_tail(result.stderr or result.stdout)}")
        checked = _LOCK_CHECKED in result.stdout.splitlines()
        return Refreshed([line for line in text.splitlines() if line.startswith(("W:", "E:"))],
                         checked, split_state(result.stdout)[1] if checked else None)

    def check_lock(self, transport: Transport) -> str | None:
        """Fail when another package operation holds dpkg's lock (its state is in flux);
        otherwise return the package state's fingerprint (None: the host gave none).

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
        return split_state(result.stdout)[1] if result.exit_code == 0 else None

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Upgrades of installed packages apt would make, with their origin as evidence.

        When the package state's fingerprint equals the one stored by this host's
        previous assessment (:attr:`previous`), that assessment's simulation is parsed
        again instead of simulating (a warning says since when the state is unchanged);
        otherwise apt simulates, while the changelogs of the upgrades it will list are
        read beside it (:meth:`_prefetch`). :attr:`state` is what the next assessment
        may reuse.

        Raises:
            DriverError: ``apt_lock``, ``apt_update_failed`` or ``parse_failed``.
        """
        self.warnings = []
        self.state = None
        self._early = None
        self.changelogs = self.changelogs or ChangelogBroker()
        started, self.early_refresh = self.early_refresh, None
        refreshed = started.result() if started is not None else (
            self.refresh(transport) if refresh else None)
        if refreshed is not None:
            self.warnings.extend(f"apt-get update: {w}" for w in refreshed.warnings)
        fingerprint = refreshed.fingerprint if refreshed is not None and \
            refreshed.lock_checked else self.check_lock(transport)
        previous = self.previous
        if fingerprint is not None and previous is not None \
                and previous.fingerprint == fingerprint:
            text = previous.simulation
            self.state = previous
            self.warnings.append(
                f"apt: package state unchanged since "
                f"{previous.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (installed packages, "
                "lists, pins, sources and holds): that assessment's simulation was reused")
        else:
            since = datetime.now(UTC)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apt-prefetch") as pool:
                early = pool.submit(self._prefetch, transport)
                result = transport.run(["sh", "-c", _SIMULATE, "pd-simulate",
                                        *_SIMULATION_ARGS], timeout=180, env=NONINTERACTIVE)
                self._early = early.result()
            if result.exit_code != 0:
                raise DriverError(transport.host, "apt_failed",
                                  f"apt-get -s dist-upgrade failed: {_tail(result.stderr)}")
            text, after = split_state(result.stdout)
            if fingerprint is not None and after == fingerprint:
                self.state = AptState(fingerprint, since, text)
        return self._updates(transport, text)

    def _updates(self, transport: Transport, text: str) -> list[Update]:
        """Parse apt's simulation output (fresh or reused) into classified updates."""
        try:
            simulation = parse_apt_simulation(text)
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

    def _prefetch(self, transport: Transport) -> _Early | None:
        """While apt simulates: the changelogs of the upgrades it will list, from apt's
        download list of the same dist-upgrade (``--print-uris``: names, versions and
        architectures of what it would fetch), through the run's broker. None when that
        list cannot be had or is longer than one assessment's fetch limit (then
        :meth:`classify` reads them in order of importance after the simulation)."""
        try:
            # An archive directory that does not exist: .debs already in apt's own
            # cache are listed too.
            result = transport.run(["sh", "-c", _SIMULATE, "pd-apt", "-qq", "--print-uris",
                                    "-o", f"Dir::Cache::Archives={_NO_ARCHIVES}",
                                    *_SIMULATION_ARGS[1:]], timeout=180, env=NONINTERACTIVE)
            if result.exit_code != 0:
                return None
            if self.inventory is not None and self.inventory.asked:
                self.inventory.answered.wait(INVENTORY_WAIT)
            sources = self.inventory.sources if self.inventory is not None else {}
            groups: dict[ChangelogKey, list[str]] = {}
            for name, version, arch in _download_list(result.stdout):
                if name not in sources:
                    continue  # not installed: a new package has no "newer than" entries
                key = ChangelogKey(sources[name], version)
                pin = f"{name}{f':{arch}' if arch != 'all' else ''}={version}"
                if pin not in groups.setdefault(key, []):
                    groups[key].append(pin)
            advisories = self.changelogs.advisories if self.changelogs is not None else None
            if advisories is not None and groups:
                # Source packages the trackers have fixes for are left to classify(),
                # which asks the trackers first and reads a changelog only where they
                # do not answer.
                known = advisories.fixes(release_keys(self.facts),
                                         sorted({k.package for k in groups}))
                groups = {k: v for k, v in groups.items() if not known.get(k.package)}
            if not groups or len(groups) > MAX_CHANGELOG_FETCHES:
                return None
            found, stats = self._lookup(transport, groups)
            return _Early(frozenset(groups), found, stats)
        except Exception:  # the classification after the simulation reads them instead
            log.warning("%s: reading changelogs beside apt's simulation failed",
                        transport.host, exc_info=True)
            return None

    def _lookup(self, transport: Transport, groups: dict[ChangelogKey, list[str]]
                ) -> tuple[dict[ChangelogKey, ChangelogInfo], LookupStats]:
        broker = self.changelogs or ChangelogBroker()

        def fetch(keys: list[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
            return fetch_changelogs(transport, [FetchGroup(k, tuple(groups[k])) for k in keys])

        return broker.lookup(groups, fetch, limit=MAX_CHANGELOG_FETCHES)

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
        early, self._early = self._early, None
        if early is not None:  # read beside the simulation: the rest only
            # (what the trackers answered is not taken from it: tracker evidence wins)
            early = _Early(early.keys, {k: v for k, v in early.found.items() if k in groups},
                           early.stats)
            rest = {k: v for k, v in groups.items() if k not in early.keys}
            found, stats = self._lookup(transport, rest) if rest else ({}, LookupStats())
            found = {**early.found, **found}
            stats = LookupStats(stats.cached + early.stats.cached,
                                stats.fetched + early.stats.fetched,
                                stats.failed + early.stats.failed,
                                stats.deferred + early.stats.deferred,
                                stats.seconds + early.stats.seconds)
        else:
            found, stats = self._lookup(transport, groups)
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


def start_refresh(transport: Transport, previous: Mapping[str, Any] | None
                  ) -> Future[Refreshed] | None:
    """Start ``apt-get update`` now, on a thread, when the host's previous assessment was
    an apt one (its details hold an apt state): it then runs beside the facts script
    instead of after it. None otherwise. The future gives what :meth:`AptUpdates.refresh`
    returns or raises; a host that is no longer an apt host ignores it."""
    if not previous or STATE_KEY not in previous:
        return None
    future: Future[Refreshed] = Future()

    def work() -> None:
        try:
            future.set_result(AptUpdates().refresh(transport))
        except BaseException as exc:  # handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=work, name="apt-refresh", daemon=True).start()
    return future


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What ``apt-get update`` and the checks run with it answered."""

    warnings: list[str]
    lock_checked: bool  # the dpkg-lock probe ran after the update and found it free
    fingerprint: str | None  # the package state after the update (None: not given)


@dataclass(frozen=True, slots=True)
class _Early:
    """Changelog lookups made while apt simulated."""

    keys: frozenset[ChangelogKey]
    found: dict[ChangelogKey, ChangelogInfo]
    stats: LookupStats


def _download_list(text: str) -> list[tuple[str, str, str]]:
    """(name, version, architecture) of each .deb in ``apt-get --print-uris`` output
    (``'URI' name_version_arch.deb size hash``; the epoch's colon is ``%3a``). Lines that
    are not plain package names and versions are skipped (remote output is untrusted)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or not fields[1].endswith(".deb"):
            continue
        parts = fields[1][:-4].split("_")
        if len(parts) != 3:
            continue
        name, version, arch = parts[0], unquote(parts[1]), parts[2]
        try:
            ensure_package_name(name, "deb")
            ensure_version(version, "deb")
        except UnsafeValueError:
            continue
        if _ARCH.fullmatch(arch):
            out.append((name, version, arch))
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
