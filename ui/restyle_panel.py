"""Restyle side panel: pick a CycleGAN / GANILLA style, its strength, and what it applies to."""

from __future__ import annotations

import zlib

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ui.preview import to_qimage

THUMB = 72
NAME_ROLE = Qt.ItemDataRole.UserRole
LIVE, PHOTO = "live", "photo"


def _initials_icon(name: str) -> QIcon:
    """Stand-in thumbnail until the style's own is rendered: a tint derived from the name, and its initials."""
    hue = zlib.crc32(name.encode()) % 360
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(0, 0, THUMB, THUMB)
    gradient.setColorAt(0, QColor.fromHsv(hue, 120, 230))
    gradient.setColorAt(1, QColor.fromHsv((hue + 40) % 360, 200, 140))
    painter.setBrush(gradient)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, THUMB, THUMB, 8, 8)
    painter.setPen(QColor(255, 255, 255))
    font = QFont()
    font.setPointSize(16)
    font.setBold(True)
    painter.setFont(font)
    letters = "".join(part[0] for part in name.replace("_", " ").replace("-", " ").split()[:2]).upper() or "?"
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, letters)
    painter.end()
    return QIcon(pixmap)


def _none_icon() -> QIcon:
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(150, 150, 150))
    painter.setBrush(QColor(70, 72, 76))
    painter.drawRoundedRect(1, 1, THUMB - 2, THUMB - 2, 8, 8)
    painter.drawLine(14, THUMB - 14, THUMB - 14, 14)
    painter.end()
    return QIcon(pixmap)


class RestylePanel(QWidget):
    restyleChosen = Signal(str)  # model name, "" for none
    strengthChanged = Signal(float)
    targetChanged = Signal(str)  # LIVE or PHOTO
    openPhotoRequested = Signal()
    beforeToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restylePanel")
        self.list = QListWidget(self)
        self.list.setObjectName("restyleList")
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 34, THUMB + 48))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(self._chosen)

        self.strength = QSlider(Qt.Orientation.Horizontal, self)
        self.strength.setObjectName("restyleStrength")
        self.strength.setRange(0, 100)
        self.strength.setValue(100)
        self.strength_label = QLabel("100 %", self)
        self.strength.valueChanged.connect(self._strength)

        self.live = QRadioButton("Live result", self)
        self.photo = QRadioButton("Photo", self)
        self.live.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.live)
        group.addButton(self.photo)
        self.live.toggled.connect(lambda on: self.targetChanged.emit(LIVE if on else PHOTO))
        self.open_photo = QPushButton("Open photo…", self)
        self.open_photo.setObjectName("restyleOpenPhoto")
        self.open_photo.clicked.connect(self.openPhotoRequested)
        self.before = QCheckBox("Before / after", self)
        self.before.setObjectName("restyleBefore")
        self.before.setToolTip("Show the picture without the restyle")
        self.before.toggled.connect(self.beforeToggled)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")

        strength_row = QHBoxLayout()
        strength_row.addWidget(QLabel("Strength", self))
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_label)
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Apply to", self))
        target_row.addWidget(self.live)
        target_row.addWidget(self.photo)
        target_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(strength_row)
        layout.addLayout(target_row)
        layout.addWidget(self.open_photo)
        layout.addWidget(self.before)
        layout.addWidget(self.note)
        self.set_models([])

    def set_models(self, names: list[str], current: str = "", untrained: frozenset[str] = frozenset()) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        none = QListWidgetItem(_none_icon(), "None")
        none.setData(NAME_ROLE, "")
        self.list.addItem(none)
        for name in names:
            item = QListWidgetItem(_initials_icon(name), f"{name}\n(untrained)" if name in untrained else name)
            item.setData(NAME_ROLE, name)
            item.setToolTip(f"{name}: untrained placeholder weights" if name in untrained else name)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.select(current if current in names else "", emit=False)
        self.note.setText("" if names else "No restyle models installed yet. Model ▸ Import checkpoint… adds "
                                            "CycleGAN or GANILLA generators.")

    def select(self, name: str, emit: bool = True) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(NAME_ROLE) == name:
                if not emit:
                    self.list.blockSignals(True)
                self.list.setCurrentRow(row)
                self.list.blockSignals(False)
                return

    @property
    def current(self) -> str:
        item = self.list.currentItem()
        return "" if item is None else str(item.data(NAME_ROLE))

    @property
    def target(self) -> str:
        return LIVE if self.live.isChecked() else PHOTO

    def set_thumbnail(self, name: str, rgb: np.ndarray) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(NAME_ROLE) == name:
                pixmap = QPixmap.fromImage(to_qimage(rgb)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                    Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(pixmap))

    def _chosen(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self.restyleChosen.emit(str(item.data(NAME_ROLE)))

    def _strength(self, value: int) -> None:
        self.strength_label.setText(f"{value} %")
        self.strengthChanged.emit(value / 100.0)
