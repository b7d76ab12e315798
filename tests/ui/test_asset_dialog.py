"""The asset dialog: every field round-trips, errors show inline, never as exceptions."""

from __future__ import annotations

from datetime import date

from app.core.models import Asset, AssetKind, DataSensitivity, Impact, OsFamily, Ring
from app.ui.asset_dialog import AssetDialog
from app.ui.qt import QDialog

FULL = Asset(
    hostname="nas01.corp.local", ips=("10.0.0.5", "fe80::1"), macs=("00:11:32:aa:bb:cc",),
    os_family=OsFamily.LINUX, os_name="Synology DSM", os_version="7.2", os_build="64570",
    kind=AssetKind.STORAGE, manufacturer="Synology", model="DS923+", serial="SN123",
    vendor="CDW", order_number="PO-77", purchase_date=date(2023, 3, 1),
    warranty_end=date(2026, 3, 1), support_contact="+44 20 1234", location="HQ / rack",
    owner="IT", tags=("backup", "critical"), ring=Ring.PRODUCTION, impact=Impact.CRITICAL,
    data_sensitivity=(DataSensitivity.PERSONAL, DataSensitivity.HEALTH),
    critical_operations=True, public_facing=False, internet_facing=True,
    notes="Replicates to the branch every night.", id=12,
)


def test_every_field_round_trips(qtbot: object) -> None:
    dialog = AssetDialog(None, FULL)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.windowTitle() == "Edit asset — nas01.corp.local"
    assert dialog.build() == FULL
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_asset == FULL


def test_bad_dates_and_hostname_are_reported_under_their_fields(qtbot: object) -> None:
    dialog = AssetDialog(None, None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.show()
    dialog.hostname.setText("bad_host-")
    dialog.purchase_date.setText("2024-02-30")
    dialog.warranty_end.setText("soon")
    dialog.accept()
    assert dialog.isVisible()
    assert dialog.result_asset is None
    assert "not a valid host name" in dialog.error_text("hostname")
    assert "not a date" in dialog.error_text("purchase_date")
    assert dialog.error_text("warranty_end") == "'soon' is not a date (expected YYYY-MM-DD)"
    assert dialog.warranty_end.property("invalid") is True
    # Fixing the fields clears the errors and closes the dialog.
    dialog.hostname.setText("good-host")
    dialog.purchase_date.setText("2024-02-28")
    dialog.warranty_end.setText("2027-02-28")
    dialog.accept()
    assert dialog.error_text("hostname") == ""
    assert dialog.result_asset is not None
    assert dialog.result_asset.warranty_end == date(2027, 2, 28)


def test_warranty_before_purchase_and_empty_identity(qtbot: object) -> None:
    dialog = AssetDialog(None, None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.accept()
    assert "needs a host name, an IP or a MAC" in dialog.error_text("hostname")
    dialog.hostname.setText("pc1")
    dialog.purchase_date.setText("2024-01-01")
    dialog.warranty_end.setText("2023-01-01")
    dialog.accept()
    assert "before the purchase date" in dialog.error_text("warranty_end")
    assert dialog.result_asset is None


def test_live_ip_and_mac_validation_clears_when_fixed(qtbot: object) -> None:
    dialog = AssetDialog(None, None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    qtbot.keyClicks(dialog.ips, "10.0.0.1, 10.0.0")  # type: ignore[attr-defined]
    assert "'10.0.0' is not a valid" in dialog.error_text("ips")
    qtbot.keyClicks(dialog.ips, ".2")  # type: ignore[attr-defined]
    assert dialog.error_text("ips") == ""
    qtbot.keyClicks(dialog.macs, "zz:11")  # type: ignore[attr-defined]
    assert "not a valid MAC" in dialog.error_text("macs")
    dialog.macs.clear()
    assert dialog.error_text("macs") == ""


def test_error_labels_are_plain_text(qtbot: object) -> None:
    dialog = AssetDialog(None, None)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.ips.setText("<b>x</b>")
    from app.ui.qt import Qt

    label = dialog.errors["ips"]
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>x</b>" in label.text()
