"""Painting with real mouse events: exact pixels for every tool, undo/redo, zoom/pan, shortcuts."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui


def centres(shape):
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return xs + 0.5, ys + 0.5


def expected_capsule(shape, p0, p1, radius):
    """Brute force: pixels whose centre is within `radius` of the segment between two pixel centres."""
    xs, ys = centres(shape)
    (ax, ay), (bx, by) = (p0[0] + 0.5, p0[1] + 0.5), (p1[0] + 0.5, p1[1] + 0.5)
    dx, dy = bx - ax, by - ay
    t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
    return (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius**2


def choose(window, label_name):
    label = window.label_set.by_name(label_name)
    window.palette.select_index(label.index)
    return label.index


def test_brush_stroke_changes_exactly_the_expected_pixels(window, mouse):
    window.set_tool("brush")
    window.set_brush_size(9)
    water = choose(window, "water")
    before = window.document.labels.copy()
    mouse.drag([(40, 50), (120, 50), (120, 130)])
    changed = window.document.labels != before
    expected = expected_capsule(before.shape, (40, 50), (120, 50), 4.5) | expected_capsule(
        before.shape, (120, 50), (120, 130), 4.5)
    assert np.array_equal(changed, expected)
    assert set(np.unique(window.document.labels[changed])) == {water}
    assert window.document.undo_stack.count() == 1  # one stroke, one command


def test_fast_stroke_is_continuous_between_far_apart_events(window, mouse):
    window.set_tool("brush")
    window.set_brush_size(3)
    tree = choose(window, "tree")
    mouse.drag([(10, 300), (400, 310)])  # one event 390 px away from the press
    row_hits = [(window.document.labels[:, x] == tree).any() for x in range(10, 401)]
    assert all(row_hits)


def test_label_layer_is_never_antialiased(window, mouse):
    window.set_tool("brush")
    window.set_brush_size(17)
    choose(window, "snow")
    mouse.drag([(33.3, 70), (200, 211), (260, 90)])
    window.set_tool("ellipse")
    choose(window, "rock")
    mouse.drag([(100, 100), (300, 240)])
    assert set(np.unique(window.document.labels)) <= set(window.label_set.indices)
    assert len(np.unique(window.document.labels)) == 3


def test_fill_floods_only_the_connected_region(window, mouse):
    labels = window.document.labels
    window.set_tool("rectangle")
    choose(window, "mountain")
    mouse.drag([(100, 100), (199, 199)])  # a closed square of mountain, 100 x 100
    window.set_tool("fill")
    grass = choose(window, "grass")
    mouse.click(150, 150)  # inside: the square only
    assert (labels[100:200, 100:200] == grass).all()
    assert (labels == grass).sum() == 100 * 100
    mouse.click(5, 5)  # outside: the rest of the sky becomes grass too
    assert (labels == grass).all()


def test_rectangle_ellipse_line_and_lasso_paint_their_shapes(window, mouse):
    labels = window.document.labels
    shape = labels.shape
    xs, ys = centres(shape)

    window.set_tool("rectangle")
    sand = choose(window, "sand")
    mouse.drag([(20, 30), (60, 45), (80, 50)])
    assert np.array_equal(labels == sand, (xs >= 20.5) & (xs <= 80.5) & (ys >= 30.5) & (ys <= 50.5))

    window.set_tool("ellipse")
    dirt = choose(window, "dirt")
    mouse.drag([(200, 200), (300, 260)])
    cx, cy, rx, ry = 250.5, 230.5, 50, 30
    assert np.array_equal(labels == dirt, ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1)

    window.set_tool("line")
    window.set_brush_size(5)
    water = choose(window, "water")
    mouse.drag([(10, 400), (200, 480)])
    assert np.array_equal(labels == water, expected_capsule(shape, (10, 400), (200, 480), 2.5))

    window.set_tool("lasso")
    cloud = choose(window, "cloud")
    mouse.drag([(400, 20), (480, 20), (480, 100), (400, 100)])  # a square traced by hand
    inside = (xs >= 400.5) & (xs <= 480.5) & (ys >= 20.5) & (ys <= 100.5)  # outline included
    assert np.array_equal(labels == cloud, inside)
    assert window.document.undo_stack.count() == 4


def test_eyedropper_picks_the_label_under_the_pointer(window, mouse):
    window.set_tool("rectangle")
    rock = choose(window, "rock")
    mouse.drag([(10, 10), (50, 50)])
    choose(window, "sky")
    window.set_tool("eyedropper")
    mouse.click(30, 30)
    assert window.palette.current_index == rock


def test_sketch_pen_and_eraser_touch_only_the_sketch_layer(window, mouse):
    labels_before = window.document.labels.copy()
    window.set_tool("pen")
    window.set_brush_size(3)
    mouse.drag([(50, 50), (150, 50)])
    sketch = window.document.sketch
    assert np.array_equal(sketch == 255, expected_capsule(sketch.shape, (50, 50), (150, 50), 1.5))
    assert np.array_equal(window.document.labels, labels_before)
    window.set_tool("sketch_eraser")
    mouse.drag([(40, 50), (160, 50)])
    assert not sketch.any()


def test_eraser_paints_the_background_label(window, mouse):
    window.set_tool("rectangle")
    choose(window, "tree")
    mouse.drag([(0, 0), (100, 100)])
    window.set_tool("eraser")
    window.set_brush_size(11)
    mouse.drag([(50, 10), (50, 90)])
    erased = expected_capsule(window.document.labels.shape, (50, 10), (50, 90), 5.5)
    assert (window.document.labels[erased] == window.background_value).all()


def test_undo_and_redo_restore_exact_pixels(window, mouse):
    doc = window.document
    states = [(doc.labels.copy(), doc.sketch.copy())]
    window.set_tool("brush")
    choose(window, "water")
    mouse.drag([(10, 10), (300, 200), (50, 400)])
    states.append((doc.labels.copy(), doc.sketch.copy()))
    window.set_tool("fill")
    choose(window, "grass")
    mouse.click(500, 500)
    states.append((doc.labels.copy(), doc.sketch.copy()))
    window.set_tool("pen")
    mouse.drag([(0, 0), (511, 511)])
    states.append((doc.labels.copy(), doc.sketch.copy()))
    for labels, sketch in reversed(states[:-1]):
        window.undo_action.trigger()
        assert np.array_equal(doc.labels, labels) and np.array_equal(doc.sketch, sketch)
    for labels, sketch in states[1:]:
        window.redo_action.trigger()
        assert np.array_equal(doc.labels, labels) and np.array_equal(doc.sketch, sketch)
    # the canvas shows the restored pixels, not stale ones
    colour = window.label_set.by_name("grass").colour
    assert tuple(window.canvas.display_rgb()[500, 480]) == colour


def test_undo_history_keeps_only_changed_regions_and_is_bounded_by_bytes(window, mouse):
    doc = window.document
    window.set_tool("brush")
    window.set_brush_size(5)
    choose(window, "rock")
    mouse.drag([(100, 100), (110, 100)])
    assert doc.history_bytes <= 2 * 16 * 6  # before + after of the 16 x 6 box the stroke touched
    doc.undo_bytes = 3 * 2 * 16 * 6
    for y in range(120, 220, 20):
        mouse.drag([(100, y), (110, y)])
    assert doc.history_bytes <= doc.undo_bytes
    assert doc.undo_stack.count() == 3  # the oldest strokes were forgotten
    keep = doc.labels.copy()
    for _ in range(3):
        window.undo_action.trigger()
    assert not window.undo_action.isEnabled()
    assert (doc.labels[100:110, 95:115] == window.label_set.by_name("rock").index).any()  # forgotten: stays
    for _ in range(3):
        window.redo_action.trigger()
    assert np.array_equal(doc.labels, keep)
    assert doc.dirty


def test_wheel_zooms_about_the_pointer_and_middle_drag_pans_without_painting(window):
    canvas = window.canvas
    before = window.document.labels.copy()
    anchor = QPointF(200, 150)
    image_point = canvas.to_image(anchor)
    event = QWheelEvent(anchor, canvas.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, event)
    assert canvas.zoom == pytest.approx(1.15**2)
    assert canvas.to_image(anchor) == pytest.approx(image_point)
    offset = QPointF(canvas.offset)
    middle = Qt.MouseButton.MiddleButton
    QTest.mousePress(canvas, middle, Qt.KeyboardModifier.NoModifier, QPoint(100, 100))
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(160, 130), canvas.mapToGlobal(QPointF(160, 130)),
                       Qt.MouseButton.NoButton, middle, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, move)
    QTest.mouseRelease(canvas, middle, Qt.KeyboardModifier.NoModifier, QPoint(160, 130))
    assert canvas.offset - offset == QPointF(60, 30)
    assert np.array_equal(window.document.labels, before)
    assert window.document.undo_stack.count() == 0


def test_fit_and_actual_size(window):
    canvas = window.canvas
    canvas.resize(300, 800)
    window.fit_action.trigger()
    assert canvas.zoom == pytest.approx((300 - 24) / 512)
    window.actual_action.trigger()
    assert canvas.zoom == 1.0


def test_space_drag_pans_instead_of_painting(window):
    canvas = window.canvas
    before = window.document.labels.copy()
    offset = QPointF(canvas.offset)
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(50, 50))
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(90, 70), canvas.mapToGlobal(QPointF(90, 70)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, move)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(90, 70))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.offset - offset == QPointF(40, 20)
    assert np.array_equal(window.document.labels, before)


@pytest.fixture
def shown(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.canvas.set_view(1.0, QPointF(0, 0))
    return window


def test_shortcuts_pick_tools_sizes_labels_and_undo(shown, mouse):
    window, canvas = shown, shown.canvas
    for key, tool in ((Qt.Key.Key_G, "fill"), (Qt.Key.Key_R, "rectangle"), (Qt.Key.Key_O, "ellipse"),
                      (Qt.Key.Key_L, "line"), (Qt.Key.Key_A, "lasso"), (Qt.Key.Key_I, "eyedropper"),
                      (Qt.Key.Key_P, "pen"), (Qt.Key.Key_E, "eraser"), (Qt.Key.Key_B, "brush")):
        QTest.keyClick(canvas, key)
        assert window.tool.info.key == tool
    size = window.brush_size
    QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert window.brush_size > size
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    QTest.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert window.brush_size < size
    labels = window.label_set.labels
    QTest.keyClick(canvas, Qt.Key.Key_3)
    assert window.palette.current_index == labels[2].index
    QTest.keyClick(canvas, Qt.Key.Key_0)
    assert window.palette.current_index == labels[9].index
    mouse.drag([(100, 100), (200, 100)])
    assert window.document.dirty
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not (window.document.labels == labels[9].index).any()
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (window.document.labels == labels[9].index).any()


def test_palette_search_filters_and_number_keys_ignore_the_filter(window):
    palette = window.palette
    palette.search.setText("wat")
    visible = [palette.list.item(r).text() for r in range(palette.list.count()) if not palette.list.item(r).isHidden()]
    assert len(visible) == 1 and "water" in visible[0]
    assert palette.select_position(7)  # "8": tree, even though hidden by the filter
    assert palette.current_label().name == "tree"


def test_shortcut_list_is_read_from_the_actions(window):
    rows = dict((what, keys) for keys, what in window.shortcut_rows())
    assert rows["Brush"] == "B" and rows["Undo"] == "Ctrl+Z" and "Ctrl+Shift+Z" in rows["Redo"]
    assert rows["Pick one of the first ten labels"] == "1 … 0"
