"""The PDF report: fonts, styles, branded page templates, and rendering of the sections.

One layout pass: the table of contents and the "of N" in the page footers are PDF form
XObjects that pages reference while they are laid out and that are drawn once the last page
is known (reportlab lets a form be used before it is defined). The platypus
``TableOfContents`` + ``multiBuild`` way lays the whole document out two or three times,
which a 1,000-host report cannot afford.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
)

from app.core.progress import CancelToken, Progress, ProgressCallback
from app.reports.glyphs import Coverage, register_fallback
from app.reports.table import DataTable, TableStyle, clean_text

log = logging.getLogger(__name__)

ACCENT = colors.HexColor("#1F3A5F")
ACCENT_LIGHT = colors.HexColor("#E8EEF5")
MUTED = colors.HexColor("#5B6573")
TEXT = colors.HexColor("#1A1A1A")
GOOD = colors.HexColor("#2E7D32")
WARN = colors.HexColor("#B26A00")
BAD = colors.HexColor("#C62828")

MARGIN = 16 * mm
HEADER_H = 12 * mm
FOOTER_H = 10 * mm



def _bundled_fonts() -> Path:
    """``resources/fonts`` of a source checkout, or ``app/resources/fonts`` of a wheel."""
    here = Path(__file__).resolve()
    source = here.parents[2] / "resources" / "fonts"
    return source if source.is_dir() else here.parents[1] / "resources" / "fonts"


#: Where fonts with wide Unicode coverage are looked for, best first: the DejaVu fonts
#: shipped in ``resources/fonts`` (so every machine renders the same), then the system's
#: DejaVu (Debian's fonts-dejavu-core + -extra, Fedora's dejavu-sans-fonts), then Arial.
FONT_CANDIDATES: tuple[tuple[str, str, str, str, str], ...] = (
    (str(_bundled_fonts()), "DejaVuSans.ttf", "DejaVuSans-Bold.ttf",
     "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("/usr/share/fonts/truetype/dejavu", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf",
     "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf",
     "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("/usr/share/fonts/dejavu", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf",
     "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    (os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Fonts"), "arial.ttf",
     "arialbd.ttf", "arial.ttf", "arialbd.ttf"),
)


@dataclass(frozen=True, slots=True)
class Fonts:
    """The registered font names (standard Helvetica when no TrueType font was found)."""

    regular: str
    bold: str
    condensed: str
    condensed_bold: str
    unicode: bool
    fallback: str = ""  # a system font for what the main fonts lack (CJK), or ""


@cache
def register_fonts() -> Fonts:
    """Register a Unicode TrueType family once per process; fall back to Helvetica."""
    for folder, *names in FONT_CANDIDATES:
        paths = [Path(folder) / n for n in names]
        if not all(p.is_file() for p in paths):
            continue
        try:
            ids = ("PD-Sans", "PD-Sans-Bold", "PD-Cond", "PD-Cond-Bold")
            for font_id, path in zip(ids, paths, strict=True):
                pdfmetrics.registerFont(TTFont(font_id, str(path)))
            pdfmetrics.registerFontFamily("PD-Sans", normal="PD-Sans", bold="PD-Sans-Bold",
                                          italic="PD-Sans", boldItalic="PD-Sans-Bold")
        except Exception:  # a damaged font file: try the next candidate
            log.warning("cannot use the fonts in %s", folder, exc_info=True)
            continue
        return Fonts(*ids, unicode=True, fallback=register_fallback())
    log.warning("no Unicode TrueType font found; reports use Helvetica (Latin-1 only)")
    return Fonts("Helvetica", "Helvetica-Bold", "Helvetica", "Helvetica-Bold", unicode=False,
                 fallback=register_fallback())


class Styles:
    """Paragraph and table styles of a report."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        #: What the fonts draw; the characters none can draw ([14]).
        self.coverage = Coverage(fonts.regular, fonts.fallback)
        base = ParagraphStyle("body", fontName=fonts.regular, fontSize=9.5, leading=13,
                              textColor=TEXT, alignment=TA_LEFT, wordWrap="CJK",
                              spaceAfter=4)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=8, leading=10.5,
                                    textColor=MUTED)
        self.note = ParagraphStyle("note", parent=base, backColor=ACCENT_LIGHT,
                                   borderPadding=(5, 6, 5, 6), spaceBefore=4, spaceAfter=8)
        self.h1 = ParagraphStyle("h1", parent=base, fontName=fonts.bold, fontSize=17,
                                 leading=21, textColor=ACCENT, spaceAfter=8)
        self.h2 = ParagraphStyle("h2", parent=base, fontName=fonts.bold, fontSize=12,
                                 leading=15, textColor=ACCENT, spaceBefore=10, spaceAfter=5)
        self.h3 = ParagraphStyle("h3", parent=base, fontName=fonts.bold, fontSize=10,
                                 leading=13, textColor=TEXT, spaceBefore=8, spaceAfter=3)
        self.cover_title = ParagraphStyle("cover_title", parent=base, fontName=fonts.bold,
                                          fontSize=28, leading=34, textColor=ACCENT)
        self.cover_big = ParagraphStyle("cover_big", parent=base, fontName=fonts.bold,
                                        fontSize=18, leading=23)
        self.cover_text = ParagraphStyle("cover_text", parent=base, fontSize=11, leading=16,
                                         textColor=MUTED)
        self.tile_value = ParagraphStyle("tile_value", parent=base, fontName=fonts.bold,
                                         fontSize=20, leading=24, textColor=ACCENT)
        self.tile_label = ParagraphStyle("tile_label", parent=base, fontSize=8, leading=10,
                                         textColor=MUTED)
        self.table_style = TableStyle(fonts.condensed, fonts.condensed_bold,
                                latin1=not fonts.unicode)

    def text(self, value: object) -> str:
        """Untrusted text made safe for a Paragraph (markup characters escaped); what the
        main font lacks is set in the fallback font."""
        return self.coverage.markup(clean_text(value))

    def para(self, value: object, style: ParagraphStyle | None = None) -> Paragraph:
        """A paragraph of untrusted plain text."""
        return Paragraph(self.text(value), style or self.body)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]],
              weights: Sequence[float], *, align: str = "", max_lines: int = 30) -> DataTable:
        """A data table in the report's table style."""
        self.coverage.notes(header)  # tables draw in the main (condensed) font only
        for row in rows:
            self.coverage.notes(row)
        return DataTable(header, rows, weights, self.table_style, align=align, max_lines=max_lines)


class Heading(Paragraph):  # type: ignore[misc]  # reportlab is untyped
    """A heading that goes into the outline (and, at ``toc`` levels, the contents)."""

    def __init__(self, text: str, style: ParagraphStyle, level: int, *,
                 toc: bool = True) -> None:
        super().__init__(escape(text), style)
        self.plain = text
        self.level = level
        self.toc = toc


class TocPlaceholder(Flowable):  # type: ignore[misc]
    """Where the table of contents goes: the form drawn once page numbers are known."""

    FORM = "pdToc"

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.width, self.height = availWidth, availHeight * 0.92
        return self.width, self.height

    def draw(self) -> None:
        self.canv.saveState()
        self.canv.translate(0, self.height)  # the form is drawn downwards from its top
        self.canv.doForm(self.FORM)
        self.canv.restoreState()


@dataclass(frozen=True, slots=True)
class Branding:
    """What the page headers, footers and cover say."""

    title: str
    client: str
    site_name: str
    address: str
    msp: str
    logo: ImageReader | None
    period: str
    generated: str


#: The largest logo file read (a logo is a few hundred kB at most).
MAX_LOGO_BYTES = 5 * 1024 * 1024


def load_logo(path: str) -> ImageReader | None:
    """The site's logo, or None when it is unset, missing or not a readable image.

    Only a local file is read, by PatchDesk itself (capped): reportlab's ImageReader would
    also fetch ``http://`` and ``ftp://`` addresses, so a report run could be made to
    contact a server named in the site file ([12].11).
    """
    if not path:
        return None
    if "://" in path or path.lower().startswith("data:"):
        log.warning("the logo %.80r is not a local file; logos are local image files", path)
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LOGO_BYTES + 1)
        if len(data) > MAX_LOGO_BYTES:
            raise ValueError(f"larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB")
        reader = ImageReader(io.BytesIO(data))
        reader.getSize()
    except Exception as exc:  # any unreadable image: the report goes on without it
        log.warning("cannot use the logo %s: %s", path, exc)
        return None
    return reader


def _fit(reader: ImageReader, max_w: float, max_h: float) -> tuple[float, float]:
    w, h = reader.getSize()
    scale = min(max_w / w, max_h / h)
    return w * scale, h * scale


class ReportDocument(BaseDocTemplate):  # type: ignore[misc]
    """Cover, portrait and landscape pages with header, footer and deferred page counts."""

    PAGES_FORM = "pdPageCount"

    def __init__(self, target: Any, branding: Branding, styles: Styles, *,
                 total_weight: int, progress: ProgressCallback | None,
                 cancel: CancelToken | None) -> None:
        super().__init__(target, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                         topMargin=MARGIN + HEADER_H, bottomMargin=MARGIN + FOOTER_H,
                         title=f"{branding.title} — {branding.client or branding.site_name}",
                         author=branding.msp or "PatchDesk", creator="PatchDesk",
                         subject=branding.period)
        self.branding = branding
        self.styles = styles
        self.toc_entries: list[tuple[int, str, int, str]] = []
        self.total_weight = max(1, total_weight)
        self.done_weight = 0
        self.progress = progress
        self.cancel = cancel
        self.last_page = 0
        portrait_w, portrait_h = A4
        land_w, land_h = landscape(A4)

        def frame(name: str, width: float, height: float) -> Frame:
            return Frame(MARGIN, MARGIN + FOOTER_H, width - 2 * MARGIN,
                         height - 2 * MARGIN - HEADER_H - FOOTER_H, id=name,
                         leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)

        self.addPageTemplates([
            PageTemplate("cover", [Frame(MARGIN, MARGIN, portrait_w - 2 * MARGIN,
                                         portrait_h - 2 * MARGIN - 40 * mm, id="cover")],
                         onPage=self._cover_page, pagesize=A4),
            PageTemplate("portrait", [frame("p", portrait_w, portrait_h)],
                         onPage=self._content_page, pagesize=A4),
            PageTemplate("landscape", [frame("l", land_w, land_h)],
                         onPage=self._content_page, pagesize=landscape(A4)),
        ])

    # -- page decoration -----------------------------------------------------------------
    def _cover_page(self, canv: Any, doc: Any) -> None:
        w, h = canv._pagesize
        b = self.branding
        canv.saveState()
        canv.setFillColor(ACCENT)
        canv.rect(0, h - 30 * mm, w, 30 * mm, stroke=0, fill=1)
        canv.setFillColor(colors.white)
        self.styles.coverage.draw(canv, MARGIN, h - 18 * mm,
                                  clean_text(b.msp or "PatchDesk")[:80], self.styles.fonts.bold,
                                  13)
        if b.logo is not None:
            lw, lh = _fit(b.logo, 60 * mm, 22 * mm)
            canv.setFillColor(colors.white)
            canv.roundRect(w - MARGIN - lw - 4, h - 26 * mm - 2, lw + 8, lh + 4 + 0.01, 3,
                           stroke=0, fill=1)
            canv.drawImage(b.logo, w - MARGIN - lw, h - 26 * mm, lw, lh, mask="auto")
        canv.setFillColor(MUTED)
        canv.setFont(self.styles.fonts.regular, 8)
        # Name who it is for only when a client is named ([14]: "the client named above"
        # stood under an empty client line).
        who = (f"prepared for {b.client}" if b.client.strip()
               else f"prepared for the site “{b.site_name}”")
        self.styles.coverage.draw(canv, MARGIN, MARGIN / 2, clean_text(
            f"Confidential — {who}. Generated by PatchDesk from the site's own records.")[:160],
            self.styles.fonts.regular, 8)
        canv.restoreState()
        self.last_page = max(self.last_page, canv.getPageNumber())

    def _content_page(self, canv: Any, doc: Any) -> None:
        w, h = canv._pagesize
        b = self.branding
        canv.saveState()
        top = h - MARGIN
        right = w - MARGIN
        logo_w = 0.0
        if b.logo is not None:
            lw, lh = _fit(b.logo, 35 * mm, 8 * mm)
            canv.drawImage(b.logo, right - lw, top - lh, lw, lh, mask="auto")
            logo_w = lw + 4 * mm
        canv.setFont(self.styles.fonts.bold, 9)
        canv.setFillColor(ACCENT)
        client = clean_text(b.client or b.site_name)
        client = _clip(client, self.styles.fonts.bold, 9, (right - MARGIN) * 0.5)
        self.styles.coverage.draw(canv, MARGIN, top - 8, client, self.styles.fonts.bold, 9)
        canv.setFont(self.styles.fonts.regular, 8)
        canv.setFillColor(MUTED)
        room = (right - MARGIN - logo_w - 10 * mm
                - pdfmetrics.stringWidth(client, self.styles.fonts.bold, 9))
        right_text = _clip(f"{b.title} · {b.period}", self.styles.fonts.regular, 8, room)
        canv.drawRightString(right - logo_w, top - 8, right_text)
        canv.setStrokeColor(ACCENT)
        canv.setLineWidth(0.8)
        canv.line(MARGIN, top - HEADER_H + 4 * mm, right, top - HEADER_H + 4 * mm)
        # Footer.
        canv.setStrokeColor(colors.HexColor("#C9D2DE"))
        canv.setLineWidth(0.4)
        canv.line(MARGIN, MARGIN + FOOTER_H - 3 * mm, right, MARGIN + FOOTER_H - 3 * mm)
        canv.setFont(self.styles.fonts.regular, 7.5)
        footer = f"Prepared by {b.msp}" if b.msp else "Prepared with PatchDesk"
        footer += f" · generated {b.generated}"
        self.styles.coverage.draw(canv, MARGIN, MARGIN + 1 * mm,
                                  _clip(clean_text(footer), self.styles.fonts.regular, 7.5,
                                        (right - MARGIN) * 0.7),
                                  self.styles.fonts.regular, 7.5)
        label = f"Page {canv.getPageNumber()} of "
        canv.setFont(self.styles.fonts.bold, 7.5)
        width = pdfmetrics.stringWidth(label, self.styles.fonts.bold, 7.5)
        pages_w = pdfmetrics.stringWidth("0000", self.styles.fonts.bold, 7.5)
        canv.drawString(right - width - pages_w, MARGIN + 1 * mm, label)
        canv.translate(right - pages_w, MARGIN + 1 * mm)
        canv.doForm(self.PAGES_FORM)
        canv.restoreState()
        self.last_page = max(self.last_page, canv.getPageNumber())

    # -- progress, outline and contents ----------------------------------------------------
    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Heading):
            key = f"h{len(self.toc_entries)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.plain, key, flowable.level, closed=True)
            if flowable.toc:
                self.toc_entries.append((flowable.level, flowable.plain, self.page, key))
        self.done_weight += flowable_weight(flowable)
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        if self.progress is not None:
            self.progress(Progress(min(self.done_weight, self.total_weight), self.total_weight,
                                   f"page {self.page}"))

    def _endBuild(self) -> None:
        self._doSave = 0
        super()._endBuild()
        self._draw_forms()
        self.canv.save()

    def _draw_forms(self) -> None:
        canv = self.canv
        fonts = self.styles.fonts
        canv.beginForm(self.PAGES_FORM, 0, -2, 40, 10)
        canv.setFont(fonts.bold, 7.5)
        canv.setFillColor(MUTED)
        canv.drawString(0, 0, str(self.last_page))
        canv.endForm()
        width = A4[0] - 2 * MARGIN
        height = A4[1]
        canv.beginForm(TocPlaceholder.FORM, 0, -height, width, 0)
        y = -4.0
        for level, text, page, _key in self.toc_entries:
            size = 11 if level == 0 else 9.5
            font = fonts.bold if level == 0 else fonts.regular
            indent = 0 if level == 0 else 8 * mm
            y -= 20 if level == 0 else 15
            canv.setFont(font, size)
            canv.setFillColor(TEXT if level == 0 else MUTED)
            num = str(page)
            num_w = pdfmetrics.stringWidth(num, font, size)
            label = _clip(clean_text(text, not fonts.unicode), font, size,
                          width - indent - num_w - 30)
            canv.drawString(indent, y, label)
            canv.drawRightString(width, y, num)
            lead_from = indent + pdfmetrics.stringWidth(label, font, size) + 6
            canv.setStrokeColor(colors.HexColor("#B8C2CF"))
            canv.setDash(1, 2)
            canv.line(lead_from, y + 2, width - num_w - 6, y + 2)
            canv.setDash()
        canv.endForm()


def glyphs_note(styles: Styles, branding: Branding) -> list[Flowable]:
    """The "glyphs missing" note closing a report whose text has characters none of its
    fonts can draw ([14]): they would print as blanks or "?", so the report says so and
    names them. [] when every character can be drawn."""
    for text in (branding.client, branding.site_name, branding.msp, branding.address):
        styles.coverage.runs(clean_text(text))  # drawn on the page templates
    if not styles.coverage.missing:
        return []
    count = len(styles.coverage.missing)
    return [Paragraph("Glyphs missing", styles.h2),
            Paragraph(escape(
                f"This report's fonts cannot draw {count} character(s) of its text: "
                f"{styles.coverage.missing_text()}. They print as blanks or \"?\". Install a "
                "font that has them (for Chinese, Japanese or Korean text: fonts-noto-cjk, "
                "fonts-wqy-zenhei or fonts-droid-fallback) and generate the report again."),
                styles.note)]


def _clip(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def flowable_weight(flowable: Flowable) -> int:
    """Progress units of a flowable: table rows for a table (its page parts add up)."""
    if isinstance(flowable, DataTable):
        return max(1, len(flowable.rows))
    return 1


def story_weight(story: Sequence[Flowable]) -> int:
    """Progress units of a whole story."""
    return sum(flowable_weight(f) for f in story)


def render(story_builder: Callable[[Styles], list[Flowable]], target: Path | str | Any,
           branding: Branding, *, progress: ProgressCallback | None = None,
           cancel: CancelToken | None = None) -> int:
    """Lay out a story and write the PDF; return the page count.

    Args:
        story_builder: makes the flowables from the styles.
        target: a path or a binary file object.
        branding: header, footer and cover text.
        progress: progress units (table rows, other flowables) done / total.
        cancel: checked after every flowable.
    """
    styles = Styles(register_fonts())
    story = story_builder(styles)
    story += glyphs_note(styles, branding)
    doc = ReportDocument(str(target) if isinstance(target, Path) else target, branding,
                         styles, total_weight=story_weight(story), progress=progress,
                         cancel=cancel)
    doc.build(story)
    return doc.last_page
