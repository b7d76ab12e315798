"""The change set of one install transaction, from ``apt-get -s install pkg=ver ...``.

Only the ``Inst`` and ``Remv``/``Purg`` lines matter here (``Conf`` lines repeat ``Inst``).
Real apt appends any number of bracketed groups after them (ordering hints such as
``[libpam-modules:amd64 on libpam-modules-bin:amd64]``), and names a foreign-architecture
package ``name:arch``:

    Inst zlib1g [1:1.2.13.dfsg-1] (1:1.2.13.dfsg-1+deb12u1 Debian-Security:12/bookworm-se…
    Inst libc6-dev (2.36-9+deb12u14 Debian:12/bookworm [amd64]) []
    Remv pd-tools [2.0-1]

Every value read is validated (it becomes a command argument later: keep, roll back).
"""

from __future__ import annotations

import re

from app.core.deployment import PackageChange
from app.drivers.base import Simulation
from app.drivers.parsers import ParseError
from app.drivers.parsers.debversion import compare_versions
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version

_INST = re.compile(r"Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+)[ )]")
_REMV = re.compile(r"(?:Remv|Purg) (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])?")
_ARCH = re.compile(r"[a-z0-9][a-z0-9-]*")

__all__ = ["Simulation", "parse_simulation"]


def _action(old: str, new: str) -> str:
    if not old:
        return "install"
    order = compare_versions(new, old)
    return "upgrade" if order > 0 else "downgrade" if order < 0 else "reinstall"


def parse_simulation(text: str) -> Simulation:
    """Parse the output of the simulate script (``arch: X``, ``pin: name=version`` lines,
    then apt's).

    Raises:
        ParseError: no architecture line, or a package name/version that is not valid.
    """
    native = ""
    pins: dict[str, str] = {}
    changes: dict[str, PackageChange] = {}
    for line in text.splitlines():
        if line.startswith("arch: "):
            native = line.removeprefix("arch: ").strip()
            continue
        if line.startswith("pin: "):
            name, _, version = line.removeprefix("pin: ").strip().partition("=")
            try:
                pins[ensure_package_name(name, "deb", allow_arch=True)] = ensure_version(
                    version, "deb")
            except UnsafeValueError as exc:
                raise ParseError(f"apt simulation: {exc}") from None
            continue
        inst = _INST.match(line)
        remv = None if inst else _REMV.match(line)
        match = inst or remv
        if match is None:
            continue
        name, old = match["name"], match["old"] or ""
        new = inst["new"] if inst else ""
        try:
            ensure_package_name(name, "deb", allow_arch=True)
            for version in (old, new):
                if version:
                    ensure_version(version, "deb")
        except UnsafeValueError as exc:
            raise ParseError(f"apt simulation: {exc}") from None
        changes[name] = PackageChange(name, old, new, _action(old, new) if inst else "remove",
                                      name in pins)
    if not _ARCH.fullmatch(native):
        raise ParseError("apt simulation: the host's architecture is missing")
    return Simulation(native, pins, tuple(changes.values()))
