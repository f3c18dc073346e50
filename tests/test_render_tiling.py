"""Tiles without seams: each family states whether tiles equal the full render and with what overlap, and the
renderers use it, so a big canvas rendered tile by tile is the picture of one full render (0 levels apart)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from paintgan.cards import ModelCard
from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SpadeConfig
from paintgan.families.staged import StagedConfig
from paintgan.families.tiling import Reach
from paintgan.models import Model, synthesise_card
from paintgan.onnx_runtime import OnnxInfo
from paintgan.render import Box, Renderer
from paintgan.render_core import NOT_STATED, Tiling, tiles

PAINTER = LightSpadeConfig(input_nc=6, ngf=8, n_down=2, n_blocks=1, hidden=8)
EXACT = {
    "light_spade": LightSpadeConfig(input_nc=10, ngf=8, n_down=3, n_blocks=1, hidden=8),
    "light_unet": LightUnetConfig(ngf=8, n_down=4, n_blocks=2),
    "cyclegan": ResnetConfig(ngf=4, n_blocks=2, norm="batch"),
    "pix2pix": UnetConfig(ngf=4, num_downs=5),
    "staged": StagedConfig(LightUnetConfig(input_nc=1, output_nc=6, ngf=8, n_down=3, n_blocks=1), "light_spade",
                           PAINTER),
}
INEXACT = {
    "cyclegan": ResnetConfig(ngf=4, n_blocks=1),  # upstream's default: instance norm
    "ganilla": GanillaConfig(ngf=4, fpn_size=8, widths=(4, 8, 8, 16), layers=(1, 1, 1, 1)),
    "light_unet": LightUnetConfig(ngf=8, n_down=3, n_blocks=1, norm="instance"),
    "spade": SpadeConfig(label_nc=6, ngf=2),  # states no receptive field: the safe default
}


def built(family: str, config: object, seed: int = 0) -> Model:
    fam = get_family(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fam.build(config).eval()
        for m in net.modules():  # trained-looking statistics: fresh ones (0 / 1) would hide a misaligned grid
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    if family != "staged":
        return Model(synthesise_card(fam, config, name=f"tiny-{family}"), net)
    card = ModelCard(f"tiny-{family}", family, asdict(config), "sketch", 1, fam.size_multiple(config))
    return Model(card, net)


def canvas(model: Model, h: int, w: int) -> np.ndarray:
    """A painting-like input of the model's kind: label blocks, lines, or a noisy picture."""
    rng = np.random.default_rng(7)
    kind = model.card.input_kind
    if kind == "labels":
        assert model.card.label_set is not None
        classes = len(model.card.label_set.labels)
        cells = rng.integers(0, classes, (h // 16 + 1, w // 16 + 1))
        return cells.repeat(16, 0).repeat(16, 1)[:h, :w].astype(np.uint8)
    if kind == "sketch":
        yy, xx = np.mgrid[0:h, 0:w]
        return np.where((np.abs(np.sin(xx / 9.0 + yy / 23.0)) < 0.1) | (rng.random((h, w)) < 0.01), 255, 0).astype(
            np.uint8)
    return rng.integers(0, 256, (h, w, model.card.input_nc), dtype=np.uint8)


@pytest.mark.parametrize("family", list(EXACT))
def test_tiles_of_an_exact_family_are_the_full_render(family: str) -> None:
    model = built(family, EXACT[family], seed=3)
    renderer = Renderer(model, device="cpu")
    tiling = renderer.tiling
    assert tiling.exact and tiling.overlap > 0 and family in tiling.reason
    source = canvas(model, 256, 320)
    full = renderer.render(source).astype(int)
    # Tiles of 64 px with the overlap the engine says: not one level apart, seams included.
    assert np.abs(renderer.render_tiled(source, tile=64).astype(int) - full).max() == 0
    box = Box(70, 90, 150, 170)
    assert np.abs(renderer.render_region(source, box).astype(int) - full[90:170, 70:150]).max() == 0
    # The figure is needed: a quarter of it shows seams (the family does not over-promise by accident).
    short = renderer.render_tiled(source, tile=64, overlap=tiling.overlap // 4).astype(int)
    assert np.abs(short - full).max() > 0


@pytest.mark.parametrize("family", list(INEXACT))
def test_a_family_with_global_statistics_or_no_statement_is_not_exact(family: str) -> None:
    tiling = Renderer(built(family, INEXACT[family]), device="cpu").tiling
    assert not tiling.exact and tiling.overlap == 0
    assert ("instance norm" in tiling.reason) == (family != "spade")


def test_staged_adds_the_reaches_of_its_two_networks_and_inherits_a_non_exact_half() -> None:
    config = EXACT["staged"]
    seg = get_family("light_unet").tiling(config.seg)  # type: ignore[misc]
    painter = get_family("light_spade").tiling(config.painter)  # type: ignore[misc]
    assert get_family("staged").tiling(config).overlap == seg.overlap + painter.overlap  # type: ignore[misc]
    instance = StagedConfig(config.seg, "light_spade", LightSpadeConfig(**{**vars(PAINTER), "norm": "instance"}))
    assert not get_family("staged").tiling(instance).exact  # type: ignore[misc]
    mirror = StagedConfig(config.seg, "light_spade", LightSpadeConfig(**{**vars(PAINTER), "reflect": (1,)}))
    assert get_family("staged").tiling(mirror).columns  # type: ignore[misc]


def test_reach_counts_strides_upsampling_and_branches() -> None:
    assert Reach().conv(3).px == 1  # a 3x3 conv at full resolution
    down = Reach().conv(4, 2, 1)
    assert (down.px, down.scale) == (1, 2)
    assert down.conv(3).px == 3  # a 3x3 at H/2 sees 2 px further
    up = down.conv(3).up()
    assert (up.px, up.scale) == (4, 1)  # the fine pixel takes a value whose span is 1 px wider
    assert Reach(5, 4).join(Reach(9, 4)).px == 9
    with pytest.raises(ValueError, match="scales"):
        Reach(0, 2).join(Reach(0, 4))


def test_reflections_tile_exactly_in_strips_of_the_full_height() -> None:
    model = built("light_spade", LightSpadeConfig(input_nc=6, ngf=8, n_down=3, n_blocks=1, hidden=8, reflect=(1,)), 3)
    renderer = Renderer(model, device="cpu")
    tiling = renderer.tiling
    assert tiling.exact and tiling.columns and "full height" in tiling.reason
    source = canvas(model, 256, 320) % 6
    source[source == 1] = 0
    source[150:] = 1  # a lake across the canvas below peaks and sky: each column's mirror reaches 100 px up
    full = renderer.render(source).astype(int)
    assert all(box.height == 256 for box in tiles(320, 256, 64, columns=True))
    assert np.abs(renderer.render_tiled(source, tile=64).astype(int) - full).max() == 0
    box = Box(70, 200, 150, 240)  # in the water: its context runs up to the top, where its mirror comes from
    assert renderer.context_box(box, 320, 256).y0 == 0
    assert np.abs(renderer.render_region(source, box).astype(int) - full[200:240, 70:150]).max() == 0
    renderer.tiling = replace(tiling, columns=False)  # square tiles with the same overlap cut the mirror off
    assert np.abs(renderer.render_tiled(source, tile=64).astype(int) - full).max() > 0


def test_edge_padding_paints_a_blank_canvas_without_frames_and_still_tiles_exactly() -> None:
    config = LightSpadeConfig(input_nc=6, ngf=8, n_down=3, n_blocks=1, hidden=8)
    blank = np.zeros((256, 320), np.uint8)  # one class everywhere: a new canvas of sky

    def away_from_the_border(picture: np.ndarray) -> int:
        """How far the picture strays from its own 2x2 cell (the pixel shuffle's period) repeated everywhere."""
        return int(np.abs(picture.astype(int) - np.tile(picture[128:130, 160:162], (128, 160, 1))).max())

    framed = Renderer(built("light_spade", config, seed=3), device="cpu").render(blank)
    assert away_from_the_border(framed) > 2, "zero padding draws the picture's border into a flat field"
    renderer = Renderer(built("light_spade", replace(config, padding="replicate"), seed=3), device="cpu")
    assert away_from_the_border(renderer.render(blank)) <= 1
    source = canvas(renderer.model, 256, 320)
    assert renderer.tiling.overlap == Renderer(built("light_spade", config), device="cpu").tiling.overlap
    assert np.array_equal(renderer.render_tiled(source, tile=64), renderer.render(source))


def test_onnx_files_carry_the_tiling_and_files_without_it_never_tile() -> None:
    info = OnnxInfo(0, None, True, (256, 256), Tiling(True, 61, "light_spade: receptive field 61 px"))
    assert OnnxInfo.from_json(info.to_json(), "m.onnx") == info
    strips = OnnxInfo(0, None, True, (256, 256), Tiling(True, 61, "light_spade: full height", columns=True))
    assert OnnxInfo.from_json(strips.to_json(), "m.onnx").tiling.columns
    old = '{"format": 1, "z_dim": 0, "layout": null, "dynamic": true, "size": [256, 256]}'
    assert OnnxInfo.from_json(old, "old.onnx").tiling == NOT_STATED
    assert Tiling.from_json({"exact": "yes"}) == NOT_STATED


def test_the_lite_renderer_tiles_an_exported_model_as_the_full_build_does(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from paintgan.onnx_export import export_onnx
    from paintgan.onnx_runtime import OnnxRenderer, load_onnx_model

    model = built("light_unet", EXACT["light_unet"], seed=5)
    lite = OnnxRenderer(load_onnx_model(export_onnx(model, tmp_path / "m.onnx")), threads=1)
    assert lite.tiling == Renderer(model, device="cpu").tiling
    source = canvas(model, 192, 256)
    assert np.array_equal(lite.render_tiled(source, tile=64), lite.render(source))
