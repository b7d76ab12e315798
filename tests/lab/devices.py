"""Non-SSH lab devices: small listeners that look like a network printer or a Windows box.

Run inside the device's network namespace with the system python3 (stdlib only)::

    python3 -I devices.py printer --ip 10.99.0.20 --mac 02:99:00:00:00:14 --name printer1
    python3 -I devices.py windows --ip 10.99.0.30 --mac 02:99:00:00:00:1e --name WIN-LAB01

printer: TCP 9100 (JetDirect/PJL: answers ``@PJL INFO ID``), 631 (IPP over HTTP) and 80 (HTTP,
``<title>HP LaserJet Pro M404dn</title>`` and an HP ``Server:`` header).
windows: TCP 135, 139, 445, 3389 (accept and close), 5985 (WinRM: HTTP 404 with
``Server: Microsoft-HTTPAPI/2.0``) and UDP 137 answering NetBIOS NBSTAT queries with the
given name, the workgroup WORKGROUP and the MAC.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys

PRINTER_MODEL = "HP LaserJet Pro M404dn"
PRINTER_SERVER = f"HP HTTP Server; {PRINTER_MODEL} - W1A53A; Serial Number: PHBLAB0001"
WINDOWS_WORKGROUP = "WORKGROUP"


def http_response(status: str, server: str, body: str, ctype: str = "text/html") -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nServer: {server}\r\nContent-Type: {ctype}; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


PRINTER_PAGE = (
    "<!DOCTYPE html><html><head><title>" + PRINTER_MODEL + "</title></head>"
    "<body><h1>" + PRINTER_MODEL + "</h1><p>Embedded Web Server</p></body></html>"
)


async def _read_request(reader: asyncio.StreamReader, limit: int = 65536) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        return getattr(exc, "partial", b"")[:limit]


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass


def http_handler(
    server: str, body: str, status: str = "200 OK"
) -> asyncio.streams._ClientConnectedCallback:  # type: ignore[name-defined]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
            writer.write(http_response(status, server, body))
            await writer.drain()
        except OSError:
            pass
        finally:
            await _close(writer)

    return handle


async def pjl_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """JetDirect raw port: swallow print data, answer PJL INFO ID."""
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                break
            if b"@PJL INFO ID" in line.upper():
                writer.write(f'@PJL INFO ID\r\n"{PRINTER_MODEL}"\r\n\x0c'.encode())
                await writer.drain()
    except (OSError, TimeoutError):
        pass
    finally:
        await _close(writer)


async def accept_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.read(1024), 2)
    except (OSError, TimeoutError):
        pass
    finally:
        await _close(writer)


def netbios_encode(name: str) -> bytes:
    """First-level encoding of a 16-byte NetBIOS name (RFC 1002 4.1)."""
    raw = name.encode("ascii")[:16].ljust(16, b"\0")
    return bytes([32]) + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\0"


def nbstat_response(request: bytes, name: str, mac: str, workgroup: str) -> bytes | None:
    """Answer an NBSTAT (type 0x21) query; None for anything else."""
    if len(request) < 12 + 34 + 4:
        return None
    trn_id, flags, qdcount = struct.unpack(">HHH", request[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    qname = request[12 : 12 + 34]
    qtype, qclass = struct.unpack(">HH", request[46:50])
    if qtype != 0x21 or qclass != 1:
        return None
    entries = [
        (name, 0x00, 0x0400),  # workstation, unique, active
        (workgroup, 0x00, 0x8400),  # workgroup, group, active
        (name, 0x20, 0x0400),  # file server service
    ]
    rdata = bytes([len(entries)])
    for n, suffix, nflags in entries:
        rdata += n.upper().encode("ascii")[:15].ljust(15, b" ") + bytes([suffix])
        rdata += struct.pack(">H", nflags)
    rdata += bytes.fromhex(mac.replace(":", "")) + bytes(40)  # statistics: unit id first
    header = struct.pack(">HHHHHH", trn_id, 0x8400, 0, 1, 0, 0)
    return header + qname + struct.pack(">HHIH", 0x21, 1, 0, len(rdata)) + rdata


class NbstatProtocol(asyncio.DatagramProtocol):
    def __init__(self, name: str, mac: str) -> None:
        self.name, self.mac = name, mac
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = nbstat_response(data, self.name, self.mac, WINDOWS_WORKGROUP)
        if reply and self.transport:
            self.transport.sendto(reply, addr)


async def serve(kind: str, ip: str, mac: str, name: str, *, winrm: bool = True) -> None:
    """Listen until cancelled; ``winrm=False`` leaves 5985 to a simulated WinRM endpoint
    (tests/lab/winrm_endpoint.py serves this box then)."""
    servers = []

    async def tcp(port: int, handler: object) -> None:
        servers.append(await asyncio.start_server(handler, ip, port, reuse_address=True))

    if kind == "printer":
        await tcp(80, http_handler(PRINTER_SERVER, PRINTER_PAGE))
        await tcp(631, http_handler(PRINTER_SERVER, PRINTER_PAGE))
        await tcp(9100, pjl_handler)
    elif kind == "windows":
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: NbstatProtocol(name, mac), local_addr=(ip, 137))
        for port in (135, 139, 3389):
            await tcp(port, accept_close)
        if winrm:
            await tcp(
                5985,
                http_handler("Microsoft-HTTPAPI/2.0", "", status="404 Not Found"),
            )
        await tcp(445, accept_close)  # last: the lab polls it for readiness
    else:
        raise SystemExit(f"unknown device kind {kind}")
    print(f"devices: {kind} {name} listening on {ip}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["printer", "windows"])
    ap.add_argument("--ip", required=True)
    ap.add_argument("--mac", required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(args.kind, args.ip, args.mac, args.name))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
