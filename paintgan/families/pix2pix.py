"""pix2pix U-Net generator (the `unet_128` / `unet_256` of pytorch-CycleGAN-and-pix2pix), any depth and width.

The network is a chain of nested skip blocks. Each non-outermost block returns `cat([x, inner(x)])`, skip first;
the outermost returns `inner(x)` through tanh. Convs are 4x4 stride 2 padding 1; LeakyReLU 0.2 going down, ReLU
going up. Attribute names reproduce upstream's nested `model.model.1.model.3...` key layout so an upstream state
dict loads with strict=True. Norm "batch" = affine BatchNorm with running stats (convs then carry no bias except
the outermost up-conv), "instance" = stateless InstanceNorm (convs carry bias), "none" = no norm and, as upstream,
no bias. Dropout (0.5, after the up path of the `num_downs - 5` bottleneck blocks) has no keys, so it cannot be
detected; it is on by default as in pix2pix, and only acts in train mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from paintgan.families import Family, register
from paintgan.families.layout import NORMS, check, matches, norm_layer, shape
from paintgan.families.tiling import Reach, exact, instance_norm
from paintgan.render_core import Tiling

NAME = "pix2pix"
MIN_DOWNS = 5  # the four width-changing blocks plus the innermost one


@dataclass(frozen=True)
class UnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    num_downs: int = 8
    ngf: int = 64
    norm: str = "batch"
    dropout: bool = True

    def __post_init__(self) -> None:
        check(self.num_downs >= MIN_DOWNS, NAME, f"num_downs must be >= {MIN_DOWNS}, got {self.num_downs}")
        check(min(self.input_nc, self.output_nc, self.ngf) >= 1, NAME, "channel counts must be >= 1")
        check(self.norm in NORMS, NAME, f"norm must be one of {NORMS}, got {self.norm!r}")


class UnetSkipBlock(nn.Module):
    """One level of the U: down conv, the inner levels, up conv; concatenates its input unless outermost."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        inner: nn.Module | None,
        *,
        norm: str,
        input_nc: int | None = None,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = input_nc is not None
        in_nc = outer_nc if input_nc is None else input_nc
        bias = norm == "instance"
        down_conv = nn.Conv2d(in_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if self.outermost:
            assert inner is not None
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers: list[nn.Module] = [down_conv, inner, nn.ReLU(True), up_conv, nn.Tanh()]
        elif inner is None:  # innermost: nothing to concatenate below, so the up conv sees inner_nc channels
            up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, norm_layer(norm, outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                norm_layer(norm, inner_nc),
                inner,
                nn.ReLU(True),
                up_conv,
                norm_layer(norm, outer_nc),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        # The order [skip, up] is fixed by the trained weights of the next up conv.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, config: UnetConfig) -> None:
        super().__init__()
        c, f = config, config.ngf
        block = UnetSkipBlock(f * 8, f * 8, None, norm=c.norm)
        for _ in range(c.num_downs - MIN_DOWNS):
            block = UnetSkipBlock(f * 8, f * 8, block, norm=c.norm, dropout=c.dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(f * mult, f * mult * 2, block, norm=c.norm)
        self.model = UnetSkipBlock(c.output_nc, f, block, norm=c.norm, input_nc=c.input_nc)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def size_multiple(config: UnetConfig) -> int:
    return 2**config.num_downs


def detect(sd: dict[str, Tensor]) -> UnetConfig | None:
    first, last = shape(sd, "model.model.0.weight"), shape(sd, "model.model.3.weight")
    if first is None or last is None or len(first) != 4 or len(last) != 4 or first[2:] != (4, 4):
        return None
    ngf, input_nc = first[:2]
    output_nc = last[1]
    # Inner levels sit at model.model.1, then each level's submodule at `.model.3`.
    prefix, num_downs = "model.model.1", 1
    while f"{prefix}.model.1.weight" in sd:
        num_downs += 1
        prefix += ".model.3"
    level1 = "model.model.1.model"
    if f"{level1}.2.running_mean" in sd:
        norm = "batch"
    elif f"{level1}.1.bias" in sd:
        norm = "instance"
    else:
        norm = "none"
    if num_downs < MIN_DOWNS:
        return None
    config = UnetConfig(input_nc, output_nc, num_downs, ngf, norm)
    return config if matches(UnetGenerator, config, sd) else None


def _level(x: Reach, levels: int) -> Reach:
    """One UnetSkipBlock's down conv, the levels inside it (each concatenating its input), and its up conv."""
    down = x.conv(4, 2, 1)
    inner = down if levels == 1 else down.join(_level(down, levels - 1))
    return inner.conv_transpose(4, 2, 1)


def tiling(config: UnetConfig) -> Tiling:
    """Exact with batch norm (eval) or none, but n levels of 4x4 stride-2 convs see about 3 x 2^n px: in practice a
    U-Net-256 tile needs the whole canvas as its context."""
    if config.norm == "instance":
        return instance_norm(NAME)
    return exact(_level(Reach(), config.num_downs), NAME)


FAMILY = Family(NAME, UnetConfig, UnetGenerator, size_multiple, detect, conditional="image", tiling=tiling)
register(FAMILY)
