"""The seven models in weights/: each loads by name, says what it is, and makes a picture of its own input kind.

These are the files a double-click user gets; the names are fixed by outside checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from paintgan.cli import main
from paintgan.models import load_model, registry
from paintgan.render import Renderer
from shared_paths import REPO

WEIGHTS = REPO / "weights"
EXPECTED = {
    "landscape": "labels",
    "sketch": "sketch",
    "monet": "image",
    "vangogh": "image",
    "cezanne": "image",
    "ukiyoe": "image",
    "illustration": "image",
}
LANDSCAPE_CLASSES = ["sky", "cloud", "mountain", "rock", "snow", "water", "grass", "tree", "sand", "dirt"]
MAX_WEIGHTS_BYTES = 80 * 1024 * 1024


def _smoke_input(kind: str, size: int = 64) -> np.ndarray:
    """A tiny scene of the model's own input kind: sky over water over grass, or its outline, or its colours."""
    third = size // 3
    if kind == "labels":
        labels = np.full((size, size), LANDSCAPE_CLASSES.index("grass"), np.uint8)
        labels[:third] = LANDSCAPE_CLASSES.index("sky")
        labels[third : 2 * third] = LANDSCAPE_CLASSES.index("water")
        return labels
    if kind == "sketch":
        ink = np.zeros((size, size), np.uint8)
        ink[third, :] = ink[2 * third, :] = 255
        return ink
    rgb = np.empty((size, size, 3), np.uint8)
    rgb[:third], rgb[third : 2 * third], rgb[2 * third :] = (120, 170, 235), (40, 80, 160), (70, 150, 60)
    return rgb


def test_every_bundled_model_is_there_within_the_size_budget() -> None:
    bundled = {name for name, entry in registry().items() if entry.origin == "bundled"}
    assert set(EXPECTED) <= set(bundled), f"missing from weights/: {sorted(set(EXPECTED) - set(bundled))}"
    total = sum(p.stat().st_size for p in WEIGHTS.iterdir() if p.is_file())
    assert total <= MAX_WEIGHTS_BYTES, f"weights/ holds {total / 2**20:.1f} MB; the budget is 80 MB"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_model_card_is_complete(name: str) -> None:
    card = load_model(name).card
    assert card.name == name and card.input_kind == EXPECTED[name] and not card.placeholder
    assert card.description and card.limits
    training = card.training
    assert training["steps"] > 0 and training["hours"] > 0 and training["hardware"] and training["data_licence"]
    assert card.metrics.get("eval_data"), "the card's metrics come from paintgan eval"
    if card.input_kind == "image":
        assert 0 < card.metrics["content_edge_SSIM"] <= 1
        assert card.metrics["style_distance"] < card.metrics["style_distance_input"]
    if card.input_kind == "labels":
        assert card.metrics["class_consistency"] >= 0.9


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_model_renders_a_smoke_frame(name: str) -> None:
    model = load_model(name)
    source = _smoke_input(model.card.input_kind)
    picture = Renderer(model, device="cpu").render(source)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert picture.std() > 4, "not one flat colour"
    if model.card.input_kind == "labels":
        sky, grass = picture[:16].reshape(-1, 3).mean(0), picture[-16:].reshape(-1, 3).mean(0)
        assert sky[2] > sky[0] and grass[1] > grass[2], f"sky {sky} should be blue, grass {grass} green"
    if source.ndim == 3:
        assert np.abs(picture.astype(int) - source).mean() > 3, "a restyle changes the picture"


def test_sketch_fills_closed_outlines_with_the_material_their_place_suggests() -> None:
    """The issue's "closed shapes fill": a circle drawn in the sky renders as a white cloud, one on the ground
    as a dark tree, and the lines stay where they were drawn (the filled region ends at them)."""
    model = load_model("sketch")
    ink = np.zeros((256, 256), np.uint8)
    cv2.line(ink, (0, 150), (255, 150), 255, 2)  # the horizon
    cv2.circle(ink, (70, 60), 28, 255, 2)  # in the sky
    cv2.circle(ink, (180, 205), 28, 255, 2)  # on the ground
    picture = Renderer(model, device="cpu").render(ink).astype(float)
    yy, xx = np.mgrid[:256, :256]

    def disc(cx: int, cy: int, r: float) -> np.ndarray:
        return (xx - cx) ** 2 + (yy - cy) ** 2 < r**2

    cloud, tree = picture[disc(70, 60, 18)].mean(0), picture[disc(180, 205, 18)].mean(0)
    sky = picture[disc(190, 60, 18)].mean(0)  # open sky beside the cloud
    ground = picture[disc(60, 210, 18) & (yy > 160)].mean(0)
    assert cloud.mean() > sky.mean() + 20 and cloud.min() > 170, f"cloud {cloud} should be white, sky {sky}"
    assert tree.mean() < ground.mean() - 10 and tree[1] > tree[2], f"tree {tree}, ground {ground}"
    outside = picture[disc(70, 60, 42) & ~disc(70, 60, 34)].mean(0)  # just outside the drawn cloud
    assert cloud.mean() - outside.mean() > 15, "the fill stops at the line"


def test_landscape_water_mirrors_the_mountain_standing_on_its_shore() -> None:
    """The issue's "water reflective": a snow-capped peak on the shore of a lake shows upside down in the water,
    dark where the mirrored mountain is, bright where its mirrored snow cap is, open water beside it stays light."""
    model = load_model("landscape")
    c = LANDSCAPE_CLASSES.index
    labels = np.full((256, 256), c("sky"), np.uint8)
    shore = 140
    cv2.fillPoly(labels, [np.array([[20, shore], [90, 50], [160, shore]], np.int32)], c("mountain"))
    cv2.fillPoly(labels, [np.array([[71, 75], [90, 50], [109, 75]], np.int32)], c("snow"))
    labels[shore:220], labels[220:] = c("water"), c("grass")
    lum = Renderer(model, device="cpu").render(labels).astype(float).mean(axis=2)
    for depth in (30, 60):  # the mirrored mountain narrows with depth as the real one narrows with height
        half = int(70 * (1 - depth / 90)) - 6
        rows = lum[shore + depth - 2 : shore + depth + 3]
        inside, beside = rows[:, 90 - half : 90 + half].mean(), rows[:, 200:250].mean()
        assert inside < beside - 10, f"{depth} px down, mirrored mountain {inside:.0f} vs open water {beside:.0f}"
    snow = lum[shore + 65 : shore + 85, 80:100].mean()  # the cap, 65-90 px above the shore, mirrored as far down
    rock = lum[shore + 30 : shore + 50, 60:80].mean()
    assert snow > rock + 15, f"mirrored snow cap {snow:.0f} should be bright beside the mirrored slope {rock:.0f}"


def test_landscape_paints_a_new_canvas_of_sky_evenly_without_frames_along_the_border() -> None:
    sky = np.full((512, 512), LANDSCAPE_CLASSES.index("sky"), np.uint8)  # what the app starts with
    picture = Renderer(load_model("landscape"), device="cpu").render(sky).astype(int)
    cell = picture[256:258, 256:258]  # the pixel shuffle's 2x2 period, far from the border
    assert np.abs(picture - np.tile(cell, (256, 256, 1))).max() <= 2
    assert cell[..., 2].mean() > cell[..., 0].mean() + 40, "and it is a blue sky"


def test_landscape_label_set_names_and_maps_the_ten_classes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    cards = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert set(EXPECTED) <= set(cards)
    labels = {entry["name"]: entry for entry in cards["landscape"]["label_set"]["labels"]}
    assert set(LANDSCAPE_CLASSES) <= set(labels)
    for name in LANDSCAPE_CLASSES:
        assert {"index", "colour", "ade20k", "coco"} <= set(labels[name])


def test_render_landscape_by_name_reads_a_colour_map_in_its_palette(tmp_path: Path) -> None:
    model = load_model("landscape")
    index = _smoke_input("labels")
    colour = tmp_path / "scene.png"
    Image.fromarray(model.card.label_set.palette()[index]).save(colour)
    out = tmp_path / "picture.png"
    assert main(["render", "--model", "landscape", "--input", str(colour), "--output", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), Renderer(model, device="cpu").render(index))
