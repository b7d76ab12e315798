"""[12].16: two processes editing different fields of one asset never revert each other;
the same field changed meanwhile is a clear conflict, not a silent overwrite."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import UserError
from app.core.models import Asset
from app.services import SiteService


@pytest.fixture
def path(tmp_path: Path) -> Path:
    site = tmp_path / "c.pdsite"
    service = SiteService.open(site, create=True)
    service.add_asset(Asset(hostname="web01", ips=("10.0.0.5",), location="Rack 1",
                            owner="Ops"))
    service.close()
    return site


def test_interleaved_edits_of_different_fields_both_stay(path: Path) -> None:
    one, two = SiteService.open(path, actor="one"), SiteService.open(path, actor="two")
    try:
        loaded1, loaded2 = one.find_assets("web01")[0], two.find_assets("web01")[0]
        one.update_asset(loaded1.with_changes(location="Rack 9"), base=loaded1)
        two.update_asset(loaded2.with_changes(owner="Web team"), base=loaded2)
        final = one.find_assets("web01")[0]
        assert (final.location, final.owner) == ("Rack 9", "Web team")
        # the same field changed meanwhile: refused, naming it, nothing written
        with pytest.raises(UserError, match=r"changed meanwhile.*location"):
            two.update_asset(loaded2.with_changes(location="Rack 2"), base=loaded2)
        assert one.find_assets("web01")[0].location == "Rack 9"
    finally:
        one.close()
        two.close()


def test_cli_edit_writes_only_its_own_field(path: Path, monkeypatch) -> None:
    """``asset edit`` loads the asset, then another process changes another field before
    the edit is written (the window the review's parallel loops hit 11 times in 200): the
    other process's change survives."""
    import app.cli.assets as assets_cli

    real = assets_cli.one_asset

    def load_then_someone_else_writes(service: SiteService, selector: str) -> Asset:
        loaded = real(service, selector)
        other = SiteService.open(path, actor="other")
        try:
            other.update_asset(loaded.with_changes(owner="Web team"), base=loaded)
        finally:
            other.close()
        return loaded

    monkeypatch.setattr(assets_cli, "one_asset", load_then_someone_else_writes)
    assert main(["--site", str(path), "asset", "edit", "web01", "--location", "Rack 9"],
                out=io.StringIO()) == 0
    monkeypatch.undo()
    out = io.StringIO()
    assert main(["--site", str(path), "asset", "show", "web01", "--json"], out=out) == 0
    shown = json.loads(out.getvalue())
    assert (shown["location"], shown["owner"]) == ("Rack 9", "Web team")
