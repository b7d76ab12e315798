"""Fingerprinting pieces: OUI vendors, NetBIOS packets, HTTP/SSH parsing, the rule table."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.discovery import DeviceType, Facts, HostResult, classify, normalise_mac, vendor_for
from app.discovery.fingerprint import RULES, Rule, port_evidence
from app.discovery.neighbours import (
    NeighbourCache,
    parse_arp_an,
    parse_ip_neigh_json,
    parse_proc_net_arp,
)
from app.discovery.netbios import (
    NetbiosError,
    build_nbstat_request,
    parse_nbstat_response,
    query_node_status,
)
from app.discovery.oui import PRIVATE_MAC
from app.discovery.probes import parse_http_response
from app.discovery.sanitise import sanitise

# --- MAC addresses and vendors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "00:1B:63:84:45:E6",
        "00-1b-63-84-45-e6",
        "001b.6384.45e6",
        "001B638445E6",
        "0:1b:63:84:45:e6",
    ],
)
def test_normalise_mac_forms(text: str) -> None:
    assert normalise_mac(text) == "00:1b:63:84:45:e6"


@pytest.mark.parametrize(
    "text",
    [None, "", "zz:zz", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "1:2:3"],
)
def test_normalise_mac_rejects_unusable(text: str | None) -> None:
    assert normalise_mac(text) is None


def test_vendor_from_bundled_oui_registry() -> None:
    assert vendor_for("00:1b:63:84:45:e6") == "Apple, Inc."
    assert vendor_for("B8-27-EB-12-34-56") == "Raspberry Pi Foundation"


def test_locally_administered_mac_is_private() -> None:
    assert vendor_for("02:00:00:00:00:01") == PRIVATE_MAC
    assert vendor_for("da:a1:19:00:00:01") == PRIVATE_MAC  # randomised Wi-Fi style


def test_unknown_or_invalid_vendor() -> None:
    assert vendor_for("00:00:01:00:00:01") is not None or vendor_for("00:00:01:00:00:01") is None
    assert vendor_for("not a mac") is None
    assert vendor_for(None) is None


# --- neighbour table ---------------------------------------------------------------------------

PROC_NET_ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         00:1B:63:84:45:E6     *        eth0
192.168.1.7      0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.9      0x1         0x6         b8:27:eb:00:00:01     *        eth0
bogus
"""


def test_parse_proc_net_arp_keeps_complete_entries() -> None:
    assert parse_proc_net_arp(PROC_NET_ARP) == {
        "192.168.1.1": "00:1b:63:84:45:e6",
        "192.168.1.9": "b8:27:eb:00:00:01",
    }


def test_parse_ip_neigh_json() -> None:
    text = (
        '[{"dst":"10.0.0.1","dev":"eth0","lladdr":"00:1b:63:84:45:e6","state":["REACHABLE"]},'
        '{"dst":"10.0.0.2","dev":"eth0","state":["FAILED"]},'
        '{"dst":"10.0.0.3","dev":"eth0","lladdr":"00:1b:63:84:45:e7","state":["INCOMPLETE"]},'
        '{"dst":"10.0.0.4","dev":"eth0","lladdr":"00:1b:63:84:45:e8","state":["STALE"]}]'
    )
    assert parse_ip_neigh_json(text) == {
        "10.0.0.1": "00:1b:63:84:45:e6",
        "10.0.0.4": "00:1b:63:84:45:e8",
    }
    assert parse_ip_neigh_json("[1, 2") == {}


def test_parse_arp_an_bsd_and_windows() -> None:
    text = (
        "? (192.168.1.1) at 0:1b:63:84:45:e6 on en0 ifscope [ethernet]\n"
        "? (192.168.1.5) at (incomplete) on en0 ifscope [ethernet]\n"
        "  192.168.1.254         00-11-22-33-44-55     dynamic\n"
    )
    assert parse_arp_an(text) == {
        "192.168.1.1": "00:1b:63:84:45:e6",
        "192.168.1.254": "00:11:22:33:44:55",
    }


def test_neighbour_cache_rereads_only_when_stale() -> None:
    reads: list[int] = []

    def source() -> dict[str, str]:
        reads.append(1)
        return {"10.0.0.1": "00:1b:63:84:45:e6"}

    cache = NeighbourCache(source, max_age=60)
    assert cache.lookup("10.0.0.1") == "00:1b:63:84:45:e6"
    assert cache.lookup("10.0.0.2") is None
    assert cache.lookup("10.0.0.3") is None
    assert len(reads) == 1


# --- NetBIOS ----------------------------------------------------------------------------------

ENCODED_WILDCARD = b"\x20CK" + b"A" * 30 + b"\x00"


def test_nbstat_request_bytes() -> None:
    packet = build_nbstat_request(0x1234)
    assert packet == (
        b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + ENCODED_WILDCARD + b"\x00\x21\x00\x01"
    )
    assert len(packet) == 50


def _name_entry(name: str, suffix: int, group: bool = False) -> bytes:
    flags = 0x8400 if group else 0x0400
    return name.encode("latin-1").ljust(15, b" ") + bytes([suffix]) + struct.pack(">H", flags)


def make_response(
    transaction_id: int = 0x1234,
    names: tuple[bytes, ...] = (),
    mac: bytes = bytes.fromhex("001b638445e6"),
    flags: int = 0x8400,
    rr_name: bytes = ENCODED_WILDCARD,
    rr_type: int = 0x0021,
    extra_stats: bytes = b"\x00" * 40,
) -> bytes:
    rdata = bytes([len(names)]) + b"".join(names) + mac + extra_stats
    return (
        struct.pack(">HHHHHH", transaction_id, flags, 0, 1, 0, 0)
        + rr_name
        + struct.pack(">HHIH", rr_type, 1, 0, len(rdata))
        + rdata
    )


WINDOWS_NAMES = (
    _name_entry("DESKTOP-AB12CDE", 0x00),
    _name_entry("WORKGROUP", 0x00, group=True),
    _name_entry("DESKTOP-AB12CDE", 0x20),
)


def test_parse_nbstat_response() -> None:
    status = parse_nbstat_response(make_response(names=WINDOWS_NAMES), 0x1234)
    assert status.computer_name == "DESKTOP-AB12CDE"
    assert status.workgroup == "WORKGROUP"
    assert status.mac == "00:1b:63:84:45:e6"
    assert [(n.name, n.suffix, n.group) for n in status.names] == [
        ("DESKTOP-AB12CDE", 0x00, False),
        ("WORKGROUP", 0x00, True),
        ("DESKTOP-AB12CDE", 0x20, False),
    ]


def test_parse_nbstat_samba_zero_mac_and_file_server_only() -> None:
    status = parse_nbstat_response(
        make_response(names=(_name_entry("NAS", 0x20),), mac=b"\x00" * 6), None
    )
    assert status.mac is None
    assert status.computer_name == "NAS"
    assert status.workgroup is None


def test_parse_nbstat_compressed_name_pointer() -> None:
    status = parse_nbstat_response(make_response(names=WINDOWS_NAMES, rr_name=b"\xc0\x0c"))
    assert status.computer_name == "DESKTOP-AB12CDE"


def test_parse_nbstat_hostile_name_is_sanitised() -> None:
    names = (b"EVIL\x1b[31m\x07\x00\x00\x00\x00\x00\x00" + b"\x00" + b"\x04\x00",)
    status = parse_nbstat_response(make_response(names=names))
    assert status.computer_name == "EVIL [31m"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (make_response(transaction_id=1), "transaction id"),
        (make_response(flags=0x0000), "not a response"),
        (make_response(flags=0x8403), "rcode 3"),
        (make_response(rr_type=0x0020), "not NBSTAT"),
        (make_response(names=WINDOWS_NAMES)[:12], "truncated name"),
        (b"\x12\x34\x84\x00", "truncated header"),
        (struct.pack(">HHHHHH", 0x1234, 0x8400, 0, 0, 0, 0), "no answer"),
        (make_response(rr_name=b"\x3f" + b"A" * 63 + b"\x00"), None),
        (make_response(rr_name=b"\x80AAAA\x00"), "invalid label length"),
        (make_response(rr_name=b"\x01A" * 20 + b"\x00"), "too many labels"),
    ],
)
def test_parse_nbstat_rejects_bad_packets(packet: bytes, reason: str | None) -> None:
    if reason is None:  # an odd but well-formed name is fine
        parse_nbstat_response(packet, 0x1234)
        return
    with pytest.raises(NetbiosError, match=reason):
        parse_nbstat_response(packet, 0x1234)


def test_parse_nbstat_every_truncation_fails_cleanly() -> None:
    packet = make_response(names=WINDOWS_NAMES, extra_stats=b"")
    for length in range(len(packet)):
        try:
            status = parse_nbstat_response(packet[:length], 0x1234)
        except NetbiosError:
            continue
        # Truncation inside the MAC/statistics still yields the names, never garbage.
        assert status.computer_name == "DESKTOP-AB12CDE"


def test_parse_nbstat_name_count_larger_than_data() -> None:
    packet = bytearray(make_response(names=WINDOWS_NAMES))
    packet[12 + len(ENCODED_WILDCARD) + 10] = 200  # num_names
    with pytest.raises(NetbiosError, match="truncated"):
        parse_nbstat_response(bytes(packet), 0x1234)


@given(st.binary(max_size=600))
@settings(max_examples=400)
def test_parse_nbstat_never_crashes_on_garbage(data: bytes) -> None:
    try:
        status = parse_nbstat_response(data)
    except NetbiosError:
        return
    assert all(len(entry.name) <= 15 for entry in status.names)


@given(st.binary(max_size=300))
@settings(max_examples=200)
def test_parse_nbstat_never_crashes_on_mutated_answers(tail: bytes) -> None:
    packet = make_response(names=WINDOWS_NAMES)
    with contextlib.suppress(NetbiosError):
        parse_nbstat_response(packet[:60] + tail)


def test_query_node_status_against_a_fake_responder() -> None:
    """A UDP responder on loopback answers like a Windows host would."""

    async def run() -> tuple[object, object]:
        loop = asyncio.get_running_loop()

        class Responder(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                # Python 3.11's selector datagram transport is not a DatagramTransport
                # subclass, so cast rather than isinstance().
                self.transport = cast(asyncio.DatagramTransport, transport)

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                assert data[2:] == build_nbstat_request(0)[2:]
                (tid,) = struct.unpack(">H", data[:2])
                self.transport.sendto(b"garbage", addr)  # ignored, keeps waiting
                self.transport.sendto(make_response(tid, WINDOWS_NAMES), addr)

        transport, _ = await loop.create_datagram_endpoint(
            Responder, local_addr=("127.0.0.1", 0), family=socket.AF_INET
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            answered = await query_node_status("127.0.0.1", timeout=1.0, port=port)
            # Nothing listens on the closed port: ICMP port unreachable ends it at once.
            silent = await query_node_status("127.0.0.1", timeout=0.5, port=_free_udp_port())
        finally:
            transport.close()
        return answered, silent

    answered, silent = asyncio.run(run())
    assert answered is not None
    assert getattr(answered, "computer_name", None) == "DESKTOP-AB12CDE"
    assert silent is None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- HTTP and text ----------------------------------------------------------------------------


def test_parse_http_title_server_and_entities() -> None:
    info = parse_http_response(
        b"HTTP/1.1 200 OK\r\nServer: HP HTTP Server; HP LaserJet M404\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
        b"<html><head><TITLE class=x>\n  Caf\xe9 &amp; Printer\t</TITLE></head>"
    )
    assert info is not None
    assert info.status == 200
    assert info.server == "HP HTTP Server; HP LaserJet M404"
    assert info.title == "Café & Printer"


def test_parse_http_redirect_and_meta_charset() -> None:
    info = parse_http_response(
        b"HTTP/1.0 302 Found\r\nLocation: /hp/device/start\r\n\r\n"
        b'<meta charset="utf-8"><title>\xe2\x9c\x93 OK</title>'
    )
    assert info is not None
    assert (info.status, info.location, info.title, info.server) == (
        302,
        "/hp/device/start",
        "✓ OK",
        None,
    )


@pytest.mark.parametrize("data", [b"", b"SSH-2.0-x\r\n", b"\x16\x03\x01garbage"])
def test_parse_http_non_http(data: bytes) -> None:
    assert parse_http_response(data) is None


@given(st.binary(max_size=400))
def test_parse_http_never_crashes(tail: bytes) -> None:
    info = parse_http_response(b"HTTP/1.1 " + tail)
    assert info is not None
    assert info.title is None or len(info.title) <= 200


def test_sanitise() -> None:
    assert sanitise("  a\x1b[0m\x00b \u202egnp.exe\r\n") == "a [0m b gnp.exe"
    assert sanitise(b"\xff\xfeok") == "\ufffd\ufffdok"
    assert sanitise("\x00\x01 \t") is None
    assert sanitise(None) is None
    long = sanitise("x" * 1000)
    assert long is not None
    assert len(long) == 200
    assert long.endswith("…")


# --- rules -------------------------------------------------------------------------------------


def guess(**facts: object) -> tuple[str, str | None, list[str]]:
    ports = facts.pop("ports", ())
    assert isinstance(ports, tuple)
    result = classify(Facts(open_ports=frozenset(ports), **facts))  # type: ignore[arg-type]
    return result.device_type.value, result.os_guess, result.evidence


UBUNTU_BANNER = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"
WINDOWS_BANNER = "SSH-2.0-OpenSSH_for_Windows_9.5"
PROXMOX_TITLE = "pve1 - Proxmox Virtual Environment"
MIKROTIK = "MikroTik RouterOS"


def test_debian_ssh_banner() -> None:
    kind, os_guess, evidence = guess(
        ports=(22,), ssh_banner="SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    )
    assert (kind, os_guess) == ("linux host", "Debian")
    assert "SSH banner: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 → linux host, Debian" in evidence


@pytest.mark.parametrize(
    ("facts", "kind", "os_guess"),
    [
        ({"ports": (22,), "ssh_banner": UBUNTU_BANNER}, "linux host", "Ubuntu"),
        ({"ports": (22,), "ssh_banner": WINDOWS_BANNER}, "windows host", "Windows"),
        ({"ports": (135, 139, 445), "netbios": True}, "windows host", "Windows"),
        ({"ports": (135, 445, 3389)}, "workstation", "Windows"),
        ({"ports": (135, 445, 3389, 5985)}, "server", "Windows"),
        ({"ports": (80, 443), "http_server": "Microsoft-IIS/10.0"}, "server", "Windows"),
        ({"ports": (9100, 80)}, "printer", "printer firmware"),
        ({"ports": (80,), "http_title": "Brother MFC-L2710DW"}, "printer", "printer firmware"),
        ({"ports": (631, 515)}, "printer", None),
        ({"ports": (443,), "http_title": "UniFi Network"}, "network device", None),
        ({"ports": (22, 80), "ssh_banner": "SSH-2.0-ROSSSH"}, "network device", MIKROTIK),
        ({"ports": (23, 80)}, "network device", None),
        ({"ports": (5000, 5001), "http_title": "Synology DiskStation"}, "nas", None),
        ({"ports": (548, 5900), "vendor": "Apple, Inc."}, "mac", "macOS"),
        ({"ports": (62078,)}, "phone or tablet", "iOS"),
        ({"ports": (), "names": ("DESKTOP-7QK2M4N",)}, "workstation", "Windows"),
        ({"ports": (22,), "vendor": "Raspberry Pi Trading Ltd"}, "linux host", "Linux"),
        ({"ports": (8006,), "http_title": PROXMOX_TITLE}, "server", "Proxmox VE (Debian)"),
        ({"ports": ()}, "unknown", None),
        ({"ports": (12345,)}, "unknown", None),
    ],
)  # fmt: skip
def test_rules_table(facts: dict[str, object], kind: str, os_guess: str | None) -> None:
    assert guess(**facts)[:2] == (kind, os_guess)


def test_port_evidence_names_the_service() -> None:
    assert port_evidence(9100) == "port 9100/tcp open (jetdirect)"
    assert port_evidence(40000) == "port 40000/tcp open"
    _, _, evidence = guess(ports=(9100,))
    assert evidence == ["port 9100/tcp open (jetdirect) → printer, printer firmware"]


def test_rules_are_data_and_replaceable() -> None:
    assert all(isinstance(rule, Rule) for rule in RULES)
    custom = (Rule(DeviceType.NAS, "TrueNAS", 5, frozenset({2049})),)
    result = classify(Facts(open_ports=frozenset({2049})), custom)
    assert (result.device_type, result.os_guess) == (DeviceType.NAS, "TrueNAS")


def test_host_result_to_dict_is_json_ready() -> None:
    import json

    host = HostResult(ip="10.0.0.5", open_ports=[22, 80], rtt_ms=0.12345, evidence=["x"])
    data = host.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["device_type"] == "unknown"
    assert data["rtt_ms"] == 0.123
    assert set(data) == {
        "ip", "mac", "vendor", "hostnames", "netbios_name", "open_ports", "ssh_banner",
        "http_title", "http_server", "device_type", "os_guess", "evidence", "alive_reason",
        "rtt_ms",
    }  # fmt: skip
