"""Live rendering through the worker: latest wins, stale results dropped, refine, restyle, failures, shutdown."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QComboBox, QWidget

pytestmark = pytest.mark.gui


def test_window_has_the_documented_object_names(window):
    for name in ("canvas", "preview", "palette", "restylePanel"):
        assert isinstance(window.findChild(QWidget, name), QWidget), name
    assert isinstance(window.findChild(QComboBox, "modelSelector"), QComboBox)
    live = window.findChild(QAction, "liveToggle")
    assert live is not None and live.isCheckable() and live.isChecked()


def test_live_render_arrives_and_changes_the_preview(window, mouse, wait_result):
    first = wait_result()
    before = window.preview.image()
    assert first.stage == "draft" and before.shape == (512, 512, 3)
    mouse.paint("brush", "water", [(100, 300), (400, 300)], size=40)
    result = wait_result()
    assert result.revision == window.document.revision
    after = window.preview.image()
    changed = (after != before).any(axis=2)
    assert changed[300, 250] and not changed[50, 50]  # the stroke shows up where it was painted, only there
    assert "ms" in window.render_label.text()


def test_burst_of_50_strokes_on_a_slow_model_renders_at_most_twice_more(fake, window, mouse, wait_result, qtbot):
    gate = threading.Event()
    gate.set()
    slow = fake(delay=0.2, gate=gate)
    window.worker.use_renderers(draft=("slow", slow, False))
    window.render_now()
    wait_result()
    qtbot.waitUntil(lambda: len(slow.calls) >= 1 and window.preview.shown.model_name == "slow")
    start = len(slow.calls)
    gate.clear()  # from here the model is still busy with the burst's first render when the burst ends
    for i in range(50):
        mouse.paint("brush", "grass" if i % 2 else "tree", [(10 + 9 * i, 50), (10 + 9 * i, 450)], size=6)
        QApplication.processEvents()  # each stroke reaches the worker as its own request
    last = window.document.revision
    assert len(slow.calls) - start <= 1  # the first stroke's render is running; the rest wait in ONE slot
    gate.set()
    shown = wait_result(last)
    qtbot.wait(500)  # anything still queued would have started by now
    assert shown.revision == last and window.preview.shown.revision == last
    # The first render of the burst, then the newest revision only: never the 48 in between (the issue allows
    # at most two more after the first).
    assert len(slow.calls) - start <= 2


def test_stale_results_never_replace_newer_ones(window, mouse, wait_result):
    wait_result()
    shown = window.preview.shown
    older = type(shown)(shown.serial - 1, shown.revision - 1, "draft", "old", shown.base * 0, None, "", 1.0)
    window._on_result(older)
    assert window.preview.shown is shown


def test_refine_model_renders_full_size_after_idle(fake, window, mouse, wait_result, qtbot):
    window.worker.preview_side = 128
    window.worker.idle_ms = 150
    window.worker.use_renderers(refine=("big", fake(), False))
    mouse.paint("brush", "snow", [(200, 50), (300, 150)], size=20)
    draft = wait_result()
    assert draft.stage == "draft" and draft.base.shape[:2] == (128, 128)
    qtbot.waitUntil(lambda: window.preview.shown.stage == "refine", timeout=5000)
    refine = window.preview.shown
    assert refine.revision == window.document.revision and refine.base.shape[:2] == (512, 512)
    assert window.preview.title.text() == "Refined"


def test_without_refine_model_the_draft_model_makes_the_full_size_picture_after_idle(window, mouse, wait_result,
                                                                                       qtbot):
    window.worker.preview_side = 128
    window.worker.idle_ms = 150
    mouse.paint("brush", "water", [(20, 400), (500, 420)], size=20)
    assert wait_result().base.shape[:2] == (128, 128)
    qtbot.waitUntil(lambda: window.preview.shown.stage == "refine", timeout=5000)
    final = window.preview.shown
    assert final.base.shape[:2] == (512, 512) and final.model_name == window.render_entry.name


def test_painting_cancels_a_pending_refine(fake, window, mouse, wait_result, qtbot):
    refine = fake()
    window.worker.idle_ms = 1500  # far longer than a stroke and its draft, even on a slow machine
    window.worker.use_renderers(refine=("big", refine, False))
    for i in range(6):
        mouse.paint("brush", "rock", [(50 * i, 20), (50 * i, 60)], size=20)
        wait_result()
        qtbot.wait(100)  # shorter than the idle time
    assert refine.calls == []
    qtbot.waitUntil(lambda: len(refine.calls) == 1, timeout=5000)


def test_restyle_changes_the_preview_and_strength_blends(window, wait_result, qtbot):
    base = wait_result().base
    renders = window.worker.stats["draft"]
    style = next(e.name for e in window.entries if e.input_kind == "image")
    window.restyle_panel.select(style)
    qtbot.waitUntil(lambda: window.preview.shown.styled is not None, timeout=5000)
    assert np.array_equal(window.preview.image(), 255 - base)  # the stand-in restyle inverts
    assert window.worker.stats["draft"] == renders  # a new style restyles the picture, it does not re-render
    window.restyle_panel.strength.setValue(50)
    expected = np.rint(base.astype(np.float32) * 0.5 + (255 - base).astype(np.float32) * 0.5).astype(np.uint8)
    assert np.array_equal(window.preview.image(), expected)
    window.restyle_panel.before.setChecked(True)  # before / after
    assert np.array_equal(window.preview.image(), base)
    assert window.before_action.isChecked()


def test_style_thumbnails_show_a_landscape_on_a_blank_canvas_and_the_painting_once_there_is_one(window, mouse,
                                                                                                wait_result):
    wait_result()
    assert window.preview.image().reshape(-1, 3).std(axis=0).max() < 1  # the new canvas renders flat
    blank = window._thumbnail_sample()
    assert blank.reshape(-1, 3).std(axis=0).max() > 20, "a scene to show each style on, not the empty canvas"
    mouse.paint("brush", "water", [(0, 300), (511, 300)], size=120)
    wait_result()
    expected = cv2.resize(window.preview.image(), (96, 96), interpolation=cv2.INTER_AREA)
    assert np.array_equal(window._thumbnail_sample(), expected)


def test_restyle_applies_to_an_imported_photo(window, wait_result, qtbot):
    wait_result()
    style = next(e.name for e in window.entries if e.input_kind == "image")
    window.restyle_panel.select(style)
    photo = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    window.set_photo(photo)
    qtbot.waitUntil(lambda: window.preview.shown.stage == "photo", timeout=5000)
    assert np.array_equal(window.preview.image(), 255 - photo)


def test_new_variation_changes_the_seed_and_the_picture(window, wait_result, qtbot):
    before = wait_result().base
    window.variation_action.trigger()
    assert window.seed != 0
    qtbot.waitUntil(lambda: not np.array_equal(window.preview.shown.base, before), timeout=5000)


def test_live_off_stops_rendering_until_render_now(window, mouse, wait_result, qtbot):
    wait_result()
    window.findChild(QAction, "liveToggle").trigger()
    assert not window.live_action.isChecked()
    mouse.paint("brush", "sand", [(10, 10), (200, 200)], size=20)
    qtbot.wait(300)
    assert window.preview.shown.revision < window.document.revision
    window.render_action.trigger()
    wait_result()


def test_a_model_that_raises_shows_a_message_and_the_app_keeps_running(fake, window, mouse, wait_result, qtbot):
    wait_result()
    window.worker.use_renderers(draft=("broken", fake(fail=True), False))
    mouse.paint("brush", "dirt", [(10, 10), (100, 100)], size=20)
    qtbot.waitUntil(lambda: window.preview.error.isVisibleTo(window.preview), timeout=5000)
    assert "told to fail" in window.preview.error.text()
    window.worker.use_renderers(draft=("fixed", fake(), False))
    mouse.paint("brush", "dirt", [(100, 10), (200, 100)], size=20)
    assert wait_result().model_name == "fixed"
    assert not window.preview.error.isVisibleTo(window.preview)


def test_a_model_that_fails_to_load_keeps_the_previous_one(window, mouse, wait_result, qtbot, tmp_path):
    wait_result()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    with qtbot.waitSignal(window.worker.modelFailed, timeout=10000) as blocker:
        window.worker.set_models({"draft": str(broken)})
    assert blocker.args[0] == "draft" and blocker.args[1]
    mouse.paint("brush", "tree", [(10, 10), (100, 100)], size=20)
    assert wait_result().revision == window.document.revision


def test_status_bar_names_device_and_model(window, wait_result, qtbot):
    wait_result()
    qtbot.waitUntil(lambda: window.device_label.text() == "Device: cpu")
    assert window.render_entry.name in window.model_label.text()
    # An untrained placeholder is announced in the status bar and the banner; a trained model is not.
    untrained = window.render_entry.placeholder
    assert ("placeholder" in window.model_label.text()) == untrained
    assert window.preview.banner.isVisibleTo(window.preview) == untrained


def test_closing_the_window_stops_the_worker(window, wait_result):
    wait_result()
    assert window.worker.running
    window.close()
    assert not window.worker.running


@pytest.mark.slow
def test_default_model_renders_end_to_end(qtbot):
    """No stand-ins: the default model (bundled, or the engine's untrained placeholder where none is installed)
    through the real Renderer, off the UI thread; the banner shows exactly when the picture is untrained."""
    from ui import MainWindow
    from ui.settings import Settings

    settings = Settings()
    settings.preview_resolution = 128
    win = MainWindow(settings)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.preview.shown is not None, timeout=120_000)
        result = win.preview.shown
        assert result.base.shape == (128, 128, 3) and result.base.dtype == np.uint8
        assert result.base.std() > 0  # a picture, not a blank
        assert result.placeholder == win.render_entry.placeholder
        assert win.preview.banner.isVisibleTo(win.preview) == result.placeholder
    finally:
        win.close()
    assert not win.worker.running


def tiled_renderer(fake, exact: bool):  # noqa: ANN001, ANN201
    """A stand-in that renders regions too, and says (as the engine's renderers do) whether its tiles are exact."""
    from paintgan.render_core import Tiling, inexact

    class Tiled(fake):
        tiling = Tiling(True, 32, "test: receptive field 32 px") if exact else inexact("test: instance norm")

        def __init__(self) -> None:
            super().__init__()
            self.boxes = []

        def latent(self, style=None, seed=None):  # noqa: ANN001, ANN201
            return None

        def context_box(self, box, w, h, overlap=None):  # noqa: ANN001, ANN201
            from paintgan.render_core import Box

            c = self.tiling.overlap  # the engine also aligns it to the size multiple; this stand-in has none
            return Box(max(box.x0 - c, 0), max(box.y0 - c, 0), min(box.x1 + c, w), min(box.y1 + c, h))

        def render_region(self, source, box, latent=None):  # noqa: ANN001, ANN201
            self.boxes.append((box.x0, box.y0))
            return self.render(source[box.y0 : box.y1, box.x0 : box.x1])

    return Tiled()


def big_canvas_refines(window, qtbot, renderer):  # noqa: ANN001, ANN201
    """A 1536 x 1024 canvas refined by `renderer`; returns a wait for the refine of the current revision."""
    window.worker.preview_side = 256
    # Long enough that a loaded machine cannot slip a refine in between the press and the moves of one stroke
    # (the tests count the tiles each stroke's refine renders).
    window.worker.idle_ms = 1000
    window.worker.use_renderers(refine=("big", renderer, False))
    window.resize_canvas(1536, 1024)
    window.canvas.set_view(1.0, window.canvas.offset * 0)

    def final_for_current() -> bool:
        shown = window.preview.shown
        return shown.stage == "refine" and shown.revision == window.document.revision

    return lambda: qtbot.waitUntil(final_for_current, timeout=10000)


def test_big_canvas_final_render_redoes_only_the_tiles_near_a_change(fake, window, mouse, qtbot, monkeypatch):
    from ui import render_worker

    tiled = tiled_renderer(fake, exact=True)
    wait_final = big_canvas_refines(window, qtbot, tiled)
    wait_final()
    assert tiled.boxes == [] and (1024, 1536) in tiled.calls  # every tile to do: one full render costs less
    mouse.paint("brush", "rock", [(100, 100), (140, 120)], size=10)
    wait_final()
    assert tiled.boxes == [(0, 0)]  # only the tile the stroke touched (farther than 32 px from the others)
    assert window.worker.stats["tiles"] == 1
    assert np.array_equal(window.preview.shown.base, fake().render(window.document.labels))
    # Past WHOLE_MAX_PIXELS even a first render goes tile by tile: memory bounded by a tile's.
    monkeypatch.setattr(render_worker, "WHOLE_MAX_PIXELS", 0)
    window.worker.set_models({})  # a model job forgets the tiles, so the next refine starts afresh
    mouse.paint("brush", "water", [(1200, 900), (1210, 905)], size=4)
    wait_final()
    assert len(tiled.boxes) == 1 + 6  # 3 x 2 tiles of 512
    assert np.array_equal(window.preview.shown.base, fake().render(window.document.labels))


def test_a_model_that_cannot_tile_exactly_is_refined_whole_on_a_big_canvas(fake, window, mouse, qtbot):
    seamy = tiled_renderer(fake, exact=False)
    wait_final = big_canvas_refines(window, qtbot, seamy)
    wait_final()
    mouse.paint("brush", "rock", [(100, 100), (140, 120)], size=10)
    wait_final()
    assert seamy.boxes == [] and window.worker.stats["tiles"] == 0  # never a region: a seam would show
    assert seamy.calls[-1] == (1024, 1536)  # the final pass is the whole canvas in one render
    assert np.array_equal(window.preview.shown.base, fake().render(window.document.labels))


def test_a_failing_style_still_shows_the_picture_and_says_why(fake, window, mouse, wait_result, qtbot):
    window.worker.use_renderers(restyle=("brittle", fake(fail=True), False))
    mouse.paint("brush", "water", [(10, 300), (500, 300)], size=30)
    result = wait_result()
    assert result.styled is None and window.preview.image() is not None
    qtbot.waitUntil(lambda: window.preview.error.isVisibleTo(window.preview), timeout=5000)
    assert "restyle brittle" in window.preview.error.text()


def test_asking_again_for_the_same_picture_renders_once_unless_render_now(fake, window, wait_result, qtbot):
    counting = fake()
    window.worker.use_renderers(draft=("counting", counting, False))
    window.render_action.trigger()
    qtbot.waitUntil(lambda: len(counting.calls) == 1 and window.preview.shown.model_name == "counting")
    for _ in range(3):  # live off and on again: nothing changed, nothing to render
        window.live_action.setChecked(False)
        window.live_action.setChecked(True)
    qtbot.wait(300)
    assert len(counting.calls) == 1
    window.render_action.trigger()  # the user insists
    qtbot.waitUntil(lambda: len(counting.calls) == 2)
