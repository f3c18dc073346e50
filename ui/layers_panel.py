"""Layer visibility and display opacity (display only: the model always sees the full layers)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSlider, QWidget


class LayersPanel(QWidget):
    displayChanged = Signal(bool, float, bool, float)  # labels visible, opacity, sketch visible, opacity

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layersPanel")
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        self.sketch_visible, self.sketch_opacity = self._row(grid, 0, "Sketch (lines)")
        self.labels_visible, self.labels_opacity = self._row(grid, 1, "Labels (materials)")
        grid.addWidget(QLabel("<small>Opacity is for display; the model always sees both layers.</small>"), 2, 0, 1, 2)

    def _row(self, grid: QGridLayout, row: int, title: str) -> tuple[QCheckBox, QSlider]:
        visible = QCheckBox(title, self)
        visible.setChecked(True)
        opacity = QSlider(Qt.Orientation.Horizontal, self)
        opacity.setRange(0, 100)
        opacity.setValue(100)
        opacity.setToolTip("Display opacity")
        visible.toggled.connect(self._emit)
        opacity.valueChanged.connect(self._emit)
        grid.addWidget(visible, row, 0)
        grid.addWidget(opacity, row, 1)
        return visible, opacity

    def _emit(self) -> None:
        self.displayChanged.emit(
            self.labels_visible.isChecked(),
            self.labels_opacity.value() / 100.0,
            self.sketch_visible.isChecked(),
            self.sketch_opacity.value() / 100.0,
        )
