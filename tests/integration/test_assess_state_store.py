"""The stored apt state in the site: only each asset's latest successful assessment keeps
it, and the next assessment gets it (real SQLite through the services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core.assessment import Assessment, HostFacts
from app.core.models import Asset
from app.drivers.apt_state import STATE_KEY, AptState
from app.services import SiteService
from app.store.assessments import AssessmentRepo


def test_only_the_latest_success_keeps_the_state_and_failures_do_not_hide_it(
        tmp_path: Path) -> None:
    site = SiteService.open(tmp_path / "state.pdsite", create=True, actor="tech")
    try:
        a = int(site.add_asset(Asset(hostname="a", ips=("10.0.0.1",))).id or 0)
        b = int(site.add_asset(Asset(hostname="b", ips=("10.0.0.2",))).id or 0)
        when = datetime(2026, 12, 1, tzinfo=UTC)

        def success(asset_id: int, fingerprint: str, minutes: int) -> None:
            state = AptState(fingerprint, when, "0 upgraded, 0 newly installed, 0 to remove "
                                                "and 0 not upgraded.\n").to_details()
            result = Assessment(host="h", driver="apt",
                                facts=HostFacts(hostname="h", details={STATE_KEY: state}))
            at = when + timedelta(minutes=minutes)
            with site.store.atomic() as db:
                AssessmentRepo(db).record_success(asset_id, at, at, result)
                AssessmentRepo(db).keep_detail_latest_only(asset_id, STATE_KEY)

        success(a, "1" * 64, 0)
        success(a, "2" * 64, 1)
        success(b, "3" * 64, 2)
        with site.store.atomic() as db:
            AssessmentRepo(db).record_failure(a, when, when, "unreachable", "down")
        db = site.store.db()
        kept = db.execute(f"SELECT asset_id, count(*) FROM assessments WHERE json_extract("
                          f"facts, '$.details.{STATE_KEY}') IS NOT NULL GROUP BY asset_id"
                          ).fetchall()
        assert sorted(kept) == [(a, 1), (b, 1)]
        previous = AssessmentRepo(db).previous_details([a])
        assert set(previous) == {a}
        state = AptState.from_details(previous[a][STATE_KEY])
        assert state is not None and state.fingerprint == "2" * 64
    finally:
        site.close()
