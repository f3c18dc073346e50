"""The live result: the latest picture, which model made it, a split view against the painting, before/after."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from paintgan.render_core import blend as engine_blend  # numpy only: no torch for the window to wait on
from ui.render_worker import RenderResult

RESULT, SPLIT = "result", "split"
STAGE_TITLES = {"draft": "Draft", "refine": "Refined", "photo": "Photo"}
EMPTY_TEXT = "The picture appears here as you paint."
LOADING_TEXT = "Loading the models…\nYou can start painting: the picture follows once they are ready."


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of an HxWx3 uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, w * 3, QImage.Format.Format_RGB888).copy()


def blend(base: np.ndarray, styled: np.ndarray | None, strength: float) -> np.ndarray:
    """The restyled picture mixed with the unstyled one by the engine's rule; a restyle that is missing, or
    still of an older canvas size while the new render is shown, leaves the unstyled picture."""
    if styled is None or styled.shape != base.shape:
        return base
    return engine_blend(base, styled, strength)


class _View(QWidget):
    """Draws the picture scaled to fit; in split mode the painting shows left of a draggable divider."""

    def __init__(self, owner: Preview) -> None:
        super().__init__(owner)
        self.owner = owner
        self.split = 0.5
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def _target(self, image: QImage) -> QRectF:
        margin = 12
        w, h = max(self.width() - 2 * margin, 1), max(self.height() - 2 * margin, 1)
        scale = min(w / image.width(), h / image.height())
        tw, th = image.width() * scale, image.height() * scale
        return QRectF((self.width() - tw) / 2, (self.height() - th) / 2, tw, th)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 42, 46))
        image = self.owner.qimage
        if image is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.owner.empty_text)
            painter.end()
            return
        target = self._target(image)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, image)
        if self.owner.mode == SPLIT:
            before = self.owner.painting_image()
            if before is not None:
                x = target.left() + target.width() * self.split
                clip = QRectF(target.left(), target.top(), x - target.left(), target.height())
                painter.save()
                painter.setClipRect(clip)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(target, before)
                painter.restore()
                painter.setPen(QPen(QColor(255, 255, 255), 2))
                painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
                painter.setBrush(QColor(255, 255, 255))
                painter.drawEllipse(QPointF(x, target.center().y()), 6, 6)
        painter.end()

    def _drag(self, event: QMouseEvent) -> None:
        image = self.owner.qimage
        if image is None or self.owner.mode != SPLIT:
            return
        target = self._target(image)
        self.split = min(max((event.position().x() - target.left()) / max(target.width(), 1), 0.0), 1.0)
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._drag(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._drag(event)


class Preview(QWidget):
    """Shows `RenderResult`s; keeps the newest one (by serial) and what it is made from."""

    modeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview")
        self.shown: RenderResult | None = None
        self.strength = 1.0
        self.before = False
        self.mode = RESULT
        self.qimage: QImage | None = None
        self.loading = False
        self.empty_text = EMPTY_TEXT
        self._displayed: np.ndarray | None = None
        self._painting: Callable[[], np.ndarray] | None = None

        self.title = QLabel("Result", self)
        self.title.setObjectName("previewTitle")
        self.title.setStyleSheet("font-weight: 600;")
        self.info = QLabel("", self)
        self.info.setObjectName("previewInfo")
        self.info.setStyleSheet("color: palette(mid);")
        # Long model names must not push the splitter: the label gives way and elides instead.
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.result_button = self._mode_button("Result", "Show the rendered picture", RESULT)
        self.split_button = self._mode_button("Split", "Compare the painting and the picture", SPLIT)
        self.before_button = QToolButton(self)
        self.before_button.setText("Before")
        self.before_button.setObjectName("beforeAfter")
        self.before_button.setToolTip("Show the picture before restyling (\\)")
        self.before_button.setCheckable(True)
        self.before_button.setAutoRaise(True)
        self.before_button.toggled.connect(self.set_before)
        group = QButtonGroup(self)
        group.setExclusive(True)
        group.addButton(self.result_button)
        group.addButton(self.split_button)
        self.result_button.setChecked(True)

        header = QHBoxLayout()
        header.setContentsMargins(6, 4, 6, 0)
        header.addWidget(self.title)
        header.addWidget(self.info, 1)
        header.addWidget(self.result_button)
        header.addWidget(self.split_button)
        header.addWidget(self.before_button)

        self.banner = QLabel(self)
        self.banner.setObjectName("placeholderBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "background: #f3c744; color: #2b2200; padding: 5px 8px; border-radius: 3px; font-weight: 600;"
        )
        self.banner.hide()
        self.error = QLabel(self)
        self.error.setObjectName("renderError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("background: #b3261e; color: white; padding: 5px 8px; border-radius: 3px;")
        self.error.hide()
        self.view = _View(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.error)
        layout.addWidget(self.view, 1)

    def _mode_button(self, text: str, tip: str, mode: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(True)
        button.setAutoRaise(True)
        button.clicked.connect(lambda: self.set_mode(mode))
        return button

    # --- API -------------------------------------------------------------------------------------------------
    def set_painting_source(self, provider: Callable[[], np.ndarray]) -> None:
        """Where split mode gets the painting (the canvas's own display)."""
        self._painting = provider

    def painting_image(self) -> QImage | None:
        return None if self._painting is None else to_qimage(self._painting())

    def show_result(self, result: RenderResult) -> bool:
        """Show a result unless a newer one is already shown; returns whether it was shown."""
        if self.shown is not None and result.serial <= self.shown.serial:
            return False
        self.shown = result
        self.error.hide()
        self._refresh()
        return True

    def clear(self, text: str | None = None) -> None:
        self.shown = None
        if text:
            self.empty_text = text
        self._refresh()

    def set_strength(self, strength: float) -> None:
        self.strength = min(max(float(strength), 0.0), 1.0)
        self._refresh()

    def set_before(self, before: bool) -> None:
        self.before = bool(before)
        if self.before_button.isChecked() != self.before:
            self.before_button.setChecked(self.before)
        self._refresh()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        (self.split_button if mode == SPLIT else self.result_button).setChecked(True)
        self.view.update()
        self.modeChanged.emit(mode)

    def set_loading(self, loading: bool) -> None:
        """While the models load (seconds on a slow CPU, at every start) the empty preview says so, rather than
        looking as if it waited for paint."""
        self.loading = bool(loading)
        self.empty_text = LOADING_TEXT if self.loading else EMPTY_TEXT
        self._refresh()

    def set_placeholder_notice(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def set_error(self, text: str) -> None:
        self.error.setText(f"Render failed: {text}")
        self.error.show()

    def image(self) -> np.ndarray | None:
        """The picture as displayed (restyle blended by strength, or unstyled when "before" is on)."""
        return None if self._displayed is None else self._displayed.copy()

    # --- internals -------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        result = self.shown
        if result is None:
            self._displayed, self.qimage = None, None
            self.title.setText("Result")
            self.info.setText("")
        else:
            styled = None if self.before else result.styled
            self._displayed = blend(result.base, styled, self.strength)
            self.qimage = to_qimage(self._displayed)
            stage = STAGE_TITLES.get(result.stage, result.stage.title())
            self.title.setText(stage)
            parts = [result.model_name] if result.stage != "photo" else []
            if result.styled is not None:
                parts.append(f"restyle {result.restyle_name} {round(self.strength * 100)} %" if not self.before
                             else "before restyle")
            parts.append(f"{result.base.shape[1]}×{result.base.shape[0]}")
            parts.append(f"{result.ms:.0f} ms")
            text = "  ·  ".join(parts)
            self.info.setToolTip(text)
            self.info.setText(text)
        self.view.update()
