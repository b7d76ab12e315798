"""Parsers for apt-get simulations, dpkg-query and changelogs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.changelogs import ChangelogEntry
from app.drivers.parsers._common import ParseError, numbered_lines, truncate
from app.drivers.parsers.debversion import compare_versions

# --------------------------------------------------------------------------- simulation
#
# `LANG=C apt-get -s dist-upgrade|upgrade|install|remove` (tech-notes §1.1). apt-get -s
# prints one line per dpkg operation: "Inst" (unpack), "Conf" (configure), "Remv",
# "Purg" (apt-get(8), option -s). Line shapes, as captured in tests/data/apt/debian-12:
#   Inst pd-openssl [1.0-1] (1.0-2 Debian-Security:12/bookworm-security [all])
#   Inst pd-newdep (1.0-1 PatchDesk Lab:12/bookworm [all])          <- NEW package
#   Conf pd-tools (2.2-1 PatchDesk Lab:12/bookworm [all])
#   Remv pd-tools [2.0-1]
# Several origins are separated by ", " (Ubuntu: "Ubuntu:22.04/jammy-updates,
# Ubuntu:22.04/jammy-security"). After the parenthesised candidate apt appends any number
# of bracketed ordering hints whenever dpkg must be told about essential, pre-depended or
# multi-arch packages (apt-pkg/algorithms.cc pkgSimulate::ShortBreaks / Describe), e.g.
#   Conf perl-base (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []
#   Inst libpam-modules-bin [1.5.2-6+deb12u1] (1.5.2-6+deb12u3 Debian-Security:12/
#        oldstable-security [amd64]) [libpam-modules:amd64 on libpam-modules-bin:amd64]
#        [libpam-modules:amd64 ]
#   Inst libc6 [..] (..) [libc6:amd64 on libc6:i386] ...
# A package of a foreign architecture is named "pkg:arch" (pkgCache FullName(Pretty)); the
# native architecture's and "all" packages are not qualified. The Azure patch extension's
# regex reads the same shape (AptitudePackageManager.py, extract_packages_and_versions).

_TRAILING_GROUPS = r"(?: \[[^\]]*\])*"
_INST = re.compile(
    r"Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? "
    r"\((?P<new>\S+)(?: (?P<origins>.+?))? \[(?P<arch>[^\]]+)\]\)" + _TRAILING_GROUPS
)
_CONF = re.compile(
    r"Conf (?P<name>\S+) \((?P<new>\S+)(?: (?P<origins>.+?))? \[(?P<arch>[^\]]+)\]\)"
    + _TRAILING_GROUPS
)
_REMV = re.compile(
    r"(?P<op>Remv|Purg) (?P<name>\S+)(?: \[(?P<old>[^\]\s]*)\])?" + _TRAILING_GROUPS
)
_SUMMARY = re.compile(
    r"(?P<up>\d+) upgraded, (?P<new>\d+) newly installed, (?:(?P<down>\d+) downgraded, )?"
    r"(?P<rm>\d+) to remove and (?P<kept>\d+) not upgraded\."
)
# "The following ...:" headers and what the indented names under them are. Names only
# (apt-private/private-output.cc, private-install.cc). An unknown header is an error.
_BLOCKS: dict[str, str] = {
    "The following NEW packages will be installed:": "new",
    "The following packages will be upgraded:": "upgraded",
    "The following packages will be DOWNGRADED:": "downgraded",
    "The following packages will be REMOVED:": "removed",
    "The following packages have been kept back:": "kept_back",
    # Ubuntu phased updates: held back per machine (apt_preferences(5) "Phased Updates";
    # private-output.cc). Reported as held back, not as pending upgrades.
    "The following upgrades have been deferred due to phasing:": "phased",
    "The following held packages will be changed:": "held_changed",
    "The following additional packages will be installed:": "additional",
    # apt < 1.1 (Ubuntu 14.04, Debian 8) said "extra" for "additional".
    "The following extra packages will be installed:": "additional",
    "The following packages were automatically installed and are no longer required:": "autoremove",
    "The following package was automatically installed and is no longer required:": "autoremove",
    "Suggested packages:": "suggested",
    "Recommended packages:": "recommended",
    # Ubuntu Pro advertisement (Ubuntu 22.04+): names of packages ESM would update.
    "Get more security updates through Ubuntu Pro with 'esm-apps' enabled:": "esm_apps",
    "Get more security updates through Ubuntu Pro with 'esm-infra' enabled:": "esm_infra",
    "The following security updates require Ubuntu Pro with 'esm-apps' enabled:": "esm_apps",
    "The following security updates require Ubuntu Pro with 'esm-infra' enabled:": "esm_infra",
}
# Lines that carry no data, in the C locale. Anything else that is not an operation,
# a block header/item or the summary is kept in AptSimulation.unreadable (a warning).
_NOISE = (
    re.compile(r"Reading package lists\.\.\.(?: Done)?"),
    # apt < 2.0 printed "Building dependency tree" without dots (Ubuntu 12.04-18.04).
    re.compile(r"Building dependency tree(?:\.\.\.(?: Done)?)?"),
    re.compile(r"Reading state information\.\.\.(?: Done)?"),
    re.compile(r"Calculating upgrade\.\.\.(?: Done)?"),
    re.compile(r"\d+ not fully installed or removed\."),
    re.compile(r"Need to get .+ of archives\."),
    re.compile(r"After this operation, .+ (?:will be used|will be freed)\."),
    re.compile(r"NOTE: This is only a simulation!"),
    re.compile(r"\s+apt-get needs root privileges for real execution\."),
    re.compile(r"\s+Keep also in mind that locking is deactivated,"),
    re.compile(r"\s+so don't depend on the relevance to the real current situation!"),
    re.compile(r"Use '(?:sudo )?apt(?:-get)? autoremove' to remove (?:it|them)\."),
    re.compile(r"Learn more about Ubuntu Pro at https://ubuntu\.com/pro"),
    re.compile(r"\d+ (?:standard LTS|standard|esm-infra|esm-apps) security updates?"),
    re.compile(r"\d+ additional security updates? can be applied with ESM (?:Apps|Infra)\."),
    re.compile(r"W: .*"),
    re.compile(r"N: .*"),
)


class AptSummaryMismatchError(ParseError):
    """What the Inst/Remv lines say disagrees with apt's own summary line (or an
    operation line could not be read): the list of changes cannot be trusted."""


@dataclass(frozen=True)
class Upgrade:
    """One ``Inst`` line: a package apt would install or upgrade.

    Attributes:
        name: package name (may carry ``:arch`` on multi-arch systems).
        installed_version: the version now installed, or None for a NEW package.
        candidate_version: the version apt would install.
        origins: ``label:version/suite`` entries, e.g.
            ``("Debian-Security:12/bookworm-security",)``.
        arch: package architecture (``amd64``, ``all``...).
    """

    name: str
    installed_version: str | None
    candidate_version: str
    origins: tuple[str, ...]
    arch: str

    @property
    def package(self) -> str:
        """The package name without a ``:arch`` qualifier (the arch is :attr:`arch`)."""
        return self.name.partition(":")[0]

    @property
    def is_new(self) -> bool:
        """True when the package is not installed yet."""
        return self.installed_version is None

    @property
    def is_security(self) -> bool:
        """True when an origin is a security archive (see is_security_origin)."""
        return any(is_security_origin(o) for o in self.origins)


@dataclass(frozen=True)
class Removal:
    """One ``Remv``/``Purg`` line.

    Attributes:
        name: package name.
        installed_version: the version being removed (None if apt did not say).
        purge: True for ``Purg``.
    """

    name: str
    installed_version: str | None
    purge: bool


@dataclass(frozen=True)
class AptSummary:
    """The counts of the ``N upgraded, M newly installed, ...`` line."""

    upgraded: int
    newly_installed: int
    downgraded: int
    to_remove: int
    not_upgraded: int


@dataclass(frozen=True)
class AptSimulation:
    """Everything an ``apt-get -s`` run said it would do.

    Attributes:
        installs: every Inst line in order (upgrades, downgrades and NEW packages).
        removals: Remv/Purg lines.
        configures: names from Conf lines (including packages only left half-configured).
        held_back: names apt kept back ("kept back" block and phased-update deferrals).
        phased: the subset of ``held_back`` deferred by Ubuntu phasing.
        summary: the summary-line counts.
        warnings: ``W:``/``N:`` lines, verbatim.
        unreadable: lines this parser did not understand that do not change what apt
            would do (the summary cross-check still agrees), as ``line N: ...`` texts.
    """

    installs: tuple[Upgrade, ...]
    removals: tuple[Removal, ...]
    configures: tuple[str, ...]
    held_back: tuple[str, ...]
    phased: tuple[str, ...]
    summary: AptSummary
    warnings: tuple[str, ...]
    unreadable: tuple[str, ...] = ()

    @property
    def upgrades(self) -> tuple[Upgrade, ...]:
        """Inst lines for packages already installed (upgrades and downgrades)."""
        return tuple(u for u in self.installs if not u.is_new)

    @property
    def new_packages(self) -> tuple[Upgrade, ...]:
        """Inst lines for packages not installed yet."""
        return tuple(u for u in self.installs if u.is_new)

    @property
    def security_upgrades(self) -> tuple[Upgrade, ...]:
        """Installs whose candidate comes from a security archive."""
        return tuple(u for u in self.installs if u.is_security)


def is_security_origin(origin: str) -> bool:
    """Whether an apt origin string names a security archive.

    ``Debian-Security:12/bookworm-security`` (Debian's label) and
    ``Ubuntu:22.04/jammy-security`` (Ubuntu's pocket) both count: the label is
    ``Debian-Security`` or the suite after the last ``/`` ends in ``-security``
    (tech-notes §1.1 "quick heuristic"; unattended-upgrades' Origins-Pattern uses the
    same label/codename pair).

    Args:
        origin: one entry of Upgrade.origins.

    Returns:
        True for a security origin.
    """
    label, _, rest = origin.partition(":")
    suite = rest.rpartition("/")[2]
    return label == "Debian-Security" or suite.endswith("-security")


def _split_origins(text: str | None) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(", ")) if text else ()


def parse_apt_simulation(text: str) -> AptSimulation:
    """Parse ``LANG=C apt-get -s <upgrade|dist-upgrade|install|remove ...>`` stdout.

    The Inst/Remv lines are cross-checked against apt's own summary line: Inst lines
    with an installed version must equal ``upgraded + downgraded``, those without must
    equal ``newly installed``, Remv/Purg lines ``to remove``, and the names in the
    "will be upgraded"/"NEW" blocks must be the same packages (Vuls does the same
    cross-check, scanner/debian.go parseAptGetUpgrade).

    A line this parser does not know never fails the parse by itself: it is kept in
    :attr:`AptSimulation.unreadable`. What decides whether the result can be trusted is
    the cross-check: an operation line (Inst/Remv/Purg) that cannot be read, or counts
    that disagree with the summary, mean a package's fate is unknown, and that raises —
    a partial list of missing updates must never pass for the whole one.

    Args:
        text: stdout of apt-get (stderr may be appended; ``W:`` lines are kept as warnings).

    Returns:
        The parsed simulation.

    Raises:
        ParseError: on an ``E:`` line, a missing or repeated summary line, an unreadable
            operation line, or counts that disagree (the message names the lines that
            could not be read).
    """
    installs: list[Upgrade] = []
    removals: list[Removal] = []
    configures: list[str] = []
    blocks: dict[str, list[str]] = {}
    warnings: list[str] = []
    unreadable: list[str] = []
    bad_ops: list[str] = []
    summary: AptSummary | None = None
    block: str | None = None
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue  # (a blank line does not end a block of names)
        if block is not None and line.startswith("  "):
            blocks.setdefault(block, []).extend(line.split())
            continue
        block = None
        if line in _BLOCKS:
            block = _BLOCKS[line]
            blocks.setdefault(block, [])
            continue
        if line.startswith("Inst "):
            m = _INST.fullmatch(line)
            if m is None:
                bad_ops.append(_unreadable("Inst line", line, lineno))
                continue
            origins = _split_origins(m["origins"])
            installs.append(Upgrade(m["name"], m["old"], m["new"], origins, m["arch"]))
            continue
        if line.startswith("Conf "):
            m = _CONF.fullmatch(line)
            if m is None:
                unreadable.append(_unreadable("Conf line", line, lineno))
                continue
            configures.append(m["name"])
            continue
        if line.startswith(("Remv", "Purg")):
            m = _REMV.fullmatch(line)
            if m is None:
                bad_ops.append(_unreadable("Remv/Purg line", line, lineno))
                continue
            removals.append(Removal(m["name"], m["old"] or None, m["op"] == "Purg"))
            continue
        m = _SUMMARY.fullmatch(line)
        if m is not None:
            if summary is not None:
                raise ParseError("apt: more than one summary line", line, lineno)
            summary = AptSummary(
                int(m["up"]), int(m["new"]), int(m["down"] or 0), int(m["rm"]), int(m["kept"])
            )
            continue
        if line.startswith("E: "):
            raise ParseError("apt reported an error", line, lineno)
        if any(p.fullmatch(line) for p in _NOISE):
            if line.startswith(("W: ", "N: ")):
                warnings.append(line)
            continue
        if line.startswith("The following") or line.endswith(":"):
            # An unknown block: its indented names are skipped with it.
            block = "unknown"
            unreadable.append(_unreadable("block header", line, lineno))
            continue
        unreadable.append(_unreadable("line", line, lineno))
    if summary is None:
        raise ParseError("apt: no 'N upgraded, M newly installed, ...' summary line")
    _cross_check(summary, installs, removals, blocks, bad_ops)
    phased = tuple(blocks.get("phased", ()))
    return AptSimulation(
        installs=tuple(installs),
        removals=tuple(removals),
        configures=tuple(configures),
        held_back=tuple(blocks.get("kept_back", ())) + phased,
        phased=phased,
        summary=summary,
        warnings=tuple(warnings),
        unreadable=tuple(unreadable),
    )


def _unreadable(what: str, line: str, lineno: int) -> str:
    return f"line {lineno}: unreadable {what}: {truncate(line, 200)!r}"


def _bare(name: str) -> str:
    return name.partition(":")[0]


def _cross_check(
    summary: AptSummary,
    installs: list[Upgrade],
    removals: list[Removal],
    blocks: dict[str, list[str]],
    bad_ops: list[str],
) -> None:
    told = (f"the summary says {summary.upgraded} upgraded, {summary.newly_installed} newly "
            f"installed, {summary.downgraded} downgraded, {summary.to_remove} to remove")
    if bad_ops:
        raise AptSummaryMismatchError(
            f"apt: {len(bad_ops)} operation line(s) could not be read, so what apt would do "
            f"is not known ({told}): " + "; ".join(bad_ops[:5])
        )
    old = [u for u in installs if u.installed_version is not None]
    new = [u for u in installs if u.installed_version is None]
    if len(old) != summary.upgraded + summary.downgraded:
        raise AptSummaryMismatchError(
            f"apt: {len(old)} Inst lines upgrade an installed package but the summary says "
            f"{summary.upgraded} upgraded + {summary.downgraded} downgraded"
        )
    if len(new) != summary.newly_installed:
        raise AptSummaryMismatchError(
            f"apt: {len(new)} Inst lines install a NEW package but the summary says "
            f"{summary.newly_installed} newly installed"
        )
    if len(removals) != summary.to_remove:
        raise AptSummaryMismatchError(
            f"apt: {len(removals)} Remv/Purg lines but the summary says "
            f"{summary.to_remove} to remove"
        )
    # Every name a block lists must have its Inst line (names as apt prints them,
    # "libc6:i386" for a foreign architecture; an apt that qualified one side only still
    # agrees on the bare names). A block cut short by a line this parser did not know is
    # not a contradiction: completeness is the summary count's job, checked above.
    downgraded = set(blocks.get("downgraded", ()))
    expected = {
        "upgraded": [u.name for u in old if u.name not in downgraded],
        "new": [u.name for u in new],
    }
    for key, names in expected.items():
        listed = blocks.get(key, [])
        stray = [n for n in listed if n not in names and _bare(n) not in map(_bare, names)]
        if stray:
            raise AptSummaryMismatchError(
                f"apt: the '{key}' block lists {truncate(' '.join(stray), 60)!r} "
                f"but no Inst line installs them"
            )
    held = len(blocks.get("kept_back", ())) + len(blocks.get("phased", ()))
    if held > summary.not_upgraded:
        raise AptSummaryMismatchError(
            f"apt: {held} packages are kept back/deferred but the summary says "
            f"{summary.not_upgraded} not upgraded"
        )


# --------------------------------------------------------------------------- dpkg-query
#
# dpkg-query -W -f='${binary:Package}\t${db:Status-Abbrev}\t${Version}\t${Architecture}
#                   \t${source:Package}\t${source:Version}\n'
# (Vuls scanner/debian.go uses the same fields with commas; tabs cannot occur in them.)
# db:Status-Abbrev is three characters: desired action (u i h r p), package status
# (n c H U F W t i), error flag (space or R) — dpkg-query(1).
DPKG_QUERY_FORMAT = (
    r"${binary:Package}\t${db:Status-Abbrev}\t${Version}\t${Architecture}"
    r"\t${source:Package}\t${source:Version}\n"
)
_STATUS = re.compile(r"[uihrp][ncHUFWti][ R]")


@dataclass(frozen=True)
class DpkgPackage:
    """One dpkg database entry.

    Attributes:
        name: package name without the ``:arch`` qualifier.
        arch: architecture (``amd64``, ``all``...).
        version: the version dpkg records (may be empty for never-installed entries).
        status: the three-character ``db:Status-Abbrev`` (e.g. ``"ii "``, ``"hi "``, ``"iF "``).
        source_name: source package name.
        source_version: source package version.
    """

    name: str
    arch: str
    version: str
    status: str
    source_name: str
    source_version: str

    @property
    def installed(self) -> bool:
        """True for ``ii``/``hi`` without an error flag: fully installed."""
        return self.status in ("ii ", "hi ")

    @property
    def held(self) -> bool:
        """True when the desired action is ``hold``."""
        return self.status[0] == "h"


@dataclass(frozen=True)
class DpkgInventory:
    """Result of the dpkg-query listing.

    Attributes:
        installed: packages in state ``ii``/``hi``.
        other: everything else (half-installed ``iF``, config-files ``rc``, ...).
    """

    installed: tuple[DpkgPackage, ...]
    other: tuple[DpkgPackage, ...]


def parse_dpkg_query(text: str) -> DpkgInventory:
    """Parse the output of ``dpkg-query -W -f=DPKG_QUERY_FORMAT``.

    Args:
        text: the command's stdout.

    Returns:
        The installed packages and, separately, those in any other state.

    Raises:
        ParseError: on a line without six tab-separated fields or with a bad status.
    """
    installed: list[DpkgPackage] = []
    other: list[DpkgPackage] = []
    for lineno, line in numbered_lines(text):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise ParseError(
                f"dpkg-query: expected 6 tab-separated fields, got {len(fields)}", line, lineno
            )
        package, status, version, arch, src, src_version = fields
        if not _STATUS.fullmatch(status):
            raise ParseError("dpkg-query: bad status abbreviation", line, lineno)
        if not package or any(c.isspace() for c in package):
            raise ParseError("dpkg-query: bad package name", line, lineno)
        pkg = DpkgPackage(package.partition(":")[0], arch, version, status, src, src_version)
        (installed if pkg.installed else other).append(pkg)
    return DpkgInventory(tuple(installed), tuple(other))


# --------------------------------------------------------------------------- changelogs
#
# debian/changelog entries start with "name (version) dists; urgency=..." at column 0
# (deb-changelog(5)); everything until the next such header belongs to that version.
# `apt-get changelog PKG` prints the same text (possibly after "Get:N ..." progress).
_CHANGELOG_HEADER = re.compile(
    r"(?P<src>[a-z0-9][a-z0-9+.-]+) \((?P<version>[^() ]+)\) (?P<dists>[^;]*);(?P<meta>.*)"
)
_CHANGELOG_TRAILER = re.compile(r" -- .+ <[^>]*>  .+")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.ASCII)
_CHANGELOG_PROGRESS = re.compile(r"(?:Get:\d+ .*|Fetched .*|Hit:\d+ .*|Ign:\d+ .*)")


_URGENCY = re.compile(r"\burgency=(?P<urgency>[A-Za-z]+)")
# Wording by which Debian/Ubuntu maintainers mark a security fix in an entry (besides CVE
# ids): "SECURITY UPDATE" (Ubuntu), "security fix/issue/update...", the Security Team's
# uploads, Debian/Ubuntu advisory ids.
_SECURITY_WORDING = re.compile(
    r"SECURITY UPDATE|\bsecurity (?:fix|issue|update|release|problem|bug|vulnerabilit|"
    r"advisor|flaw|hole|team)|\bSecurity Team\b|\b(?:DSA|DLA|USN)-\d+",
    re.IGNORECASE,
)


def changelog_entries(text: str) -> tuple[ChangelogEntry, ...]:
    """The entries of a Debian changelog, newest first, with their CVE ids, urgency and
    security wording.

    Args:
        text: a Debian changelog (``/usr/share/doc/PKG/changelog.Debian``, or
            ``apt-get changelog PKG`` output).

    Raises:
        ParseError: if the text has no changelog header, text appears before the first,
            or a header's version is not a Debian version.
    """
    entries: list[ChangelogEntry] = []
    version = urgency = ""
    cves: dict[str, None] = {}
    security = False

    def close() -> None:
        if version:
            entries.append(ChangelogEntry(version, urgency, tuple(cves), security))

    for lineno, line in numbered_lines(text):
        if m := _CHANGELOG_HEADER.fullmatch(line):
            close()
            try:
                compare_versions(m["version"], m["version"])
            except ValueError:
                raise ParseError("changelog: bad version in header", line, lineno) from None
            version = m["version"]
            u = _URGENCY.search(m["meta"])
            urgency = u["urgency"].lower() if u else ""
            cves, security = {}, False
            continue
        if not version:
            if not line.strip() or _CHANGELOG_PROGRESS.fullmatch(line):
                continue
            raise ParseError("changelog: text before the first entry header", line, lineno)
        for cve in _CVE.findall(line):
            cves.setdefault(cve, None)
        if not security and _SECURITY_WORDING.search(line):
            security = True
    close()
    if not entries:
        raise ParseError("changelog: no 'package (version) dist; urgency=' header found")
    return tuple(entries)


def newer_entries(entries: tuple[ChangelogEntry, ...] | list[ChangelogEntry],
                  installed_version: str | None) -> list[ChangelogEntry]:
    """The entries with a version greater than the installed one (dpkg's comparison);
    all of them when ``installed_version`` is None. Unreadable versions never count."""
    if installed_version is None:
        return list(entries)
    out = []
    for entry in entries:
        try:
            if compare_versions(entry.version, installed_version) > 0:
                out.append(entry)
        except ValueError:
            continue
    return out


def changelog_cves(text: str, installed_version: str | None) -> tuple[str, ...]:
    """CVE ids mentioned in changelog entries newer than the installed version.

    Args:
        text: a Debian changelog (``/usr/share/doc/PKG/changelog.Debian``, or
            ``apt-get changelog PKG`` output).
        installed_version: the installed version; entries with a version greater than it
            count (compared with dpkg's algorithm). None means every entry counts.

    Returns:
        The CVE ids, deduplicated, in order of first mention (newest entry first).

    Raises:
        ParseError: if the text has no changelog header, or text appears before the first.
    """
    seen: dict[str, None] = {}
    for entry in newer_entries(changelog_entries(text), installed_version):
        for cve in entry.cves:
            seen.setdefault(cve, None)
    return tuple(seen)
