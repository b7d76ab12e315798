"""Pure parser for ``brew outdated --json=v2`` (Homebrew's cmd/outdated.rb ``json_info``):
``{"formulae": [{name, installed_versions, current_version, pinned, pinned_version}],
"casks": [{name, installed_versions, current_version}]}``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.drivers.parsers._common import ParseError, truncate

#: Formula and cask names (a tap's are "user/tap/name"); nothing a shell would read.
BREW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@+._-]*(?:/[A-Za-z0-9][A-Za-z0-9@+._-]*){0,2}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.,_:+~-]{0,99}$")


@dataclass(frozen=True, slots=True)
class BrewOutdated:
    """One outdated formula or cask."""

    name: str
    kind: str  # "formula" | "cask"
    installed: str
    current: str
    pinned: bool = False
    pinned_version: str = ""


def _version(value: object, what: str) -> str:
    if not isinstance(value, str) or not _VERSION.match(value):
        raise ParseError(f"brew gave {what} that is not a version: {truncate(repr(value))}")
    return value


def _item(raw: Any, kind: str) -> BrewOutdated:
    if not isinstance(raw, dict):
        raise ParseError(f"a {kind} entry that is not an object")
    name = raw.get("name")
    if not isinstance(name, str) or not BREW_NAME.match(name):
        raise ParseError(f"a {kind} with an invalid name: {truncate(repr(name))}")
    installed = raw.get("installed_versions")
    if isinstance(installed, str):  # casks, Homebrew before 2.7: one string
        installed = [installed]
    if not isinstance(installed, list) or not installed:
        raise ParseError(f"{name}: no installed_versions")
    newest = _version(installed[-1], "an installed version")
    pinned = raw.get("pinned", False) is True
    pinned_version = raw.get("pinned_version") or ""
    if pinned_version:
        pinned_version = _version(pinned_version, "a pinned version")
    return BrewOutdated(name, kind, newest, _version(raw.get("current_version"),
                                                     "a current version"),
                        pinned, pinned_version)


def parse_brew_outdated(text: str) -> list[BrewOutdated]:
    """Every outdated formula and cask; pinned formulae are listed (and marked).

    Raises:
        ParseError: not the v2 JSON document (cut short, v1's bare list, an error page).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"brew outdated printed no JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("formulae"), list) \
            or not isinstance(data.get("casks"), list):
        raise ParseError("brew outdated --json=v2 gave no formulae/casks lists")
    return [*(_item(f, "formula") for f in data["formulae"]),
            *(_item(c, "cask") for c in data["casks"])]
