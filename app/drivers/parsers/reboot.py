"""Combine pending-reboot signals from several sources into one verdict (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.drivers.parsers._common import ParseError, numbered_lines
from app.drivers.parsers.dnf import parse_needs_restarting
from app.drivers.parsers.zypper import needs_rebooting

# "One signal alone is unreliable" (tech-notes §0 item 7, §1.1, §3.1):
# * /var/run/reboot-required only exists if update-notifier-common (Ubuntu) or
#   reboot-notifier (Debian) is installed — its absence proves nothing on Debian.
# * comparing `uname -r` with the installed kernels only covers the kernel (not glibc,
#   systemd...).
# * needrestart's KSTA and dnf/zypper's own checks are better but may be missing.
# So each signal says True (reboot needed), False, or None (cannot tell), and whether a
# False from it is *conclusive* for the whole system. combine_reboot_signals() then:
#   1. any True                                   -> required=True (all True reasons)
#   2. no True, a conclusive False                -> required=False
#   3. no True, two or more inconclusive Falses   -> required=False (they corroborate)
#   4. otherwise                                  -> required=None (unknown)


@dataclass(frozen=True)
class RebootSignal:
    """What one source says about a pending reboot.

    Attributes:
        source: short name (``reboot-required``, ``kernel``, ``needrestart``, ...).
        required: True/False, or None when the source cannot tell.
        reason: human-readable explanation.
        conclusive: a False from this source covers the whole system (dnf
            needs-restarting, zypper needs-rebooting) rather than one aspect.
    """

    source: str
    required: bool | None
    reason: str
    conclusive: bool = False


@dataclass(frozen=True)
class RebootState:
    """The combined verdict.

    Attributes:
        required: True, False, or None when the signals do not allow a verdict.
        reasons: the explanations behind the verdict (the True signals when required,
            else the False ones, else all of them).
    """

    required: bool | None
    reasons: tuple[str, ...]


def combine_reboot_signals(signals: Iterable[RebootSignal]) -> RebootState:
    """Combine signals by the rules in this module's header comment.

    Args:
        signals: any number of signals, from the ``signal_from_*`` helpers or callers.

    Returns:
        The combined RebootState.
    """
    sigs = list(signals)
    yes = [s for s in sigs if s.required is True]
    if yes:
        return RebootState(True, tuple(f"{s.source}: {s.reason}" for s in yes))
    no = [s for s in sigs if s.required is False]
    if any(s.conclusive for s in no) or len(no) >= 2:
        return RebootState(False, tuple(f"{s.source}: {s.reason}" for s in no))
    return RebootState(None, tuple(f"{s.source}: {s.reason}" for s in sigs))


def signal_from_reboot_required(
    file_text: str | None, pkgs_text: str | None = None
) -> RebootSignal:
    """Signal from ``/var/run/reboot-required`` and ``/var/run/reboot-required.pkgs``.

    Args:
        file_text: the file's contents, or None when the file does not exist.
        pkgs_text: the ``.pkgs`` file's contents (one package per line), or None.

    Returns:
        True when the file exists (whatever it says); otherwise False, inconclusive.
    """
    if file_text is None:
        return RebootSignal("reboot-required", False, "/var/run/reboot-required is absent")
    pkgs = [p.strip() for p in (pkgs_text or "").splitlines() if p.strip()]
    detail = f" (packages: {', '.join(dict.fromkeys(pkgs))})" if pkgs else ""
    return RebootSignal("reboot-required", True, f"/var/run/reboot-required exists{detail}")


def _natural_key(release: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(tok)) if tok.isdigit() else (1, tok)
        for tok in re.findall(r"\d+|[A-Za-z]+", release)
    )


def signal_from_kernel(running: str, installed: Sequence[str]) -> RebootSignal:
    """Compare the running kernel release with the installed kernel releases.

    Args:
        running: ``uname -r`` (e.g. ``6.1.0-18-amd64``, ``5.14.0-427.13.1.el9_4.x86_64``).
        installed: releases of the installed kernel packages in the same form (Debian:
            ``linux-image-<release>`` names without the prefix; RPM: ``kernel-core``
            version-release.arch). The caller strips package-name prefixes.

    Returns:
        True when the running kernel is not installed any more or a newer one is
        (compared by numeric/alpha runs); False (inconclusive) when it is the newest;
        None when no installed kernel is known.

    Raises:
        ParseError: when ``running`` is empty or not one word.
    """
    running = running.strip()
    if not running or len(running.split()) != 1:
        raise ParseError("uname -r: expected one kernel release", running)
    releases = [r.strip() for r in installed if r.strip()]
    if not releases:
        return RebootSignal(
            "kernel", None, f"running {running}; no installed kernel packages known"
        )
    newest = max(releases, key=_natural_key)
    if running not in releases:
        return RebootSignal(
            "kernel", True, f"running kernel {running} is no longer installed (newest {newest})"
        )
    if _natural_key(newest) > _natural_key(running):
        return RebootSignal("kernel", True, f"running {running}, newer kernel {newest} installed")
    return RebootSignal("kernel", False, f"running the newest installed kernel {running}")


# needrestart -b (batch mode): "NEEDRESTART-KEY: value" lines (liske/needrestart
# README.batch.md). KSTA: 0 unknown, 1 no pending upgrade, 2 ABI compatible upgrade
# pending, 3 version upgrade pending. UCSTA is the same scale for CPU microcode.
_NR_LINE = re.compile(r"NEEDRESTART-(?P<key>[A-Z]+): ?(?P<value>.*)")
_NR_KEYS = frozenset(
    {"VER", "KCUR", "KEXP", "KSTA", "UCSTA", "UCCUR", "UCEXP", "SVC", "CONT", "SESS"}
)


@dataclass(frozen=True)
class NeedrestartBatch:
    """Parsed ``needrestart -b`` output.

    Attributes:
        version: needrestart version.
        kernel_current: running kernel (KCUR).
        kernel_expected: kernel expected after reboot (KEXP), None if not printed.
        kernel_status: KSTA 0-3 (see module comment), None if not printed.
        microcode_status: UCSTA 0-3, None if not printed.
        services: services needing a restart (SVC).
        containers: containers needing a restart (CONT).
        sessions: user sessions running outdated binaries (SESS).
    """

    version: str | None
    kernel_current: str | None
    kernel_expected: str | None
    kernel_status: int | None
    microcode_status: int | None
    services: tuple[str, ...]
    containers: tuple[str, ...]
    sessions: tuple[str, ...]


def parse_needrestart_batch(text: str) -> NeedrestartBatch:
    """Parse ``needrestart -b`` output.

    Args:
        text: stdout.

    Returns:
        The parsed batch output.

    Raises:
        ParseError: on non-NEEDRESTART lines, unknown keys, a non-numeric KSTA/UCSTA or
            a status outside 0-3, or output without NEEDRESTART-VER.
    """
    scalars: dict[str, str] = {}
    lists: dict[str, list[str]] = {"SVC": [], "CONT": [], "SESS": []}
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        m = _NR_LINE.fullmatch(line)
        if m is None or m["key"] not in _NR_KEYS:
            raise ParseError("needrestart -b: unexpected line", line, lineno)
        key, value = m["key"], m["value"].strip()
        if key in lists:
            lists[key].append(value)
        else:
            scalars[key] = value
    if "VER" not in scalars:
        raise ParseError("needrestart -b: no NEEDRESTART-VER line")

    def status(key: str) -> int | None:
        if key not in scalars:
            return None
        value = scalars[key]
        if value not in ("0", "1", "2", "3"):
            raise ParseError(f"needrestart -b: {key} is {value!r}, expected 0-3")
        return int(value)

    return NeedrestartBatch(
        version=scalars.get("VER"),
        kernel_current=scalars.get("KCUR"),
        kernel_expected=scalars.get("KEXP"),
        kernel_status=status("KSTA"),
        microcode_status=status("UCSTA"),
        services=tuple(lists["SVC"]),
        containers=tuple(lists["CONT"]),
        sessions=tuple(lists["SESS"]),
    )


def signal_from_needrestart(batch: NeedrestartBatch) -> RebootSignal:
    """Signal from needrestart's kernel (and microcode) status.

    KSTA 2/3 or UCSTA 2/3 = reboot needed; KSTA 1 = kernel is current (inconclusive for
    the rest of the system); KSTA 0 or missing = cannot tell.
    """
    k, uc = batch.kernel_status, batch.microcode_status
    if k in (2, 3):
        kind = "ABI-compatible" if k == 2 else "version"
        return RebootSignal(
            "needrestart",
            True,
            f"kernel {kind} upgrade pending ({batch.kernel_current} -> {batch.kernel_expected})",
        )
    if uc in (2, 3):
        return RebootSignal("needrestart", True, "CPU microcode update pending")
    if k == 1:
        return RebootSignal("needrestart", False, f"kernel {batch.kernel_current} is current")
    return RebootSignal("needrestart", None, "needrestart could not determine the kernel status")


def signal_from_needs_restarting(text: str, exit_code: int) -> RebootSignal:
    """Signal from ``dnf needs-restarting -r`` (conclusive: it checks core packages).

    Raises:
        ParseError: when text and exit code disagree (see dnf.parse_needs_restarting).
    """
    result = parse_needs_restarting(text, exit_code)
    if result.reboot_required:
        listed = f": {', '.join(result.packages)}" if result.packages else ""
        return RebootSignal(
            "needs-restarting", True, f"core packages updated since boot{listed}", conclusive=True
        )
    return RebootSignal(
        "needs-restarting", False, "no core packages updated since boot", conclusive=True
    )


def signal_from_zypper_needs_rebooting(exit_code: int) -> RebootSignal:
    """Signal from ``zypper needs-rebooting`` (102 = needed, 0 = not; conclusive).

    Raises:
        ParseError: for other exit codes.
    """
    if needs_rebooting(exit_code):
        return RebootSignal(
            "zypper", True, "zypper needs-rebooting: reboot needed", conclusive=True
        )
    return RebootSignal(
        "zypper", False, "zypper needs-rebooting: no reboot needed", conclusive=True
    )
