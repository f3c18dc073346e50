"""Tool icons drawn with QPainter, so the app ships no image files and they stay sharp at any scale."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

SIZE = 64
FG = QColor(225, 228, 232)
ACCENT = QColor(90, 170, 255)


def _pen(width: float = 4.0, colour: QColor = FG) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _brush(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawLine(QPointF(46, 10), QPointF(28, 34))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(ACCENT)
    p.drawEllipse(QPointF(21, 43), 12, 12)


def _eraser(p: QPainter) -> None:
    p.translate(32, 32)
    p.rotate(-40)
    p.setPen(_pen(3))
    p.setBrush(QColor(240, 130, 150))
    p.drawRoundedRect(QRectF(-20, -10, 24, 20), 3, 3)
    p.setBrush(QColor(235, 235, 235))
    p.drawRoundedRect(QRectF(4, -10, 16, 20), 3, 3)


def _fill(p: QPainter) -> None:
    p.setPen(_pen(3.5))
    p.setBrush(QColor(80, 84, 90))
    p.drawPolygon(QPolygonF([QPointF(12, 30), QPointF(32, 10), QPointF(50, 28), QPointF(30, 48)]))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(ACCENT)
    path = QPainterPath()
    path.moveTo(52, 34)
    path.cubicTo(46, 46, 48, 54, 53, 54)
    path.cubicTo(58, 54, 60, 46, 52, 34)
    p.drawPath(path)


def _line(p: QPainter) -> None:
    p.setPen(_pen(5))
    p.drawLine(QPointF(12, 52), QPointF(52, 12))


def _rectangle(p: QPainter) -> None:
    p.setPen(_pen(3.5))
    p.setBrush(QColor(90, 170, 255, 110))
    p.drawRect(QRectF(10, 16, 44, 32))


def _ellipse(p: QPainter) -> None:
    p.setPen(_pen(3.5))
    p.setBrush(QColor(90, 170, 255, 110))
    p.drawEllipse(QRectF(8, 14, 48, 36))


def _lasso(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(14, 40)
    path.cubicTo(4, 20, 30, 6, 48, 14)
    path.cubicTo(62, 22, 50, 44, 30, 42)
    path.cubicTo(22, 41, 20, 48, 24, 56)
    p.setPen(_pen(3.5))
    p.setBrush(QColor(90, 170, 255, 90))
    p.drawPath(path)


def _eyedropper(p: QPainter) -> None:
    p.translate(32, 32)
    p.rotate(45)
    p.setPen(_pen(3))
    p.setBrush(QColor(80, 84, 90))
    p.drawRoundedRect(QRectF(-5, -26, 10, 30), 3, 3)
    p.setBrush(ACCENT)
    p.drawPolygon(QPolygonF([QPointF(-5, 4), QPointF(5, 4), QPointF(0, 24)]))


def _pen_tool(p: QPainter) -> None:
    p.translate(32, 32)
    p.rotate(45)
    p.setPen(_pen(3))
    p.setBrush(QColor(235, 235, 235))
    p.drawRect(QRectF(-6, -26, 12, 34))
    p.setBrush(QColor(30, 30, 30))
    p.drawPolygon(QPolygonF([QPointF(-6, 8), QPointF(6, 8), QPointF(0, 24)]))


def _sketch_eraser(p: QPainter) -> None:
    _eraser(p)
    p.resetTransform()
    p.setPen(_pen(3, QColor(30, 30, 30)))
    p.drawLine(QPointF(8, 56), QPointF(28, 56))


def _live(p: QPainter) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(80, 200, 120))
    p.drawPolygon(QPolygonF([QPointF(36, 6), QPointF(14, 36), QPointF(30, 36), QPointF(24, 58), QPointF(50, 26),
                             QPointF(34, 26)]))


def _variation(p: QPainter) -> None:
    p.setPen(_pen(3))
    p.setBrush(QColor(80, 84, 90))
    p.drawRoundedRect(QRectF(10, 10, 44, 44), 8, 8)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(FG)
    for x, y in ((22, 22), (42, 42), (32, 32), (42, 22), (22, 42)):
        p.drawEllipse(QPointF(x, y), 4, 4)


DRAWERS: dict[str, Callable[[QPainter], None]] = {
    "brush": _brush,
    "eraser": _eraser,
    "fill": _fill,
    "line": _line,
    "rectangle": _rectangle,
    "ellipse": _ellipse,
    "lasso": _lasso,
    "eyedropper": _eyedropper,
    "pen": _pen_tool,
    "sketch_eraser": _sketch_eraser,
    "live": _live,
    "variation": _variation,
}


def icon(key: str) -> QIcon:
    pixmap = QPixmap(SIZE, SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    DRAWERS[key](painter)
    painter.end()
    return QIcon(pixmap)
