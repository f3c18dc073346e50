"""`light_spade`: a label-to-picture generator for live painting on a laptop CPU (PaintGAN's own design).

Same idea as SPADE (the label map modulates normalised features at every resolution, so uniform regions keep
their meaning), reshaped for CPU cost:
* the decoder starts at H/2^n_down from a 3x3 conv on the label map average-pooled there (average, not nearest:
  thin rivers and paths survive as fractions instead of vanishing);
* every conv in the blocks is depthwise-separable (3x3 depthwise + 1x1), about 1/8 of SPADE's full 3x3 convs;
* each resolution computes ONE label embedding (3x3 conv to `hidden` channels, ReLU) shared by its blocks; a
  modulation is then a single 1x1 conv (SPADE: three 3x3 convs through 128 channels, per layer);
* widths halve with a 1x1 conv at the coarse level before each x2 nearest upsampling, so no block runs wide
  at a fine level, and no block runs at full resolution at all: `blocks.ToOutput` maps H/2 features to RGB
  with a pixel-shuffled 3x3 conv and adds a per-label colour straight from the full-resolution one-hot, so
  region borders stay pixel-sharp;
* optional global noise `z` (z_dim > 0): a Linear maps it to a scale and shift of the bottleneck features, for
  seed-driven variation of the whole picture; `forward(seg, z=None)` draws it as SPADE does;
* optional reflections (`reflect`: the label indices of water-like classes): a mirror surface shows what
  stands above its shoreline, at any distance up the column, far beyond what convs of this size can see. So
  the network reads, beside the label map, its mirror image: for each pixel of a reflecting class, the one-hot
  of the pixel mirrored about its column's shoreline (the last row above it of another class), as the training
  scenes compose it (`paintgan.datagen.compose`). Every layer that reads the label map reads both;
* optional edge padding (`padding="replicate"`): with zero padding every 3x3 conv can tell where the picture
  ends, and a wide flat region (a blank sky, a meadow) shows the border as nested frames; replicating the edge
  leaves nothing to see there, so a region is drawn alike wherever it lies. The reach is the same, so tiles stay
  exact with the same overlap;
* NHWC memory layout inside (oneDNN's depthwise convs are 10-30x faster in it on a CPU).
The norm is parameter-free BatchNorm by default (a fixed affine map in eval, so free at render time).

Cost of one 256x256 frame, 11 labels (`OMP_WAIT_POLICY=PASSIVE python -m paintgan.families.timing --only light
--repeats 100`; this project's shared 2-core AMD EPYC under a run queue of ~12, so wall times are upper bounds):
    default (ngf 32, n_down 3, n_blocks 2, hidden 32): 0.17 M params, 0.44 GMAC, 18-31 ms CPU on one thread,
    28-65 ms wall at 2 threads (best of 100; the spread is the other processes' load)
    n_blocks 4: 0.27 M, 0.55 GMAC, 33-35 ms CPU; ngf 48: 0.31 M, 0.74 GMAC, 28-36 ms CPU
SPADE at ngf 64 (coco) is 97 M params and 191 GMAC a frame: about 430x the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.errors import CheckpointError
from paintgan.families import Family, register
from paintgan.families.blocks import LIGHT_NORMS, LabelModulation, SeparableConv, ToOutput, channels_last, upsample2
from paintgan.families.layout import check, count_children, matches, shape
from paintgan.families.tiling import Reach, exact, instance_norm
from paintgan.render_core import Tiling

NAME = "light_spade"
PADDINGS = ("zeros", "replicate")  # see "optional edge padding" above


@dataclass(frozen=True)
class LightSpadeConfig:
    input_nc: int = 11  # one-hot channels the painter sends (labels, + dontcare / edge channels if any)
    ngf: int = 32
    n_down: int = 3
    n_blocks: int = 2
    hidden: int = 32
    z_dim: int = 0
    norm: str = "batch"
    reflect: tuple[int, ...] = field(default=())  # label indices of classes that mirror what stands above them
    padding: str = "zeros"  # what a 3x3 conv reads beyond the picture's edge: zeros, or the edge "replicate"d

    def __post_init__(self) -> None:
        object.__setattr__(self, "reflect", tuple(int(i) for i in self.reflect))  # cards on disk give lists
        check(min(self.input_nc, self.ngf, self.hidden) >= 1, NAME, "input_nc, ngf and hidden must be >= 1")
        check(all(0 <= i < self.input_nc for i in self.reflect) and len(set(self.reflect)) == len(self.reflect),
              NAME, f"reflect must list distinct label indices below input_nc {self.input_nc}, got {self.reflect}")
        check(self.n_down >= 1 and self.n_blocks >= 0 and self.z_dim >= 0, NAME, "n_down >= 1, n_blocks, z_dim >= 0")
        check(self.norm in LIGHT_NORMS, NAME, f"norm must be one of {LIGHT_NORMS}, got {self.norm!r}")
        check(self.padding in PADDINGS, NAME, f"padding must be one of {PADDINGS}, got {self.padding!r}")

    @property
    def widths(self) -> list[int]:
        """Channel width at each resolution, coarsest first."""
        return [self.ngf * 2**i for i in reversed(range(self.n_down))]

    @property
    def cond_nc(self) -> int:
        """Channels every label-reading layer takes: the one-hot map, and its mirror image when reflecting."""
        return self.input_nc * (2 if self.reflect else 1)

    @property
    def latent_dim(self) -> int:
        """Length of the z a forward pass takes (0: deterministic, no z)."""
        return self.z_dim


class LightSpadeBlock(nn.Module):
    """Residual: (modulate -> LeakyReLU -> separable conv) twice, at a fixed width."""

    def __init__(self, channels: int, hidden: int, norm: str, padding: str = "zeros") -> None:
        super().__init__()
        self.mod_0 = LabelModulation(channels, hidden, norm)
        self.conv_0 = SeparableConv(channels, channels, padding_mode=padding)
        self.mod_1 = LabelModulation(channels, hidden, norm)
        self.conv_1 = SeparableConv(channels, channels, padding_mode=padding)

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        dx = self.conv_0(F.leaky_relu(self.mod_0(x, embedding), 0.2))
        return x + self.conv_1(F.leaky_relu(self.mod_1(dx, embedding), 0.2))


class LightSpadeGenerator(nn.Module):
    def __init__(self, config: LightSpadeConfig) -> None:
        super().__init__()
        c, w = config, config.widths
        self.config = c
        pad = c.padding
        self.head = nn.Conv2d(c.cond_nc, w[0], 3, padding=1, padding_mode=pad)
        self.embeds = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c.cond_nc, c.hidden, 3, padding=1, padding_mode=pad), nn.ReLU())
            for _ in range(c.n_down)
        )
        self.middle = nn.ModuleList(LightSpadeBlock(w[0], c.hidden, c.norm, pad) for _ in range(c.n_blocks))
        # Widths halve with a 1x1 conv BEFORE each x2 upsampling, so no block runs wide at the finer level.
        self.reduce = nn.ModuleList(nn.Conv2d(a, b, 1, bias=False) for a, b in zip(w, w[1:], strict=False))
        self.ups = nn.ModuleList(LightSpadeBlock(b, c.hidden, c.norm, pad) for b in w[1:])
        self.out = ToOutput(w[-1], c.cond_nc, 3, pad)
        if c.z_dim:
            self.z_fc = nn.Linear(c.z_dim, 2 * w[0])
        if c.reflect:
            # Stored with the weights, so a checkpoint without a card still says which classes reflect.
            self.register_buffer("reflect_classes", torch.tensor(c.reflect, dtype=torch.int64))

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        c = self.config
        if c.reflect:
            seg = torch.cat([seg, mirror_image(seg, c.reflect)], 1)
        seg = channels_last(seg)
        levels = [F.avg_pool2d(seg, 2)]
        while len(levels) < c.n_down:  # each level pooled from the finer one: the big map is read once
            levels.insert(0, F.avg_pool2d(levels[0], 2))
        x = self.head(levels[0])
        if c.z_dim:
            if z is None:
                z = torch.randn(seg.shape[0], c.z_dim, dtype=seg.dtype, device=seg.device)
            scale, shift = self.z_fc(z)[:, :, None, None].chunk(2, dim=1)
            x = torch.addcmul(shift, x, 1 + scale)
        embedding = self.embeds[0](levels[0])
        for block in self.middle:
            x = block(x, embedding)
        for i, (reduce, block) in enumerate(zip(self.reduce, self.ups, strict=True), start=1):
            x = block(upsample2(reduce(x)), self.embeds[i](levels[i]))
        return self.out(x, seg).contiguous()


# Doubling steps of the running maximum in a traced graph, where the height is not known: enough for 32768 rows.
TRACED_SHIFTS = 15


def _running_max_down(x: Tensor) -> Tensor:
    """max(x[..., :y + 1, :]) at every row y, by doubling shifts: ONNX has no cumulative max, and this is written
    with slices only, so a graph exported with a free height keeps it for every height."""
    h = x.shape[2]
    steps = TRACED_SHIFTS if torch.jit.is_tracing() else max(1, (int(h) - 1).bit_length())
    for i in range(steps):
        k = 2**i
        shifted = torch.cat([torch.full_like(x[:, :, :k], -1.0), x[:, :, :-k]], 2)
        x = torch.maximum(x, shifted)
    return x


def mirror_image(seg: Tensor, classes: tuple[int, ...]) -> Tensor:
    """For each pixel of a class in `classes`: the one-hot `seg` of the pixel mirrored about its column's
    shoreline (the last row above it of another class); zero elsewhere, and where the mirror falls off the top."""
    water = seg[:, list(classes)].sum(1, keepdim=True) > 0.5
    rows = torch.ones_like(seg[:, :1]).cumsum(2) - 1  # row numbers from a tensor, so they stay symbolic in ONNX
    shore = _running_max_down(torch.where(water, torch.full_like(rows, -1.0), rows))
    source = 2 * shore + 1 - rows
    seen = water & (shore >= 0) & (source >= 0)
    index = torch.where(seen, source, rows).long().expand_as(seg)
    return torch.gather(seg, 2, index) * seen.to(seg.dtype)


def size_multiple(config: LightSpadeConfig) -> int:
    return 2**config.n_down


def detect(sd: dict[str, Tensor]) -> LightSpadeConfig | None:
    head, embed = shape(sd, "head.weight"), shape(sd, "embeds.0.0.weight")
    if head is None or embed is None or "out.to_rgb.weight" not in sd:
        return None
    n_down, n_blocks = count_children(sd, "embeds"), count_children(sd, "middle")
    z = shape(sd, "z_fc.weight")
    ngf, rest = divmod(head[0], 2 ** (n_down - 1))
    if rest:
        return None
    norm = "batch" if any(k.endswith("param_free_norm.running_mean") for k in sd) else "instance"
    reflect = tuple(int(i) for i in sd["reflect_classes"].tolist()) if "reflect_classes" in sd else ()
    input_nc, rest = divmod(head[1], 2 if reflect else 1)
    if rest:
        return None
    try:
        config = LightSpadeConfig(input_nc, ngf, n_down, n_blocks, embed[0], z[1] if z else 0, norm, reflect)
    except CheckpointError:
        return None
    return config if matches(LightSpadeGenerator, config, sd) else None


def _block(x: Reach, embedding: Reach) -> Reach:
    dx = x.join(embedding).conv(3)
    return x.join(dx.join(embedding).conv(3))


def tiling(config: LightSpadeConfig) -> Tiling:
    """Batch norm in eval is a fixed affine map, so the reach is the convs' (z is one vector for the picture)."""
    if config.norm != "batch":
        return instance_norm(NAME)
    coarse = 2**config.n_down
    x = Reach(0, coarse).conv(3)  # the head, on the label map pooled to the coarsest level
    for _ in range(config.n_blocks):
        x = _block(x, Reach(0, coarse).conv(3))
    for i in range(1, config.n_down):
        x = _block(x.up(), Reach(0, coarse // 2**i).conv(3))
    # ToOutput: 3x3 at H/2, shuffled, + the one-hot at H. The mirror input reads along columns only, so the
    # reach across is the convs' and a tile needs the full height.
    return exact(x.conv(3).up().join(Reach()), NAME, "reflections mirror whole columns" if config.reflect else "")


FAMILY = Family(NAME, LightSpadeConfig, LightSpadeGenerator, size_multiple, detect, conditional="labels",
                tiling=tiling)
register(FAMILY)
