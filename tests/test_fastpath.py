"""The inference fast path draws the same picture as the plain network (within 1e-3), for every family."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from shared_paths import FIXTURES, needs_shared
from torch import nn

from paintgan import checkpoints
from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SPADE, SpadeConfig, semantic_tensor
from paintgan.fastpath import FusedModulation, FusedSpade, LabelIndex, OneHotConv, optimize
from paintgan.images import read_rgb
from paintgan.models import load_model, placeholder_model
from paintgan.render import Renderer

TOLERANCE = 1e-3


def trained_looking(family: str, config: Any, seed: int = 0) -> nn.Module:
    """A seeded network whose BatchNorms have non-trivial statistics and affine parameters, as a trained one."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = get_family(family).build(config).eval()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
                if m.affine:
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.3, 0.3)
    return net


def label_input(channels: int, size: int, edges: bool, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, channels - 1 - edges, (1, size // 8, size // 8), generator=gen)
    labels = cells.repeat_interleave(8, 1).repeat_interleave(8, 2)  # regions, like a painting
    edge = (torch.rand(1, size, size, generator=gen) > 0.9).float() if edges else None
    return semantic_tensor(labels, channels - 1 - edges, True, edge)


CASES = [
    ("pix2pix", UnetConfig(ngf=8, num_downs=6), 3, "fold BatchNorm into convs"),
    ("pix2pix", UnetConfig(ngf=8, num_downs=6, norm="instance"), 3, "channels_last"),
    ("cyclegan", ResnetConfig(ngf=8, n_blocks=2, norm="batch"), 3, "fold BatchNorm into convs"),
    ("cyclegan", ResnetConfig(ngf=8, n_blocks=2), 3, None),  # nothing to fold, and NHWC does not win on a CPU
    ("ganilla", GanillaConfig(ngf=16), 3, None),
    ("spade", SpadeConfig(label_nc=12, ngf=4), 14, "one-hot conv as table look-up"),
    ("spade", SpadeConfig(label_nc=12, instance_edges=False, ngf=4, norm="instance"), 13,
     "fold norm into one gamma/beta conv"),
    ("light_spade", LightSpadeConfig(input_nc=11, ngf=8, hidden=8), 11, "fold norm into one gamma/beta conv"),
    ("light_spade", LightSpadeConfig(input_nc=11, ngf=8, hidden=8, padding="replicate"), 11,
     "fold norm into one gamma/beta conv"),
    ("light_unet", LightUnetConfig(input_nc=1, ngf=8), 1, "fold BatchNorm into convs"),
]


@pytest.mark.parametrize(("family", "config", "channels", "step"), CASES,
                         ids=[f"{c[0]}-{getattr(c[1], 'norm', '')}" for c in CASES])
def test_fast_path_draws_the_same_picture_as_the_plain_network(
    family: str, config: Any, channels: int, step: str | None
) -> None:
    net = trained_looking(family, config)
    if get_family(family).conditional == "labels":
        x = label_input(channels, 128, edges=getattr(config, "instance_edges", False))
    else:
        x = torch.rand(1, channels, 128, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    fast = optimize(net, family)
    assert step in fast.steps if step else fast.steps == ()
    with torch.inference_mode():
        want, got = net(x), fast.module(x)
    assert got.shape == want.shape and got.is_contiguous()
    assert float((got - want).abs().max()) <= TOLERANCE
    assert float(want.std()) > 0.01  # a picture, not a constant that any rewrite would match


def test_batchnorm_is_gone_from_the_fast_pix2pix_and_the_original_keeps_it() -> None:
    net = trained_looking("pix2pix", UnetConfig(ngf=8, num_downs=6))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    fast = optimize(net, "pix2pix").module
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert norms == 9 and sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == norms
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.is_contiguous() for p in net.parameters())  # NHWC copies went to the fast net only


def test_spade_layers_merge_gamma_and_beta_into_one_conv_with_the_norm_folded() -> None:
    net = trained_looking("spade", SpadeConfig(label_nc=12, ngf=4))
    fast = optimize(net, "spade").module
    fused = [m for m in fast.modules() if isinstance(m, FusedSpade)]
    plain = [m for m in net.modules() if isinstance(m, SPADE)]
    assert len(fused) == len(plain) == 18 and not any(isinstance(m, SPADE) for m in fast.modules())
    assert all(isinstance(m.param_free_norm, nn.Identity) for m in fused)  # BatchNorm went into the conv
    assert [m.mlp.out_channels for m in fused] == [2 * m.mlp_gamma.out_channels for m in plain]


def test_one_hot_lookup_equals_the_conv_and_other_inputs_take_the_conv() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(9, 16, 3, padding=1)  # 8 one-hot label channels + 1 edge channel
    lookup = OneHotConv(conv, 8, LabelIndex(8))
    x = label_input(10, 64, edges=True)[:, [*range(8), 9]]  # no dontcare column: 8 labels + edges
    x[:, :8] = nn.functional.one_hot(x[:, :8].argmax(1), 8).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        assert float((lookup(x) - conv(x)).abs().max()) < 1e-5
        soft = x.clone()
        soft[:, :8] *= 0.5  # not one-hot: must not be treated as labels
        assert torch.equal(lookup(soft), conv(soft))


def test_light_modulation_folds_its_batchnorm_and_keeps_instance_norm() -> None:
    batch = optimize(trained_looking("light_spade", LightSpadeConfig(input_nc=11, ngf=8, hidden=8)), "light_spade")
    assert any(isinstance(m, FusedModulation) for m in batch.module.modules())
    inst = trained_looking("light_spade", LightSpadeConfig(input_nc=11, ngf=8, hidden=8, norm="instance"))
    assert not any(isinstance(m, FusedModulation) for m in optimize(inst, "light_spade").module.modules())


def test_spectral_norm_reference_and_folded_fast_path_agree() -> None:
    """Upstream SPADE runs spectral norm on every call; loading folds it; the fast path runs on the folded file."""
    config = SpadeConfig(label_nc=12, ngf=4)
    reference = trained_looking("spade", config)
    for m in list(reference.modules()):
        if isinstance(m, nn.Conv2d):
            nn.utils.parametrizations.spectral_norm(m)
    reference.eval()
    folded = get_family("spade").build(config).eval()
    folded.load_state_dict(checkpoints.normalize(reference.state_dict()), strict=True)
    x = label_input(14, 64, edges=True)
    with torch.inference_mode():
        diff = (optimize(folded, "spade").module(x) - reference(x)).abs().max()
    assert float(diff) <= TOLERANCE


@pytest.mark.parametrize("kind", ["labels", "sketch", "image"])
def test_renderer_pictures_with_and_without_the_fast_path_match(kind: str) -> None:
    model = placeholder_model(kind)  # type: ignore[arg-type]
    source = (np.arange(96 * 128).reshape(96, 128) // 700 % 10).astype(np.uint8)
    if kind == "image":
        source = np.stack([source * 25, source * 11, 255 - source * 20], axis=-1).astype(np.uint8)
    plain = Renderer(placeholder_model(kind), device="cpu", fast=False)  # type: ignore[arg-type]
    fast = Renderer(model, device="cpu")
    assert fast.fast_steps and not plain.fast_steps
    assert float((fast.render_tensor(source) - plain.render_tensor(source)).abs().max()) <= TOLERANCE


@needs_shared(FIXTURES / "pix2pix_unet256")
def test_upstream_pix2pix_file_renders_its_reference_output_through_the_fast_path() -> None:
    """The official-format file's BatchNorm statistics are random (not 0/1), so folding them is really tested."""
    folder = FIXTURES / "pix2pix_unet256"
    model = load_model(folder / "latest_net_G.pth")
    renderer = Renderer(model, device="cpu")
    assert "fold BatchNorm into convs" in renderer.fast_steps
    got = renderer.render_tensor(read_rgb(folder / "input.png")).numpy()
    assert np.abs(got - np.load(folder / "output.npy")).max() <= TOLERANCE



def test_spade_fast_path_takes_the_conv_for_a_soft_label_map_and_keeps_no_maps_after_a_call() -> None:
    net = trained_looking("spade", SpadeConfig(label_nc=12, ngf=4))
    fast = optimize(net, "spade").module
    soft = label_input(14, 64, edges=True) * 0.9 + 0.1 / 14  # blended labels are not one-hot: no look-up
    with torch.inference_mode():
        assert float((fast(soft) - net(soft)).abs().max()) <= TOLERANCE
        fast(label_input(14, 64, edges=True))
    index = next(m.labels for m in fast.modules() if isinstance(m, OneHotConv))
    assert index.level((64, 64), (3, 3)) is None  # released: big canvases' maps are hundreds of MB


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("cyclegan", "ganilla", "light_unet", "light_spade")],
                         ids=lambda c: c[0])
def test_the_gpu_layout_choice_nhwc_for_every_family_draws_the_same_picture(case: tuple[str, Any, int, Any]) -> None:
    """GPUs get channels_last for every family; no GPU here, so the layout itself is checked on the CPU."""
    family, config, channels, _ = case
    net = trained_looking(family, config)
    x = label_input(channels, 64, edges=False) if family == "light_spade" else torch.rand(1, channels, 64, 64) * 2 - 1
    fast = optimize(net, family, channels_last=True)
    assert "channels_last" in fast.steps
    with torch.inference_mode():
        assert float((fast.module(x) - net(x)).abs().max()) <= TOLERANCE
