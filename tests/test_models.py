"""Native model files, upstream checkpoints as models, the registry, and placeholder models."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from shared_paths import FIXTURES, needs_shared
from paintgan import models
from paintgan.errors import CheckpointError, OutputError
from paintgan.families import get_family
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import EncoderConfig, SpadeConfig, build_encoder
from paintgan.labels import landscape_labelset
from paintgan.models import (
    CARD_KEY,
    ModelCard,
    convert,
    find_model,
    import_model,
    list_models,
    load_model,
    placeholder_model,
    read_card,
    save_model,
    synthesise_card,
)
from paintgan.render import Renderer

CYCLEGAN = FIXTURES / "cyclegan_resnet9"
ADE = FIXTURES / "spade_ade20k_vae"


def seeded(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict of `module` with every float tensor redrawn from `seed` (so outputs depend on the weights)."""
    gen = torch.Generator().manual_seed(seed)
    sd = module.state_dict()
    for key, t in sd.items():
        if t.is_floating_point():
            sd[key] = t + 0.1 * torch.randn(t.shape, generator=gen)
            if key.endswith("running_var"):
                sd[key] = sd[key].abs() + 0.5
    return sd


def tiny_vae_spade(folder: Path, prefix: str = "latest") -> tuple[Path, Path]:
    """An upstream-style SPADE generator with a VAE and its encoder, small enough to build in a test."""
    config = SpadeConfig(label_nc=5, contain_dontcare=False, instance_edges=False, ngf=1, use_vae=True, z_dim=8)
    g_path, e_path = folder / f"{prefix}_net_G.pth", folder / f"{prefix}_net_E.pth"
    torch.save(seeded(get_family("spade").build(config), 1), g_path)
    torch.save(seeded(build_encoder(EncoderConfig(ngf=2, z_dim=8)), 2), e_path)
    return g_path, e_path


def tiny_pix2pix(path: Path, input_nc: int = 3) -> Path:
    torch.save(seeded(get_family("pix2pix").build(UnetConfig(input_nc=input_nc, num_downs=6, ngf=2)), 3), path)
    return path


# --------------------------------------------------------------------------------------------- cards


def test_card_round_trips_through_json_with_its_label_set() -> None:
    card = ModelCard(
        name="landscape", family="light_spade", config={"input_nc": 10}, input_kind="labels", input_nc=10,
        size_multiple=8, label_set=landscape_labelset(), description="d", training={"steps": 5, "licence": "CC0"},
        metrics={"fid": 1.5}, limits="no people", version="2", placeholder=True,
    )
    back = ModelCard.from_json(card.to_json())
    assert back == card
    assert back.label_set is not None and back.label_set.by_name("snow").colour == (250, 250, 255)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"name": "x"}', "malformed"),
        (json.dumps({"name": "x", "family": "pix2pix", "config": {}, "input_kind": "video", "input_nc": 3,
                     "size_multiple": 1}), "input kind"),
        (json.dumps({"name": "x", "family": "spade", "config": {}, "input_kind": "labels", "input_nc": 3,
                     "size_multiple": 1}), "label set"),
        (json.dumps({"name": "x", "family": "pix2pix", "config": {}, "input_kind": "image", "input_nc": "3",
                     "size_multiple": 1}), "'input_nc' is '3'; expected type int"),
        (json.dumps({"name": "x", "family": "pix2pix", "config": {}, "input_kind": "image", "input_nc": 3,
                     "size_multiple": 1, "format_version": 9}), "newer PaintGAN"),
    ],
)
def test_broken_cards_are_refused_with_one_line(text: str, words: str) -> None:
    with pytest.raises(CheckpointError, match=words) as err:
        ModelCard.from_json(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("config", "label_set", "channels"),
    [
        (SpadeConfig(label_nc=150, contain_dontcare=True, instance_edges=False, ngf=1), "ade20k", 151),
        (SpadeConfig(label_nc=182, contain_dontcare=True, instance_edges=True, ngf=1), "coco", 184),
        (SpadeConfig(label_nc=35, contain_dontcare=False, instance_edges=True, ngf=1), "cityscapes", 36),
        (SpadeConfig(label_nc=12, contain_dontcare=False, instance_edges=False, ngf=1), "classes12", 12),
    ],
)
def test_spade_presets_get_their_label_sets(config: SpadeConfig, label_set: str, channels: int) -> None:
    card = synthesise_card(get_family("spade"), config, name="x")
    assert card.input_kind == "labels" and card.label_set is not None
    assert card.label_set.name == label_set
    assert card.input_nc == channels
    assert card.size_multiple == 32


def test_image_families_take_images_and_one_channel_pix2pix_takes_sketches(tmp_path: Path) -> None:
    rgb = load_model(tiny_pix2pix(tmp_path / "rgb_net_G.pth"))
    gray = load_model(tiny_pix2pix(tmp_path / "gray_net_G.pth", input_nc=1))
    assert (rgb.card.input_kind, rgb.card.input_nc) == ("image", 3)
    assert (gray.card.input_kind, gray.card.input_nc) == ("sketch", 1)
    assert rgb.card.size_multiple == 64
    assert rgb.card.name == tmp_path.name  # named after the run folder, as upstream lays checkpoints out


# ------------------------------------------------------------------------------------- native files


@needs_shared(CYCLEGAN)
def test_converted_fixture_renders_like_upstream(tmp_path: Path) -> None:
    out = tmp_path / "cg.safetensors"
    card = convert(CYCLEGAN / "latest_net_G.pth", out, name="cg")
    assert card.name == "cg" and card.family == "cyclegan"
    with safe_open(str(out), framework="pt") as f:
        keys = list(f.keys())
        assert json.loads(f.metadata()[CARD_KEY])["name"] == "cg"
    assert keys and all(k.startswith("generator.") for k in keys)
    model = load_model(out)
    assert not model.generator.training
    from PIL import Image

    src = np.array(Image.open(CYCLEGAN / "input.png").convert("RGB"))
    y = Renderer(model, device="cpu").render_tensor(src).numpy()
    assert np.abs(y - np.load(CYCLEGAN / "output.npy")).max() < 1e-4


def test_native_file_keeps_the_encoder_found_beside_the_generator(tmp_path: Path) -> None:
    g_path, _ = tiny_vae_spade(tmp_path)
    upstream = load_model(g_path)
    assert upstream.encoder is not None
    out = tmp_path / "vae.safetensors"
    convert(g_path, out)
    native = load_model(out)
    assert native.encoder is not None and native.card.encoder_config == {"ngf": 2, "n_layers": 6,
                                                                         "norm": "instance", "z_dim": 8}
    labels = np.arange(5, dtype=np.uint8).repeat(64 * 64 // 5 + 1)[: 64 * 64].reshape(64, 64)
    style = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    a = Renderer(upstream, device="cpu").render_tensor(labels, style=style)
    b = Renderer(native, device="cpu").render_tensor(labels, style=style)
    assert torch.equal(a, b)


def test_encoder_is_found_for_numbered_epochs_and_can_be_given(tmp_path: Path) -> None:
    g_path, e_path = tiny_vae_spade(tmp_path, prefix="100")
    assert load_model(g_path).encoder is not None
    with pytest.raises(CheckpointError, match="folder without latest_net_G.pth"):
        load_model(tmp_path)
    tiny_vae_spade(tmp_path)
    from_folder = load_model(tmp_path)  # a run folder means its latest generator (and encoder)
    assert from_folder.path == tmp_path / "latest_net_G.pth" and from_folder.encoder is not None
    alone = tmp_path / "alone"
    alone.mkdir()
    moved = shutil.move(g_path, alone / "latest_net_G.pth")
    assert load_model(moved).encoder is None
    assert load_model(moved, encoder=e_path).encoder is not None


def test_encoder_is_refused_for_models_that_cannot_use_it(tmp_path: Path) -> None:
    _, e_path = tiny_vae_spade(tmp_path)
    g_path = tiny_pix2pix(tmp_path / "p_net_G.pth")
    with pytest.raises(CheckpointError, match="no style input"):
        load_model(g_path, encoder=e_path)
    out = tmp_path / "p.safetensors"
    convert(g_path, out)
    with pytest.raises(CheckpointError, match="encoder is inside it"):
        load_model(out, encoder=e_path)


def _header(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x10\x00", "shorter than the 8-byte header length"),
        (struct.pack("<Q", 1000) + b"{}", "header length 1000 does not fit a file of 10 bytes"),
        (struct.pack("<Q", 1 << 62) + b"{}", "does not fit"),
        (_header(b"{]"), "Expecting property name"),
        (_header(b'{"\xff": 1}'), "codec can't decode"),
        (_header(b"[1, 2]"), "not a JSON object with string metadata"),
        (_header(json.dumps({"__metadata__": {CARD_KEY: 5}}).encode()), "not a JSON object with string metadata"),
        (_header(json.dumps({"__metadata__": {"format": "pt"}}).encode()), "without a PaintGAN model card"),
    ],
)
def test_unreadable_model_headers_are_refused_with_one_line(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=words) as err:
        read_card(path)
    assert str(err.value).startswith("m.safetensors: ") and "\n" not in str(err.value)


def test_truncated_native_file_and_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    convert(tiny_pix2pix(tmp_path / "p_net_G.pth"), good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_model(cut)
    card = read_card(good)
    card.config["ngf"] = 3  # the card now describes a wider network than the weights
    lying = tmp_path / "lying.safetensors"
    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(lying), metadata={CARD_KEY: card.to_json()})
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(lying)


def test_plain_safetensors_state_dict_loads_as_an_upstream_checkpoint(tmp_path: Path) -> None:
    sd = torch.load(tiny_pix2pix(tmp_path / "p_net_G.pth"), weights_only=True)
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(plain))
    assert load_model(plain).card.family == "pix2pix"


def test_save_model_refuses_bad_targets_and_replaces_whole(tmp_path: Path) -> None:
    model = load_model(tiny_pix2pix(tmp_path / "p_net_G.pth"))
    with pytest.raises(OutputError, match="does not exist"):
        save_model(model, tmp_path / "missing" / "m.safetensors")
    with pytest.raises(OutputError, match=".safetensors"):
        save_model(model, tmp_path / "m.pth")
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"old junk")
    save_model(model, target)
    assert load_model(target).card.family == "pix2pix"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "p_net_G.pth"]


# ---------------------------------------------------------------------------------------- registry


@pytest.fixture()
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(models, "bundled_models_dir", lambda: folder)
    return folder


def test_registry_finds_bundled_and_user_models_by_name(tmp_path: Path, bundled: Path) -> None:
    save_model(placeholder_model("labels"), bundled / "landscape.safetensors")
    p = tiny_pix2pix(tmp_path / "mine_net_G.pth")
    imported = import_model(p, name="mine")
    assert imported.name == "mine"
    assert [c.name for c in list_models()] == ["mine", "placeholder-labels"]
    assert find_model("mine") == models.user_models_dir() / "mine.safetensors"
    assert load_model("placeholder-labels").card.placeholder
    entries = models.registry()
    assert (entries["mine"].origin, entries["placeholder-labels"].origin) == ("user", "bundled")


def test_unknown_model_name_lists_the_known_ones(bundled: Path) -> None:
    save_model(placeholder_model("sketch"), bundled / "sketch.safetensors")
    with pytest.raises(CheckpointError, match=r"unknown model 'lanscape'; known models: placeholder-sketch"):
        load_model("lanscape")


def test_user_model_shadows_a_bundled_one_and_broken_files_are_skipped(tmp_path: Path, bundled: Path) -> None:
    save_model(placeholder_model("image", seed=1), bundled / "a.safetensors")
    import_model(bundled / "a.safetensors")
    (models.user_models_dir() / "broken.safetensors").write_bytes(b"\x00" * 40)
    entries = models.registry()
    assert list(entries) == ["placeholder-image"]
    assert entries["placeholder-image"].origin == "user"


def test_failed_import_changes_nothing(tmp_path: Path) -> None:
    good = tiny_pix2pix(tmp_path / "good_net_G.pth")
    import_model(good, name="kept")
    before = sorted(p.name for p in models.user_models_dir().iterdir())
    cut = tmp_path / "cut_net_G.pth"
    cut.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError):
        import_model(cut)
    with pytest.raises(CheckpointError, match="not usable"):
        import_model(good, name="../escape")
    assert sorted(p.name for p in models.user_models_dir().iterdir()) == before


def test_model_folders_follow_paintgan_home_platformdirs_and_pyinstaller(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.setenv("PAINTGAN_HOME", str(tmp_path))
    assert models.user_models_dir() == tmp_path / "models"
    monkeypatch.delenv("PAINTGAN_HOME")
    assert models.user_models_dir() == Path(platformdirs.user_data_dir("PaintGAN", appauthor=False)) / "models"
    assert models.bundled_models_dir() == Path(models.__file__).resolve().parent.parent / "weights"
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bundle"), raising=False)
    assert models.bundled_models_dir() == tmp_path / "bundle" / "weights"


# ------------------------------------------------------------------------------------ placeholders


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        ("labels", np.arange(10, dtype=np.uint8).repeat(8)[None].repeat(80, 0)),
        ("sketch", np.zeros((80, 80), np.uint8)),
        ("image", np.full((80, 80, 3), 128, np.uint8)),
    ],
)
def test_placeholder_models_render_and_say_they_are_untrained(kind: str, source: np.ndarray) -> None:
    state = torch.random.get_rng_state()
    model = placeholder_model(kind)  # type: ignore[arg-type]
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random stream is untouched
    assert model.card.placeholder and model.card.description == models.PLACEHOLDER_DESCRIPTION
    assert model.card.family.startswith("light_")
    out = Renderer(model, device="cpu").render(source)
    assert out.shape == (80, 80, 3) and out.dtype == np.uint8
    again = Renderer(placeholder_model(kind), device="cpu").render(source)  # type: ignore[arg-type]
    other = Renderer(placeholder_model(kind, seed=5), device="cpu").render(source)  # type: ignore[arg-type]
    assert np.array_equal(out, again) and not np.array_equal(out, other)
