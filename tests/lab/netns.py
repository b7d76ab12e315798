"""The lab's low level: subnets, network namespaces, mounts, per-lab locks and cleaning up
labs left by killed runs. Stdlib only (see lab.py)."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.lab.base import (
    run_dir,
)
from tests.lab.common import (
    PREFIX_RE,
    LabError,
    run,
    wait_until,
)

# --------------------------------------------------------------------------- low level


def _parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet)
    except ValueError as exc:
        raise LabError(f"bad lab subnet {subnet!r}: {exc}") from None
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen != 24:
        raise LabError(f"lab subnet must be an IPv4 /24, not {subnet}")
    return net


def _root_conflict(net: ipaddress.IPv4Network) -> str | None:
    """Why net cannot be used in the root namespace (an address or a non-default route
    overlapping it), or None."""
    cp = run(["ip", "-j", "-4", "addr", "show"], what="listing root addresses")
    for link in json.loads(cp.stdout or "[]"):
        for a in link.get("addr_info", []):
            iface = ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            if iface.network.overlaps(net):
                return f"overlaps {iface} on {link['ifname']} (stale lab? tests/lab/cleanup.sh)"
    cp = run(["ip", "-j", "-4", "route", "show"], what="listing root routes")
    for route in json.loads(cp.stdout or "[]"):
        dst = route.get("dst", "default")
        if dst == "default":
            continue
        if ipaddress.ip_network(dst, strict=False).overlaps(net):
            return f"overlaps the route {dst} dev {route.get('dev', '?')}"
    return None


def _ip_batch(ns: str, commands: Sequence[str]) -> None:
    run(
        ["ip", "-n", ns, "-batch", "-"],
        input="\n".join(commands) + "\n",
        what=f"configuring netns {ns}",
    )


def _sysctl(ns: str, key: str, value: str) -> None:
    with contextlib.suppress(LabError):
        run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"])


def _netns_list() -> list[str]:
    d = Path("/run/netns")
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _netns_pids(ns: str) -> list[int]:
    cp = run(["ip", "netns", "pids", ns], check=False, timeout=20)
    return [int(x) for x in cp.stdout.split()]


def _netns_del(ns: str) -> None:
    if ns not in _netns_list():
        return
    for _ in range(3):
        pids = _netns_pids(ns)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(LabError):
            wait_until(lambda: not _netns_pids(ns), timeout=5, what=f"processes in {ns}")
    run(["ip", "netns", "del", ns], check=False, what=f"deleting netns {ns}")


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4].encode().decode("unicode_escape")
        if mnt.startswith(prefix) or mnt == str(path):
            out.append(mnt)
    return out


def _umount_tree(path: Path) -> None:
    for mnt in sorted(_mounts_under(path), key=len, reverse=True):
        cp = run(["umount", mnt], check=False)
        if cp.returncode != 0:
            run(["umount", "-l", mnt], check=False)


def _destroy_lab(prefix: str, state_dir: Path | None) -> list[str]:
    """Kill, delete and unmount everything named for prefix; return what is left."""
    for ns in _netns_list():
        if ns.startswith(prefix + "-") and not ns.endswith("-br"):
            _netns_del(ns)
    _netns_del(f"{prefix}-br")  # last: its veths go with it
    link = f"{prefix}-root"
    if Path(f"/sys/class/net/{link}").exists():
        run(["ip", "link", "del", link], check=False)
    if state_dir is not None:
        _umount_tree(state_dir)
        if not _mounts_under(state_dir):
            shutil.rmtree(state_dir, ignore_errors=True)
    problems = [f"netns {ns}" for ns in _netns_list() if ns.startswith(prefix + "-")]
    if Path(f"/sys/class/net/{link}").exists():
        problems.append(f"link {link}")
    if state_dir is not None:
        problems += [f"mount {m}" for m in _mounts_under(state_dir)]
        if state_dir.exists():
            problems.append(f"dir {state_dir}")
    return problems


def _rpmhosts() -> Any:
    """tests/lab/rpmhosts.py (imported on first use: only labs with RPM hosts need it)."""
    from tests.lab import rpmhosts

    return rpmhosts


def _passwd_entry(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise LabError(f"no user {user} in {root}/etc/passwd")


def _lock_lab(rundir: Path, prefix: str, *, wait: bool = False) -> int:
    """flock <rundir>/<prefix>.lock (held for the lab's lifetime: it marks the lab live).

    Re-checks that the locked file is still the one at the path, so a concurrent cleanup
    that unlinked it cannot leave us holding a lock nobody sees. BlockingIOError if held.
    """
    rundir.mkdir(parents=True, exist_ok=True)
    path = rundir / f"{prefix}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def cleanup_stale(*, force: bool = False, rundir: Path | None = None) -> list[str]:
    """Remove labs left by killed runs (every `pdl*` netns/link/state dir whose owner no
    longer holds its lock; with force=True also live ones). Returns the prefixes removed."""
    rundir = rundir or run_dir()
    prefixes = set()
    for ns in _netns_list():
        m = re.match(r"^(pdl[a-z0-9]{1,6})-", ns)
        if m:
            prefixes.add(m.group(1))
    net = Path("/sys/class/net")
    for link in net.iterdir() if net.is_dir() else []:
        m = re.match(r"^(pdl[a-z0-9]{1,6})-root$", link.name)
        if m:
            prefixes.add(m.group(1))
    if rundir.is_dir():
        for p in rundir.iterdir():
            if PREFIX_RE.match(p.name.removesuffix(".lock")):
                prefixes.add(p.name.removesuffix(".lock"))
    removed = []
    for prefix in sorted(prefixes):
        fd = None
        if not force:
            try:
                fd = _lock_lab(rundir, prefix)
            except BlockingIOError:
                continue  # a live lab
        try:
            problems = _destroy_lab(prefix, rundir / prefix)
            with contextlib.suppress(FileNotFoundError):
                (rundir / f"{prefix}.lock").unlink()
        finally:
            if fd is not None:
                os.close(fd)
        if problems:
            raise LabError(f"could not clean lab {prefix}: {'; '.join(problems)}")
        removed.append(prefix)
    return removed
