"""The open painting as the UI sees it: two layers, a revision counter and region-based undo.

Tools edit the layer arrays in place through a `Stroke` (so the canvas shows every dab at once); when the stroke
ends, only the bounding box of what changed is kept (before and after) as ONE undo command. The history is bounded
by bytes: when it grows past the budget the oldest commands are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

LABELS = "labels"
SKETCH = "sketch"
LAYERS = (LABELS, SKETCH)


@dataclass
class RegionChange:
    """Pixels of one layer inside one rectangle, before and after an edit."""

    layer: str
    x: int
    y: int
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes

    def apply(self, state: DocumentState, forward: bool) -> None:
        block = self.after if forward else self.before
        h, w = block.shape
        state.layer(self.layer)[self.y : self.y + h, self.x : self.x + w] = block
        state._changed(QRect(self.x, self.y, w, h))


@dataclass
class ReplaceChange:
    """Both layers replaced at once (resize, import): sizes may differ, so whole arrays are kept."""

    before: tuple[np.ndarray, np.ndarray]
    after: tuple[np.ndarray, np.ndarray]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.before + self.after)

    def apply(self, state: DocumentState, forward: bool) -> None:
        labels, sketch = self.after if forward else self.before
        state._set_layers(labels.copy(), sketch.copy())


Change = RegionChange | ReplaceChange


class _Command(QUndoCommand):
    """Wraps one change; `applied` skips the first redo() because the tool already drew the pixels."""

    def __init__(self, state: DocumentState, change: Change, text: str, applied: bool) -> None:
        super().__init__(text)
        self.state = state
        self.change = change
        self._skip_redo = applied

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self.change.apply(self.state, True)

    def undo(self) -> None:
        self.change.apply(self.state, False)


class Stroke:
    """An edit in progress on one layer: tools write into `array` and report each touched rectangle."""

    def __init__(self, state: DocumentState, layer: str) -> None:
        self.state = state
        self.layer = layer
        self.array = state.layer(layer)
        self._before = self.array.copy()
        self._box: list[int] | None = None  # x0, y0, x1, y1 (exclusive)

    def write(self, x0: int, y0: int, mask: np.ndarray, value: int) -> None:
        """Set the pixels where `mask` (placed at x0, y0) is true to `value`."""
        h, w = mask.shape
        if h == 0 or w == 0:
            return
        region = self.array[y0 : y0 + h, x0 : x0 + w]
        if not np.any(region[mask] != value):
            return
        region[mask] = value
        if self._box is None:
            self._box = [x0, y0, x0 + w, y0 + h]
        else:
            b = self._box
            self._box = [min(b[0], x0), min(b[1], y0), max(b[2], x0 + w), max(b[3], y0 + h)]
        self.state._changed(QRect(x0, y0, w, h))

    def finish(self, text: str) -> bool:
        """Push the stroke as one undo command holding only the changed rectangle; False if nothing changed."""
        if self._box is None:
            return False
        x0, y0, x1, y1 = self._box
        before = self._before[y0:y1, x0:x1]
        after = self.array[y0:y1, x0:x1]
        diff = before != after
        if not diff.any():
            return False
        rows = np.flatnonzero(diff.any(axis=1))
        cols = np.flatnonzero(diff.any(axis=0))
        ry0, ry1, rx0, rx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        change = RegionChange(
            self.layer,
            int(x0 + rx0),
            int(y0 + ry0),
            before[ry0:ry1, rx0:rx1].copy(),
            after[ry0:ry1, rx0:rx1].copy(),
        )
        self.state._push(change, text, applied=True)
        return True

    def cancel(self) -> None:
        """Put back the pixels the stroke changed, leaving no undo command."""
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            self.array[y0:y1, x0:x1] = self._before[y0:y1, x0:x1]
            self.state._changed(QRect(x0, y0, x1 - x0, y1 - y0))
            self._box = None


class DocumentState(QObject):
    """Layers + revision + undo for one painting. Signals carry image-space rectangles."""

    changed = Signal(QRect)  # pixels inside this rectangle changed (revision already bumped)
    layersReplaced = Signal()  # arrays replaced, possibly with a new size
    dirtyChanged = Signal(bool)

    def __init__(self, labels: np.ndarray, sketch: np.ndarray, undo_bytes: int = 256 << 20) -> None:
        super().__init__()
        self._check(labels, sketch)
        self.labels = labels
        self.sketch = sketch
        self.height, self.width = (int(n) for n in labels.shape)
        self.revision = 0
        self.undo_bytes = undo_bytes
        self.undo_stack = QUndoStack(self)
        self._history: list[_Command] = []  # mirrors the stack so the byte budget can be enforced
        self._trimming = False
        self._dirty = False
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    @staticmethod
    def _check(labels: np.ndarray, sketch: np.ndarray) -> None:
        if labels.ndim != 2 or labels.shape != sketch.shape or sketch.dtype != np.uint8:
            raise ValueError(f"layers must be two HxW arrays of one size, got {labels.shape} and {sketch.shape}")

    # --- reading -------------------------------------------------------------------------------------------------
    def layer(self, name: str) -> np.ndarray:
        if name == LABELS:
            return self.labels
        if name == SKETCH:
            return self.sketch
        raise KeyError(name)

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def history_bytes(self) -> int:
        return sum(c.change.nbytes for c in self._history)

    # --- editing -------------------------------------------------------------------------------------------------
    def begin_stroke(self, layer: str) -> Stroke:
        return Stroke(self, layer)

    def replace_layers(self, labels: np.ndarray, sketch: np.ndarray, text: str) -> None:
        """Swap both layers (resize, import) as one undoable command."""
        self._check(labels, sketch)
        change = ReplaceChange((self.labels.copy(), self.sketch.copy()), (labels.copy(), sketch.copy()))
        self._push(change, text, applied=False)

    def reset(self, labels: np.ndarray, sketch: np.ndarray) -> None:
        """Start over with new layers (new / open): empty history, clean."""
        self._check(labels, sketch)
        self._trimming = True
        self.undo_stack.clear()
        self._history.clear()
        self._trimming = False
        self._set_layers(labels, sketch)
        self.mark_clean()

    def mark_clean(self) -> None:
        self.undo_stack.setClean()
        self._set_dirty(False)

    def mark_dirty(self) -> None:
        """Metadata changed (seed, models) with no undoable pixels."""
        self._set_dirty(True)

    # --- internals -----------------------------------------------------------------------------------------------
    def _changed(self, rect: QRect) -> None:
        self.revision += 1
        self.changed.emit(rect)

    def _set_layers(self, labels: np.ndarray, sketch: np.ndarray) -> None:
        self.labels = labels
        self.sketch = sketch
        self.height, self.width = (int(n) for n in labels.shape)
        self.revision += 1
        self.layersReplaced.emit()
        self.changed.emit(QRect(0, 0, self.width, self.height))

    def _push(self, change: Change, text: str, applied: bool) -> None:
        command = _Command(self, change, text, applied)
        del self._history[self.undo_stack.index() :]
        self._history.append(command)
        self.undo_stack.push(command)
        self._trim()

    def _trim(self) -> None:
        """Forget the oldest commands until the history fits the byte budget (the newest is always kept).

        QUndoStack cannot drop single commands from the bottom, so the stack is rebuilt from the kept ones; this
        only happens right after a push, when there is nothing to redo.
        """
        sizes = [c.change.nbytes for c in self._history]
        total = sum(sizes)
        drop = 0
        while total > self.undo_bytes and drop < len(sizes) - 1:
            total -= sizes[drop]
            drop += 1
        if drop == 0:
            return
        clean = self.undo_stack.cleanIndex()
        new_clean = clean - drop if clean >= drop else -1
        kept = [c.change for c in self._history[drop:]]
        texts = [c.text() for c in self._history[drop:]]
        self._trimming = True
        try:
            self.undo_stack.clear()
            self._history.clear()
            if new_clean != 0:
                self.undo_stack.resetClean()
            for i, (change, text) in enumerate(zip(kept, texts, strict=True), start=1):
                command = _Command(self, change, text, applied=True)
                self._history.append(command)
                self.undo_stack.push(command)
                if i == new_clean:
                    self.undo_stack.setClean()
        finally:
            self._trimming = False
        self._set_dirty(not self.undo_stack.isClean())

    def _clean_changed(self, clean: bool) -> None:
        if not self._trimming:
            self._set_dirty(not clean)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)
