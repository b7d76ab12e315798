"""Target and port parsing for discovery: every accepted form and every rejected one."""

from __future__ import annotations

import ipaddress
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.discovery import (
    PROFILES,
    PortError,
    PublicRangeError,
    RangeError,
    RangeTooLargeError,
    check_limits,
    local_subnets,
    parse_ports,
    parse_targets,
)
from app.discovery.ranges import parse_ifconfig, parse_ip_addr_json, parse_proc_net_route

# --- accepted forms ----------------------------------------------------------------------


def test_cidr_leaves_out_network_and_broadcast() -> None:
    targets = parse_targets("192.168.1.0/24")
    addresses = list(targets)
    assert targets.count == 254 == len(addresses)
    assert addresses[0] == "192.168.1.1"
    assert addresses[-1] == "192.168.1.254"
    assert "192.168.1.0" not in targets
    assert "192.168.1.255" not in targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/30", ["10.0.0.1", "10.0.0.2"]),
        ("10.0.0.0/31", ["10.0.0.0", "10.0.0.1"]),  # RFC 3021 point-to-point: both hosts
        ("10.0.0.7/32", ["10.0.0.7"]),
        ("10.0.0.5/30", ["10.0.0.5", "10.0.0.6"]),  # host bits set: its network, like nmap
    ],
)
def test_small_networks(text: str, expected: list[str]) -> None:
    assert list(parse_targets(text)) == expected


def test_full_and_short_ranges() -> None:
    assert list(parse_targets("10.0.0.5-10.0.0.8")) == [f"10.0.0.{i}" for i in range(5, 9)]
    assert parse_targets("10.0.0.5-40").count == 36
    assert list(parse_targets("10.0.0.5 - 7")) == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    # A range may cross octets and include .0/.255: the user asked for exactly these.
    assert list(parse_targets("10.0.0.255-10.0.1.0")) == ["10.0.0.255", "10.0.1.0"]


def test_separators_dedupe_and_order() -> None:
    text = "10.0.0.9,10.0.0.1;10.0.0.5\n10.0.0.1\t 10.0.0.3-5 ,, "
    assert list(parse_targets(text)) == ["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.9"]


def test_hostnames_are_kept_as_names() -> None:
    targets = parse_targets("nas01, Printer-2.example.lan. 10.0.0.1 nas01 host_with_underscore")
    assert targets.hostnames == ("nas01", "printer-2.example.lan", "host_with_underscore")
    assert list(targets) == ["10.0.0.1"]
    assert targets.count == 1


def test_inline_and_separate_exclusions() -> None:
    targets = parse_targets("10.0.0.0/28 !10.0.0.1 ! 10.0.0.2", exclude="10.0.0.8-10, !10.0.0.14")
    assert list(targets) == ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7",
                             "10.0.0.11", "10.0.0.12", "10.0.0.13"]  # fmt: skip
    assert parse_targets("10.0.0.0/24 !10.0.0.0/28").count == 254 - 15
    assert parse_targets("nas01 nas02 !NAS01").hostnames == ("nas02",)


def test_ipv6_single_hosts_and_tiny_networks() -> None:
    assert list(parse_targets("fe80::1, ::1")) == ["::1", "fe80::1"]
    assert parse_targets("2001:db8::/120").count == 256
    assert parse_targets("2001:db8::/128").count == 1
    # IPv4 first, then IPv6.
    assert list(parse_targets("::1 10.0.0.1")) == ["10.0.0.1", "::1"]
    assert list(parse_targets("::ffff:10.1.1.1")) == ["10.1.1.1"]


def test_exactly_a_slash_16_is_allowed_without_confirmation() -> None:
    assert parse_targets("10.1.0.0-10.1.255.255").count == 65_536
    assert parse_targets("10.1.0.0/16").count == 65_534


def test_large_sets_need_confirmation() -> None:
    with pytest.raises(RangeTooLargeError) as caught:
        parse_targets("10.0.0.0/15, 10.9.0.1")
    assert caught.value.count == 131_071
    assert caught.value.token == "10.0.0.0/15"
    assert "131,071 addresses" in str(caught.value)
    assert "confirm the large scan" in str(caught.value)
    assert isinstance(caught.value, RangeError)
    assert parse_targets("10.0.0.0/8", allow_large=True).count == 2**24 - 2


def test_a_slash_16_is_iterated_lazily_and_quickly() -> None:
    started = time.perf_counter()
    targets = parse_targets("10.20.0.0/16 !10.20.128.0/17")
    iterator = iter(targets)
    assert next(iterator) == "10.20.0.1"
    assert sum(1 for _ in targets) == targets.count == 32_767
    assert "10.20.1.1" in targets
    assert "10.20.200.1" not in targets
    assert "not an ip" not in targets
    assert targets.cidrs()[0] == "10.20.0.1/32"
    assert time.perf_counter() - started < 1.0


def test_huge_allowed_sets_do_not_materialise() -> None:
    started = time.perf_counter()
    targets = parse_targets("0.0.0.0/0 !10.0.0.0/8", allow_large=True)
    assert targets.count == 2**32 - 2 - 2**24
    assert time.perf_counter() - started < 1.0


# --- rejected forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token", "reason"),
    [
        ("10.0.0.0/33", "10.0.0.0/33", "prefix length 33 is out of range 0–32"),
        ("10.0.0.9-3", "10.0.0.9-3", "range end 10.0.0.3 is before start 10.0.0.9"),
        ("10.0.0.9-10.0.0.3", "10.0.0.9-10.0.0.3", "range end 10.0.0.3 is before start 10.0.0.9"),
        ("foo..bar", "foo..bar", "not a valid IP, range or host name"),
        ("-host", "-host", "not a valid IP, range or host name"),
        ("a" * 64, "a" * 64, "not a valid IP, range or host name"),
        ("10.0.0.0/abc", "10.0.0.0/abc", "prefix length 'abc' is not a number"),
        ("10.0.0.0/", "10.0.0.0/", "prefix length '' is not a number"),
        ("fe80::/129", "fe80::/129", "prefix length 129 is out of range 0–128"),
        ("10.0.0.5-300", "10.0.0.5-300", "range end 300 is not an octet (0–255)"),
        ("fe80::1-fe80::9", "fe80::1-fe80::9", "IPv6 ranges are not supported"),
        ("fe80::1%eth0", "fe80::1%eth0", "IPv6 zone ids"),
        ("fe80::/64", "fe80::/64", "IPv6 networks larger than /120"),
        ("1.2.3.4-5-6", "1.2.3.4-5-6", "a range is START-END"),
        ("10.0.0.1-", "10.0.0.1-", "a range is START-END"),
    ],
)
def test_invalid_tokens_name_the_token_and_reason(text: str, token: str, reason: str) -> None:
    with pytest.raises(RangeError) as caught:
        parse_targets(f"10.1.1.1, {text}")
    assert caught.value.token == token
    assert reason in caught.value.reason
    assert token in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize("text", ["10.0.0.300", "010.0.0.1", "10.0.0", "1.2.3.4.5"])
def test_malformed_ipv4_is_not_taken_for_a_hostname(text: str) -> None:
    with pytest.raises(RangeError, match="not a valid IPv4 address") as caught:
        parse_targets(text)
    assert caught.value.token == text


@pytest.mark.parametrize("text", ["", "   ", " ,\n; ", "!10.0.0.1"])
def test_no_targets_given(text: str) -> None:
    with pytest.raises(RangeError) as caught:
        parse_targets(text)
    assert caught.value.reason == "no targets given"
    assert caught.value.token == ""
    assert str(caught.value) == "no targets given"


def test_everything_excluded() -> None:
    with pytest.raises(RangeError, match="every target is excluded"):
        parse_targets("10.0.0.0/24", exclude="10.0.0.0/24")


def test_bare_exclamation_mark() -> None:
    with pytest.raises(RangeError, match="exclusion needs"):
        parse_targets("10.0.0.1 !")


def test_invalid_exclusion_is_reported() -> None:
    with pytest.raises(RangeError) as caught:
        parse_targets("10.0.0.0/24", exclude="10.0.0.0/40")
    assert caught.value.token == "10.0.0.0/40"


# --- properties ----------------------------------------------------------------------------

_ipv4 = st.integers(min_value=1, max_value=2**32 - 2).map(lambda n: str(ipaddress.IPv4Address(n)))


@given(st.lists(_ipv4, min_size=1, max_size=40), st.sampled_from([",", " ", "\n", ";", ", "]))
def test_lists_of_addresses_are_sorted_and_deduplicated(ips: list[str], sep: str) -> None:
    targets = parse_targets(sep.join(ips))
    expected = sorted(set(ips), key=lambda ip: int(ipaddress.IPv4Address(ip)))
    assert list(targets) == expected
    assert targets.count == len(expected)


@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=20, max_value=32),
    st.lists(_ipv4, max_size=10),
)
@settings(max_examples=60)
def test_cidr_minus_exclusions_matches_ipaddress(
    base: int, prefix: int, excluded: list[str]
) -> None:
    network = ipaddress.IPv4Network((base, prefix), strict=False)
    hosts = set(network.hosts()) if prefix <= 30 else set(network)
    hosts -= {ipaddress.IPv4Address(ip) for ip in excluded}
    text = f"{network} " + " ".join(f"!{ip}" for ip in excluded)
    if not hosts:
        with pytest.raises(RangeError, match="every target is excluded"):
            parse_targets(text)
        return
    targets = parse_targets(text)
    assert [ipaddress.IPv4Address(ip) for ip in targets] == sorted(hosts)
    assert targets.count == len(hosts)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_ranges_are_inclusive_or_rejected(a: int, b: int) -> None:
    start, end = ipaddress.IPv4Address(a), ipaddress.IPv4Address(b)
    text = f"{start}-{end}"
    if b < a:
        with pytest.raises(RangeError, match="before start"):
            parse_targets(text, allow_large=True)
    else:
        assert parse_targets(text, allow_large=True).count == b - a + 1


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_arbitrary_text_parses_or_raises_range_error(text: str) -> None:
    error: RangeError | None = None
    try:
        targets = parse_targets(text, exclude="", allow_large=True)
    except RangeError as exc:
        error = exc
    else:
        assert targets
    if error is not None:
        assert error.reason
        assert str(error)


# --- local subnets ----------------------------------------------------------------------

IP_ADDR_JSON = """[
 {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"addr_info":[
   {"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
 {"ifindex":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"addr_info":[
   {"family":"inet","local":"192.168.1.23","prefixlen":24,"scope":"global"},
   {"family":"inet","local":"169.254.3.3","prefixlen":16,"scope":"link"},
   {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},
 {"ifindex":3,"ifname":"wg0","flags":["POINTOPOINT","UP"],"addr_info":[
   {"family":"inet","local":"10.8.0.2","prefixlen":32,"scope":"global"}]},
 {"ifindex":4,"ifname":"eth1","flags":["BROADCAST"],"addr_info":[
   {"family":"inet","local":"10.9.0.2","prefixlen":24,"scope":"global"}]},
 {"ifindex":5,"ifname":"br0","flags":["UP"],"addr_info":[
   {"family":"inet","local":"10.77.0.1","prefixlen":22,"scope":"global"},
   {"family":"inet","local":"192.168.1.99","prefixlen":24,"scope":"global"}]}
]"""

PROC_NET_ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
    "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "garbage line\n"
)

IFCONFIG_MACOS = """lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tinet6 fe80::1c2b:3a4d:5e6f:7081%en0 prefixlen 64 secured scopeid 0x6
\tinet 192.168.10.42 netmask 0xffffff00 broadcast 192.168.10.255
"""

IFCONFIG_NET_TOOLS = """eth0      Link encap:Ethernet  HWaddr 00:1b:63:84:45:e6
          inet addr:10.1.2.3  Bcast:10.1.2.255  Mask:255.255.255.0
"""


def test_parse_ip_addr_json() -> None:
    assert parse_ip_addr_json(IP_ADDR_JSON) == ["192.168.1.0/24", "10.77.0.0/22"]
    assert parse_ip_addr_json("not json") == []
    assert parse_ip_addr_json('{"a": 1}') == []


def test_parse_proc_net_route() -> None:
    assert parse_proc_net_route(PROC_NET_ROUTE) == ["192.168.1.0/24", "172.17.0.0/16"]


def test_parse_ifconfig() -> None:
    assert parse_ifconfig(IFCONFIG_MACOS) == ["192.168.10.0/24"]
    assert parse_ifconfig(IFCONFIG_NET_TOOLS) == ["10.1.2.0/24"]


def test_local_subnets_are_valid_non_loopback_networks() -> None:
    for subnet in local_subnets():
        network = ipaddress.IPv4Network(subnet)
        assert not network.is_loopback
        assert network.prefixlen < 32


# --- ports ----------------------------------------------------------------------------------


def test_parse_ports_lists_ranges_and_profiles() -> None:
    assert parse_ports("22,80,8000-8003") == [22, 80, 8000, 8001, 8002, 8003]
    assert parse_ports(" 443 22;22 , 80 ") == [443, 22, 80]  # input order, no duplicates
    assert parse_ports("quick") == list(PROFILES["quick"])
    assert parse_ports("printers, 22")[-1] == 22
    assert parse_ports("1-65535")[-1] == 65535


@pytest.mark.parametrize(
    ("text", "token", "reason"),
    [
        ("0", "0", "port 0 is out of range 1–65535"),
        ("22,70000", "70000", "port 70000 is out of range 1–65535"),
        ("8010-8000", "8010-8000", "range end 8000 is before start 8010"),
        ("ssh", "ssh", "'ssh' is not a port number, range or profile"),
        ("80-", "80-", "is not a port number"),
        ("-5", "-5", "is not a port number"),
        ("22-x", "22-x", "'x' is not a port number"),
        ("٣", "٣", "is not a port number"),  # non-ASCII digit
    ],
)
def test_parse_ports_errors(text: str, token: str, reason: str) -> None:
    with pytest.raises(PortError) as caught:
        parse_ports(text)
    assert caught.value.token == token
    assert reason in caught.value.reason
    assert re.search(re.escape(token), str(caught.value))


@pytest.mark.parametrize("text", ["", " , ;"])
def test_parse_ports_empty(text: str) -> None:
    with pytest.raises(PortError, match="no ports given"):
        parse_ports(text)


def test_profiles_are_valid_and_distinct() -> None:
    assert set(PROFILES) == {"default", "quick", "windows", "printers", "full-ish"}
    for ports in PROFILES.values():
        assert len(set(ports)) == len(ports)
        assert all(1 <= port <= 65535 for port in ports)
    assert 14 <= len(PROFILES["default"]) <= 18


# --- limits no confirmation lifts ([12].14) --------------------------------------------------

@pytest.mark.parametrize("text", ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/11"])
def test_a_huge_range_is_refused_even_when_confirmed(text: str) -> None:
    targets = parse_targets(text, allow_large=True)
    with pytest.raises(RangeTooLargeError, match="at most 1,048,576"):
        check_limits(targets, allow_public=True)


@pytest.mark.parametrize("text", ["8.8.8.0/30", "10.0.0.1, 1.1.1.1", "2001:4860::/120"])
def test_public_addresses_need_their_own_choice(text: str) -> None:
    targets = parse_targets(text)
    with pytest.raises(PublicRangeError, match="public Internet"):
        check_limits(targets)
    check_limits(targets, allow_public=True)


@pytest.mark.parametrize("text", ["10.1.0.0/16", "172.16.5.0/24", "192.168.1.1-50",
                                  "127.3.0.0/16", "169.254.1.0/24", "100.64.0.0/24",
                                  "fe80::1", "fd00::/120", "nas01", "10.0.0.0/12"])
def test_private_ranges_pass_the_limits(text: str) -> None:
    check_limits(parse_targets(text, allow_large=True))
