"""Parsers for dnf/yum/dnf5 check-update, updateinfo, rpm -qa and needs-restarting output."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.drivers.parsers._common import ParseError, numbered_lines

# --------------------------------------------------------------------------- NEVRA
#
# RPM package labels: name-[epoch:]version-release.arch. Names may contain "-" and
# "." (python3-libs, java-1.8.0-openjdk), so the split works from the right: arch after
# the last ".", release after the last "-", version after the one before.
_ARCH = re.compile(r"[a-z0-9_]+", re.ASCII)
_PART = re.compile(r"[A-Za-z0-9._+~^]+", re.ASCII)
_EPOCH = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True)
class Nevra:
    """An RPM package label.

    Attributes:
        name: package name (``kernel-core``).
        epoch: epoch, or None when the label had none (rpm treats that as 0).
        version: upstream version (``5.14.0``).
        release: release (``427.13.1.el9_4``).
        arch: architecture (``x86_64``, ``noarch``), or None for a bare NEVR.
    """

    name: str
    epoch: int | None
    version: str
    release: str
    arch: str | None

    @property
    def evr(self) -> str:
        """``[epoch:]version-release`` as dnf prints it (epoch only when present)."""
        prefix = f"{self.epoch}:" if self.epoch is not None else ""
        return f"{prefix}{self.version}-{self.release}"

    def __str__(self) -> str:
        arch = f".{self.arch}" if self.arch is not None else ""
        return f"{self.name}-{self.evr}{arch}"


def parse_evr(text: str) -> tuple[int | None, str, str]:
    """Split ``[epoch:]version-release`` into its parts.

    Args:
        text: e.g. ``"1:3.0.7-27.el9"``.

    Returns:
        ``(epoch or None, version, release)``.

    Raises:
        ParseError: if the text is not an EVR.
    """
    epoch: int | None = None
    rest = text
    if ":" in rest:
        e, _, rest = rest.partition(":")
        if not _EPOCH.fullmatch(e):
            raise ParseError("rpm: bad epoch", text)
        epoch = int(e)
    version, sep, release = rest.rpartition("-")
    if not sep or not _PART.fullmatch(version) or not _PART.fullmatch(release):
        raise ParseError("rpm: not a version-release", text)
    return epoch, version, release


def parse_nevra(text: str, *, with_arch: bool = True) -> Nevra:
    """Parse ``name-[epoch:]version-release[.arch]``.

    Args:
        text: e.g. ``"kernel-core-5.14.0-427.13.1.el9_4.x86_64"`` or
            ``"openssl-libs-1:3.0.7-27.el9.x86_64"``.
        with_arch: whether the label ends in ``.arch``.

    Returns:
        The parsed Nevra.

    Raises:
        ParseError: if the text cannot be a NEVRA.
    """
    rest = text
    arch: str | None = None
    if with_arch:
        rest, dot, arch = text.rpartition(".")
        if not dot or not _ARCH.fullmatch(arch):
            raise ParseError("rpm: no .arch suffix", text)
    head, sep1, release = rest.rpartition("-")
    name, sep2, version = head.rpartition("-")
    if not sep1 or not sep2 or not name or any(c.isspace() for c in name):
        raise ParseError("rpm: not name-version-release", text)
    epoch, version, release = parse_evr(f"{version}-{release}")
    return Nevra(name, epoch, version, release, arch)


# --------------------------------------------------------------------------- check-update
#
# `dnf check-update` / `yum check-update` / `dnf5 check-upgrade`: "DNF exit code will be
# 100 when there are updates available and a list of the updates will be printed, 0 if
# not and 1 if an error occurs" (dnf doc/command_ref.rst, Check-Update Command;
# tech-notes §1.2). Rows are three columns "name.arch  [epoch:]version-release  repo";
# yum and dnf4 wrap a row over two or three lines when a column is too wide (ansible
# issue #24330, puppet PR #3526). After an "Obsoleting Packages" header each obsoleting
# package is followed by the packages it replaces, indented four spaces.
CHECK_UPDATE_EXIT_CODES: dict[int, str] = {
    0: "no updates available",
    100: "updates available",
    1: "error",
}
_OBSOLETING_HEADERS = frozenset({"Obsoleting Packages", "Obsoleting packages"})
_CHECK_UPDATE_NOISE = (
    re.compile(r"Last metadata expiration check: .*"),
    re.compile(r"Loaded plugins: .*"),
    re.compile(r"Loading mirror speeds from cached hostfile"),
    re.compile(r" \* \S+: \S+"),  # yum fastestmirror " * base: mirror.example"
    re.compile(r"This system is receiving updates from .*"),
    re.compile(r"This system is not registered .*"),
    re.compile(r"Updating Subscription Management repositories\."),
    re.compile(r"Unable to read consumer identity"),
    re.compile(r"Security: \S+ is (?:an installed security update|the currently running version)"),
    re.compile(r"Updating and loading repositories:"),
    re.compile(r"Repositories loaded\."),
    re.compile(r"Upgrades"),  # dnf5 check-upgrade section title
    # dnf4's progress line for a repository whose metadata it downloads during the command
    # (expired cache, --refresh, a repository that failed and is retried every time):
    # "PatchDesk Lab 9 - x86_64   1.6 MB/s | 1.7 kB   00:00" (real dnf 4.14, lab capture).
    re.compile(r".*\S +\d+(?:\.\d+)? *[kMGT]?B/s +\| +\d+(?:\.\d+)? *[kMGT]?B +"
               r"\d+:\d\d(?::\d\d)? *"),
)
_NAME_ARCH = re.compile(r"(?P<name>\S+)\.(?P<arch>[a-z0-9_]+)", re.ASCII)
_REPO = re.compile(r"@?[A-Za-z0-9._:@/+-]+", re.ASCII)


@dataclass(frozen=True)
class DnfPackage:
    """One row of check-update: a package and the repository offering it.

    Attributes:
        name: package name.
        arch: architecture.
        epoch: epoch or None when not printed.
        version: version.
        release: release.
        repo: repository id (``@`` prefix = the installed copy, in obsoletes lists).
    """

    name: str
    arch: str
    epoch: int | None
    version: str
    release: str
    repo: str

    @property
    def evr(self) -> str:
        """``[epoch:]version-release``."""
        prefix = f"{self.epoch}:" if self.epoch is not None else ""
        return f"{prefix}{self.version}-{self.release}"


@dataclass(frozen=True)
class Obsolete:
    """An obsoleting package and the installed packages it replaces."""

    package: DnfPackage
    replaces: tuple[DnfPackage, ...]


@dataclass(frozen=True)
class CheckUpdate:
    """Result of dnf/yum check-update.

    Attributes:
        updates: the update rows (main list).
        obsoletes: the "Obsoleting Packages" section.
    """

    updates: tuple[DnfPackage, ...]
    obsoletes: tuple[Obsolete, ...]


def _row(tokens: list[str], line: str, lineno: int) -> DnfPackage:
    if len(tokens) != 3:
        raise ParseError("dnf: expected 'name.arch version repo'", line, lineno)
    na, evr, repo = tokens
    m = _NAME_ARCH.fullmatch(na)
    if m is None or not _REPO.fullmatch(repo):
        raise ParseError("dnf: unreadable package row", line, lineno)
    try:
        epoch, version, release = parse_evr(evr)
    except ParseError:
        raise ParseError("dnf: unreadable version in row", line, lineno) from None
    return DnfPackage(m["name"], m["arch"], epoch, version, release, repo)


def parse_check_update(text: str, exit_code: int) -> CheckUpdate:
    """Parse ``LANG=C dnf check-update`` (also yum, and dnf5 ``check-upgrade``).

    Args:
        text: stdout.
        exit_code: the command's exit status (see CHECK_UPDATE_EXIT_CODES).

    Returns:
        The updates and obsoletes.

    Raises:
        ParseError: on an unknown line, an incomplete wrapped row, exit code 1 or an
            unknown code, or an exit code that disagrees with the listing (100 with no
            rows, 0 with rows).
    """
    if exit_code not in (0, 100):
        meaning = CHECK_UPDATE_EXIT_CODES.get(exit_code, "unknown exit code")
        raise ParseError(f"dnf check-update exited {exit_code} ({meaning})")
    updates: list[DnfPackage] = []
    obsoletes: list[tuple[DnfPackage, list[DnfPackage]]] = []
    in_obsoletes = False
    pending: list[str] = []
    pending_at: tuple[int, str] = (0, "")
    pending_replaced = False

    def emit(tokens: list[str], replaced: bool, lineno: int, line: str) -> None:
        pkg = _row(tokens, line, lineno)
        if not in_obsoletes:
            updates.append(pkg)
        elif replaced:
            if not obsoletes:
                raise ParseError("dnf: replaced package before any obsoleting one", line, lineno)
            obsoletes[-1][1].append(pkg)
        else:
            obsoletes.append((pkg, []))

    for lineno, line in numbered_lines(text):
        tokens = line.split()
        indented = line[:1].isspace()
        if pending:
            if not tokens or not indented:
                raise ParseError("dnf: wrapped row is incomplete", pending_at[1], pending_at[0])
            pending.extend(tokens)
            if len(pending) >= 3:
                emit(pending, pending_replaced, *pending_at)
                pending = []
            continue
        if not tokens:
            continue
        stripped = line.strip()
        if stripped in _OBSOLETING_HEADERS:
            in_obsoletes = True
            continue
        if any(p.fullmatch(line) for p in _CHECK_UPDATE_NOISE):
            continue
        replaced = in_obsoletes and indented
        if indented and not replaced:
            raise ParseError("dnf: unexpected indented line", line, lineno)
        if len(tokens) >= 3:
            emit(tokens, replaced, lineno, line)
        elif _NAME_ARCH.fullmatch(tokens[0]):
            pending, pending_at, pending_replaced = list(tokens), (lineno, line), replaced
        else:
            raise ParseError("dnf: unexpected line", line, lineno)
    if pending:
        raise ParseError("dnf: wrapped row is incomplete at end of output", *pending_at[::-1])
    if exit_code == 100 and not updates and not obsoletes:
        raise ParseError("dnf check-update exited 100 (updates available) but listed none")
    if exit_code == 0 and (updates or obsoletes):
        raise ParseError(f"dnf check-update exited 0 but listed {len(updates)} updates")
    return CheckUpdate(
        updates=tuple(updates),
        obsoletes=tuple(Obsolete(p, tuple(r)) for p, r in obsoletes),
    )


# --------------------------------------------------------------------------- updateinfo
#
# dnf4 `dnf updateinfo list [--updates] [--with-cve]`: "ID  TYPE  NEVRA" where TYPE is
# bugfix/enhancement/newpackage/unspecified or "<Severity>/Sec." for security; with
# --with-cve the first column is the CVE id; --all prefixes installed rows with "i"
# (dnf doc/command_ref.rst "updateinfo"; ci-dnf-stack dnf-behave-tests/dnf/updateinfo.feature).
# dnf5 `dnf5 advisory list` / `updateinfo list`: a header "Name Type Severity Package
# Issued" and rows "ID type severity NEVRA YYYY-MM-DD HH:MM:SS" (dnf5-advisory(8)).
SEVERITIES = ("Critical", "Important", "Moderate", "Low")
_DNF4_ROW = re.compile(
    r"(?:(?P<flag>i) +)?(?P<id>\S+) +(?P<type>\S+) +(?P<pkg>\S+)"
    r"(?: +(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d))?"
)
_DNF4_TYPE = re.compile(
    r"(?:(?P<sev>Critical|Important|Moderate|Low|Unknown|None)/Sec\.|security"
    r"|bugfix|enhancement|newpackage|unspecified|unknown)"
)
_DNF5_HEADER = re.compile(r"Name +Type +Severity +Package +Issued")
_DNF5_ROW = re.compile(
    r"(?P<id>\S+) +(?P<type>security|bugfix|enhancement|newpackage|unspecified|unknown) +"
    r"(?P<sev>\S+) +(?P<pkg>\S+) +(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
)
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.ASCII)
_UPDATEINFO_NOISE = (
    re.compile(r"Last metadata expiration check: .*"),
    re.compile(r"Loaded plugins: .*"),
    re.compile(r"Updating Subscription Management repositories\."),
    re.compile(r"Unable to read consumer identity"),
    re.compile(r"This system is not registered .*"),
    re.compile(r"Updating and loading repositories:"),
    re.compile(r"Repositories loaded\."),
)


@dataclass(frozen=True)
class UpdateinfoRow:
    """One line of ``updateinfo list``.

    Attributes:
        ref: advisory id (``RHSA-2024:1234``) or, with ``--with-cve``, a CVE id.
        kind: ``security``, ``bugfix``, ``enhancement``, ``newpackage``, ...
        severity: ``Critical``/``Important``/``Moderate``/``Low``, or None.
        package: the NEVRA the advisory fixes.
        installed: True for dnf4 ``--all`` rows marked ``i``; None when not shown.
        issued: dnf5's issue date, if printed.
    """

    ref: str
    kind: str
    severity: str | None
    package: Nevra
    installed: bool | None
    issued: str | None

    @property
    def is_cve(self) -> bool:
        """True when ``ref`` is a CVE id (``--with-cve`` / ``list cves`` output)."""
        return bool(_CVE.fullmatch(self.ref))


def _severity(word: str | None) -> str | None:
    if word is None:
        return None
    cap = word.capitalize()
    return cap if cap in SEVERITIES else None


def parse_updateinfo_list(text: str) -> tuple[UpdateinfoRow, ...]:
    """Parse ``LANG=C dnf updateinfo list ...`` in the dnf4/yum or the dnf5 format.

    Args:
        text: stdout.

    Returns:
        One row per advisory/package (or CVE/package) pair.

    Raises:
        ParseError: on a line that is not a row of the detected format.
    """
    rows: list[UpdateinfoRow] = []
    dnf5 = False
    for lineno, line in numbered_lines(text):
        stripped = line.strip()
        if not stripped or any(p.fullmatch(stripped) for p in _UPDATEINFO_NOISE):
            continue
        if _DNF5_HEADER.fullmatch(stripped):
            dnf5 = True
            continue
        try:
            if dnf5:
                m = _DNF5_ROW.fullmatch(stripped)
                if m is None:
                    raise ParseError("dnf5 updateinfo: unreadable row", line, lineno)
                rows.append(
                    UpdateinfoRow(
                        m["id"],
                        m["type"],
                        _severity(m["sev"]),
                        parse_nevra(m["pkg"]),
                        None,
                        m["date"],
                    )
                )
                continue
            m = _DNF4_ROW.fullmatch(stripped)
            t = _DNF4_TYPE.fullmatch(m["type"]) if m else None
            if m is None or t is None:
                raise ParseError("dnf updateinfo: unreadable row", line, lineno)
            kind = "security" if t["sev"] or m["type"] == "security" else m["type"]
            installed = (m["flag"] == "i") if line.startswith(("i ", "  ")) else None
            rows.append(
                UpdateinfoRow(
                    m["id"], kind, _severity(t["sev"]), parse_nevra(m["pkg"]), installed, m["date"]
                )
            )
        except ParseError as exc:
            if exc.lineno is None:
                raise ParseError(f"dnf updateinfo: {exc}", line, lineno) from None
            raise
    return tuple(rows)


# --------------------------------------------------------------------------- rpm -qa
#
# rpm -qa --queryformat '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'
# (Vuls scanner/redhatbase.go uses the same tags separated by spaces). gpg-pubkey
# entries have ARCH "(none)".
RPM_QUERYFORMAT = r"%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"


@dataclass(frozen=True)
class RpmPackage:
    """One installed RPM (EPOCHNUM is 0 when the package has no epoch)."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str | None


def parse_rpm_qa(text: str) -> tuple[RpmPackage, ...]:
    """Parse ``rpm -qa --queryformat RPM_QUERYFORMAT``.

    Args:
        text: stdout.

    Returns:
        The installed packages in output order.

    Raises:
        ParseError: on a line without five tab-separated fields or a non-numeric epoch.
    """
    out: list[RpmPackage] = []
    for lineno, line in numbered_lines(text):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            raise ParseError(
                f"rpm -qa: expected 5 tab-separated fields, got {len(fields)}", line, lineno
            )
        name, epoch, version, release, arch = fields
        if (
            not _EPOCH.fullmatch(epoch)
            or not name
            or not _PART.fullmatch(version)
            or not _PART.fullmatch(release)
        ):
            raise ParseError("rpm -qa: unreadable row", line, lineno)
        if arch != "(none)" and not _ARCH.fullmatch(arch):
            raise ParseError("rpm -qa: bad architecture", line, lineno)
        arch_or_none = None if arch == "(none)" else arch
        out.append(RpmPackage(name, int(epoch), version, release, arch_or_none))
    return tuple(out)


# --------------------------------------------------------------------------- needs-restarting
#
# `dnf needs-restarting -r`: "Only report whether a reboot is required (exit code 1) or
# not (exit code 0)" (dnf-plugins-core doc/needs_restarting.rst). Text as asserted by
# ci-dnf-stack dnf-behave-tests/dnf/plugins-core/needs-restarting.feature; dnf5 and
# yum-utils print the same sentences. dnf also exits 1 for "No such command" (plugin not
# installed), so the text must agree with the code.
_NR_YES = "Reboot is required to fully utilize these updates."
_NR_NO = "Reboot should not be necessary."
_NR_NOISE = (
    re.compile(r"Core libraries or services have been updated since boot-up:"),
    re.compile(r"No core libraries or services have been updated since boot-up\."),
    re.compile(r"More information: https?://\S+"),
    re.compile(r"Updating Subscription Management repositories\."),
    re.compile(r"Unable to read consumer identity"),
    re.compile(r"This system is not registered .*"),
    re.compile(r"Last metadata expiration check: .*"),
    re.compile(r"Updating and loading repositories:"),
    re.compile(r"Repositories loaded\."),
)
_NR_ITEM = re.compile(r" +\* (?P<names>.+)")


@dataclass(frozen=True)
class NeedsRestarting:
    """Result of ``needs-restarting -r``.

    Attributes:
        reboot_required: the verdict.
        packages: the core packages listed as updated since boot (may be empty).
    """

    reboot_required: bool
    packages: tuple[str, ...]


def parse_needs_restarting(text: str, exit_code: int) -> NeedsRestarting:
    """Parse ``LANG=C dnf needs-restarting -r`` (also dnf5, yum-utils ``needs-restarting -r``).

    Args:
        text: stdout.
        exit_code: 1 = reboot required, 0 = not required.

    Returns:
        The verdict and listed packages.

    Raises:
        ParseError: if the text does not state the verdict the exit code claims, or on
            unknown lines (e.g. "No such command: needs-restarting").
    """
    packages: list[str] = []
    verdicts: set[bool] = set()
    for lineno, line in numbered_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == _NR_YES:
            verdicts.add(True)
        elif stripped == _NR_NO:
            verdicts.add(False)
        elif m := _NR_ITEM.fullmatch(line):
            # dnf5 may put several on one line: "* dbus-broker  * kernel"
            packages.extend(n.strip() for n in m["names"].split("* ") if n.strip())
        elif not any(p.fullmatch(stripped) for p in _NR_NOISE):
            raise ParseError("needs-restarting: unexpected line", line, lineno)
    if exit_code not in (0, 1):
        raise ParseError(f"needs-restarting -r exited {exit_code}")
    expected = exit_code == 1
    if verdicts != {expected}:
        raise ParseError(
            f"needs-restarting -r exited {exit_code} but its text says "
            f"{'nothing' if not verdicts else sorted(verdicts)}"
        )
    return NeedsRestarting(expected, tuple(packages))
