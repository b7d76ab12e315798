"""Lab "Mac" hosts: kinds ``mac-intel`` and ``mac-arm``.

Stdlib only, no project imports (like lab.py). A Mac host is a Debian lab host (own netns,
real sshd, the ``admin``/``nopw`` users, a sudo that asks for admin's password) with
stand-ins for a Mac's tools first on PATH (/usr/local/bin, also first in sudo's
secure_path): ``uname`` (Darwin), ``sw_vers``, ``system_profiler``, ``softwareupdate``,
``sysctl`` (kern.boottime), ``shutdown`` (BSD style) and ``brew`` — one program,
tests/lab/mac_standin.py, that replays captured outputs of real Macs and keeps state:

=========  ====================================================================================
mac-intel  "Mac OS X" 10.14 (Mojave, the pre-10.15 ``softwareupdate`` format from salt's
           captured listing, ``[restart]`` and ``[shut down]`` items), no ``system_profiler
           -json`` (the text form of a Mac Pro's hardware overview), Homebrew in
           /usr/local owned by the SSH user ``admin``; sudo softwareupdate -i installs.
mac-arm    macOS 12.7.5 on Apple silicon (munki's captured Monterey listing: stray XType
           lines, a Safari update, a restart update and the Sonoma major upgrade),
           ``system_profiler -json`` of an M2, Homebrew in /opt/homebrew owned by ``maria``
           (not the SSH user), who is also the volume owner (password ``ownerpass``):
           softwareupdate -i needs ``--user maria --stdinpass`` with her password on stdin,
           and without it waits for a dialog on the "screen" (an hour) like a real one.
=========  ====================================================================================

The pairings of hardware and OS versions are artificial (the captures come from different
Macs); see docs/platforms.md for what these hosts prove and what not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

MAC_KINDS = ("mac-intel", "mac-arm")
HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
OWNER = "maria"
OWNER_PASSWORD = "ownerpass"
OWNER_UID = 1500
TOOLS = ("uname", "sw_vers", "system_profiler", "softwareupdate", "sysctl", "shutdown")
_STRAY = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ softwareupdate\[")
_ACTION_OLD = re.compile(r"\[(restart|shut down)\]")
_ACTION_NEW = re.compile(r"Action: (restart|shut down),")

PROFILES: dict[str, dict[str, Any]] = {
    "mac-intel": {
        "kernel": "18.7.0", "arch": "x86_64", "processor": "i386", "silicon": False,
        "sw_vers": {"ProductName": "Mac OS X", "ProductVersion": "10.14",
                    "BuildVersion": "18A391"},
        "listing": "macos/macos-10.14/softwareupdate-list.txt",
        "hardware_txt": "macos/macos-12/system_profiler-hardware.txt", "hardware_json": None,
        "brew": {"path": "usr/local/bin/brew", "repository": "/usr/local/Homebrew",
                 "prefix": "/usr/local", "owner": "admin"},
    },
    "mac-arm": {
        "kernel": "21.6.0", "arch": "arm64", "processor": "arm", "silicon": True,
        "sw_vers": {"ProductName": "macOS", "ProductVersion": "12.7.5",
                    "BuildVersion": "21H1222"},
        "listing": "macos/macos-12/softwareupdate-list.txt",
        "hardware_txt": "macos/macos-14/system_profiler-hardware.txt",
        "hardware_json": "macos/macos-14/system_profiler-hardware.json",
        "brew": {"path": "opt/homebrew/bin/brew", "repository": "/opt/homebrew",
                 "prefix": "/opt/homebrew", "owner": OWNER},
    },
}


def parse_listing(text: str) -> dict[str, Any]:
    """A captured ``softwareupdate --list``: header lines, stray lines, the "found" line
    and the items (their two captured lines, label, title, version, action)."""
    header: list[str] = []
    stray: list[str] = []
    found = ""
    items: list[dict[str, Any]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("* ", "- ")):
            detail = lines[i + 1]
            rest = stripped[2:]
            if rest.startswith("Label: "):
                label = rest[len("Label: "):]
                title = re.sub(r"^\s*Title: ", "", detail).split(", Version: ")[0]
                version = re.search(r"Version: ([^,]*),", detail)
                action = _ACTION_NEW.search(detail)
            else:
                label = rest
                title = re.sub(r"\s*\([^()]*\),\s*\d+K.*$", "", detail).strip().rstrip(",")
                version = re.search(r"\(([^()]*)\),\s*\d+K", detail)
                action = _ACTION_OLD.search(detail)
            item = {"label": label, "title": title,
                    "version": version.group(1).strip() if version else "",
                    "action": action.group(1) if action else "", "lines": [line, detail]}
            if re.match(r"^macOS ", title) and re.match(r"^\d+\.\d+", item["version"]):
                item["os_version"] = item["version"]
            items.append(item)
            i += 2
            continue
        if _STRAY.match(line):
            stray.append(line)
        elif line.startswith("Software Update found"):
            found = line
        elif not items:
            header.append(line)
        i += 1
    return {"su_header": header, "su_stray": stray, "su_found": found, "updates": items}


def _add_owner(root: Path) -> None:
    """The Mac's other user: Homebrew's owner and volume owner on the Apple-silicon Mac."""
    with (root / "etc" / "passwd").open("a") as f:
        f.write(f"{OWNER}:x:{OWNER_UID}:{OWNER_UID}:Maria:/home/{OWNER}:/bin/sh\n")
    with (root / "etc" / "group").open("a") as f:
        f.write(f"{OWNER}:x:{OWNER_UID}:\n")
    shadow = root / "etc" / "shadow"
    with shadow.open("a") as f:
        f.write(f"{OWNER}:!:19000:0:99999:7:::\n")
    home = root / "home" / OWNER
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, OWNER_UID, OWNER_UID)


def _uid(root: Path, user: str) -> int:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2])
    raise KeyError(user)


def install(root: Path, kind: str) -> None:
    """Make the mounted disk ``root`` of a lab host a Mac of ``kind``."""
    profile = PROFILES[kind]
    _add_owner(root)
    lib = root / "usr" / "local" / "lib" / "pdlab-mac"
    lib.mkdir(parents=True, exist_ok=True)
    standin = lib / "standin.py"
    shutil.copy2(HERE / "mac_standin.py", standin)
    standin.chmod(0o755)
    shutil.copy2(DATA / profile["hardware_txt"], lib / "hardware.txt")
    if profile["hardware_json"]:
        shutil.copy2(DATA / profile["hardware_json"], lib / "hardware.json")
    shutil.copy2(DATA / "brew/homebrew-4/as-root.stderr.txt", lib / "as-root.stderr.txt")
    state = {
        "kind": kind, "kernel": profile["kernel"], "arch": profile["arch"],
        "processor": profile["processor"], "silicon": profile["silicon"],
        "sw_vers": profile["sw_vers"], "profiler_json": bool(profile["hardware_json"]),
        "installed": [], "brew": {k: profile["brew"][k] for k in ("repository", "prefix")},
        "volume_owner": {"name": OWNER, "sha256": hashlib.sha256(
            OWNER_PASSWORD.encode()).hexdigest()},
        **parse_listing((DATA / profile["listing"]).read_text(encoding="utf-8")),
    }
    (lib / "state.json").write_text(json.dumps(state, indent=1))
    (lib / "state.json").chmod(0o644)
    bindir = root / "usr" / "local" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        (bindir / tool).symlink_to("../lib/pdlab-mac/standin.py")
    # Homebrew: its repository owned by its user, the outdated state from the capture.
    brew = profile["brew"]
    owner_uid = _uid(root, brew["owner"])
    repo = root / brew["repository"].lstrip("/")
    repo.mkdir(parents=True, exist_ok=True)
    data = json.loads((DATA / "brew/homebrew-4/outdated-mixed.json").read_text())
    (repo / ".pdlab-brew.json").write_text(json.dumps(data, indent=1))
    for path in (repo, repo / ".pdlab-brew.json"):
        os.chown(path, owner_uid, owner_uid)
    link = root / brew["path"]
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to("/usr/local/lib/pdlab-mac/standin.py")
    receipts = root / "Library" / "Receipts"
    receipts.mkdir(parents=True, exist_ok=True)
    shutil.copy2(DATA / "macos/macos-10.10/InstallHistory.plist",
                 receipts / "InstallHistory.plist")
