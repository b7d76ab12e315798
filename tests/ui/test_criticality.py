"""The criticality questionnaire: the asset dialog's questions with their help lines, and
setting the criticality of several selected assets at once from the Inventory page."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.models import Asset, DataSensitivity, Impact
from app.ui.actions import MainAction
from app.ui.asset_dialog import QUESTIONS, AssetDialog, CriticalityDialog
from app.ui.mainwindow import MainWindow
from app.ui.qt import QLabel, Qt
from tests.ui.conftest import wait_idle


def test_asset_dialog_asks_short_questions_with_one_line_of_help(qtbot: Any) -> None:
    dialog = AssetDialog(None, Asset(hostname="pay01", impact=Impact.HIGH,
                                     data_sensitivity=(DataSensitivity.PAYMENT,),
                                     public_facing=True))
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.criticality.findChildren(QLabel)]
    for number, (_key, question, help_text) in enumerate(QUESTIONS, start=1):
        assert f"{number}. {question}" in texts
        assert help_text in texts
    assert dialog.impact.currentData() == Impact.HIGH
    assert dialog.sensitivity[DataSensitivity.PAYMENT].isChecked()
    dialog.internet_facing.setChecked(True)
    built = dialog.build()
    assert (built.impact, built.public_facing, built.internet_facing) == (
        Impact.HIGH, True, True)
    assert built.data_sensitivity == (DataSensitivity.PAYMENT,)


def test_bulk_dialog_keeps_mixed_answers_unless_set(qtbot: Any) -> None:
    assets = [Asset(id=1, hostname="a", impact=Impact.LOW, public_facing=True),
              Asset(id=2, hostname="b", impact=Impact.HIGH, public_facing=False,
                    data_sensitivity=(DataSensitivity.HEALTH,))]
    dialog = CriticalityDialog(None, assets)
    qtbot.addWidget(dialog)
    form = dialog.form
    assert form.impact.currentData() == form.KEEP
    assert form.public_facing.checkState() == Qt.CheckState.PartiallyChecked
    assert form.critical_operations.checkState() == Qt.CheckState.Unchecked
    assert dialog.changed_assets() == []  # nothing set: nothing changes
    form.sensitivity[DataSensitivity.PAYMENT].setChecked(True)
    changed = {a.hostname: a for a in dialog.changed_assets()}
    assert changed["a"].data_sensitivity == (DataSensitivity.PAYMENT,)
    assert changed["b"].data_sensitivity == (DataSensitivity.HEALTH, DataSensitivity.PAYMENT)
    assert (changed["a"].impact, changed["b"].impact) == (Impact.LOW, Impact.HIGH)
    assert changed["a"].public_facing and not changed["b"].public_facing


def test_set_criticality_of_several_selected_assets(
        qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    window.show_page("inventory")
    ids = {a.id for a in window.inventory.model.assets() if a.hostname != "printer-2f"}
    window.inventory.select_ids({i for i in ids if i is not None})
    assert window.action(MainAction.CRITICALITY).isEnabled()

    def exec_(dialog: CriticalityDialog) -> int:
        assert len(dialog.assets) == 2
        dialog.form.impact.setCurrentIndex(dialog.form.impact.findData(Impact.CRITICAL))
        dialog.form.internet_facing.setChecked(True)
        dialog.accept()
        return int(dialog.result())

    monkeypatch.setattr(CriticalityDialog, "exec", exec_)
    with qtbot.waitSignal(window.changed, timeout=10_000) as blocker:
        window.action(MainAction.CRITICALITY).trigger()
    assert blocker.args == ["criticality"]
    wait_idle(qtbot, window)
    assert window.service is not None
    stored = {a.hostname: a for a in window.service.assets()}
    for name in ("web01", "acct-pc"):
        assert stored[name].impact is Impact.CRITICAL and stored[name].internet_facing
    assert stored["web01"].tags == ("dmz", "web")  # other fields untouched
    assert stored["printer-2f"].impact is not Impact.CRITICAL
    shown = {a.hostname: a for a in window.inventory.model.assets()}
    assert shown["acct-pc"].impact is Impact.CRITICAL
    edits = [e for e in window.service.audit_events(object_type="asset")
             if e.action == "asset.edit"]
    assert len(edits) == 2
