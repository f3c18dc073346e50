"""Model choices in the window: import a checkpoint (and refuse a bad one), sketch models, label translation."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog, QLabel

from paintgan.labels import ade20k_labelset, landscape_labelset
from paintgan.models import placeholder_model, save_model, user_models_dir
from ui.render_worker import _translate

pytestmark = pytest.mark.gui


def test_import_checkpoint_shows_its_card_and_offers_the_model(window, tmp_path):
    model = placeholder_model("image", seed=5)
    model.card.name = "watercolour"
    model.card.placeholder = False
    model.card.description = "soft edges, paper grain"
    path = save_model(model, tmp_path / "watercolour.safetensors")
    assert window.import_checkpoint(str(path))
    assert (user_models_dir() / "watercolour.safetensors").is_file()
    names = [window.restyle_panel.list.item(r).text() for r in range(window.restyle_panel.list.count())]
    assert "watercolour" in names
    dialog = window.findChild(QDialog, "modelCardDialog")
    assert dialog is not None and dialog.isVisible()
    texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "watercolour" in texts and "soft edges, paper grain" in texts
    dialog.close()


def test_a_failing_import_explains_itself_and_changes_nothing(window, tmp_path):
    before = [e.name for e in window.entries]
    bogus = tmp_path / "latest_net_G.pth"
    bogus.write_bytes(b"\x80\x04 definitely not a checkpoint")
    assert not window.import_checkpoint(str(bogus))
    assert "Import failed, nothing was changed" in window.last_message
    assert [e.name for e in window.entries] == before
    assert not user_models_dir().exists() or not any(user_models_dir().iterdir())


def _sketch_model(window) -> str:
    """The offered sketch model: the bundled one, or the placeholder when weights/ has none."""
    return next(e.name for e in window.entries if e.input_kind == "sketch")


def test_a_sketch_model_renders_the_sketch_layer(window, mouse, wait_result, qtbot, factory):
    name = _sketch_model(window)
    window.model_selector.select(name)
    assert window.render_entry.input_kind == "sketch"
    qtbot.waitUntil(lambda: window.worker._slots["draft"].name == name, timeout=10000)
    window.set_tool("pen")
    window.set_brush_size(5)
    mouse.drag([(100, 100), (400, 100)])
    result = wait_result()
    sketch_renderer = next(r for r in reversed(factory.made) if r.model.card.name == name)
    assert sketch_renderer.calls[-1] == (512, 512)
    # the stand-in colours values: ink and paper differ, labels play no part
    assert not np.array_equal(result.base[100, 250], result.base[300, 250])
    assert np.array_equal(result.base[300, 250], result.base[50, 50])


def test_style_reference_needs_a_model_with_an_encoder(window):
    card = window.render_entry.model_card()
    assert card is not None and not card.encoder_config
    assert not window.style_ref_action.isEnabled()


def test_label_maps_are_translated_for_a_model_of_another_label_set():
    landscape, ade = landscape_labelset(), ade20k_labelset()
    painted = np.array([[landscape.by_name("water").index, landscape.by_name("tree").index]], np.uint8)
    translated = _translate(painted, landscape, ade)
    assert [ade.by_index(int(i)).name for i in translated[0]] == ["water", "tree"]
    assert _translate(painted, landscape, landscape) is painted


def test_model_menu_mirrors_and_drives_the_selectors(window, qtbot):
    window.restyle_menu.aboutToShow.emit()
    titles = [a.text() for a in window.restyle_menu.actions()]
    assert titles[0] == "None" and window.restyle_menu.actions()[0].isChecked()
    window.restyle_menu.actions()[1].trigger()
    assert window.restyle_panel.current == next(e.name for e in window.entries if e.input_kind == "image")
    window.render_menu.aboutToShow.emit()
    sketch = next(a for a in window.render_menu.actions() if a.text().startswith(_sketch_model(window)))
    sketch.trigger()
    assert window.render_entry.name == _sketch_model(window)
    window.render_menu.aboutToShow.emit()
    assert next(a for a in window.render_menu.actions() if a.isChecked()).text().startswith(_sketch_model(window))
