"""Charts of the executive summary (reportlab.graphics drawings)."""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors

from app.reports.table import clean_text

SEVERITY_COLOURS = {
    "critical": colors.HexColor("#B71C1C"),
    "important": colors.HexColor("#E65100"),
    "moderate": colors.HexColor("#F9A825"),
    "low": colors.HexColor("#7CB342"),
    "unknown": colors.HexColor("#90A4AE"),
}
PALETTE = [colors.HexColor(c) for c in ("#1F3A5F", "#3E7CB1", "#81A4CD", "#DBE4EE",
                                        "#F17300", "#54494B", "#9BC53D", "#C3423F")]


def _label(text: str, limit: int = 26) -> str:
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(d: Drawing, text: str, font: str, width: float, height: float) -> None:
    d.add(String(0, height - 11, text, fontName=font, fontSize=9.5,
                 fillColor=colors.HexColor("#1F3A5F")))


def bar_chart(title: str, items: Sequence[tuple[str, int]], font: str, bold: str, *,
              width: float = 240, height: float = 150,
              bar_colours: Sequence[object] | None = None) -> Drawing:
    """A horizontal bar chart with a title and a value at the end of each bar."""
    d = Drawing(width, height)
    _title(d, title, bold, width, height)
    if not items:
        d.add(String(0, height / 2, "nothing to show", fontName=font, fontSize=8,
                     fillColor=colors.grey))
        return d
    chart = HorizontalBarChart()
    chart.x, chart.y = 95, 8
    chart.width, chart.height = width - 120, height - 30
    values = [v for _, v in items][::-1]
    chart.data = [values]
    chart.categoryAxis.categoryNames = [_label(n) for n, _ in items][::-1]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.strokeColor = colors.HexColor("#C9D2DE")
    chart.valueAxis.valueMin = 0
    chart.valueAxis.visible = False
    chart.valueAxis.valueMax = max(values) * 1.15 or 1
    chart.bars.strokeColor = None
    chart.bars[0].fillColor = colors.HexColor("#3E7CB1")
    if bar_colours is not None:
        for i, colour in enumerate(list(bar_colours)[::-1]):
            chart.bars[(0, i)].fillColor = colour
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    chart.barWidth = 8
    d.add(chart)
    return d


def pie_chart(title: str, items: Sequence[tuple[str, int]], font: str, bold: str, *,
              width: float = 240, height: float = 150) -> Drawing:
    """A pie with a legend of name and count."""
    d = Drawing(width, height)
    _title(d, title, bold, width, height)
    items = [(n, v) for n, v in items if v > 0]
    if not items:
        d.add(String(0, height / 2, "nothing to show", fontName=font, fontSize=8,
                     fillColor=colors.grey))
        return d
    pie = Pie()
    size = min(height - 30, width / 2 - 10)
    pie.x, pie.y = 5, (height - 20 - size) / 2
    pie.width = pie.height = size
    pie.data = [v for _, v in items]
    pie.simpleLabels = 1
    pie.labels = None
    pie.slices.strokeColor = colors.white
    pie.slices.strokeWidth = 1
    for i in range(len(items)):
        pie.slices[i].fillColor = PALETTE[i % len(PALETTE)]
    d.add(pie)
    y = height - 28
    for i, (name, value) in enumerate(items[:8]):
        d.add(Rect(size + 20, y, 7, 7, fillColor=PALETTE[i % len(PALETTE)], strokeColor=None))
        d.add(String(size + 31, y, f"{_label(name, 27)}  {value:,}", fontName=font,
                     fontSize=7.5))
        y -= 12
    return d


def trend_chart(title: str, points: Sequence[tuple[str, float]], font: str, bold: str, *,
                width: float = 480, height: float = 140) -> Drawing:
    """Compliance % over the site's reports (a line with markers)."""
    d = Drawing(width, height)
    _title(d, title, bold, width, height)
    chart = HorizontalLineChart()
    chart.x, chart.y = 30, 18
    chart.width, chart.height = width - 40, height - 40
    chart.data = [[v for _, v in points]]
    chart.categoryAxis.categoryNames = [_label(n, 12) for n, _ in points]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.valueAxis.valueStep = 25
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d%%"
    chart.lines[0].strokeColor = colors.HexColor("#1F3A5F")
    chart.lines[0].strokeWidth = 1.5
    from reportlab.graphics.widgets.markers import makeMarker

    chart.lines[0].symbol = makeMarker("FilledCircle", size=4)
    d.add(chart)
    return d
