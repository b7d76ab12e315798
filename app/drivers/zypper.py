"""The zypper driver (SLES, openSUSE Leap and Tumbleweed): installed packages, missing
package updates and patches, and pending-reboot state.

Tested on captured outputs (zypper XML from public test suites) and on the real zypper
1.14 of the test lab's "opensuse" host (an rpm-md repository with updateinfo; see
tests/data/zypper/*/NOTES.md and docs/platforms.md), never against a real SUSE host
with SUSE's own repositories.

Commands (tech-notes §1.3): ``zypper -n --gpg-auto-import-keys refresh`` as root; then,
without touching the network again (``--no-refresh``), ``--xmlout list-updates`` for the
package updates and ``--xmlout list-patches`` for the needed patches. zypper's XML for a
patch names no packages, so ``info -t patch <ids>`` (one call) says which packages each
needed patch updates (its Conflicts): those package updates carry the patch's category,
severity, CVEs and id. A needed patch that updates none of the listed packages (or when
zypper's info does not say) is reported as an update of its own (the unit ``zypper
patch`` installs). Exit codes follow the parser's EXIT_CODES: 100/101 are
information, 6 (no repositories) and 106 (repositories skipped) are warnings, 7 means
another process holds the ZYPP lock (``zypp_lock``).
"""

from __future__ import annotations

import dataclasses
import re

from app.core.models import Classification, Severity
from app.core.patchgroups import most_urgent_class, worst_severity
from app.drivers.base import Driver, DriverError, RebootState, Transport, Update
from app.drivers.linux import LinuxFacts, reboot_signals
from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import parse_evr
from app.drivers.parsers.quote import (
    UnsafeValueError,
    ensure_advisory_id,
    ensure_cve_id,
    ensure_rpm_arch,
    ensure_version,
)
from app.drivers.parsers.reboot import (
    RebootSignal,
    combine_reboot_signals,
    signal_from_zypper_needs_rebooting,
)
from app.drivers.parsers.zypper import (
    PatchTarget,
    ZypperUpdate,
    exit_code_meaning,
    parse_patch_info,
    parse_zypper_xml,
)
from app.drivers.rpm import (
    RpmInventory,
    compare_evr,
    installed_kernels,
    kernel_signal,
    safe_rpm,
    tail,
)

ZYPPER = ("zypper", "-n")
REFRESH = (*ZYPPER, "--gpg-auto-import-keys", "refresh")
LIST_UPDATES = (*ZYPPER, "--no-refresh", "--xmlout", "list-updates")
LIST_PATCHES = (*ZYPPER, "--no-refresh", "--xmlout", "list-patches")
PATCH_INFO = (*ZYPPER, "--no-refresh", "info", "-t", "patch")
NEEDS_REBOOTING = ("zypper", "needs-rebooting")
REFRESH_TIMEOUT = 600
QUERY_TIMEOUT = 300
#: Exit codes that end a listing normally (0, updates needed, security updates needed).
OK_CODES = frozenset({0, 100, 101})
#: Exit codes that leave a usable (possibly empty) answer but deserve a warning.
WARNING_CODES = frozenset({6, 106})
LOCKED = 7
# "System management is locked by the application with pid 1234 (zypper)."
_LOCK_TEXT = re.compile(r"System management is locked by the application with pid (\d+)"
                        r"(?: \(([^)]*)\))?")
#: Patch category → classification (SUSE's categories: security, recommended,
#: optional, feature, document, yast). zypper prints the repository's updateinfo type as
#: it is, so a repository that uses the yum/dnf types shows "bugfix" and "enhancement"
#: (real zypper 1.14 on an rpm-md repository made with modifyrepo_c, lab capture).
CATEGORIES: dict[str, Classification] = {
    "security": Classification.SECURITY,
    "recommended": Classification.BUGFIX,
    "bugfix": Classification.BUGFIX,
    "optional": Classification.ENHANCEMENT,
    "feature": Classification.ENHANCEMENT,
    "enhancement": Classification.ENHANCEMENT,
}
SEVERITIES: dict[str, Severity] = {
    "critical": Severity.CRITICAL, "important": Severity.IMPORTANT,
    "moderate": Severity.MODERATE, "low": Severity.LOW,
}


def _lock_error(host: str, text: str, exit_code: int) -> DriverError | None:
    m = _LOCK_TEXT.search(text)
    if exit_code != LOCKED and m is None:
        return None
    who = f" by process {m.group(1)}" + (f" ({m.group(2)})" if m.group(2) else "") if m else ""
    return DriverError(host, "zypp_lock",
                       f"zypper is locked{who}: another package operation is running; "
                       "try again when it has finished")


def _check_exit(host: str, step: str, result_code: int, text: str,
                warnings: list[str]) -> None:
    """Raise for an error exit code, note a warning one, pass the informational ones.

    Raises:
        DriverError: ``zypp_lock``, ``zypper_failed`` or ``parse_failed`` (unknown code).
    """
    lock = _lock_error(host, text, result_code)
    if lock:
        raise lock
    if result_code in OK_CODES:
        return
    try:
        name, meaning = exit_code_meaning(result_code)
    except ParseError:
        raise DriverError(host, "parse_failed",
                          f"{step} exited {result_code}, a code zypper does not define: "
                          f"{tail(text)}") from None
    if result_code in WARNING_CODES:
        warnings.append(f"{step}: {meaning} (ZYPPER_EXIT_{name})")
        return
    raise DriverError(host, "zypper_failed",
                      f"{step} failed: {meaning} (exit {result_code}): {tail(text)}")


class ZypperUpdates:
    """Package updates and needed patches from zypper's XML output."""

    def __init__(self, inventory: RpmInventory) -> None:
        self._inventory = inventory
        self.warnings: list[str] = []

    def refresh(self, transport: Transport) -> None:
        """Refresh every repository (importing new repository keys) as root.

        Raises:
            DriverError: ``zypp_lock`` or ``zypper_failed``.
        """
        result = transport.run(list(REFRESH), sudo=True, timeout=REFRESH_TIMEOUT)
        _check_exit(transport.host, "zypper refresh", result.exit_code,
                    result.stdout + result.stderr, self.warnings)

    def _listing(self, transport: Transport, argv: tuple[str, ...]) -> tuple[ZypperUpdate, ...]:
        step = f"zypper {argv[-1]}"
        result = transport.run(list(argv), sudo=True, timeout=QUERY_TIMEOUT)
        _check_exit(transport.host, step, result.exit_code, result.stdout + result.stderr,
                    self.warnings)
        if result.exit_code == 6 and not result.stdout.strip():
            return ()
        try:
            return parse_zypper_xml(result.stdout)
        except ParseError as exc:
            lock = _lock_error(transport.host, str(exc), result.exit_code)
            raise lock or DriverError(transport.host, "parse_failed",
                                      f"{step} output was not understood: {exc}") from None

    def missing(self, transport: Transport, *, refresh: bool = True) -> list[Update]:
        """Package updates (unclassified) and needed patches (classified).

        Raises:
            DriverError: ``zypp_lock``, ``zypper_failed``, ``rpm_failed`` or ``parse_failed``.
        """
        self.warnings = []
        if refresh:
            self.refresh(transport)
        # Package updates as zypper's solver would install them, each carrying the
        # classification, severity, CVEs and ids of the needed patches that update it
        # (zypper info -t patch: a patch's Conflicts name its packages). A needed patch is
        # listed on its own only when it updates none of the listed packages (e.g. one for
        # the package manager, or when zypper's info does not say).
        updates: list[Update] = []
        for u in self._listing(transport, LIST_UPDATES):
            if u.kind != "package":
                continue
            safe_rpm(transport.host, "zypper list-updates", u.name, u.edition, u.arch)
            installed = u.edition_old or self._inventory.installed_version(
                transport, u.name, u.arch)
            if u.edition_old:
                safe_rpm(transport.host, "zypper list-updates", u.name, u.edition_old)
            updates.append(Update(package=u.name, candidate_version=u.edition,
                                  installed_version=installed, arch=u.arch,
                                  source=u.repo or ""))
        patches = [self._patch(transport.host, p) for p in self._listing(transport, LIST_PATCHES)
                   if p.kind == "patch" and p.status in (None, "needed")]
        if not patches or not updates:
            return updates + patches
        targets = self._patch_targets(transport, [p.package for p in patches])
        folded: set[str] = set()
        classified: list[Update] = []
        for update in updates:
            covering = [p for p in patches
                        if any(_covers(t, update) for t in targets.get(p.package, ()))]
            folded.update(p.package for p in covering)
            classified.append(_with_patches(update, covering) if covering else update)
        return classified + [p for p in patches if p.package not in folded]

    def _patch_targets(self, transport: Transport, ids: list[str]
                       ) -> dict[str, tuple[PatchTarget, ...]]:
        """The packages each needed patch updates (``zypper info -t patch``); empty, with a
        warning, when zypper does not say (the patches are then listed on their own)."""
        argv = [*PATCH_INFO, *ids]
        result = transport.run(argv, sudo=True, timeout=QUERY_TIMEOUT)
        lock = _lock_error(transport.host, result.stdout + result.stderr, result.exit_code)
        if lock:
            raise lock
        try:
            if result.exit_code != 0:
                raise ParseError(f"exit {result.exit_code}: {tail(result.stderr or result.stdout)}")
            return parse_patch_info(result.stdout)
        except ParseError as exc:
            self.warnings.append(f"zypper info -t patch was not understood ({exc}); patches "
                                 "are listed on their own, their packages unclassified")
            return {}

    @staticmethod
    def _patch(host: str, p: ZypperUpdate) -> Update:
        # A patch's name is its updateinfo id: an advisory id, which may hold ":" (as
        # RHSA-style ids do, e.g. the lab's PDLAB-2024:0001), not a package name.
        try:
            ensure_advisory_id(p.name)
            ensure_version(p.edition, "rpm")
            ensure_rpm_arch(p.arch)
            cves = tuple(dict.fromkeys(ensure_cve_id(c) for c in p.cves))
        except UnsafeValueError as exc:
            raise DriverError(host, "parse_failed",
                              f"zypper list-patches reported an unsafe id: {exc}") from None
        return Update(
            package=p.name,
            candidate_version=p.edition,
            arch=p.arch,
            classification=CATEGORIES.get(p.category or "", Classification.OTHER),
            severity=SEVERITIES.get(p.severity or "", Severity.UNKNOWN),
            source=p.repo or "",
            cves=cves,
            advisories=(p.name,),
            reboot_required=p.restart,
        )




def _covers(target: PatchTarget, update: Update) -> bool:
    """True when the patch target is this package update (same name and arch, and the
    candidate is at least the patch's edition)."""
    if target.name != update.package or target.arch not in (None, update.arch):
        return False
    try:
        fixed, candidate = parse_evr(target.edition), parse_evr(update.candidate_version)
    except ParseError:
        return False
    return compare_evr((fixed[0] or 0, fixed[1], fixed[2]),
                       (candidate[0] or 0, candidate[1], candidate[2])) <= 0


def _with_patches(update: Update, patches: list[Update]) -> Update:
    """The package update classified by the patches that update it."""
    classification = most_urgent_class(p.classification for p in patches)
    severity = worst_severity(p.severity for p in patches
                              if p.classification is Classification.SECURITY)
    return dataclasses.replace(
        update, classification=classification, severity=severity,
        cves=tuple(dict.fromkeys(c for p in patches for c in p.cves)),
        advisories=tuple(dict.fromkeys(p.package for p in patches)),
        reboot_required=update.reboot_required or any(p.reboot_required for p in patches))


# SUSE kernels: rpm kernel-default 6.4.0-150600.23.7.1 runs as uname -r
# 6.4.0-150600.23.7-default (OBS appends a rebuild counter to the release; the flavour
# becomes a suffix). [U] derived from SUSE's naming, not from a captured host.
SUSE_KERNEL_QUERYFORMAT = r"%{NAME} %{VERSION}-%{RELEASE}\n"
SUSE_KERNEL_FLAVOURS = ("kernel-default",)


def suse_kernel_release(version_release: str, flavour: str = "default") -> str:
    """``6.4.0-150600.23.7.1`` → ``6.4.0-150600.23.7-default`` (see the comment above)."""
    head, _, _counter = version_release.rpartition(".")
    return f"{head or version_release}-{flavour}"


class ZypperReboot:
    """Pending-reboot state: ``zypper needs-rebooting`` (conclusive), the kernel when its
    release maps to the running one, and the facts script's generic signals."""

    def __init__(self, facts: LinuxFacts) -> None:
        self._facts = facts

    def reboot_state(self, transport: Transport) -> RebootState:
        """Combine every signal (see app.drivers.parsers.reboot)."""
        sections = self._facts.ensure(transport)
        signals = reboot_signals(sections, absent_file_counts=False)
        result = transport.run(list(NEEDS_REBOOTING), timeout=120)
        try:
            signals.append(signal_from_zypper_needs_rebooting(result.exit_code))
        except ParseError:
            # zypper < 1.14.15 has no needs-rebooting (exit 2): no verdict from it.
            signals.append(RebootSignal("zypper", None,
                                        f"zypper needs-rebooting gave no verdict (exit "
                                        f"{result.exit_code})"))
        running = self._facts.running_kernel
        installed = [suse_kernel_release(vr) for vr in installed_kernels(
            transport, SUSE_KERNEL_FLAVOURS, SUSE_KERNEL_QUERYFORMAT)]
        # The mapping is a heuristic: only trust it when it finds the running kernel, so
        # a naming surprise gives no signal instead of a false "reboot needed".
        if running in installed:
            kernel = kernel_signal(running, installed)
            if kernel is not None:
                signals.append(kernel)
        state = combine_reboot_signals(signals)
        return RebootState(state.required, state.reasons)


def zypper_driver(facts: LinuxFacts) -> Driver:
    """The zypper driver for one host."""
    inventory = RpmInventory()
    return Driver("zypper", facts=facts, inventory=inventory,
                  updates=ZypperUpdates(inventory), reboot=ZypperReboot(facts))
