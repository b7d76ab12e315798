"""The audit page on a real site: details read in plain words (not Python dicts), a run with
failed hosts does not read "ok", a detail pane, type and date filters, and a CSV export of
the period through the report service."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.models import AuditEvent, Outcome
from app.services import SiteService
from app.store.repos import AuditRepo
from app.ui.audit_page import AuditPage, event_text
from app.ui.mainwindow import MainWindow
from app.ui.models import describe_event, event_outcome
from app.ui.qt import QDate
from tests.ui.conftest import wait_idle

RUN = {"hosts": 8, "ok": 3, "cancelled": False,
       "failed": {"web01": "auth_failed", "db01": "unreachable", "pc-1": "sudo_refused",
                  "pc-2": "timeout", "nas": "unreachable"}}


def test_details_read_in_plain_words_and_failures_show() -> None:
    event = AuditEvent(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "alice", "assess.run",
                       "site", "", RUN, Outcome.OK, id=41, hash="ab" * 32, prev_hash="cd" * 32)
    line = describe_event(event)
    assert "{" not in line and "'" not in line
    assert "failed: web01: auth_failed, db01: unreachable" in line
    assert "cancelled: no" in line
    assert event_outcome(event) == "partly failed: 5 of 8"
    text = event_text(event)
    assert "Outcome:  partly failed: 5 of 8" in text
    assert "    failed:\n        web01: auth_failed\n        db01: unreachable" in text
    assert "{" not in text and "Entry #41" in text
    plain = AuditEvent(event.ts, "bob", "asset.add", "asset", "3", {"label": "web01"})
    assert event_outcome(plain) == "ok"


@pytest.fixture
def audited(qtbot: Any, tmp_path: Path) -> Any:
    path = tmp_path / "audit.pdsite"
    service = SiteService.open(path, create=True, name="Audit", actor="alice")
    with service.store.atomic() as db:
        AuditRepo(db).append("alice", "assess.run", "site", "", RUN)
    service.close()
    win = MainWindow(SiteService.open(path, actor="alice"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    with qtbot.waitSignal(win.audit_loaded, timeout=10_000):
        win.show_page("audit")
    yield win
    wait_idle(qtbot, win)
    win.close()


def rows(page: AuditPage) -> list[str]:
    return [page.proxy.event_at(r).action for r in range(page.proxy.rowCount())]


def test_detail_pane_type_and_date_filters(qtbot: Any, audited: MainWindow) -> None:
    page = audited.audit
    assert "assess.run" in rows(page) and "site.create" in rows(page)
    run_row = rows(page).index("assess.run")
    assert page.model.index(page.proxy.mapToSource(page.proxy.index(run_row, 0)).row(),
                            5).data() == "partly failed: 5 of 8"
    page.view.selectRow(run_row)
    assert "web01: auth_failed" in page.detail.toPlainText()
    # The type filter offers the types present.
    labels = [page.type_combo.itemText(i) for i in range(page.type_combo.count())]
    assert "Deep scans" in labels and "Site settings" in labels
    page.type_combo.setCurrentIndex(page.type_combo.findData("assess"))
    assert rows(page) == ["assess.run"]
    page.type_combo.setCurrentIndex(0)
    # Days: everything is today (local time); a period ending yesterday hides it all.
    yesterday = date.today() - timedelta(days=1)
    page.use_to.setChecked(True)
    page.to_date.setDate(QDate(yesterday.year, yesterday.month, yesterday.day))
    assert rows(page) == []
    page.use_from.setChecked(True)
    page.from_date.setDate(QDate.currentDate())
    page.to_date.setDate(QDate.currentDate())
    assert "assess.run" in rows(page)


def test_export_writes_the_period_as_csv(qtbot: Any, audited: MainWindow, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    page = audited.audit
    target = tmp_path / "out" / "audit-log"
    target.parent.mkdir()
    monkeypatch.setattr(AuditPage, "ask_path", staticmethod(lambda _p, _f: str(target)))
    with qtbot.waitSignal(page.exported, timeout=10_000) as blocker:
        page.export_button.click()
    path, count = blocker.args
    assert path == str(target) + ".csv" and count >= 2
    with open(path, encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == count
    assert {"assess.run", "site.create"} <= {r["action"] for r in records}
    assert all(r["hash"] for r in records)
    assert f"Exported {count:,} events" in page.result.text()
    # The export itself is audited; a period in the future exports nothing.
    wait_idle(qtbot, audited)
    tomorrow = date.today() + timedelta(days=1)
    page.use_from.setChecked(True)
    page.from_date.setDate(QDate(tomorrow.year, tomorrow.month, tomorrow.day))
    page.use_to.setChecked(False)
    with qtbot.waitSignal(page.exported, timeout=10_000) as blocker:
        page.export_button.click()
    assert blocker.args[1] == 0
