"""A fast, never-overflowing data table for reports: wrapped cells, repeated headers.

reportlab's ``Table`` of ``Paragraph`` cells is the usual tool, but it does not scale to the
tables a patch report has: building a ``Paragraph`` costs ~90 µs (it parses markup), and a
``LongTable`` re-measures every remaining row each time it splits at a page end, so 20,000
rows took over a minute. :class:`DataTable` measures each row once, wraps plain text itself
(at spaces, and inside words longer than the column — hashes, 500-character tokens, CJK
runs), caps a cell at ``max_lines`` so a row always fits on a page, and splits at page ends
with the header repeated. Cell text is never parsed as markup, so ``<``, ``&`` and ``>`` in
host names or notes are drawn as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable

#: Control characters (other than newline and tab) would corrupt a PDF text string.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ELLIPSIS = "…"
NAVY = colors.HexColor("#1F3A5F")
ZEBRA = colors.HexColor("#F2F5F9")
RULE = colors.HexColor("#C9D2DE")
INK = colors.HexColor("#1A1A1A")


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell with its own look: a text colour, a background, bold."""

    text: str
    color: Any = None  # reportlab colour for the text
    fill: Any = None  # reportlab colour for the background
    bold: bool = False


def clean_text(value: object, latin1: bool = False) -> str:
    """Text safe to draw: control characters and lone surrogates replaced.

    Args:
        value: anything; ``None`` becomes "".
        latin1: the font is a standard PDF font that only knows Windows-1252.
    """
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():  # the common case, checked in C
        return text
    text = _CONTROL.sub(" ", text.replace("\t", " "))
    text = text.encode("utf-8", "replace").decode("utf-8")
    if latin1:
        text = text.encode("cp1252", "replace").decode("cp1252")
    return text


def wrap_text(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Split text into lines no wider than ``width`` points.

    Words go to the next line whole when they fit; a word longer than the column is cut
    between characters. More than ``max_lines`` lines are cut, the last ending in "…".
    """
    sw = pdfmetrics.stringWidth
    if "\n" not in text and sw(text, font, size) <= width:
        return [text]
    space = sw(" ", font, size)
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split()
        current, current_w = "", 0.0
        for word in words:
            w = sw(word, font, size)
            if current and current_w + space + w <= width:
                current += " " + word
                current_w += space + w
                continue
            if current:
                lines.append(current)
            if w <= width:
                current, current_w = word, w
            else:
                pieces = _cut_word(word, font, size, width)
                lines.extend(pieces[:-1])
                current = pieces[-1]
                current_w = sw(current, font, size)
            if len(lines) > max_lines:
                break
        lines.append(current)
        if len(lines) > max_lines:
            break
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and sw(last + ELLIPSIS, font, size) > width:
            last = last[:-1]
        lines[-1] = last + ELLIPSIS
    return lines


def _cut_word(word: str, font: str, size: float, width: float) -> list[str]:
    pieces: list[str] = []
    start, used = 0, 0.0
    for i, ch in enumerate(word):
        w = pdfmetrics.stringWidth(ch, font, size)
        if used + w > width and i > start:
            pieces.append(word[start:i])
            start, used = i, 0.0
        used += w
    pieces.append(word[start:])
    return pieces


@dataclass(frozen=True, slots=True)
class TableStyle:
    """Fonts and colours of a data table."""

    font: str
    bold_font: str
    size: float = 7.5
    leading: float = 9.2
    pad_x: float = 3.0
    pad_y: float = 2.2
    header_fill: Any = NAVY
    header_text: Any = colors.white
    zebra: Any = ZEBRA
    rule: Any = RULE
    text: Any = INK
    latin1: bool = False  # standard fonts: replace what Windows-1252 cannot encode


_Laid = tuple[list[list[list[str]]], list[float]]  # lines per cell per row, row heights


class DataTable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A table of plain-text cells that wraps, never overflows and splits across pages.

    Args:
        header: column titles (repeated at the top of every page the table spans).
        rows: rows of ``str`` or :class:`Cell`.
        weights: relative column widths; the table takes the frame's full width.
        style: fonts and colours.
        align: per column "L" or "R" (default all "L").
        max_lines: most lines a cell shows (the rest is cut with "…").
    """

    def __init__(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str | Cell]],
        weights: Sequence[float],
        style: TableStyle,
        *,
        align: str = "",
        max_lines: int = 30,
        _laid: tuple[float, _Laid, list[list[list[str]]]] | None = None,
    ) -> None:
        super().__init__()
        if len(weights) != len(header):
            raise ValueError("one weight per column")
        self.header = list(header)
        self.rows = rows
        self.weights = list(weights)
        self.style = style
        self.align = align.ljust(len(header), "L")
        self.max_lines = max_lines
        self._laid = _laid
        self.width = 0.0
        self.height = 0.0

    # -- layout --------------------------------------------------------------------------
    def _col_widths(self, avail: float) -> list[float]:
        total = sum(self.weights)
        return [avail * w / total for w in self.weights]

    def _layout(self, avail: float) -> tuple[_Laid, list[list[list[str]]]]:
        if self._laid is not None and abs(self._laid[0] - avail) < 0.01:
            return self._laid[1], self._laid[2]
        st = self.style
        widths = [w - 2 * st.pad_x for w in self._col_widths(avail)]
        head_lines = [wrap_text(clean_text(h, st.latin1), st.bold_font, st.size, w, 3)
                      for h, w in zip(self.header, widths, strict=True)]
        cells: list[list[list[str]]] = []
        heights: list[float] = []
        for row in self.rows:
            laid_row = []
            tallest = 1
            for value, w in zip(row, widths, strict=True):
                bold = isinstance(value, Cell) and value.bold
                text = clean_text(value.text if isinstance(value, Cell) else value, st.latin1)
                lines = wrap_text(text, st.bold_font if bold else st.font, st.size, w,
                                  self.max_lines)
                laid_row.append(lines)
                tallest = max(tallest, len(lines))
            cells.append(laid_row)
            heights.append(tallest * st.leading + 2 * st.pad_y)
        self._laid = (avail, (cells, heights), [head_lines])
        return (cells, heights), [head_lines]

    def _header_height(self, head: list[list[list[str]]]) -> float:
        return max(len(c) for c in head[0]) * self.style.leading + 2 * self.style.pad_y

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        (_cells, heights), head = self._layout(availWidth)
        self.width = availWidth
        self.height = self._header_height(head) + sum(heights)
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        (cells, heights), head = self._layout(availWidth)
        room = availHeight - self._header_height(head)
        used, count = 0.0, 0
        for h in heights:
            if used + h > room:
                break
            used += h
            count += 1
        if count == 0 or count == len(heights):
            return []
        laid_a = (availWidth, (cells[:count], heights[:count]), head)
        laid_b = (availWidth, (cells[count:], heights[count:]), head)
        first = DataTable(self.header, self.rows[:count], self.weights, self.style,
                          align=self.align, max_lines=self.max_lines, _laid=laid_a)
        rest = DataTable(self.header, self.rows[count:], self.weights, self.style,
                         align=self.align, max_lines=self.max_lines, _laid=laid_b)
        return [first, rest]

    # -- drawing -------------------------------------------------------------------------
    def draw(self) -> None:
        (cells, heights), head = self._layout(self.width)
        st = self.style
        canv = self.canv
        widths = self._col_widths(self.width)
        xs = [sum(widths[:i]) for i in range(len(widths))]
        head_h = self._header_height(head)
        top = self.height
        # Backgrounds first, then rules, then all text in one text object (fast).
        canv.saveState()
        canv.setFillColor(st.header_fill)
        canv.rect(0, top - head_h, self.width, head_h, stroke=0, fill=1)
        y = top - head_h
        for index, h in enumerate(heights):
            row = self.rows[index]
            if index % 2 == 1:
                canv.setFillColor(st.zebra)
                canv.rect(0, y - h, self.width, h, stroke=0, fill=1)
            for col, value in enumerate(row):
                if isinstance(value, Cell) and value.fill is not None:
                    canv.setFillColor(value.fill)
                    canv.rect(xs[col], y - h, widths[col], h, stroke=0, fill=1)
            y -= h
        canv.setStrokeColor(st.rule)
        canv.setLineWidth(0.4)
        y = top - head_h
        for h in heights:
            y -= h
            canv.line(0, y, self.width, y)
        text = canv.beginText()
        self._pen: tuple[Any, Any] = (None, None)
        self._text_row(text, head[0], top, head_h, xs, widths, header=True, row=None)
        y = top - head_h
        for index, h in enumerate(heights):
            self._text_row(text, cells[index], y, h, xs, widths, header=False,
                           row=self.rows[index])
            y -= h
        canv.drawText(text)
        canv.restoreState()

    def _text_row(self, text: Any, lines_per_cell: list[list[str]], y_top: float, _h: float,
                  xs: list[float], widths: list[float], *, header: bool,
                  row: Sequence[str | Cell] | None) -> None:
        st = self.style
        sw = pdfmetrics.stringWidth
        for col, lines in enumerate(lines_per_cell):
            value = row[col] if row is not None else None
            bold = header or (isinstance(value, Cell) and value.bold)
            font = st.bold_font if bold else st.font
            color = st.header_text if header else (
                value.color if isinstance(value, Cell) and value.color is not None
                else st.text)
            if self._pen != (font, color):  # switching costs; most cells share the pen
                if self._pen[0] != font:
                    text.setFont(font, st.size, st.leading)
                if self._pen[1] is not color:
                    text.setFillColor(color)
                self._pen = (font, color)
            baseline = y_top - st.pad_y - st.size
            if not lines[0] and len(lines) == 1:
                continue
            for line in lines:
                if self.align[col] == "R":
                    x = xs[col] + widths[col] - st.pad_x - sw(line, font, st.size)
                else:
                    x = xs[col] + st.pad_x
                text.setTextOrigin(x, baseline)
                text.textOut(line)
                baseline -= st.leading
