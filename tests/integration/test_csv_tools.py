"""CSV exports of PDQ Inventory, Lansweeper, Intune and Snipe-IT import into a real site
without a manual mapping ([16]); see tests/data/csv/NOTES.md for where each header comes
from."""

from datetime import date
from pathlib import Path

import pytest

from app.core.models import AssetKind, OsFamily
from app.services import SiteService

CSV_DIR = Path(__file__).parents[1] / "data" / "csv"


@pytest.fixture
def service(tmp_path: Path):
    svc = SiteService.open(tmp_path / "tools.pdsite", create=True, actor="tester")
    yield svc
    svc.close()


def by_name(service: SiteService) -> dict[str, object]:
    return {a.hostname or a.serial: a for a in service.assets()}


@pytest.mark.parametrize("name", sorted(str(p.relative_to(CSV_DIR))
                                        for p in CSV_DIR.rglob("*.csv")))
def test_every_sample_imports_without_manual_mapping(service: SiteService, name: str) -> None:
    report = service.import_csv(CSV_DIR / name)
    assert report.errors == []
    assert report.added and not report.updated
    assert all(a.hostname or a.macs or a.ips for a in report.added)


def test_pdq_inventory(service: SiteService) -> None:
    service.import_csv(CSV_DIR / "pdq-inventory" / "computers-sql-report.csv")
    assets = {a.hostname: a for a in service.assets()}
    assert set(assets) == {"FRONT-DESK-01", "ACCT-LT-07", "FILESRV01", "APPSRV02"}
    srv = assets["FILESRV01"]
    assert (srv.os_family, srv.kind) == (OsFamily.WINDOWS, AssetKind.SERVER)
    assert srv.os_name == "Microsoft Windows Server 2019 Standard"
    assert srv.ips == ("192.168.10.5",) and srv.macs == ("90:b1:1c:44:55:66",)
    assert assets["ACCT-LT-07"].kind is AssetKind.LAPTOP
    assert assets["ACCT-LT-07"].owner == "CORP\\omar.haddad"
    assert assets["FRONT-DESK-01"].kind is AssetKind.WORKSTATION
    assert assets["APPSRV02"].kind is AssetKind.SERVER  # a Windows Server VM is a server


def test_lansweeper_reports_fill_in_one_another(service: SiteService) -> None:
    first = service.import_csv(CSV_DIR / "lansweeper" / "os-overview.csv")
    assert len(first.added) == 4
    second = service.import_csv(CSV_DIR / "lansweeper" / "warranty-overview.csv")
    assert (len(second.added), len(second.updated), second.errors) == (0, 3, [])
    assets = {a.hostname: a for a in service.assets()}
    dc = assets["DC01"]
    assert (dc.os_name, dc.os_version) == ("Windows Server", "2019")  # from "Win 2019"
    assert (dc.kind, dc.ips) == (AssetKind.SERVER, ("10.40.0.10",))
    assert (dc.purchase_date, dc.warranty_end) == (date(2021, 5, 20), date(2026, 5, 19))
    assert assets["SALES-LT-3"].owner == "tom.reyes"
    assert assets["SALES-LT-3"].kind is AssetKind.LAPTOP
    assert assets["RECEPTION-PC"].kind is AssetKind.WORKSTATION
    assert assets["PRINTSRV"].kind is AssetKind.SERVER


def test_intune_device_export(service: SiteService) -> None:
    service.import_csv(CSV_DIR / "intune" / "all-devices-export.csv")
    assets = {a.hostname: a for a in service.assets()}
    mac = assets["MBP-DESIGN-01"]
    assert (mac.os_family, mac.os_version, mac.kind) == (OsFamily.MACOS, "14.6.1",
                                                         AssetKind.LAPTOP)
    assert mac.owner == "lena.koch@contoso.example" and mac.tags == ("Design",)
    assert mac.macs == ("f0:18:98:77:c1:d2",)
    win = assets["LAPTOP-ACCT-02"]
    assert (win.os_family, win.os_version) == (OsFamily.WINDOWS, "10.0.26100.2314")
    assert win.kind is AssetKind.WORKSTATION and win.serial == "PF4ABC12"


def test_snipe_it_asset_export(service: SiteService) -> None:
    service.import_csv(CSV_DIR / "snipe-it" / "assets-export.csv")
    assets = by_name(service)
    recep = assets["RECEP-01"]
    assert (recep.kind, recep.owner, recep.vendor) == (AssetKind.WORKSTATION, "Lena Koch",
                                                       "CDW")
    assert recep.warranty_end == date(2026, 2, 1)  # "Warranty Expires", not the months
    laptop = assets["SURGERY-LT-2"]
    assert laptop.warranty_end == date(2027, 3, 15)
    assert laptop.order_number == "PO-2024-0042" and laptop.kind is AssetKind.LAPTOP
    assert assets["XRAY-SRV"].kind is AssetKind.SERVER
    phone = assets["F2LZ81ABCD12"]  # no asset name: kept by serial and MAC
    assert phone.kind is AssetKind.PHONE_TABLET and phone.macs == ("f4:d4:88:12:34:56",)


def test_warranty_months_alone_count_from_the_purchase(service: SiteService,
                                                      tmp_path: Path) -> None:
    # Snipe-IT's own import layout has "Warranty Months" and no end date.
    path = tmp_path / "snipe-import.csv"
    path.write_text("Item Name,Serial Number,Purchase Date,Warranty Months\n"
                    "RECEP-09,ABC123,2024-01-31,13\n", encoding="utf-8")
    report = service.import_csv(path)
    assert report.errors == [] and report.added[0].warranty_end == date(2025, 2, 28)


def test_importing_a_sample_twice_changes_nothing(service: SiteService) -> None:
    path = CSV_DIR / "snipe-it" / "assets-export.csv"
    service.import_csv(path)
    again = service.import_csv(path)
    assert (len(again.added), len(again.updated), again.errors) == (0, 0, [])
    assert again.unchanged == 4
