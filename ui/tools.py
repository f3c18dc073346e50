"""Painting tools. Each turns pointer positions (image coordinates, floats) into a region edit of one layer.

Pixel rule for every shape: a pixel belongs to the shape when its centre (x + 0.5, y + 0.5) does. Masks are
boolean, so the label layer is never anti-aliased or blended. A brush stroke is the union of capsules between
consecutive pointer positions, so it stays continuous however fast the pointer moves. Each press..release is one
`Stroke`, i.e. one undo command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF

from ui.document_state import LABELS, SKETCH, DocumentState, Stroke

Point = tuple[float, float]
Region = tuple[int, int, np.ndarray]  # x0, y0, boolean mask


# --- geometry: pure numpy --------------------------------------------------------------------------------------
def _grid(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    return xs, ys


def _clip(
    bx0: float, by0: float, bx1: float, by1: float, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    h, w = shape
    x0, y0 = max(int(np.floor(bx0)), 0), max(int(np.floor(by0)), 0)
    x1, y1 = min(int(np.ceil(bx1)) + 1, w), min(int(np.ceil(by1)) + 1, h)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _region(box: tuple[int, int, int, int] | None, mask_of) -> Region | None:
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mask = mask_of(*_grid(x0, y0, x1, y1))
    return (x0, y0, mask) if mask.any() else None


def capsule(p0: Point, p1: Point, radius: float, shape: tuple[int, int]) -> Region | None:
    """Pixels within `radius` of the segment p0-p1 (a round brush dragged from p0 to p1)."""
    (ax, ay), (bx, by) = p0, p1
    box = _clip(min(ax, bx) - radius, min(ay, by) - radius, max(ax, bx) + radius, max(ay, by) + radius, shape)

    def mask_of(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 == 0.0:
            t = np.zeros((1, 1), np.float32)
        else:
            t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
        ex, ey = xs - (ax + t * dx), ys - (ay + t * dy)
        return ex * ex + ey * ey <= radius * radius

    return _region(box, mask_of)


def rectangle(p0: Point, p1: Point, shape: tuple[int, int]) -> Region | None:
    lx, hx = sorted((p0[0], p1[0]))
    ly, hy = sorted((p0[1], p1[1]))
    box = _clip(lx, ly, hx, hy, shape)
    return _region(box, lambda xs, ys: (xs >= lx) & (xs <= hx) & (ys >= ly) & (ys <= hy))


def ellipse(p0: Point, p1: Point, shape: tuple[int, int]) -> Region | None:
    """The ellipse inscribed in the rectangle p0-p1."""
    lx, hx = sorted((p0[0], p1[0]))
    ly, hy = sorted((p0[1], p1[1]))
    cx, cy, rx, ry = (lx + hx) / 2, (ly + hy) / 2, (hx - lx) / 2, (hy - ly) / 2
    if rx <= 0 or ry <= 0:
        return None
    box = _clip(lx, ly, hx, hy, shape)
    return _region(box, lambda xs, ys: ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0)


def polygon(points: Sequence[Point], shape: tuple[int, int]) -> Region | None:
    """Even-odd fill of a closed polygon, one scanline per pixel row."""
    if len(points) < 3:
        return None
    pts = np.asarray(points, dtype=np.float64)
    box = _clip(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max(), shape)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    ax, ay = pts[:, 0], pts[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    xs = np.arange(x0, x1) + 0.5
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for row, yc in enumerate(np.arange(y0, y1) + 0.5):
        crosses = (ay <= yc) != (by <= yc)  # half-open rule: a vertex on the scanline counts once
        if not crosses.any():
            continue
        xi = ax[crosses] + (yc - ay[crosses]) * (bx[crosses] - ax[crosses]) / (by[crosses] - ay[crosses])
        inside = (xs[:, None] > xi[None, :]).sum(axis=1) % 2 == 1
        mask[row] = inside
    return (x0, y0, mask) if mask.any() else None


def flood(array: np.ndarray, x: int, y: int) -> Region | None:
    """The 4-connected area of pixels equal to array[y, x]."""
    h, w = array.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    mask = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(array.copy(), mask, (int(x), int(y)), 0, 0, 0, flags)
    return (rx, ry, mask[1 + ry : 1 + ry + rh, 1 + rx : 1 + rx + rw].astype(bool))


# --- tools -----------------------------------------------------------------------------------------------------
class ToolHost(Protocol):
    """What a tool needs from the window: the document and the current choices."""

    document: DocumentState

    @property
    def label_value(self) -> int: ...  # index painted on the label layer

    @property
    def background_value(self) -> int: ...  # index the label eraser paints

    @property
    def brush_size(self) -> float: ...

    @property
    def pen_size(self) -> float: ...

    def pick_label(self, value: int) -> None: ...


@dataclass(frozen=True)
class ToolInfo:
    key: str
    title: str
    shortcut: str
    layer: str
    sized: bool  # whether [ and ] change its size


class Tool:
    info: ToolInfo
    has_overlay = False  # draws a preview while dragging (see draw_overlay)

    def __init__(self, host: ToolHost) -> None:
        self.host = host
        self.stroke: Stroke | None = None

    @property
    def active(self) -> bool:
        return self.stroke is not None

    def press(self, p: Point) -> None:
        self.stroke = self.host.document.begin_stroke(self.info.layer)

    def move(self, p: Point) -> None:
        pass

    def release(self, p: Point) -> None:
        if self.stroke is not None:
            self.stroke.finish(self.info.title)
            self.stroke = None

    def cancel(self) -> None:
        if self.stroke is not None:
            self.stroke.cancel()
            self.stroke = None

    def draw_overlay(self, painter: QPainter, scale: float) -> None:
        """Preview of a shape being dragged, in image coordinates (the painter is already transformed)."""

    def _write(self, region: Region | None, value: int) -> None:
        if region is not None and self.stroke is not None:
            self.stroke.write(region[0], region[1], region[2], value)


class _Brush(Tool):
    def _value(self) -> int:
        raise NotImplementedError

    def _radius(self) -> float:
        return self.host.brush_size / 2

    def press(self, p: Point) -> None:
        super().press(p)
        self._last = p
        self._dab(p, p)

    def move(self, p: Point) -> None:
        if self.stroke is not None:
            self._dab(self._last, p)
            self._last = p

    def _dab(self, a: Point, b: Point) -> None:
        self._write(capsule(a, b, self._radius(), self.host.document.labels.shape), self._value())


class BrushTool(_Brush):
    info = ToolInfo("brush", "Brush", "B", LABELS, True)

    def _value(self) -> int:
        return self.host.label_value


class EraserTool(_Brush):
    info = ToolInfo("eraser", "Eraser", "E", LABELS, True)

    def _value(self) -> int:
        return self.host.background_value


class PenTool(_Brush):
    info = ToolInfo("pen", "Sketch pen", "P", SKETCH, True)

    def _radius(self) -> float:
        return self.host.pen_size / 2

    def _value(self) -> int:
        return 255


class SketchEraserTool(PenTool):
    info = ToolInfo("sketch_eraser", "Sketch eraser", "Shift+P", SKETCH, True)

    def _radius(self) -> float:
        return max(self.host.brush_size, self.host.pen_size) / 2

    def _value(self) -> int:
        return 0


class FillTool(Tool):
    info = ToolInfo("fill", "Fill", "G", LABELS, False)

    def press(self, p: Point) -> None:
        super().press(p)
        self._write(flood(self.host.document.labels, int(np.floor(p[0])), int(np.floor(p[1]))), self.host.label_value)
        self.release(p)


class EyedropperTool(Tool):
    info = ToolInfo("eyedropper", "Eyedropper", "I", LABELS, False)

    def press(self, p: Point) -> None:
        self._pick(p)

    def move(self, p: Point) -> None:
        self._pick(p)

    def release(self, p: Point) -> None:
        pass

    def _pick(self, p: Point) -> None:
        labels = self.host.document.labels
        x, y = int(np.floor(p[0])), int(np.floor(p[1]))
        if 0 <= x < labels.shape[1] and 0 <= y < labels.shape[0]:
            self.host.pick_label(int(labels[y, x]))


def _overlay_pen(scale: float) -> QPen:
    pen = QPen(QColor(255, 255, 255), 1.5 / scale, Qt.PenStyle.DashLine)
    pen.setCosmetic(False)
    return pen


class _Shape(Tool):
    """Press sets the first corner, dragging shows the outline, release paints it."""

    has_overlay = True

    def press(self, p: Point) -> None:
        super().press(p)
        self._start = self._end = p

    def move(self, p: Point) -> None:
        if self.stroke is not None:
            self._end = p

    def release(self, p: Point) -> None:
        if self.stroke is None:
            return
        self._end = p
        self._write(self._region(self.host.document.labels.shape), self.host.label_value)
        super().release(p)

    def _region(self, shape: tuple[int, int]) -> Region | None:
        raise NotImplementedError

    def _rect(self) -> QRectF:
        return QRectF(QPointF(*self._start), QPointF(*self._end)).normalized()

    def draw_overlay(self, painter: QPainter, scale: float) -> None:
        if self.stroke is None:
            return
        painter.setPen(_overlay_pen(scale))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        self._outline(painter)

    def _outline(self, painter: QPainter) -> None:
        raise NotImplementedError


class LineTool(_Shape):
    info = ToolInfo("line", "Line", "L", LABELS, True)

    def _region(self, shape: tuple[int, int]) -> Region | None:
        return capsule(self._start, self._end, self.host.brush_size / 2, shape)

    def _outline(self, painter: QPainter) -> None:
        pen = painter.pen()
        pen.setWidthF(max(self.host.brush_size, 1.0))
        pen.setStyle(Qt.PenStyle.SolidLine)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setColor(QColor(255, 255, 255, 120))
        painter.setPen(pen)
        painter.drawLine(QPointF(*self._start), QPointF(*self._end))


class RectangleTool(_Shape):
    info = ToolInfo("rectangle", "Rectangle", "R", LABELS, False)

    def _region(self, shape: tuple[int, int]) -> Region | None:
        return rectangle(self._start, self._end, shape)

    def _outline(self, painter: QPainter) -> None:
        painter.drawRect(self._rect())


class EllipseTool(_Shape):
    info = ToolInfo("ellipse", "Ellipse", "O", LABELS, False)

    def _region(self, shape: tuple[int, int]) -> Region | None:
        return ellipse(self._start, self._end, shape)

    def _outline(self, painter: QPainter) -> None:
        painter.drawEllipse(self._rect())


class LassoTool(Tool):
    """Drag around an area; release fills the enclosed polygon and its outline."""

    info = ToolInfo("lasso", "Lasso fill", "A", LABELS, False)
    has_overlay = True

    def press(self, p: Point) -> None:
        super().press(p)
        self._points = [p]

    def move(self, p: Point) -> None:
        if self.stroke is not None and p != self._points[-1]:
            self._points.append(p)

    def release(self, p: Point) -> None:
        if self.stroke is None:
            return
        self.move(p)
        shape, value = self.host.document.labels.shape, self.host.label_value
        self._write(polygon(self._points, shape), value)
        # The traced outline belongs to the area too (as a rectangle's border does): without it, the pixels the
        # pointer went over would depend on which side of their centre the path passed.
        closed = [*self._points, self._points[0]]
        for a, b in zip(closed, closed[1:], strict=False):
            self._write(capsule(a, b, 0.5, shape), value)
        super().release(p)

    def draw_overlay(self, painter: QPainter, scale: float) -> None:
        if self.stroke is None or len(self._points) < 2:
            return
        path = QPainterPath()
        path.addPolygon(QPolygonF([QPointF(*pt) for pt in self._points]))
        path.closeSubpath()
        painter.setPen(_overlay_pen(scale))
        painter.setBrush(QColor(255, 255, 255, 50))
        painter.drawPath(path)


TOOL_CLASSES: tuple[type[Tool], ...] = (
    BrushTool,
    EraserTool,
    FillTool,
    LineTool,
    RectangleTool,
    EllipseTool,
    LassoTool,
    EyedropperTool,
    PenTool,
    SketchEraserTool,
)
