"""Flat records for CSV/JSON: round trips, header guessing, per-field errors."""

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import ValidationError
from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.core.records import (
    IMPORTABLE_COLUMNS,
    asset_to_record,
    expand_os_text,
    parse_category,
    record_to_asset,
    suggest_mapping,
)

FULL = Asset(
    hostname="pos-01",
    location="Shop floor",
    ips=("10.0.0.7", "fd00::7"),
    macs=("00:11:22:33:44:77",),
    os_family=OsFamily.WINDOWS,
    os_name="Windows 11 Pro",
    os_version="23H2",
    os_build="22631.4460",
    kind=AssetKind.WORKSTATION,
    manufacturer="Dell",
    model="OptiPlex 7010",
    serial="ABC123",
    vendor="Acme IT",
    order_number="PO-42",
    purchase_date=date(2024, 2, 1),
    warranty_end=date(2027, 2, 1),
    support_contact="support@acme.example",
    owner="Till 1",
    tags=("pos", "shop"),
    ring=Ring.PILOT,
    impact=Impact.CRITICAL,
    data_sensitivity=(DataSensitivity.PAYMENT, DataSensitivity.PERSONAL),
    critical_operations=True,
    public_facing=False,
    internet_facing=True,
    notes="Card terminal; <b>not</b> & 'quoted'\nsecond line",
)


def test_every_field_round_trips() -> None:
    record = asset_to_record(FULL)
    del record["id"], record["first_seen"], record["last_seen"]
    assert record_to_asset(record) == FULL


def test_headers_from_other_tools_are_mapped() -> None:
    mapping = suggest_mapping(["Computer Name", "IP Address", "MAC-Address", "Operating System",
                               "Serial Number", "Warranty Expires", "Whatever"])
    assert mapping == {
        "Computer Name": "hostname",
        "IP Address": "ips",
        "MAC-Address": "macs",
        "Operating System": "os",
        "Serial Number": "serial",
        "Warranty Expires": "warranty_end",
    }


def test_bad_values_name_their_field() -> None:
    with pytest.raises(ValidationError) as info:
        record_to_asset({"hostname": "x", "purchase_date": "yesterday", "impact": "huge",
                         "public_facing": "maybe", "data_sensitivity": "gossip"})
    fields = {e.field for e in info.value.errors}
    assert fields == {"purchase_date", "impact", "public_facing", "data_sensitivity"}


def test_update_applies_only_given_columns() -> None:
    updated = record_to_asset({"owner": "Finance"}, base=FULL)
    assert updated.owner == "Finance"
    assert updated.serial == FULL.serial


@given(st.text(min_size=1, max_size=80).filter(lambda s: s.strip() != ""))
def test_free_text_survives(text: str) -> None:
    asset = FULL.with_changes(notes=text.strip(), location=text.strip()[:500])
    record = asset_to_record(asset)
    del record["id"], record["first_seen"], record["last_seen"]
    assert record_to_asset(record).location == asset.location


def test_seen_times_are_exported() -> None:
    seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert asset_to_record(FULL.with_changes(last_seen=seen))["last_seen"] == seen.isoformat()


# -- other tools' exports ([16]) and the first-hour findings ([14]) --------------------------
CSV_DIR = Path(__file__).parents[1] / "data" / "csv"


def headers(name: str) -> list[str]:
    with (CSV_DIR / name).open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


@pytest.mark.parametrize(("name", "expected"), [
    ("pdq-inventory/computers-sql-report.csv",
     {"Name": "hostname", "IPAddress": "ips", "MacAddress": "macs", "OSName": "os_name",
      "Manufacturer": "manufacturer", "Model": "model", "SerialNumber": "serial",
      "CurrentUser": "owner"}),
    ("lansweeper/os-overview.csv",
     {"AssetName": "hostname", "OS": "os", "IPAddress": "ips", "Description": "notes",
      "Manufacturer": "manufacturer", "Model": "model", "Location": "location"}),
    ("lansweeper/warranty-overview.csv",
     {"AssetName": "hostname", "Purchase Date": "purchase_date",
      "Warranty Expiration": "warranty_end", "Username": "owner", "Description": "notes",
      "Manufacturer": "manufacturer", "Model": "model", "Serialnumber": "serial",
      "Location": "location"}),
    ("intune/all-devices-export.csv",
     {"Device name": "hostname", "OS version": "os_version", "Serial number": "serial",
      "Manufacturer": "manufacturer", "Model": "model", "Wi-Fi MAC": "macs",
      "Category": "category", "Primary user UPN": "owner", "OS": "os"}),
    ("snipe-it/assets-export.csv",
     {"Asset Name": "hostname", "Serial": "serial", "Model": "model", "Category": "category",
      "Checked Out To": "owner", "Location": "location", "Manufacturer": "manufacturer",
      "Supplier": "vendor", "Purchase Date": "purchase_date", "Order Number": "order_number",
      "Warranty Expires": "warranty_end", "Notes": "notes",
      "MAC Address": "macs"}),
])
def test_tool_exports_are_mapped_by_their_headers(name: str, expected: dict[str, str]) -> None:
    mapping = suggest_mapping(headers(name))
    assert mapping == expected
    assert set(mapping.values()) <= set(IMPORTABLE_COLUMNS)


def test_first_hour_header_synonyms() -> None:
    mapping = suggest_mapping(["Device", "Warranty End Date", "Last User", "Type"])
    assert mapping == {"Warranty End Date": "warranty_end", "Last User": "owner",
                       "Type": "category"}
    assert suggest_mapping(["Last Logged On User"]) == {"Last Logged On User": "owner"}


@pytest.mark.parametrize(("record", "kind"), [
    ({"hostname": "srv", "os": "Windows Server 2022"}, AssetKind.SERVER),
    ({"hostname": "srv", "os_name": "Microsoft Windows Server 2019 Standard"},
     AssetKind.SERVER),
    ({"hostname": "dc", "os": "Win 2019"}, AssetKind.SERVER),
    ({"hostname": "pc", "os": "Windows 11 Pro 23H2"}, AssetKind.WORKSTATION),
    ({"hostname": "lt", "os": "Windows", "model": "Latitude 7440"}, AssetKind.LAPTOP),
    ({"hostname": "mb", "os": "macOS 14.6", "model": "MacBook Pro"}, AssetKind.LAPTOP),
    ({"hostname": "vm", "os": "Debian 12", "manufacturer": "QEMU", "model": "Standard PC"},
     AssetKind.VIRTUAL_MACHINE),
    ({"hostname": "ph", "os": "iOS 18.1"}, AssetKind.PHONE_TABLET),
    ({"hostname": "box", "os": "Debian 12"}, AssetKind.UNKNOWN),
    ({"hostname": "srv", "os": "Windows Server 2022", "category": "Laptops"},
     AssetKind.LAPTOP),
    ({"hostname": "srv", "os": "Windows Server 2022", "kind": "workstation"},
     AssetKind.WORKSTATION),
    # A kind column saying "unknown" (PatchDesk's own export) is kept: export then import
    # gives back the same asset.
    ({"hostname": "srv", "os": "Windows Server 2022", "kind": "unknown"}, AssetKind.UNKNOWN),
])
def test_kind_is_guessed_from_the_os_when_the_row_does_not_say(record: dict[str, str],
                                                               kind: AssetKind) -> None:
    assert record_to_asset(record).kind is kind


def test_an_update_does_not_overwrite_a_known_kind() -> None:
    updated = record_to_asset({"os": "Windows Server 2022"}, base=FULL)
    assert updated.kind is AssetKind.WORKSTATION


def test_os_name_alone_gives_the_family() -> None:
    asset = record_to_asset({"hostname": "x", "os_name": "Microsoft Windows 11 Pro"})
    assert asset.os_family is OsFamily.WINDOWS and asset.os_name == "Microsoft Windows 11 Pro"
    assert record_to_asset({"hostname": "x", "os_name": "Whatever OS"}).os_family \
        is OsFamily.UNKNOWN


@pytest.mark.parametrize(("text", "expanded"), [
    ("Win 2019", "Windows Server 2019"), ("Win 2012 R2", "Windows Server 2012 R2"),
    ("Win 11", "Windows 11"), ("Win 8.1", "Windows 8.1"), ("Windows 10", "Windows 10"),
    ("Darwin 22", "Darwin 22"), ("Winamp 5", "Winamp 5"),
])
def test_short_windows_names_are_expanded(text: str, expanded: str) -> None:
    assert expand_os_text(text) == expanded


@pytest.mark.parametrize(("text", "result"), [
    ("Laptops", (AssetKind.LAPTOP, "")), ("VMware Guest", (AssetKind.VIRTUAL_MACHINE, "")),
    ("Switches", (AssetKind.NETWORK_DEVICE, "")), ("Mobile Phones", (AssetKind.PHONE_TABLET, "")),
    ("Windows", (None, "")), ("network_device", (AssetKind.NETWORK_DEVICE, "")),
    ("Finance", (None, "Finance")),
])
def test_categories_give_a_kind_or_a_tag(text: str,
                                         result: tuple[AssetKind | None, str]) -> None:
    assert parse_category(text) == result


def test_an_unknown_category_becomes_a_tag_once() -> None:
    asset = record_to_asset({"hostname": "x", "category": "Finance", "tags": "finance;pos"})
    assert asset.tags == ("finance", "pos")
    asset = record_to_asset({"hostname": "x", "category": "Front desk"}, base=FULL)
    assert asset.tags == ("pos", "shop", "Front desk")


@pytest.mark.parametrize(("purchase", "warranty", "end"), [
    ("2024-02-01", "36 months", date(2027, 2, 1)),
    ("2024-01-31", "1", date(2024, 2, 29)),
    ("2024-03-15", "12 mo", date(2025, 3, 15)),
    ("", "36 months", None),
    ("2024-03-15", "2029-03-14", date(2029, 3, 14)),
])
def test_warranty_in_months_counts_from_the_purchase(purchase: str, warranty: str,
                                                     end: date | None) -> None:
    record = {"hostname": "x", "purchase_date": purchase, "warranty_end": warranty}
    assert record_to_asset(record).warranty_end == end


def test_months_count_from_the_stored_purchase_date_on_update() -> None:
    assert record_to_asset({"warranty_end": "24 months"}, base=FULL).warranty_end \
        == date(2026, 2, 1)


def test_the_specific_warranty_header_wins_over_the_vague_one() -> None:
    assert suggest_mapping(["Warranty", "Warranty Expires"]) == {
        "Warranty Expires": "warranty_end"}
    assert suggest_mapping(["Warranty"]) == {"Warranty": "warranty_end"}
    assert suggest_mapping(["Warranty Months", "Purchase Date"]) == {
        "Warranty Months": "warranty_end", "Purchase Date": "purchase_date"}
    with pytest.raises(ValidationError) as info:
        record_to_asset({"hostname": "x", "warranty_end": "three years"})
    assert [e.field for e in info.value.errors] == ["warranty_end"]
