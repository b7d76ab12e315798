"""The lab's constants and small helpers: running commands, waiting, the network-safety
guard, probing ports. Stdlib only (see lab.py)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent

SUITE = "bookworm"
SECURITY_SUITE = "bookworm-security"
# A third archive named like no Debian archive (an internal mirror); published only once a
# package is added to it; hosts see it after add_internal_mirror_source().
INTERNAL_SUITE = "internal-mirror"
ARCHIVE_SUITES = {"debian": SUITE, "debian-security": SECURITY_SUITE,
                  "internal-mirror": INTERNAL_SUITE}
DEBIAN_VERSION = "12"
BASE_PACKAGES: tuple[str, ...] = (
    "iproute2",
    "openssh-server",
    "passwd",
    "procps",
    "python3",
    "python3-apt",  # Ansible's apt module needs it (benchmarks)
    "sudo",
)
BASE_RECIPE_VERSION = "1"
DEFAULT_CACHE_DIR = "/var/cache/patchdesk-lab"
DEFAULT_RUN_DIR = "/run/patchdesk-lab"
DEFAULT_SUBNET = "10.99.0.0/24"
# subnet=None picks the first free one of these (concurrent labs on one machine)
AUTO_SUBNETS = tuple(ipaddress.IPv4Network(f"10.99.{i}.0/24") for i in range(64))
DEFAULT_PASSWORD = "labpass"
ADMIN_USER = "admin"
NOPW_USER = "nopw"
PREFIX_RE = re.compile(r"^pdl[a-z0-9]{1,6}$")
HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
RESERVED_HOST_NAMES = frozenset({"br", "client", "root"})
SOURCE_DATE_EPOCH = 1_700_000_000
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RPM_KINDS = ("rocky", "opensuse")  # real dnf / zypper over the base (tests/lab/rpmhosts.py)
MAC_KINDS = ("mac-intel", "mac-arm")  # Debian + stand-in Mac tools (tests/lab/machosts.py)
KINDS = ("debian", *RPM_KINDS, *MAC_KINDS, "printer", "windows", "firewalled", "closed")
_LINUX_KINDS = ("debian", *RPM_KINDS, *MAC_KINDS)  # real hosts: a disk, pd-init and sshd
_NO_PROCESS_KINDS = ("firewalled", "closed")  # just a netns: DROP everything / RST everything

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab step failed; the message names the step, the command and its output."""


def _log(msg: str) -> None:
    if os.environ.get("PATCHDESK_LAB_QUIET") != "1":
        print(f"[lab] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def _tail(text: str | None, n: int = 30) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-n:])


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = 60.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard timeout that kills its whole process group.

    Raises LabError (with the command, exit code and stderr) on failure when check=True,
    and always on timeout.
    """
    argv = [os.fspath(a) for a in argv]
    label = what or "command"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise LabError(f"{label}: cannot start `{shlex.join(argv)}`: {exc}") from exc
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise LabError(
            f"{label}: timed out after {timeout:g}s: `{shlex.join(argv)}`\n"
            f"stdout:\n{_tail(out)}\nstderr:\n{_tail(err)}"
        ) from None
    cp = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise LabError(
            f"{label}: `{shlex.join(argv)}` exited {proc.returncode}\n"
            f"stdout:\n{_tail(out)}\nstderr:\n{_tail(err)}"
        )
    return cp


def wait_until(
    predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.01
) -> T:
    """Poll predicate until it returns a truthy value; LabError after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = interval
    last_exc: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc})" if last_exc else ""
            raise LabError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


# Subnets of the labs running in this process: the socket helpers below refuse any other
# address (except loopback), so a test can never probe the outside world by mistake.
_LIVE_SUBNETS: set[ipaddress.IPv4Network] = set()


def _guard(ip: str) -> None:
    addr = ipaddress.ip_address(ip)
    if addr.is_loopback or any(addr in net for net in _LIVE_SUBNETS):
        return
    raise LabError(
        f"refusing to connect to {ip}: not loopback and not in a running lab subnet "
        f"({', '.join(map(str, _LIVE_SUBNETS)) or 'no lab running'})"
    )


def ssh_banner(ip: str, port: int = 22, timeout: float = 1.0) -> str:
    """Return the first line the server sends (the SSH identification string)."""
    _guard(ip)
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        data = b""
        while b"\n" not in data and len(data) < 512:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0].decode("ascii", "replace").strip()


def tcp_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to a lab (or loopback) address succeeds."""
    _guard(ip)
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not path:
        raise LabError(f"required tool `{name}` not found (see tests/lab/apt-packages.txt)")
    return path


def _system_python() -> str:
    """The machine's python3 (device listeners must not depend on the project venv)."""
    for cand in ("/usr/bin/python3", shutil.which("python3"), sys.executable):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise LabError("no python3 found for the device listeners")


def lab_unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None if it can."""
    if sys.platform != "linux":
        return "the test lab needs Linux"
    if os.geteuid() != 0:
        return "the test lab needs root (network namespaces, mounts, chroot)"
    for tool in ("ip", "unshare", "nsenter", "mount", "umount", "debootstrap", "dpkg-deb"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            return f"`{tool}` is not installed (apt-get install $(cat tests/lab/apt-packages.txt))"
    probe = f"pdlprobe{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe], timeout=10, what="probe ip netns")
    except LabError as exc:
        return f"`ip netns` does not work here: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None
