"""A small line plot drawn with QPainter (no matplotlib), for metric curves in a dock."""

from __future__ import annotations

import math
from collections.abc import Iterable

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget


class LinePlot(QWidget):
    """A small line plot drawn with QPainter (no matplotlib): series of (x, y) points, a
    vertical marker, axis labels and a legend. Enough for metric curves in a dock."""

    COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8")

    def __init__(self, title: str = "", xlabel: str = "", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.xlabel = xlabel
        self.series: dict[str, tuple[list[float], list[float], str]] = {}
        self.marker: float | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def set_series(self, name: str, xs: Iterable[float], ys: Iterable[float],
                   color: str | None = None) -> None:
        color = color or self.COLORS[len(self.series) % len(self.COLORS)]
        if name in self.series:
            color = color if color else self.series[name][2]
        self.series[name] = ([float(x) for x in xs], [float(y) for y in ys], color)
        self.update()

    def append(self, name: str, x: float, y: float, color: str | None = None) -> None:
        if name not in self.series:
            self.set_series(name, [], [], color)
        xs, ys, _ = self.series[name]
        xs.append(float(x))
        ys.append(float(y))
        self.update()

    def clear(self) -> None:
        self.series.clear()
        self.marker = None
        self.update()

    def set_marker(self, x: float | None) -> None:
        self.marker = x
        self.update()

    def _ranges(self):
        xs = [x for s in self.series.values() for x in s[0]]
        ys = [y for s in self.series.values() for y in s[1] if math.isfinite(y)]
        if not xs or not ys:
            return None
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        if y1 == y0:
            pad = abs(y0) * 0.05 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        pad = (y1 - y0) * 0.08
        return x0, x1, y0 - pad, y1 + pad

    def paintEvent(self, event):  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        fg = self.palette().color(self.foregroundRole())
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        fm = painter.fontMetrics()
        w, h = self.width(), self.height()
        left, right, top, bottom = fm.horizontalAdvance("-000.00") + 6, 8, fm.height() + 6, \
            fm.height() * 2 + 6
        plot = QRectF(left, top, max(10, w - left - right), max(10, h - top - bottom))
        painter.setPen(QPen(fg, 1))
        painter.drawText(QRectF(0, 0, w, fm.height() + 4), Qt.AlignHCenter, self.title)
        painter.drawRect(plot)
        ranges = self._ranges()
        if ranges is None:
            painter.drawText(plot, Qt.AlignCenter, "no data yet")
            painter.end()
            return
        x0, x1, y0, y1 = ranges

        def to_px(x, y):
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        for value in (y0, (y0 + y1) / 2, y1):
            p = to_px(x0, value)
            painter.drawText(QRectF(0, p.y() - fm.height() / 2, left - 4, fm.height()),
                             Qt.AlignRight | Qt.AlignVCenter, f"{value:.4g}")
        for value in (x0, x1):
            p = to_px(value, y0)
            painter.drawText(QRectF(p.x() - 40, plot.bottom() + 2, 80, fm.height()),
                             Qt.AlignHCenter, f"{value:g}")
        painter.drawText(QRectF(plot.left(), plot.bottom() + fm.height(), plot.width(),
                                fm.height() + 4), Qt.AlignHCenter, self.xlabel)
        if self.marker is not None and x0 <= self.marker <= x1:
            pen = QPen(QColor("#9e9e9e"), 1, Qt.DashLine)
            painter.setPen(pen)
            painter.drawLine(to_px(self.marker, y0), to_px(self.marker, y1))
        legend_y = plot.top() + 2
        for name, (xs, ys, color) in self.series.items():
            pen = QPen(QColor(color), 2)
            painter.setPen(pen)
            path = QPainterPath()
            started = False
            for x, y in zip(xs, ys, strict=True):
                if not math.isfinite(y):
                    started = False
                    continue
                p = to_px(x, y)
                if started:
                    path.lineTo(p)
                else:
                    path.moveTo(p)
                    started = True
                if len(xs) <= 60:
                    painter.drawEllipse(p, 1.8, 1.8)
            painter.drawPath(path)
            painter.drawText(QRectF(plot.left() + 6, legend_y, plot.width() - 12, fm.height()),
                             Qt.AlignRight, name)
            legend_y += fm.height()
        painter.end()
