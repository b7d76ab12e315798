"""[14] Non-Latin text in PDF reports: a system fallback font (Droid Sans Fallback,
WenQuanYi, Noto CJK) draws what the shipped DejaVu fonts lack, and a report whose text has
characters no font of it can draw says so and names them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.reports import glyphs, pdf
from app.services.reports import ReportOptions, generate
from tests.reports_fixtures import ReportSite, build_report_site

CLIENT = "Acme 牙科诊所 Ltd"  # "dental clinic"
HANZI = "牙科诊所"


def pdf_text(path: Path) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ReportSite]:
    built = build_report_site(tmp_path / "cjk.pdsite")
    built.service.update_site(client=CLIENT)
    yield built
    built.service.close()


def test_a_cjk_client_name_reads_back_with_the_system_fallback(site: ReportSite,
                                                               tmp_path: Path) -> None:
    if not pdf.register_fonts().fallback:
        if os.environ.get("PATCHDESK_REQUIRE_LAB") == "1":  # the full environment
            pytest.fail("no CJK fallback font: packaging/debian-deps.sh --test installs "
                        "fonts-droid-fallback")
        pytest.skip("no CJK fallback font on this machine (fonts-droid-fallback)")
    out = tmp_path / "cjk.pdf"
    generate(site.service, out, ReportOptions(("exec",)))
    text = pdf_text(out)
    assert HANZI in text  # cover, header and footer, in the fallback font
    assert "Glyphs missing" not in text
    fonts = {str(f.get("/BaseFont")) for page in PdfReader(out).pages
             for f in (page.get("/Resources") or {}).get("/Font", {}).values()}
    assert any("Fallback" in name or "WenQuanYi" in name or "Noto" in name
               or "wqy" in name.lower() for name in fonts), fonts


def test_without_a_fallback_the_report_names_the_missing_glyphs(
        site: ReportSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fonts = pdf.register_fonts()
    monkeypatch.setattr(pdf, "register_fonts", lambda: replace(fonts, fallback=""))
    out = tmp_path / "missing.pdf"
    generate(site.service, out, ReportOptions(("exec",)))
    text = pdf_text(out)
    assert "Glyphs missing" in text
    named = " ".join(f"U+{ord(ch):04X}" for ch in sorted(HANZI))
    assert named in text
    assert "Acme" in text  # the rest of the name prints


def test_a_latin_report_has_no_note(tmp_path: Path) -> None:
    built = build_report_site(tmp_path / "latin.pdsite")
    try:
        out = tmp_path / "latin.pdf"
        generate(built.service, out, ReportOptions(("exec",)))
        assert "Glyphs missing" not in pdf_text(out)
    finally:
        built.service.close()


def test_coverage_cuts_runs_by_font() -> None:
    fonts = pdf.register_fonts()
    coverage = glyphs.Coverage(fonts.regular, fonts.fallback)
    runs = coverage.runs("Zürich → 東京")
    assert runs[0] == ("", "Zürich → ")  # DejaVu has the umlaut and the arrow
    if fonts.fallback:
        assert runs[1] == (glyphs.FALLBACK, "東京") and not coverage.missing
    else:
        assert coverage.missing == set("東京")
    markup = coverage.markup("a<b> 東")
    assert markup.startswith("a&lt;b&gt; ")
