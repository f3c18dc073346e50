"""The painting surface: shows both layers, turns mouse input into tool calls, zooms and pans.

The displayed picture is a cached RGBA buffer recomposed only inside changed rectangles, so a brush dab costs a
few hundred pixels of work however large the canvas is. Labels are drawn with nearest sampling: what you see is
exactly the index map the model gets.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui.document_state import DocumentState
from ui.tools import Tool

PAPER = np.array([255, 255, 255], np.float32)
INK = np.array([24, 24, 28], np.float32)
UNKNOWN = (255, 0, 255)
ZOOM_MIN, ZOOM_MAX = 0.05, 32.0


class Canvas(QWidget):
    cursorMoved = Signal(int, int)  # image pixel under the pointer (-1, -1 outside)
    viewChanged = Signal(float)  # zoom

    def __init__(self, document: DocumentState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.tool: Tool | None = None
        self.brush_size_for_cursor = 0.0
        self.zoom = 1.0
        self.offset = QPointF(0, 0)
        self._auto_fit = True  # follow the widget's size until the user zooms or pans
        self._pan_from: QPointF | None = None
        self._space = False
        self._hover: QPointF | None = None
        self.label_opacity = 1.0
        self.sketch_opacity = 1.0
        self.labels_visible = True
        self.sketch_visible = True
        self._colours = np.zeros((256, 3), np.uint8)
        self._lut = np.zeros((256, 3), np.float32)
        self.document = document
        self._attach(document)

    # --- document & display buffer ---------------------------------------------------------------------------
    def _attach(self, document: DocumentState) -> None:
        document.changed.connect(self._on_changed)
        document.layersReplaced.connect(self._on_replaced)
        self._on_replaced()

    def set_document(self, document: DocumentState) -> None:
        self.document.changed.disconnect(self._on_changed)
        self.document.layersReplaced.disconnect(self._on_replaced)
        self.document = document
        self._auto_fit = True
        self._attach(document)

    def set_colours(self, colours: dict[int, tuple[int, int, int]]) -> None:
        """Display colour of each label index."""
        size = max(256, max(colours, default=0) + 1)
        table = np.empty((size, 3), np.uint8)
        table[:] = UNKNOWN
        for index, rgb in colours.items():
            table[index] = rgb
        self._colours = table
        self._rebuild_lut()

    def set_layer_display(
        self, labels_visible: bool, label_opacity: float, sketch_visible: bool, sketch_opacity: float
    ) -> None:
        self.labels_visible, self.label_opacity = labels_visible, float(label_opacity)
        self.sketch_visible, self.sketch_opacity = sketch_visible, float(sketch_opacity)
        self._rebuild_lut()

    def _rebuild_lut(self) -> None:
        alpha = self.label_opacity if self.labels_visible else 0.0
        self._lut = PAPER * (1 - alpha) + self._colours.astype(np.float32) * alpha
        self._compose(0, 0, self.document.width, self.document.height)
        self.update()

    def _on_replaced(self) -> None:
        h, w = self.document.height, self.document.width
        self._rgba = np.full((h, w, 4), 255, np.uint8)
        self._image = QImage(self._rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
        self._compose(0, 0, w, h)
        if self._auto_fit:
            self.fit()
        self.update()

    def _on_changed(self, rect: QRect) -> None:
        x0, y0 = max(rect.x(), 0), max(rect.y(), 0)
        x1, y1 = min(rect.x() + rect.width(), self.document.width), min(rect.y() + rect.height(), self.document.height)
        if x0 >= x1 or y0 >= y1:
            return
        self._compose(x0, y0, x1, y1)
        self.update(self._widget_rect(QRectF(x0, y0, x1 - x0, y1 - y0)))

    def _compose(self, x0: int, y0: int, x1: int, y1: int) -> None:
        labels = self.document.labels[y0:y1, x0:x1]
        lut = self._lut
        if labels.size and int(labels.max()) >= len(lut):
            labels = np.where(labels < len(lut), labels, 0)
        rgb = lut[labels]
        if self.sketch_visible and self.sketch_opacity > 0:
            ink = self.document.sketch[y0:y1, x0:x1]
            if ink.any():
                alpha = ink.astype(np.float32)[..., None] * (self.sketch_opacity / 255.0)
                rgb = rgb * (1 - alpha) + INK * alpha
        self._rgba[y0:y1, x0:x1, :3] = np.rint(rgb).astype(np.uint8)

    def display_rgb(self) -> np.ndarray:
        """What the canvas shows at 100 %, HxWx3 (used for the "before" side of the preview)."""
        return self._rgba[..., :3].copy()

    # --- view ------------------------------------------------------------------------------------------------
    def _transform(self) -> QTransform:
        return QTransform().translate(self.offset.x(), self.offset.y()).scale(self.zoom, self.zoom)

    def _widget_rect(self, image_rect: QRectF) -> QRect:
        return self._transform().mapRect(image_rect).toAlignedRect().adjusted(-2, -2, 2, 2)

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> image coordinates; a widget pixel stands for its centre."""
        return ((pos.x() + 0.5 - self.offset.x()) / self.zoom, (pos.y() + 0.5 - self.offset.y()) / self.zoom)

    def to_widget(self, x: float, y: float) -> QPointF:
        """Image coordinates -> the widget position whose pixel centre maps there."""
        return QPointF(x * self.zoom + self.offset.x() - 0.5, y * self.zoom + self.offset.y() - 0.5)

    def set_view(self, zoom: float, offset: QPointF, auto_fit: bool = False) -> None:
        self.zoom = float(min(max(zoom, ZOOM_MIN), ZOOM_MAX))
        self.offset = QPointF(offset)
        self._auto_fit = auto_fit
        self.update()
        self.viewChanged.emit(self.zoom)

    def fit(self) -> None:
        w, h = self.document.width, self.document.height
        margin = 24
        zoom = min((self.width() - margin) / w, (self.height() - margin) / h)
        zoom = max(min(zoom, ZOOM_MAX), ZOOM_MIN)
        self.set_view(zoom, QPointF((self.width() - w * zoom) / 2, (self.height() - h * zoom) / 2), auto_fit=True)

    def actual_size(self) -> None:
        w, h = self.document.width, self.document.height
        self.set_view(1.0, QPointF(round((self.width() - w) / 2), round((self.height() - h) / 2)))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        ix, iy = self.to_image(anchor)  # stays under the pointer
        zoom = float(min(max(self.zoom * factor, ZOOM_MIN), ZOOM_MAX))
        self.set_view(zoom, QPointF(anchor.x() + 0.5 - ix * zoom, anchor.y() + 0.5 - iy * zoom))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    # --- painting --------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        exposed = QRectF(event.rect())
        painter = QPainter(self)
        painter.fillRect(exposed, QColor(52, 54, 58))
        w, h = self.document.width, self.document.height
        page = QRectF(self.offset.x(), self.offset.y(), w * self.zoom, h * self.zoom)
        painter.fillRect(page.translated(3, 3) & exposed, QColor(0, 0, 0, 70))  # drop shadow
        visible = page & exposed
        if not visible.isEmpty():
            # Draw only the image pixels under the exposed area, whole pixels so nearest sampling stays put: a
            # dab then costs a small blit instead of scaling the whole canvas.
            x0 = max(math.floor((visible.left() - self.offset.x()) / self.zoom), 0)
            y0 = max(math.floor((visible.top() - self.offset.y()) / self.zoom), 0)
            x1 = min(math.ceil((visible.right() - self.offset.x()) / self.zoom), w)
            y1 = min(math.ceil((visible.bottom() - self.offset.y()) / self.zoom), h)
            source = QRectF(x0, y0, x1 - x0, y1 - y0)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1.0)
            painter.drawImage(self._transform().mapRect(source), self._image, source)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.tool is not None and self.tool.active:
            painter.setTransform(self._transform())
            self.tool.draw_overlay(painter, self.zoom)
            painter.resetTransform()
        if self._hover is not None and self.brush_size_for_cursor > 0 and self._pan_from is None:
            radius = self.brush_size_for_cursor * self.zoom / 2
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 160), 2.5))
            painter.drawEllipse(self._hover, radius, radius)
            painter.setPen(QPen(QColor(255, 255, 255, 230), 1.0))
            painter.drawEllipse(self._hover, radius, radius)
        painter.end()

    def set_cursor_size(self, size: float) -> None:
        self.brush_size_for_cursor = size
        self.update()

    # --- input -----------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.LeftButton and self.tool is not None:
            self.tool.press(self.to_image(event.position()))
            self._update_overlay()
        elif button == Qt.MouseButton.RightButton and self.tool is not None and self.tool.active:
            self.tool.cancel()
            self.update()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_from is not None:
            self.set_view(self.zoom, self.offset + (pos - self._pan_from))
            self._pan_from = pos
        elif self.tool is not None and self.tool.active and event.buttons() & Qt.MouseButton.LeftButton:
            self.tool.move(self.to_image(pos))
            self._update_overlay()
        self._hover_at(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._pan_from is not None and button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor)
        elif button == Qt.MouseButton.LeftButton and self.tool is not None and self.tool.active:
            self.tool.release(self.to_image(event.position()))
            self._update_overlay()
        event.accept()

    def _update_overlay(self) -> None:
        # Brush dabs repaint their own rectangles (document.changed); only shape previews need the whole view.
        if self.tool is not None and self.tool.has_overlay:
            self.update()

    def _hover_at(self, pos: QPointF) -> None:
        old = self._hover
        self._hover = pos
        radius = self.brush_size_for_cursor * self.zoom / 2 + 4
        for p in (old, pos):
            if p is not None:
                self.update(QRectF(p.x() - radius, p.y() - radius, 2 * radius, 2 * radius).toAlignedRect())
        x, y = self.to_image(pos)
        inside = 0 <= x < self.document.width and 0 <= y < self.document.height
        self.cursorMoved.emit(int(x) if inside else -1, int(y) if inside else -1)

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = None
        self.update()
        self.cursorMoved.emit(-1, -1)
        super().leaveEvent(event)

    def enterEvent(self, event: QEnterEvent) -> None:
        self.setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor)
        super().enterEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.15**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and self.tool is not None and self.tool.active:
            self.tool.cancel()
            self.update()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)
