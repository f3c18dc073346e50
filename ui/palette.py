"""The label palette: every label of the current model's label set, searchable, keys 1..0 for the first ten."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from paintgan.labels import Label, LabelSet

SHORTCUT_KEYS = "1234567890"
INDEX_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1


def swatch(colour: tuple[int, int, int], size: int = 22) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(0, 0, 0, 110))
    painter.setBrush(QColor(*colour))
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 4, 4)
    painter.end()
    return QIcon(pixmap)


class Palette(QWidget):
    """Emits `labelChosen(index)` with the label's index in the model's input space."""

    labelChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.label_set: LabelSet | None = None
        self._current: int | None = None
        self.search = QLineEdit(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Filter labels…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(22, 22))
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._item_changed)
        self.current_name = QLabel(self)
        self.current_name.setObjectName("paletteCurrent")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.current_name)

    def set_label_set(self, label_set: LabelSet) -> None:
        keep = self._current
        self.label_set = label_set
        self.list.blockSignals(True)
        self.list.clear()
        for position, label in enumerate(label_set.labels):
            key = SHORTCUT_KEYS[position] if position < len(SHORTCUT_KEYS) else " "
            item = QListWidgetItem(swatch(label.colour), f"{key}   {label.short_name}")
            item.setData(INDEX_ROLE, label.index)
            item.setData(NAME_ROLE, label.name.lower())
            item.setToolTip(self._tooltip(label))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._filter(self.search.text())
        indices = label_set.indices
        self.select_index(keep if keep in indices else indices[0])

    @staticmethod
    def _tooltip(label: Label) -> str:
        extra = []
        if label.ade20k is not None:
            extra.append(f"ADE20K {label.ade20k}")
        if label.coco is not None:
            extra.append(f"COCO-Stuff {label.coco}")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{label.name}: index {label.index}{tail}"

    @property
    def current_index(self) -> int:
        assert self._current is not None, "palette has no label set"
        return self._current

    def current_label(self) -> Label:
        assert self.label_set is not None
        return self.label_set.by_index(self.current_index)

    def select_index(self, index: int) -> bool:
        """Make the label with this index current (eyedropper); False if the label set has none."""
        for row in range(self.list.count()):
            if self.list.item(row).data(INDEX_ROLE) == index:
                self.list.setCurrentRow(row)
                self._set_current(index)
                return True
        return False

    def select_position(self, position: int) -> bool:
        """Number keys: the n-th label of the set (0-based), whatever the filter shows."""
        if self.label_set is None or not 0 <= position < len(self.label_set.labels):
            return False
        return self.select_index(self.label_set.labels[position].index)

    def _item_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self._set_current(int(item.data(INDEX_ROLE)))

    def _set_current(self, index: int) -> None:
        changed = index != self._current
        self._current = index
        if self.label_set is not None:
            label = self.label_set.by_index(index)
            self.current_name.setText(f"Painting with: <b>{label.short_name}</b>")
        if changed:
            self.labelChosen.emit(index)

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(needle) and needle not in item.data(NAME_ROLE))
