"""The Inventory page shows flagged identity conflicts ([12].5): a badge with their count;
clicking it shows only the assets involved and a dialog to decide each (keep A, B or both,
merge); the decision is stored and audited, and the badge goes away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.models import Asset
from app.services import SiteService
from app.store.people import IdentityConflictRepo
from app.ui.identity_dialog import IdentityConflictsDialog
from app.ui.mainwindow import MainWindow
from app.ui.qt import QApplication, QTimer
from tests.ui.conftest import wait_idle

MAC = "52:54:00:00:00:0b"


@pytest.fixture
def conflicted(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    path = tmp_path / "c.pdsite"
    service = SiteService.open(path, create=True, name="C", actor="alice")
    a = service.add_asset(Asset(hostname="claimer", ips=("10.0.0.1",)))
    b = service.add_asset(Asset(hostname="owner", ips=("10.0.0.2",), macs=(MAC,)))
    service.add_asset(Asset(hostname="bystander", ips=("10.0.0.3",)))
    with service.store.atomic() as db:  # as an assessment flags it (tests/integration)
        IdentityConflictRepo(db).add(int(a.id or 0), int(b.id or 0), MAC, "assess")
    service.close()
    win = MainWindow(SiteService.open(path, actor="alice"))
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, win)
    yield win
    wait_idle(qtbot, win)
    win.close()


def test_badge_scope_and_dialog_resolve_a_conflict(qtbot: Any, conflicted: MainWindow) -> None:
    page = conflicted.inventory
    assert page.conflict_button.isVisible()
    assert page.conflict_button.text() == "⚠ 1 identity conflict"
    seen: list[str] = []

    def decide() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, IdentityConflictsDialog):
            QTimer.singleShot(20, decide)
            return
        seen.append(dialog.list.item(0).text())
        seen.append(f"{page.proxy.rowCount()} shown")  # only the two involved
        dialog.keep_a.setChecked(True)
        dialog.merge.setChecked(True)
        dialog.resolve_button.click()  # the last one: the dialog closes

    QTimer.singleShot(0, decide)
    page.conflict_button.click()
    wait_idle(qtbot, conflicted)
    assert "reported by A = claimer" in seen[0] and "B = owner" in seen[0] and MAC in seen[0]
    assert seen[1] == "2 shown"
    qtbot.waitUntil(lambda: not page.conflict_button.isVisible(), timeout=5000)
    assert sorted(a.hostname for a in page.model.assets()) == ["bystander", "claimer"]
    service = conflicted.service
    assert service is not None
    claimer = service.find_assets("claimer")[0]
    assert MAC in claimer.macs and "10.0.0.2" in claimer.ips  # B merged into A
    assert service.identity.conflicts() == []
    assert service.audit_events(limit=1)[0].action == "asset.identity_resolved"


def test_keep_both_cannot_merge(qtbot: Any) -> None:
    calls: list[tuple[int, str, bool]] = []
    row = {"id": 7, "mac": MAC, "claimed_by": 1, "claimed_by_label": "a", "owner": 2,
           "owner_label": "b"}
    dialog = IdentityConflictsDialog([row], lambda i, k, m: calls.append((i, str(k), m)))
    qtbot.addWidget(dialog)
    assert dialog.keep_both.isChecked() and not dialog.merge.isEnabled()
    dialog.keep_b.setChecked(True)
    assert dialog.merge.isEnabled()
    dialog.keep_both.setChecked(True)
    dialog.resolve_button.click()
    assert calls == [(7, "both", False)]
