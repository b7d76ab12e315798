"""The dnf driver (RHEL, Rocky, Alma, Fedora, CentOS Stream; dnf4, dnf5, yum on EL7):
installed packages, missing updates with advisories, and pending-reboot state.

Tested on captured outputs (dnf's own CI expectations, public bug reports; see
tests/data/dnf/*/NOTES.md) and against the real dnf 4.14 / rpm 4.18 of the test lab's
"rocky" host (an rpm-md repository with updateinfo; docs/platforms.md), never against a
real RHEL/Rocky/Fedora host: dnf5's and yum's spellings, dnf4 waiting for a held lock
(until the command's timeout) and the output of real RHEL advisory repositories are
unverified.

Commands (tech-notes §1.2): ``makecache`` to refresh; ``check-update`` (100 = updates,
0 = none, 1 = error) for the list; ``updateinfo list --updates`` and ``--with-cve`` for
advisory type, severity and CVEs (repositories without updateinfo, such as CentOS 7 and
CentOS Stream, only give a warning); ``rpm -qa`` for installed versions;
``needs-restarting -r`` plus the running vs installed kernel for the reboot state. All
of them run as root so they share the system metadata cache (dnf keeps a separate cache
per user); without ``refresh`` they run cache-only (``-C``) and never touch the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.core.models import Classification, Severity
from app.core.patchgroups import worst_severity
from app.drivers.base import (
    Driver,
    DriverError,
    RebootState,
    Transport,
    Update,
)
from app.drivers.linux import LinuxFacts, reboot_signals
from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import (
    DnfPackage,
    UpdateinfoRow,
    parse_check_update,
    parse_updateinfo_list,
)
from app.drivers.parsers.quote import UnsafeValueError, ensure_advisory_id, ensure_cve_id
from app.drivers.parsers.reboot import (
    RebootSignal,
    combine_reboot_signals,
    signal_from_needs_restarting,
)
from app.drivers.rpm import (
    RpmInventory,
    installed_kernels,
    kernel_signal,
    rpm_lock_error,
    safe_rpm,
    tail,
)


@dataclass(frozen=True)
class DnfCommands:
    """The argv of each step for one front end (data, not branches: Ansible's habit)."""

    refresh: tuple[str, ...]
    check_update: tuple[str, ...]
    updateinfo: tuple[str, ...]
    updateinfo_cves: tuple[str, ...]
    needs_restarting: tuple[str, ...]
    cache_only: tuple[str, ...] = ("-C",)


#: dnf4 and dnf5 share the commands (dnf5 keeps ``check-update`` and ``updateinfo`` as
#: aliases of ``check-upgrade`` and ``advisory``; dnf5-advisory(8)). dnf4 and yum (EL7)
#: wait as long as another process holds their lock (real dnf 4.14 in the test lab: silently
#: under -q, until the command's timeout) unless told to exit (dnf.conf(5) / yum.conf(5)
#: ``exit_on_lock``): then they exit 200 at once, naming the holder on stderr
#: ("metadata already locked by 15"). yum has the yum-3 spellings and
#: ``needs-restarting`` from yum-utils.
EXIT_ON_LOCK = "--setopt=exit_on_lock=True"
_DNF5 = DnfCommands(
    refresh=("dnf", "-q", "makecache"),
    check_update=("dnf", "check-update"),
    updateinfo=("dnf", "-q", "updateinfo", "list", "--updates"),
    updateinfo_cves=("dnf", "-q", "updateinfo", "list", "--updates", "--with-cve"),
    needs_restarting=("dnf", "-q", "needs-restarting", "-r"),
)
COMMANDS: dict[str, DnfCommands] = {
    "dnf": DnfCommands(
        refresh=(*_DNF5.refresh, EXIT_ON_LOCK),
        check_update=(*_DNF5.check_update, EXIT_ON_LOCK),
        updateinfo=(*_DNF5.updateinfo, EXIT_ON_LOCK),
        updateinfo_cves=(*_DNF5.updateinfo_cves, EXIT_ON_LOCK),
        needs_restarting=(*_DNF5.needs_restarting, EXIT_ON_LOCK),
    ),
    "dnf5": _DNF5,
    "yum": DnfCommands(
        refresh=("yum", "-q", "--setopt=exit_on_lock=True", "makecache", "fast"),
        check_update=("yum", "--setopt=exit_on_lock=True", "check-update"),
        updateinfo=("yum", "-q", "--setopt=exit_on_lock=True", "updateinfo", "list",
                    "updates"),
        updateinfo_cves=("yum", "-q", "--setopt=exit_on_lock=True", "updateinfo", "list",
                         "updates", "cves"),
        needs_restarting=("needs-restarting", "-r"),
    ),
}
REFRESH_TIMEOUT = 600
QUERY_TIMEOUT = 300
#: Advisory severity word → our scale (Red Hat's four levels; dnf5 prints them too).
SEVERITIES: dict[str, Severity] = {
    "Critical": Severity.CRITICAL, "Important": Severity.IMPORTANT,
    "Moderate": Severity.MODERATE, "Low": Severity.LOW,
}
#: Advisory type → classification, most important first (the first match wins).
KINDS: tuple[tuple[str, Classification], ...] = (
    ("security", Classification.SECURITY),
    ("bugfix", Classification.BUGFIX),
    ("enhancement", Classification.ENHANCEMENT),
    ("newpackage", Classification.ENHANCEMENT),
)
# dnf5 titles the first column "CVE" under --with-cve (ci-dnf-stack updateinfo.feature);
# the shared parser only knows the "Name" title, so the header is renamed before parsing.
_DNF5_CVE_HEADER = re.compile(r"^CVE(?=\s+Type\s+Severity\s+Package\s+Issued\s*$)", re.M)
# yum 3 ends an updateinfo listing with this line (not an advisory row).
_YUM_TRAILER = re.compile(r"^updateinfo list done\s*$", re.M)
NO_UPDATEINFO_WARNING = (
    "the repositories publish no advisory data (updateinfo): updates cannot be classified "
    "as security fixes on this host (CentOS 7 and CentOS Stream repositories have none)")


class DnfTool:
    """Which front end the host has (dnf, dnf5 behind ``dnf``, or yum), asked once."""

    def __init__(self) -> None:
        self._name: str | None = None
        self.dnf5 = False

    def commands(self, transport: Transport) -> DnfCommands:
        """The command table of the host's front end.

        Raises:
            DriverError: kind ``no_package_manager`` when neither dnf nor yum answers.
        """
        if self._name is None:
            for name in ("dnf", "yum"):
                result = transport.run([name, "--version"], timeout=60)
                if result.exit_code == 0 and result.stdout.strip():
                    self._name = name
                    # dnf5 prints "dnf5 version 5.x"; dnf4 prints a bare "4.x.y".
                    self.dnf5 = result.stdout.lstrip().startswith("dnf5")
                    break
            else:
                raise DriverError(transport.host, "no_package_manager",
                                  "neither dnf nor yum runs on this host")
        return COMMANDS["dnf5" if self.dnf5 else self._name]


class DnfUpdates:
    """Missing updates from ``check-update``, classified by ``updateinfo``."""

    def __init__(self, inventory: RpmInventory, tool: DnfTool | None = None) -> None:
        self._inventory = inventory
        self._tool = tool or DnfTool()
        self.warnings: list[str] = []

    def refresh(self, transport: Transport) -> None:
        """Download fresh repository metadata (``makecache``) as root.

        Raises:
            DriverError: kinds ``rpm_lock`` or ``dnf_refresh_failed``.
        """
        cmds = self._tool.commands(transport)
        result = transport.run(list(cmds.refresh), sudo=True, timeout=REFRESH_TIMEOUT)
        text = result.stdout + result.stderr
        lock = rpm_lock_error(transport.host, text, result.exit_code)
        if lock:
            raise lock
        if result.exit_code != 0:
            raise DriverError(transport.host, "dnf_refresh_failed",
                              f"{cmds.refresh[0]} makecache failed: {tail(text)}")

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Every newer version ``check-update`` lists, with advisory data where published.

        Raises:
            DriverError: ``rpm_lock``, ``dnf_failed``, ``dnf_refresh_failed``,
                ``no_package_manager`` or ``parse_failed``.
        """
        self.warnings = []
        if refresh:
            self.refresh(transport)
        cmds = self._tool.commands(transport)
        offline = () if refresh else cmds.cache_only
        argv = [*cmds.check_update[:1], *offline, *cmds.check_update[1:]]
        result = transport.run(argv, sudo=True, timeout=QUERY_TIMEOUT)
        lock = rpm_lock_error(transport.host, result.stdout + result.stderr, result.exit_code)
        if lock:
            raise lock
        if result.exit_code not in (0, 100):
            raise DriverError(transport.host, "dnf_failed",
                              f"{argv[0]} check-update failed (exit {result.exit_code}): "
                              f"{tail(result.stderr or result.stdout)}")
        try:
            listing = parse_check_update(result.stdout, result.exit_code)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed",
                              f"{argv[0]} check-update output was not understood: {exc}"
                              ) from None
        skipped = skipped_repositories(result.stderr)
        if skipped:
            self.warnings.append(
                f"{argv[0]} skipped repositories whose metadata could not be downloaded: "
                f"{', '.join(skipped)}; updates from them are not listed")
        packages = _with_obsoleters(listing.updates, (o.package for o in listing.obsoletes))
        for p in packages:
            safe_rpm(transport.host, f"{argv[0]} check-update", p.name, p.evr, p.arch)
        if not packages:
            return []
        advisories, cves = self._advisories(transport, cmds, offline)
        if not advisories:
            self.warnings.append(NO_UPDATEINFO_WARNING)
        return [self._update(transport, p, advisories, cves) for p in packages]

    # -- advisories ---------------------------------------------------------------------
    def _updateinfo(self, transport: Transport, argv: Sequence[str],
                    offline: Sequence[str]) -> tuple[UpdateinfoRow, ...] | None:
        """Rows of one updateinfo listing; None (with a warning) when the command fails."""
        full = [argv[0], *offline, *argv[1:]]
        result = transport.run(full, sudo=True, timeout=QUERY_TIMEOUT)
        lock = rpm_lock_error(transport.host, result.stdout + result.stderr, result.exit_code)
        if lock:
            raise lock
        if result.exit_code != 0:
            self.warnings.append(f"{' '.join(full)} failed (exit {result.exit_code}): "
                                 f"{tail(result.stderr or result.stdout)}; advisory data "
                                 "is missing")
            return None
        text = _YUM_TRAILER.sub("", _DNF5_CVE_HEADER.sub("Name", result.stdout))
        try:
            return parse_updateinfo_list(text)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed",
                              f"{full[0]} updateinfo output was not understood: {exc}"
                              ) from None

    def _advisories(self, transport: Transport, cmds: DnfCommands, offline: Sequence[str]
                    ) -> tuple[dict[str, list[UpdateinfoRow]], dict[str, list[str]]]:
        """Advisory rows and CVE ids, each keyed by the ``name.arch`` they update."""
        rows = self._updateinfo(transport, cmds.updateinfo, offline) or ()
        advisories: dict[str, list[UpdateinfoRow]] = {}
        for row in rows:
            _safe_ref(transport.host, row, cve=False)
            advisories.setdefault(f"{row.package.name}.{row.package.arch}", []).append(row)
        cves: dict[str, list[str]] = {}
        if rows:
            for row in self._updateinfo(transport, cmds.updateinfo_cves, offline) or ():
                # The reference column also holds ids that are not CVE ids ("2999" in
                # dnf's own CI data): keep only real CVE ids.
                if row.is_cve:
                    _safe_ref(transport.host, row, cve=True)
                    key = f"{row.package.name}.{row.package.arch}"
                    cves.setdefault(key, [])
                    if row.ref not in cves[key]:
                        cves[key].append(row.ref)
        return advisories, cves

    def _update(self, transport: Transport, p: DnfPackage,
                advisories: dict[str, list[UpdateinfoRow]], cves: dict[str, list[str]]
                ) -> Update:
        rows = advisories.get(f"{p.name}.{p.arch}", [])
        kinds = {r.kind for r in rows}
        classification = next((c for kind, c in KINDS if kind in kinds), Classification.OTHER)
        severity = worst_severity(SEVERITIES.get(r.severity or "", Severity.UNKNOWN)
                                  for r in rows if r.kind == "security")
        return Update(
            package=p.name,
            installed_version=self._inventory.installed_version(transport, p.name, p.arch),
            candidate_version=p.evr,
            arch=p.arch,
            classification=classification,
            severity=severity,
            source=p.repo,
            cves=tuple(cves.get(f"{p.name}.{p.arch}", ())),
            advisories=tuple(dict.fromkeys(r.ref for r in rows)),
        )


# dnf4 with skip_if_unavailable=True (set in Debian's dnf.conf; on RHEL-family hosts an
# option of single repositories, the global default being False) goes on without a
# repository it cannot download and says so on stderr only (real dnf 4.14, lab capture):
# "Ignoring repositories: pdlab-gone". Exit code and stdout look like a complete answer.
_IGNORING = re.compile(r"^Ignoring repositories: (.+)$", re.M)
_REPO_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,100}", re.ASCII)


def skipped_repositories(stderr: str) -> list[str]:
    """Repository ids dnf says it ignored (ids that are not plain tokens are left out)."""
    found: list[str] = []
    for m in _IGNORING.finditer(stderr):
        for repo in re.split(r"[,\s]+", m.group(1)):
            if _REPO_ID.fullmatch(repo) and repo not in found:
                found.append(repo)
    return found


def _with_obsoleters(updates: Sequence[DnfPackage], obsoleters: Iterable[DnfPackage]
                     ) -> list[DnfPackage]:
    """Updates plus obsoleting packages not already listed (installed copies, ``@repo``,
    are not updates)."""
    seen = {(p.name, p.arch) for p in updates}
    out = list(updates)
    for p in obsoleters:
        if (p.name, p.arch) not in seen and not p.repo.startswith("@"):
            seen.add((p.name, p.arch))
            out.append(p)
    return out


def _safe_ref(host: str, row: UpdateinfoRow, *, cve: bool) -> None:
    try:
        (ensure_cve_id if cve else ensure_advisory_id)(row.ref)
    except UnsafeValueError as exc:
        raise DriverError(host, "parse_failed",
                          f"updateinfo listed an unsafe advisory id: {exc}") from None
    safe_rpm(host, "updateinfo", row.package.name, row.package.evr, row.package.arch)


class DnfReboot:
    """Pending-reboot state: ``needs-restarting -r`` (conclusive), the running vs
    installed ``kernel-core``/``kernel``, and the facts script's generic signals."""

    #: Kernel packages whose %{VERSION}-%{RELEASE}.%{ARCH} equals ``uname -r``.
    KERNEL_PACKAGES = ("kernel-core", "kernel")

    def __init__(self, facts: LinuxFacts, tool: DnfTool | None = None) -> None:
        self._facts = facts
        self._tool = tool or DnfTool()

    def reboot_state(self, transport: Transport) -> RebootState:
        """Combine every signal (see app.drivers.parsers.reboot)."""
        sections = self._facts.ensure(transport)
        signals = reboot_signals(sections, absent_file_counts=False)
        signals.append(self._needs_restarting(transport))
        kernel = kernel_signal(self._facts.running_kernel,
                               installed_kernels(transport, self.KERNEL_PACKAGES))
        if kernel is not None:
            signals.append(kernel)
        state = combine_reboot_signals(signals)
        return RebootState(state.required, state.reasons)

    def _needs_restarting(self, transport: Transport) -> RebootSignal:
        try:
            cmds = self._tool.commands(transport)
        except DriverError as exc:
            return RebootSignal("needs-restarting", None, str(exc))
        result = transport.run(list(cmds.needs_restarting), sudo=True, timeout=120)
        try:
            return signal_from_needs_restarting(result.stdout, result.exit_code)
        except ParseError:
            # Plugin not installed ("No such command: needs-restarting", exit 1) or the
            # yum-utils binary missing (127): no verdict from this source.
            output = tail(result.stderr or result.stdout)
            return RebootSignal("needs-restarting", None,
                                f"{' '.join(cmds.needs_restarting)} gave no verdict "
                                f"(exit {result.exit_code}: {output})")


def dnf_driver(facts: LinuxFacts) -> Driver:
    """The dnf driver for one host (its capabilities share the rpm inventory and tool)."""
    inventory = RpmInventory()
    tool = DnfTool()
    return Driver("dnf", facts=facts, inventory=inventory,
                  updates=DnfUpdates(inventory, tool), reboot=DnfReboot(facts, tool))
