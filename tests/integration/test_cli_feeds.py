"""``feeds import|status``, ``epss import``, ``nvd import`` on a real site file: the bundled
samples change a matching update's score by the documented points, shown in ``risk --why``
and the ``--json`` factors; status, stale flag, refusals, cancel, a URL on 127.0.0.1."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.assessment import Assessment, Update
from app.core.errors import UserError
from app.core.models import Classification, Severity
from app.core.risk import CVSS_POINTS, EPSS_POINTS
from app.feeds import FeedCancelledError
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from tests.integration.test_cli_risk import run

DATA = Path(__file__).parents[1] / "data" / "feeds"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
EPSS = DATA / "epss" / "epss_scores-2025-08-15.csv"


@pytest.fixture
def site(tmp_path: Path) -> str:
    """A low-impact host missing xz-utils (CVE-2024-3094, critical) and a web app
    (CVE-2024-3000), assessed."""
    path = str(tmp_path / "f.pdsite")
    assert run("--site", path, "asset", "add", "--hostname", "web01", "--ip",
               "10.0.0.7")[0] == 0
    service = SiteService.open(path)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        web = service.find_assets("web01")[0]
        with service.store.atomic() as db:
            AssessmentRepo(db).record_success(int(web.id or 0), now, now, Assessment(
                "web01", "apt", updates=[
                    Update("xz-utils", "5.4.1-1", "5.4.1-0.2",
                           classification=Classification.SECURITY,
                           severity=Severity.CRITICAL, cves=("CVE-2024-3094",)),
                    Update("bookshop", "1.1", "1.0", classification=Classification.SECURITY,
                           severity=Severity.IMPORTANT, cves=("CVE-2024-3000",))]))
    finally:
        service.close()
    return path


def risk(site: str) -> dict[str, dict]:  # type: ignore[type-arg]
    code, out = run("--site", site, "--json", "risk")
    assert code == 0
    return {i["package"]: i for i in json.loads(out)}


def factors(item: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {f["factor"]: f for f in item["factors"]}


def test_nvd_and_epss_imports_change_the_score_by_the_documented_points(site: str) -> None:
    before = risk(site)
    assert "CVSS base score" not in factors(before["xz-utils"])
    code, out = run("--site", site, "nvd", "import", str(NVD))
    assert code == 0, out
    assert "3 record(s)" in out
    after_nvd = risk(site)
    # CVSS 10.0 ≥ 9.0: the documented 10 points; the vendor already said critical.
    assert CVSS_POINTS[0] == (9.0, 10)
    assert after_nvd["xz-utils"]["score"] - before["xz-utils"]["score"] == 10
    cvss = factors(after_nvd["xz-utils"])["CVSS base score"]
    assert cvss["points"] == 10
    assert cvss["detail"] == ("10.0 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H "
                              "(CVE-2024-3094, NVD, scored by nvd@nist.gov)")
    # 7.3 ≥ 7.0: 5 points (its vendor severity, important, is already that band).
    assert after_nvd["bookshop"]["score"] - before["bookshop"]["score"] == 5

    code, out = run("--site", site, "epss", "import", str(EPSS))
    assert code == 0, out
    after = risk(site)
    assert EPSS_POINTS[0] == (0.5, 15)
    assert after["xz-utils"]["score"] - after_nvd["xz-utils"]["score"] == 15  # 83.7 %
    assert after["bookshop"]["score"] == after_nvd["bookshop"]["score"]  # 0.085 %: 0 points
    epss = factors(after["xz-utils"])["EPSS exploit probability"]
    assert epss["detail"] == "83.7% (percentile 0.992; CVE-2024-3094, FIRST EPSS)"
    assert after["xz-utils"]["cve_intel"] == [{
        "cve": "CVE-2024-3094",
        "cvss": {"score": 10.0, "version": "3.1",
                 "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                 "severity": "critical", "scorer": "nvd@nist.gov", "source": "NVD"},
        "epss": {"probability": 0.83739, "percentile": 0.99245, "source": "FIRST EPSS"}}]
    code, out = run("--site", site, "risk", "--why")
    assert code == 0
    why = next(line for line in out.splitlines() if line.startswith("web01 xz-utils:"))
    assert "CVSS base score: 10.0 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H" in why
    assert "(CVE-2024-3094, NVD, scored by nvd@nist.gov) (+10)" in why
    assert "EPSS exploit probability: 83.7% (percentile 0.992; CVE-2024-3094, FIRST EPSS)" \
           " (+15)" in why


def test_feeds_status_and_the_stale_flag(site: str, tmp_path: Path) -> None:
    code, out = run("--site", site, "--json", "feeds", "status")
    status = {f["feed"]: f for f in json.loads(out)["feeds"]}
    assert code == 0 and not status["epss"]["imported"] and not status["epss"]["stale"]
    assert run("--site", site, "feeds", "import", "epss", str(EPSS))[0] == 0
    fresh = tmp_path / "epss_today.csv"
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00+0000")
    fresh.write_text(EPSS.read_text().replace("2025-08-15T00:00:00+0000", today))
    assert run("--site", site, "feeds", "import", "nvd", str(NVD))[0] == 0
    code, out = run("--site", site, "--json", "feeds", "status")
    data = json.loads(out)
    status = {f["feed"]: f for f in data["feeds"]}
    assert data["max_age_days"] == 7
    assert status["epss"]["stale"] and status["nvd"]["stale"]
    assert status["epss"]["records"] == status["epss"]["stored"] == 4
    assert status["epss"]["feed_date"] == "2025-08-15T00:00:00+0000"
    assert status["epss"]["age_days"] > 400
    assert status["epss"]["source"] == str(EPSS)
    assert run("--site", site, "epss", "import", str(fresh))[0] == 0
    code, out = run("--site", site, "feeds", "status")
    epss_line = next(line for line in out.splitlines() if line.startswith("epss"))
    nvd_line = next(line for line in out.splitlines() if line.startswith("nvd"))
    assert "STALE" not in epss_line and "0 d" in epss_line
    assert "STALE" in nvd_line
    # The policy's limit decides.
    assert run("--site", site, "policy", "set", "feeds.max_age_days", "366")[0] == 0
    code, out = run("--site", site, "--json", "feeds", "status")
    assert json.loads(out)["max_age_days"] == 366


def test_a_file_of_another_feed_is_refused_and_nothing_changes(site: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run("--site", site, "epss", "import", str(EPSS))[0] == 0
    code, _ = run("--site", site, "feeds", "import", "epss", str(NVD))
    assert code == 1
    assert "not FIRST's EPSS CSV" in capsys.readouterr().err
    code, out = run("--site", site, "--json", "feeds", "status")
    status = {f["feed"]: f for f in json.loads(out)["feeds"]}
    assert status["epss"]["stored"] == 4  # the earlier import is intact
    assert run("--site", site, "feeds", "import", "nvd", "/nonexistent.json")[0] == 1
    assert run("--site", site, "feeds", "import", "osv", str(NVD))[0] == 2


def test_cancel_changes_nothing_and_imports_are_audited(site: str) -> None:
    service = SiteService.open(site)
    try:
        service.feeds.import_feed("nvd", NVD)
        with pytest.raises(FeedCancelledError):
            service.feeds.import_feed("epss", EPSS, should_stop=lambda: True)
        states = {s.feed: s for s in service.feeds.status()}
        assert states["epss"].imported_at is None and states["epss"].stored == 0
        assert states["nvd"].stored == 3
        events = [e for e in service.audit_events() if e.action == "feed.import"]
        assert [e.details["feed"] for e in events] == ["nvd"]
        with pytest.raises(UserError, match="no single published file"):
            service.feeds.import_feed("ubuntu")
    finally:
        service.close()


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving the gzip EPSS sample (no other address)."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "epss_scores-current.csv.gz").write_bytes(gzip.compress(
        EPSS.read_bytes()))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_import_streams_a_gzip_feed_with_progress(site: str, local_server: str) -> None:
    service = SiteService.open(site)
    try:
        seen: list[tuple[int, int | None]] = []
        result = service.feeds.import_feed(
            "epss", f"{local_server}/epss_scores-current.csv.gz",
            progress=lambda done, total: seen.append((done, total)))
        assert (result.records, result.feed_date) == (4, "2025-08-15T00:00:00+0000")
        assert result.source.startswith("http://127.0.0.1:")
        assert seen
        with pytest.raises(UserError, match="HTTP 404"):
            service.feeds.import_feed("nvd", f"{local_server}/missing.json")
    finally:
        service.close()


def test_framework_evidence_takes_the_nvd_cvss_band(site: str) -> None:
    """A vendor-unknown update whose CVE NVD scores 7.1 (CVSS 4.0) counts as important in
    the compliance frameworks' judgement once NVD is imported."""
    from app.core.models import Severity as Sev
    from app.services.compliance import framework_evidence

    service = SiteService.open(site)
    try:
        web = service.find_assets("web01")[0]
        now = datetime.now(UTC).replace(microsecond=0)
        with service.store.atomic() as db:
            AssessmentRepo(db).record_success(int(web.id or 0), now, now, Assessment(
                "web01", "apt", updates=[Update(
                    "panos-agent", "2.0", "1.0", classification=Classification.SECURITY,
                    cves=("CVE-2025-0111",))]))

        def severity() -> Sev:
            evidence = framework_evidence(service)
            return next(m.severity for m in evidence.missing if m.package == "panos-agent")

        assert severity() is Sev.UNKNOWN
        service.feeds.import_feed("nvd", NVD)
        assert severity() is Sev.IMPORTANT
    finally:
        service.close()
