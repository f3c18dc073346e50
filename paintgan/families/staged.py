"""`staged`: a sketch model in two stages, lines -> label map -> picture (PaintGAN's own design).

A line drawing says where things end, not what they are; a pix2pix-style network asked for colours straight from
lines averages the plausible pictures and paints haze. Here a `light_unet` segmenter (trained with a
cross-entropy loss, `paintgan train --target labels`) reads the lines as a label map (a closed outline in the
sky is a cloud, one on the ground a tree or a rock), and a label painter (any label-conditional family, e.g. the
bundled `landscape`) paints that map. The map between them is hard (one class a pixel), as the painter was
trained on painted maps, so each region gets the painter's own texture instead of a blend.

The state dict holds the two networks under `seg.` and `painter.`; the config holds both configs, so a card
on disk rebuilds the pair. `read_side` is the scale the segmenter learnt (its training crop): a sketch larger than
that is read reduced to it and the map scaled back, so a 512 px canvas is read as it was drawn, not as a close-up
(read at full size, the bundled segmenter took half a 512 px sky for sand); the painter paints at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.errors import CheckpointError
from paintgan.families import Family, all_families, get_family, register
from paintgan.families.layout import check
from paintgan.families.light_unet import FAMILY as SEGMENTER
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.tiling import chained
from paintgan.families.tiling import of as tiling_of
from paintgan.models import config_from_dict
from paintgan.render_core import Tiling, inexact

NAME = "staged"
SEG, PAINTER = "seg.", "painter."


def _config_of(cls: type, value: Any) -> Any:
    return value if isinstance(value, cls) else config_from_dict(cls, value)


@dataclass(frozen=True)
class StagedConfig:
    seg: Any  # LightUnetConfig: sketch (1 channel) -> one logit per class
    painter_family: str
    painter: Any  # the painter family's config
    read_side: int = 0  # 0: the segmenter reads the sketch as it is; else reduced to at most this side

    def __post_init__(self) -> None:
        # Cards on disk give plain dicts; rebuild the typed configs so both halves validate themselves.
        object.__setattr__(self, "seg", _config_of(LightUnetConfig, self.seg))
        family = get_family(self.painter_family)
        check(family.conditional == "labels" and family.name != NAME, NAME,
              f"the painter must be a label family, got {self.painter_family!r}")
        object.__setattr__(self, "painter", _config_of(family.config_cls, self.painter))
        channels = getattr(self.painter, "input_nc", None)
        check(channels is not None and self.seg.output_nc == channels, NAME,
              f"the segmenter gives {self.seg.output_nc} classes but the painter takes {channels} channels")
        check(self.read_side >= 0, NAME, f"read_side must be >= 0, got {self.read_side}")


class StagedGenerator(nn.Module):
    def __init__(self, config: StagedConfig) -> None:
        super().__init__()
        self.seg = SEGMENTER.build(config.seg)
        self.painter = get_family(config.painter_family).build(config.painter)
        self.read_side = config.read_side
        self.seg_multiple = int(SEGMENTER.size_multiple(config.seg))

    def read(self, sketch: Tensor) -> Tensor:
        """Class logits at the sketch's size, read at the segmenter's own scale (see the module notes)."""
        if self.read_side <= 0:
            return self.seg(sketch)
        h, w = sketch.shape[2], sketch.shape[3]
        m = self.seg_multiple
        # Thin pen lines would fall between the samples of a plain reduction; thickened by a pixel first they stay.
        thick = -F.max_pool2d(-sketch, 3, 1, 1)
        if torch.jit.is_tracing():
            # Arithmetic on the sizes as tensors: the ONNX tracer keeps it symbolic, so a graph exported with free
            # H and W applies the same rule at every size as the eager branch below.
            hf, wf = torch.as_tensor(h, dtype=torch.float32), torch.as_tensor(w, dtype=torch.float32)
            factor = torch.clamp(torch.ceil(torch.maximum(hf, wf) / self.read_side), min=1)
            small_h = (torch.clamp(torch.round(hf / factor / m), min=1) * m).long()
            small_w = (torch.clamp(torch.round(wf / factor / m), min=1) * m).long()
            lines = torch.where(factor > 1, thick, sketch)
        else:
            # Plain ints in eager mode (also on the meta device, where FLOPs are counted)
            steps = max(1, math.ceil(max(h, w) / self.read_side))
            if steps == 1:
                return self.seg(sketch)
            small_h, small_w = max(1, round(h / steps / m)) * m, max(1, round(w / steps / m)) * m
            lines = thick
        small = F.interpolate(lines, size=(small_h, small_w), mode="bilinear", align_corners=False)
        return F.interpolate(self.seg(small), size=(h, w), mode="bilinear", align_corners=False)

    def labels(self, sketch: Tensor) -> Tensor:
        """One-hot label map (B x classes x H x W) the segmenter reads from the lines."""
        logits = self.read(sketch)
        # max-equality instead of argmax + one_hot: the same map, and it exports to ONNX as three plain ops
        return (logits == logits.amax(1, keepdim=True)).to(logits.dtype)

    def forward(self, sketch: Tensor) -> Tensor:
        return self.painter(self.labels(sketch))


def size_multiple(config: StagedConfig) -> int:
    painter = get_family(config.painter_family)
    return math.lcm(int(SEGMENTER.size_multiple(config.seg)), int(painter.size_multiple(config.painter)))


def _part(sd: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def detect(sd: dict[str, Tensor]) -> StagedConfig | None:
    seg, painter = _part(sd, SEG), _part(sd, PAINTER)
    if not seg or not painter or len(seg) + len(painter) != len(sd):
        return None
    seg_config = SEGMENTER.detect(seg)
    if seg_config is None:
        return None
    for family in all_families():
        if family.conditional != "labels" or family.name == NAME:
            continue
        painter_config = family.detect(painter)
        if painter_config is not None:
            try:
                return StagedConfig(seg_config, family.name, painter_config)
            except CheckpointError:
                return None
    return None


def compose(segmenter: nn.Module, seg_config: LightUnetConfig, painter: nn.Module, painter_family: str,
            painter_config: Any, read_side: int = 0) -> tuple[StagedConfig, StagedGenerator]:
    """A staged generator holding the given weights (copied), e.g. a trained segmenter and a bundled painter."""
    config = StagedConfig(seg_config, painter_family, painter_config, read_side)
    net = StagedGenerator(config)
    net.seg.load_state_dict(segmenter.state_dict(), strict=True)
    net.painter.load_state_dict(painter.state_dict(), strict=True)
    return config, net.eval()


def tiling(config: StagedConfig) -> Tiling:
    """The painter reads the segmenter's map at full resolution: their reaches add. The map between them is an
    argmax, so a tile equals the full render only where both compute the same floats; they do, as the context
    is aligned to both networks' strides (checked by the tests). A model that reads at a reduced scale sets that
    scale from the size of what it is given, so a tile is read at another scale than the whole: never exact."""
    if config.read_side > 0:
        return inexact(f"{NAME}: reads the whole sketch at a scale set by its size (read_side {config.read_side})")
    return chained(NAME, tiling_of(SEGMENTER, config.seg), tiling_of(get_family(config.painter_family), config.painter))


FAMILY = Family(NAME, StagedConfig, StagedGenerator, size_multiple, detect, conditional="image", tiling=tiling)
register(FAMILY)
