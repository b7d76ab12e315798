"""The asset model: normalisation, validation and OS parsing."""

from datetime import date

import pytest

from app.core.errors import ValidationError
from app.core.models import Asset, AssetKind, Impact, OsFamily, parse_os


def test_normalized_canonicalises_and_dedupes() -> None:
    asset = Asset(
        hostname="web01.",
        ips=("10.0.0.5", "10.0.0.5", "::1"),
        macs=("00-11-22-33-44-55", "001122334455"),
        tags=(" dmz ", "dmz", ""),
    ).normalized()
    assert asset.hostname == "web01"
    assert asset.ips == ("10.0.0.5", "::1")
    assert asset.macs == ("00:11:22:33:44:55",)
    assert asset.tags == ("dmz",)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        Asset(hostname="bad host", ips=("1.2.3",), macs=("xx",)).normalized()
    assert [e.field for e in info.value.errors] == ["hostname", "ip", "mac"]


def test_an_asset_needs_an_identity() -> None:
    with pytest.raises(ValidationError, match="host name, an IP or a MAC"):
        Asset(location="Room 1").normalized()


def test_warranty_before_purchase_is_refused() -> None:
    with pytest.raises(ValidationError, match="warranty"):
        Asset(hostname="a", purchase_date=date(2025, 1, 1),
              warranty_end=date(2024, 1, 1)).normalized()


@pytest.mark.parametrize(
    ("text", "family", "name", "version"),
    [
        ("Ubuntu 22.04", OsFamily.LINUX, "Ubuntu", "22.04"),
        ("Windows Server 2022", OsFamily.WINDOWS, "Windows Server", "2022"),
        ("macOS 15.4.1", OsFamily.MACOS, "macOS", "15.4.1"),
        ("Debian", OsFamily.LINUX, "Debian", ""),
        ("RouterOS v7.14", OsFamily.NETWORK_OS, "RouterOS", "7.14"),
        ("", OsFamily.UNKNOWN, "", ""),
    ],
)
def test_parse_os(text: str, family: OsFamily, name: str, version: str) -> None:
    assert parse_os(text) == (family, name, version)


def test_enum_parse_accepts_labels_and_names() -> None:
    assert AssetKind.parse("Network device") is AssetKind.NETWORK_DEVICE
    assert Impact.parse("CRITICAL") is Impact.CRITICAL
    with pytest.raises(ValueError, match="one of"):
        Impact.parse("huge")


def test_display_helpers() -> None:
    asset = Asset(ips=("10.0.0.9",), os_name="Windows 11", os_version="23H2", os_build="22631")
    assert asset.label == "10.0.0.9"
    assert asset.os_display == "Windows 11 23H2 (build 22631)"
