"""Where a patch comes from (its package manager), for filtering and for saying plainly
what a rollback can and cannot do before anyone approves a deployment. Pure rules."""

from __future__ import annotations

from collections.abc import Iterable

#: Package managers whose patches name themselves in the patch's source column.
THIRD_PARTY = {"apple": "Apple Software Update", "brew": "Homebrew", "winget": "winget",
               "choco": "Chocolatey"}
#: A host's driver → the package manager its other patches come from.
DRIVER_SOURCES = {"apt": "apt", "dnf": "dnf", "zypper": "zypper", "windows": "wua"}
SOURCES = ("apple", "brew", "winget", "choco", "apt", "dnf", "zypper", "wua")

_NO_ROLLBACK = {
    "apple": "Apple updates cannot be rolled back: macOS has no way to uninstall them.",
    "brew": "Homebrew upgrades cannot be rolled back by PatchDesk: brew keeps no older "
            "version to reinstall (a formula can be pinned before, not downgraded after).",
}


def patch_source(source: str, driver: str) -> str:
    """The package manager of a patch: its own source when it names one (apple, brew,
    winget, choco), else the host's driver's ("apt", "dnf", "zypper", "wua"); "" when
    neither is known."""
    if source in THIRD_PARTY:
        return source
    return DRIVER_SOURCES.get(driver, "")


def rollback_notes(sources: Iterable[str]) -> list[str]:
    """What cannot be rolled back, one sentence per package manager, for the plan and the
    wizard to show before approval (empty when everything can)."""
    return [_NO_ROLLBACK[s] for s in dict.fromkeys(sources) if s in _NO_ROLLBACK]
