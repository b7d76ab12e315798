"""Optional unprivileged ICMP echo through a Linux/macOS "ping socket" (SOCK_DGRAM)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

__all__ = ["IcmpPinger"]

_ECHO_REQUEST, _ECHO_REPLY = 8, 0
_PAYLOAD = b"PatchDesk-discovery"


def _checksum(packet: bytes) -> int:
    # RFC 1071 one's-complement sum. Linux recomputes it for ping sockets; macOS does not.
    if len(packet) % 2:
        packet += b"\0"
    total = sum(int(word) for word in struct.unpack(f"!{len(packet) // 2}H", packet))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class IcmpPinger:
    """Sends echo requests from one ICMP datagram socket and matches replies by address.

    On Linux a ping socket needs the user's group inside ``net.ipv4.ping_group_range``
    (icmplib's notes: tech-notes §5.4); :meth:`open` returns None when it is not allowed,
    and on Windows (raw sockets only, i.e. admin), so callers skip ICMP silently.
    """

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._sent_at: dict[str, float] = {}
        self._sequence = 0

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop) -> IcmpPinger | None:
        """Create a pinger, or return None if unprivileged ICMP is not available here."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except (OSError, AttributeError):
            return None
        sock.setblocking(False)
        pinger = cls(sock, loop)
        try:
            loop.add_reader(sock.fileno(), pinger._on_readable)
        except (NotImplementedError, OSError):  # e.g. the Windows proactor loop
            sock.close()
            return None
        return pinger

    def close(self) -> None:
        """Stop listening and close the socket."""
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()

    async def ping(self, ip: str, timeout: float) -> float | None:
        """Send one echo request; return the round trip in ms, or None without a reply."""
        self._sequence = (self._sequence + 1) & 0xFFFF
        header = struct.pack("!BBHHH", _ECHO_REQUEST, 0, 0, 0, self._sequence)
        checksum = _checksum(header + _PAYLOAD)
        packet = struct.pack("!BBHHH", _ECHO_REQUEST, 0, checksum, 0, self._sequence) + _PAYLOAD
        future = self._waiting.get(ip)
        if future is None or future.done():
            future = self._loop.create_future()
            self._waiting[ip] = future
        self._sent_at[ip] = time.perf_counter()
        try:
            self._sock.sendto(packet, (ip, 0))
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except (OSError, TimeoutError):
            return None
        finally:
            if self._waiting.get(ip) is future:
                del self._waiting[ip]
            self._sent_at.pop(ip, None)

    def _on_readable(self) -> None:
        for _ in range(64):  # drain what is queued, but do not starve the loop
            try:
                data, address = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            # macOS delivers the IP header too; Linux starts at the ICMP header.
            if data and data[0] >> 4 == 4 and len(data) >= 20:
                data = data[(data[0] & 0x0F) * 4 :]
            if not data or data[0] != _ECHO_REPLY:
                continue
            future = self._waiting.get(address[0])
            if future is not None and not future.done():
                sent = self._sent_at.get(address[0], time.perf_counter())
                future.set_result((time.perf_counter() - sent) * 1000.0)
