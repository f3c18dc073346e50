"""GANILLA generator: a ResNet-18-style encoder whose blocks concatenate, and an FPN decoder (GANILLA `resnet_fpn`).

Encoder: reflect-pad, 7x7 conv (bias) -> InstanceNorm -> ReLU -> reflect-pad 1 -> 3x3 max-pool stride 2, then four
stages of `layers[i]` blocks (stage 1 stride 1, stages 2-4 stride 2 in their first block). A block runs
reflect-pad/3x3 conv/IN/ReLU/(dropout)/reflect-pad/3x3 conv/IN on the main path, a 1x1 conv + IN shortcut when the
shape changes (identity otherwise), then `cat([main, shortcut])` -> reflect-pad 1 -> 3x3 conv -> IN -> ReLU.
Decoder: 1x1 lateral convs to `fpn_size` channels, summed top-down with nearest x2 upsampling, a last x2, reflect-pad
1, 3x3 conv to `fpn_size // 2`, reflect-pad, 7x7 conv, tanh. All norms are stateless InstanceNorm; block convs
carry no bias.

Upstream quirks kept because trained weights depend on them: the stem pads by `input_nc` and the head by
`output_nc` (so only 3-channel models keep the input size, as in GANILLA), and the finest lateral is scaled by
`fpn_weights[3] * fpn_weights[2]`. Upstream hardcodes the stage widths (64, 128, 128, 256) and the FPN width (128);
`ngf` only sets the stem. Here the widths are config fields (defaults = upstream) read back from the keys, so a
narrower GANILLA can be trained for fast restyling. `fpn_weights` and dropout leave no trace in a state dict; the
upstream defaults (1, 1, 1, 1) and off are assumed on detection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.errors import CheckpointError
from paintgan.families import Family, register
from paintgan.families.blocks import upsample2
from paintgan.families.layout import check, matches, shape
from paintgan.families.tiling import instance_norm
from paintgan.render_core import Tiling

NAME = "ganilla"
STAGES = 4
_BLOCK_KEY = re.compile(r"^layer(\d)\.(\d+)\.conv1\.weight$")


@dataclass(frozen=True)
class GanillaConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    layers: tuple[int, ...] = (2, 2, 2, 2)
    widths: tuple[int, ...] = (64, 128, 128, 256)
    fpn_size: int = 128
    fpn_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    dropout: bool = False

    def __post_init__(self) -> None:
        # JSON model cards hand these back as lists; a string (e.g. `--model-option widths=24,48`) is no sequence.
        for name in ("layers", "widths", "fpn_weights"):
            value = getattr(self, name)
            check(not isinstance(value, str), NAME, f"{name} must be a list of {STAGES} numbers such as "
                  f"[64, 128, 128, 256], got {value!r}")
            object.__setattr__(self, name, tuple(value))
        for name in ("layers", "widths", "fpn_weights"):
            check(len(getattr(self, name)) == STAGES, NAME, f"{name} needs {STAGES} values, got {getattr(self, name)}")
        check(min(self.layers) >= 1, NAME, f"every stage needs >= 1 block, got {self.layers}")
        check(min(self.input_nc, self.output_nc, self.ngf, *self.widths) >= 1, NAME, "channel counts must be >= 1")
        check(self.fpn_size >= 2 and self.fpn_size % 2 == 0, NAME, f"fpn_size must be even, got {self.fpn_size}")


def _in(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class GanillaBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, dropout: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, bias=False)
        self.bn1 = _in(planes)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, bias=False)
        self.bn2 = _in(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), _in(planes))
        self.final_conv = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(planes * 2, planes, 3, bias=False), _in(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(F.pad(x, (1, 1, 1, 1), mode="reflect"))))
        out = self.bn2(self.conv2(F.pad(self.dropout(out), (1, 1, 1, 1), mode="reflect")))
        return F.relu(self.final_conv(torch.cat([out, self.shortcut(x)], 1)))


class PyramidFeatures(nn.Module):
    def __init__(self, sizes: tuple[int, ...], feature_size: int, weights: tuple[float, ...]) -> None:
        super().__init__()
        self.weights = weights
        self.P5_1 = nn.Conv2d(sizes[3], feature_size, 1)
        self.P4_1 = nn.Conv2d(sizes[2], feature_size, 1)
        self.P3_1 = nn.Conv2d(sizes[1], feature_size, 1)
        self.P2_1 = nn.Conv2d(sizes[0], feature_size, 1)
        self.P2_2 = nn.Conv2d(feature_size, feature_size // 2, 3)

    def forward(self, c2: Tensor, c3: Tensor, c4: Tensor, c5: Tensor) -> Tensor:
        w = self.weights
        p = upsample2(self.P5_1(c5) * w[0])
        p = upsample2(self.P4_1(c4) * w[1] + p)
        p = upsample2(self.P3_1(c3) * w[2] + p)
        # Upstream scales the finest lateral by w[3] and then again by w[2].
        p = upsample2(self.P2_1(c2) * w[3] * w[2] + p)
        return self.P2_2(F.pad(p, (1, 1, 1, 1), mode="reflect"))



class GanillaGenerator(nn.Module):
    def __init__(self, config: GanillaConfig) -> None:
        super().__init__()
        c = config
        self.stem_pad, self.head_pad = c.input_nc, c.output_nc
        self.conv1 = nn.Conv2d(c.input_nc, c.ngf, 7)
        self.in1 = _in(c.ngf)
        in_planes = c.ngf
        stages = []
        for i, (blocks, planes) in enumerate(zip(c.layers, c.widths, strict=True)):
            stage = []
            for j in range(blocks):
                stage.append(GanillaBlock(in_planes, planes, 2 if i > 0 and j == 0 else 1, c.dropout))
                in_planes = planes
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fpn = PyramidFeatures(c.widths, c.fpn_size, c.fpn_weights)
        self.conv2 = nn.Conv2d(c.fpn_size // 2, c.output_nc, 7)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (self.stem_pad,) * 4, mode="reflect")
        x = F.relu(self.in1(self.conv1(x)))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=2)
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        out = self.fpn(c2, c3, c4, c5)
        return torch.tanh(self.conv2(F.pad(out, (self.head_pad,) * 4, mode="reflect")))


def size_multiple(config: GanillaConfig) -> int:
    return 16


def detect(sd: dict[str, Tensor]) -> GanillaConfig | None:
    stem, head, lateral = shape(sd, "conv1.weight"), shape(sd, "conv2.weight"), shape(sd, "fpn.P5_1.weight")
    if stem is None or head is None or lateral is None or len(stem) != 4 or len(head) != 4:
        return None
    counts = [0] * STAGES
    for key in sd:
        if (m := _BLOCK_KEY.match(key)) and 1 <= int(m.group(1)) <= STAGES:
            counts[int(m.group(1)) - 1] += 1
    if min(counts) == 0:
        return None
    widths = tuple(sd[f"layer{i + 1}.0.conv1.weight"].shape[0] for i in range(STAGES))
    try:
        config = GanillaConfig(stem[1], head[0], stem[0], tuple(counts), widths, lateral[0])
    except CheckpointError:
        return None
    return config if matches(GanillaGenerator, config, sd) else None


def tiling(config: GanillaConfig) -> Tiling:
    return instance_norm(NAME)  # every norm of GANILLA is instance norm


FAMILY = Family(NAME, GanillaConfig, GanillaGenerator, size_multiple, detect, conditional="image", tiling=tiling)
register(FAMILY)
