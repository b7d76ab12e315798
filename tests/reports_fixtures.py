"""A realistic site for report tests, built through the services and the real stores.

Assets go in through :meth:`SiteService.add_asset`, deep-scan results through
:class:`AssessmentRepo` with :mod:`app.core.assessment` objects, and deployments through
:class:`DeploymentRepo` with :mod:`app.core.deployment` objects — what the assessment and
deployment engines store after a real run.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from app.core.assessment import Assessment, HostFacts, InstalledPackage, RebootState, Update
from app.core.deployment import (
    Approval,
    Deployment,
    Gates,
    HostState,
    PackagePin,
    Phase,
    Stage,
    Target,
)
from app.core.models import (
    Asset,
    AssetKind,
    Classification,
    DataSensitivity,
    Impact,
    OsFamily,
    Severity,
)
from app.core.risk import Decision, Review
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo
from app.store.risk import ReviewRepo

HOSTILE_NOTE = "<b>bold?</b> & <script>alert(1)</script> > Zürich – 東京 – Ωmega"
LONG_TOKEN = "X" * 500
LONG_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
AGED_DAYS = 10  # web01's updates were first seen missing this long ago


def png_logo(path: Path, width: int = 120, height: int = 40) -> Path:
    """Write a small two-colour PNG (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((31, 58, 95)) if (x // 20 + y // 20) % 2 == 0
                           else bytes((240, 115, 0)) for x in range(width))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


@dataclass
class ReportSite:
    """The built site and the figures a report of it must show."""

    service: SiteService
    ids: dict[str, int] = field(default_factory=dict)
    deployment_ids: list[int] = field(default_factory=list)


def _facts(host: str, os_name: str, version: str, kernel: str) -> HostFacts:
    return HostFacts(os_id=os_name.lower(), os_name=os_name, os_version=version,
                     os_pretty=f"{os_name} {version}", kernel=kernel, arch="x86_64",
                     hostname=host, cpu_model="Intel Xeon E-2236", cpu_count=6,
                     memory_total=16 * 1024**3, memory_available=9 * 1024**3,
                     manufacturer="Dell Inc.", model="PowerEdge T150", serial=f"SN-{host}",
                     last_boot=datetime(2026, 1, 5, 7, 30, tzinfo=UTC))


def _upd(package: str, cls: Classification, sev: Severity, cves: tuple[str, ...] = (),
         candidate: str = "2.0-1") -> Update:
    return Update(package, candidate, "1.0-1", "amd64", cls, sev, "bookworm-security",
                  cves=cves, advisories=(f"DSA-{abs(hash(package)) % 9000 + 1000}-1",))


def build_report_site(path: Path, *, hostile: bool = False, logo: Path | None = None,
                      now: datetime | None = None) -> ReportSite:
    """A five-asset site: three assessed (one clean), one failed scan, one never scanned.

    Figures: 5 assets; 3 assessed, 1 failed, 1 never; 1 of 3 assessed assets without a
    missing security update (33.3%); 6 missing updates, 4 security (2 critical, 2
    important, 1 moderate, 1 low); two deployments — #1 tested, approved by "Dana Scully",
    verified; #2 production-only, failed and rolled back.

    Under the default policy web01's updates, first seen missing ``AGED_DAYS`` ago, are
    overdue (openssl: emergency, 48 h; libc6: high, 7 days) and db01's, seen an hour ago,
    are not: SLA compliance 2 of 4 security pairs, 50.0%; top risk web01 openssl (82).
    """
    now = now or datetime.now(UTC).replace(microsecond=0)
    service = SiteService.open(path, create=True, name="Head office", actor="alice")
    service.update_site(client="Acme Dental Ltd", msp_name="Northwind IT",
                        address="1 High Street, Springfield",
                        logo_path=str(logo) if logo else "")
    site = ReportSite(service)
    note = HOSTILE_NOTE + " " + LONG_TOKEN if hostile else "Front-desk server"
    assets = [
        Asset(hostname=LONG_HOST if hostile else "web01", ips=("10.0.0.10",),
              macs=("00:1a:2b:3c:4d:01",), os_family=OsFamily.LINUX, os_name="Debian",
              os_version="12", os_build="6.1.0-21-amd64", kind=AssetKind.SERVER,
              location="HQ rack 2",
              manufacturer="Dell Inc.", model="PowerEdge R650", serial="7XK2Q3",
              warranty_end=date(2027, 3, 31), owner="Ops <team> & co" if hostile else "Ops",
              impact=Impact.CRITICAL, internet_facing=True,
              data_sensitivity=(DataSensitivity.PAYMENT,), notes=note),
        Asset(hostname="db01", ips=("10.0.0.11",), os_family=OsFamily.LINUX,
              os_name="Debian", os_version="12", os_build="6.1.0-21-amd64",
              kind=AssetKind.SERVER, location=LONG_TOKEN if hostile else "HQ rack 2",
              impact=Impact.HIGH,
              data_sensitivity=(DataSensitivity.HEALTH,), warranty_end=date(2024, 1, 31),
              owner="Ops"),
        Asset(hostname="pc-anna", ips=("10.0.0.20",), os_family=OsFamily.LINUX,
              os_name="Ubuntu", os_version="24.04", kind=AssetKind.WORKSTATION,
              owner="Anna Becker", location="Reception"),
        Asset(hostname="mail01", ips=("10.0.0.12",), os_family=OsFamily.LINUX,
              os_name="Rocky Linux", os_version="9.4", kind=AssetKind.SERVER,
              impact=Impact.HIGH),
        Asset(hostname="printer-2f", ips=("10.0.0.100",), kind=AssetKind.PRINTER,
              location="2nd floor"),
    ]
    for asset in assets:
        stored = service.add_asset(asset)
        site.ids[asset.hostname] = int(stored.id or 0)
    web = LONG_HOST if hostile else "web01"
    evil_pkg = "lib<evil>&co" if hostile else "libc6"
    scans = {
        web: (_facts(web, "Debian", "12", "6.1.0-21-amd64"), [
            _upd("openssl", Classification.SECURITY, Severity.CRITICAL,
                 ("CVE-2024-5535", "CVE-2024-6119")),
            _upd(evil_pkg, Classification.SECURITY, Severity.IMPORTANT, ("CVE-2024-2961",)),
            _upd("curl", Classification.BUGFIX, Severity.MODERATE),
        ], True),
        "db01": (_facts("db01", "Debian", "12", "6.1.0-21-amd64"), [
            _upd("openssl", Classification.SECURITY, Severity.CRITICAL,
                 ("CVE-2024-5535", "CVE-2024-6119")),
            _upd("postgresql-15", Classification.SECURITY, Severity.IMPORTANT,
                 ("CVE-2024-7348",)),
        ], False),
        "pc-anna": (_facts("pc-anna", "Ubuntu", "24.04", "6.8.0-45-generic"), [
            _upd("firefox", Classification.ENHANCEMENT, Severity.LOW),
        ], False),
    }
    with service.store.atomic() as db:
        repo = AssessmentRepo(db)
        # web01's first scan found the same updates missing AGED_DAYS ago (first seen).
        facts, updates, _ = scans[web]
        repo.record_success(site.ids[web], now - timedelta(days=AGED_DAYS, hours=1),
                            now - timedelta(days=AGED_DAYS),
                            Assessment(host=web, driver="apt", facts=facts, updates=updates))
        for host, (facts, updates, reboot) in scans.items():
            result = Assessment(host=host, driver="apt", facts=facts,
                                packages=[InstalledPackage(f"pkg{i}", "1.0")
                                          for i in range(412 if host == "db01" else 350)],
                                updates=updates,
                                reboot=RebootState(reboot, ("/var/run/reboot-required",)
                                                   if reboot else ()))
            repo.record_success(site.ids[host], now - timedelta(hours=2),
                                now - timedelta(hours=1), result)
        repo.record_failure(site.ids["mail01"], now - timedelta(hours=2),
                            now - timedelta(hours=2), "auth_failed",
                            "SSH login refused for user admin")
    _deployments(site, web, now)
    return site


def _deployments(site: ReportSite, web: str, now: datetime) -> None:
    ids = site.ids
    t0 = now - timedelta(days=3)
    first = Deployment(
        id=0, packages=(PackagePin("openssl", "3.0.15-1~deb12u1"),),
        targets=(
            Target(ids["pc-anna"], "pc-anna", "10.0.0.20", Stage.TEST,
                   state=HostState.SUCCEEDED, before={"openssl": "3.0.13-1"},
                   after={"openssl": "3.0.15-1~deb12u1"}, reboot="not needed",
                   verified="installed",
                   health_before={"kept": {"openssl": "/var/cache/pd/openssl.deb"}}),
            Target(ids["db01"], "db01", "10.0.0.11", Stage.PRODUCTION, wave=0,
                   state=HostState.SUCCEEDED, reboot="done", verified="installed",
                   health_before={"kept": {"openssl": "/var/cache/pd/openssl.deb"}}),
        ),
        phase=Phase.DONE, gates=Gates(wave_size=5), created_by="alice", created_at=t0,
        approval=Approval("Dana Scully", t0 + timedelta(hours=1), "test ring clean"),
        window="Sat 22:00-02:00")
    second = Deployment(
        id=0, packages=(PackagePin("postgresql-15", "15.8-0+deb12u1"),),
        targets=(Target(ids["db01"], "db01", "10.0.0.11", Stage.PRODUCTION,
                        state=HostState.ROLLED_BACK, detail="postinst failed: exit 1",
                        reboot="failed: host did not come back",
                        health_before={"kept": {"postgresql-15": "/var/cache/pd/pg.deb"}}),
                 Target(ids[web], web, "10.0.0.10", Stage.PRODUCTION, wave=0,
                        state=HostState.FAILED, detail="dpkg was locked & <busy>")),
        phase=Phase.ROLLED_BACK, created_by="bob", created_at=t0 + timedelta(days=1),
        halt_reason="2 of 2 production host(s) failed (limit 20%)")
    service = site.service
    with service.store.atomic() as db:
        repo = DeploymentRepo(db)
        for dep in (first, second):
            stored = repo.create(dep)
            site.deployment_ids.append(stored.id)
            repo.log(stored.id, "planned")
            for t in dep.targets:
                repo.log(stored.id, f"{t.label}: {t.state}", t.asset_id)


def kev_file(path: Path, *cves: str) -> Path:
    """A small catalogue in CISA's KEV JSON format listing ``cves``."""
    entries = [{
        "cveID": cve, "vendorProject": "Test", "product": "Product", "vulnerabilityName":
        f"{cve} test entry", "dateAdded": "2025-01-10", "shortDescription": "Exploited.",
        "requiredAction": "Apply updates per vendor instructions.", "dueDate": "2025-01-31",
        "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []} for cve in cves]
    path.write_text(json.dumps({
        "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion":
        "2025.01.10", "dateReleased": "2025-01-10T15:00:00.000Z", "count": len(entries),
        "vulnerabilities": entries}), encoding="utf-8")
    return path


def add_risk_records(site: ReportSite, kev: Path, now: datetime | None = None) -> None:
    """A saved policy, a KEV catalogue and four urgency decisions, through the services.

    - policy version 1 by "alice": Dana Scully responsible and approver, J. Smith reviewer,
      a Saturday-night window for servers;
    - the KEV file (db01's postgresql-15 CVE-2024-7348 listed: score 93, top risk #1);
    - J. Smith: patch web01 openssl now; exception for web01's libc6 (WAF rule) for 20
      days; schedule pc-anna firefox; and an exception for db01 openssl that ran out five
      days ago (stored as it was recorded then), so that update is overdue again.
    """
    now = now or datetime.now(UTC).replace(microsecond=0)
    service = site.service
    service.set_policy_values([
        ("responsible", "Dana Scully"), ("approvers", "Dana Scully"),
        ("reviewers", "J. Smith"), ("windows", "kind:server=sat 22:00-04:00")],
        "signed off by the practice manager")
    service.kev_import(kev)
    service.add_review(Decision.PATCH_NOW, package="openssl", host="web01",
                       reason="internet-facing payment server", by="J. Smith")
    if "J. Smith" not in service.people.names():  # exceptions are proved by PIN ([12].8)
        service.people.add("J. Smith", "4711-blue")
    service.add_review(Decision.EXCEPTION, package="libc6", host="web01",
                       reason="WAF rule 42 blocks the iconv vector", by="J. Smith",
                       until=(now + timedelta(days=20)).date(), pin="4711-blue")
    service.add_review(Decision.SCHEDULE, package="firefox", host="pc-anna",
                       reason="next Saturday window", by="J. Smith",
                       planned=(now + timedelta(days=5)).date())
    with service.store.atomic() as db:
        ReviewRepo(db).add(Review(
            Decision.EXCEPTION, "vendor fix pending; port closed", "J. Smith",
            now - timedelta(days=20), package="openssl", asset_id=site.ids["db01"],
            host="db01", until=(now - timedelta(days=5)).date()), "alice")
