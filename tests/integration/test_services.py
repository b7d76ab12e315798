"""The services API over a real site file: editing, import/export, audit of every change."""

import json
from pathlib import Path

import pytest

from app.core.errors import NotFoundError, UserError, ValidationError
from app.core.models import Asset, Impact
from app.core.records import asset_to_record
from app.services import SiteService, preview_csv


@pytest.fixture
def service(tmp_path: Path):
    svc = SiteService.open(tmp_path / "s.pdsite", create=True, actor="tester")
    yield svc
    svc.close()


def comparable(asset: Asset) -> dict[str, str]:
    record = asset_to_record(asset)
    for key in ("id", "first_seen", "last_seen"):
        record.pop(key)
    return record


def test_edit_is_audited_field_by_field(service: SiteService) -> None:
    asset = service.add_asset(Asset(hostname="web01", ips=("10.0.0.5",)))
    service.update_asset(asset.with_changes(owner="Ops", impact=Impact.HIGH))
    event = service.audit_events(object_type="asset", object_id=str(asset.id))[0]
    assert event.action == "asset.edit"
    assert event.actor == "tester"
    assert event.details["changes"] == {"owner": ["", "Ops"], "impact": ["low", "high"]}
    stored = service.asset(asset.id or 0)
    assert stored.field_sources["owner"] == "manual"


def test_invalid_edit_writes_nothing(service: SiteService) -> None:
    asset = service.add_asset(Asset(hostname="web01"))
    events = len(service.audit_events())
    with pytest.raises(ValidationError, match="mac"):
        service.update_asset(asset.with_changes(macs=("nope",)))
    assert service.asset(asset.id or 0) == asset
    assert len(service.audit_events()) == events


def test_find_by_id_name_ip_mac(service: SiteService) -> None:
    a = service.add_asset(Asset(hostname="Web01", ips=("10.0.0.5",), macs=("00:11:22:33:44:55",)))
    for selector in (str(a.id), f"#{a.id}", "web01", "10.0.0.5", "00-11-22-33-44-55"):
        assert service.find_assets(selector) == [a]
    with pytest.raises(NotFoundError):
        service.find_assets("10.0.0.6")


def test_delete_and_restore(service: SiteService) -> None:
    a = service.add_asset(Asset(hostname="a", owner="x"))
    deleted = service.delete_assets([a.id or 0])
    assert service.assets() == []
    restored = service.restore_assets(deleted)
    assert [comparable(r) for r in restored] == [comparable(a)]
    actions = [e.action for e in service.audit_events()]
    assert actions[:3] == ["asset.restore", "asset.delete", "asset.add"]


CSV_TEXT = """Computer Name;IP Address;MAC;Operating System;Owner;Warranty Expires
pc-01;10.1.0.1;00:aa:00:00:00:01;Windows 11 23H2;Ann;2027-01-31
pc-02;10.1.0.999;00:aa:00:00:00:02;Windows 11 23H2;Bob;2027-01-31
srv-01;10.1.0.10;00:aa:00:00:00:10;Debian 12;Ops;not a date
nas;10.1.0.20;;;;
"""


def test_import_reports_bad_rows_and_imports_the_rest(service: SiteService,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    preview = preview_csv(path)
    assert preview.total_rows == 4
    assert preview.mapping["Computer Name"] == "hostname"
    dry = service.import_csv(path, dry_run=True)
    assert len(dry.added) == 2 and service.assets() == []
    report = service.import_csv(path)
    assert sorted(a.hostname for a in report.added) == ["nas", "pc-01"]
    assert [(e.row, [f.field for f in e.errors]) for e in report.errors] == [
        (3, ["ip"]), (4, ["warranty_end"])
    ]
    pc = service.find_assets("pc-01")[0]
    assert pc.os_name == "Windows 11" and pc.os_version == "23H2" and pc.owner == "Ann"
    # Importing the same file again changes nothing.
    again = service.import_csv(path)
    assert (len(again.added), len(again.updated), again.unchanged) == (0, 0, 2)


def test_import_updates_matching_assets(service: SiteService, tmp_path: Path) -> None:
    service.add_asset(Asset(hostname="pc-01", owner="Old"))
    path = tmp_path / "u.csv"
    path.write_text("hostname,owner\npc-01,New\npc-09,Zed\n", encoding="utf-8")
    report = service.import_csv(path)
    assert [a.owner for a in report.updated] == ["New"]
    assert [a.hostname for a in report.added] == ["pc-09"]


def test_import_refuses_unreadable_or_unmapped_files(service: SiteService,
                                                     tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no file"):
        service.import_csv(tmp_path / "missing.csv")
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(UserError, match="could be matched"):
        service.import_csv(odd)
    with pytest.raises(UserError, match="Cannot import into"):
        service.import_csv(odd, {"foo": "id"})


def test_export_csv_then_import_gives_equal_assets(service: SiteService,
                                                   tmp_path: Path) -> None:
    from tests.unit.test_records import FULL

    service.add_asset(FULL)
    service.add_asset(Asset(hostname="b", ips=("10.0.0.2",), notes="a, \"quoted\"; note"))
    out = tmp_path / "out.csv"
    assert service.export_csv(out) == 2
    other = SiteService.open(tmp_path / "other.pdsite", create=True)
    report = other.import_csv(out)
    assert report.errors == []
    assert sorted(map(str, map(comparable, other.assets()))) == sorted(
        map(str, map(comparable, service.assets())))
    other.close()


def test_export_json(service: SiteService, tmp_path: Path) -> None:
    service.add_asset(Asset(hostname="web01", ips=("10.0.0.5",), critical_operations=True))
    out = tmp_path / "out.json"
    service.export_json(out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["site"]["assets"] == 1
    assert data["assets"][0]["ips"] == ["10.0.0.5"]
    assert data["assets"][0]["critical_operations"] is True
