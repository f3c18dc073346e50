"""`light_unet`: an image/sketch-to-picture U-Net for live rendering on a laptop CPU (PaintGAN's own design).

A pix2pix-style U-Net reshaped for CPU cost:
* a 4x4 stride-2 stem is the only full-resolution conv on the way down (input_nc is 1-3, so it is cheap);
* every other conv is depthwise-separable (3x3 depthwise + 1x1); down steps are stride-2 separable convs with
  widths doubling to at most 8 x ngf, the bottleneck runs `n_blocks` residual separable blocks at H/2^n_down
  (that is where a sketch's closed shapes get filled, so depth is spent where pixels are few);
* the way up is a 1x1 width reduction at the coarse level, nearest x2, an additive skip (as LinkNet: no
  concatenation, so every conv at the fine level stays narrow) and a separable conv; no transposed convs;
* no conv runs at full resolution on the way up: `blocks.ToOutput` maps H/2 features to the output with a
  pixel-shuffled 3x3 conv and adds a per-pixel linear map of the input itself, so thin sketch lines stay
  pixel-aligned;
* NHWC memory layout inside (oneDNN's depthwise convs are 10-30x faster in it on a CPU).

Cost of one 256x256 frame, 1-channel sketch (`OMP_WAIT_POLICY=PASSIVE python -m paintgan.families.timing --only
light --repeats 100`; this project's shared 2-core AMD EPYC under a run queue of ~12, so wall times are upper
bounds):
    default (ngf 32, n_down 4, n_blocks 4): 0.66 M params, 0.32 GMAC, 14-22 ms CPU on one thread,
    22-40 ms wall at 2 threads (best of 100; the spread is the other processes' load)
    n_blocks 8: 1.21 M, 0.45 GMAC, 20-21 ms CPU; ngf 48: 1.47 M, 0.65 GMAC, 28-29 ms CPU
pix2pix unet_256 at ngf 64 is 54 M params and 6 GMAC a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.errors import CheckpointError
from paintgan.families import Family, register
from paintgan.families.blocks import LIGHT_NORMS, SeparableConv, ToOutput, affine_norm, channels_last, upsample2
from paintgan.families.layout import check, count_children, matches, shape
from paintgan.families.tiling import Reach, exact, instance_norm
from paintgan.render_core import Tiling

NAME = "light_unet"


@dataclass(frozen=True)
class LightUnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 32
    n_down: int = 4
    n_blocks: int = 4
    norm: str = "batch"

    def __post_init__(self) -> None:
        check(min(self.input_nc, self.output_nc, self.ngf) >= 1, NAME, "channel counts must be >= 1")
        check(self.n_down >= 2 and self.n_blocks >= 0, NAME, "n_down must be >= 2 and n_blocks >= 0")
        check(self.norm in LIGHT_NORMS, NAME, f"norm must be one of {LIGHT_NORMS}, got {self.norm!r}")

    @property
    def widths(self) -> list[int]:
        """Channel width at H/2, H/4, ... H/2^n_down."""
        return [self.ngf * min(2**i, 8) for i in range(self.n_down)]


class SeparableUnit(nn.Module):
    """Separable conv -> norm -> (LeakyReLU 0.2 unless it feeds a residual add)."""

    def __init__(self, cin: int, cout: int, norm: str, stride: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = SeparableConv(cin, cout, stride, bias=False)  # the norm that follows makes a bias moot
        self.norm = affine_norm(norm, cout)
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x, 0.2) if self.act else x


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.unit_0 = SeparableUnit(channels, channels, norm)
        self.unit_1 = SeparableUnit(channels, channels, norm, act=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.unit_1(self.unit_0(x))


class LightUnetGenerator(nn.Module):
    def __init__(self, config: LightUnetConfig) -> None:
        super().__init__()
        c, w = config, config.widths
        self.stem = nn.Conv2d(c.input_nc, w[0], 4, stride=2, padding=1)
        self.downs = nn.ModuleList(SeparableUnit(a, b, c.norm, stride=2) for a, b in zip(w, w[1:], strict=False))
        self.middle = nn.ModuleList(ResidualUnit(w[-1], c.norm) for _ in range(c.n_blocks))
        # Level i+1 comes up to level i as reduce[i] (1x1, at the coarse level) -> x2 -> + skip -> ups[i]; an
        # additive skip (as LinkNet) instead of a concat keeps every conv at the fine level narrow.
        self.reduce = nn.ModuleList(nn.Conv2d(w[i + 1], w[i], 1, bias=False) for i in range(c.n_down - 1))
        self.ups = nn.ModuleList(SeparableUnit(w[i], w[i], c.norm) for i in range(c.n_down - 1))
        self.out = ToOutput(w[0], c.input_nc, c.output_nc)

    def forward(self, x: Tensor) -> Tensor:
        x = channels_last(x)
        h = F.leaky_relu(self.stem(x), 0.2)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        for block in self.middle:
            h = block(h)
        for i in reversed(range(len(self.ups))):
            h = self.ups[i](upsample2(self.reduce[i](h)) + skips[i])
        return self.out(h, x).contiguous()


def size_multiple(config: LightUnetConfig) -> int:
    return 2**config.n_down


def detect(sd: dict[str, Tensor]) -> LightUnetConfig | None:
    stem, out = shape(sd, "stem.weight"), shape(sd, "out.from_input.weight")
    if stem is None or out is None or len(stem) != 4 or stem[2:] != (4, 4):
        return None
    n_down, n_blocks = 1 + count_children(sd, "downs"), count_children(sd, "middle")
    norm = "batch" if "downs.0.norm.running_mean" in sd else "instance"
    try:
        config = LightUnetConfig(stem[1], out[0], stem[0], n_down, n_blocks, norm)
    except CheckpointError:
        return None
    return config if matches(LightUnetGenerator, config, sd) else None


def tiling(config: LightUnetConfig) -> Tiling:
    """The bottleneck's blocks at H/2^n_down dominate: each 3x3 there sees 2^n_down px further."""
    if config.norm != "batch":
        return instance_norm(NAME)
    x = Reach().conv(4, 2, 1)
    skips = [x]
    for _ in range(config.n_down - 1):
        x = x.conv(3, 2, 1)
        skips.append(x)
    for _ in range(config.n_blocks):
        x = x.join(x.conv(3).conv(3))
    for i in reversed(range(config.n_down - 1)):
        x = x.up().join(skips[i]).conv(3)
    return exact(x.conv(3).up().join(Reach()), NAME)


FAMILY = Family(NAME, LightUnetConfig, LightUnetGenerator, size_multiple, detect, conditional="image",
                tiling=tiling)
register(FAMILY)
