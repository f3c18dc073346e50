"""The render API: upstream parity, sizes, inputs of every kind, style vectors, validation, tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared_paths import FIXTURES, needs_shared
from paintgan.errors import CheckpointError, InputError
from paintgan.families import get_family
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.spade import SpadeConfig
from paintgan.models import Model, load_model, placeholder_model, synthesise_card
from paintgan.render import Box, Renderer, to_uint8

ADE = FIXTURES / "spade_ade20k_vae"
CITY = FIXTURES / "spade_cityscapes"


def read(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def built(family: str, config: object, seed: int = 0) -> Model:
    fam = get_family(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fam.build(config).eval()
    return Model(synthesise_card(fam, config, name=family), net)


def blocks(h: int, w: int, classes: int, cell: int = 16, seed: int = 0) -> np.ndarray:
    """A label map of square regions, like a coarse painting."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, classes, (-(-h // cell), -(-w // cell)))
    return np.kron(grid, np.ones((cell, cell), int))[:h, :w].astype(np.uint8)


# ------------------------------------------------------------------------------------------- parity


def fixture_case(name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    folder = FIXTURES / name
    if name == "spade_ade20k_vae":
        return read(folder / "label.png"), {"style": read(folder / "style.png")}
    if name == "spade_cityscapes":
        return read(folder / "label.png"), {"instance": read(folder / "instance.png")}
    return read(folder / "input.png"), {}


@pytest.mark.parametrize(
    "name",
    [
        "pix2pix_unet256",
        "cyclegan_resnet9",
        pytest.param("ganilla", marks=pytest.mark.slow),
        pytest.param("spade_ade20k_vae", marks=pytest.mark.slow),
        pytest.param("spade_cityscapes", marks=pytest.mark.slow),
    ],
)
def test_upstream_fixtures_reproduce_through_the_api(name: str) -> None:
    folder = FIXTURES / name
    if not folder.exists():
        pytest.skip(f"shared fixture not found: {folder}")
    renderer = Renderer(load_model(folder / "latest_net_G.pth"), device="cpu")
    source, options = fixture_case(name)
    y = renderer.render_tensor(source, **options)
    assert y.dtype == torch.float32 and tuple(y.shape) == np.load(folder / "output.npy").shape
    assert np.abs(y.numpy() - np.load(folder / "output.npy")).max() < 1e-4
    png = to_uint8(y)
    assert np.abs(png.astype(int) - read(folder / "output.png")).max() <= 1


@pytest.mark.slow
@needs_shared(ADE)
def test_ade20k_z_from_seed_and_from_array_match_upstream_random_z() -> None:
    renderer = Renderer(load_model(ADE / "latest_net_G.pth"), device="cpu")
    labels = read(ADE / "label.png")
    expected = np.load(ADE / "output_randz.npy")
    # The fixture drew z with torch.manual_seed(1234); torch.randn(1, 256).
    assert np.abs(renderer.render_tensor(labels, seed=1234).numpy() - expected).max() < 1e-4
    assert np.abs(renderer.render_tensor(labels, z=np.load(ADE / "z.npy")).numpy() - expected).max() < 1e-4
    mu = renderer.latent(style=read(ADE / "style.png"))
    assert mu is not None and np.abs(mu.numpy() - np.load(ADE / "mu.npy")).max() < 1e-5


def test_to_uint8_rounds_half_to_even_in_float64() -> None:
    # Generator outputs are float32; values near k + 0.5 levels are where the rounding rule shows.
    y32 = (torch.arange(256, dtype=torch.float64) + 0.5).div(127.5).sub(1).float()
    y = torch.cat([y32, torch.tensor([-1.5, 1.5])]).reshape(1, 1, 1, -1).repeat(1, 3, 1, 1)
    levels = to_uint8(y)[0, :, 0]
    rule = np.clip(np.rint((y[0, 0, 0].numpy().astype(np.float64) + 1) * 127.5), 0, 255)
    assert np.array_equal(levels, rule.astype(np.uint8))
    truncated = ((y[0, 0, 0].numpy() + 1) / 2 * 255).clip(0, 255).astype(np.uint8)  # upstream tensor2im
    assert (levels != truncated).sum() > 100
    assert levels[-2:].tolist() == [0, 255]


# -------------------------------------------------------------------------------------------- sizes


def test_any_size_from_64_to_4096_is_padded_by_reflection_and_cropped_back() -> None:
    model = built("pix2pix", get_family("pix2pix").config_cls(num_downs=6, ngf=2, norm="instance"))
    renderer = Renderer(model, device="cpu")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (70, 100, 3), dtype=np.uint8)
    out = renderer.render_tensor(img)
    assert tuple(out.shape) == (1, 3, 70, 100)
    padded = np.pad(img, ((0, 128 - 70), (0, 128 - 100), (0, 0)), mode="reflect")
    assert torch.equal(out, renderer.render_tensor(padded)[..., :70, :100])


@pytest.mark.parametrize(("h", "w"), [(63, 100), (100, 63), (4097, 64), (64, 4097)])
def test_sizes_outside_64_to_4096_are_refused(h: int, w: int) -> None:
    renderer = Renderer(placeholder_model("sketch"), device="cpu")
    with pytest.raises(InputError, match=f"{w}x{h} px; expected each side between 64 and 4096"):
        renderer.render(np.zeros((h, w), np.uint8))


def test_spade_latent_grid_follows_the_input_size() -> None:
    config = SpadeConfig(label_nc=4, contain_dontcare=False, instance_edges=False, ngf=1)
    renderer = Renderer(built("spade", config), device="cpu")
    out = renderer.render(blocks(96, 160, 4))
    assert out.shape == (96, 160, 3)


# ----------------------------------------------------------------------------------------- sketches


@pytest.mark.parametrize("input_nc", [1, 3])
def test_sketch_models_see_black_lines_on_white_paper(input_nc: int) -> None:
    model = built("light_unet", LightUnetConfig(input_nc=input_nc, ngf=4, n_down=3, n_blocks=1))
    model.card.input_kind = "sketch"
    ink = np.zeros((64, 64), np.uint8)
    ink[20:22, :] = 255  # one horizontal stroke
    ink[:, 40] = 128
    paper = torch.from_numpy((255 - ink).astype(np.float32))
    x = ((paper / 255 - 0.5) / 0.5)[None, None].repeat(1, input_nc, 1, 1)
    with torch.inference_mode():
        expected = model.generator(x)
    assert torch.equal(Renderer(model, device="cpu", fast=False).render_tensor(ink), expected)


# ------------------------------------------------------------------------------------- label inputs


def test_labels_outside_the_set_are_refused_naming_the_value() -> None:
    renderer = Renderer(placeholder_model("labels"), device="cpu")
    labels = blocks(64, 64, 10)
    labels[5, 7] = 200
    with pytest.raises(InputError, match=r"not in label set 'landscape': 200 \(valid: 0..9\)"):
        renderer.render(labels)
    with pytest.raises(InputError, match="integer"):
        renderer.render(labels.astype(np.float32))
    with pytest.raises(InputError, match="single-channel label map"):
        renderer.render(np.zeros((64, 64, 3), np.uint8))


def test_dontcare_models_take_255_as_the_dontcare_channel() -> None:
    config = SpadeConfig(label_nc=4, contain_dontcare=True, instance_edges=False, ngf=1)
    renderer = Renderer(built("spade", config), device="cpu")
    labels = blocks(64, 64, 4)
    labels[:32, :32] = 255
    as_channel = labels.copy()
    as_channel[:32, :32] = 4
    assert np.array_equal(renderer.render(labels), renderer.render(as_channel))
    labels[0, 0] = 5
    with pytest.raises(InputError, match="5"):
        renderer.render(labels)


def test_instance_edges_come_from_the_instance_map_or_else_the_label_map() -> None:
    config = SpadeConfig(label_nc=4, contain_dontcare=False, instance_edges=True, ngf=1)
    renderer = Renderer(built("spade", config, seed=3), device="cpu")
    labels = blocks(64, 64, 4)
    same = renderer.render(labels, instance=labels.astype(np.int32))
    assert np.array_equal(renderer.render(labels), same)
    split = labels.astype(np.int32) * 1000
    split[:, 32:] += 1  # one region becomes two touching instances: a new edge down the middle
    assert not np.array_equal(renderer.render(labels, instance=split), same)
    with pytest.raises(InputError, match="expected the label map's 64x64"):
        renderer.render(labels, instance=split[:, :50])
    with pytest.raises(InputError, match="takes no instance map"):
        Renderer(placeholder_model("labels"), device="cpu").render(labels, instance=split)


def test_image_models_refuse_the_wrong_channel_count() -> None:
    renderer = Renderer(placeholder_model("image"), device="cpu")
    for bad in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8)):
        with pytest.raises(InputError, match="takes an HxWx3 image"):
            renderer.render(bad)
    with pytest.raises(InputError, match="uint8"):
        renderer.render(np.zeros((64, 64, 3), np.float32))


# ----------------------------------------------------------------------------------- z and styles


def test_seeded_z_is_repeatable_and_seeds_differ() -> None:
    config = LightSpadeConfig(input_nc=10, ngf=4, n_down=2, n_blocks=1, hidden=4, z_dim=8)
    model = built("light_spade", config, seed=2)
    renderer = Renderer(model, device="cpu")
    labels = blocks(64, 64, 10)
    first = renderer.render(labels)
    assert np.array_equal(first, renderer.render(labels, seed=0))  # no seed given = seed 0
    assert not np.array_equal(first, renderer.render(labels, seed=1))
    with pytest.raises(InputError, match="z has 3 values; model 'light_spade' expects 8"):
        renderer.render(labels, z=np.zeros(3, np.float32))
    with pytest.raises(InputError, match="no style encoder"):
        renderer.render(labels, style=np.zeros((64, 64, 3), np.uint8))


def test_models_without_a_latent_refuse_style_and_z() -> None:
    renderer = Renderer(placeholder_model("labels"), device="cpu")
    with pytest.raises(InputError, match="takes no style"):
        renderer.render(blocks(64, 64, 10), style=np.zeros((64, 64, 3), np.uint8))


# -------------------------------------------------------------------------------- devices, threads


def test_devices_are_checked_and_cpu_runs_fp32() -> None:
    model = placeholder_model("sketch")
    renderer = Renderer(model, device="auto")
    if not torch.cuda.is_available():
        assert renderer.device.type in ("cpu", "mps")
        with pytest.raises(InputError, match="no CUDA GPU"):
            Renderer(model, device="cuda")
    assert Renderer(model, device="cpu").dtype == torch.float32
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        Renderer(model, device="tpu")


# -------------------------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("kind", ["labels", "image"])
def test_tiles_meet_the_full_render_once_the_overlap_covers_the_receptive_field(kind: str) -> None:
    if kind == "labels":
        model = built("light_spade", LightSpadeConfig(input_nc=10, ngf=8, n_down=3, n_blocks=1, hidden=8), seed=3)
        source = blocks(128, 192, 10)
    else:
        model = built("light_unet", LightUnetConfig(ngf=8, n_down=3, n_blocks=2), seed=3)
        source = np.random.default_rng(1).integers(0, 256, (128, 192, 3), dtype=np.uint8)
    renderer = Renderer(model, device="cpu")
    full = renderer.render(source).astype(int)
    seams = {}
    for overlap in (0, 16, 64):
        tiled = renderer.render_tiled(source, tile=64, overlap=overlap).astype(int)
        seams[overlap] = float(np.abs(tiled - full).mean())
    print(f"{kind}: mean |tiled - full| in levels by overlap: {seams}")
    assert seams[0] > seams[16] > seams[64]
    assert seams[64] == 0.0  # the light families' receptive field fits in 64 px of context


def test_a_region_is_the_same_pixels_as_that_part_of_the_tiled_render() -> None:
    renderer = Renderer(placeholder_model("labels", seed=4), device="cpu")
    labels = blocks(160, 200, 10)
    box = Box(37, 50, 137, 131)
    region = renderer.render_region(labels, box, overlap=48)
    assert region.shape == (81, 100, 3)
    full = renderer.render(labels)
    assert np.abs(region.astype(int) - full[50:131, 37:137]).max() <= 1
    with pytest.raises(InputError, match="outside the 200x160 canvas"):
        renderer.render_region(labels, Box(150, 0, 210, 64))


# ----------------------------------------------------------------------------------------- documents


def test_paintings_reach_upstream_label_spaces_through_the_label_references() -> None:
    from paintgan.documents import Document
    from paintgan.labels import Label, LabelSet, landscape_labelset, to_ade20k
    from paintgan.render import document_layer

    ade = built("spade", SpadeConfig(label_nc=150, contain_dontcare=True, instance_edges=False, ngf=1))
    doc = Document.new(64, 64, landscape_labelset())
    doc.labels[:, 20:] = 6
    doc.labels[:, 40:] = 4
    assert np.array_equal(document_layer(doc, ade), to_ade20k(doc.labels, landscape_labelset()))
    lava = LabelSet("volcano", (Label(0, "grass", (0, 200, 0)), Label(1, "lava", (255, 60, 0))))
    doc = Document.new(64, 64, lava, fill_label=1)
    assert set(np.unique(document_layer(doc, ade))) == {255}  # no ADE20K reference: the dontcare channel
    numbered = built("spade", SpadeConfig(label_nc=3, contain_dontcare=False, instance_edges=False, ngf=1))
    with pytest.raises(InputError, match="'lava' of set 'volcano' have no match"):
        document_layer(doc, numbered)


def test_light_label_models_trained_with_dontcare_take_255() -> None:
    from paintgan.labels import landscape_labelset
    from paintgan.models import ModelCard

    model = built("light_spade", LightSpadeConfig(input_nc=11, ngf=4, n_down=2, n_blocks=1, hidden=4), seed=5)
    model.card = ModelCard(**{**vars(model.card), "label_set": landscape_labelset()})
    renderer = Renderer(model, device="cpu")
    assert renderer.layout is not None and renderer.layout.dontcare and renderer.layout.label_nc == 10
    labels = blocks(64, 64, 10)
    unknown = labels.copy()
    unknown[:, :20] = 255
    assert not np.array_equal(renderer.render(labels), renderer.render(unknown))
    model.card = ModelCard(**{**vars(model.card), "config": {**model.card.config, "input_nc": 14}})
    model.generator = get_family("light_spade").build(model.config)
    with pytest.raises(CheckpointError, match="10 index values but the generator takes 14 input channels"):
        Renderer(model, device="cpu")


def test_running_out_of_memory_is_an_input_error_that_suggests_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = Renderer(placeholder_model("sketch"), device="cpu")

    def exhausted(*_: object) -> torch.Tensor:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 68719476736 bytes.")

    monkeypatch.setattr(renderer, "generator", exhausted)
    with pytest.raises(InputError, match="not enough CPU memory to render 96x64 px .* tiles"):
        renderer.render(np.zeros((64, 96), np.uint8))
    monkeypatch.setattr(renderer, "generator", lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug stays a bug, with its traceback
        renderer.render(np.zeros((64, 96), np.uint8))


def test_tiles_see_instance_edges_that_lie_on_their_borders() -> None:
    from paintgan.labels import landscape_labelset
    from paintgan.models import ModelCard

    # 10 labels + dontcare + instance edges, the layout `paintgan train` gives a light model with both.
    model = built("light_spade", LightSpadeConfig(input_nc=12, ngf=8, n_down=3, n_blocks=1, hidden=8), seed=6)
    model.card = ModelCard(**{**vars(model.card), "label_set": landscape_labelset()})
    renderer = Renderer(model, device="cpu")
    assert renderer.layout is not None and renderer.layout.instance_edges
    labels = np.full((128, 192), 6, np.uint8)
    instance = np.arange(192 // 16).repeat(16)[None].repeat(128, 0)  # a new instance every 16 columns
    full = renderer.render(labels, instance=instance)
    assert np.array_equal(renderer.render_tiled(labels, tile=64, overlap=64, instance=instance), full)
    # Without context, the tile left of x = 64 still knows that column 63 borders another instance.
    region = renderer.render_region(labels, Box(0, 0, 64, 128), overlap=0, instance=instance)
    alone = renderer.render(labels[:, :64], instance=instance[:, :64])
    assert not np.array_equal(region[:, 60:], alone[:, 60:])
