"""What the dnf and zypper drivers share: the rpm inventory, rpm version order, rpm lock
detection and the running-vs-installed kernel signal.

Like the drivers that use it, this was tested on captured and reconstructed outputs
(tests/data/dnf, yum, zypper) and against the real rpm 4.18 of the test lab's RPM hosts
(docs/platforms.md), not against real RHEL or SUSE hosts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from app.drivers.base import DriverError, InstalledPackage, Transport
from app.drivers.parsers import ParseError
from app.drivers.parsers.dnf import RPM_QUERYFORMAT, RpmPackage, parse_rpm_qa
from app.drivers.parsers.quote import (
    UnsafeValueError,
    ensure_package_name,
    ensure_rpm_arch,
    ensure_version,
)
from app.drivers.parsers.reboot import RebootSignal, signal_from_kernel

# Messages that mean another package operation holds the rpm database or the package
# manager's own lock: rpm's transaction lock, dnf4's "Waiting for process with pid N to
# finish.", yum's "Another app is currently holding the yum lock", dnf5's "Failed to
# obtain rpm transaction lock". dnf4/yum exit 200 for "a problem with acquiring or
# releasing of locks" (dnf(8) "Return values").
_RPM_LOCK_TEXT = re.compile(
    r"/var/lib/rpm/\.rpm\.lock|can't create transaction lock|Waiting for process with pid"
    r"|another app is currently holding the yum lock|Failed to obtain rpm transaction lock",
    re.IGNORECASE,
)
# "pid 1234", "pid: 1234", dnf4's "metadata already locked by 1234" (real dnf 4.14).
_PID = re.compile(r"(?:pid:?|locked by) (\d+)", re.IGNORECASE)
LOCK_EXIT_CODE = 200


def rpm_lock_error(host: str, text: str, exit_code: int | None = None) -> DriverError | None:
    """A ``rpm_lock`` DriverError when the output says the rpm database is locked."""
    if not _RPM_LOCK_TEXT.search(text) and exit_code != LOCK_EXIT_CODE:
        return None
    pid = _PID.search(text)
    who = f" by process {pid.group(1)}" if pid else ""
    return DriverError(host, "rpm_lock",
                       f"the rpm database is locked{who}: another package operation is "
                       "running; try again when it has finished")


# -------------------------------------------------------------------------- version order
def _segments_cmp(a: str, b: str) -> int:
    """rpm's ``rpmvercmp`` (rpmio/rpmvercmp.c): alternate digit and letter runs, ``~``
    sorts before anything (pre-releases), ``^`` after the base but before more segments."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not (a[i].isascii() and a[i].isalnum()) and a[i] not in "~^":
            i += 1
        while j < len(b) and not (b[j].isascii() and b[j].isalnum()) and b[j] not in "~^":
            j += 1
        ta, tb = a[i:i + 1], b[j:j + 1]
        if ta == "~" or tb == "~":
            if ta != "~":
                return 1
            if tb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ta == "^" or tb == "^":
            if not ta:
                return -1
            if not tb:
                return 1
            if ta != "^":
                return 1
            if tb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not ta or not tb:
            break
        numeric = ta.isdigit()
        kind: Callable[[str], bool] = str.isdigit if numeric else str.isalpha
        si, sj = i, j
        while i < len(a) and a[i].isascii() and kind(a[i]):
            i += 1
        while j < len(b) and b[j].isascii() and kind(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    rest_a, rest_b = i < len(a), j < len(b)
    if not rest_a and not rest_b:
        return 0
    return 1 if rest_a else -1


def compare_evr(a: tuple[int, str, str], b: tuple[int, str, str]) -> int:
    """Compare ``(epoch, version, release)`` triples the way rpm does: -1, 0 or 1."""
    if a[0] != b[0]:
        return 1 if a[0] > b[0] else -1
    return _segments_cmp(a[1], b[1]) or _segments_cmp(a[2], b[2])


def evr_text(epoch: int | None, version: str, release: str) -> str:
    """``[epoch:]version-release`` with the epoch only when it is not 0."""
    return f"{epoch}:{version}-{release}" if epoch else f"{version}-{release}"


def newest(packages: Iterable[RpmPackage]) -> RpmPackage | None:
    """The newest of several installed instances (installonly packages such as kernels)."""
    best: RpmPackage | None = None
    for p in packages:
        if best is None or compare_evr((p.epoch, p.version, p.release),
                                       (best.epoch, best.version, best.release)) > 0:
            best = p
    return best


# -------------------------------------------------------------------------- inventory
def safe_rpm(host: str, what: str, name: str, version: str, arch: str | None = None) -> None:
    """Refuse a name/version/arch from a host that could not be passed to a command safely.

    Raises:
        DriverError: kind ``parse_failed`` naming the refused value.
    """
    try:
        ensure_package_name(name, "rpm")
        ensure_version(version, "rpm")
        if arch is not None:
            ensure_rpm_arch(arch)
    except UnsafeValueError as exc:
        raise DriverError(host, "parse_failed",
                          f"{what} reported an unsafe package name or version: {exc}"
                          ) from None


class RpmInventory:
    """Installed packages from the rpm database (kept for the updates capability, which
    needs the installed versions that ``check-update`` / ``list-updates`` do not print)."""

    def __init__(self) -> None:
        self._packages: tuple[RpmPackage, ...] | None = None

    def packages(self, transport: Transport) -> tuple[RpmPackage, ...]:
        """The parsed rpm database, read once per driver instance (one host, one scan).

        Raises:
            DriverError: kinds ``rpm_failed``, ``rpm_lock`` or ``parse_failed``.
        """
        if self._packages is None:
            result = transport.run(["rpm", "-qa", "--queryformat", RPM_QUERYFORMAT],
                                   timeout=120)
            lock = rpm_lock_error(transport.host, result.stderr)
            if lock:
                raise lock
            if result.exit_code != 0:
                raise DriverError(transport.host, "rpm_failed",
                                  f"rpm -qa failed: {tail(result.stderr)}")
            try:
                packages = parse_rpm_qa(result.stdout)
            except ParseError as exc:
                raise DriverError(transport.host, "parse_failed",
                                  f"rpm -qa output was not understood: {exc}") from None
            for p in packages:
                safe_rpm(transport.host, "rpm -qa", p.name, f"{p.version}-{p.release}", p.arch)
            self._packages = packages
        return self._packages

    def installed(self, transport: Transport) -> list[InstalledPackage]:
        """Installed packages (``gpg-pubkey`` pseudo-packages left out).

        Raises:
            DriverError: kinds ``rpm_failed``, ``rpm_lock`` or ``parse_failed``.
        """
        return [InstalledPackage(p.name, evr_text(p.epoch, p.version, p.release), p.arch or "")
                for p in self.packages(transport) if p.name != "gpg-pubkey"]

    def installed_version(self, transport: Transport, name: str, arch: str) -> str:
        """The newest installed ``[epoch:]version-release`` of ``name`` (same arch first)."""
        packages = self.packages(transport)
        same = [p for p in packages if p.name == name and p.arch == arch]
        best = newest(same or [p for p in packages if p.name == name])
        return evr_text(best.epoch, best.version, best.release) if best else ""


# -------------------------------------------------------------------------- kernel
_KERNEL_LINE = re.compile(r"(?P<name>[A-Za-z0-9_+.-]+) (?P<vra>[A-Za-z0-9._+~^-]+)", re.ASCII)
#: ``%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}``: the uname -r form of RHEL-family kernels.
KERNEL_QUERYFORMAT = r"%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\n"


def installed_kernels(transport: Transport, names: Sequence[str],
                      queryformat: str = KERNEL_QUERYFORMAT) -> list[str]:
    """Release strings of the installed kernel packages (rpm -q lines for missing names,
    "package kernel-core is not installed", are skipped)."""
    result = transport.run(["rpm", "-q", "--queryformat", queryformat, *names], timeout=60)
    found = []
    for line in result.stdout.splitlines():
        m = _KERNEL_LINE.fullmatch(line.strip())
        if m and m["name"] in names:
            found.append(m["vra"])
    return found


def kernel_signal(running: str, installed: Sequence[str]) -> RebootSignal | None:
    """The running-vs-installed kernel signal, or None without a running kernel."""
    if not running:
        return None
    try:
        return signal_from_kernel(running, installed)
    except ParseError:
        return None


def tail(text: str, limit: int = 300) -> str:
    """The last lines of a command's output, for error messages."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:])[-limit:] or "no output"
