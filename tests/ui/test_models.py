"""The inventory and audit table models and their filter proxy."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pytestqt.modeltest import ModelTester

from app.core.models import Asset, AuditEvent
from app.ui.models import (
    AssetFilterProxy,
    AssetTableModel,
    AuditTableModel,
    ObjectRole,
    TextFilterProxy,
    describe_event,
)
from app.ui.qt import QModelIndex, Qt
from tests.ui.conftest import sample_assets


def _stored(assets: list[Asset]) -> list[Asset]:
    return [a.with_changes(id=i) for i, a in enumerate(assets, start=1)]


def _model() -> tuple[AssetTableModel, AssetFilterProxy]:
    model = AssetTableModel()
    model.set_assets(_stored(sample_assets()))
    proxy = AssetFilterProxy()
    proxy.setSourceModel(model)
    return model, proxy


def _column(proxy: AssetFilterProxy, col: int) -> list[str]:
    return [proxy.index(r, col).data() for r in range(proxy.rowCount())]


def test_model_passes_qt_model_tester(qtmodeltester: ModelTester) -> None:
    model, proxy = _model()
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)


def test_proxy_passes_model_tester_while_filtering_and_sorting(
    qtmodeltester: ModelTester,
) -> None:
    model, proxy = _model()
    qtmodeltester.check(proxy)
    proxy.set_filter_text("hq")
    proxy.sort(AssetTableModel.COL_IP, Qt.SortOrder.DescendingOrder)
    model.upsert(Asset(hostname="new", ips=("10.0.0.1",), location="HQ", id=99))
    model.remove_ids([1])
    proxy.set_filter_text("")
    assert proxy.rowCount() == 3


def test_cells_and_object_role() -> None:
    model, _proxy = _model()
    row = model.row_of(1)
    assert row is not None
    texts = [model.index(row, c).data() for c in range(model.columnCount())]
    assert texts[:4] == ["web01", "10.0.0.10", "00:1a:2b:3c:4d:01", "Ubuntu 22.04"]
    assert texts[4] == "Server"
    assert texts[7:9] == ["High", "Pilot"]
    assert model.index(row, 0).data(ObjectRole).hostname == "web01"
    tooltip = model.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "dmz, web" in tooltip
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Hostname"
    assert model.rowCount(model.index(0, 0)) == 0


def test_tooltip_escapes_user_text() -> None:
    model = AssetTableModel()
    model.set_assets([Asset(hostname="h1", owner="<b>boss</b>", id=1)])
    tooltip = model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "&lt;b&gt;boss&lt;/b&gt;" in tooltip
    assert "<b>boss" not in tooltip


def test_filter_matches_fields_case_insensitively() -> None:
    _, proxy = _model()
    for query, expected in [
        ("WEB01", ["web01"]),
        ("10.0.0.9", ["acct-pc"]),
        ("00:1A:2B:3C:4D:02", ["acct-pc"]),
        ("001a2b3c4d01", ["web01"]),  # MAC without separators
        ("ubuntu", ["web01"]),
        ("windows", ["acct-pc"]),
        ("2nd floor", ["printer-2f"]),
        ("anna", ["acct-pc"]),
        ("finance", ["acct-pc"]),  # a tag (and a location)
        ("dmz", ["web01"]),
        ("hq server", ["web01"]),  # every word must match
        ("nothing-like-this", []),
    ]:
        proxy.set_filter_text(query)
        assert sorted(_column(proxy, 0)) == expected, query
    proxy.set_filter_text("  ")
    assert proxy.rowCount() == 3


def test_ip_column_sorts_numerically() -> None:
    _, proxy = _model()
    proxy.sort(AssetTableModel.COL_IP, Qt.SortOrder.AscendingOrder)
    assert _column(proxy, 1) == ["10.0.0.9", "10.0.0.10", "10.0.0.100"]
    proxy.sort(AssetTableModel.COL_IP, Qt.SortOrder.DescendingOrder)
    assert _column(proxy, 1) == ["10.0.0.100", "10.0.0.10", "10.0.0.9"]


def test_dates_sort_correctly_and_empty_values_go_last() -> None:
    model = AssetTableModel()
    model.set_assets([
        Asset(hostname="a", warranty_end=date(2031, 1, 2), id=1),
        Asset(hostname="b", id=2),
        Asset(hostname="c", warranty_end=date(2029, 12, 31), id=3),
        Asset(hostname="d", warranty_end=date(2030, 6, 1), id=4),
    ])
    model.sort(AssetTableModel.COL_WARRANTY, Qt.SortOrder.AscendingOrder)
    assert [model.asset_at(r).hostname for r in range(4)] == ["c", "d", "a", "b"]
    model.sort(AssetTableModel.COL_WARRANTY, Qt.SortOrder.DescendingOrder)
    assert [model.asset_at(r).hostname for r in range(4)] == ["a", "d", "c", "b"]
    assert model.row_of(2) == 3


def test_sort_keeps_persistent_indexes() -> None:
    model, _proxy = _model()
    from app.ui.qt import QPersistentModelIndex

    keep = QPersistentModelIndex(model.index(model.row_of(3) or 0, 0))
    model.sort(AssetTableModel.COL_HOSTNAME, Qt.SortOrder.DescendingOrder)
    assert keep.data() == "printer-2f"
    assert keep.row() == model.row_of(3)


def test_warranty_colour_flags_expired() -> None:
    model = AssetTableModel()
    model.set_assets([Asset(hostname="old", warranty_end=date(2001, 1, 1), id=1),
                      Asset(hostname="ok", warranty_end=date(2999, 1, 1), id=2)])
    col = AssetTableModel.COL_WARRANTY
    assert model.index(0, col).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(1, col).data(Qt.ItemDataRole.ForegroundRole) is None


def test_upsert_and_remove_keep_the_index_consistent() -> None:
    model, _proxy = _model()
    row = model.upsert(Asset(hostname="web01", ips=("10.0.0.11",), id=1))
    assert model.index(row, 1).data() == "10.0.0.11"
    assert model.rowCount() == 3
    model.upsert(Asset(hostname="x", id=7))
    model.remove_ids([1, 2, 404])
    assert [a.hostname for a in model.assets()] == ["printer-2f", "x"]
    assert model.row_of(7) == 1
    assert model.index(5, 0) == QModelIndex()


def _event(i: int, action: str, details: dict[str, object]) -> AuditEvent:
    return AuditEvent(ts=datetime(2024, 5, 1, 10, i, tzinfo=UTC), actor="alice", action=action,
                      object_type="asset", object_id=str(i), details=details, id=i)


def test_audit_model_and_event_descriptions(qtmodeltester: ModelTester) -> None:
    events = [
        _event(3, "asset.edit", {"label": "web01",
                                 "changes": {"os_version": ["22.04", "24.04"]}}),
        _event(2, "asset.delete", {"label": "old", "record": {"hostname": "old"}}),
        _event(1, "asset.add", {"label": "web01", "source": "manual"}),
    ]
    model = AuditTableModel()
    model.set_objects(events)
    proxy = TextFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    assert describe_event(events[0]) == "os_version: 22.04 → 24.04"
    assert "record" not in describe_event(events[1])
    assert model.index(0, 3).data() == "asset 3 (web01)"
    proxy.set_filter_text("delete")
    assert proxy.rowCount() == 1
