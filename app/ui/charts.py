"""The dashboard's two charts, drawn with QPainter: missing updates by severity (bars) and
SLA compliance over the site's reports (a line).

They draw the figures the PDF report's executive summary draws
(:meth:`app.services.reports.ReportService.chart_figures`); the colours follow the
application palette, so they read in the light and the dark theme.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from app.ui.qt import (
    QColor,
    QFont,
    QPainter,
    QPaintEvent,
    QPen,
    QPointF,
    QRectF,
    QSize,
    Qt,
    QWidget,
)

#: The report's severity colours (``app.reports.charts.SEVERITY_COLOURS``; a test compares).
SEVERITY_COLOURS = {
    "critical": "#B71C1C",
    "important": "#E65100",
    "moderate": "#F9A825",
    "low": "#7CB342",
    "unknown": "#90A4AE",
}
ACCENT = "#3E7CB1"


class _Chart(QWidget):
    """A titled chart area; subclasses draw below the title."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setObjectName(name)
        self.setAccessibleName(title)
        self.empty_text = "Nothing to show yet."

    def sizeHint(self) -> QSize:
        return QSize(360, 190)

    def minimumSizeHint(self) -> QSize:
        return QSize(220, 150)

    def _begin(self) -> tuple[QPainter, QRectF]:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.setPen(palette.windowText().color())
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        metrics = painter.fontMetrics()
        painter.drawText(QRectF(0, 0, self.width(), metrics.height() + 2),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         self.title)
        painter.setFont(self.font())
        top = metrics.height() + 8
        return painter, QRectF(0, top, self.width(), self.height() - top)

    def _empty(self, painter: QPainter, area: QRectF) -> None:
        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                         self.empty_text)


class BarChart(_Chart):
    """Horizontal bars with a label before and the value after each bar."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(title, name, parent)
        self.items: list[tuple[str, int]] = []
        self.colours: dict[str, str] = {}

    def set_items(self, items: Sequence[tuple[str, int]],
                  colours: dict[str, str] | None = None) -> None:
        """Show these (label, value) bars, coloured by label (the accent otherwise)."""
        self.items = [(str(label), int(value)) for label, value in items]
        self.colours = dict(colours or {})
        tip = "\n".join(f"{label}: {value:,}" for label, value in self.items)
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter, area = self._begin()
        try:
            if not self.items:
                self._empty(painter, area)
                return
            metrics = painter.fontMetrics()
            label_w = max(metrics.horizontalAdvance(label.capitalize())
                          for label, _v in self.items) + 8
            value_w = max(metrics.horizontalAdvance(f"{v:,}") for _l, v in self.items) + 8
            bar_area = max(10.0, area.width() - label_w - value_w)
            top = max(v for _l, v in self.items) or 1
            row_h = min(26.0, area.height() / len(self.items))
            text = self.palette().windowText().color()
            for n, (label, value) in enumerate(self.items):
                y = area.top() + n * row_h
                painter.setPen(text)
                painter.drawText(QRectF(0, y, label_w - 6, row_h),
                                 int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                                 label.capitalize())
                width = bar_area * value / top
                painter.fillRect(QRectF(label_w, y + row_h * 0.18, max(width, 1.0),
                                        row_h * 0.64),
                                 QColor(self.colours.get(label, ACCENT)))
                painter.drawText(QRectF(label_w + width + 4, y, value_w, row_h),
                                 int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                                 f"{value:,}")
        finally:
            painter.end()


class TrendChart(_Chart):
    """A line of percentages (0–100 %) over labelled points, oldest first."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(title, name, parent)
        self.points: list[tuple[str, float]] = []
        self.empty_text = ("The trend appears once a report was written: each report keeps "
                           "its figures.")

    def set_points(self, points: Sequence[tuple[str, float]]) -> None:
        """Show these (label, percent) points."""
        self.points = [(str(label), float(value)) for label, value in points]
        tip = "\n".join(f"{label}: {value:.1f} %" for label, value in self.points)
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter, area = self._begin()
        try:
            if len(self.points) < 2:
                if self.points:
                    self.empty_text = (f"{self.points[-1][1]:.1f} % now; the trend appears "
                                       "after the first report.")
                self._empty(painter, area)
                return
            metrics = painter.fontMetrics()
            left = metrics.horizontalAdvance("100 %") + 8
            bottom = metrics.height() + 6
            plot = QRectF(area.left() + left, area.top() + 4, area.width() - left - 8,
                          area.height() - bottom - 8)
            muted = self.palette().placeholderText().color()
            text = self.palette().windowText().color()
            painter.setPen(QPen(muted, 1, Qt.PenStyle.DotLine))
            for pct in (0, 50, 100):
                y = plot.bottom() - plot.height() * pct / 100
                painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
                painter.setPen(text)
                painter.drawText(QRectF(0, y - metrics.height() / 2, left - 6, metrics.height()),
                                 int(Qt.AlignmentFlag.AlignRight
                                     | Qt.AlignmentFlag.AlignVCenter), f"{pct} %")
                painter.setPen(QPen(muted, 1, Qt.PenStyle.DotLine))
            step = plot.width() / (len(self.points) - 1)
            dots = [QPointF(plot.left() + n * step,
                            plot.bottom() - plot.height() * max(0.0, min(100.0, v)) / 100)
                    for n, (_l, v) in enumerate(self.points)]
            painter.setPen(QPen(QColor(ACCENT), 2))
            for a, b in itertools.pairwise(dots):
                painter.drawLine(a, b)
            painter.setBrush(QColor(ACCENT))
            for dot in dots:
                painter.drawEllipse(dot, 3, 3)
            painter.setPen(text)
            for n in (0, len(self.points) - 1):
                label = self.points[n][0]
                w = metrics.horizontalAdvance(label)
                x = min(max(dots[n].x() - w / 2, plot.left()), plot.right() - w)
                painter.drawText(QRectF(x, plot.bottom() + 4, w + 2, metrics.height()),
                                 int(Qt.AlignmentFlag.AlignLeft), label)
        finally:
            painter.end()
