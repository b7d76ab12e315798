"""Benchmark the inventory page with 10,000 realistic assets (run by hand, not in CI).

    .venv/bin/python bench/inventory_view.py [--assets 10000] [--screenshot docs/x.png]

Creates a temporary site through the services (a generated CSV through ``import_csv``, one
transaction), then, offscreen, measures:

* reading the assets from the site (``SiteService.assets``, done on a worker in the app);
* loading them into the inventory page's model and view (what the GUI thread does);
* typical filter queries (median and max over several runs each).

Targets (DESIGN.md §6): load < 0.5 s, filter < 50 ms.
With ``--screenshot`` it instead builds a small site (30 assets) and saves a picture of the
main window.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hannah", "Ivan", "Julia",
         "Karim", "Laura", "Marco", "Nadia", "Oliver", "Priya", "Rosa", "Sam", "Tom", "Yusuf"]
LAST = ["Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
        "Jensen", "Kowalski", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Rossi", "Schmidt"]
SITES = ["HQ", "Leeds branch", "Warehouse", "Clinic North"]
ROOMS = ["Server room", "1F Reception", "2F Finance", "2F Sales", "3F Management",
         "Lab", "Warehouse office", "Meeting room A", "IT closet"]
TEAMS = ["IT", "Finance", "Sales", "Operations", "Management", "Reception", "Warehouse"]

# (kind, prefix, os family, os name, versions/builds, manufacturers/models, weight)
PROFILES = [
    ("workstation", "ws", "windows", "Windows 11 Pro", [("23H2", "22631.3447"),
     ("22H2", "22621.3296")], [("Dell", "OptiPlex 7010"), ("HP", "EliteDesk 800 G9"),
                               ("Lenovo", "ThinkCentre M70q")], 34),
    ("laptop", "nb", "windows", "Windows 11 Pro", [("23H2", "22631.3447")],
     [("Lenovo", "ThinkPad T14 Gen 4"), ("Dell", "Latitude 5440"), ("HP", "EliteBook 840 G10")],
     22),
    ("laptop", "mac", "macos", "macOS", [("14.4.1", "23E224"), ("13.6.6", "22G630")],
     [("Apple", "MacBook Air M2"), ("Apple", "MacBook Pro 14 M3")], 6),
    ("server", "srv", "windows", "Windows Server 2022", [("21H2", "20348.2402")],
     [("Dell", "PowerEdge R650"), ("HPE", "ProLiant DL360 Gen10")], 5),
    ("server", "lx", "linux", "Ubuntu", [("22.04", "5.15.0-105"), ("24.04", "6.8.0-31")],
     [("Dell", "PowerEdge R450"), ("Supermicro", "SYS-510T")], 5),
    ("virtual_machine", "vm", "linux", "Debian", [("12.5", "6.1.0-18"), ("11.9", "5.10.0-28")],
     [("VMware", "Virtual Platform"), ("QEMU", "Standard PC")], 8),
    ("virtual_machine", "vm", "linux", "Rocky Linux", [("9.3", "5.14.0-362")],
     [("VMware", "Virtual Platform")], 3),
    ("printer", "prn", "printer_firmware", "HP FutureSmart", [("5.7", "2505")],
     [("HP", "LaserJet Pro M404dn"), ("Brother", "MFC-L8900CDW")], 6),
    ("network_device", "sw", "network_os", "Cisco IOS-XE", [("17.9", "17.9.4a")],
     [("Cisco", "Catalyst 9200L"), ("Ubiquiti", "USW-Pro-24")], 4),
    ("storage", "nas", "linux", "Synology DSM", [("7.2", "64570")],
     [("Synology", "DS923+")], 2),
    ("phone_tablet", "tab", "other", "iPadOS", [("17.4", "21E219")], [("Apple", "iPad 10th gen")],
     3),
]
OUIS = {"Dell": "f4:8e:38", "HP": "3c:52:82", "HPE": "94:40:c9", "Lenovo": "8c:16:45",
        "Apple": "a4:83:e7", "Supermicro": "ac:1f:6b", "VMware": "00:50:56", "QEMU": "52:54:00",
        "Brother": "00:80:77", "Cisco": "00:1b:54", "Ubiquiti": "fc:ec:da", "Synology": "00:11:32"}
VENDORS = ["Bechtle", "CDW", "Computacenter", "Insight", "Dustin"]


def realistic_rows(n: int, seed: int = 7) -> list[dict[str, str]]:
    """``n`` CSV rows that look like a small-business fleet."""
    rng = random.Random(seed)
    weights = [p[-1] for p in PROFILES]
    counters: dict[str, int] = {}
    rows = []
    today = date.today()
    for i in range(n):
        kind, prefix, fam, os_name, versions, hardware, _w = rng.choices(PROFILES, weights)[0]
        site = SITES[min(i * len(SITES) // max(n, 1), len(SITES) - 1)] if n > 40 else "HQ"
        counters[prefix] = counters.get(prefix, 0) + 1
        number = counters[prefix]
        hostname = f"{prefix}-{site[:3].lower()}-{number:03d}" if n > 40 else \
            f"{prefix}-{number:02d}"
        version, build = rng.choice(versions)
        maker, model = rng.choice(hardware)
        subnet = {"server": 10, "virtual_machine": 10, "storage": 10, "network_device": 1,
                  "printer": 30}.get(kind, 20 + (i % 8))
        site_octet = SITES.index(site) * 10 + (i // 60000)
        ip = f"10.{site_octet}.{subnet}.{(i % 250) + 2}"
        mac = OUIS[maker] + ":" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
        bought = today - timedelta(days=rng.randrange(60, 6 * 365))
        warranty = bought + timedelta(days=365 * rng.choice((1, 3, 3, 5)))
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        owner = person if kind in ("workstation", "laptop", "phone_tablet") else \
            f"{rng.choice(TEAMS)} team"
        impact = {"server": "high", "storage": "critical", "network_device": "high",
                  "virtual_machine": rng.choice(("low", "high"))}.get(kind, "low")
        rows.append({
            "hostname": hostname,
            "ips": ip,
            "macs": mac,
            "os": "",
            "os_family": fam,
            "os_name": os_name,
            "os_version": version,
            "os_build": build,
            "kind": kind,
            "manufacturer": maker,
            "model": model,
            "serial": f"{maker[:2].upper()}{rng.randrange(10**7, 10**8)}",
            "vendor": rng.choice(VENDORS),
            "order_number": f"PO-{bought.year}-{rng.randrange(1000, 9999)}",
            "purchase_date": bought.isoformat(),
            "warranty_end": warranty.isoformat(),
            "support_contact": f"{maker} ProSupport",
            "location": f"{site} / {rng.choice(ROOMS)}",
            "owner": owner,
            "tags": ";".join(rng.sample(["finance", "dmz", "pci", "vip", "kiosk", "lab",
                                         "legacy"], rng.choice((0, 0, 1, 2)))),
            "ring": rng.choice(("test", "pilot", "production", "production", "production", "")),
            "impact": impact,
            "data_sensitivity": "personal" if kind in ("server", "storage") else "",
            "critical_operations": "yes" if impact == "critical" else "no",
            "public_facing": "no",
            "internet_facing": "yes" if prefix == "sw" and number == 1 else "no",
            "notes": "",
        })
    return rows


def make_site(path: Path, n: int) -> float:
    """Create a site with ``n`` assets through the services; return seconds taken."""
    from app.services import SiteService

    rows = realistic_rows(n)
    csv_path = path.with_suffix(".csv")
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    start = time.perf_counter()
    service = SiteService.open(path, create=True, name="Contoso Dental Group")
    service.update_site(client="Contoso Dental Group", msp_name="Northwind IT Services",
                        address="12 Harbour Street, Leeds")
    mapping = {k: k for k in rows[0] if k != "os"}
    report = service.import_csv(csv_path, mapping)
    assert not report.errors, report.errors[:3]
    service.close()
    return time.perf_counter() - start


def bench(n: int) -> None:
    """Measure load and filter times on ``n`` assets and print them."""
    from app.services import SiteService
    from app.ui.inventory import InventoryPage
    from app.ui.main import create_app

    app = create_app()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pdsite"
        created = make_site(path, n)
        service = SiteService.open(path)
        t0 = time.perf_counter()
        assets = service.assets()
        read = time.perf_counter() - t0

        page = InventoryPage()
        page.resize(1400, 900)
        page.show()
        app.processEvents()
        t0 = time.perf_counter()
        page.set_assets(assets)
        app.processEvents()  # let the view lay out and paint the first screen
        load = time.perf_counter() - t0

        queries = ["ws-", "10.20.", "ubuntu", "finance", "leeds", "f4:8e:38", "dell",
                   "anna", "srv hq", "zzz-nothing", ""]
        results: dict[str, list[float]] = {}
        for _round in range(5):
            for q in queries:
                page.search.setText(q)
                t0 = time.perf_counter()
                page.apply_filter()
                app.processEvents()
                results.setdefault(q, []).append(time.perf_counter() - t0)
                page.search.setText("")
                page.apply_filter()
                app.processEvents()
        t0 = time.perf_counter()
        page.view.sortByColumn(1, page.view.horizontalHeader().sortIndicatorOrder())
        app.processEvents()
        sort_ip = time.perf_counter() - t0
        service.close()
        page.close()

    print(f"PatchDesk inventory benchmark — {n:,} assets, Python {sys.version.split()[0]}")
    print(f"  create site via import_csv:    {created:7.2f} s   (setup, not a target)")
    print(f"  read assets from site:         {read * 1000:7.1f} ms  (worker thread in the app)")
    print(f"  load model + view (GUI):       {load * 1000:7.1f} ms  (target < 500 ms)")
    print(f"  read + load together:          {(read + load) * 1000:7.1f} ms")
    print(f"  sort by IP:                    {sort_ip * 1000:7.1f} ms")
    all_times = [t for ts in results.values() for t in ts]
    print(f"  filter, all queries: median {statistics.median(all_times) * 1000:.1f} ms, "
          f"max {max(all_times) * 1000:.1f} ms  (target < 50 ms)")
    for q, ts in results.items():
        print(f"    {q!r:16} median {statistics.median(ts) * 1000:6.1f} ms  "
              f"max {max(ts) * 1000:6.1f} ms")


def screenshot(target: Path) -> None:
    """Save a picture of the main window showing a 30-asset site."""
    from app.services import SiteService
    from app.ui.main import create_app
    from app.ui.mainwindow import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PATCHDESK_CONFIG_DIR"] = tmp
        app = create_app()
        path = Path(tmp) / "contoso.pdsite"
        make_site(path, 30)
        window = MainWindow(SiteService.open(path))
        window.resize(1440, 860)
        window.show_page("inventory")
        window.show()
        deadline = time.monotonic() + 10
        while window.inventory.model.rowCount() < 30 and time.monotonic() < deadline:
            app.processEvents()
        window.inventory.select_ids({7})
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            app.processEvents()
        target.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(target))
        window.close()
        print(f"saved {target}")


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--screenshot", type=Path, help="save a 30-asset window picture")
    args = parser.parse_args()
    if args.screenshot:
        screenshot(args.screenshot)
    else:
        bench(args.assets)


if __name__ == "__main__":
    main()
