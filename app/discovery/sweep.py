"""The discovery sweep: asyncio TCP-connect liveness, port profile and fingerprint per host."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import netaddr

from app.core.progress import CancelToken, Progress, ProgressCallback
from app.discovery import netbios, probes
from app.discovery.connect import PortState, ProbeEngine, Slots, make_engine
from app.discovery.fingerprint import Facts, classify, port_evidence
from app.discovery.icmp import IcmpPinger
from app.discovery.neighbours import (
    CONFIRMED_STATES,
    UNCONFIRMED_STATES,
    NeighbourCache,
    read_neighbour_states,
    read_neighbour_table,
)
from app.discovery.oui import PRIVATE_MAC, vendor_for
from app.discovery.ports import DEFAULT_PORTS
from app.discovery.ranges import TargetSet, local_subnets
from app.discovery.results import HostResult, ScanResult, ip_sort_key
from app.discovery.sanitise import sanitise

__all__ = [
    "LIVENESS_EXTRA_PORTS",
    "ScanOptions",
    "effective_concurrency",
    "raise_nofile_limit",
    "scan",
]

#: Probed on every address besides the profile's first port: the ports most LAN hosts
#: answer on (open or RST). nmap's unprivileged discovery uses 80 and 443 (tech-notes §5.1).
LIVENESS_EXTRA_PORTS: tuple[int, ...] = (80, 443, 22, 445)

#: File descriptors kept free for everything that is not a probe socket (log files,
#: SQLite, resolver threads, the GUI).
FD_RESERVE = 128

_NOFILE_TARGET = 8192
_CANCEL_POLL = 0.05  # seconds: cancellation is noticed within ~50 ms
# How long to wait for the kernel to re-check a stale neighbour entry (DELAY 5 s, then up
# to 3 unicast ARP probes 1 s apart), and how often to look.
_NEIGHBOUR_CONFIRM_TIMEOUT = 9.0
_NEIGHBOUR_POLL = 0.25
_RESOLVING_TIMEOUT = 1.6  # > the kernel's 1 s ARP retransmit time (retrans_time_ms)
_PROGRESS_INTERVAL = 0.05  # at most 20 progress reports per second
_NETBIOS_TRIGGER_PORTS = frozenset({135, 139, 445})
_DNS_THREADS = 16
_DNS_GIVE_UP_AFTER = 8  # consecutive reverse-DNS timeouts before the scan stops asking
_FINGERPRINT_SLOTS = 64  # banner/title/NetBIOS probes at once (they hold sockets longer)

_T = TypeVar("_T")


def raise_nofile_limit(target: int = _NOFILE_TARGET) -> int | None:
    """Raise this process's soft open-file limit towards the hard limit.

    Desktop sessions often start with a soft limit of 1024 (256 on macOS) although the
    hard limit is far higher (tech-notes §5.2). The limit is never lowered.

    Args:
        target: The soft limit wanted; capped at the hard limit.

    Returns:
        The soft limit now in force, or None where there is no such limit (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if wanted <= soft:
        return int(soft)
    candidates = [wanted]
    if sys.platform == "darwin":
        candidates.append(min(wanted, 10240))  # macOS refuses more than OPEN_MAX
    for candidate in candidates:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (candidate, hard))
        except (ValueError, OSError):
            continue
        return candidate
    return int(soft)


def effective_concurrency(requested: int) -> int:
    """How many sockets the sweep may open at once: ``requested``, kept below the fd limit.

    Args:
        requested: The wanted number of simultaneous probes.

    Returns:
        ``requested`` capped at the soft open-file limit minus :data:`FD_RESERVE`
        (at least 8, and at most half the limit on tiny limits).
    """
    try:
        import resource
    except ImportError:
        return max(1, requested)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max(1, requested)
    room = soft - FD_RESERVE if soft > 2 * FD_RESERVE else soft // 2
    return max(1, min(requested, max(8, room)))


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """How to sweep.

    Attributes:
        ports: TCP ports to report on (a profile or :func:`~app.discovery.parse_ports`).
        liveness_ports: Ports probed on every address to find live hosts. None means the
            first profile port plus :data:`LIVENESS_EXTRA_PORTS`.
        timeout: Seconds one connect may take during liveness. Silent addresses cost this
            much, so it dominates scan time; 0.8 s suits a LAN (raise it for VPNs).
        min_timeout: Floor of the per-host port timeout after liveness, which adapts to the
            measured round trip (8× RTT, clamped to ``min_timeout``..``timeout``).
        concurrency: Simultaneous sockets; capped by :func:`effective_concurrency`.
        icmp: Also send ICMP echo (only where unprivileged ping sockets are allowed).
        neighbour_table: Count hosts the neighbour (ARP) table resolved as alive even if
            every probe was dropped, and report their MAC.
        resolve_names: Reverse-DNS live hosts.
        fingerprint: Read SSH banners, web UI titles and NetBIOS names.
        banner_timeout: Seconds for one SSH banner or NetBIOS query.
        http_timeout: Seconds for one web UI request.
        dns_timeout: Seconds for one reverse-DNS lookup.
        ssh_ports: Open ports whose SSH banner is read.
        web_ports: Open ports whose web UI title is read, in order, with whether they
            speak TLS (631 is IPP, which serves CUPS' web UI).
    """

    ports: Sequence[int] = DEFAULT_PORTS
    liveness_ports: Sequence[int] | None = None
    timeout: float = 0.8
    min_timeout: float = 0.3
    concurrency: int = 512
    icmp: bool = False
    neighbour_table: bool = True
    resolve_names: bool = True
    fingerprint: bool = True
    banner_timeout: float = 1.5
    http_timeout: float = 2.0
    dns_timeout: float = 1.0
    ssh_ports: Sequence[int] = (22,)
    web_ports: Sequence[tuple[int, bool]] = (
        (80, False),
        (443, True),
        (8080, False),
        (8443, True),
        (631, False),
    )

    def __post_init__(self) -> None:
        for port in (*self.ports, *(self.liveness_ports or ())):
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is out of range 1–65535")
        if not self.ports:
            raise ValueError("no ports to scan")
        if self.timeout <= 0 or self.min_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")

    def probe_ports(self) -> tuple[int, ...]:
        """The liveness ports in probing order."""
        if self.liveness_ports is not None:
            return tuple(dict.fromkeys(self.liveness_ports)) or (self.ports[0],)
        return tuple(dict.fromkeys((self.ports[0], *LIVENESS_EXTRA_PORTS)))


@dataclass(slots=True)
class _HostState:
    """What is known about one address while it is being probed.

    Probe callbacks update it; ``decided`` resolves when liveness is known (the first
    answer, or every liveness probe silent); ``finished``, set once every probe has been
    submitted, resolves when none is pending.
    """

    ip: str
    decided: asyncio.Future[None]
    finished: asyncio.Future[None] | None = None
    pending_liveness: int = 0
    pending: int = 0
    alive_reason: str = ""
    open_ports: set[int] = field(default_factory=set)
    rtts: list[float] = field(default_factory=list)

    def record(self, port: int, outcome: PortState, rtt: float | None, live: bool) -> None:
        if outcome is PortState.OPEN:
            self.open_ports.add(port)
        if rtt is not None:
            self.rtts.append(rtt)
            if not self.alive_reason:
                self.alive_reason = (
                    f"port {port}/tcp open"
                    if outcome is PortState.OPEN
                    else f"port {port}/tcp refused the connection (RST)"
                )
        self._count_down(live)

    def record_ping(self, rtt: float | None) -> None:
        if rtt is not None:
            self.rtts.append(rtt)
            if not self.alive_reason:
                self.alive_reason = "ICMP echo reply"
        self._count_down(live=True)

    def _count_down(self, live: bool) -> None:
        self.pending -= 1
        if live:
            self.pending_liveness -= 1
            if (self.alive_reason or self.pending_liveness == 0) and not self.decided.done():
                self.decided.set_result(None)
        if self.pending == 0 and self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


class _Sweep:
    """One scan's state; lives inside one ``asyncio.run``."""

    def __init__(
        self,
        targets: TargetSet,
        options: ScanOptions,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        on_host: Callable[[HostResult], None] | None,
        neighbours: Callable[[], Mapping[str, str]],
        on_link: Sequence[str] | None,
        neighbour_states: Callable[[], Mapping[str, str] | None] = read_neighbour_states,
    ) -> None:
        self.targets = targets
        self.options = options
        self.progress = progress
        self.cancel = cancel or CancelToken()
        self.on_host = on_host
        self.neighbours = NeighbourCache(neighbours)
        self.neighbour_states = neighbour_states
        self._states: Mapping[str, str] | None = None
        self._resolving_at_start: dict[str, str] = {}
        self._states_read = float("-inf")
        self.liveness_ports = options.probe_ports()
        # On a directly attached subnet one probe is enough to decide liveness: it makes
        # the kernel ARP for the address, a live host answers ARP within milliseconds
        # even when its firewall drops every port, and an empty address never does. This
        # cuts the sockets spent on empty addresses (most of a /24) by 4×, which is what
        # makes a LAN /24 faster than nmap -sT (bench/scan_vs_nmap.py).
        self.on_link = netaddr.IPSet()
        if options.neighbour_table:
            self.on_link = netaddr.IPSet(local_subnets() if on_link is None else on_link)
        self.concurrency = effective_concurrency(options.concurrency)
        self.hosts: list[HostResult] = []
        self.names_by_ip: dict[str, list[str]] = {}
        self.unresolved: list[str] = []
        self.total = targets.count
        self.done = 0
        self.cancelled = False
        self._last_report = float("-inf")
        self._dns_pool = concurrent.futures.ThreadPoolExecutor(
            _DNS_THREADS, thread_name_prefix="patchdesk-dns"
        )
        self._dns_timeouts_in_a_row = 0
        self._pinger: IcmpPinger | None = None
        self._engine: ProbeEngine | None = None
        self._slots: Slots | None = None

    # --- driver ------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.on_link:
            self._resolving_at_start = dict(self.neighbour_states() or {})
        # Fingerprint probes hold their sockets for up to seconds; give them their own
        # small share of the descriptor budget so they never starve the sweep.
        fingerprint_slots = min(_FINGERPRINT_SLOTS, max(1, self.concurrency // 4))
        self._slots = Slots(fingerprint_slots)
        self._engine = make_engine(loop, max(1, self.concurrency - fingerprint_slots))
        if self.options.icmp:
            self._pinger = IcmpPinger.open(loop)
        main = asyncio.current_task()
        assert main is not None
        watcher = loop.create_task(self._watch_cancel(main))
        try:
            extra = await self._resolve_hostnames()
            self.total = self.targets.count + len(extra)
            self._report(force=True)
            addresses = self._addresses(extra)
            workers = min(self.total, max(16, self.concurrency // len(self.liveness_ports) * 2))
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(self._worker(addresses))
        except asyncio.CancelledError:
            if not self.cancel.cancelled:
                raise
            self.cancelled = True
        finally:
            watcher.cancel()
            self._engine.close()
            if self._pinger is not None:
                self._pinger.close()
            # Do not wait for resolver threads stuck on a dead DNS server.
            self._dns_pool.shutdown(wait=False, cancel_futures=True)
        self._report(force=True)

    async def _watch_cancel(self, main: asyncio.Task[None]) -> None:
        # CancelToken is a threading.Event set from another thread; polling it is the
        # simplest way to get it into the loop without extending the shared contract.
        while not self.cancel.cancelled:
            await asyncio.sleep(_CANCEL_POLL)
        main.cancel()

    def _addresses(self, extra: list[str]) -> Iterator[str]:
        yield from self.targets
        yield from extra

    async def _worker(self, addresses: Iterator[str]) -> None:
        # Workers share one iterator: next() never awaits, so no two workers get the
        # same address, and a /16 is never materialised as a list.
        for ip in addresses:
            await self._scan_host(ip)
            self.done += 1
            self._report()

    def _report(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < _PROGRESS_INTERVAL and self.done < self.total:
            return
        self._last_report = now
        message = f"{self.done:,} of {self.total:,} addresses, {len(self.hosts):,} alive"
        self.progress(Progress(self.done, self.total, message))

    # --- host names in the target list -------------------------------------------------

    async def _resolve_hostnames(self) -> list[str]:
        if not self.targets.hostnames:
            return []
        loop = asyncio.get_running_loop()

        async def resolve(name: str) -> list[str]:
            try:
                async with asyncio.timeout(5.0):
                    infos = await loop.run_in_executor(
                        self._dns_pool,
                        lambda: socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM),
                    )
            except (OSError, TimeoutError, UnicodeError):
                return []
            return list(dict.fromkeys(str(info[4][0]) for info in infos))

        results = await asyncio.gather(*(resolve(name) for name in self.targets.hostnames))
        extra: list[str] = []
        for name, ips in zip(self.targets.hostnames, results, strict=True):
            if not ips:
                self.unresolved.append(name)
            for ip in ips:
                self.names_by_ip.setdefault(ip, []).append(name)
                if ip not in self.targets and ip not in extra:
                    extra.append(ip)
        return extra

    # --- one host -----------------------------------------------------------------------

    async def _ping_into(self, state: _HostState) -> None:
        assert self._pinger is not None
        state.record_ping(await self._pinger.ping(state.ip, self.options.timeout))

    def _submit(self, state: _HostState, port: int, timeout: float, live: bool) -> None:
        assert self._engine is not None
        state.pending += 1
        if live:
            state.pending_liveness += 1
        self._engine.submit(
            state.ip,
            port,
            timeout,
            lambda outcome, rtt: state.record(port, outcome, rtt, live),
        )

    async def _scan_host(self, ip: str) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        state = _HostState(ip, loop.create_future())
        liveness_ports = self.liveness_ports
        timeout = options.timeout
        if self.on_link and ":" not in ip and ip in self.on_link:
            liveness_ports = liveness_ports[:1]
            if self._resolving_at_start.get(ip) == "INCOMPLETE":
                # ARP for this address was already under way when the scan began (another
                # scan or program): our SYN waits for the kernel's next ARP retry, up to 1 s
                # later, so give this one probe time to get through (seen in the lab: a host
                # added right after a scan was missed with a 0.8 s timeout).
                timeout = max(timeout, _RESOLVING_TIMEOUT)
        for port in liveness_ports:
            self._submit(state, port, timeout, live=True)
        ping = None
        if self._pinger is not None:
            state.pending += 1
            state.pending_liveness += 1
            ping = loop.create_task(self._ping_into(state))
        try:
            await state.decided
            mac: str | None = None
            if not state.alive_reason and options.neighbour_table and ":" not in ip:
                # Our SYNs made the kernel ARP for the address: a complete neighbour entry
                # proves a host that drops everything is there (tech-notes §5.2).
                mac = self.neighbours.lookup(ip)
                if mac is not None and await self._neighbour_confirmed(ip):
                    state.alive_reason = "alive (neighbour table only)"
                else:
                    mac = None
            if not state.alive_reason:
                return
            # The liveness answers measured the round trip: the remaining ports of a live
            # host need far less than the worst-case timeout.
            port_timeout = options.timeout
            if state.rtts:
                port_timeout = min(
                    options.timeout, max(options.min_timeout, 8 * min(state.rtts) / 1000)
                )
            for port in options.ports:
                if port not in liveness_ports:
                    self._submit(state, port, port_timeout, live=False)
            if state.pending:
                state.finished = loop.create_future()
                await state.finished
        finally:
            if ping is not None:
                ping.cancel()
        await self._finish_host(state, mac)

    def _neighbour_state(self) -> Mapping[str, str] | None:
        now = time.monotonic()
        if now - self._states_read >= _NEIGHBOUR_POLL:
            self._states = self.neighbour_states()
            self._states_read = now
        return self._states

    async def _neighbour_confirmed(self, ip: str) -> bool:
        """Whether a neighbour entry proves the host is there *now*.

        A STALE entry outlives the device by minutes; our probe makes the kernel re-check
        it, so wait (up to ~9 s, only for such entries) until it is REACHABLE or FAILED.
        Where states cannot be read (not Linux), a complete entry counts as before.
        """
        deadline = time.monotonic() + _NEIGHBOUR_CONFIRM_TIMEOUT
        while True:
            states = self._neighbour_state()
            if states is None:
                return True
            current = states.get(ip)
            if current in CONFIRMED_STATES:
                return True
            if current not in UNCONFIRMED_STATES or time.monotonic() > deadline:
                return False
            await asyncio.sleep(_NEIGHBOUR_POLL)

    async def _finish_host(self, state: _HostState, mac: str | None) -> None:
        options = self.options
        ip = state.ip
        open_ports = sorted(state.open_ports)
        names: list[str] = list(self.names_by_ip.get(ip, ()))
        evidence: list[str] = [state.alive_reason]
        evidence.extend(f"name {name} given as target" for name in names)

        rdns, ssh_banner, http, status = await self._gather_facts(state)

        if rdns and rdns not in names:
            names.append(rdns)
            evidence.append(f"reverse DNS: {rdns}")
        netbios_name = status.computer_name if status else None
        if status is not None and netbios_name:
            if netbios_name.lower() not in (name.lower() for name in names):
                names.append(netbios_name)
            workgroup = f" (workgroup {status.workgroup})" if status.workgroup else ""
            evidence.append(f"NetBIOS name: {netbios_name}{workgroup}")

        if mac is None and options.neighbour_table and ":" not in ip:
            mac = self.neighbours.lookup(ip)
        if mac is not None:
            evidence.append(f"MAC {mac} from the neighbour table")
        elif status is not None and status.mac is not None:
            mac = status.mac
            evidence.append(f"MAC {mac} from NetBIOS")
        vendor = vendor_for(mac)
        if vendor == PRIVATE_MAC:
            evidence.append("locally administered MAC: randomised or virtual, no vendor")

        guess = classify(
            Facts(
                open_ports=frozenset(open_ports),
                ssh_banner=ssh_banner,
                http_title=http.title if http else None,
                http_server=http.server if http else None,
                vendor=None if vendor == PRIVATE_MAC else vendor,
                names=tuple(names),
                netbios=status is not None,
            )
        )
        classified_ports = {
            port
            for port in open_ports
            if any(port_evidence(port) in line for line in guess.evidence)
        }
        evidence.extend(port_evidence(port) for port in open_ports if port not in classified_ports)
        evidence.extend(guess.evidence)
        result = HostResult(
            ip=ip,
            mac=mac,
            vendor=vendor,
            hostnames=names,
            netbios_name=netbios_name,
            open_ports=open_ports,
            ssh_banner=ssh_banner,
            http_title=http.title if http else None,
            http_server=http.server if http else None,
            device_type=guess.device_type.value,
            os_guess=guess.os_guess,
            evidence=evidence,
            alive_reason=state.alive_reason,
            rtt_ms=min(state.rtts) if state.rtts else None,
        )
        self.hosts.append(result)
        if self.on_host is not None:
            self.on_host(result)

    async def _gather_facts(
        self, state: _HostState
    ) -> tuple[str | None, str | None, probes.HttpInfo | None, netbios.NodeStatus | None]:
        """Reverse DNS, SSH banner, web UI and NetBIOS, concurrently and only if useful."""
        options = self.options
        ip = state.ip
        resolve = options.resolve_names
        ssh_port = web = netbios_wanted = None
        if options.fingerprint:
            ssh_port = next((p for p in options.ssh_ports if p in state.open_ports), None)
            web = any(port in state.open_ports for port, _tls in options.web_ports) or None
            netbios_wanted = bool(state.open_ports & _NETBIOS_TRIGGER_PORTS) or None
        if not (resolve or ssh_port or web or netbios_wanted):
            return None, None, None, None  # the common case on a big sweep: no extra work
        return await asyncio.gather(
            self._reverse_dns(ip) if resolve else _nothing(),
            (
                self._limited(probes.read_ssh_banner, ip, ssh_port, options.banner_timeout)
                if ssh_port
                else _nothing()
            ),
            self._http(ip, state.open_ports) if web else _nothing(),
            (
                self._limited(netbios.query_node_status, ip, options.banner_timeout)
                if netbios_wanted
                else _nothing()
            ),
        )

    async def _limited(
        self, probe: Callable[..., Awaitable[_T]], *args: object, **kwargs: object
    ) -> _T:
        """Run a fingerprint probe inside its share of the socket budget."""
        # The coroutine is created only once a slot is held, so a cancelled wait never
        # leaves a never-awaited coroutine behind.
        assert self._slots is not None
        async with self._slots:
            return await probe(*args, **kwargs)

    async def _http(self, ip: str, open_ports: set[int]) -> probes.HttpInfo | None:
        first: probes.HttpInfo | None = None
        for port, tls in self.options.web_ports:
            if port not in open_ports:
                continue
            info = await self._limited(
                probes.read_http_info, ip, port, tls=tls, timeout=self.options.http_timeout
            )
            if info is not None and info.title:
                if first is not None and first.server and not info.server:
                    return probes.HttpInfo(info.status, first.server, info.title, info.location)
                return info
            first = first or info
        return first

    async def _reverse_dns(self, ip: str) -> str | None:
        if self._dns_timeouts_in_a_row >= _DNS_GIVE_UP_AFTER:
            return None  # the resolver is not answering; do not stall every host on it
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.options.dns_timeout):
                # gethostbyaddr, not getnameinfo: CPython before 3.11.4 held the GIL inside
                # getnameinfo, freezing the event loop for the resolver's full timeout
                # (https://github.com/python/cpython/issues/104308).
                name, _aliases, _addresses = await loop.run_in_executor(
                    self._dns_pool, socket.gethostbyaddr, ip
                )
        except TimeoutError:
            self._dns_timeouts_in_a_row += 1
            return None
        except (OSError, UnicodeError):
            self._dns_timeouts_in_a_row = 0
            return None
        self._dns_timeouts_in_a_row = 0
        return sanitise(name.rstrip("."), 253)


async def _nothing() -> None:
    return None


def scan(
    targets: TargetSet,
    options: ScanOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_host: Callable[[HostResult], None] | None = None,
    *,
    neighbours: Callable[[], Mapping[str, str]] = read_neighbour_table,
    on_link: Sequence[str] | None = None,
    neighbour_states: Callable[[], Mapping[str, str] | None] = read_neighbour_states,
) -> ScanResult:
    """Sweep the targets and fingerprint every live host. Blocks until done or cancelled.

    Runs its own asyncio loop in the calling thread (``asyncio.run``), so call it from a
    worker thread, never from a thread that already runs a loop.

    Args:
        targets: From :func:`~app.discovery.parse_targets`.
        options: How to sweep; defaults to :class:`ScanOptions()`.
        progress: Called with addresses done / total, at most ~20 times a second and
            once at the end.
        cancel: Checked every 50 ms; the scan then stops and returns what it has.
        on_host: Called once per live host as soon as it is fully probed (on the calling
            thread; keep it quick).
        neighbours: Reads the IP → MAC neighbour table (tests pass a fake).
        neighbour_states: Reads IP → neighbour state (REACHABLE, STALE, ...), used to
            tell a host that answers ARP now from a stale entry of one that left;
            returns None where states are unavailable.
        on_link: Directly attached subnets, where one liveness probe plus the neighbour
            table decide; None means this machine's interface subnets.

    Returns:
        The live hosts ordered by address; ``cancelled`` is set if the scan was cancelled.
    """
    sweep = _Sweep(
        targets,
        options or ScanOptions(),
        progress,
        cancel,
        on_host,
        neighbours,
        on_link,
        neighbour_states,
    )
    started = datetime.now(UTC)
    if not sweep.cancel.cancelled:
        asyncio.run(sweep.run())
    else:
        sweep.cancelled = True
    return ScanResult(
        hosts=sorted(sweep.hosts, key=lambda host: ip_sort_key(host.ip)),
        started=started,
        finished=datetime.now(UTC),
        targets_count=sweep.total,
        cancelled=sweep.cancelled,
        unresolved=list(sweep.unresolved),
    )
