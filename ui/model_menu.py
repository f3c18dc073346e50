"""Which models the app offers: the render model selector, and the import dialog that shows a model's card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from paintgan.devices import torch_available
from paintgan.labels import LabelSet, landscape_labelset
from paintgan.models import Model, ModelCard, list_models, placeholder_model, placeholder_name
from paintgan.onnx_runtime import list_onnx_models

PLACEHOLDER_NOTICE = (
    "Untrained placeholder model: the picture is what random weights make of your painting. "
    "Trained models appear here once they are installed (Model ▸ Import checkpoint…)."
)
INPUT_TITLES = {"labels": "label map", "sketch": "sketch", "image": "picture"}


@dataclass
class ModelEntry:
    """One model the user can pick. `spec` is what the render worker loads: a registry name, or for a placeholder
    a callable that builds it. `card` is None for a placeholder until its model is built (`model_card()`)."""

    name: str
    input_kind: str
    label_set: LabelSet | None
    placeholder: bool
    spec: Any
    card: ModelCard | None = None

    @property
    def title(self) -> str:
        suffix = " (untrained placeholder)" if self.placeholder else ""
        return f"{self.name}{suffix}"

    def model_card(self) -> ModelCard | None:
        if self.card is None and callable(self.spec):
            self.card = self.spec().card
        return self.card


@cache
def _placeholder(input_kind: str) -> Model:
    """Built once, when first used: by the render worker, since building a network imports torch (seconds on a
    slow CPU) and the window must not wait for that. Label placeholders take the landscape labels."""
    return placeholder_model(input_kind)  # type: ignore[arg-type]


def _placeholder_entry(input_kind: str) -> ModelEntry:
    label_set = landscape_labelset() if input_kind == "labels" else None
    return ModelEntry(placeholder_name(input_kind), input_kind, label_set, True, partial(_placeholder, input_kind))


def catalog() -> list[ModelEntry]:
    """Installed models (bundled + user), plus an untrained placeholder for each input kind that has none.
    Reads only the cards: torch is not imported."""
    full = torch_available()  # the lite build lists its ONNX models, and has no placeholders to build
    entries = [
        ModelEntry(card.name, card.input_kind, card.label_set, bool(card.placeholder), card.name, card)
        for card in (list_models() if full else list_onnx_models())
    ]
    for kind in ("labels", "sketch", "image") if full else ():
        if not any(e.input_kind == kind and not e.placeholder for e in entries):
            entries.append(_placeholder_entry(kind))
    return entries


class ModelSelector(QComboBox):
    """The render model (label map or sketch input) for the live draft."""

    modelChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelSelector")
        self.setToolTip("Model that renders the painting live")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMinimumContentsLength(28)
        self.currentIndexChanged.connect(self._changed)

    def set_entries(self, entries: list[ModelEntry], current: str) -> None:
        self.blockSignals(True)
        self.clear()
        for entry in entries:
            self.addItem(f"{entry.title}  [{INPUT_TITLES.get(entry.input_kind, entry.input_kind)}]", entry.name)
        index = self.findData(current)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

    @property
    def current_name(self) -> str:
        return str(self.currentData() or "")

    def select(self, name: str) -> None:
        index = self.findData(name)
        if index >= 0:
            self.setCurrentIndex(index)

    def _changed(self, _index: int) -> None:
        self.modelChosen.emit(self.current_name)


def card_rows(card: ModelCard) -> list[tuple[str, str]]:
    """The card as (field, text) rows for people."""

    def text(value: Any) -> str:
        return json.dumps(value, indent=1) if isinstance(value, dict | list) and value else str(value or "—")

    label_set = card.label_set
    labels = "—" if label_set is None else f"{label_set.name}: " + ", ".join(l.short_name for l in label_set.labels)
    return [
        ("Name", card.name),
        ("Family", card.family),
        ("Input", INPUT_TITLES.get(card.input_kind, card.input_kind)),
        ("Labels", labels),
        ("Size multiple", str(card.size_multiple)),
        ("Style encoder", "yes" if card.encoder_config else "no"),
        ("Description", text(card.description)),
        ("Version", text(card.version)),
        ("Training", text(card.training)),
        ("Metrics", text(card.metrics)),
        ("Limits", text(card.limits)),
        ("Placeholder", "yes: untrained weights" if card.placeholder else "no"),
    ]


class CardDialog(QDialog):
    """Shows a model card (after an import, or from the Model menu)."""

    def __init__(self, card: ModelCard, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelCardDialog")
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        form = QFormLayout()
        for name, value in card_rows(card):
            if "\n" in value or len(value) > 90:
                box = QPlainTextEdit(value, self)
                box.setReadOnly(True)
                box.setMaximumHeight(110)
                form.addRow(name, box)
            else:
                label = QLabel(value, self)
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                label.setWordWrap(True)
                form.addRow(name, label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok, self)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
