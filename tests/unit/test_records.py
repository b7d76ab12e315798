"""Flat records for CSV/JSON: round trips, header guessing, per-field errors."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import ValidationError
from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.core.records import asset_to_record, record_to_asset, suggest_mapping

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
