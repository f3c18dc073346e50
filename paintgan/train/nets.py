"""The networks of a run: the generator config that fits the data and crop size, and the discriminators.

A generator config starts from the family's dataclass defaults, takes the channel counts the data implies
(label one-hot, sketch, RGB), adapts depth to the crop where the family needs it (a pix2pix U-Net of 2^8 =
256 px cannot see a 64 px crop), and finally the user's `[model]` / `--model-option` values, which always win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from paintgan.families import Family
from paintgan.families.spade import semantic_tensor
from paintgan.labels import LabelSet
from paintgan.train.config import ConfigError, TrainConfig
from paintgan.train.data import DataSpec
from paintgan.train.discriminators import MultiScale, build_discriminator


@dataclass(frozen=True)
class InputSpec:
    """How a batch's `source` becomes the generator input, and what the model card will say about it."""

    kind: str  # "labels", "sketch", "image"
    channels: int
    label_set: LabelSet | None = None
    label_nc: int = 0
    dontcare: bool = False

    def encode(self, source: Tensor) -> Tensor:
        if self.kind == "labels":
            return semantic_tensor(source, self.label_nc, self.dontcare)
        return source

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "channels": self.channels,
            "label_set": None if self.label_set is None else self.label_set.to_dict(),
            "label_nc": self.label_nc,
            "dontcare": self.dontcare,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        ls = data.get("label_set")
        return cls(data["kind"], int(data["channels"]), None if ls is None else LabelSet.from_dict(ls),
                   int(data["label_nc"]), bool(data["dontcare"]))


def input_spec(spec: DataSpec, dontcare: bool) -> InputSpec:
    if spec.input_kind == "labels":
        assert spec.label_set is not None
        label_nc = spec.label_set.max_index + 1
        return InputSpec("labels", label_nc + int(dontcare), spec.label_set, label_nc, dontcare)
    if spec.layout == "sketch_labels":  # sketch in; the label set names the classes the generator gives out
        assert spec.label_set is not None
        return InputSpec("sketch", 1, spec.label_set, spec.label_set.max_index + 1)
    return InputSpec(spec.input_kind, 1 if spec.input_kind == "sketch" else 3)


def generator_config(family: Family, inputs: InputSpec, size: int, overrides: dict[str, Any],
                     output_nc: int = 3) -> Any:
    """`output_nc` is 3 for pictures, the class count for a segmenter (`--target labels`)."""
    names = {f.name for f in fields(family.config_cls)}
    values: dict[str, Any] = {}
    if family.conditional == "labels":
        if inputs.kind != "labels":
            raise ConfigError(f"family {family.name!r} takes label maps, but the data gives {inputs.kind} input; "
                              "expected labels/ + images/ (or an image family such as pix2pix)")
        if "label_nc" in names:  # SPADE: one-hot layout is part of its config
            values.update(label_nc=inputs.label_nc, contain_dontcare=inputs.dontcare, instance_edges=False)
        else:
            values["input_nc"] = inputs.channels
    else:
        values["input_nc"] = inputs.channels
    if "output_nc" in names:
        values["output_nc"] = output_nc
    elif output_nc != 3:
        raise ConfigError(f"family {family.name!r} always gives pictures; --target labels needs a family with "
                          "output_nc (light_unet, pix2pix)")
    if "crop_size" in names:
        values.update(crop_size=size, aspect_ratio=1.0)
    if family.name == "pix2pix":
        # unet_256 at 256 px, unet_128 at 128 px, as in the paper; never deeper than the crop allows.
        values["num_downs"] = max(5, min(8, int(math.log2(size))))
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"{family.name} has no setting {', '.join(unknown)}; expected some of: {', '.join(sorted(names))}")
    values.update(overrides)
    if values.get("use_vae"):
        raise ConfigError("training SPADE's VAE style encoder is not supported; leave use_vae false "
                          "(style comes from the label map alone)")
    values = {k: v for k, v in values.items() if k in names}
    config = family.config_cls(**values)
    multiple = int(family.size_multiple(config))
    if size % multiple:
        raise ConfigError(f"{family.name} with these settings needs sizes that are multiples of {multiple}; "
                          f"got --size {size}")
    return config


# The papers' initialisations; light families keep their own (PyTorch's defaults suit depthwise convs better).
INIT = {"pix2pix": "normal", "cyclegan": "normal", "ganilla": "normal", "spade": "xavier"}


def build_generator(family: Family, config: Any, spectral: bool) -> nn.Module:
    net = family.build(config)
    if family.name in INIT:
        init_weights(net, INIT[family.name])
    return add_spectral_norm(net) if spectral else net


def add_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral norm on every conv and linear layer (Miyato et al. 2018), as SPADE trains G and D."""
    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(module)
    return net


def fold_spectral_norm(net: nn.Module) -> nn.Module:
    """Replace spectral-norm parametrizations by the plain weights they give (upstream key layout again)."""
    for module in net.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return net


def build_discriminators(c: TrainConfig, input_nc: int, count: int) -> list[MultiScale]:
    smallest = c.size // 2 ** (c.d_scales - 1) // 2**c.d_layers
    if smallest < 3:  # the two stride-1 4x4 convs at the end each take one pixel off
        raise ConfigError(f"--size {c.size} is too small for a discriminator of {c.d_layers} layers at {c.d_scales} "
                          "scales; lower --d-layers or --d-scales, or train at a larger size")
    nets = []
    for _ in range(count):
        d = build_discriminator(input_nc, ndf=c.ndf, n_layers=c.d_layers, scales=c.d_scales, norm=c.d_norm)
        init_weights(d)
        nets.append(add_spectral_norm(d) if c.spectral_norm else d)
    return nets


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> None:
    """pix2pix/CycleGAN: weights N(0, 0.02); SPADE: Xavier with gain 0.02; biases 0, norm scales N(1, 0.02)."""
    for m in net.modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and isinstance(weight, Tensor):
            if kind == "xavier":
                nn.init.xavier_normal_(weight, gain)
            else:
                nn.init.normal_(weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
