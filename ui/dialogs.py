"""Small dialogs: canvas size (new document, resize) and preferences."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.settings import DEVICES, PREVIEW_SIZES, Settings

SIZE_PRESETS = (256, 512, 1024)
MIN_SIDE, MAX_SIDE = 64, 4096


def _finish(dialog: QDialog, form: QFormLayout, note: str = "") -> None:
    """Form, optional note, OK / Cancel."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addLayout(form)
    if note:
        layout.addWidget(QLabel(note, dialog))
    layout.addWidget(buttons)


class CanvasSizeDialog(QDialog):
    """Width x height with one-click presets."""

    def __init__(self, title: str, width: int, height: int, note: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.width_box = self._spin(width)
        self.height_box = self._spin(height)
        presets = QHBoxLayout()
        for side in SIZE_PRESETS:
            button = QPushButton(f"{side} × {side}", self)
            button.clicked.connect(lambda _=False, s=side: self._preset(s))
            presets.addWidget(button)
        form = QFormLayout()
        form.addRow("Presets", presets)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        _finish(self, form, note)

    def _spin(self, value: int) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(MIN_SIDE, MAX_SIDE)
        box.setSuffix(" px")
        box.setValue(value)
        return box

    def _preset(self, side: int) -> None:
        self.width_box.setValue(side)
        self.height_box.setValue(side)

    def size(self) -> tuple[int, int]:  # type: ignore[override]
        return self.width_box.value(), self.height_box.value()


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.device = QComboBox(self)
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(settings.device)
        self.device.setToolTip("auto: CUDA, then Apple MPS, then the CPU")
        self.threads = QSpinBox(self)
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.preview = QComboBox(self)
        for side in PREVIEW_SIZES:
            self.preview.addItem(f"{side} px", side)
        index = self.preview.findData(settings.preview_resolution)
        self.preview.setCurrentIndex(index if index >= 0 else 0)
        self.idle = QSpinBox(self)
        self.idle.setRange(50, 10000)
        self.idle.setSingleStep(100)
        self.idle.setSuffix(" ms")
        self.idle.setValue(settings.refine_idle_ms)
        self.autosave = QSpinBox(self)
        self.autosave.setRange(0, 3600)
        self.autosave.setSingleStep(10)
        self.autosave.setSuffix(" s")
        self.autosave.setSpecialValueText("off")
        self.autosave.setValue(settings.autosave_seconds)
        self.undo = QSpinBox(self)
        self.undo.setRange(1, 8192)
        self.undo.setSuffix(" MB")
        self.undo.setValue(settings.undo_megabytes)
        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("CPU threads", self.threads)
        form.addRow("Live preview size", self.preview)
        form.addRow("Refine after idle", self.idle)
        form.addRow("Autosave every", self.autosave)
        form.addRow("Undo memory", self.undo)
        _finish(self, form)

    def apply(self) -> None:
        self.settings.device = self.device.currentText()
        self.settings.threads = self.threads.value()
        self.settings.preview_resolution = int(self.preview.currentData())
        self.settings.refine_idle_ms = self.idle.value()
        self.settings.autosave_seconds = self.autosave.value()
        self.settings.undo_megabytes = self.undo.value()
        self.settings.sync()
