"""Benchmark the PDF report on a large site (run by hand, not in CI).

    .venv/bin/python bench/report_pdf.py [--assets 1000] [--patches-per-host 20] [--keep DIR]

Builds a temporary site with ``--assets`` assets (through the asset and assessment stores,
in one transaction each), each with a stored deep scan of 150 packages and
``--patches-per-host`` missing updates, plus 10 deployments of 20 hosts, the bundled KEV
sample (so the per-host table has its KEV column), a saved patch policy and a few urgency
decisions; then times reading the site (``collect``, which scores every missing update
once) and laying out and writing the full seven-section report with its policy appendix
(``write_pdf``), and prints pages and size. Target (DESIGN.md §6): under 5 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.assessment import Assessment, HostFacts, InstalledPackage, RebootState, Update
from app.core.deployment import Approval, Deployment, HostState, PackagePin, Phase, Stage, Target
from app.core.models import Asset, AssetKind, Classification, Impact, OsFamily, Severity
from app.core.risk import Decision
from app.reports.report import write_pdf
from app.services import SiteService
from app.services.reports import collect
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo
from app.store.repos import AssetRepo

OSES = [("Debian", "12", "6.1.0-21-amd64"), ("Ubuntu", "22.04", "5.15.0-91-generic"),
        ("Ubuntu", "24.04", "6.8.0-45-generic"), ("Rocky Linux", "9.4", "5.14.0-427.el9"),
        ("openSUSE Leap", "15.6", "6.4.0-150600.23")]
PACKAGES = ["openssl", "libssl3", "curl", "libcurl4", "openssh-server", "openssh-client",
            "linux-image-amd64", "sudo", "bash", "systemd", "libc6", "tzdata", "vim",
            "python3.11", "nginx", "postgresql-15", "git", "rsync", "xz-utils", "zlib1g",
            "libxml2", "expat", "gnupg", "apt", "dpkg", "perl", "less", "wget", "ca-certs",
            "libsqlite3-0", "firefox-esr", "thunderbird", "samba", "cups", "exim4"]
SEVERITIES = [Severity.CRITICAL, Severity.IMPORTANT, Severity.MODERATE, Severity.LOW]
CLASSES = [Classification.SECURITY, Classification.BUGFIX, Classification.ENHANCEMENT]


def build(path: Path, assets: int, per_host: int) -> SiteService:
    rng = random.Random(7)
    service = SiteService.open(path, create=True, name="Bench site", actor="bench")
    service.update_site(client="Bench Clinic Group plc", msp_name="Northwind IT")
    now = datetime.now(UTC).replace(microsecond=0)
    with service.store.atomic() as db:
        repo = AssetRepo(db)
        stored = [repo.insert(Asset(
            hostname=f"host-{i:04d}.clinic.example", ips=(f"10.{i // 250}.{i % 250}.10",),
            macs=(f"00:1a:2b:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}",),
            os_family=OsFamily.LINUX, os_name=OSES[i % 5][0], os_version=OSES[i % 5][1],
            os_build=OSES[i % 5][2], kind=AssetKind.SERVER if i % 4 == 0
            else AssetKind.WORKSTATION, location=f"Site {i % 7} / room {i % 23}",
            manufacturer="Dell Inc.", model=f"OptiPlex {7000 + i % 90}", serial=f"SN{i:08d}",
            owner=f"Team {i % 11}", impact=[Impact.LOW, Impact.HIGH, Impact.CRITICAL][i % 3],
            internet_facing=i % 17 == 0, last_seen=now)) for i in range(assets)]
    with service.store.atomic() as db:
        arepo = AssessmentRepo(db)
        for asset in stored:
            os_name, version, kernel = OSES[int(asset.id or 0) % 5]
            updates = [Update(
                f"{PACKAGES[j % len(PACKAGES)]}{'' if j < len(PACKAGES) else j}",
                f"2.{j}.{rng.randint(0, 9)}-1", f"2.{j}.0-1", "amd64", CLASSES[j % 3],
                SEVERITIES[rng.randrange(4)], "security",
                cves=tuple(f"CVE-2025-{rng.randint(1000, 60000)}"
                           for _ in range(rng.randint(0, 3)))) for j in range(per_host)]
            arepo.record_success(int(asset.id or 0), now - timedelta(hours=1), now,
                                 Assessment(asset.hostname, "apt", HostFacts(
                                     os_name=os_name, os_version=version, kernel=kernel,
                                     os_pretty=f"{os_name} {version}", cpu_count=4,
                                     memory_total=8 * 1024**3),
                                     packages=[InstalledPackage(f"p{k}", "1")
                                               for k in range(150)],
                                     updates=updates,
                                     reboot=RebootState(rng.random() < 0.2)))
    with service.store.atomic() as db:
        drepo = DeploymentRepo(db)
        for d in range(10):
            hosts = stored[d * 20:(d + 1) * 20]
            drepo.create(Deployment(
                id=0, packages=(PackagePin("openssl", "3.0.15-1"),),
                targets=tuple(Target(int(a.id or 0), a.hostname, a.primary_ip,
                                     Stage.TEST if k < 2 else Stage.PRODUCTION, wave=k // 5,
                                     state=HostState.SUCCEEDED, verified="installed")
                              for k, a in enumerate(hosts)),
                phase=Phase.DONE, created_by="bench", created_at=now,
                approval=Approval("Dana Scully", now)))
    service.kev_import(sample=True)
    service.people.add("Dana Scully", BENCH_PIN)  # exceptions need the person's PIN ([12].8)
    service.set_policy_values([("responsible", "Dana Scully"), ("approvers", "Dana Scully"),
                               ("windows", "kind:server=sat 22:00-04:00")], "bench")
    for k, package in enumerate(PACKAGES[:6]):
        service.add_review(Decision.EXCEPTION if k % 2 else Decision.SCHEDULE,
                           package=package, reason="bench decision", by="Dana Scully",
                           until=(now + timedelta(days=30)).date() if k % 2 else None,
                           planned=None if k % 2 else (now + timedelta(days=3)).date(),
                           pin=BENCH_PIN)
    return service


BENCH_PIN = "bench-pin-4711"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--patches-per-host", type=int, default=20)
    parser.add_argument("--keep", metavar="DIR", help="keep the site and PDF in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        site = folder / "bench-report.pdsite"
        site.unlink(missing_ok=True)
        t = time.perf_counter()
        service = build(site, args.assets, args.patches_per_host)
        print(f"built {args.assets} assets, {len(service.patches())} missing-patch rows in "
              f"{time.perf_counter() - t:.1f} s")
        try:
            from reportlab.lib import rl_accel

            accel = type(rl_accel.fp_str).__name__ == "builtin_function_or_method"
        except ImportError:
            accel = False
        out = folder / "bench-report.pdf"
        t0, c0 = time.perf_counter(), time.process_time()
        data = collect(service)
        t1 = time.perf_counter()
        pages = write_pdf(data, out)
        t2, c2 = time.perf_counter(), time.process_time()
        service.close()
        # CPU time too: on a shared machine the wall clock includes other processes' load.
        print(f"collect {t1 - t0:.2f} s, layout+write {t2 - t1:.2f} s, total "
              f"{t2 - t0:.2f} s wall / {c2 - c0:.2f} s CPU; {pages} pages, "
              f"{out.stat().st_size / 1e6:.1f} MB "
              f"(rl_accel C speed-ups: {'yes' if accel else 'NO'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
