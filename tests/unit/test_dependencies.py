"""Dependencies: the tested versions (constraints.txt) fit pyproject's ranges, the ranges
exclude releases with known advisories ([12].18), and CI runs the README's own command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_tested_version_is_inside_the_declared_range() -> None:
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no tested version in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def test_ranges_exclude_releases_with_known_advisories() -> None:
    reqs = {canonicalize_name(r.name): r.specifier for r in _requirements()}
    for name, bad in [("cryptography", "44.0.0"), ("pyside6-essentials", "6.6.1"),
                      ("paramiko", "3.3.1")]:
        assert not reqs[name].contains(bad), f"{name} {bad} is still allowed"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(sh packaging/debian-deps\.sh[^\n]*)\n```", readme)
    assert len(commands) == 2, commands
    install, test = commands
    assert "pip install -U pip setuptools" in install and "-c constraints.txt" in install
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "-c constraints.txt" in test
