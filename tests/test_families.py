"""Generator families: every hyperparameter combination round-trips through save -> detect -> strict load."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from paintgan.errors import CheckpointError, InputError
from paintgan.families import all_families, get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import (
    EncoderConfig,
    SpadeConfig,
    build_encoder,
    detect_encoder,
    instance_edges,
    semantic_tensor,
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These nets are tiny: one thread is faster, and immune to OpenMP barrier stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Weights, biases and BatchNorm statistics all far from init, so a wrong layout shows in the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(int(torch.randint(1000, 50000, (1,), generator=gen)))
            elif not t.is_floating_point():  # settings stored with the weights (light_spade's reflect_classes)
                continue
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2)
            elif name.endswith("weight") and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=gen) / fan_in**0.5)
    return net.eval()


def sample_input(family: str, config: Any, size: tuple[int, int], seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if get_family(family).conditional == "labels":
        channels = config.semantic_nc if family == "spade" else config.input_nc
        labels = torch.randint(0, channels, (1, size[0] // 4, size[1] // 4), generator=gen)
        labels = labels.repeat_interleave(4, 1).repeat_interleave(4, 2)  # regions, like a painting
        return semantic_tensor(labels, channels, dontcare=False)
    return torch.rand(1, config.input_nc, *size, generator=gen) * 2 - 1


def forward(net: nn.Module, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
    with torch.inference_mode():
        return net(x) if z is None else net(x, z)


def fixed_z(config: Any) -> torch.Tensor | None:
    dim = getattr(config, "latent_dim", 0)
    return torch.randn(1, dim, generator=torch.Generator().manual_seed(2)) if dim else None


CASES: list[tuple[str, Any]] = [
    ("pix2pix", UnetConfig(3, 3, 5, 4, "batch", True)),
    ("pix2pix", UnetConfig(1, 3, 6, 3, "instance", False)),
    ("pix2pix", UnetConfig(3, 1, 7, 2, "none", True)),
    ("pix2pix", UnetConfig(3, 3, 8, 2, "batch", True)),
    ("pix2pix", UnetConfig(4, 2, 8, 3, "instance", True)),
    ("cyclegan", ResnetConfig(3, 3, 4, 9, "instance", False, "reflect")),
    ("cyclegan", ResnetConfig(3, 3, 4, 6, "batch", True, "reflect")),
    ("cyclegan", ResnetConfig(1, 3, 3, 2, "instance", True, "zero")),
    ("cyclegan", ResnetConfig(3, 1, 2, 1, "batch", False, "zero")),
    ("cyclegan", ResnetConfig(3, 3, 2, 3, "none", False, "reflect")),
    ("ganilla", GanillaConfig(3, 3, 8, (1, 1, 1, 1), (8, 16, 16, 32), 16)),
    ("ganilla", GanillaConfig(3, 3, 16, (2, 1, 3, 2), (16, 16, 24, 32), 8)),
    ("ganilla", GanillaConfig(3, 3, 8, (3, 4, 6, 3), (8, 8, 8, 8), 8, (1.0, 0.5, 0.5, 0.5), True)),
    ("spade", SpadeConfig(182, True, True, 2, "normal", False)),
    ("spade", SpadeConfig(150, True, False, 2, "normal", True, crop_size=64)),
    ("spade", SpadeConfig(35, False, True, 2, "more", False, crop_size=512, aspect_ratio=2.0)),
    ("spade", SpadeConfig(35, False, True, 2, "more", True, 32, crop_size=128, aspect_ratio=2.0)),
    ("spade", SpadeConfig(7, False, False, 3, "normal", False, norm="instance", kernel_size=5)),
    ("spade", SpadeConfig(7, False, False, 2, "most", True, 16, crop_size=128)),
    ("spade", SpadeConfig(5, False, False, 4, "most", False, norm="instance")),
    ("light_spade", LightSpadeConfig(11, 8, 3, 2, 8, 0, "batch")),
    ("light_spade", LightSpadeConfig(5, 4, 2, 0, 4, 16, "instance")),
    ("light_spade", LightSpadeConfig(12, 8, 4, 3, 16, 8, "batch")),
    ("light_spade", LightSpadeConfig(7, 4, 2, 1, 4, 0, "batch", (3, 5))),
    ("light_spade", LightSpadeConfig(7, 4, 2, 1, 4, 0, "batch", (), "replicate")),
    ("light_unet", LightUnetConfig(3, 3, 8, 4, 2, "batch")),
    ("light_unet", LightUnetConfig(1, 3, 4, 2, 0, "instance")),
    ("light_unet", LightUnetConfig(1, 3, 8, 5, 3, "batch")),
]


# Fields a state dict cannot show (no keys, no shapes); detection reports the documented default instead.
UNDETECTABLE = {"pix2pix": {"dropout": True}, "ganilla": {"dropout": False, "fpn_weights": (1.0, 1.0, 1.0, 1.0)},
                "light_spade": {"padding": "zeros"}}


def detectable(name: str, config: Any) -> Any:
    return dataclasses.replace(config, **UNDETECTABLE.get(name, {}))


def case_id(case: tuple[str, Any]) -> str:
    return f"{case[0]}-" + "-".join(str(v) for v in dataclasses.asdict(case[1]).values())


def test_registry_lists_every_family() -> None:
    names = {f.name for f in all_families()}
    assert {"pix2pix", "cyclegan", "ganilla", "spade", "light_spade", "light_unet"} <= names


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(CheckpointError, match="unknown generator family 'stylegan'.*pix2pix"):
        get_family("stylegan")


def test_ganilla_widths_given_as_text_say_a_list_is_expected() -> None:
    from paintgan.families.ganilla import GanillaConfig

    with pytest.raises(CheckpointError, match=r"widths must be a list of 4 numbers such as \[64, 128, 128, 256\]"):
        GanillaConfig(widths="24,48,48,96")  # type: ignore[arg-type]


def test_light_spade_water_reads_the_mirror_image_of_what_stands_above_its_shore() -> None:
    from paintgan.families.light_spade import mirror_image

    sky, mountain, water, grass = 0, 1, 2, 3
    labels = np.full((12, 3), sky)
    labels[3:6, 0] = mountain  # a peak standing on the shore of column 0
    labels[6:, 0] = water
    labels[:, 1] = water  # column 1 is water to the top: nothing stands above it to mirror
    labels[:8, 2], labels[8:, 2] = grass, water
    seg = torch.nn.functional.one_hot(torch.as_tensor(labels), 4).permute(2, 0, 1)[None].float()
    mirrored = mirror_image(seg, (water,))[0]
    seen = mirrored.sum(0)
    assert mirrored[:, :, 0].argmax(0)[6:].tolist() == [mountain] * 3 + [sky] * 3  # rows 5, 4, 3, then 2, 1, 0
    assert seen[:6, 0].sum() == 0 and seen[6:, 0].tolist() == [1.0] * 6
    assert seen[:, 1].sum() == 0
    assert mirrored[:, 8:, 2].argmax(0).tolist() == [grass] * 4 and seen[8:, 2].tolist() == [1.0] * 4


def test_light_spade_with_reflections_tiles_in_columns_and_refuses_a_foreign_class() -> None:
    config = LightSpadeConfig(5, 4, 2, 1, 4, reflect=[2])
    tiling = get_family("light_spade").tiling(config)
    assert config.reflect == (2,) and tiling.exact and tiling.columns
    with pytest.raises(CheckpointError, match=r"reflect must list distinct label indices below input_nc 5"):
        LightSpadeConfig(5, reflect=(7,))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_family_round_trip(case: tuple[str, Any]) -> None:
    name, config = case
    family = get_family(name)
    net = randomize(family.build(config))
    sd = net.state_dict()
    assert family.detect(sd) == detectable(name, config)
    # The config survives JSON, as it will in a model card.
    assert family.config_cls(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    m = family.size_multiple(config)
    m *= max(1, 32 // m)  # reflect padding needs >= 2 pixels at the coarsest level
    size = (m, 2 * m)  # non-square; also gives instance norm > 1 pixel at SPADE's coarsest level
    x = sample_input(name, config, size)
    twin = family.build(config)
    twin.load_state_dict(sd, strict=True)
    y = forward(net, x, fixed_z(config))
    assert y.shape == (1, getattr(config, "output_nc", 3), *size)
    assert y.abs().max() <= 1 and y.std() > 1e-3
    assert torch.equal(forward(twin.eval(), x, fixed_z(config)), y)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_other_families_reject_the_layout(case: tuple[str, Any]) -> None:
    name, config = case
    sd = get_family(name).build(config).state_dict()
    assert [f.name for f in all_families() if f.detect(sd) is not None] == [name]


def test_unet_skip_order_matters() -> None:
    """The skip is concatenated before the upsampled features: a swapped order would give another picture."""
    config = UnetConfig(3, 3, 5, 4, "batch")
    net = randomize(get_family("pix2pix").build(config))
    x = sample_input("pix2pix", config, (32, 32))
    y = forward(net, x)
    level = net.model.model[1]
    original = level.forward
    level.forward = lambda t: torch.cat([level.model(t), t], 1)  # type: ignore[method-assign]
    assert (forward(net, x) - y).abs().max() > 0.05
    level.forward = original  # type: ignore[method-assign]


def test_cyclegan_block_count_and_dropout_shift_keys() -> None:
    keys = get_family("cyclegan").build(ResnetConfig(n_blocks=9, dropout=True)).state_dict()
    assert "model.10.conv_block.6.weight" in keys and "model.26.weight" in keys


def test_spade_any_size_multiple_works_without_vae() -> None:
    config = SpadeConfig(7, False, False, 2, "normal", False)
    net = randomize(get_family("spade").build(config))
    for size in ((32, 32), (64, 32), (32, 96)):
        assert forward(net, sample_input("spade", config, size)).shape == (1, 3, *size)


def test_spade_vae_at_training_size_uses_fc_grid_and_other_sizes_resize_it() -> None:
    config = SpadeConfig(7, False, False, 2, "normal", True, 16, crop_size=64)
    net = randomize(get_family("spade").build(config))
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    assert config.latent_grid == (2, 2)
    small = forward(net, sample_input("spade", config, (64, 64)), z)
    wide = forward(net, sample_input("spade", config, (64, 128)), z)
    assert small.shape == (1, 3, 64, 64) and wide.shape == (1, 3, 64, 128)


def test_spade_z_changes_the_picture_and_is_repeatable() -> None:
    config = SpadeConfig(7, False, False, 2, "normal", True, 16, crop_size=32)
    net = randomize(get_family("spade").build(config))
    x = sample_input("spade", config, (32, 32))
    z1, z2 = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(5))
    assert torch.equal(forward(net, x, z1), forward(net, x, z1))
    assert (forward(net, x, z1) - forward(net, x, z2)).abs().max() > 1e-2


@pytest.mark.parametrize(
    ("semantic_nc", "expected"),
    [
        (184, (182, True, True, "normal", 256, 1.0)),
        (151, (150, True, False, "normal", 256, 1.0)),
        (36, (35, False, True, "more", 512, 2.0)),
        (9, (9, False, False, "normal", 256, 1.0)),
    ],
)
def test_spade_presets_split_input_channels(semantic_nc: int, expected: tuple[Any, ...]) -> None:
    """Only the channel total is in the weights; the documented presets decide the rest."""
    preset = SpadeConfig(semantic_nc, False, False, 2, "normal", False)
    detected = get_family("spade").detect(get_family("spade").build(preset).state_dict())
    assert detected is not None
    got = (detected.label_nc, detected.contain_dontcare, detected.instance_edges, detected.num_upsampling_layers)
    assert got + (detected.crop_size, detected.aspect_ratio) == expected


@pytest.mark.parametrize("config", [EncoderConfig(4, 6, "instance"), EncoderConfig(2, 5, "batch", 32),
                                    EncoderConfig(3, 6, "none", 8)])  # fmt: skip
def test_encoder_round_trip_and_resizes_any_style_image(config: EncoderConfig) -> None:
    enc = randomize(build_encoder(config))
    assert detect_encoder(enc.state_dict()) == config
    twin = build_encoder(config)
    twin.load_state_dict(enc.state_dict(), strict=True)
    style = torch.rand(1, 3, 100, 60) * 2 - 1
    mu, logvar = forward(enc, style)
    assert mu.shape == logvar.shape == (1, config.z_dim)
    assert torch.equal(forward(twin.eval(), style)[0], mu)


def test_semantic_tensor_maps_dontcare_and_adds_edges() -> None:
    labels = torch.tensor([[[0, 2, 255], [1, 1, 2]]])
    edges = torch.tensor([[[0, 1, 1], [0, 0, 1]]])
    sem = semantic_tensor(labels, 3, dontcare=True, instance_edges=edges)
    assert sem.shape == (1, 5, 2, 3)
    assert sem[0, 3, 0, 2] == 1 and sem[0, :4].sum(0).eq(1).all()
    assert torch.equal(sem[0, 4], edges[0].float())


def test_semantic_tensor_rejects_labels_outside_the_set() -> None:
    with pytest.raises(InputError, match="label index 7 is outside.*0..3 or 255"):
        semantic_tensor(torch.tensor([[[0, 7]]]), 3, dontcare=True)
    with pytest.raises(InputError, match="label index 255"):
        semantic_tensor(torch.tensor([[[0, 255]]]), 3, dontcare=False)


def test_instance_edges_mark_both_sides_of_each_boundary() -> None:
    inst = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]], dtype=np.uint16)
    assert instance_edges(inst).tolist() == [[0, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert instance_edges(np.full((4, 4), 26001)).sum() == 0


PUBLISHED_LAYOUTS = [
    ("pix2pix", UnetConfig()),  # unet_256, ngf 64, batch norm: the published pix2pix models
    ("pix2pix", UnetConfig(num_downs=7)),  # unet_128
    ("cyclegan", ResnetConfig()),  # resnet_9blocks, ngf 64, instance norm: the published CycleGAN models
    ("cyclegan", ResnetConfig(n_blocks=6)),
    ("ganilla", GanillaConfig()),  # resnet18 + FPN
    ("ganilla", GanillaConfig(layers=(3, 4, 6, 3))),  # GANILLA's --depth 34
    ("spade", SpadeConfig()),  # coco
    ("spade", SpadeConfig(150, True, False)),  # ade20k
    ("spade", SpadeConfig(35, False, True, 64, "more", crop_size=512, aspect_ratio=2.0)),  # cityscapes
    ("spade", SpadeConfig(182, True, True, 64, "normal", True)),  # coco with the style VAE
]


@pytest.mark.parametrize(("name", "config"), PUBLISHED_LAYOUTS, ids=[case_id(c) for c in PUBLISHED_LAYOUTS])
def test_full_width_upstream_layouts_are_detected(name: str, config: Any) -> None:
    """The published checkpoints' layouts, built on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        sd = get_family(name).build(config).state_dict()
    assert get_family(name).detect(sd) == detectable(name, config)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["light_spade", "light_unet"])
def test_light_generators_learn_a_mapping(name: str) -> None:
    """A few Adam steps of L1 must at least halve the error: every path trains, norms included."""
    torch.manual_seed(0)
    if name == "light_spade":
        config: Any = LightSpadeConfig(input_nc=5, ngf=8, n_down=3, n_blocks=1, hidden=8)
        labels = torch.randint(0, 5, (4, 8, 8)).repeat_interleave(4, 1).repeat_interleave(4, 2)
        x = semantic_tensor(labels, 5, dontcare=False)
        target = (torch.rand(5, 3) * 2 - 1)[labels].permute(0, 3, 1, 2)  # a colour per label
    else:
        config = LightUnetConfig(input_nc=1, ngf=8, n_down=3, n_blocks=1)
        x = torch.rand(4, 1, 32, 32) * 2 - 1
        target = torch.cat([x, -x, nn.functional.avg_pool2d(x, 3, 1, 1)], 1)
    net = get_family(name).build(config).train()
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)
    losses = []
    for _ in range(120):
        loss = (net(x) - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert (forward(net.eval(), x) - target).abs().mean() < 0.5 * losses[0]
