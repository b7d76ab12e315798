#!/usr/bin/python3
"""Stand-ins for a Mac's tools on a lab "Mac" host: uname, sw_vers, system_profiler,
softwareupdate, brew, sysctl and shutdown, one program chosen by the name it is run as.

They replay captured outputs of real Macs (tests/data/macos, tests/data/brew; copied to
/usr/local/lib/pdlab-mac/ with the host's state in state.json) and keep state: an install
removes the item from what is listed, records it in InstallHistory.plist and, for an OS
update, changes what sw_vers says. They prove PatchDesk's SSH, sudo, stdin and parsing
handling, not Apple's behaviour. Runs inside the host (its python3, stdlib only).
"""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import pwd
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

LIB = Path("/usr/local/lib/pdlab-mac")
STATE = LIB / "state.json"
HISTORY = Path("/Library/Receipts/InstallHistory.plist")
RESTART_TEXT = ("You have installed one or more updates that requires that you restart "
                "your computer.  Please restart immediately.")


def load() -> dict:
    return json.loads(STATE.read_text())


def save(state: dict) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.chmod(0o644)
    tmp.replace(STATE)


# -- uname / sw_vers / system_profiler / sysctl -----------------------------------------------
def uname(args: list[str], state: dict) -> int:
    values = {"-s": "Darwin", "-r": state["kernel"], "-m": state["arch"],
              "-n": Path("/etc/hostname").read_text().strip(), "-p": state["processor"]}
    if not args:
        args = ["-s"]
    if args == ["-a"]:
        args = ["-s", "-n", "-r", "-m"]
    print(" ".join(values.get(a, "") for a in args))
    return 0


def sw_vers(args: list[str], state: dict) -> int:
    v = state["sw_vers"]
    flags = {"-productName": "ProductName", "--productName": "ProductName",
             "-productVersion": "ProductVersion", "--productVersion": "ProductVersion",
             "-buildVersion": "BuildVersion", "--buildVersion": "BuildVersion",
             "-productVersionExtra": "ProductVersionExtra"}
    if args:
        print(v.get(flags.get(args[0], ""), ""))
        return 0
    for key in ("ProductName", "ProductVersion", "ProductVersionExtra", "BuildVersion"):
        if v.get(key):
            pad = "\t\t" if len(key) < 15 else "\t"
            print(f"{key}:{pad}{v[key]}")
    return 0


def system_profiler(args: list[str], state: dict) -> int:
    if "-json" in args:
        if not state["profiler_json"]:  # before 10.15
            print("system_profiler: unknown option -json", file=sys.stderr)
            return 1
        sys.stdout.write((LIB / "hardware.json").read_text())
        return 0
    sys.stdout.write((LIB / "hardware.txt").read_text())
    return 0


def boot_time() -> tuple[int, int]:
    """(seconds, microseconds) of this boot: /run/pd-boot-id is new with every boot."""
    boot = Path("/run/pd-boot-id")
    digest = hashlib.sha256(boot.read_bytes()).hexdigest()
    return int(boot.stat().st_mtime), int(digest[:8], 16) % 1_000_000


def sysctl(args: list[str], state: dict) -> int:
    names = [a for a in args if not a.startswith("-")]
    if names == ["kern.boottime"]:
        sec, usec = boot_time()
        print(f"{{ sec = {sec}, usec = {usec} }} {time.ctime(sec)}")
        return 0
    if names == ["vm.loadavg"]:
        print("{ " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " }")
        return 0
    os.execv("/usr/sbin/sysctl", ["sysctl", *args])  # noqa: S606 - the real one
    return 1


def shutdown(args: list[str], state: dict) -> int:
    """BSD shutdown: records the request, broadcasts the message, and waits in the
    background as a process named shutdown (killing it cancels)."""
    if os.geteuid() != 0:
        print("shutdown: NOT super-user", file=sys.stderr)
        return 1
    words = [a for a in args if a != "--"]
    message = " ".join(w for w in words if not w.startswith(("-", "+")))
    Path("/run/pd-shutdown-request").write_text(" ".join(args) + "\n")
    os.system(f"echo {json.dumps(message)} | wall")  # noqa: S605 - lab stand-in
    if os.fork() == 0:
        os.setsid()
        fd = os.open("/dev/null", os.O_RDWR)
        for n in (0, 1, 2):
            os.dup2(fd, n)
        time.sleep(3600)
        os._exit(0)
    return 0


# -- softwareupdate -------------------------------------------------------------------------
def _items(state: dict) -> list[dict]:
    return [i for i in state["updates"] if i["label"] not in state["installed"]]


def softwareupdate(args: list[str], state: dict) -> int:
    if args[:1] in (["-l"], ["--list"]):
        for line in state["su_header"]:
            print(line)
        for line in state["su_stray"]:
            print(line, file=sys.stderr)
        items = _items(state)
        if not items:
            print("No new software available.", file=sys.stderr)
            return 1  # as 10.15.7 does
        print(state["su_found"])
        for item in items:
            print(item["lines"][0])
            print(item["lines"][1])
        return 0
    if args[:1] in (["-i"], ["--install"]):
        return _install(args[1:], state)
    print("usage: softwareupdate <cmd> [<args> ...]", file=sys.stderr)
    return 1


def _install(args: list[str], state: dict) -> int:
    if os.geteuid() != 0:
        print("softwareupdate: must be run as root to install", file=sys.stderr)
        return 1
    labels: list[str] = []
    user, stdinpass = "", False
    i = 0
    while i < len(args):
        if args[i] == "--user" and i + 1 < len(args):
            user = args[i + 1]
            i += 2
            continue
        if args[i] == "--stdinpass":
            stdinpass = True
        elif args[i] not in ("--restart", "--agree-to-license", "--verbose"):
            labels.append(args[i])
        i += 1
    if state["silicon"]:
        if not (user and stdinpass):
            # What a real Apple-silicon Mac does over SSH: ask on its screen and wait.
            print("Authorization is required; waiting for a volume owner on the Mac.",
                  flush=True)
            time.sleep(3600)
            return 1
        password = sys.stdin.readline().rstrip("\n")
        owner = state["volume_owner"]
        if user != owner["name"] or hashlib.sha256(password.encode()).hexdigest() != \
                owner["sha256"]:
            print(f"Failed to authenticate user {user}.", file=sys.stderr)
            return 1
    offered = {i["label"]: i for i in _items(state)}
    rc, restart = 0, False
    for label in labels:
        item = offered.get(label)
        if item is None:
            print(f"{label}: No such update", file=sys.stderr)
            rc = 1
            continue
        print(f"Downloading {item['title']}")
        print(f"Installing {item['title']}")
        state["installed"].append(label)
        if item.get("os_version"):
            state["sw_vers"]["ProductVersion"] = item["os_version"]
        restart = restart or item["action"] in ("restart", "shut down")
        _history(item)
        print(f"Done with {label}")
    save(state)
    if restart:
        print(RESTART_TEXT)
    return rc


def _history(item: dict) -> None:
    entries = plistlib.loads(HISTORY.read_bytes()) if HISTORY.exists() else []
    package = "com.apple.pkg." + re.sub("[^A-Za-z0-9]", "", item["label"])
    entries.append({"date": datetime.now(UTC).replace(tzinfo=None),
                    "displayName": item["title"], "displayVersion": item["version"],
                    "processName": "softwareupdated",
                    "packageIdentifiers": [package]})
    HISTORY.write_bytes(plistlib.dumps(entries))


# -- brew -----------------------------------------------------------------------------------
def brew(args: list[str], state: dict) -> int:
    repo = Path(state["brew"]["repository"])
    if os.geteuid() == 0:
        sys.stderr.write((LIB / "as-root.stderr.txt").read_text())
        return 1
    if args[:1] == ["--repository"]:
        print(repo)
        return 0
    if args[:1] == ["--prefix"]:
        print(state["brew"]["prefix"])
        return 0
    if os.stat(repo).st_uid != os.geteuid():
        print(f"Error: {repo} is not writable. You should change the ownership of these "
              f"directories to {pwd.getpwuid(os.stat(repo).st_uid).pw_name}.",
              file=sys.stderr)
        return 1
    data_file = repo / ".pdlab-brew.json"
    data = json.loads(data_file.read_text())
    kinds = {"--formula": "formulae", "--formulae": "formulae", "--cask": "casks",
             "--casks": "casks"}
    wanted = [kinds[a] for a in args if a in kinds] or ["formulae", "casks"]
    names = [a for a in args[1:] if not a.startswith("-")]
    if args[:1] == ["outdated"]:
        out = {k: [i for i in data[k] if k in wanted and i["installed_versions"][-1]
                   != i["current_version"]] for k in ("formulae", "casks")}
        print(json.dumps(out, indent=2))
        return 0
    if args[:1] == ["list"]:
        rc = 0
        for name in names:
            found = [i for k in wanted for i in data[k] if i["name"] == name]
            if found:
                print(name, " ".join(found[0]["installed_versions"]))
            else:
                print(f"Error: No such keg: {name}", file=sys.stderr)
                rc = 1
        return rc
    if args[:1] == ["upgrade"]:
        rc = 0
        for name in names:
            found = [i for k in wanted for i in data[k] if i["name"] == name]
            if not found:
                print(f"Error: No available formula or cask with the name \"{name}\".",
                      file=sys.stderr)
                rc = 1
                continue
            item = found[0]
            if item.get("pinned"):
                print(f"Error: Not upgrading 1 pinned package:\n{name} "
                      f"{item['installed_versions'][-1]}", file=sys.stderr)
                rc = 1
                continue
            print(f"==> Upgrading {name}\n  {item['installed_versions'][-1]} -> "
                  f"{item['current_version']}")
            item["installed_versions"] = [item["current_version"]]
        data_file.write_text(json.dumps(data, indent=1))
        return rc
    print(f"Error: Unknown command: {args[:1]}", file=sys.stderr)
    return 1


TOOLS = {"uname": uname, "sw_vers": sw_vers, "system_profiler": system_profiler,
         "sysctl": sysctl, "shutdown": shutdown, "softwareupdate": softwareupdate,
         "brew": brew}

if __name__ == "__main__":
    tool = TOOLS[Path(sys.argv[0]).name]
    sys.exit(tool(sys.argv[1:], load()))
