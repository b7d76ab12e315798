"""Small service probes on a live host: SSH banner, web UI title and Server header."""

from __future__ import annotations

import asyncio
import codecs
import html
import re
import ssl
from dataclasses import dataclass

from app.discovery.sanitise import sanitise

__all__ = ["HttpInfo", "parse_http_response", "read_http_info", "read_ssh_banner"]

_SSH_BANNER_MAX = 255  # RFC 4253 §4.2: the identification line is at most 255 bytes
_SSH_PRELUDE_LINES = 8  # servers may send other lines before "SSH-" (RFC 4253 §4.2)
HTTP_READ_LIMIT = 64 * 1024

_TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET_RE = re.compile(rb"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HttpInfo:
    """What a web UI's front page says about the device.

    Attributes:
        status: The HTTP status code (0 if the status line was unreadable).
        server: The ``Server:`` header, sanitised.
        title: The ``<title>``, entity-decoded and sanitised.
        location: The ``Location:`` header of a redirect, sanitised.
    """

    status: int
    server: str | None
    title: str | None
    location: str | None = None


async def read_ssh_banner(ip: str, port: int = 22, timeout: float = 1.5) -> str | None:
    """Read the SSH server's identification line (no authentication is attempted).

    Args:
        ip: Host address.
        port: SSH port.
        timeout: Seconds for connecting and reading together.

    Returns:
        The ``SSH-…`` line (≤ 255 bytes, sanitised), or None.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(ip, port, limit=_SSH_BANNER_MAX + 2)
            try:
                for _ in range(_SSH_PRELUDE_LINES):
                    try:
                        line = await reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:
                        line = exc.partial
                    except asyncio.LimitOverrunError:
                        line = await reader.read(_SSH_BANNER_MAX)
                    if not line:
                        return None
                    if line.startswith(b"SSH-"):
                        return sanitise(line[:_SSH_BANNER_MAX].rstrip(b"\r\n"), _SSH_BANNER_MAX)
                return None
            finally:
                _abort(writer)
    except (OSError, TimeoutError, EOFError):
        return None


def _insecure_title_context() -> ssl.SSLContext:
    # Certificate verification is off ON PURPOSE and ONLY here: this context reads the
    # <title> of a device's web UI during discovery. LAN devices (printers, switches, NAS)
    # almost always use self-signed certificates, we send no credentials or data beyond
    # "GET /", and nothing read is trusted beyond display. Never reuse this context.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_TITLE_TLS_CONTEXT = _insecure_title_context()


async def read_http_info(ip: str, port: int, *, tls: bool, timeout: float = 2.0) -> HttpInfo | None:
    """Fetch ``/`` from a web UI and return its title and Server header.

    Reads at most 64 KiB; redirects are not followed (the Location is reported).

    Args:
        ip: Host address (also sent as the Host header).
        port: TCP port.
        tls: Speak TLS (without certificate verification; see the comment in the code).
        timeout: Seconds for connecting, the TLS handshake and reading together.

    Returns:
        What was found, or None if nothing HTTP-like answered.
    """
    host = f"[{ip}]" if ":" in ip else ip
    default_port = 443 if tls else 80
    host_header = host if port == default_port else f"{host}:{port}"
    request = (
        f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: PatchDesk-discovery\r\n"
        "Accept: text/html,*/*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    data = b""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                ip, port, ssl=_TITLE_TLS_CONTEXT if tls else None
            )
            try:
                writer.write(request)
                await writer.drain()
                while len(data) < HTTP_READ_LIMIT:
                    chunk = await reader.read(HTTP_READ_LIMIT - len(data))
                    if not chunk:
                        break
                    data += chunk
                    if _TITLE_RE.search(data):
                        break
            finally:
                _abort(writer)
    except (OSError, TimeoutError, EOFError, ssl.SSLError):
        pass  # use whatever arrived before the error or timeout
    return parse_http_response(data) if data else None


def parse_http_response(data: bytes) -> HttpInfo | None:
    """Parse the start of an HTTP response: status, Server, Location and ``<title>``.

    The input is untrusted and possibly truncated; this never raises on bad input.

    Args:
        data: Raw bytes as received (at most 64 KiB are looked at).

    Returns:
        The parsed fields, or None if it does not look like HTTP at all.
    """
    data = data[:HTTP_READ_LIMIT]
    if not data.startswith(b"HTTP/"):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not body and b"\n\n" in head:
        head, _, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    status_parts = lines[0].split(None, 2)
    status = (
        int(status_parts[1])
        if len(status_parts) > 1 and status_parts[1].isdigit() and len(status_parts[1]) == 3
        else 0
    )
    headers: dict[bytes, bytes] = {}
    for line in lines[1:100]:
        name, colon, value = line.partition(b":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    title = None
    match = _TITLE_RE.search(body)
    if match:
        charset = _charset(headers.get(b"content-type", b""), body)
        raw_title = match.group(1)[:4096]
        title = sanitise(html.unescape(raw_title.decode(charset, "replace")))
    return HttpInfo(
        status=status,
        server=sanitise(headers[b"server"].decode("latin-1")) if b"server" in headers else None,
        title=title,
        location=(
            sanitise(headers[b"location"].decode("latin-1")) if b"location" in headers else None
        ),
    )


def _charset(content_type: bytes, body: bytes) -> str:
    for source in (content_type, body[:2048]):
        match = _CHARSET_RE.search(source)
        if match:
            name = match.group(1).decode("ascii", "replace")
            try:
                return codecs.lookup(name).name
            except LookupError:
                continue
    return "utf-8"


def _abort(writer: asyncio.StreamWriter) -> None:
    # abort() instead of close(): no graceful shutdown (or TLS close_notify) to wait for,
    # and the socket is released immediately.
    writer.transport.abort()
