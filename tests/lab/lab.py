"""PatchDesk test lab: real Debian 12 hosts in network namespaces.

Stdlib only, no project imports, so it can run with any Python >= 3.11 (also as a script:
``python3 tests/lab/lab.py --help``).

Layout of one lab (prefix ``pdlXXXX``, subnet 10.99.0.0/24 by default)::

    netns pdlXXXX-br      bridge br0 10.99.0.1/24 + apt repository over HTTP (port 80)
    netns pdlXXXX-client  eth0 10.99.0.250/24, no default route (scanners run here)
    root namespace        pdlXXXX-root 10.99.0.254/24 (only the lab subnet route)
    netns pdlXXXX-<host>  eth0 10.99.0.N/24, MAC 02:99:00:00:<o3>:<o4>

A Debian host is an overlayfs (upper per host) over a per-lab "layer" (the lab's packages
installed, apt lists fetched) over the cached debootstrap base, run with
``unshare --pid --mount --uts --ipc --fork`` + ``chroot`` inside its netns, with a tiny
init (``/sbin/pd-init``) that mounts /proc, /sys, /dev, /run, /tmp, writes
``/run/pd-boot-id`` and keeps ``sshd -D`` running.

Hosts share the machine's kernel: ``/proc/sys/kernel/random/boot_id`` never changes, so a
simulated reboot (all processes killed, init restarted) is observable only through
``/run/pd-boot-id`` (new on every start, /run is a fresh tmpfs) and the processes' start
times.

Network safety: no lab namespace has a default route; the bridge has no uplink; the root
namespace only gets a connected route for the lab subnet. The only outside access is
debootstrap fetching Debian packages from the machine's configured Debian mirror when the
base is (re)built.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import email.utils
import fcntl
import gzip
import hashlib
import ipaddress
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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
KINDS = ("debian", *RPM_KINDS, "printer", "windows", "firewalled", "closed")
_LINUX_KINDS = ("debian", *RPM_KINDS)  # real hosts: a disk, pd-init and sshd
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


# --------------------------------------------------------------------------- mirror


def _sources_files(etc: Path) -> list[Path]:
    files = []
    main = etc / "sources.list"
    if main.is_file():
        files.append(main)
    d = etc / "sources.list.d"
    if d.is_dir():
        files += sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".list", ".sources"))
    return files


def _parse_list_file(text: str) -> Iterator[tuple[str, list[str]]]:
    line_re = re.compile(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = line_re.match(line)
        if m:
            yield m.group(1), [m.group(2)]


def _parse_deb822(text: str) -> Iterator[tuple[str, list[str]]]:
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key = None
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if raw[0] in " \t" and key:
            cur[key] += " " + raw.strip()
            continue
        if ":" in raw:
            k, v = raw.split(":", 1)
            key = k.strip().lower()
            cur[key] = v.strip()
    for st in stanzas:
        if st.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in st.get("types", "").split():
            continue
        suites = st.get("suites", "").split()
        for uri in st.get("uris", "").split():
            yield uri, suites


def find_debian_mirror(suite: str = SUITE, etc: str | os.PathLike[str] = "/etc/apt") -> str:
    """The first configured apt URI (http/https/file) whose suites include ``suite``.

    ``PATCHDESK_LAB_MIRROR`` overrides it. No mirror host name is hard-coded anywhere.
    """
    override = os.environ.get("PATCHDESK_LAB_MIRROR")
    if override:
        return override
    etc = Path(etc)
    files = _sources_files(etc)
    for f in files:
        text = f.read_text(errors="replace")
        entries = _parse_deb822(text) if f.suffix == ".sources" else _parse_list_file(text)
        for uri, suites in entries:
            if suite in suites and uri.split(":", 1)[0] in ("http", "https", "file"):
                return uri.rstrip("/")
    raise LabError(
        f"no Debian mirror for suite {suite!r} in the apt configuration "
        f"({', '.join(map(str, files)) or f'no sources files under {etc}'}); "
        "set PATCHDESK_LAB_MIRROR"
    )


# --------------------------------------------------------------------------- base image

# Runs inside the fresh debootstrap tree (chroot) once, when the base is built.
BASE_CONFIG_SCRIPT = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
# the hosts must only ever see the lab repository
rm -f /etc/apt/sources.list
rm -rf /etc/apt/sources.list.d/*
# services never auto-start from maintainer scripts (there is no init system anyway)
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
# users: admin (sudo asks for the password), nopw (NOPASSWD sudo); root cannot log in
id admin >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo admin
id nopw >/dev/null 2>&1 || useradd -m -s /bin/bash nopw
printf 'admin:labpass\nnopw:labpass\n' | chpasswd
passwd -l root >/dev/null
printf 'nopw ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/nopw
chmod 0440 /etc/sudoers.d/nopw
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/patchdesk-lab.conf <<'EOF'
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
MaxStartups 100:30:300
EOF
# every host generates its own keys on first boot (ssh-keygen -A in pd-init)
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
printf '' > /etc/resolv.conf
mkdir -p /var/log
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/bootstrap.log
"""


def base_key() -> str:
    recipe = {
        "recipe": BASE_RECIPE_VERSION,
        "suite": SUITE,
        "variant": "minbase",
        "packages": sorted(BASE_PACKAGES),
        "config": BASE_CONFIG_SCRIPT,
        "arch": _dpkg_arch(),
    }
    blob = json.dumps(recipe, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_ARCH: str | None = None


def _dpkg_arch() -> str:
    global _ARCH
    if _ARCH is None:
        try:
            _ARCH = run(["dpkg", "--print-architecture"], timeout=10).stdout.strip()
        except LabError:
            _ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64")
    return _ARCH


def cache_dir() -> Path:
    return Path(os.environ.get("PATCHDESK_LAB_CACHE", DEFAULT_CACHE_DIR))


def run_dir() -> Path:
    return Path(os.environ.get("PATCHDESK_LAB_RUNDIR", DEFAULT_RUN_DIR))


@contextlib.contextmanager
def _flock(path: Path, timeout: float, what: str) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"timed out after {timeout:g}s waiting for {what}") from None
                if not announced:
                    _log(f"waiting for {what} (another run holds {path})")
                    announced = True
                time.sleep(0.2)
        yield fd
    finally:
        os.close(fd)


def ensure_base(cache: Path | None = None, *, timeout: float = 900.0) -> Path:
    """Return the cached base rootfs directory, building it with debootstrap if missing.

    Build is atomic (temp dir + rename) and serialised with flock, so concurrent runs build
    once. Reruns with the same recipe take ~0 s.
    """
    cache = cache or cache_dir()
    key = base_key()
    final = cache / f"base-{key}"
    if (final / "etc" / "patchdesk-lab-base").is_file():
        return final
    with _flock(cache / ".build.lock", timeout, "the lab base build lock"):
        if (final / "etc" / "patchdesk-lab-base").is_file():
            return final
        for stale in cache.glob(".build-*"):
            _log(f"removing stale partial build {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        mirror = find_debian_mirror()
        tmp = cache / f".build-{key}-{os.getpid()}"
        _log(f"building the lab base {final.name} from {mirror} (takes ~1 min)")
        t0 = time.monotonic()
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        try:
            run(
                [
                    _tool("debootstrap"),
                    "--variant=minbase",
                    "--include=" + ",".join(BASE_PACKAGES),
                    "--components=main",
                    f"--cache-dir={debs}",
                    SUITE,
                    str(tmp),
                    mirror,
                ],
                timeout=timeout,
                what="debootstrap of the lab base",
                env={**os.environ, "LANG": "C", "LC_ALL": "C"},
            )
            _run_in_chroot(tmp, BASE_CONFIG_SCRIPT, what="configuring the lab base")
            (tmp / "etc" / "patchdesk-lab-base").write_text(
                json.dumps({"key": key, "packages": BASE_PACKAGES, "suite": SUITE}) + "\n"
            )
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _log(f"lab base built in {time.monotonic() - t0:.1f}s: {final}")
        _prune_bases(cache, keep=final)
    return final


def _prune_bases(cache: Path, keep: Path) -> None:
    """Delete bases of older recipes that no running lab has mounted (they are ~200 MB)."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for old in cache.glob("base-*"):
        if old != keep and old.is_dir() and str(old) not in mountinfo:
            _log(f"removing superseded lab base {old}")
            shutil.rmtree(old, ignore_errors=True)


def _run_in_chroot(
    root: Path,
    script: str,
    *,
    what: str,
    netns: str | None = None,
    overlay: tuple[str, Path, Path] | None = None,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run a shell script chrooted into root, with /proc and /dev mounted in a private
    mount namespace (so every mount disappears with the process, even on a crash).

    overlay=(lowerdirs, upper, work) mounts an overlay on root first (root = mountpoint).
    """
    setup = ["set -eu"]
    if overlay:
        lower, upper, work = overlay
        setup.append(
            "mount -t overlay overlay -o "
            + shlex.quote(f"lowerdir={lower},upperdir={upper},workdir={work}")
            + f" {shlex.quote(str(root))}"
        )
    r = shlex.quote(str(root))
    setup += [
        f"mount -t proc proc {r}/proc",
        f"mount --rbind /dev {r}/dev",
        f"mount -t tmpfs tmpfs {r}/run",
        f"mount -t tmpfs tmpfs {r}/tmp",
        f"exec chroot {r} /bin/sh -s",
    ]
    argv = [_tool("unshare"), "--mount", "--propagation", "private", "--fork"]
    argv += ["/bin/sh", "-c", "\n".join(setup)]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = {"PATH": HOST_PATH, "LANG": "C", "LC_ALL": "C", "HOME": "/root"}
    return run(argv, input=script, timeout=timeout, what=what, env=env)


# --------------------------------------------------------------------------- packages


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    """One version of one lab package (Architecture: all)."""

    name: str
    version: str
    archive: str = "debian"  # a key of ARCHIVE_SUITES
    postinst: str | None = None
    description: str = ""
    depends: str | None = None
    changelog: str | None = None  # Debian changelog text shipped in /usr/share/doc
    deb: str | None = None  # a real Debian .deb file served as is (not built)

    @property
    def filename(self) -> str:
        return Path(self.deb).name if self.deb else f"{self.name}_{self.version}_all.deb"

    @property
    def suite(self) -> str:
        return ARCHIVE_SUITES[self.archive]


POSTINST_FAIL = """#!/bin/sh
echo "pd-broken: simulated maintainer script failure" >&2
exit 1
"""

POSTINST_REBOOT = """#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    echo '*** System restart required ***' > /var/run/reboot-required
    echo '{name}' >> /var/run/reboot-required.pkgs
fi
exit 0
"""

DEFAULT_PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("pd-openssl", "1.0-1", description="PatchDesk lab TLS library"),
    PackageSpec(
        "pd-openssl",
        "1.0-2",
        archive="debian-security",
        description="PatchDesk lab TLS library (security fix)",
    ),
    PackageSpec("pd-tools", "2.0-1", description="PatchDesk lab tools"),
    PackageSpec("pd-tools", "2.1-1", description="PatchDesk lab tools (normal update)"),
    PackageSpec("pd-broken", "1.0-1", description="PatchDesk lab package"),
    PackageSpec(
        "pd-broken",
        "1.1-1",
        postinst=POSTINST_FAIL,
        description="PatchDesk lab package (its postinst fails)",
    ),
    PackageSpec("pd-kernel", "5.0-1", description="PatchDesk lab kernel"),
    PackageSpec(
        "pd-kernel",
        "5.1-1",
        postinst=POSTINST_REBOOT.format(name="pd-kernel"),
        description="PatchDesk lab kernel (update requires a reboot)",
    ),
)

# What a default debian host has installed at start.
DEFAULT_INSTALLED: dict[str, str] = {
    "pd-openssl": "1.0-1",
    "pd-tools": "2.0-1",
    "pd-broken": "1.0-1",
    "pd-kernel": "5.0-1",
}
# What `apt-get -s upgrade` offers on a default host.
DEFAULT_UPGRADES: dict[str, tuple[str, str, str]] = {
    # name: (installed, candidate, suite)
    "pd-openssl": ("1.0-1", "1.0-2", SECURITY_SUITE),
    "pd-tools": ("2.0-1", "2.1-1", SUITE),
    "pd-broken": ("1.0-1", "1.1-1", SUITE),
    "pd-kernel": ("5.0-1", "5.1-1", SUITE),
}


# Real Debian packages with a real dependency chain (issue [7]): zlib1g-dev's update pulls
# the matching zlib1g along (Depends: zlib1g (= same version)). Old: the release's (the
# lab base has that zlib1g); new: the security update. zlib1g-dev also needs
# libc6-dev | libc-dev, whose closure is served at the versions matching the base's
# libraries (value: the base package whose version it must equal; None: the mirror's).
REAL_UPDATES: dict[str, tuple[str, str]] = {
    "zlib1g": ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
    "zlib1g-dev": ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
}
REAL_DEPENDS: dict[str, str | None] = {
    "libc6-dev": "libc6",
    "libc-dev-bin": "libc6",
    "libcrypt-dev": "libcrypt1",
    "libnsl-dev": "libnsl2",
    "libtirpc-dev": "libtirpc3",
    "linux-libc-dev": None,
    "rpcsvc-proto": None,
}


def fetch_real_debs(base: Path, cache: Path | None = None) -> list[PackageSpec]:
    """The real packages above as lab package specs, their .deb files downloaded ONCE with
    ``apt-get download`` from this machine's configured Debian mirror into the lab cache."""
    store = (cache or cache_dir()) / "real-debs"
    wanted: list[tuple[str, str | None, str]] = []  # name, version (None: candidate), archive
    for name, (old, new) in REAL_UPDATES.items():
        wanted += [(name, old, "debian"), (name, new, "debian-security")]
    for name, match in REAL_DEPENDS.items():
        version = None
        if match:
            version = run([_tool("dpkg-query"), f"--admindir={base}/var/lib/dpkg", "-W",
                           "-f=${Version}", match], what=f"reading {match}'s version in the base"
                          ).stdout.strip()
        wanted.append((name, version, "debian"))
    specs: list[PackageSpec] = []
    with _flock(store / ".lock", 600, "the lab's real package download"):
        for name, version, archive in wanted:
            pattern = f"{name}_{(version or '*').replace(':', '%3a')}_*.deb"
            found = sorted(store.glob(pattern))
            if not found:
                pin = f"{name}={version}" if version else name
                run(["apt-get", "download", "-q", pin], cwd=store, timeout=300,
                    what=f"downloading {pin} from this machine's Debian mirror",
                    env={**os.environ, "LANG": "C", "LC_ALL": "C"})
                found = sorted(store.glob(pattern))
            if not found:
                raise LabError(f"apt-get download of {name} {version or ''} left no file")
            deb = found[-1]
            real_version = version or run([_tool("dpkg-deb"), "-f", str(deb), "Version"],
                                          what=f"reading {deb.name}").stdout.strip()
            specs.append(PackageSpec(name, real_version, archive=archive, deb=str(deb)))
    return specs


def build_deb(spec: PackageSpec, outdir: Path, workdir: Path) -> Path:
    """Build a tiny deterministic .deb installing /usr/share/<name>/VERSION."""
    root = workdir / f"{spec.name}_{spec.version}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    share = root / "usr" / "share" / spec.name
    share.mkdir(parents=True)
    (share / "VERSION").write_text(spec.version + "\n")
    if spec.changelog:
        doc = root / "usr" / "share" / "doc" / spec.name
        doc.mkdir(parents=True)
        # mtime=0: the .deb stays byte-for-byte reproducible.
        (doc / "changelog.Debian.gz").write_bytes(
            gzip.compress(spec.changelog.encode("utf-8"), mtime=0))
    desc = spec.description or f"PatchDesk lab package {spec.name}"
    control = [
        f"Package: {spec.name}",
        f"Version: {spec.version}",
        "Architecture: all",
        "Maintainer: PatchDesk Lab <lab@patchdesk.invalid>",
        "Section: admin",
        "Priority: optional",
        "Installed-Size: 1",
    ]
    if spec.depends:
        control.append(f"Depends: {spec.depends}")
    control += [f"Description: {desc}", " Package built by the PatchDesk test lab."]
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    if spec.postinst:
        p = root / "DEBIAN" / "postinst"
        p.write_text(spec.postinst)
        p.chmod(0o755)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.name == "postinst" else 0o644)
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    out = outdir / spec.filename
    run(
        [_tool("dpkg-deb"), "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
        env={**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)},
        what=f"building {spec.filename}",
    )
    shutil.rmtree(root, ignore_errors=True)
    return out


class AptRepo:
    """The lab's apt repository: two archives (``debian`` with suite ``bookworm``,
    ``debian-security`` with suite ``bookworm-security``) under one HTTP root.

    Every built .deb stays in a private store; ``publish`` links the *indexed* versions
    into the served pool and regenerates Packages/Release. Dropping a version removes it
    from the index and from the served pool.
    """

    def __init__(self, root: Path, store: Path) -> None:
        self.root = root
        self.store = store
        self.specs: dict[tuple[str, str], PackageSpec] = {}
        self.indexed: set[tuple[str, str]] = set()
        self._last_release_mtime = 0.0
        self.arch = _dpkg_arch()

    def add(self, specs: Iterable[PackageSpec], *, index: bool = True) -> None:
        specs = list(specs)
        self.store.mkdir(parents=True, exist_ok=True)
        work = self.store / ".work"
        work.mkdir(exist_ok=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: build_deb(s, self.store, work),
                          [s for s in specs if not s.deb]))
        for s in specs:
            if s.deb and not (self.store / s.filename).exists():
                shutil.copy2(s.deb, self.store / s.filename)
        for s in specs:
            self.specs[(s.name, s.version)] = s
            if index:
                self.indexed.add((s.name, s.version))

    def deb_path(self, name: str, version: str) -> Path:
        return self.store / self.specs[(name, version)].filename

    def publish(self) -> None:
        used = {s.archive for s in self.specs.values()}
        for archive, suite in ARCHIVE_SUITES.items():
            if archive != "internal-mirror" or archive in used:
                self._publish_archive(archive, suite)

    def _publish_archive(self, archive: str, suite: str) -> None:
        aroot = self.root / archive
        wanted = {
            s.filename: s
            for key, s in self.specs.items()
            if key in self.indexed and s.archive == archive
        }
        pool_dirs = set()
        for fname, s in wanted.items():
            d = aroot / "pool" / "main" / s.name[0] / s.name
            d.mkdir(parents=True, exist_ok=True)
            pool_dirs.add(d)
            target = d / fname
            if not target.exists():
                os.link(self.store / fname, target)
        (aroot / "pool").mkdir(parents=True, exist_ok=True)
        for deb in (aroot / "pool").rglob("*.deb"):
            if deb.name not in wanted:
                deb.unlink()
        bdir = aroot / "dists" / suite / "main" / f"binary-{self.arch}"
        bdir.mkdir(parents=True, exist_ok=True)
        cp = run(
            [_tool("dpkg-scanpackages"), "--multiversion", "pool", "/dev/null"],
            cwd=aroot,
            what=f"indexing {archive} with dpkg-scanpackages",
        )
        packages = cp.stdout.encode()
        _atomic_write(bdir / "Packages", packages)
        _atomic_write(bdir / "Packages.gz", gzip.compress(packages, mtime=0))
        files = {
            f"main/binary-{self.arch}/Packages": packages,
            f"main/binary-{self.arch}/Packages.gz": (bdir / "Packages.gz").read_bytes(),
        }
        security = archive == "debian-security"
        release = [
            "Origin: PatchDesk Lab",
            "Label: " + ("Debian-Security" if security else "Internal Mirror"
                         if archive == "internal-mirror" else "PatchDesk Lab"),
            f"Suite: {suite}",
            f"Version: {DEBIAN_VERSION}",
            f"Codename: {suite}",
            f"Date: {email.utils.formatdate(usegmt=True).replace('GMT', 'UTC')}",
            f"Architectures: {self.arch}",
            "Components: main",
            f"Description: PatchDesk test lab {'security updates' if security else 'archive'}",
            "No-Support-for-Architecture-all: Packages",
        ]
        for field, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
            release.append(f"{field}:")
            for rel, data in files.items():
                release.append(f" {algo(data).hexdigest()} {len(data):>8} {rel}")
        rpath = aroot / "dists" / suite / "Release"
        _atomic_write(rpath, ("\n".join(release) + "\n").encode())
        # http.server answers If-Modified-Since with 1 s resolution: keep Release mtimes
        # strictly increasing so a republish within the same second is still fetched.
        mtime = max(float(int(time.time())), self._last_release_mtime + 1)
        self._last_release_mtime = mtime
        os.utime(rpath, (mtime, mtime))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


# --------------------------------------------------------------------------- host init

# /sbin/pd-init: PID 1 of every debian host (runs with the host's own python3).
PD_INIT = r'''#!/usr/bin/python3
"""PatchDesk lab host init: mounts, hostname, boot marker, host keys, sshd -D."""
import os, signal, socket, stat, subprocess, sys, time, uuid

name = sys.argv[1]

def mount(fstype, target, opts="", src=None):
    os.makedirs(target, exist_ok=True)
    argv = ["mount", "-t", fstype] + (["-o", opts] if opts else []) + [src or fstype, target]
    subprocess.run(argv, check=True)

os.umask(0o022)
mount("proc", "/proc", "nosuid,nodev,noexec")
try:
    mount("sysfs", "/sys", "ro,nosuid,nodev,noexec")
except subprocess.CalledProcessError:
    pass
mount("tmpfs", "/dev", "mode=0755,size=1m,nosuid,noexec")
for dev, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                          ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
    os.mknod("/dev/" + dev, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    os.chmod("/dev/" + dev, 0o666)
mount("devpts", "/dev/pts", "newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec")
os.symlink("pts/ptmx", "/dev/ptmx")
mount("tmpfs", "/dev/shm", "mode=1777,nosuid,nodev")
for src, dst in (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
                 ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")):
    os.symlink(src, "/dev/" + dst)
mount("tmpfs", "/run", "mode=0755,nosuid,nodev,size=64m")
os.makedirs("/run/lock", mode=0o1777)
os.chmod("/run/lock", 0o1777)
os.makedirs("/run/sshd", mode=0o755)
mount("tmpfs", "/tmp", "mode=1777,nosuid,nodev")
socket.sethostname(name)
with open("/run/pd-boot-id", "w") as f:
    f.write(str(uuid.uuid4()) + "\n")
open("/run/utmp", "a").close()
subprocess.run(["ssh-keygen", "-A"], check=True, stdout=subprocess.DEVNULL)

stopping = False
def on_term(signum, frame):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

def start_sshd():
    return subprocess.Popen(["/usr/sbin/sshd", "-D", "-e"]).pid

sshd = start_sshd()
print(f"pd-init: {name} up, sshd pid {sshd}", flush=True)
while not stopping:
    try:
        pid, status = os.waitpid(-1, 0)
    except ChildProcessError:
        pid, status = 0, 0
        time.sleep(0.2)
    except InterruptedError:
        continue
    if pid == sshd and not stopping:
        print(f"pd-init: sshd exited ({status}), restarting", flush=True)
        time.sleep(0.2)
        sshd = start_sshd()
os.kill(-1, signal.SIGTERM)
'''

HOLD_LOCK_SCRIPT = r"""
import fcntl, os, sys
fds = []
for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fds.append(fd)
print("LOCKED", os.getpid(), flush=True)
sys.stdin.read()
"""


# --------------------------------------------------------------------------- specs


@dataclasses.dataclass
class HostSpec:
    """What to start. ip=None picks the next free address from .10 up."""

    name: str
    kind: str = "debian"  # debian | rocky | opensuse | printer | windows | firewalled | closed
    ip: str | None = None
    packages: Mapping[str, str | None] | None = None  # None: DEFAULT_INSTALLED
    sudo_password: str = DEFAULT_PASSWORD  # admin's password (sudo asks for it)
    authorized_keys: Sequence[str] = ()  # extra public keys for admin
    netbios_name: str | None = None  # windows kind: NBSTAT name (default WIN-<NAME>)


@dataclasses.dataclass
class HostInfo:
    """How to reach a started host."""

    name: str
    kind: str
    ip: str
    mac: str
    netns: str
    ssh_port: int = 22
    user: str = ADMIN_USER
    password: str = DEFAULT_PASSWORD
    nopw_user: str = NOPW_USER
    nopw_password: str = DEFAULT_PASSWORD
    netbios_name: str | None = None
    firewall_active: bool = False

    @property
    def sudo_password(self) -> str:
        return self.password


@dataclasses.dataclass
class _Host:
    spec: HostSpec
    info: HostInfo
    index: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def merged(self) -> Path:
        return self.dir / "root"


def default_hosts() -> list[HostSpec]:
    """The default lab: 4 Debian hosts, a printer, a Windows-like box, a firewalled box."""
    return [
        HostSpec("deb1", ip="10"),
        HostSpec("deb2", ip="11"),
        HostSpec("deb3", ip="12"),
        HostSpec("deb4", ip="13"),
        HostSpec("printer1", kind="printer", ip="20"),
        HostSpec("win1", kind="windows", ip="30", netbios_name="WIN-LAB01"),
        HostSpec("fw1", kind="firewalled", ip="40"),
    ]


class DpkgLockHolder:
    """A process inside a host holding dpkg's locks like apt does; release() frees them."""

    def __init__(self, proc: subprocess.Popen[str], host: str, pid: int) -> None:
        self.proc = proc
        self.host = host
        self.pid = pid  # as seen inside the host

    def release(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                if self.proc.stdin:
                    self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid)
                self.proc.wait(timeout)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> DpkgLockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- the lab


class Lab:
    """One lab. ``Lab().start(default_hosts())``; always ``teardown()`` (also atexit)."""

    def __init__(
        self,
        prefix: str | None = None,
        subnet: str | None = DEFAULT_SUBNET,
        *,
        cache: Path | None = None,
        state_root: Path | None = None,
    ) -> None:
        """subnet: an IPv4 /24, or None to take the first free one of AUTO_SUBNETS
        (10.99.0.0/24 first) at start(). A subnet is locked while a lab uses it."""
        self.prefix = prefix or f"pdl{secrets.token_hex(2)}"
        if not PREFIX_RE.match(self.prefix):
            raise LabError(f"bad lab prefix {self.prefix!r}: must match {PREFIX_RE.pattern}")
        self._wanted_subnet = None if subnet is None else _parse_subnet(subnet)
        self._set_subnet(self._wanted_subnet or ipaddress.IPv4Network(DEFAULT_SUBNET))
        self.cache = cache or cache_dir()
        self.dir = (state_root or run_dir()) / self.prefix
        self.bridge_ns = f"{self.prefix}-br"
        self.client_ns = f"{self.prefix}-client"
        self.root_if = f"{self.prefix}-root"
        self._subnet_fd: int | None = None
        self._registered_subnet = False
        self.hosts: dict[str, _Host] = {}
        self.timings: dict[str, float] = {}
        self.base: Path | None = None
        self.repo: AptRepo | None = None
        self._lock_fd: int | None = None
        self._procs: list[subprocess.Popen[bytes]] = []  # http server, listeners
        self._http: subprocess.Popen[bytes] | None = None
        self._next_index = 1
        self._started = False
        self._torn_down = False
        self._mutex = threading.RLock()
        self._lock_holders: list[DpkgLockHolder] = []

    # ---- addressing

    def _set_subnet(self, net: ipaddress.IPv4Network) -> None:
        self.subnet = net
        self.repo_ip = self._ip(1)
        self.client_ip = self._ip(250)
        self.root_ip = self._ip(254)
        self.repo_url = f"http://{self.repo_ip}"

    def _ip(self, last: int) -> str:
        return str(self.subnet.network_address + last)

    def _mac(self, ip: str) -> str:
        o = ipaddress.ip_address(ip).packed
        return f"02:99:00:00:{o[2]:02x}:{o[3]:02x}"

    def _alloc_ip(self, wanted: str | None) -> str:
        used = {h.info.ip for h in self.hosts.values()}
        reserved = {self.repo_ip, self.client_ip, self.root_ip}
        if wanted is not None:
            ip = self._ip(int(wanted)) if wanted.isdigit() else wanted
            if ipaddress.ip_address(ip) not in self.subnet:
                raise LabError(f"{ip} is not in the lab subnet {self.subnet}")
            if ip in used or ip in reserved:
                raise LabError(f"{ip} is already used in the lab")
            return ip
        for last in range(10, 250):
            ip = self._ip(last)
            if ip not in used and ip not in reserved:
                return ip
        raise LabError("the lab subnet is full")

    # ---- lifecycle

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def start(self, hosts: Iterable[HostSpec] | None = None, *, timeout: float = 60.0) -> Lab:
        """Build (or reuse) the base, start the network, repo and hosts."""
        if reason := lab_unavailable_reason():
            raise LabError(f"cannot start the lab: {reason}")
        specs = list(default_hosts() if hosts is None else hosts)
        t0 = time.monotonic()
        with self._mutex:
            if self._started:
                raise LabError("lab already started")
            self._started = True
            atexit.register(self.teardown)
            try:
                self._start_infra()
                self.timings["infra"] = time.monotonic() - t0
                t1 = time.monotonic()
                self.add_hosts(specs, timeout=timeout)
                self.timings["hosts"] = time.monotonic() - t1
            except BaseException:
                with contextlib.suppress(Exception):
                    self.teardown()
                raise
        self.timings["start"] = time.monotonic() - t0
        _log(
            f"lab {self.prefix} up in {self.timings['start']:.2f}s "
            f"({len(specs)} hosts, {self.subnet})"
        )
        return self

    def _start_infra(self) -> None:
        try:
            self._lock_fd = _lock_lab(self.dir.parent, self.prefix)
        except BlockingIOError:
            raise LabError(f"a running lab already uses the prefix {self.prefix}") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(LabError):
            removed = cleanup_stale(rundir=self.dir.parent)
            if removed:
                _log(f"removed stale labs left by killed runs: {' '.join(removed)}")
        self._claim_subnet()
        t = time.monotonic()
        self.base = ensure_base(self.cache)
        self.timings["base"] = time.monotonic() - t
        t = time.monotonic()
        self.repo = AptRepo(self.dir / "repo", self.dir / "debs")
        self.repo.add(DEFAULT_PACKAGES)
        self.repo.publish()
        self.timings["repo"] = time.monotonic() - t
        t = time.monotonic()
        self._start_network()
        self._start_http()
        self.timings["network"] = time.monotonic() - t
        t = time.monotonic()
        self._build_layer()
        self.timings["layer"] = time.monotonic() - t

    def _claim_subnet(self) -> None:
        """Lock the subnet (flock, held for the lab's lifetime) and make sure nothing in
        the root namespace uses or routes it; with subnet=None try AUTO_SUBNETS in order."""
        candidates = [self._wanted_subnet] if self._wanted_subnet else list(AUTO_SUBNETS)
        reasons = []
        for net in candidates:
            lock = self.dir.parent / f"net-{net.network_address}.lock"
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                reasons.append(f"{net}: used by another running lab")
                continue
            conflict = _root_conflict(net)
            if conflict:
                os.close(fd)
                reasons.append(f"{net}: {conflict}")
                continue
            self._subnet_fd = fd
            self._set_subnet(net)
            return
        raise LabError("no free lab subnet: " + "; ".join(reasons))

    def _start_network(self) -> None:
        br, cl = self.bridge_ns, self.client_ns
        for ns in (br, cl):
            run(["ip", "netns", "add", ns], what=f"creating netns {ns}")
        _ip_batch(
            br,
            [
                "link set lo up",
                "link add br0 type bridge stp_state 0 forward_delay 0",
                # a fixed MAC: otherwise the bridge takes the lowest port MAC, which can
                # change when a host is added and leaves stale ARP entries for the repo
                f"link set br0 address {self._mac(self.repo_ip)}",
                "link set br0 up",
                f"addr add {self.repo_ip}/24 dev br0",
            ],
        )
        _sysctl(br, "net.ipv6.conf.all.disable_ipv6", "1")
        # root namespace leg (only the connected lab route, nothing else)
        run(
            [
                "ip",
                "link",
                "add",
                self.root_if,
                "type",
                "veth",
                "peer",
                "name",
                "root",
                "netns",
                br,
            ],
            what="creating the root veth",
        )
        with contextlib.suppress(LabError):
            run(["sysctl", "-qw", f"net.ipv6.conf.{self.root_if}.disable_ipv6=1"])
        run(["ip", "addr", "add", f"{self.root_ip}/24", "dev", self.root_if])
        _LIVE_SUBNETS.add(self.subnet)
        self._registered_subnet = True
        run(["ip", "link", "set", self.root_if, "up"])
        _ip_batch(br, ["link set root master br0", "link set root up"])
        # client namespace
        self._veth(cl, "client", self.client_ip, self._mac(self.client_ip))

    def _veth(self, ns: str, port: str, ip: str, mac: str) -> None:
        """veth from netns ns (eth0, given ip/mac) to the bridge (port name)."""
        run(
            [
                "ip",
                "-n",
                self.bridge_ns,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            ],
            what=f"creating veth for {ns}",
        )
        _ip_batch(
            ns,
            [
                "link set lo up",
                f"link set eth0 address {mac}",
                f"addr add {ip}/24 dev eth0",
                "link set eth0 up",
            ],
        )
        _ip_batch(self.bridge_ns, [f"link set {port} master br0", f"link set {port} up"])

    def _start_http(self) -> None:
        log = open(self.dir / "http.log", "ab")  # noqa: SIM115 - lives with the process
        try:
            self._http = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.bridge_ns,
                    _system_python(),
                    "-I",
                    "-m",
                    "http.server",
                    "--bind",
                    self.repo_ip,
                    "--directory",
                    str(self.repo.root),
                    "80",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._procs.append(self._http)
        wait_until(
            lambda: (
                (self._http.poll() is None and tcp_open(self.repo_ip, 80, 0.3))
                or self._raise_if_dead(self._http, "the repo HTTP server", self.dir / "http.log")
            ),
            timeout=15,
            what=f"the repo HTTP server on {self.repo_ip}:80",
        )

    @staticmethod
    def _raise_if_dead(proc: subprocess.Popen[Any], what: str, log: Path) -> bool:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise LabError(f"{what} exited with {proc.returncode}:\n{_tail(text)}")
        return False

    def _build_layer(self) -> None:
        """Per-lab layer over the base: init, apt sources, default packages, apt lists."""
        assert self.base
        assert self.repo
        layer, work, mnt = self.dir / "layer", self.dir / "layer.work", self.dir / "layer.mnt"
        for d in (layer, work, mnt):
            d.mkdir(parents=True, exist_ok=True)
        (layer / "sbin").mkdir(exist_ok=True)
        (layer / "sbin" / "pd-init").write_text(PD_INIT)
        (layer / "sbin" / "pd-init").chmod(0o755)
        src = layer / "etc" / "apt" / "sources.list.d"
        src.mkdir(parents=True)
        (src / "patchdesk-lab.list").write_text(
            f"deb [trusted=yes] {self.repo_url}/debian {SUITE} main\n"
            f"deb [trusted=yes] {self.repo_url}/debian-security {SECURITY_SUITE} main\n"
        )
        debs = self.dir / "layer.debs"
        debs.mkdir(exist_ok=True)
        for name, ver in DEFAULT_INSTALLED.items():
            shutil.copy2(self.repo.deb_path(name, ver), debs / f"{name}.deb")
        # the debs are bind-visible via /tmp/pd-debs inside the chroot: copy into layer tmp
        tmpdebs = layer / "var" / "tmp" / "pd-debs"
        tmpdebs.mkdir(parents=True)
        (layer / "var" / "tmp").chmod(0o1777)  # the upper's copy must not hide the base's mode
        for f in debs.iterdir():
            shutil.copy2(f, tmpdebs / f.name)
        script = (
            "set -eu\nexport DEBIAN_FRONTEND=noninteractive\n"
            "dpkg -i /var/tmp/pd-debs/*.deb >/dev/null\n"
            "rm -rf /var/tmp/pd-debs\n"
            "apt-get -q update >/dev/null\n"
            "rm -f /var/cache/apt/*.bin /var/log/apt/eipp.log.xz\n"
        )
        _run_in_chroot(
            mnt,
            script,
            what="installing the lab packages into the lab layer",
            netns=self.client_ns,
            overlay=(str(self.base), layer, work),
            timeout=120,
        )
        shutil.rmtree(work, ignore_errors=True)
        mnt.rmdir()
        self.layer = layer

    # ---- hosts

    def add_host(self, spec: HostSpec, *, timeout: float = 60.0) -> HostInfo:
        return self.add_hosts([spec], timeout=timeout)[0]

    def add_hosts(self, specs: Iterable[HostSpec], *, timeout: float = 60.0) -> list[HostInfo]:
        """Create and start hosts in parallel; returns when all are reachable."""
        specs = list(specs)
        with self._mutex:
            if not self._started or self._torn_down:
                raise LabError("start() the lab first")
            created = []
            for spec in specs:
                created.append(self._create_host(spec))
            for h in created:
                self._spawn(h)
        self._wait_ready(created, timeout)
        for h in created:
            self._apply_packages(h)
        return [h.info for h in created]

    def _create_host(self, spec: HostSpec) -> _Host:
        if not HOST_NAME_RE.match(spec.name) or spec.name in RESERVED_HOST_NAMES:
            raise LabError(f"bad host name {spec.name!r} (lowercase, <= 12 chars, not br/client)")
        if spec.name in self.hosts:
            raise LabError(f"host {spec.name} already exists")
        if spec.kind not in KINDS:
            raise LabError(f"unknown host kind {spec.kind!r} (one of {', '.join(KINDS)})")
        ip = self._alloc_ip(spec.ip)
        ns = f"{self.prefix}-{spec.name}"
        info = HostInfo(
            name=spec.name,
            kind=spec.kind,
            ip=ip,
            mac=self._mac(ip),
            netns=ns,
            password=spec.sudo_password,
            netbios_name=(spec.netbios_name or f"WIN-{spec.name.upper()}")[:15]
            if spec.kind == "windows"
            else None,
        )
        index = self._next_index
        self._next_index += 1
        h = _Host(spec=spec, info=info, index=index, dir=self.dir / "hosts" / spec.name)
        h.dir.mkdir(parents=True, exist_ok=True)
        h.log = h.dir / "console.log"
        self.hosts[spec.name] = h
        run(["ip", "netns", "add", ns], what=f"creating netns {ns}")
        self._veth(ns, f"h{index}", ip, info.mac)
        if spec.kind in _LINUX_KINDS:
            self._create_disk(h)
        elif spec.kind == "firewalled":
            info.firewall_active = self._firewall(h)
        return h

    def _create_disk(self, h: _Host) -> None:
        assert self.base
        upper, work = h.dir / "upper", h.dir / "work"
        for d in (upper, work, h.merged):
            d.mkdir(exist_ok=True)
        lower = f"{self.layer}:{self.base}"
        if h.spec.kind in RPM_KINDS:
            lower = _rpmhosts().lower_dirs(self, h.spec.kind)
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={lower},upperdir={upper},workdir={work}",
                str(h.merged),
            ],
            what=f"mounting the disk of {h.spec.name}",
        )
        r = h.merged
        name = h.spec.name
        (r / "etc" / "hostname").write_text(name + "\n")
        (r / "etc" / "hosts").write_text(
            f"127.0.0.1\tlocalhost\n{h.info.ip}\t{name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        (r / "etc" / "machine-id").write_text(
            hashlib.md5(f"{self.prefix}/{name}".encode()).hexdigest() + "\n"  # noqa: S324
        )
        if h.spec.sudo_password != DEFAULT_PASSWORD:
            self._set_password(r, ADMIN_USER, h.spec.sudo_password)
        if h.spec.authorized_keys:
            pw = _passwd_entry(r, ADMIN_USER)
            ssh = r / "home" / ADMIN_USER / ".ssh"
            ssh.mkdir(mode=0o700, exist_ok=True)
            ak = ssh / "authorized_keys"
            ak.write_text("".join(k.strip() + "\n" for k in h.spec.authorized_keys))
            ak.chmod(0o600)
            for p in (ssh, ak):
                os.chown(p, pw[0], pw[1])

    @staticmethod
    def _set_password(root: Path, user: str, password: str) -> None:
        hashed = run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password + "\n",
            what="hashing a host password",
        ).stdout.strip()
        shadow = root / "etc" / "shadow"
        lines = []
        for line in shadow.read_text().splitlines():
            parts = line.split(":")
            if parts[0] == user:
                parts[1] = hashed
            lines.append(":".join(parts))
        shadow.write_text("\n".join(lines) + "\n")
        shadow.chmod(0o640)

    def _firewall(self, h: _Host) -> bool:
        nft = shutil.which("nft", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if not nft:
            _log(f"note: nft not installed; {h.spec.name} is closed (RST), not firewalled")
            return False
        ruleset = (
            "table inet pdlab {\n"
            "  chain input { type filter hook input priority 0; policy drop; }\n"
            "  chain output { type filter hook output priority 0; policy drop; }\n"
            "}\n"
        )
        run(
            ["ip", "netns", "exec", h.info.netns, nft, "-f", "-"],
            input=ruleset,
            what=f"firewalling {h.spec.name} with nftables",
        )
        return True

    def _spawn(self, h: _Host) -> None:
        kind = h.spec.kind
        if kind in _NO_PROCESS_KINDS:
            return
        assert h.log
        log = open(h.log, "ab")  # noqa: SIM115 - handed to the child
        try:
            if kind in _LINUX_KINDS:
                argv = [
                    "ip",
                    "netns",
                    "exec",
                    h.info.netns,
                    _tool("unshare"),
                    "--pid",
                    "--mount",
                    "--uts",
                    "--ipc",
                    "--fork",
                    "--kill-child",
                    "--propagation",
                    "private",
                    "chroot",
                    str(h.merged),
                    "/usr/bin/python3",
                    "-I",
                    "/sbin/pd-init",
                    h.spec.name,
                ]
            else:
                argv = [
                    "ip",
                    "netns",
                    "exec",
                    h.info.netns,
                    _system_python(),
                    "-I",
                    str(HERE / "devices.py"),
                    kind,
                    "--ip",
                    h.info.ip,
                    "--mac",
                    h.info.mac,
                    "--name",
                    h.info.netbios_name or h.spec.name,
                ]
            h.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={"PATH": HOST_PATH, "LANG": "C"},
            )
        finally:
            log.close()

    def _ready(self, h: _Host) -> bool:
        assert h.proc
        assert h.log
        self._raise_if_dead(h.proc, f"host {h.spec.name}", h.log)
        if h.spec.kind in _LINUX_KINDS:
            try:
                return ssh_banner(h.info.ip, 22, 0.5).startswith("SSH-")
            except OSError:
                return False
        port = {"printer": 9100, "windows": 445}[h.spec.kind]
        return tcp_open(h.info.ip, port, 0.3)

    def _wait_ready(self, hosts: Sequence[_Host], timeout: float) -> None:
        pending = [h for h in hosts if h.spec.kind not in _NO_PROCESS_KINDS]
        deadline = time.monotonic() + timeout
        delay = 0.01
        while pending:
            pending = [h for h in pending if not self._ready(h)]
            if not pending:
                break
            if time.monotonic() > deadline:
                details = []
                for h in pending:
                    log = h.log.read_text(errors="replace") if h.log and h.log.exists() else ""
                    details.append(f"--- {h.spec.name} ({h.info.ip}) console:\n{_tail(log)}")
                raise LabError(
                    f"timed out after {timeout:g}s waiting for hosts "
                    f"{', '.join(h.spec.name for h in pending)} to come up\n" + "\n".join(details)
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    def _apply_packages(self, h: _Host) -> None:
        if h.spec.kind != "debian" or h.spec.packages is None:
            return
        wanted = dict(h.spec.packages)
        if wanted == DEFAULT_INSTALLED:
            return
        purge = [n for n in DEFAULT_INSTALLED if wanted.get(n, "absent") in (None, "absent")]
        install = [f"{n}={v}" for n, v in wanted.items() if v and DEFAULT_INSTALLED.get(n) != v]
        script = "set -e\nexport DEBIAN_FRONTEND=noninteractive\n"
        if purge:
            script += f"dpkg --purge {' '.join(purge)} >/dev/null\n"
        if install:
            script += (
                "apt-get -q -y --allow-downgrades -o Dpkg::Options::=--force-confold "
                f"install {' '.join(install)}\n"
            )
        self.exec(h.spec.name, script, check=True, timeout=120)

    def host(self, name: str) -> HostInfo:
        try:
            return self.hosts[name].info
        except KeyError:
            raise LabError(f"no host {name!r} in lab {self.prefix}") from None

    def host_names(self, kind: str | None = None) -> list[str]:
        return [n for n, h in self.hosts.items() if kind is None or h.spec.kind == kind]

    def _get(self, name: str) -> _Host:
        self.host(name)
        return self.hosts[name]

    def _init_pid(self, h: _Host) -> int:
        """PID (in the root pid namespace) of the host's init (child of unshare)."""
        if h.proc is None or h.proc.poll() is not None:
            raise LabError(f"host {h.spec.name} is not running")

        ppid = h.proc.pid

        def child() -> int | None:
            path = Path(f"/proc/{ppid}/task/{ppid}/children")
            if path.exists():  # CONFIG_PROC_CHILDREN
                kids = path.read_text().split()
                return int(kids[0]) if kids else None
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == ppid:
                        return int(stat.parent.name)
            return None

        return wait_until(child, timeout=10, what=f"the init process of {h.spec.name}")

    def init_pid(self, name: str) -> int:
        return self._init_pid(self._get(name))

    # ---- running things

    def _exec_argv(self, h: _Host, argv: Sequence[str], user: str | None) -> list[str]:
        if h.spec.kind not in _LINUX_KINDS:
            return ["ip", "netns", "exec", h.info.netns, *argv]
        pid = self._init_pid(h)
        if user and user != "root":
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]
        return [
            _tool("nsenter"),
            "-t",
            str(pid),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "-r",
            "-w",
            "--",
            *argv,
        ]

    def _exec_env(self, user: str | None, env: Mapping[str, str] | None) -> dict[str, str]:
        home = "/root" if user in (None, "root") else f"/home/{user}"
        base = {
            "PATH": HOST_PATH,
            "LANG": "C",
            "LC_ALL": "C",
            "HOME": home,
            "USER": user or "root",
            "LOGNAME": user or "root",
            "TERM": "dumb",
        }
        return {**base, **(env or {})}

    def exec(
        self,
        name: str,
        cmd: str | Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 120.0,
        check: bool = False,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run cmd (argv, or a str for /bin/sh -c) inside host `name` (its namespaces and
        chroot; as root unless user=). Returns CompletedProcess with text stdout/stderr."""
        h = self._get(name)
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return run(
            self._exec_argv(h, argv, user),
            input=input,
            timeout=timeout,
            check=check,
            env=self._exec_env(user, env),
            what=f"running in {name}",
        )

    def read_file(self, name: str, path: str) -> str:
        """Read a file from a debian host's disk (works while it is stopped too)."""
        h = self._get(name)
        return (h.merged / path.lstrip("/")).read_text()

    @property
    def client_prefix(self) -> list[str]:
        """argv prefix that runs a command in the client namespace."""
        return ["ip", "netns", "exec", self.client_ns]

    def client_run(
        self,
        argv: str | Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 300.0,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the client namespace (no default route). env defaults to this
        process's environment; cwd is passed through."""
        argv = ["/bin/sh", "-c", argv] if isinstance(argv, str) else list(argv)
        return run(
            [*self.client_prefix, *argv],
            input=input,
            timeout=timeout,
            check=check,
            env=dict(os.environ) if env is None else env,
            cwd=cwd,
            what="running in the client namespace",
        )

    # ---- host state changes

    def _kill_host(self, h: _Host) -> None:
        if h.proc is None:
            return
        if h.proc.poll() is None:
            if h.spec.kind in _LINUX_KINDS:
                with contextlib.suppress(LabError, ValueError, OSError):
                    pid = self._init_pid(h)
                    os.kill(pid, signal.SIGKILL)  # kills the whole pid namespace
            _killpg(h.proc.pid)
            try:
                h.proc.wait(10)
            except subprocess.TimeoutExpired:
                raise LabError(f"host {h.spec.name} did not stop within 10s") from None
        h.proc = None
        if h.spec.kind in _LINUX_KINDS:
            # the pid namespace is gone when no process is left in the netns of the host
            wait_until(
                lambda: not _netns_pids(h.info.netns),
                timeout=10,
                what=f"all processes of {h.spec.name} to exit",
            )

    def stop_host(self, name: str) -> None:
        """Power the host off: all its processes die, its link goes down; disk kept."""
        with self._mutex:
            h = self._get(name)
            self._kill_host(h)
            _ip_batch(self.bridge_ns, [f"link set h{h.index} down"])

    def start_host(self, name: str, *, timeout: float = 60.0) -> HostInfo:
        """Power a stopped host on again (same disk, new /run/pd-boot-id)."""
        with self._mutex:
            h = self._get(name)
            if h.proc is not None and h.proc.poll() is None:
                return h.info
            _ip_batch(self.bridge_ns, [f"link set h{h.index} up"])
            self._spawn(h)
        self._wait_ready([h], timeout)
        return h.info

    def simulate_reboot(self, name: str, *, timeout: float = 60.0) -> HostInfo:
        """Kill all the host's processes and start its init again. The kernel boot id
        (/proc/sys/kernel/random/boot_id) cannot change (shared kernel); /run/pd-boot-id
        does. /run, /tmp are fresh tmpfs, so /var/run/reboot-required disappears too."""
        with self._mutex:
            h = self._get(name)
            self._kill_host(h)
            self._spawn(h)
        self._wait_ready([h], timeout)
        return h.info

    def boot_id(self, name: str) -> str:
        return self.exec(name, ["cat", "/run/pd-boot-id"], check=True).stdout.strip()

    def remove_host(self, name: str) -> None:
        """Stop the host and delete its namespace, link and disk."""
        with self._mutex:
            h = self._get(name)
            self._kill_host(h)
            _netns_del(h.info.netns)
            _umount_tree(h.dir)
            shutil.rmtree(h.dir, ignore_errors=True)
            del self.hosts[name]

    def hold_dpkg_lock(self, name: str, *, timeout: float = 10.0) -> DpkgLockHolder:
        """Start a process in the host that holds /var/lib/dpkg/lock-frontend and
        /var/lib/dpkg/lock (fcntl write locks, as apt/dpkg take them)."""
        h = self._get(name)
        argv = self._exec_argv(h, ["/usr/bin/python3", "-I", "-c", HOLD_LOCK_SCRIPT], None)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=self._exec_env(None, None),
        )
        assert proc.stdout
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("LOCKED"):
            _killpg(proc.pid)
            _, err = proc.communicate()
            for s in (proc.stdin, proc.stdout, proc.stderr):
                if s:
                    s.close()
            raise LabError(f"could not take the dpkg lock in {name}: {line!r} {_tail(err)}")
        holder = DpkgLockHolder(proc, name, int(line.split()[1]))
        self._lock_holders.append(holder)
        return holder

    def host_keys(self, name: str) -> dict[str, str]:
        """The host's SSH public host keys: {key type: base64 key}, e.g. for a strict
        known_hosts (paramiko: ``client.get_host_keys().add(ip, type, key)``)."""
        h = self._get(name)
        keys = {}
        for pub in sorted((h.merged / "etc" / "ssh").glob("ssh_host_*_key.pub")):
            ktype, b64 = pub.read_text().split()[:2]
            keys[ktype] = b64
        return keys

    def known_hosts_lines(self, name: str) -> list[str]:
        """OpenSSH known_hosts lines for the host's IP (port 22)."""
        ip = self.host(name).ip
        return [f"{ip} {t} {k}" for t, k in self.host_keys(name).items()]

    def regenerate_host_key(self, name: str) -> str:
        """New SSH host keys; sshd reloads them (SIGHUP). Returns the new ed25519 pubkey."""
        self.exec(
            name,
            "set -e; rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; "
            "kill -HUP $(cat /run/sshd.pid)",
            check=True,
        )
        h = self._get(name)
        self._wait_ready([h], 15)
        return self.read_file(name, "/etc/ssh/ssh_host_ed25519_key.pub").strip()

    # ---- repository

    def republish(
        self,
        *,
        drop: Iterable[tuple[str, str]] = (),
        restore: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Drop versions from the repository (index and served pool) or restore dropped
        ones, then regenerate the indexes. Hosts see it after `apt-get update`."""
        assert self.repo
        with self._mutex:
            for key in drop:
                if key not in self.repo.specs:
                    raise LabError(f"the lab repository has no {key[0]} {key[1]}")
                self.repo.indexed.discard(tuple(key))
            for key in restore:
                if key not in self.repo.specs:
                    raise LabError(f"the lab repository has no {key[0]} {key[1]}")
                self.repo.indexed.add((key[0], key[1]))
            self.repo.publish()

    def add_package_version(
        self,
        name: str,
        version: str,
        *,
        security: bool = False,
        postinst: str | None = None,
        fail: bool = False,
        reboot_required: bool = False,
        depends: str | None = None,
        changelog: str | None = None,
        archive: str | None = None,
    ) -> PackageSpec:
        """Build and publish a new package version (normal or security archive, or
        ``archive="internal-mirror"``)."""
        assert self.repo
        if fail:
            postinst = POSTINST_FAIL.replace("pd-broken", name)
        elif reboot_required:
            postinst = POSTINST_REBOOT.format(name=name)
        spec = PackageSpec(
            name,
            version,
            archive=archive or ("debian-security" if security else "debian"),
            postinst=postinst,
            depends=depends,
            changelog=changelog,
        )
        with self._mutex:
            self.repo.add([spec])
            self.repo.publish()
        return spec

    @contextlib.contextmanager
    def real_packages(self) -> Iterator[dict[str, tuple[str, str]]]:
        """Serve the real Debian packages (REAL_UPDATES and their dependencies) while the
        block runs; yields REAL_UPDATES. Hosts see them after `apt-get update`; they are
        dropped again afterwards, so the shared hosts' assessments stay as documented."""
        assert self.repo and self.base
        specs = fetch_real_debs(self.base, self.cache)
        keys = [(s.name, s.version) for s in specs]
        with self._mutex:
            self.repo.add(specs)
            self.repo.publish()
        try:
            yield dict(REAL_UPDATES)
        finally:
            self.republish(drop=keys)

    def add_internal_mirror_source(self, host: str) -> None:
        """Point a host's apt at the lab's internal-mirror archive too."""
        self.exec(host, f"echo 'deb [trusted=yes] {self.repo_url}/internal-mirror "
                        f"{INTERNAL_SUITE} main' > /etc/apt/sources.list.d/pd-internal.list",
                  check=True)

    def indexed_versions(self) -> list[tuple[str, str, str]]:
        assert self.repo
        return sorted((n, v, self.repo.specs[(n, v)].suite) for n, v in self.repo.indexed)

    # ---- teardown

    def teardown(self) -> None:
        """Remove every namespace, mount, process and file of this lab. Idempotent;
        raises LabError if something could not be removed."""
        with self._mutex:
            if self._torn_down:
                return
            self._torn_down = True
            with contextlib.suppress(Exception):
                atexit.unregister(self.teardown)
            for holder in self._lock_holders:
                with contextlib.suppress(Exception):
                    holder.release(2)
            for h in list(self.hosts.values()):
                with contextlib.suppress(Exception):
                    self._kill_host(h)
            for p in self._procs:
                _killpg(p.pid)
                with contextlib.suppress(Exception):
                    p.wait(5)
            if self._registered_subnet:
                _LIVE_SUBNETS.discard(self.subnet)
            problems = _destroy_lab(self.prefix, self.dir)
            if self._subnet_fd is not None:
                os.close(self._subnet_fd)
                self._subnet_fd = None
            if self._lock_fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self.dir.parent / f"{self.prefix}.lock").unlink()
                os.close(self._lock_fd)
                self._lock_fd = None
            self.hosts.clear()
        if problems:
            raise LabError(f"teardown of lab {self.prefix} left: " + "; ".join(problems))


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
    try:
        from tests.lab import rpmhosts
    except ImportError:  # lab.py run as a script
        import rpmhosts  # type: ignore[no-redef]
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


# --------------------------------------------------------------------------- CLI


def _check(subnet: str | None) -> int:
    t0 = time.monotonic()
    ensure_base()
    base_s = time.monotonic() - t0
    with Lab(subnet=subnet) as lab:
        lab.start(default_hosts())
        for name in lab.host_names("debian"):
            print(f"{name}: {ssh_banner(lab.host(name).ip, 22, 3)}")
        out = lab.exec("deb1", ["apt-get", "-s", "upgrade"], check=True).stdout
        print("\n".join(line for line in out.splitlines() if line.startswith("Inst ")))
        t = time.monotonic()
        lab.simulate_reboot("deb1")
        reboot_s = time.monotonic() - t
        timings = {k: round(v, 3) for k, v in lab.timings.items()}
        t = time.monotonic()
    print(f"teardown: {time.monotonic() - t:.2f}s; simulate_reboot: {reboot_s:.2f}s")
    print(f"base: {base_s:.2f}s; start: {json.dumps(timings)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab.py", description="PatchDesk test lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build-base", help="build (or reuse) the cached debootstrap base")
    sub.add_parser("mirror", help="print the Debian mirror derived from apt's configuration")
    c = sub.add_parser("cleanup", help="remove labs left by killed runs")
    c.add_argument("--force", action="store_true", help="also remove labs still running")
    u = sub.add_parser("up", help="start the default lab and wait (Ctrl-C tears it down)")
    u.add_argument("--subnet", default="auto", help="a /24, or auto (default)")
    k = sub.add_parser("check", help="start the default lab, health-check, time, tear down")
    k.add_argument("--subnet", default="auto", help="a /24, or auto (default)")
    args = ap.parse_args(argv)
    if getattr(args, "subnet", None) == "auto":
        args.subnet = None
    try:
        if args.cmd == "build-base":
            t0 = time.monotonic()
            path = ensure_base()
            print(f"{path} ({time.monotonic() - t0:.1f}s)")
        elif args.cmd == "mirror":
            print(find_debian_mirror())
        elif args.cmd == "cleanup":
            removed = cleanup_stale(force=args.force)
            print("removed: " + (" ".join(removed) if removed else "nothing"))
        elif args.cmd == "check":
            return _check(args.subnet)
        elif args.cmd == "up":
            with Lab(subnet=args.subnet) as lab:
                lab.start(default_hosts())
                for h in lab.hosts.values():
                    i = h.info
                    print(f"{i.name:10} {i.kind:10} {i.ip:14} {i.mac}  netns {i.netns}")
                print(f"client netns: {lab.client_ns}; timings: {lab.timings}")
                with contextlib.suppress(KeyboardInterrupt):
                    signal.pause()
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
