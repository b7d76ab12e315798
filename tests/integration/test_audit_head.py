"""[12].6: the audit head (row and hash) is printed by ``audit verify``, in every JSON
export and in the PDF report's checklist, so it can be anchored outside the file; without
the master password each of them says the seals were not checked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.cli import main
from app.core.models import Asset
from app.services import SiteService

MASTER = "correct horse battery"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "head.pdsite"
    service = SiteService.open(path, create=True, name="Head")
    service.remote.unlock(MASTER, create=True)
    for name in ("a", "b"):
        service.add_asset(Asset(hostname=name))
    service.close()
    return path


def _head(path: Path) -> tuple[int, str]:
    service = SiteService.open(path)
    try:
        info = service.audit.seal_info()
        return info.head_id, info.head_hash
    finally:
        service.close()


def test_audit_verify_prints_the_head_and_what_was_checked(site: Path, monkeypatch) -> None:
    head_id, head_hash = _head(site)
    out = io.StringIO()
    assert main(["--site", str(site), "audit", "verify"], out=out) == 0
    text = out.getvalue()
    assert f"audit head #{head_id} {head_hash}" in text
    assert "seals not checked: vault locked" in text
    out = io.StringIO()
    assert main(["--site", str(site), "audit", "verify", "--json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["head"] == {"id": head_id, "hash": head_hash}
    assert data["seals_checked"] is False
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    out = io.StringIO()
    assert main(["--site", str(site), "audit", "verify"], out=out) == 0
    assert "seals checked" in out.getvalue() and "not checked" not in out.getvalue()


@pytest.mark.parametrize("kind", ["inventory", "patches", "deployments", "audit"])
def test_every_json_export_carries_the_head(site: Path, tmp_path: Path, kind: str) -> None:
    target = tmp_path / f"{kind}.json"
    assert main(["--site", str(site), "export", kind, "--format", "json", "-o",
                 str(target)], out=io.StringIO()) == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    head_id, head_hash = _head(site)
    # the export itself is audited after it is written: the head it names is the one before
    assert data["audit_head"]["id"] == head_id - 1
    assert len(data["audit_head"]["hash"]) == len(head_hash)
    assert data["audit_head"]["seals"].startswith("seals not checked: vault locked")


def test_the_pdf_checklist_names_the_head(site: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.pdf"
    assert main(["--site", str(site), "report", "-o", str(target)], out=io.StringIO()) == 0
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(target).pages).split())
    assert "Audit head #" in text and "seals not checked: vault locked" in text
