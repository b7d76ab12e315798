"""Characters the report's fonts can draw ([14]): a non-Latin fallback font taken from the
system when it has one, runs of text the main font lacks drawn in it, and the characters
no font of the report can draw collected for a "glyphs missing" note.

The shipped DejaVu fonts cover Latin, Greek, Cyrillic, arrows and symbols, not Chinese,
Japanese or Korean. A fallback is looked for at well-known paths (Droid Sans Fallback,
WenQuanYi, Noto CJK; Windows' YaHei/SimSun), then among the fonts ``fc-list :lang=zh``
names. reportlab reads TrueType outlines only: a ``.ttc`` collection is opened at its first
subfont (``subfontIndex``), and a CFF-based one (Noto CJK's OpenType) is refused by
reportlab and skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

FALLBACK = "PD-Fallback"

_WINDOWS_FONTS = os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Fonts")

#: Well-known places of fonts with CJK glyphs (path, subfont index), best first.
FALLBACK_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),  # fonts-droid-fallback
    ("/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf", 0),  # Fedora
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # fonts-wqy-zenhei
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # fonts-wqy-microhei
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    (os.path.join(_WINDOWS_FONTS, "msyh.ttc"), 0),
    (os.path.join(_WINDOWS_FONTS, "simsun.ttc"), 0),
)


def _fc_list() -> list[tuple[str, int]]:
    """Fonts fontconfig says cover Chinese (path, index); [] without fontconfig."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run([fc_list, ":lang=zh", "-f", "%{file}\t%{index}\n"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        path, _, index = line.partition("\t")
        if path:
            found.append((path, int(index) if index.strip().isdigit() else 0))
    # TrueType files first: reportlab cannot read CFF outlines (most .otf).
    return sorted(found, key=lambda item: not item[0].lower().endswith((".ttf", ".ttc")))


def fallback_candidates() -> Iterator[tuple[str, int]]:
    """Where a fallback font is looked for, in order (existing files only)."""
    seen: set[str] = set()
    for path, index in (*FALLBACK_CANDIDATES, *_fc_list()):
        if path not in seen and Path(path).is_file():
            seen.add(path)
            yield path, index


@cache
def register_fallback() -> str:
    """Register the first usable fallback font as :data:`FALLBACK`; "" when there is none."""
    for path, index in fallback_candidates():
        try:
            pdfmetrics.registerFont(TTFont(FALLBACK, path, subfontIndex=index))
        except Exception:  # CFF outlines, a damaged file: try the next one
            log.info("cannot use %s as the reports' fallback font", path, exc_info=True)
            continue
        log.info("reports' fallback font: %s", path)
        return FALLBACK
    return ""


def _codepoints(font: str) -> frozenset[int] | None:
    """The characters a registered font has (None: a standard PDF font, Windows-1252)."""
    face = getattr(pdfmetrics.getFont(font), "face", None)
    widths = getattr(face, "charWidths", None)
    return frozenset(widths) if isinstance(widths, dict) else None


def _drawable(ch: str) -> bool:
    """Characters that need no glyph (spaces, controls)."""
    return ch.isspace() or not ch.isprintable()


class Coverage:
    """What the report's fonts can draw; collects what none of them can.

    Args:
        regular: the main font (its bold and condensed faces cover the same characters).
        fallback: the registered fallback font, or "".
    """

    def __init__(self, regular: str, fallback: str = "") -> None:
        self.fallback = fallback
        self._main = _codepoints(regular)
        self._extra = (_codepoints(fallback) or frozenset()) if fallback else frozenset()
        self.missing: set[str] = set()

    def in_main(self, ch: str) -> bool:
        """The main fonts draw ``ch``."""
        if self._main is None:
            try:
                ch.encode("cp1252")
            except UnicodeEncodeError:
                return False
            return True
        return ord(ch) in self._main

    def in_fallback(self, ch: str) -> bool:
        """The fallback font draws ``ch``."""
        return ord(ch) in self._extra

    def runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` cut into (font, run): the main font's runs have font "", the fallback's
        :attr:`fallback`; characters no font has are noted in :attr:`missing` (and stay in
        the main font's run)."""
        out: list[tuple[str, str]] = []
        for ch in text:
            if _drawable(ch) or self.in_main(ch):
                font = ""
            elif self.in_fallback(ch):
                font = self.fallback
            else:
                self.missing.add(ch)
                font = ""
            if out and out[-1][0] == font:
                out[-1] = (font, out[-1][1] + ch)
            else:
                out.append((font, ch))
        return out

    def _all_main(self, text: str) -> bool:
        """Every character of ``text`` is in the main font (checked in C: the common case)."""
        if text.isascii():
            return True
        return self._main is not None and self._main.issuperset(map(ord, text))

    def note(self, text: str) -> None:
        """Note the characters of text drawn in the main fonts only (tables, canvas)."""
        if self._all_main(text):
            return
        for ch in text:
            if not (_drawable(ch) or self.in_main(ch)):
                self.missing.add(ch)

    def notes(self, values: Iterable[object]) -> None:
        """:meth:`note` every value's text (table cells: ``Cell`` objects or values)."""
        for value in values:
            text = getattr(value, "text", value)
            if text is not None:
                self.note(str(text))

    def _main_run(self, run: str) -> str:
        # A standard PDF font (no TrueType font found) prints Windows-1252 only.
        return run if self._main is not None else run.encode("cp1252", "replace").decode(
            "cp1252")

    def markup(self, text: str) -> str:
        """Paragraph markup for plain ``text``: escaped, the fallback's runs in its font."""
        if self._all_main(text):
            return escape(text)
        return "".join(escape(self._main_run(run)) if not font
                       else f'<font name="{font}">{escape(run)}</font>'
                       for font, run in self.runs(text))

    def draw(self, canv: object, x: float, y: float, text: str, font: str,
             size: float) -> float:
        """Draw ``text`` on a canvas from (x, y), fallback runs in the fallback font;
        returns the width drawn."""
        start = x
        for run_font, run in self.runs(text):
            face = run_font or font
            run = run if run_font else self._main_run(run)
            canv.setFont(face, size)  # type: ignore[attr-defined]
            canv.drawString(x, y, run)  # type: ignore[attr-defined]
            x += pdfmetrics.stringWidth(run, face, size)
        canv.setFont(font, size)  # type: ignore[attr-defined]
        return x - start

    def missing_text(self) -> str:
        """The missing characters as code points: "U+4E2D U+6587" (sorted)."""
        return " ".join(f"U+{ord(ch):04X}" for ch in sorted(self.missing))
