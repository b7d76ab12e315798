"""The Policy page's Feeds section (import a file, "Update now" from 127.0.0.1 with progress,
cancel, the stale flag) and the patch details listing each CVE with CVSS, EPSS, KEV and the
classification evidence — on a real site, through the real main window."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.core.assessment import Update
from app.core.models import Asset, Classification, Impact, Severity
from app.services import SiteService
from app.services.feeds import FeedService
from app.ui.feeds_panel import FeedsSection
from app.ui.mainwindow import MainWindow
from app.ui.qt import Qt
from tests.ui.conftest import wait_idle
from tests.ui.test_priorities import add_updates

DATA = Path(__file__).parents[1] / "data" / "feeds"
EPSS = DATA / "epss" / "epss_scores-2025-08-15.csv"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
KEV = {"title": "CISA KEV (test excerpt)", "catalogVersion": "2026.12.05",
       "dateReleased": "2026-12-05T00:00:00.000Z", "count": 1,
       "vulnerabilities": [{"cveID": "CVE-2024-3094", "vendorProject": "XZ Utils",
                            "product": "XZ Utils", "dateAdded": "2024-03-29",
                            "dueDate": "2024-04-19"}]}


@pytest.fixture
def feeds_site(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.pdsite"
    service = SiteService.open(path, create=True, name="Feeds site", actor="tester")
    web = service.add_asset(Asset(hostname="web01", ips=("10.0.0.7",), impact=Impact.HIGH))
    add_updates(service, web, [
        Update("xz-utils", "5.4.1-1", "5.4.1-0.2", classification=Classification.SECURITY,
               severity=Severity.CRITICAL, cves=("CVE-2024-3094", "CVE-2099-0001"),
               evidence=("Debian Security Tracker names CVE-2024-3094, urgency high",
                         "archive Internal:12/internal-mirror"))])
    kev = tmp_path / "kev.json"
    kev.write_text(json.dumps(KEV))
    service.kev_import(kev)
    service.close()
    return path


@pytest.fixture
def win(qtbot: Any, feeds_site: Path) -> Iterator[MainWindow]:
    window = MainWindow(SiteService.open(feeds_site, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    wait_idle(qtbot, window)
    yield window
    wait_idle(qtbot, window)
    window.close()


@pytest.fixture
def local_feed_server(tmp_path: Path) -> Iterator[str]:
    """A web server on 127.0.0.1 (and no other address) serving the NVD sample, gzip."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "nvd.json.gz").write_bytes(gzip.compress(NVD.read_bytes()))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/nvd.json.gz"
    finally:
        server.shutdown()
        server.server_close()


def rows(section: FeedsSection) -> dict[str, list[str]]:
    table = section.table
    out = {}
    for r in range(table.rowCount()):
        cells = [table.item(r, c).text() for c in range(table.columnCount())]
        out[cells[0]] = cells
    return out


def choose(section: FeedsSection, feed: str) -> None:
    section.feed.setCurrentIndex(section.feed.findData(feed))


def test_feeds_section_imports_a_file_and_updates_from_a_url(
        qtbot: Any, win: MainWindow, monkeypatch: pytest.MonkeyPatch,
        local_feed_server: str) -> None:
    win.show_page("policy")
    wait_idle(qtbot, win)
    section = win.policy_page.feeds
    assert rows(section)["FIRST EPSS"][5] == "not imported"
    assert rows(section)["CISA KEV"][5] == "current"  # imported today with today's date
    choose(section, "ubuntu")
    assert not section.url_button.isEnabled()  # no single published file
    choose(section, "epss")
    monkeypatch.setattr(FeedsSection, "ask_file", staticmethod(lambda _parent: str(EPSS)))
    qtbot.mouseClick(section.file_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    assert section.message.text().startswith("Imported epss: 4 record(s), feed date "
                                             "2025-08-15")
    epss = rows(section)["FIRST EPSS"]
    assert epss[4] == "4" and epss[5] == "STALE (over 7 d)" and epss[2] == "2025-08-15"

    monkeypatch.setattr(FeedService, "published_url", lambda _self, _feed: local_feed_server)
    choose(section, "nvd")
    assert section.url_button.isEnabled()
    qtbot.mouseClick(section.url_button, Qt.MouseButton.LeftButton)
    assert not section.file_button.isEnabled() and section.cancel_button.isEnabled()
    wait_idle(qtbot, win)
    assert "Imported nvd: 3 record(s)" in section.message.text()
    assert rows(section)["NVD CVE (CVSS)"][4] == "3"
    assert section.file_button.isEnabled() and not section.cancel_button.isEnabled()
    # The import changed the scores: the priorities list shows the CVSS factor.
    [item] = [i for i in win.service.risk_items() if i.package == "xz-utils"]  # type: ignore[union-attr]
    assert any(f.name == "CVSS base score" and f.points == 10 for f in item.risk.factors)


def test_cancel_leaves_the_feed_untouched(qtbot: Any, win: MainWindow) -> None:
    win.show_page("policy")
    wait_idle(qtbot, win)
    section = win.policy_page.feeds
    gate = threading.Event()
    win.runner.submit(lambda: gate.wait(10), name="hold the write pool", write=True)
    section.start("epss", str(EPSS))
    section.cancel()
    gate.set()
    wait_idle(qtbot, win)
    assert section.message.text() == "Cancelled; nothing was changed."
    assert rows(section)["FIRST EPSS"][5] == "not imported"
    assert section.task is None and section.file_button.isEnabled()


def test_patch_details_list_each_cve_with_cvss_epss_kev_and_evidence(
        qtbot: Any, win: MainWindow) -> None:
    service = win.service
    assert service is not None
    service.feeds.import_feed("nvd", NVD)
    service.feeds.import_feed("epss", EPSS)
    win.show_page("patches")
    page = win.patches
    page.load()
    wait_idle(qtbot, win)
    page.tabs.setCurrentIndex(0)
    page.patch_view.selectRow(0)
    page._show_detail()
    text = page.detail.text()
    assert ("CVE-2024-3094  ·  CVSS 10.0 (v3.1, CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H)"
            "  ·  EPSS 83.7% (percentile 0.99)  ·  KEV: known exploited") in text
    assert "CVE-2099-0001  ·  CVSS unknown  ·  EPSS unknown  ·  KEV: not listed" in text
    assert "Classified from:\n  • Debian Security Tracker names CVE-2024-3094, urgency high" \
        "\n  • archive Internal:12/internal-mirror" in text


def test_policy_form_sets_the_feeds_age_limit(qtbot: Any, win: MainWindow,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from app.ui.policy_page import PolicyPage

    assert win.service is not None
    win.service.feeds.import_feed("epss", EPSS)
    win.show_page("policy")
    wait_idle(qtbot, win)
    page = win.policy_page
    assert page.feeds_age.value() == 7
    assert rows(page.feeds)["FIRST EPSS"][5] == "STALE (over 7 d)"
    page.edit_button.click()
    page.feeds_age.setValue(366)
    monkeypatch.setattr(PolicyPage, "ask_note", staticmethod(lambda _p: "feeds yearly"))
    page.save_button.click()
    qtbot.waitUntil(lambda: page.state is not None and page.state.current.version == 1,
                    timeout=10_000)
    wait_idle(qtbot, win)
    assert win.service.policy().policy.feeds_max_age_days == 366
    assert rows(page.feeds)["FIRST EPSS"][5] == "STALE (over 366 d)"  # 2025-08-15: > 366 d


def test_a_stale_feed_is_flagged_on_the_dashboard_and_in_the_report(
        qtbot: Any, win: MainWindow, tmp_path: Path) -> None:
    from pypdf import PdfReader

    service = win.service
    assert service is not None
    with qtbot.waitSignal(win.dashboard_loaded, timeout=10_000):
        win.show_page("dashboard")
    assert not [line for line in win.dashboard.attention_lines() if "Stale feed" in line]
    service.feeds.import_feed("epss", EPSS)  # scored 2025-08-15: older than 7 days
    with qtbot.waitSignal(win.dashboard_loaded, timeout=10_000):
        win.dashboard.load()
    [line] = [line for line in win.dashboard.attention_lines() if "Stale feed" in line]
    age = service.feeds.status()[3].age_days(datetime.now(UTC))
    assert line == (f"⚠ Stale feed FIRST EPSS: {age} days old (policy: 7) — update it on "
                    "the Policy page")
    view = win.dashboard.attention
    item = next(view.item(i) for i in range(view.count()) if "Stale feed" in view.item(i).text())
    win.dashboard._on_list_activated(item)
    wait_idle(qtbot, win)
    assert win.current_page() == "policy"

    pdf = tmp_path / "report.pdf"
    service.reports.generate(pdf)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(pdf).pages).split())
    assert (f"Stale vulnerability data — scores and classifications may be out of date: "
            f"FIRST EPSS: {age} days old (policy: 7 days).") in text
