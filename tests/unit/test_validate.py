"""Validation of the values people type: IPs, MACs, host names, dates."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.validate import normalize_ip, normalize_mac, parse_date, split_list, validate_hostname


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:11:22:33:44:55", "00:11:22:33:44:55"),
        ("00-11-22-AA-bb-CC", "00:11:22:aa:bb:cc"),
        ("0011.22aa.bbcc", "00:11:22:aa:bb:cc"),
        (" 001122AABBCC ", "00:11:22:aa:bb:cc"),
    ],
)
def test_mac_forms_are_normalised(text: str, expected: str) -> None:
    assert normalize_mac(text) == expected


@pytest.mark.parametrize("text", ["", "00:11:22", "00:11:22:33:44:55:66", "zz:11:22:33:44:55"])
def test_bad_macs_are_refused_with_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid MAC"):
        normalize_mac(text)


@given(st.binary(min_size=6, max_size=6))
def test_any_six_bytes_round_trip(raw: bytes) -> None:
    mac = normalize_mac(raw.hex("-"))
    assert bytes.fromhex(mac.replace(":", "")) == raw


def test_ip_forms() -> None:
    assert normalize_ip(" 10.0.0.5 ") == "10.0.0.5"
    assert normalize_ip("FE80::1") == "fe80::1"
    with pytest.raises(ValueError, match=r"10\.0\.0\.256"):
        normalize_ip("10.0.0.256")


@pytest.mark.parametrize("name", ["web01", "web-01.example.com", "WIN_PC7", "a" * 63])
def test_good_hostnames(name: str) -> None:
    assert validate_hostname(name) == name


@pytest.mark.parametrize("name", ["", "-web", "web-", "bad host", "a" * 64, "x;rm -rf /"])
def test_bad_hostnames(name: str) -> None:
    with pytest.raises(ValueError):
        validate_hostname(name)


def test_dates() -> None:
    assert parse_date("2027-03-01") == date(2027, 3, 1)
    assert parse_date("") is None
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date("01/03/2027")


def test_split_list() -> None:
    assert split_list("a, b;c  d\n") == ["a", "b", "c", "d"]
