"""Assessing a Mac over SSH: facts (``sw_vers``, ``system_profiler``), Apple's updates
(``softwareupdate --list``), Homebrew's (``brew outdated --json=v2``, run as the user who
owns the Homebrew repository, never as root) and the install history
(/Library/Receipts/InstallHistory.plist).

The registry sends a host here when it answers ``uname -s`` with ``Darwin``. Nothing
here needs root: ``softwareupdate --list`` runs as the SSH user; ``brew`` runs as its
owner (``sudo -u OWNER`` only when the SSH user is someone else).

Package names: an Apple update is its ``softwareupdate`` label (exactly as printed); a
Homebrew formula or cask is its full name, ``homebrew/core/git``, ``homebrew/cask/firefox``
or ``user/tap/name``, so an install knows which tool it belongs to. The source column
says ``apple`` or ``brew``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from typing import Any

from app.core.assessment import InstalledPackage, RebootState
from app.core.models import Classification
from app.drivers.base import Assessment, Disk, DriverError, HostFacts, Transport, Update
from app.drivers.linux import split_sections
from app.drivers.linux_deploy import script
from app.drivers.parsers import ParseError
from app.drivers.parsers import facts as pf
from app.drivers.parsers.brew import BREW_NAME, BrewOutdated, parse_brew_outdated
from app.drivers.parsers.macos import (
    AppleUpdate,
    MacHardware,
    SwVers,
    parse_hardware,
    parse_install_history,
    parse_softwareupdate_list,
    parse_sw_vers,
)

SOURCE_APPLE = "apple"
SOURCE_BREW = "brew"
_OWNER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_BREW_PATHS = ("/opt/homebrew/bin/brew", "/usr/local/bin/brew")
#: A Homebrew package as PatchDesk names it: tap/name with the tap's two parts.
BREW_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*/"
                          r"[A-Za-z0-9][A-Za-z0-9@+._-]*$")
BREW_ENV = {"HOMEBREW_NO_AUTO_UPDATE": "1", "HOMEBREW_NO_ANALYTICS": "1",
            "HOMEBREW_NO_INSTALL_CLEANUP": "1", "HOMEBREW_NO_ENV_HINTS": "1"}
DEFERRED = "deferred to the user"
NO_OWNER_REASON = ("Apple silicon installs Apple updates only with a volume owner's "
                   "password, and none is stored for this host (cred add ... --macos-owner "
                   "USER --macos-owner-password-stdin)")
SECURITY_NOTE = ("Apple publishes security content for macOS and Safari releases "
                 "(support.apple.com/HT201222)")


def is_darwin(sections: dict[str, str | None]) -> bool:
    """Whether the Linux facts script's ``uname-s`` section says Darwin."""
    return (sections.get("uname-s") or "").strip() == "Darwin"


def brew_package(item: BrewOutdated) -> str:
    """The package name of a formula or cask (its full name with the tap)."""
    if "/" in item.name:
        return item.name
    return f"homebrew/{'cask' if item.kind == 'cask' else 'core'}/{item.name}"


def brew_short(package: str) -> tuple[str, str]:
    """("formula" or "cask", the name to give brew) of a Homebrew package name."""
    if package.startswith("homebrew/cask/"):
        return "cask", package.removeprefix("homebrew/cask/")
    if package.startswith("homebrew/core/"):
        return "formula", package.removeprefix("homebrew/core/")
    return "formula", package


@dataclass(frozen=True, slots=True)
class Homebrew:
    """Where brew is and who owns it."""

    path: str
    owner: str


def parse_brew_section(text: str | None) -> list[Homebrew]:
    """The ``brew`` section: "PATH OWNER" lines (only the known install paths)."""
    found = []
    for line in (text or "").splitlines():
        path, _, owner = line.strip().partition(" ")
        if path in _BREW_PATHS and owner:
            found.append(Homebrew(path, owner.strip()))
    return found


def owner_credential(transport: Transport) -> tuple[str, str | None]:
    """(volume owner, their password) stored with the host's SSH credential ("", None
    when there is none)."""
    cred = getattr(transport, "credential", None)
    return (str(getattr(cred, "macos_owner", "") or ""),
            getattr(cred, "macos_owner_password", None) or None)


def ssh_user(transport: Transport) -> str:
    """The SSH login's user name ("" when the transport does not say)."""
    cred = getattr(transport, "credential", None)
    return str(getattr(cred, "username", "") or "")


def run_brew(transport: Transport, brew: Homebrew, args: list[str],
             timeout: float = 300) -> Any:
    """Run brew as the owner of its repository: directly when that is the SSH user, else
    through ``sudo -u OWNER -H``. Never as root.

    Raises:
        DriverError: ``brew_root`` for a root-owned Homebrew, ``unsafe_value`` for an
            owner name that is not a user name.
    """
    if brew.owner == "root":
        raise DriverError(transport.host, "brew_root", f"Homebrew at {brew.path} is owned "
                          "by root: PatchDesk never runs brew as root")
    if not _OWNER.match(brew.owner):
        raise DriverError(transport.host, "unsafe_value",
                          f"the owner of {brew.path} is not a user name: {brew.owner[:40]!r}")
    if brew.owner == ssh_user(transport):
        return transport.run([brew.path, *args], env=BREW_ENV, timeout=timeout)
    env = [f"{k}={v}" for k, v in BREW_ENV.items()]
    return transport.run(["sudo", "-u", brew.owner, "-H", "env", *env, brew.path, *args],
                         sudo=True, timeout=timeout)


def list_apple(transport: Transport, *, refresh: bool = True) -> list[AppleUpdate]:
    """Apple's updates for the host (``softwareupdate --list``; ``--no-scan`` when no
    refresh is wanted).

    Raises:
        DriverError: ``updates_failed`` when the listing is not understood.
    """
    argv = ["softwareupdate", "--list", *([] if refresh else ["--no-scan"])]
    result = transport.run(argv, timeout=900)
    try:
        updates, _notes = parse_softwareupdate_list(result.stdout + "\n" + result.stderr,
                                                    result.exit_code)
    except ParseError as exc:
        raise DriverError(transport.host, "updates_failed",
                          f"softwareupdate --list was not understood: {exc}") from None
    return updates


def list_brew(transport: Transport, brew: Homebrew) -> list[BrewOutdated]:
    """Outdated formulae and casks of one Homebrew.

    Raises:
        DriverError: brew failed or printed no v2 JSON.
    """
    result = run_brew(transport, brew, ["outdated", "--json=v2"])
    try:
        return parse_brew_outdated(result.stdout)
    except ParseError as exc:
        raise DriverError(transport.host, "updates_failed",
                          f"brew outdated failed (exit {result.exit_code}: "
                          f"{result.stderr.strip()[:200]}): {exc}") from None


def apple_update(update: AppleUpdate, os_version: SwVers | None,
                 deferred: str) -> Update:
    """An Apple update as a patch: classified, with its restart action and, on an Apple
    silicon Mac without an owner credential, why its install is deferred to the user."""
    evidence = [f"Apple Software Update: {update.title} {update.version}".strip()]
    classification = Classification.OTHER
    if "Security" in update.title or re.search(r"\([a-z]\)", update.version):
        classification = Classification.SECURITY
        evidence.append("a security update / Rapid Security Response")
    elif re.match(r"^(macOS|OS X|Mac OS X|Safari)\b", update.title):
        classification = Classification.SECURITY
        evidence.append(SECURITY_NOTE)
    if update.action == "restart":
        evidence.append("Action: restart")
    elif update.action == "shut down":
        evidence.append("Action: shut down (the Mac must be shut down, not only restarted)")
    if deferred:
        evidence.append(f"install {DEFERRED}: {deferred}")
    installed = ""
    if os_version and re.match(r"^(macOS|OS X|Mac OS X) ", update.title):
        installed = os_version.full_version
    return Update(package=update.label, candidate_version=update.version or "unversioned",
                  installed_version=installed, classification=classification,
                  source=SOURCE_APPLE, reboot_required=update.restart,
                  evidence=tuple(evidence))


def brew_update(item: BrewOutdated) -> Update:
    """A Homebrew formula or cask as a patch (pinned ones say so)."""
    evidence = [f"Homebrew {item.kind} {item.name}: {item.installed} → {item.current}"]
    if item.pinned:
        evidence.append(f"pinned at {item.pinned_version or item.installed} (brew pin): "
                        "not upgraded until unpinned")
    return Update(package=brew_package(item), candidate_version=item.current,
                  installed_version=item.installed, source=SOURCE_BREW,
                  evidence=tuple(evidence))


def _facts(sections: dict[str, str | None], warnings: list[str]) -> tuple[
        HostFacts, SwVers | None, MacHardware | None]:
    version: SwVers | None = None
    hardware: MacHardware | None = None
    try:
        version = parse_sw_vers(sections.get("sw_vers") or "")
    except ParseError as exc:
        warnings.append(f"sw_vers: {exc}")
    try:
        hardware = parse_hardware(sections.get("hardware") or "")
    except ParseError as exc:
        warnings.append(f"system_profiler: {exc}")
    disks: tuple[Any, ...] = ()
    with contextlib.suppress(ParseError):
        disks = pf.parse_df(sections.get("df") or "")
    logins: tuple[Any, ...] = ()
    with contextlib.suppress(ParseError):
        logins = pf.parse_who(sections.get("who") or "")
    name = version.product_name if version else "macOS"
    details: dict[str, Any] = {}
    if version:
        details.update(build=version.build, rapid_security_response=version.version_extra)
    if hardware:
        details.update(model_id=hardware.model_id, chip=hardware.chip,
                       apple_silicon=hardware.apple_silicon)
    facts = HostFacts(
        os_id="macos", os_name=name,
        os_version=version.full_version if version else "",
        os_pretty=f"{name} {version.full_version} ({version.build})" if version else name,
        kernel=(sections.get("kernel") or "").strip(),
        arch=(sections.get("arch") or "").strip(),
        hostname=(sections.get("hostname") or "").strip(),
        cpu_model=hardware.chip if hardware else "", cpu_count=hardware.cores if hardware
        else None, memory_total=hardware.memory_bytes if hardware else None,
        disks=tuple(Disk(d.mount, d.size, d.available, d.device) for d in disks),
        manufacturer="Apple" if hardware else "",
        model=(f"{hardware.model_name} ({hardware.model_id})".strip() if hardware else ""),
        serial=hardware.serial if hardware else "",
        logged_in_users=tuple(dict.fromkeys(login.user for login in logins)),
        details=details)
    return facts, version, hardware


def apple_silicon(facts: HostFacts) -> bool:
    """An Apple-silicon Mac (by its chip, else by ``uname -m``)."""
    return bool(facts.details.get("apple_silicon")) or facts.arch == "arm64"


def assess_macos(transport: Transport, *, refresh: bool = True) -> Assessment:
    """A full deep scan of a Mac: facts, install history, Apple and Homebrew updates.

    Major macOS upgrades (a newer release family than the installed one) are kept apart:
    listed in the facts' details and a warning, never among the updates, so no approval
    of "all updates" installs one.

    Raises:
        DriverError and the transport's errors.
    """
    result = Assessment(host=transport.host, driver="macos")
    raw = transport.run(["sh", "-c", script("macos_facts.sh")], timeout=120)
    try:
        sections = split_sections(raw.stdout)
    except ParseError as exc:
        raise DriverError(transport.host, "facts_failed",
                          f"could not read the Mac's facts ({exc})") from None
    facts, version, _hardware = _facts(sections, result.warnings)
    details = dict(facts.details)
    history = sections.get("history")
    if history:
        try:
            entries = parse_install_history(history.encode("utf-8"))
            details["install_history"] = [e.to_dict() for e in entries[-50:]]
            latest = {e.name: e for e in entries}
            result.packages = [InstalledPackage(e.name, e.version, source=e.process)
                               for e in latest.values() if e.version]
        except ParseError as exc:
            result.warnings.append(f"InstallHistory.plist: {exc}")
    owner, password = owner_credential(transport)
    deferred = NO_OWNER_REASON if apple_silicon(facts) and not (owner and password) else ""
    if deferred:
        details["apple_install"] = f"{DEFERRED}: {deferred}"
    majors = []
    for update in list_apple(transport, refresh=refresh):
        if version and update.is_major_upgrade(version.product_version):
            majors.append({"label": update.label, "title": update.title,
                           "version": update.version})
            result.warnings.append(
                f"{update.title} is a major macOS upgrade: listed apart, installed only when "
                f"named explicitly ({update.label}={update.version})")
            continue
        if BREW_PACKAGE.match(update.label):  # would be taken for a Homebrew package
            result.warnings.append(f"Apple update label {update.label!r} is not deployable "
                                   "by name (it looks like a Homebrew name)")
        result.updates.append(apple_update(update, version, deferred))
    if majors:
        details["major_upgrades"] = majors
    brews = parse_brew_section(sections.get("brew"))
    brew_details = []
    for brew in brews:
        try:
            items = list_brew(transport, brew)
        except DriverError as exc:
            result.warnings.append(str(exc).removeprefix(f"{transport.host}: "))
            continue
        brew_details.append({"path": brew.path, "owner": brew.owner,
                             "pinned": [i.name for i in items if i.pinned]})
        result.updates.extend(brew_update(i) for i in items if BREW_NAME.match(i.name))
    if brew_details:
        details["homebrew"] = brew_details
    result.facts = replace(facts, details=details)
    # macOS has no pending-restart signal to read; the updates carry their restart action.
    result.reboot = RebootState(None)
    return result
