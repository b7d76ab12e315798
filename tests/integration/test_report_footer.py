"""The report's cover footer names whom the report is for."""

from __future__ import annotations

from pathlib import Path


def test_the_cover_footer_names_whom_the_report_is_for(tmp_path: Path) -> None:
    """[14]: "prepared for the client named above" stood under an empty client line."""
    from pypdf import PdfReader

    from app.services import SiteService

    service = SiteService.open(tmp_path / "f.pdsite", create=True, name="Branch office",
                               actor="tech")
    try:
        service.reports.generate(tmp_path / "a.pdf")
        cover = PdfReader(tmp_path / "a.pdf").pages[0].extract_text()
        assert "prepared for the site \u201cBranch office\u201d" in cover
        assert "client named above" not in cover
        service.update_site(client="Müller Zahnärzte")
        service.reports.generate(tmp_path / "b.pdf")
        cover = PdfReader(tmp_path / "b.pdf").pages[0].extract_text()
        assert "prepared for Müller Zahnärzte" in cover
    finally:
        service.close()
