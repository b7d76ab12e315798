"""The background runner's service without a lab: schedules, claims, results, audit and the
e-mail it sends when a job fails; "in the window" follows the policy's windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.errors import UserError
from app.core.policy import MaintenanceWindow, Policy
from app.feeds import kev_sample_path
from app.services import SiteService
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    service = SiteService.open(tmp_path / "s.pdsite", create=True, actor="tech")
    yield service
    service.close()


def test_due_jobs_run_once_with_results_audit_and_mail(site: SiteService,
                                                       tmp_path: Path) -> None:
    site.remote.unlock("master pw", create=True)
    feed = site.schedules.add("feed refresh", str(kev_sample_path()), "daily 02:00")
    broken = site.schedules.add("assess", "tag:nowhere", "Sat 22:00")
    later = site.schedules.add("report", str(tmp_path / "r.pdf"), "daily 03:00")
    site.schedules.update(later.id, enabled=False)
    with pytest.raises(UserError, match="not a schedule"):
        site.schedules.add("scan", "10.0.0.0/24", "sometimes")
    with pytest.raises(UserError, match="No deployment with id 99"):
        site.schedules.add("deploy", "99", "daily 01:00")
    assert feed.next_run is not None and broken.next_run is not None
    before = min(feed.next_run, broken.next_run) - timedelta(minutes=1)
    assert site.schedules.run_due(before) == []  # nothing due yet
    when = max(feed.next_run, broken.next_run) + timedelta(minutes=1)
    with SmtpTestServer(tmp_path) as smtp:
        site.schedules.set_smtp("mail", "notify", "s3cret", host="127.0.0.1", port=smtp.port,
                                recipients=("ops@example.org",), cafile=smtp.cafile)
        ran = {s.id: s for s in site.schedules.run_due(when)}
        assert set(ran) == {feed.id, broken.id}  # the disabled one does not run
        assert ran[feed.id].last_status == "ok"
        assert ran[feed.id].last_result.startswith("KEV catalogue")
        assert ran[broken.id].last_status == "failed"
        assert "tag:nowhere" in ran[broken.id].last_result
        assert all(s.next_run is not None and s.next_run > when for s in ran.values())
        assert site.schedules.run_due(when) == []  # each due run runs once
        assert len(smtp.messages) == 1
        assert "Scheduled assess tag:nowhere failed" in smtp.messages[0].data
    runs = site.audit_events(object_type="schedule")
    assert sorted(e.details["status"] for e in runs if e.action == "schedule.run") == [
        "failed", "ok"]
    assert site.kev_status() is not None


def test_in_the_window_follows_the_policy(site: SiteService) -> None:
    with pytest.raises(UserError, match="planned deployment"):
        site.schedules.add("deploy", "x", "in the window")
    site.save_policy(Policy(windows=(MaintenanceWindow.parse("sat 22:00-04:00"),)))
    sched = site.schedules.add("report", "", "in the window")
    assert sched.next_run is not None
    local = sched.next_run.astimezone()
    assert (local.weekday(), local.hour, local.minute) == (5, 22, 0)
    assert sched.next_run > datetime.now().astimezone()
