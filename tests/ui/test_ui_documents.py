"""Documents through the window: save/open, bad files, unsaved-work prompts, import, export, canvas size."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from paintgan.images import read_rgb

pytestmark = pytest.mark.gui


def paint_something(window, mouse):
    mouse.paint("ellipse", "mountain", [(50, 200), (400, 500)])
    mouse.paint("pen", None, [(20, 20), (300, 120)], size=3)


def message_box(window):
    boxes = [b for b in window.findChildren(QMessageBox, "messageBox") if b.isVisible()]
    return boxes[-1] if boxes else None


def test_save_and_open_round_trip_is_exact(window, mouse, tmp_path, wait_result):
    paint_something(window, mouse)
    window.seed_box.setValue(1234)
    labels, sketch = window.document.labels.copy(), window.document.sketch.copy()
    path = tmp_path / "valley.paintgan"
    assert window.save_to(path)
    assert not window.document.dirty and not window.isWindowModified()
    assert window.windowTitle().startswith("valley.paintgan")
    assert window.new_document(256, 256)
    assert window.document.labels.shape == (256, 256) and window.path is None
    assert window.open_document(path)
    assert np.array_equal(window.document.labels, labels)
    assert np.array_equal(window.document.sketch, sketch)
    assert window.seed == 1234 and window.seed_box.value() == 1234
    assert not window.document.dirty and window.document.undo_stack.count() == 0
    assert str(path.resolve()) in window.settings.recent_files
    wait_result()


def test_a_painting_reopens_with_its_own_restyle_even_none(window, tmp_path):
    styles = [e.name for e in window.entries if e.input_kind == "image"]
    plain, styled = tmp_path / "plain.paintgan", tmp_path / "styled.paintgan"
    window.restyle_panel.select("")
    assert window.save_to(plain)
    window.restyle_panel.select(styles[0])
    assert window.save_to(styled)
    assert window.open_document(plain) and window.restyle_panel.current == ""  # not the last style chosen
    assert window.open_document(styled) and window.restyle_panel.current == styles[0]


def test_broken_document_shows_a_message_and_leaves_the_painting_untouched(window, mouse, tmp_path):
    paint_something(window, mouse)
    labels, sketch = window.document.labels.copy(), window.document.sketch.copy()
    count = window.document.undo_stack.count()
    broken = tmp_path / "broken.paintgan"
    broken.write_bytes(b"PK\x03\x04 this is not a zip file at all")
    foreign = tmp_path / "foreign.paintgan"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", "<office/>")
    window.ask_save_changes = lambda: "discard"
    for path in (broken, foreign):
        assert not window.open_document(path)
        assert path.name in window.last_message
        box = message_box(window)
        assert box is not None and path.name in box.text()
        box.close()
        assert np.array_equal(window.document.labels, labels)
        assert np.array_equal(window.document.sketch, sketch)
        assert window.document.undo_stack.count() == count and window.path is None


def test_unsaved_work_is_not_lost_without_asking(window, mouse, qtbot):
    paint_something(window, mouse)
    labels = window.document.labels.copy()
    assert window.isWindowModified() and "[*]" in window.windowTitle()
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or "cancel"
    assert not window.new_document()
    assert np.array_equal(window.document.labels, labels)
    window.close()  # cancelled too: the window stays, its worker keeps running
    assert asked == [1, 1] and window.worker.running
    window.ask_save_changes = lambda: "discard"


def test_import_index_label_map(window, tmp_path, wait_result):
    indices = np.random.default_rng(0).integers(0, 10, (200, 300), dtype=np.uint8)
    Image.fromarray(indices, mode="L").save(tmp_path / "map.png")
    assert window.import_label_map(str(tmp_path / "map.png"))
    assert np.array_equal(window.document.labels, indices)
    assert window.document.sketch.shape == (200, 300)
    window.undo_action.trigger()
    assert window.document.labels.shape == (512, 512)
    window.redo_action.trigger()
    result = wait_result()
    assert result.revision == window.document.revision


def test_import_colour_label_map_snaps_unknown_colours_and_says_how_many(window, tmp_path):
    palette = {label.index: label.colour for label in window.label_set.labels}
    indices = np.zeros((64, 96), np.uint8)
    indices[:, 48:] = 6
    rgb = np.array([palette[i] for i in range(10)], np.uint8)[indices]
    rgb[:5, :7] = np.array(palette[6]) + 3  # 35 pixels near "water" but not exactly its colour
    Image.fromarray(rgb).save(tmp_path / "colours.png")
    assert window.import_label_map(str(tmp_path / "colours.png"))
    expected = indices.copy()
    expected[:5, :7] = 6
    assert np.array_equal(window.document.labels, expected)
    assert "35 pixels" in window.last_message


def test_import_ade20k_map_goes_through_the_label_set(window, tmp_path):
    water = window.label_set.by_name("water")
    ade = np.full((64, 64), window.label_set.by_name("sky").ade20k, np.uint8)
    ade[32:] = water.ade20k
    Image.fromarray(ade, mode="L").save(tmp_path / "ade.png")
    assert window.import_label_map(str(tmp_path / "ade.png"), kind="ade20k")
    assert (window.document.labels[32:] == water.index).all()
    assert (window.document.labels[:32] == window.label_set.by_name("sky").index).all()


def test_import_of_a_bad_label_map_changes_nothing(window, tmp_path):
    labels = window.document.labels.copy()
    Image.fromarray(np.full((64, 64), 77, np.uint8), mode="L").save(tmp_path / "alien.png")
    (tmp_path / "huge.png").write_bytes(b"")
    Image.new("L", (8000, 16)).save(tmp_path / "huge.png")
    for name in ("alien.png", "huge.png"):
        assert not window.import_label_map(str(tmp_path / name))
        assert name in window.last_message
        assert np.array_equal(window.document.labels, labels)
    assert window.document.undo_stack.count() == 0


def test_import_image_as_sketch(window, tmp_path):
    picture = np.full((300, 400, 3), 235, np.uint8)
    picture[100:200, 120:300] = 30  # a dark box: its outline becomes ink
    Image.fromarray(picture).save(tmp_path / "box.png")
    assert window.import_sketch(str(tmp_path / "box.png"))
    ink = window.document.sketch
    assert ink.shape == (512, 512)
    assert ink.max() > 128 and (ink > 64).mean() < 0.2
    window.undo_action.trigger()
    assert not window.document.sketch.any()


def test_export_result_png_and_jpeg(window, tmp_path, wait_result):
    wait_result()
    assert window.export_result(str(tmp_path / "out.png"))
    assert np.array_equal(read_rgb(tmp_path / "out.png"), window.preview.image())
    assert window.export_result(str(tmp_path / "out.jpg"))
    assert read_rgb(tmp_path / "out.jpg").shape == window.preview.image().shape


def test_export_layers_as_openraster(window, mouse, tmp_path, wait_result):
    paint_something(window, mouse)
    wait_result()
    path = tmp_path / "layers.ora"
    assert window.export_layers(str(path))
    with zipfile.ZipFile(path) as zf:
        assert zf.read("mimetype") == b"image/openraster"
        stack = zf.read("stack.xml").decode()
    for name in ("Labels", "Sketch", "Result"):
        assert f'name="{name}"' in stack


def test_canvas_size_scales_the_painting_and_is_undoable(window, mouse):
    mouse.paint("rectangle", "grass", [(0, 256), (511, 511)])
    before = window.document.labels.copy()
    window.resize_canvas(1024, 1024)
    assert np.array_equal(window.document.labels, before.repeat(2, axis=0).repeat(2, axis=1))
    assert window.canvas.display_rgb().shape == (1024, 1024, 3)
    window.undo_action.trigger()
    assert np.array_equal(window.document.labels, before)


def test_copy_result_to_clipboard(window, wait_result):
    from PySide6.QtGui import QGuiApplication

    wait_result()
    window.copy_action.trigger()
    image = QGuiApplication.clipboard().image()
    assert (image.width(), image.height()) == (512, 512)


def test_dropping_a_painting_opens_it(window, mouse, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    paint_something(window, mouse)
    labels = window.document.labels.copy()
    path = tmp_path / "dropped.paintgan"
    assert window.save_to(path)
    assert window.new_document()
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path)), QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert window.path == path and np.array_equal(window.document.labels, labels)
