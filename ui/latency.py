"""Measure stroke-to-preview latency and UI-thread stalls during a scripted painting session.

Run it as `QT_QPA_PLATFORM=offscreen python -m ui.bench_live [--seconds 10] [--preview 256]`, which adds render
rate and memory figures (and is what `make bench` runs).

Paints with real mouse events at 60 Hz for `--seconds`, on the installed default models (the engine's untrained
placeholder until trained ones exist). For every edit (document revision) it records the time until the preview
first shows a picture made from that revision or a newer one; a 2 ms timer on the UI thread records the longest
gap between its ticks (the longest time the UI thread could not react). A measurement, not a test.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

TICK_MS = 2
EVENT_MS = 16


def _wait(ms: int) -> None:
    # An event loop, not QTest.qWait: qWait keeps the GIL, which would starve the render thread.
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def measure(seconds: float, preview: int) -> dict[str, float]:
    from ui.main_window import MainWindow
    from ui.settings import Settings

    settings = Settings()
    settings.preview_resolution = preview
    window = MainWindow(settings)
    window.resize(1440, 880)
    window.show()
    deadline = time.perf_counter() + 120
    while window.preview.shown is None and time.perf_counter() < deadline:
        _wait(50)
    canvas = window.canvas
    canvas.set_view(1.0, QPointF(0, 0))
    window.set_tool("brush")
    window.set_brush_size(18)

    edits: dict[int, float] = {}
    latencies: list[float] = []
    handled: list[float] = []
    render_ms: list[float] = []

    def changed() -> None:
        edits.setdefault(window.document.revision, time.perf_counter())

    def shown(result: object) -> None:
        if window.preview.shown is not result:
            return
        render_ms.append(result.ms)  # type: ignore[attr-defined]
        now = time.perf_counter()
        for revision in [r for r in edits if r <= result.revision]:  # type: ignore[attr-defined]
            latencies.append(now - edits.pop(revision))

    window.document.changed.connect(changed)
    window.worker.resultReady.connect(shown)  # after the window's own slot: the preview has decided by now

    ticks = {"last": time.perf_counter(), "worst": 0.0}

    def tick() -> None:
        now = time.perf_counter()
        ticks["worst"] = max(ticks["worst"], now - ticks["last"])
        ticks["last"] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)

    rng = np.random.default_rng(0)
    labels = [label.index for label in window.label_set.labels]
    state = {"t0": 0.0, "stroke": -1, "pos": (256.0, 256.0)}

    def send(kind: QEvent.Type, x: float, y: float) -> None:
        pos = canvas.to_widget(x, y)
        button = Qt.MouseButton.LeftButton
        event = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button if kind != QEvent.Type.MouseMove else
                            Qt.MouseButton.NoButton, button if kind != QEvent.Type.MouseButtonRelease else
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        start = time.perf_counter()
        QApplication.sendEvent(canvas, event)
        handled.append(time.perf_counter() - start)

    def step() -> None:
        elapsed = time.perf_counter() - state["t0"]
        stroke = int(elapsed)  # a new stroke every second
        x, y = state["pos"]
        if stroke != state["stroke"]:
            if state["stroke"] >= 0:
                send(QEvent.Type.MouseButtonRelease, x, y)
            if elapsed >= seconds:
                painter.stop()
                return
            state["stroke"] = stroke
            window.palette.select_index(labels[int(rng.integers(len(labels)))])
            x, y = (float(v) for v in rng.uniform(40, 470, 2))
            send(QEvent.Type.MouseButtonPress, x, y)
        else:
            angle = elapsed * 3.0 + stroke
            x = float(np.clip(x + 9 * math.cos(angle), 0, 511))
            y = float(np.clip(y + 9 * math.sin(angle * 0.7), 0, 511))
            send(QEvent.Type.MouseMove, x, y)
        state["pos"] = (x, y)

    painter = QTimer()
    painter.setTimerType(Qt.TimerType.PreciseTimer)
    painter.timeout.connect(step)
    state["t0"] = time.perf_counter()
    ticks["last"] = state["t0"]
    timer.start(TICK_MS)
    painter.start(EVENT_MS)
    while painter.isActive():
        _wait(50)
    last = window.document.revision
    deadline = time.perf_counter() + 60
    while (window.preview.shown is None or window.preview.shown.revision < last) and time.perf_counter() < deadline:
        _wait(20)
    timer.stop()
    figures = {
        "edits": float(len(latencies)),
        "renders": float(window.worker.stats["draft"]),
        "render_p50_ms": _percentile(render_ms, 50),
        "latency_p50_ms": _percentile(latencies, 50) * 1000,
        "latency_p95_ms": _percentile(latencies, 95) * 1000,
        "latency_max_ms": max(latencies, default=math.nan) * 1000,
        "ui_longest_stall_ms": ticks["worst"] * 1000,
        "mouse_event_p95_ms": _percentile(handled, 95) * 1000,
        "mouse_event_max_ms": max(handled, default=math.nan) * 1000,
    }
    window.document.mark_clean()
    window.close()
    return figures
