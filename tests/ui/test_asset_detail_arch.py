"""The asset detail panel: a multiarch pair shows as two rows (``libc6:i386``), and what
the last scan could not read is shown as warnings ([7], [11])."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.core.assessment import Update
from app.core.models import Classification
from app.ui.mainwindow import MainWindow
from tests.ui.test_assess import asset_by_name, sample_assessment, store_assessment


def test_multiarch_rows_and_scan_warnings_are_shown(qtbot: Any, window: MainWindow) -> None:
    service = window.service
    assert service is not None
    web = asset_by_name(service, "web01")
    result = sample_assessment("web01", reboot=False)
    libc = Update("libc6", "2.36-9+deb12u13", "2.36-9+deb12u7", "amd64",
                  Classification.SECURITY, source="Debian-Security:12/oldstable-security")
    result.updates += [libc, replace(libc, arch="i386")]
    result.warnings = ["apt-get -s dist-upgrade: line 7: unreadable line: 'Frobnicating...'"]
    store_assessment(service, web, result)
    details = window.inventory.details

    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(web.id or 0)})
    scan = details.scan_values
    assert scan["result"].text().startswith("4 missing updates (3 security)")
    assert "Frobnicating" in scan["warnings"].text()
    assert scan["warnings"].property("role") == "field-error"
    assert scan["warnings"].isVisibleTo(details)
    model = details.updates_model
    names = sorted(model.index(r, 0).data() for r in range(model.rowCount()))
    assert names == ["curl", "libc6", "libc6:i386", "openssl"]

    # A scan without warnings hides the row.
    store_assessment(service, web, sample_assessment("web01", reboot=False))
    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.refresh_assessment()
    assert not scan["warnings"].isVisibleTo(details)
