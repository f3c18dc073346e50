"""The app around the document: layer display, remembered settings and layout, the command line."""

from __future__ import annotations

import numpy as np
import pytest

from ui.app import parse_args
from ui.settings import Settings

pytestmark = pytest.mark.gui


def test_layer_opacity_and_visibility_change_the_display_not_the_painting(window, mouse):
    mouse.paint("rectangle", "tree", [(0, 0), (99, 99)])
    mouse.paint("pen", None, [(0, 200), (300, 200)])
    labels, sketch = window.document.labels.copy(), window.document.sketch.copy()
    tree = np.array(window.label_set.by_name("tree").colour, np.float32)
    window.layers_panel.labels_opacity.setValue(50)
    shown = window.canvas.display_rgb()[50, 50].astype(np.float32)
    assert np.allclose(shown, (tree + 255) / 2, atol=1)  # half way to paper white
    window.layers_panel.sketch_visible.setChecked(False)
    assert (window.canvas.display_rgb()[200, 150] != window.canvas.display_rgb()[200, 150].min()).any()
    assert np.array_equal(window.document.labels, labels) and np.array_equal(window.document.sketch, sketch)
    assert window.document.undo_stack.count() == 2


def test_settings_and_window_layout_are_remembered(qtbot, factory):
    from ui import MainWindow

    first = MainWindow(Settings(), renderer_factory=factory)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.resize(1100, 750)
    first.live_action.setChecked(False)
    first.restyle_dock.hide()
    first.splitter.setSizes([300, 500])
    geometry, splitter = first.saveGeometry(), first.splitter.saveState()
    first.close()
    # The offscreen screen is too small to restore a window's width; the saved layout is what can be checked.
    assert Settings().window_state()[0] == geometry and Settings().splitter_state() == splitter
    second = MainWindow(Settings(), renderer_factory=factory)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    try:
        assert not second.live_action.isChecked()
        assert not second.restyle_dock.isVisible() and second.palette_dock.isVisible()
    finally:
        second.close()


def test_command_line_takes_a_painting_and_a_screenshot_flag():
    args = parse_args(["valley.paintgan", "--smoke-screenshot", "shot.png"])
    assert args.document == "valley.paintgan" and args.smoke_screenshot == "shot.png"


def test_preferences_reach_the_render_worker(window, factory, qtbot):
    window.settings.device = "cpu"
    window.settings.threads = 1
    window.settings.preview_resolution = 128
    window.settings.refine_idle_ms = 300
    made = len(factory.made)
    window.apply_settings()
    assert window.worker.preview_side == 128 and window.worker.idle_ms == 300
    name = window.render_entry.name
    qtbot.waitUntil(lambda: any(r.model.card.name == name for r in factory.made[made:]), timeout=10000)
    assert next(r for r in factory.made[made:] if r.model.card.name == name).device_asked == ("cpu", 1)
