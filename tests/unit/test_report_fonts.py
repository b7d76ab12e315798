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


def test_a_logo_url_is_never_fetched(tmp_path: Path) -> None:
    """[12].11: `site set --logo http://...` made the report run fetch a URL."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/logo.png"
        assert pdf.load_logo(url) is None
        assert pdf.load_logo(f"ftp://127.0.0.1:{server.server_port}/x.png") is None
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def test_a_local_logo_loads_and_a_huge_one_is_refused(tmp_path: Path) -> None:
    logo = ROOT / "docs" / "report-page-1.png"
    assert pdf.load_logo(str(logo)) is not None
    huge = tmp_path / "huge.png"
    huge.write_bytes(logo.read_bytes() + b"\0" * (pdf.MAX_LOGO_BYTES + 1))
    assert pdf.load_logo(str(huge)) is None
    assert pdf.load_logo(str(tmp_path / "missing.png")) is None

