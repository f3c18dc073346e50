"""The five upstream-format fixtures reproduce through the engine API (checkpoints + families) within 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from shared_paths import FIXTURES, needs_shared
from PIL import Image
from test_families import one_thread  # noqa: F401 (autouse fixture)

from paintgan import checkpoints
from paintgan.families.spade import SpadeConfig, instance_edges, semantic_tensor

pytestmark = needs_shared(FIXTURES)
TOLERANCE = 1e-4


def image_tensor(path: Path) -> torch.Tensor:
    """The README's convention: RGB uint8 -> (u8 / 255 - 0.5) / 0.5, NCHW."""
    u8 = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy((u8 / 255 - 0.5) / 0.5).permute(2, 0, 1).unsqueeze(0)


def label_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path), dtype=np.int64)).unsqueeze(0)


def assert_matches(y: torch.Tensor, folder: Path, name: str = "output") -> None:
    expected = np.load(folder / f"{name}.npy")
    assert y.shape == expected.shape
    assert np.abs(y.numpy() - expected).max() <= TOLERANCE
    png = np.clip(np.round((y.numpy()[0].astype(np.float64) + 1) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    reference = np.asarray(Image.open(folder / f"{name}.png").convert("RGB")).astype(int)
    assert np.abs(png.astype(int) - reference).max() <= 1


@pytest.mark.parametrize(
    ("folder", "family", "config"),
    [
        ("pix2pix_unet256", "pix2pix", {"num_downs": 8, "ngf": 6, "norm": "batch", "input_nc": 3}),
        ("cyclegan_resnet9", "cyclegan", {"n_blocks": 9, "ngf": 8, "norm": "instance", "padding": "reflect"}),
        ("ganilla", "ganilla", {"ngf": 64, "layers": (2, 2, 2, 2), "widths": (64, 128, 128, 256)}),
    ],
)
def test_image_fixture(folder: str, family: str, config: dict[str, object]) -> None:
    path = FIXTURES / folder
    fam, detected, net = checkpoints.load_generator(path / "latest_net_G.pth")
    assert fam.name == family
    assert {k: getattr(detected, k) for k in config} == config
    with torch.inference_mode():
        assert_matches(net(image_tensor(path / "input.png")), path)


def load_spade(path: Path) -> tuple[SpadeConfig, torch.nn.Module]:
    fam, config, net = checkpoints.load_generator(path / "latest_net_G.pth")
    assert fam.name == "spade" and isinstance(config, SpadeConfig)
    return config, net


@pytest.mark.slow
def test_spade_ade20k_vae_with_encoder() -> None:
    path = FIXTURES / "spade_ade20k_vae"
    config, net = load_spade(path)
    assert (config.label_nc, config.contain_dontcare, config.instance_edges) == (150, True, False)
    assert (config.ngf, config.use_vae, config.num_upsampling_layers, config.latent_grid) == (4, True, "normal", (8, 8))
    enc_config, encoder = checkpoints.load_encoder(path / "latest_net_E.pth")
    assert (enc_config.ngf, enc_config.n_layers) == (4, 6)
    labels = label_tensor(path / "label.png")
    assert (labels == 255).any() and (labels == 150).any()
    sem = semantic_tensor(labels, config.label_nc, config.contain_dontcare)
    with torch.inference_mode():
        mu, logvar = encoder(image_tensor(path / "style.png"))
        assert np.abs(mu.numpy() - np.load(path / "mu.npy")).max() <= TOLERANCE
        assert np.abs(logvar.numpy() - np.load(path / "logvar.npy")).max() <= TOLERANCE
        assert_matches(net(sem, mu), path)
        assert_matches(net(sem, torch.from_numpy(np.load(path / "z.npy"))), path, "output_randz")


@pytest.mark.slow
def test_spade_cityscapes_with_instance_edges() -> None:
    path = FIXTURES / "spade_cityscapes"
    config, net = load_spade(path)
    assert (config.label_nc, config.contain_dontcare, config.instance_edges) == (35, False, True)
    assert (config.num_upsampling_layers, config.use_vae, config.crop_size, config.aspect_ratio) == ("more", False, 512, 2.0)
    instance = np.asarray(Image.open(path / "instance.png"))
    assert instance.max() > 255  # raw 16-bit ids, not rescaled
    edges = instance_edges(instance)
    assert np.array_equal(edges, np.load(path / "edge.npy"))
    sem = semantic_tensor(label_tensor(path / "label.png"), config.label_nc, False, torch.from_numpy(edges)[None])
    assert sem.shape == (1, 36, 256, 512)
    with torch.inference_mode():
        assert_matches(net(sem), path)
