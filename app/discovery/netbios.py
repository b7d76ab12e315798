"""NetBIOS node status (NBSTAT) query on UDP 137: a Windows/Samba host's names and MAC."""

from __future__ import annotations

import asyncio
import secrets
import struct
from dataclasses import dataclass

from app.discovery.oui import normalise_mac
from app.discovery.sanitise import sanitise

__all__ = [
    "NetbiosError",
    "NetbiosName",
    "NodeStatus",
    "build_nbstat_request",
    "parse_nbstat_response",
    "query_node_status",
]

# Packet layout from RFC 1002 §4.2.1 (header), §4.2.17 (NODE STATUS REQUEST) and
# §4.2.18 (NODE STATUS RESPONSE); checked against nmap's implementation
# https://github.com/nmap/nmap/blob/db4aefddfa348ec815ffa83a109c97e05db88766/nselib/netbios.lua
# (lines 250-420), as summarised in tech-notes §5.7.
NBNS_PORT = 137
_TYPE_NBSTAT = 0x0021
_CLASS_IN = 0x0001
_HEADER = struct.Struct(">HHHHHH")
# "*" padded with NULs to 16 bytes, first-level encoded (RFC 1001 §14.1): each nibble
# + ord("A"). 0x2A → "CK", 0x00 → "AA".
_WILDCARD_NAME = b"\x20" + b"CK" + b"AA" * 15 + b"\x00"
_NAME_ENTRY_LEN = 18  # 15 name bytes + 1 suffix byte + 2 flag bytes
_GROUP_FLAG = 0x8000
_MAX_LABELS = 16  # a well-formed NetBIOS name has one label; bound hostile loops


class NetbiosError(ValueError):
    """A NetBIOS response that cannot be used (truncated, wrong id, malformed, error rcode)."""


@dataclass(frozen=True, slots=True)
class NetbiosName:
    """One entry of a node status response.

    Attributes:
        name: The 15-character name, trailing spaces removed, sanitised.
        suffix: The 16th byte: 0x00 workstation/domain, 0x20 file server, 0x03 messenger…
        group: True for group (workgroup/domain) names, False for unique names.
    """

    name: str
    suffix: int
    group: bool


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A parsed NBSTAT answer.

    Attributes:
        names: The registered names, in the order the host listed them.
        mac: The adapter MAC from the statistics block (None if absent or all zeros,
            which Samba sends).
    """

    names: tuple[NetbiosName, ...]
    mac: str | None

    @property
    def computer_name(self) -> str | None:
        """The unique workstation (0x00) name, else the file-server (0x20) name."""
        for wanted in (0x00, 0x20):
            for entry in self.names:
                if entry.suffix == wanted and not entry.group and entry.name:
                    return entry.name
        return None

    @property
    def workgroup(self) -> str | None:
        """The group 0x00 name: the workgroup or domain."""
        for entry in self.names:
            if entry.suffix == 0x00 and entry.group and entry.name:
                return entry.name
        return None


def build_nbstat_request(transaction_id: int) -> bytes:
    """Encode a node status request for the wildcard name ``*``.

    Args:
        transaction_id: 0–65535, echoed back by the host.

    Returns:
        The 50-byte UDP payload.
    """
    # Flags 0x0000: a query, no recursion (NBSTAT is always sent to the node itself).
    header = _HEADER.pack(transaction_id & 0xFFFF, 0x0000, 1, 0, 0, 0)
    return header + _WILDCARD_NAME + struct.pack(">HH", _TYPE_NBSTAT, _CLASS_IN)


def parse_nbstat_response(data: bytes, transaction_id: int | None = None) -> NodeStatus:
    """Parse a node status response. The input is untrusted: every length is checked.

    Args:
        data: The UDP payload.
        transaction_id: If given, the response must carry this id.

    Returns:
        The names and MAC.

    Raises:
        NetbiosError: The packet is truncated, malformed, an error, or not ours.
    """
    if len(data) < _HEADER.size:
        raise NetbiosError("truncated header")
    tid, flags, _qd, ancount, _ns, _ar = _HEADER.unpack_from(data)
    if transaction_id is not None and tid != transaction_id & 0xFFFF:
        raise NetbiosError("transaction id does not match")
    if not flags & 0x8000:
        raise NetbiosError("not a response")
    if flags & 0x000F:
        raise NetbiosError(f"error response (rcode {flags & 0x000F})")
    if ancount < 1:
        raise NetbiosError("no answer records")
    offset = _skip_name(data, _HEADER.size)
    # TYPE(2) CLASS(2) TTL(4) RDLENGTH(2)
    if offset + 10 > len(data):
        raise NetbiosError("truncated resource record")
    rr_type, _rr_class, _ttl, rdlength = struct.unpack_from(">HHIH", data, offset)
    if rr_type != _TYPE_NBSTAT:
        raise NetbiosError(f"answer type {rr_type:#06x} is not NBSTAT")
    offset += 10
    rdata = data[offset : offset + rdlength]
    if len(rdata) < 1:
        raise NetbiosError("empty node status")
    num_names = rdata[0]
    names_end = 1 + num_names * _NAME_ENTRY_LEN
    if names_end > len(rdata):
        raise NetbiosError("name table is truncated")
    names: list[NetbiosName] = []
    for index in range(num_names):
        start = 1 + index * _NAME_ENTRY_LEN
        raw_name = rdata[start : start + 15]
        suffix = rdata[start + 15]
        (name_flags,) = struct.unpack_from(">H", rdata, start + 16)
        # Names are OEM-codepage bytes; latin-1 never fails and sanitise() drops controls.
        name = sanitise(raw_name.decode("latin-1").rstrip(" \x00"), limit=15) or ""
        names.append(NetbiosName(name, suffix, bool(name_flags & _GROUP_FLAG)))
    mac_bytes = rdata[names_end : names_end + 6]
    mac = normalise_mac(mac_bytes.hex()) if len(mac_bytes) == 6 else None
    return NodeStatus(tuple(names), mac)


def _skip_name(data: bytes, offset: int) -> int:
    """Return the offset after a (possibly compressed) encoded name at ``offset``."""
    for _ in range(_MAX_LABELS):
        if offset >= len(data):
            raise NetbiosError("truncated name")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # compression pointer (RFC 1002 §4.1): 2 bytes, ends name
            if offset + 2 > len(data):
                raise NetbiosError("truncated name pointer")
            return offset + 2
        if length & 0xC0:
            raise NetbiosError("invalid label length")
        offset += 1 + length
    raise NetbiosError("too many labels in name")


class _NbstatProtocol(asyncio.DatagramProtocol):
    def __init__(self, transaction_id: int, answer: asyncio.Future[NodeStatus]) -> None:
        self._transaction_id = transaction_id
        self._answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self._answer.done():
            return
        try:
            status = parse_nbstat_response(data[:4096], self._transaction_id)
        except NetbiosError:
            return  # someone else's or garbage: keep waiting until the timeout
        self._answer.set_result(status)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable arrives as ECONNREFUSED: nobody listens on 137.
        if not self._answer.done():
            self._answer.set_exception(exc)


async def query_node_status(
    ip: str, timeout: float = 1.0, attempts: int = 2, port: int = NBNS_PORT
) -> NodeStatus | None:
    """Ask ``ip`` for its NetBIOS names (unicast NBSTAT, works across routers).

    Args:
        ip: The host to ask.
        timeout: Total seconds to wait for an answer.
        attempts: How many times to send the request (UDP may be lost).
        port: UDP port; tests use an unprivileged one.

    Returns:
        The parsed answer, or None if the host did not answer usefully.
    """
    loop = asyncio.get_running_loop()
    transaction_id = secrets.randbelow(0x10000)
    answer: asyncio.Future[NodeStatus] = loop.create_future()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _NbstatProtocol(transaction_id, answer), remote_addr=(ip, port)
        )
    except OSError:
        return None
    request = build_nbstat_request(transaction_id)
    try:
        per_attempt = timeout / max(1, attempts)
        for _ in range(max(1, attempts)):
            transport.sendto(request)
            try:
                return await asyncio.wait_for(asyncio.shield(answer), per_attempt)
            except TimeoutError:
                continue
            except OSError:
                return None
        return None
    finally:
        transport.close()
        if not answer.done():
            answer.cancel()
