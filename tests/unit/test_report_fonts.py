"""Reports use the DejaVu fonts shipped in resources/fonts, whatever the system has."""

from __future__ import annotations

from pathlib import Path

from app.reports import pdf

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_fonts_come_first_and_exist() -> None:
    folder, *names = pdf.FONT_CANDIDATES[0]
    assert Path(folder) == ROOT / "resources" / "fonts"
    assert all((Path(folder) / name).is_file() for name in names)


def test_registered_fonts_are_the_shipped_unicode_family() -> None:
    fonts = pdf.register_fonts()
    assert fonts.unicode and fonts.condensed == "PD-Cond"
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(fonts.regular).face
    assert Path(face.filename).resolve().parent == ROOT / "resources" / "fonts"
    # the arrow and Cyrillic/Greek letters that a Helvetica fallback prints as "?" have glyphs
    widths = face.charWidths
    assert all(ord(ch) in widths for ch in "→ЖΩ€")
