"""Chocolatey and winget on a simulated Windows host (tests/lab/winrm_hosts.py).

What the reviewed scripts choco.ps1 (over WinRM) and apps_worker.ps1 (inside the SYSTEM
task) would print on a machine with these packages. The raw outputs follow the real ones
in tests/data/choco and tests/data/winget (NOTES.md there): choco 2.x ``-r`` lines
``name|current|available|pinned`` and ``name|version`` without headers; ``winget export``
JSON with PackageIdentifier/Version and the winget SourceDetails; the ``winget upgrade``
table of winget 1.7+ (padded columns, names longer than their column cut with "…", the
"N upgrades available." footer) after a progress spinner. winget is absent for SYSTEM
unless the host has it (``winget=None``: Server 2022 ships without it), and the
Microsoft.WinGet.Client module fails as SYSTEM under Windows PowerShell 5.1 (winget-cli
#3409) unless ``winget_module`` says it works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CHOCO_PATH = "C:\\ProgramData\\chocolatey\\bin\\choco.exe"
WINGET_PATH = ("C:\\Program Files\\WindowsApps\\Microsoft.DesktopAppInstaller_1.24.25200.0_"
               "x64__8wekyb3d8bbwe\\winget.exe")
_NAME_WIDTH = 40


@dataclass
class Package:
    """One installed third-party package."""

    id: str
    version: str
    available: str = ""  # "" = up to date
    pinned: bool = False  # choco pin
    name: str = ""  # winget's display name (ARP)
    #: Versions the source still serves (choco installs an older one for a rollback).
    served: list[str] = field(default_factory=list)


@dataclass
class Apps:
    """A host's Chocolatey and winget packages (None: the manager is not installed)."""

    choco: dict[str, Package] | None = None
    choco_version: str = "2.3.0"
    winget: dict[str, Package] | None = None
    winget_module: bool = False
    installs: list[str] = field(default_factory=list)  # "manager:id=version", in order
    #: package id -> exit code an install fails with (e.g. 1603 from an MSI)
    failures: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """Versions per manager, for the lab's state file."""
        return {"choco": {k: p.version for k, p in (self.choco or {}).items()},
                "winget": {k: p.version for k, p in (self.winget or {}).items()},
                "app_installs": list(self.installs)}

    # -- choco.ps1 ------------------------------------------------------------------------
    def choco_reply(self, action: str) -> dict[str, Any]:
        """choco.ps1's document."""
        doc: dict[str, Any] = {"schema": 1, "action": action,
                               "installed": self.choco is not None, "path": None,
                               "version": None, "exit_code": None, "lines": []}
        if self.choco is None:
            return doc
        doc.update(path=CHOCO_PATH, version=self.choco_version, exit_code=0)
        if action == "outdated":
            doc["lines"] = [f"{p.id}|{p.version}|{p.available}|{str(p.pinned).lower()}"
                            for p in self.choco.values() if p.available]
        else:
            doc["lines"] = [f"{p.id}|{p.version}" for p in self.choco.values()]
        return doc

    # -- apps_worker.ps1 in the task ------------------------------------------------------
    def search_result(self) -> dict[str, Any]:
        """apps_worker's apps_search result."""
        result: dict[str, Any] = {"schema": 1, "operation": "apps_search", "ok": True,
                                  "winget_path": None, "module": None,
                                  "module_error": "Could not load file or assembly "
                                  "'Microsoft.Management.Deployment' or one of its "
                                  "dependencies."}
        if self.winget is None:
            return result
        result["winget_path"] = WINGET_PATH
        if self.winget_module:
            result.pop("module_error")
            result["module"] = [{"Id": p.id, "Name": p.name, "InstalledVersion": p.version,
                                 "AvailableVersions": [p.available] if p.available else [],
                                 "IsUpdateAvailable": bool(p.available), "Source": "winget"}
                                for p in self.winget.values()]
        result.update(export_exit=0, export=self._export(), upgrade_exit=0,
                      upgrade=self._upgrade_table())
        return result

    def _export(self) -> str:
        doc = {"$schema": "https://aka.ms/winget-packages.schema.2.0.json",
               "CreationDate": "2024-11-12T09:30:00.000-00:00",
               "Sources": [{"Packages": [{"PackageIdentifier": p.id, "Version": p.version}
                                         for p in (self.winget or {}).values()],
                            "SourceDetails": {
                                "Argument": "https://cdn.winget.microsoft.com/cache",
                                "Identifier": "Microsoft.Winget.Source_8wekyb3d8bbwe",
                                "Name": "winget", "Type": "Microsoft.PreIndexed.Package"}}],
               "WinGetVersion": "1.9.25200"}
        return json.dumps(doc, indent="\t")

    def _upgrade_table(self) -> str:
        rows = [p for p in (self.winget or {}).values() if p.available]
        if not rows:
            return "   - \r   \\ \rNo installed package found matching input criteria."
        def cut(text: str, width: int) -> str:
            return text if len(text) <= width else text[: width - 1] + "\u2026"
        idw = max(len(p.id) for p in rows)
        vw = max(len("Version"), *(len(p.version) for p in rows))
        aw = max(len("Available"), *(len(p.available) for p in rows))
        lines = ["   - \r   \\ \r   | \r   / \r"
                 + f"{'Name':<{_NAME_WIDTH}} {'Id':<{idw}} {'Version':<{vw}} "
                 f"{'Available':<{aw}} Source"]
        lines.append("-" * len(lines[0].rsplit("\r", 1)[-1]))
        for p in rows:
            lines.append(f"{cut(p.name or p.id, _NAME_WIDTH):<{_NAME_WIDTH}} {p.id:<{idw}} "
                         f"{p.version:<{vw}} {p.available:<{aw}} winget")
        lines.append(f"{len(rows)} upgrades available.")
        return "\n".join(lines)

    def install_result(self, packages: list[dict[str, Any]]) -> dict[str, Any]:
        """apps_worker's apps_install: change the state, answer like choco/winget."""
        done = []
        for pkg in packages:
            manager, ident = str(pkg.get("manager")), str(pkg.get("id"))
            version = str(pkg.get("version"))
            table = self.choco if manager == "choco" else self.winget
            entry: dict[str, Any] = {"manager": manager, "id": ident, "version": version}
            current = (table or {}).get(ident)
            if table is None:
                entry.update(exit_code=-1, tail=[f"{manager} is not installed"])
            elif current is None or version not in (current.available, *current.served):
                entry.update(exit_code=1, tail=[f"{ident} not installed. The package was not "
                                                f"found with the source(s) listed."]
                             if manager == "choco" else
                             ["No version found matching: " + version])
            elif ident in self.failures:
                entry.update(exit_code=self.failures[ident],
                             tail=[f"{ident} not upgraded. An error occurred during "
                                   f"installation: Exit code {self.failures[ident]}"])
            else:
                old = current.version
                current.version = version
                if version not in current.served:
                    current.served.append(version)
                if old not in current.served:
                    current.served.append(old)
                current.available = current.available if current.available != version \
                    else ""
                if current.available == "" and version != max(current.served, key=_vkey):
                    current.available = max(current.served, key=_vkey)
                self.installs.append(f"{manager}:{ident}={version}")
                entry.update(exit_code=0, tail=[
                    "Chocolatey upgraded 1/1 packages." if manager == "choco"
                    else "Successfully installed"])
            done.append(entry)
        return {"schema": 1, "operation": "apps_install", "ok": True,
                "winget_path": WINGET_PATH if self.winget is not None else None,
                "installed": done}


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else 0 for x in version.split("."))


def win11_apps() -> Apps:
    """Windows 11: winget (App Installer) present, no Chocolatey."""
    return Apps(winget={p.id: p for p in (
        Package("Mozilla.Firefox", "131.0.3", "133.0", name="Mozilla Firefox (x64 en-US)"),
        Package("7zip.7zip", "23.01", "24.08", name="7-Zip 23.01 (x64)"),
        Package("Adobe.Acrobat.Reader.64-bit", "24.003.20180", "",
                name="Adobe Acrobat (64-bit)"),
    )})


def server2022_apps() -> Apps:
    """Server 2022: Chocolatey (no winget: the server ships without App Installer)."""
    return Apps(choco={p.id: p for p in (
        Package("googlechrome", "130.0.6723.117", "131.0.6778.86",
                served=["130.0.6723.117", "131.0.6778.86"]),
        Package("notepadplusplus.install", "8.6.9", "8.7.1", served=["8.6.9", "8.7.1"]),
        Package("7zip.install", "23.1.0", "24.8.0", pinned=True),
        Package("chocolatey", "2.3.0", ""),
    )})


def workgroup_apps() -> Apps:
    """The workgroup PC: both, Chocolatey and winget."""
    return Apps(choco={p.id: p for p in (
        Package("vlc", "3.0.20", "3.0.21", served=["3.0.20", "3.0.21"]),
        Package("chocolatey", "2.3.0", ""),
    )}, winget={p.id: p for p in (
        Package("Microsoft.VCRedist.2015+.x64", "14.36.32532.0", "14.40.33617.1",
                name="Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.36.32532"),
    )})
