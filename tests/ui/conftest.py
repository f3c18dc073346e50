"""Fixtures for the app tests: a window on fast deterministic stand-in renderers, and mouse helpers.

The stand-ins replace only the model call (`Renderer.render`): documents, labels, images and the worker
pipeline are the real ones. One test (test_ui_render.py) runs the default model (bundled or placeholder) end to end.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

LUT = np.random.default_rng(7).integers(0, 256, size=(65536, 3), dtype=np.uint8)


class FakeRenderer:
    """Colours each input value from a fixed table (seed shifts it); RGB input is inverted (a "restyle")."""

    def __init__(self, delay: float = 0.0, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.fail = fail
        self.gate = gate  # when given, every render first waits for it: a model as slow as the test needs
        self.calls: list[tuple[int, ...]] = []
        self.lock = threading.Lock()
        self.device = "cpu"

    def render(self, source: np.ndarray, *, style: np.ndarray | None = None, seed: int | None = None) -> np.ndarray:
        with self.lock:
            self.calls.append(source.shape)
        if self.gate is not None:
            self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the stand-in model was told to fail")
        if source.ndim == 3:
            return 255 - source
        return LUT[(source.astype(np.int64) + (seed or 0)) % len(LUT)]


@pytest.fixture
def fake():
    """The stand-in renderer class: fake(delay=seconds, fail=True, gate=threading.Event())."""
    return FakeRenderer


@pytest.fixture
def factory():
    """A renderer factory whose renderers are recorded, so tests can reach them."""
    made: list[FakeRenderer] = []

    def make(model, device, threads):  # noqa: ANN001 - mirrors Renderer(model, device, threads)
        renderer = FakeRenderer()
        renderer.model = model
        renderer.device_asked = (device, threads)
        made.append(renderer)
        return renderer

    make.made = made
    return make


@pytest.fixture
def window(qtbot, factory):
    from ui import MainWindow
    from ui.settings import Settings

    settings = Settings()
    settings.preview_resolution = 1024  # drafts at canvas size: tests of the final pass shrink it themselves
    win = MainWindow(settings, renderer_factory=factory)
    win.ask_save_changes = lambda: "discard"
    qtbot.addWidget(win)
    win.canvas.resize(600, 600)
    win.canvas.set_view(1.0, QPointF(0, 0))
    # The models load in the worker; wait for the first picture so tests start from a settled app.
    qtbot.waitUntil(lambda: win.preview.shown is not None, timeout=20000)
    yield win
    win.document.mark_clean()
    win.close()
    win.shutdown()


class Mouse:
    """Real QMouseEvents sent to the canvas at image coordinates (view: zoom 1, image origin at the widget's)."""

    def __init__(self, canvas) -> None:  # noqa: ANN001
        self.canvas = canvas

    def pos(self, x: float, y: float) -> QPoint:
        p = self.canvas.to_widget(x + 0.5, y + 0.5)
        return QPoint(round(p.x()), round(p.y()))

    def _send(self, kind: QEvent.Type, x: float, y: float, button, buttons) -> None:  # noqa: ANN001
        # Built by hand rather than with QTest.mousePress, which takes the point (0, 0) to mean "the centre".
        pos = QPointF(self.pos(x, y))
        event = QMouseEvent(kind, pos, self.canvas.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(self.canvas, event)

    def press(self, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:  # noqa: ANN001
        self._send(QEvent.Type.MouseButtonPress, x, y, button, button)

    def release(self, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:  # noqa: ANN001
        self._send(QEvent.Type.MouseButtonRelease, x, y, button, Qt.MouseButton.NoButton)

    def move(self, x: float, y: float, buttons=Qt.MouseButton.LeftButton) -> None:  # noqa: ANN001
        """A move with the button held, as the window system sends it while dragging."""
        self._send(QEvent.Type.MouseMove, x, y, Qt.MouseButton.NoButton, buttons)

    def drag(self, points, button=Qt.MouseButton.LeftButton) -> None:  # noqa: ANN001
        """Press at the first point, move through the rest, release at the last."""
        self.press(*points[0], button=button)
        for point in points[1:]:
            self.move(*point, buttons=button)
        self.release(*points[-1], button=button)

    def paint(self, tool: str, label: str | None, points, size: float | None = None) -> None:  # noqa: ANN001
        """Pick a tool (and a label by name, and a size), then drag through `points`."""
        window = self.canvas.window()
        window.set_tool(tool)
        if size is not None:
            window.set_brush_size(size)
        if label is not None:
            window.palette.select_index(window.label_set.by_name(label).index)
        self.drag(points)

    def click(self, x: float, y: float) -> None:
        self.press(x, y)
        self.release(x, y)


@pytest.fixture
def mouse(window):
    return Mouse(window.canvas)


@pytest.fixture
def wait_result(qtbot, window):
    """Wait until the preview shows a picture made from `revision` (default: the current one)."""

    def wait(revision: int | None = None, timeout: int = 10000):
        target = window.document.revision if revision is None else revision
        qtbot.waitUntil(lambda: window.preview.shown is not None and window.preview.shown.revision >= target,
                        timeout=timeout)
        return window.preview.shown

    return wait
