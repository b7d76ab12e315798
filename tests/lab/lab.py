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

The parts: ``common.py`` (constants, running commands, the network-safety guard),
``base.py`` (the Debian mirror and the cached debootstrap base), ``repo.py`` (the lab's
packages and apt repository), ``netns.py`` (namespaces, mounts, locks, cleanup) and
``pd-init`` (the hosts' init script); this module holds the host specs, the :class:`Lab`
and the command line, and every name of those modules stays importable from here.

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
import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python3 tests/lab/lab.py): make tests.lab importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.base import (
    BASE_CONFIG_SCRIPT,
    _dpkg_arch,
    _flock,
    _parse_deb822,
    _parse_list_file,
    _prune_bases,
    _run_in_chroot,
    _sources_files,
    base_key,
    cache_dir,
    ensure_base,
    find_debian_mirror,
    run_dir,
)
from tests.lab.common import (
    _LINUX_KINDS,
    _LIVE_SUBNETS,
    _NO_PROCESS_KINDS,
    ADMIN_USER,
    ARCHIVE_SUITES,
    AUTO_SUBNETS,
    BASE_PACKAGES,
    BASE_RECIPE_VERSION,
    DEBIAN_VERSION,
    DEFAULT_CACHE_DIR,
    DEFAULT_PASSWORD,
    DEFAULT_RUN_DIR,
    DEFAULT_SUBNET,
    HERE,
    HOST_NAME_RE,
    HOST_PATH,
    INTERNAL_SUITE,
    KINDS,
    MAC_KINDS,
    NOPW_USER,
    PREFIX_RE,
    RESERVED_HOST_NAMES,
    RPM_KINDS,
    SECURITY_SUITE,
    SOURCE_DATE_EPOCH,
    SUITE,
    LabError,
    T,
    _guard,
    _killpg,
    _log,
    _system_python,
    _tail,
    _tool,
    lab_unavailable_reason,
    run,
    ssh_banner,
    tcp_open,
    wait_until,
)
from tests.lab.netns import (
    _destroy_lab,
    _ip_batch,
    _lock_lab,
    _mounts_under,
    _netns_del,
    _netns_list,
    _netns_pids,
    _parse_subnet,
    _passwd_entry,
    _root_conflict,
    _rpmhosts,
    _sysctl,
    _umount_tree,
    cleanup_stale,
)
from tests.lab.repo import (
    DEFAULT_INSTALLED,
    DEFAULT_PACKAGES,
    DEFAULT_UPGRADES,
    POSTINST_FAIL,
    POSTINST_REBOOT,
    REAL_DEPENDS,
    REAL_UPDATES,
    AptRepo,
    PackageSpec,
    _atomic_write,
    build_deb,
    fetch_real_debs,
)

# /sbin/pd-init: PID 1 of every debian host (runs with the host's own python3); the
# script is tests/lab/pd-init.
#: Everything the lab's modules define stays importable from here (tests.lab.lab).
__all__ = [
    "ADMIN_USER",
    "ARCHIVE_SUITES",
    "AUTO_SUBNETS",
    "BASE_CONFIG_SCRIPT",
    "BASE_PACKAGES",
    "BASE_RECIPE_VERSION",
    "DEBIAN_VERSION",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_INSTALLED",
    "DEFAULT_PACKAGES",
    "DEFAULT_PASSWORD",
    "DEFAULT_RUN_DIR",
    "DEFAULT_SUBNET",
    "DEFAULT_UPGRADES",
    "HERE",
    "HOLD_LOCK_SCRIPT",
    "HOST_NAME_RE",
    "HOST_PATH",
    "INTERNAL_SUITE",
    "KINDS",
    "MAC_KINDS",
    "NOPW_USER",
    "PD_INIT",
    "POSTINST_FAIL",
    "POSTINST_REBOOT",
    "PREFIX_RE",
    "REAL_DEPENDS",
    "REAL_UPDATES",
    "RESERVED_HOST_NAMES",
    "RPM_KINDS",
    "SECURITY_SUITE",
    "SOURCE_DATE_EPOCH",
    "SUITE",
    "_LINUX_KINDS",
    "_LIVE_SUBNETS",
    "_NO_PROCESS_KINDS",
    "AptRepo",
    "DpkgLockHolder",
    "HostInfo",
    "HostSpec",
    "Lab",
    "LabError",
    "PackageSpec",
    "T",
    "_atomic_write",
    "_destroy_lab",
    "_dpkg_arch",
    "_flock",
    "_guard",
    "_ip_batch",
    "_killpg",
    "_lock_lab",
    "_log",
    "_mounts_under",
    "_netns_del",
    "_netns_list",
    "_netns_pids",
    "_parse_deb822",
    "_parse_list_file",
    "_parse_subnet",
    "_passwd_entry",
    "_prune_bases",
    "_root_conflict",
    "_rpmhosts",
    "_run_in_chroot",
    "_sources_files",
    "_sysctl",
    "_system_python",
    "_tail",
    "_tool",
    "_umount_tree",
    "base_key",
    "build_deb",
    "cache_dir",
    "cleanup_stale",
    "default_hosts",
    "ensure_base",
    "fetch_real_debs",
    "find_debian_mirror",
    "lab_unavailable_reason",
    "main",
    "run",
    "run_dir",
    "ssh_banner",
    "tcp_open",
    "wait_until",
]

def _winhosts() -> Any:
    from tests.lab import winhosts

    return winhosts


PD_INIT = (Path(__file__).resolve().parent / "pd-init").read_text(encoding="utf-8")

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
    kind: str = "debian"  # debian | rocky | opensuse | mac-intel | mac-arm | printer | ...
    ip: str | None = None
    packages: Mapping[str, str | None] | None = None  # None: DEFAULT_INSTALLED
    sudo_password: str = DEFAULT_PASSWORD  # admin's password (sudo asks for it)
    authorized_keys: Sequence[str] = ()  # extra public keys for admin
    netbios_name: str | None = None  # windows kind: NBSTAT name (default WIN-<NAME>)
    #: windows kind: a simulated host's preset (win11, server2022, workgroup) served over
    #: WinRM (tests/lab/winhosts.py); None: the port-only box
    windows: str | None = None


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
    """The default lab: 4 Debian hosts, a printer, a Windows-like box, three simulated
    Windows hosts over WinRM, a firewalled box."""
    return [
        HostSpec("deb1", ip="10"),
        HostSpec("deb2", ip="11"),
        HostSpec("deb3", ip="12"),
        HostSpec("deb4", ip="13"),
        HostSpec("printer1", kind="printer", ip="20"),
        HostSpec("win1", kind="windows", ip="30", netbios_name="WIN-LAB01"),
        # Simulated Windows hosts answering WinRM (tests/lab/winhosts.py).
        HostSpec("win11", kind="windows", ip="31", netbios_name="WIN11-LAB01",
                 windows="win11"),
        HostSpec("srv22", kind="windows", ip="32", netbios_name="SRV22-LAB01",
                 windows="server2022"),
        HostSpec("wg10", kind="windows", ip="33", netbios_name="FRONTDESK-PC",
                 windows="workgroup"),
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
            # A device joining a LAN announces itself (DHCP, gratuitous ARP) and neighbours
            # learn it; a lab host does not, so forget any FAILED/STALE entry an earlier scan
            # of this address left in the client (a scan right after must see the host).
            run(["ip", "-n", self.client_ns, "neigh", "flush", "to", h.info.ip], check=False,
                timeout=10)
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
        if spec.kind == "windows" and spec.windows:
            info.user, info.password = _winhosts().WINRM_USER, _winhosts().WINRM_PASSWORD
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
        mac = h.spec.kind in MAC_KINDS
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
        if mac:  # stand-in Mac tools replaying captured outputs (tests/lab/machosts.py)
            from tests.lab import machosts

            machosts.install(r, h.spec.kind)

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
            elif kind == "windows" and h.spec.windows and self._winrm_python():
                win = _winhosts()
                argv = ["ip", "netns", "exec", h.info.netns, *win.endpoint_argv(
                    self._winrm_python() or "", h.spec.windows, h.info.ip, h.info.mac,
                    h.info.netbios_name or h.spec.name, h.dir, self._windows_ca())]
                h.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, start_new_session=True, cwd=win.REPO,
                                          env=win.endpoint_env(HOST_PATH))
                return
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
        if h.spec.windows and self._winrm_python() and not tcp_open(h.info.ip, 5986, 0.3):
            return False  # a simulated Windows host: WinRM first, then the box's ports
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

    # ---- simulated Windows hosts (tests/lab/winhosts.py)

    def _winrm_python(self) -> str | None:
        if not hasattr(self, "_winrm_py"):
            self._winrm_py = _winhosts().winrm_python()
            if self._winrm_py is None:
                _log("note: no Python with pyspnego here; simulated Windows hosts are "
                     "port-only (set PATCHDESK_LAB_PYTHON)")
        return self._winrm_py

    def _windows_ca(self) -> Any:
        if not hasattr(self, "_win_ca"):
            self._win_ca = _winhosts().WindowsCA(self.dir / "windows-ca")
        return self._win_ca

    @property
    def winrm_ca_file(self) -> Path:
        """The CA certificate that validates every simulated Windows host's HTTPS."""
        return Path(self._windows_ca().ca_file)

    def windows_state(self, name: str) -> dict[str, Any]:
        """A simulated Windows host's state as its endpoint last wrote it (installs,
        notices, last boot, tasks); ``simulate_reboot`` restores its preset."""
        return dict(_winhosts().state(self._get(name).dir))

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

    def remove_host(self, name: str, *, forget_neighbours: bool = True) -> None:
        """Stop the host and delete its namespace, link and disk.

        forget_neighbours: also flush its address from the client's and the root's
        neighbour tables (False keeps them, as a real LAN does when a device leaves)."""
        with self._mutex:
            h = self._get(name)
            self._kill_host(h)
            _netns_del(h.info.netns)
            _umount_tree(h.dir)
            shutil.rmtree(h.dir, ignore_errors=True)
            del self.hosts[name]
            # The lab reuses addresses: a later host (or a scan expecting none) must not meet
            # this one's REACHABLE neighbour entry, which outlives it by up to ~45 s.
            for argv in (["ip", "-n", self.client_ns, "neigh", "flush", "to", h.info.ip],
                         ["ip", "neigh", "flush", "to", h.info.ip, "dev", self.root_if]):
                if forget_neighbours:
                    run(argv, check=False, timeout=10)

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
