"""Vulnerability feeds: the parsers on the bundled real samples (tests/data/feeds), read in
small chunks; refusals; streaming memory; the tracker as the first classification signal
(no changelog read); CVSS and EPSS as named risk factors."""

from __future__ import annotations

import gzip
import json
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.feeds import (
    CveIntel,
    CvssRecord,
    EpssRecord,
    FeedFormatError,
    FeedHeader,
    FeedStatus,
    FixRecord,
    parse_debian_tracker,
    parse_epss,
    parse_nvd,
    parse_ubuntu_osv,
)
from app.core.models import Classification, Severity
from app.core.risk import RiskInput, score
from app.drivers.advisories import finding
from app.drivers.changelogs import ChangelogBroker
from app.drivers.registry import assess_host
from app.feeds import open_feed
from app.store.changelogs import ChangelogCache
from app.store.db import SiteDB
from app.store.feeds import FeedRepo, FixIndex
from tests.unit.test_changelog_cache import INTERNAL, host

DATA = Path(__file__).parents[1] / "data" / "feeds"


def chunks(path: Path, size: int = 7) -> Iterator[bytes]:
    data = path.read_bytes()
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_debian_tracker_excerpt() -> None:
    header = FeedHeader()
    records = list(parse_debian_tracker(chunks(DATA / "debian" / "tracker-excerpt.json"),
                                        header))
    # Only resolved entries with a fixed version; librsync's are open (no fix).
    assert records == [
        FixRecord("debian", rel, "mimetex", cve, "1.50-1.1", "medium")
        for cve in ("CVE-2009-1382", "CVE-2009-2459") for rel in ("stretch", "buster")]
    assert header.records == 4


def test_debian_tracker_never_affected_and_temp_ids() -> None:
    doc = {"xz-utils": {"CVE-2024-3094": {"releases": {
        "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
        "sid": {"status": "resolved", "fixed_version": "5.6.1+really5.4.5-1",
                "urgency": "high*"}}},
        "TEMP-0000000-A2EB44": {"releases": {"sid": {"status": "resolved",
                                                     "fixed_version": "1.0"}}}}}
    header = FeedHeader()
    records = list(parse_debian_tracker([json.dumps(doc).encode()], header))
    assert records == [FixRecord("debian", "sid", "xz-utils", "CVE-2024-3094",
                                 "5.6.1+really5.4.5-1", "high")]
    assert header.skipped == 1


def test_ubuntu_osv_usn() -> None:
    header = FeedHeader()
    records = list(parse_ubuntu_osv(chunks(DATA / "ubuntu" / "USN-6369-1.json"), header))
    assert records == [
        FixRecord("ubuntu", "20.04", "libwebp", "CVE-2023-4863", "0.6.1-2ubuntu0.20.04.3",
                  "", "USN-6369-1"),
        FixRecord("ubuntu", "22.04", "libwebp", "CVE-2023-4863", "1.2.2-2ubuntu0.22.04.2",
                  "", "USN-6369-1")]
    assert header.date == "2025-07-16T04:44:17Z"


def test_nvd_sample_cvss_v31_and_v40() -> None:
    header = FeedHeader()
    records = {r.cve: r for r in parse_nvd(chunks(DATA / "nvd" / "nvdcve-2.0-sample.json",
                                                  61), header)}
    assert (header.version, header.date, header.records) == ("2.0", "2025-08-15T00:00:00.000", 3)
    xz = records["CVE-2024-3094"]
    assert (xz.score, xz.version, xz.scorer) == (10.0, "3.1", "nvd@nist.gov")  # Primary
    assert xz.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    assert (records["CVE-2024-3000"].score, records["CVE-2024-3000"].version) == (7.3, "3.1")
    pan = records["CVE-2025-0111"]
    assert (pan.score, pan.version, pan.severity) == (7.1, "4.0", "high")
    assert pan.vector.startswith("CVSS:4.0/AV:N/AC:L/AT:N/PR:L")


def test_epss_sample() -> None:
    header = FeedHeader()
    lines = (DATA / "epss" / "epss_scores-2025-08-15.csv").read_text().splitlines()
    records = {r.cve: r for r in parse_epss(lines, header)}
    assert (header.version, header.date[:10]) == ("v2025.03.14", "2025-08-15")
    assert records["CVE-2024-3094"] == EpssRecord("CVE-2024-3094", 0.83739, 0.99245)
    assert len(records) == 4


@pytest.mark.parametrize(("parser", "text", "message"), [
    (parse_nvd, b'{"format": "NVD_CVE", "version": "1.1", "CVE_Items": []}', "JSON 2.0"),
    (parse_nvd, b'{"title": "CISA KEV", "vulnerabilities": []', "truncated"),
    (parse_nvd, b'{"format": "NVD_CVE", "vulnerabilities": [{"cve": ', "invalid JSON"),
    (parse_nvd, b'{"resultsPerPage": 1}', "no 'vulnerabilities'"),
    (parse_debian_tracker, b'{"openssl": "not an object"}', "not the tracker"),
    (parse_debian_tracker, b'\xff\xfe{"a": 1}', "not UTF-8"),
    (parse_ubuntu_osv, b'{"title": "x"}', "not OSV"),
])
def test_files_of_another_format_are_refused(parser, text: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FeedFormatError, match=message):
        list(parser([text], FeedHeader()))


def test_epss_refuses_a_file_without_its_header_and_skips_bad_rows() -> None:
    with pytest.raises(FeedFormatError, match="cve,epss,percentile"):
        list(parse_epss(['{"vulnerabilities": []}'], FeedHeader()))
    header = FeedHeader()
    rows = list(parse_epss(["cve,epss,percentile", "CVE-2024-3094,1.5,0.9",
                            "not-a-cve,0.1,0.1", "CVE-2024-3000,0.00085,0.25551"], header))
    assert [r.cve for r in rows] == ["CVE-2024-3000"]
    assert header.skipped == 2


def _nvd_file(path: Path, count: int) -> Path:
    one = json.loads((DATA / "nvd" / "nvdcve-2.0-sample.json").read_text())["vulnerabilities"][0]
    with path.open("w") as out:
        out.write('{"format": "NVD_CVE", "version": "2.0", "timestamp": "2025-08-15T00:00:00",'
                  ' "vulnerabilities": [')
        for n in range(count):
            one["cve"]["id"] = f"CVE-2024-{10000 + n}"
            out.write(("," if n else "") + json.dumps(one))
        out.write("]}")
    return path


def _peak(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        header = FeedHeader()
        with open_feed(path) as opened:
            count = sum(1 for _ in parse_nvd(opened.chunks(), header))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == header.records
    return count, peak


def test_nvd_is_streamed_not_read_whole(tmp_path: Path) -> None:
    """NVD files of 3.6 and 21.9 MB read through open_feed: the peak Python memory does
    not grow with the file (one 1 MB chunk and one CVE at a time)."""
    small = _nvd_file(tmp_path / "small.json", 2000)
    big = _nvd_file(tmp_path / "big.json", 12000)
    (n_small, peak_small), (n_big, peak_big) = _peak(small), _peak(big)
    assert (n_small, n_big) == (2000, 12000)
    assert big.stat().st_size > 20_000_000
    assert peak_big < 1.5 * peak_small, (peak_small, peak_big)
    assert peak_big < big.stat().st_size / 3, (peak_big, big.stat().st_size)


def test_gzip_feed_and_progress(tmp_path: Path) -> None:
    path = tmp_path / "epss.csv.gz"
    path.write_bytes(gzip.compress((DATA / "epss" / "epss_scores-2025-08-15.csv").read_bytes()))
    seen: list[tuple[int, int | None]] = []
    with open_feed(path, progress=lambda d, t: seen.append((d, t))) as opened:
        rows = list(parse_epss(opened.lines(), FeedHeader()))
    assert len(rows) == 4
    assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_tracker_fix_range() -> None:
    records = [FixRecord("debian", "bookworm", "openssl", "CVE-2024-0001", "3.0.11-1~deb12u2",
                         "high"),
               FixRecord("debian", "bookworm", "openssl", "CVE-2023-0001", "3.0.9-1", "low"),
               FixRecord("debian", "bookworm", "openssl", "CVE-2024-0002", "3.0.13-1~deb12u1",
                         "medium")]
    found = finding(records, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2")
    assert found is not None
    assert (found.cves, found.urgency) == (("CVE-2024-0001",), "high")
    assert finding(records, "3.0.11-1~deb12u2", "3.0.11-1~deb12u2") is None
    both = finding(records, "3.0.10-1", "3.0.13-1~deb12u1")
    assert both is not None and both.cves == ("CVE-2024-0001", "CVE-2024-0002")


def test_tracker_answers_first_and_its_changelog_is_not_fetched(tmp_path: Path) -> None:
    """pd-cvelib on an internal mirror: the tracker names its CVE for bookworm, so it is
    security with that CVE and the tracker's evidence, and only pd-tools' changelog is read."""
    site = SiteDB.open(tmp_path / "s.pdsite", create=True)
    try:
        with site.atomic() as db:
            FeedRepo(db).store_fixes("debian", [FixRecord(
                "debian", "bookworm", "pd-cvelib", "CVE-2024-3094", "1.0-2", "high")],
                replace=True)
        fetched: Counter[str] = Counter()
        broker = ChangelogBroker(ChangelogCache(site))
        broker.advisories = FixIndex(site)
        result = assess_host(host(fetched, threading.Lock(), INTERNAL), changelogs=broker)
        cvelib = {u.package: u for u in result.updates}["pd-cvelib"]
        assert cvelib.classification is Classification.SECURITY
        assert cvelib.cves == ("CVE-2024-3094",)
        assert cvelib.evidence[0] == ("Debian Security Tracker names CVE-2024-3094, "
                                      "urgency high")
        assert fetched == Counter({"pd-tools=2.1-1": 1})  # not pd-cvelib's
        assert (broker.tracked, broker.fetches, result.lookups.fetched) == (1, 1, 1)
    finally:
        site.close()


def test_feed_status_age_and_stale() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    fresh = FeedStatus("epss", now - timedelta(hours=1), "f.csv", "2026-12-04T00:00:00+0000", 4)
    old = FeedStatus("nvd", now, "n.json", "2025-08-15T00:00:00.000", 3)
    dateless = FeedStatus("debian", now - timedelta(days=9), "t.json", "", 4)
    assert (fresh.age_days(now), fresh.stale(now, 7)) == (1, False)
    assert (old.age_days(now), old.stale(now, 7)) == (477, True)
    assert (dateless.age_days(now), dateless.stale(now, 7)) == (9, True)
    assert not FeedStatus("kev").stale(now, 7)  # never imported: missing, not stale


def test_cvss_and_epss_points_in_the_score() -> None:
    base = RiskInput(severity=Severity.CRITICAL, security=True)
    plain = score(base)
    xz = CveIntel("CVE-2024-3094", CvssRecord("CVE-2024-3094", 10.0, "3.1", "CVSS:3.1/AV:N"),
                  EpssRecord("CVE-2024-3094", 0.83739, 0.99245))
    from app.core.risk import _intel_inputs
    rich = score(RiskInput(severity=Severity.CRITICAL, security=True, **_intel_inputs([xz])))
    assert rich.score - plain.score == 10 + 15
    factors = {f.name: f for f in rich.factors}
    assert factors["CVSS base score"].points == 10
    assert factors["CVSS base score"].detail == "10.0 CVSS:3.1/AV:N (CVE-2024-3094, NVD)"
    assert factors["EPSS exploit probability"].points == 15
    assert "83.7%" in factors["EPSS exploit probability"].detail
    assert "CVSS base score" not in {f.name for f in plain.factors}
    low = score(RiskInput(security=True, cvss=7.3, epss=0.00085))
    assert [(f.name, f.points) for f in low.factors if f.name.startswith(("CVSS", "EPSS"))] \
        == [("CVSS base score", 5), ("EPSS exploit probability", 0)]
