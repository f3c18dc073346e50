"""CycleGAN ResNet generator (`resnet_6blocks` / `resnet_9blocks` of pytorch-CycleGAN-and-pix2pix), any block count.

Layout: reflect-pad 3, 7x7 conv, two stride-2 3x3 down convs (zero padding 1), `n_blocks` residual blocks with no
activation after the add, two ConvTranspose2d(k3, s2, p1, output_padding 1) up convs, reflect-pad 3, 7x7 conv, tanh.
Everything sits in one flat `model` Sequential, as upstream, so keys are `model.<index>...`; block count, dropout
and the zero-padding variant shift those indices and are read back from them. Reflect and replicate padding give the
same keys; reflect (upstream's default, used by every published model) is assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import Tensor, nn

from paintgan.families import Family, register
from paintgan.families.layout import NORMS, check, matches, norm_layer, shape
from paintgan.families.tiling import Reach, exact, instance_norm
from paintgan.render_core import Tiling

NAME = "cyclegan"
PADDINGS = ("reflect", "replicate", "zero")
FIRST_BLOCK = 10  # index of the first residual block in `model`
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.")


@dataclass(frozen=True)
class ResnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    dropout: bool = False
    padding: str = "reflect"

    def __post_init__(self) -> None:
        check(self.n_blocks >= 0, NAME, f"n_blocks must be >= 0, got {self.n_blocks}")
        check(min(self.input_nc, self.output_nc, self.ngf) >= 1, NAME, "channel counts must be >= 1")
        check(self.norm in NORMS, NAME, f"norm must be one of {NORMS}, got {self.norm!r}")
        check(self.padding in PADDINGS, NAME, f"padding must be one of {PADDINGS}, got {self.padding!r}")


def _pad(padding: str) -> list[nn.Module]:
    if padding == "reflect":
        return [nn.ReflectionPad2d(1)]
    if padding == "replicate":
        return [nn.ReplicationPad2d(1)]
    return []


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, config: ResnetConfig) -> None:
        super().__init__()
        bias, conv_pad = config.norm == "instance", 1 if config.padding == "zero" else 0
        layers: list[nn.Module] = [
            *_pad(config.padding),
            nn.Conv2d(dim, dim, 3, padding=conv_pad, bias=bias),
            norm_layer(config.norm, dim),
            nn.ReLU(True),
        ]
        if config.dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*_pad(config.padding), nn.Conv2d(dim, dim, 3, padding=conv_pad, bias=bias), norm_layer(config.norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, config: ResnetConfig) -> None:
        super().__init__()
        c, f = config, config.ngf
        bias = c.norm == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.input_nc, f, 7, bias=bias),
            norm_layer(c.norm, f),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(f * mult, f * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(c.norm, f * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(f * 4, c) for _ in range(c.n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(f * mult, f * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(c.norm, f * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(f, c.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def size_multiple(config: ResnetConfig) -> int:
    return 4


def detect(sd: dict[str, Tensor]) -> ResnetConfig | None:
    first = shape(sd, "model.1.weight")
    if first is None or len(first) != 4 or first[2:] != (7, 7):
        return None
    ngf, input_nc = first[:2]
    blocks = {int(m.group(1)) for k in sd if (m := _BLOCK_KEY.match(k))}
    n_blocks = len(blocks)
    last = shape(sd, f"model.{FIRST_BLOCK + n_blocks + 7}.weight")
    if last is None:
        return None
    block = f"model.{FIRST_BLOCK}.conv_block"
    zero = f"{block}.0.weight" in sd
    second_conv = 3 if zero else 5
    # Dropout shifts the second conv by one; a norm weight at that index is 1-D, a conv weight 4-D.
    dropout = len(shape(sd, f"{block}.{second_conv + 1}.weight") or ()) == 4
    if "model.2.running_mean" in sd:
        norm = "batch"
    elif "model.1.bias" in sd:
        norm = "instance"
    else:
        norm = "none"
    config = ResnetConfig(input_nc, last[0], ngf, n_blocks, norm, dropout, "zero" if zero else "reflect")
    return config if matches(ResnetGenerator, config, sd) else None


def tiling(config: ResnetConfig) -> Tiling:
    """Upstream's instance norm never tiles; with batch norm (or none) the reach is the convs' (reflect padding
    inside the blocks only matters within it)."""
    if config.norm == "instance":
        return instance_norm(NAME)
    x = Reach().conv(7).conv(3, 2, 1).conv(3, 2, 1)
    for _ in range(config.n_blocks):
        x = x.join(x.conv(3).conv(3))
    return exact(x.conv_transpose(3, 2, 1).conv_transpose(3, 2, 1).conv(7), NAME)


FAMILY = Family(NAME, ResnetConfig, ResnetGenerator, size_multiple, detect, conditional="image", tiling=tiling)
register(FAMILY)
