"""Parse ``/etc/os-release`` and map a distribution to its package-manager family."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from app.drivers.parsers._common import ParseError, numbered_lines

# os-release(5): "a newline-separated list of environment-like shell-compatible variable
# assignments"; values may be enclosed in single or double quotes, with backslash escapes
# for "$", quotes, backslash and backtick; variable names are upper case A–Z, 0–9, "_".
# https://www.freedesktop.org/software/systemd/man/latest/os-release.html
_ASSIGNMENT = re.compile(r"(?P<key>[A-Z_][A-Z0-9_]*)=(?P<value>.*)", re.ASCII)


@dataclass(frozen=True)
class OsRelease:
    """The identifying fields of an os-release file.

    Attributes:
        id: ``ID`` (lower case; defaults to ``"linux"`` as the spec says).
        id_like: ``ID_LIKE`` split on spaces, closest relative first.
        name: ``NAME`` (defaults to ``"Linux"``).
        version_id: ``VERSION_ID`` or None (rolling releases have none).
        version_codename: ``VERSION_CODENAME`` or None.
        pretty_name: ``PRETTY_NAME`` (defaults to ``"Linux"``).
        fields: every assignment, in file order.
    """

    id: str
    id_like: tuple[str, ...]
    name: str
    version_id: str | None
    version_codename: str | None
    pretty_name: str
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        """Return the value of any os-release variable, or None when absent."""
        for k, v in self.fields:
            if k == key:
                return v
        return None


_DQ_ESCAPABLE = frozenset('\\"$`')


def _unquote(value: str, line: str, lineno: int) -> str:
    """Undo os-release quoting: double quotes (with backslash escapes), single quotes, bare."""
    if value[:1] in ("'", '"'):
        quote = value[0]
        out: list[str] = []
        i = 1
        while i < len(value):
            ch = value[i]
            if ch == quote:
                if i != len(value) - 1:
                    raise ParseError("os-release: text after the closing quote", line, lineno)
                return "".join(out)
            if ch == "\\" and quote == '"' and i + 1 < len(value) and value[i + 1] in _DQ_ESCAPABLE:
                out.append(value[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        raise ParseError("os-release: unterminated quote", line, lineno)
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if ch.isspace() or ch in "'\"":
            # "NAME=Foo Bar" is not one assignment: a shell would run "Bar".
            raise ParseError("os-release: value is not one shell word", line, lineno)
        out.append(ch)
        i += 1
    return "".join(out)


def parse_os_release(text: str) -> OsRelease:
    """Parse the text of ``/etc/os-release`` (or ``/usr/lib/os-release``).

    Args:
        text: the file's contents.

    Returns:
        The parsed OsRelease.

    Raises:
        ParseError: on a line that is neither blank, a comment nor a valid assignment,
            on bad quoting, or when the text holds no assignment at all.
    """
    fields: list[tuple[str, str]] = []
    for lineno, raw in numbered_lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGNMENT.fullmatch(line)
        if m is None:
            raise ParseError("os-release: not a VAR=value line", raw, lineno)
        fields.append((m["key"], _unquote(m["value"], raw, lineno)))
    if not fields:
        raise ParseError("os-release: no assignments found")
    values = dict(fields)  # the last assignment wins, like in a shell
    return OsRelease(
        id=values.get("ID", "linux").lower(),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        name=values.get("NAME", "Linux"),
        version_id=values.get("VERSION_ID") or None,
        version_codename=values.get("VERSION_CODENAME") or None,
        pretty_name=values.get("PRETTY_NAME", "Linux"),
        fields=tuple(fields),
    )


# Distribution ID (fnmatch pattern) -> package-manager family. Looked up with ID first,
# then each ID_LIKE entry in order, as Ansible's pkg_mgr facts and Vuls' detectOS chain
# do with their own tables (tech-notes §4.1). Keep this a table: add rows, not branches.
PACKAGE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("debian", "apt"),
    ("ubuntu", "apt"),
    ("raspbian", "apt"),
    ("linuxmint", "apt"),
    ("pop", "apt"),
    ("elementary", "apt"),
    ("kali", "apt"),
    ("devuan", "apt"),
    ("rhel", "dnf"),
    ("centos", "dnf"),
    ("rocky", "dnf"),
    ("almalinux", "dnf"),
    ("fedora", "dnf"),
    ("ol", "dnf"),
    ("amzn", "dnf"),
    ("cloudlinux", "dnf"),
    ("eurolinux", "dnf"),
    ("sles", "zypper"),
    ("sled", "zypper"),
    ("sles_sap", "zypper"),
    ("suse", "zypper"),
    ("opensuse", "zypper"),
    ("opensuse-*", "zypper"),
)


def package_family(release: OsRelease) -> str | None:
    """Return ``"apt"``, ``"dnf"`` or ``"zypper"`` for a distribution, or None if unknown.

    ``ID`` is tried first, then each ``ID_LIKE`` entry (e.g. Linux Mint has
    ``ID_LIKE="ubuntu debian"``).

    Args:
        release: a parsed os-release.

    Returns:
        The family name from PACKAGE_FAMILIES, or None.
    """
    for candidate in (release.id, *release.id_like):
        for pattern, family in PACKAGE_FAMILIES:
            if fnmatch.fnmatchcase(candidate, pattern):
                return family
    return None
