"""How far a generator's output pixel sees: the receptive field, computed from a family's layers and config.

A family states its tiling (`Family.tiling(config) -> render_core.Tiling`) by walking its forward pass with a
`Reach`. Computed, not measured: it costs nothing when a model loads, needs no torch at render time (the exporter
stores it in the ONNX file), and is an upper bound by construction; an impulse-response probe measures one set of
weights on one input, and a ReLU that happens to be off there hides part of the field, so it can under-count and
let a seam through. The tests check each family's figure against real tiled renders.

A feature pixel at `scale` s (s input px per feature px) covers input px [i s, (i + 1) s); `px` is how far beyond
that span its value may depend on the input. A tile then equals the full render once its context reaches `px`
beyond it, provided the context is aligned to the size multiple (render_core does that), which puts every
stride and upsampling on the full render's grid. Anything normalised over the whole picture (instance norm) or
shaped by a fixed-size latent grid never tiles exactly, whatever the overlap. A layer that reads whole columns
(light_spade's reflections) still tiles exactly, in column strips of the full height (`Tiling.columns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from paintgan.render_core import NOT_STATED, Tiling, inexact


@dataclass(frozen=True)
class Reach:
    px: float = 0.0
    scale: float = 1.0

    def conv(self, kernel: int, stride: int = 1, padding: int | None = None) -> Reach:
        """A conv (or a pad + conv pair) reads input features j*stride - padding ... + kernel - 1."""
        p = (kernel - 1) // 2 if padding is None else padding
        extra = max(p, kernel - p - stride, 0) * self.scale
        return Reach(self.px + extra, self.scale * stride)

    def conv_transpose(self, kernel: int, stride: int, padding: int) -> Reach:
        fine = self.scale / stride
        return Reach(self.px + max(kernel - 1 - padding, padding + stride - 1) * fine, fine)

    def up(self, factor: int = 2) -> Reach:
        """Nearest upsampling or pixel shuffle: a fine pixel takes its coarse pixel's value, whose span is wider."""
        fine = self.scale / factor
        return Reach(self.px + self.scale - fine, fine)

    def pool(self, factor: int = 2) -> Reach:
        """Average pooling: the coarse span is the union of the fine spans it reads."""
        return Reach(self.px, self.scale * factor)

    def join(self, *others: Reach) -> Reach:
        """An elementwise add, product or concatenation of features at one scale."""
        for other in others:
            if other.scale != self.scale:
                raise ValueError(f"joining features at scales {self.scale} and {other.scale}")
        return Reach(max([self.px, *(o.px for o in others)]), self.scale)


def exact(reach: Reach, family: str, columns: str = "") -> Tiling:
    """Exact with the reach's overlap; `columns` (why, for people) where some layer reads whole columns."""
    if reach.scale != 1:
        raise ValueError(f"{family}: the output ends at scale {reach.scale}, not the input's")
    px = math.ceil(reach.px)
    if columns:
        return Tiling(True, px, f"{family}: receptive field {px} px across, full height ({columns})", columns=True)
    return Tiling(True, px, f"{family}: receptive field {px} px, no global statistics")


def instance_norm(family: str) -> Tiling:
    return inexact(f"{family}: instance norm normalises each tile by its own statistics")


def chained(family: str, first: Tiling, second: Tiling) -> Tiling:
    """One network fed by another at full resolution: exact only if both are, their reaches added."""
    for part in (first, second):
        if not part.exact:
            return inexact(f"{family}: {part.reason}")
    px = first.overlap + second.overlap
    columns = first.columns or second.columns
    return Tiling(True, px, f"{family}: receptive field {px} px ({first.overlap} + {second.overlap})"
                  + (" across, full height" if columns else ", no global statistics"), columns=columns)


def of(family: Any, config: Any) -> Tiling:
    """A family's tiling for a config; NOT_STATED (not exact) where the family says nothing."""
    stated = getattr(family, "tiling", None)
    return NOT_STATED if stated is None else stated(config)
