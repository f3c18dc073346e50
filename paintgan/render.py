"""Inputs in, picture out: the one rendering call used by the app, the CLI, eval and bench.

`Renderer` moves a `Model` to its device once, then turns a label map, a sketch or an RGB image into a picture:
validate, reflect-pad to the family's size multiple, build the network input (one-hot semantic tensor with
dontcare / instance-edge channels for label models, [-1, 1] pixels for image models), pick SPADE's style
vector, run under `torch.inference_mode`, crop back, and quantise as `round((y + 1) * 127.5)`.

Sizes: each side must be 64..4096 px (InputError otherwise). Smaller inputs are refused rather than padded up:
a generator trained on 256 px crops would mostly draw its own padding around a 20 px strip, which is a worse
answer than a clear message. Padding is on the bottom and right, so pixel (x, y) of the output always belongs
to pixel (x, y) of the input.

The global latent z (SPADE with a VAE; light families with `z_dim`): `style` (an RGB picture) gives z = the
encoder's mean for it (what upstream `--style` test code does); else `z` as given; else `seed` gives
`z = randn(1, z_dim)` from a CPU generator seeded with it (the same on every device). With none of them seed 0 is
used, so the same input always gives the same picture (upstream draws a fresh z every time).

Tiles: `render_region` renders one box of a big canvas with `overlap` px of context around it, aligned to the
size multiple so its stride-2 layers sit on the full render's pixel grid. For the light families (receptive
field under 64 px) tiles with 64 px of overlap equal the full render exactly; networks with global context
(instance norm statistics, SPADE's coarse latent grid, deep U-Nets) differ near tile borders (see tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np
import torch
from torch import Tensor

from paintgan.devices import default_dtype, pick_device
from paintgan.errors import InputError
from paintgan.fastpath import optimize
from paintgan.families.spade import DONTCARE_VALUE, instance_edges, semantic_tensor
from paintgan.labels import Via, check_indices, remap
from paintgan.models import Model, label_layout, latent_dim

if TYPE_CHECKING:
    from paintgan.documents import Document

MIN_SIDE = 64
MAX_SIDE = 4096
DEFAULT_SEED = 0


class RenderOptions(TypedDict, total=False):
    """Keyword options of `Renderer.render_tensor` (and so of `render`)."""

    style: np.ndarray | None
    z: Tensor | np.ndarray | None
    seed: int | None
    instance: np.ndarray | None


@dataclass(frozen=True)
class Box:
    """A pixel rectangle, half-open: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def to_uint8(y: Tensor) -> np.ndarray:
    """1x3xHxW (or 3xHxW) in [-1, 1] -> HxWx3 uint8 by round-half-to-even of (y + 1) * 127.5 in float64."""
    arr = y.detach().to("cpu", torch.float64).numpy()
    if arr.ndim == 4:
        arr = arr[0]
    return np.clip(np.rint((arr + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _check_size(h: int, w: int, what: str) -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise InputError(f"{what} is {w}x{h} px; expected each side between {MIN_SIDE} and {MAX_SIDE} px")


def _pad(arr: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the bottom and right of an HxW(xC) array up to the next multiple."""
    h, w = arr.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return arr
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, widths, mode="reflect")


def _pixels_to_tensor(pixels: np.ndarray) -> Tensor:
    """HxWxC uint8 -> 1xCxHxW float32 in [-1, 1], the exact ops of torchvision ToTensor + Normalize(0.5, 0.5)."""
    x = torch.from_numpy(np.array(pixels.transpose(2, 0, 1), dtype=np.float32, order="C")).unsqueeze(0)  # a fresh copy
    return (x / 255.0 - 0.5) / 0.5


class Renderer:
    """Runs one model on one device. Not thread-safe: give each worker thread its own, or serialise calls.

    The model's modules are moved to the device (in place) once, here. `dtype` defaults to fp32 on the CPU and
    half precision on a GPU. `threads` sets torch's intra-op thread count, which is process-wide. `fast` runs
    the generator through `paintgan.fastpath` (exact rewrites: same picture within 1e-3, faster); `fast=False`
    runs the model's own modules as they are (the plain reference `paintgan bench` compares against).
    """

    def __init__(
        self,
        model: Model,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        threads: int | None = None,
        fast: bool = True,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.model = model
        self.card = model.card
        self.config = model.config
        self.device = pick_device(device)
        self.dtype = dtype if dtype is not None else default_dtype(self.device)
        generator = model.generator.to(self.device, self.dtype).eval()
        rewritten = optimize(generator, model.card.family) if fast else None
        self.generator = generator if rewritten is None else rewritten.module
        self.fast_steps: tuple[str, ...] = () if rewritten is None else rewritten.steps
        self.encoder = None if model.encoder is None else model.encoder.to(self.device, self.dtype).eval()
        self.multiple = int(model.card.size_multiple)
        self.z_dim = latent_dim(self.config)
        self.layout = label_layout(self.config, self.card.label_set) if self.card.input_kind == "labels" else None

    # ------------------------------------------------------------------------------------ public

    def render(self, source: np.ndarray, **options: Unpack[RenderOptions]) -> np.ndarray:
        """The picture for `source` as HxWx3 uint8, the same size as `source` (options: see `render_tensor`)."""
        return to_uint8(self.render_tensor(source, **options))

    def render_tensor(
        self,
        source: np.ndarray,
        *,
        style: np.ndarray | None = None,
        z: Tensor | np.ndarray | None = None,
        seed: int | None = None,
        instance: np.ndarray | None = None,
    ) -> Tensor:
        """The raw generator output, 1x3xHxW float32 on the CPU, in [-1, 1]."""
        source, ids = self._prepare(source, instance, check_labels=True)
        latent = self.latent(style=style, z=z, seed=seed)
        h, w = source.shape[:2]
        crop, edges = self._crop(source, ids, Box(0, 0, w, h), check_labels=False)
        return self._run(crop, edges, latent)[..., :h, :w]

    def latent(
        self,
        *,
        style: np.ndarray | None = None,
        z: Tensor | np.ndarray | None = None,
        seed: int | None = None,
    ) -> Tensor | None:
        """The latent z (1 x z_dim, float32, CPU) for these options; None for models that take none."""
        given = [name for name, v in (("style", style), ("z", z)) if v is not None]
        if not self.z_dim:
            if given:
                raise InputError(
                    f"model {self.card.name!r} takes no style ({given[0]} given); only models with a latent z do"
                )
            return None
        if len(given) > 1:
            raise InputError("give either a style image or z, not both")
        z_dim = self.z_dim
        if style is not None:
            return self._encode_style(style)
        if z is not None:
            zt = (z if isinstance(z, Tensor) else torch.from_numpy(np.asarray(z))).to("cpu", torch.float32)
            if zt.numel() != z_dim:
                raise InputError(f"z has {zt.numel()} values; model {self.card.name!r} expects {z_dim}")
            return zt.reshape(1, z_dim)
        gen = torch.Generator().manual_seed(DEFAULT_SEED if seed is None else int(seed))
        return torch.randn(1, z_dim, generator=gen, dtype=torch.float32)

    def render_region(
        self,
        source: np.ndarray,
        box: Box,
        *,
        overlap: int = 32,
        latent: Tensor | None = None,
        instance: np.ndarray | None = None,
    ) -> np.ndarray:
        """Render only `box` of a big canvas: the box plus `overlap` px of context, aligned to the size multiple.

        Convolutions near the box edge then see real neighbours rather than padding, so tiles placed side by side
        meet with small seams. Pass the canvas-wide `latent` (from `latent()`) so every tile uses the same z.
        Only the context is checked and converted, so a small region of a 4096 px canvas costs a small render.
        Returns box.height x box.width x 3 uint8.
        """
        source, ids = self._prepare(source, instance, check_labels=False)
        return self._render_box(source, ids, box, overlap, self.latent() if latent is None else latent)

    def render_tiled(
        self,
        source: np.ndarray,
        *,
        tile: int = 512,
        overlap: int = 32,
        style: np.ndarray | None = None,
        z: Tensor | np.ndarray | None = None,
        seed: int | None = None,
        instance: np.ndarray | None = None,
    ) -> np.ndarray:
        """The whole picture, rendered tile by tile (bounded memory for big canvases)."""
        source, ids = self._prepare(source, instance, check_labels=False)
        latent = self.latent(style=style, z=z, seed=seed)
        h, w = source.shape[:2]
        out = np.empty((h, w, 3), np.uint8)
        for box in tiles(w, h, tile):
            out[box.y0 : box.y1, box.x0 : box.x1] = self._render_box(source, ids, box, overlap, latent)
        return out

    # ------------------------------------------------------------------------------------ inside

    def _render_box(
        self, source: np.ndarray, ids: np.ndarray | None, box: Box, overlap: int, latent: Tensor | None
    ) -> np.ndarray:
        h, w = source.shape[:2]
        if not (0 <= box.x0 < box.x1 <= w and 0 <= box.y0 < box.y1 <= h):
            raise InputError(f"region {box} lies outside the {w}x{h} canvas")
        if overlap < 0:
            raise InputError(f"overlap must be >= 0 px; got {overlap}")
        ctx = self._context_box(box, overlap, w, h)
        crop, edges = self._crop(source, ids, ctx, check_labels=True)
        y = self._run(crop, edges, latent)
        oy, ox = box.y0 - ctx.y0, box.x0 - ctx.x0
        return to_uint8(y[..., oy : oy + box.height, ox : ox + box.width])

    def _context_box(self, box: Box, overlap: int, w: int, h: int) -> Box:
        m = self.multiple

        def span(lo: int, hi: int, size: int) -> tuple[int, int]:
            # Aligning the context to the size multiple keeps every stride-2 layer on the same pixel grid as a
            # full render, which is what makes the tile interiors match it.
            a = max(0, (lo - overlap) // m * m)
            b = min(size, -(-(hi + overlap) // m) * m)
            while b - a < MIN_SIDE:  # only near the edge of small canvases
                a, b = max(0, a - m), min(size, b + m)
            return a, b

        x0, x1 = span(box.x0, box.x1, w)
        y0, y1 = span(box.y0, box.y1, h)
        return Box(x0, y0, x1, y1)

    def _prepare(
        self, source: np.ndarray, instance: np.ndarray | None, *, check_labels: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The validated input, and for models with an instance-edge channel the id map its edges come from."""
        source = self._validate(source, check_labels=check_labels)
        wants_edges = self.layout is not None and self.layout.instance_edges
        if instance is None:
            # A painted label map has no instance layer: each painted region counts as one instance.
            return source, source if wants_edges else None
        if not wants_edges:
            raise InputError(f"model {self.card.name!r} takes no instance map (it has no instance-edge input)")
        arr = np.asarray(instance)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise InputError(
                f"instance map must be a single-channel integer image; got shape {arr.shape}, {arr.dtype}"
            )
        if arr.shape != source.shape:
            (h, w), (sh, sw) = arr.shape, source.shape
            raise InputError(f"instance map is {w}x{h} px; expected the label map's {sw}x{sh}")
        return source, arr

    def _crop(
        self, source: np.ndarray, ids: np.ndarray | None, ctx: Box, *, check_labels: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """`ctx` of the input, and of the instance-edge map (None for models without that channel)."""
        crop = source[ctx.y0 : ctx.y1, ctx.x0 : ctx.x1]
        if check_labels and self.card.input_kind == "labels":
            self._check_labels(crop)
        if ids is None:
            return crop, None
        # One pixel of margin: whether a border pixel is an edge depends on its neighbour outside the crop.
        h, w = ids.shape
        y0, x0 = max(0, ctx.y0 - 1), max(0, ctx.x0 - 1)
        around = instance_edges(ids[y0 : min(h, ctx.y1 + 1), x0 : min(w, ctx.x1 + 1)])
        return crop, around[ctx.y0 - y0 : ctx.y1 - y0, ctx.x0 - x0 : ctx.x1 - x0]

    def _validate(self, source: np.ndarray, *, check_labels: bool = True) -> np.ndarray:
        arr = np.asarray(source)
        kind = self.card.input_kind
        if kind == "image":
            nc = self.card.input_nc
            if arr.ndim == 2 and nc == 1:
                arr = arr[..., None]
            if arr.ndim != 3 or arr.shape[2] != nc:
                got = "x".join(map(str, arr.shape))
                raise InputError(f"model {self.card.name!r} takes an HxWx{nc} image; got an array of shape {got}")
            if arr.dtype != np.uint8:
                raise InputError(f"image must be uint8 (0..255); got {arr.dtype}")
        else:
            what = "label map" if kind == "labels" else "sketch"
            if arr.ndim != 2:
                got = "x".join(map(str, arr.shape))
                raise InputError(f"model {self.card.name!r} takes a single-channel {what} (HxW); got shape {got}")
            if kind == "sketch" and arr.dtype != np.uint8:
                raise InputError(f"sketch ink must be uint8 (0 = no ink, 255 = full ink); got {arr.dtype}")
        _check_size(arr.shape[0], arr.shape[1], "input")
        if kind == "labels" and check_labels:
            self._check_labels(arr)
        return arr

    def _check_labels(self, labels: np.ndarray) -> None:
        label_set = self.card.label_set
        assert label_set is not None  # a labels card always has one (ModelCard checks)
        # Upstream SPADE sends 255 ("unlabelled" in ADE20K / COCO-Stuff PNGs) and label_nc to the dontcare channel.
        assert self.layout is not None
        extra = (self.layout.label_nc, DONTCARE_VALUE) if self.layout.dontcare else ()
        check_indices(labels, label_set, extra)

    def _network_input(self, source: np.ndarray, edges: np.ndarray | None) -> Tensor:
        kind = self.card.input_kind
        if kind == "labels":
            assert self.layout is not None
            # The one-hot is built where it is used: on a GPU that saves host memory and a transfer
            # (184 channels x 4096^2 px of float32 is 12 GB).
            labels = torch.from_numpy(source.astype(np.int64))[None].to(self.device)
            edge_t = None if edges is None else torch.from_numpy(edges)[None].to(self.device)
            return semantic_tensor(labels, self.layout.label_nc, self.layout.dontcare, edge_t)
        if kind == "sketch":
            paper = 255 - source  # the model sees black lines on white paper
            pixels = np.repeat(paper[..., None], self.card.input_nc, axis=2)
        else:
            pixels = source
        return _pixels_to_tensor(pixels)

    def _run(self, source: np.ndarray, edges: np.ndarray | None, latent: Tensor | None) -> Tensor:
        padded = _pad(source, self.multiple)
        padded_edges = None if edges is None else _pad(edges, self.multiple)
        try:
            x = self._network_input(padded, padded_edges).to(self.device, self.dtype)
            with torch.inference_mode():
                if self.z_dim:
                    assert latent is not None
                    y = self.generator(x, latent.to(self.device, self.dtype))
                else:
                    y = self.generator(x)
            return y.to("cpu", torch.float32)
        except (MemoryError, RuntimeError) as exc:
            # Out of memory is the one failure a user can fix (smaller size, tiles); anything else is a bug.
            if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "allocate" not in str(exc):
                raise
            h, w = source.shape[:2]
            raise InputError(
                f"not enough {self.device.type.upper()} memory to render {w}x{h} px with model {self.card.name!r}; "
                "render in tiles (--tile 512) or at a smaller size"
            ) from None

    def _encode_style(self, style: np.ndarray) -> Tensor:
        if self.encoder is None:
            raise InputError(
                f"model {self.card.name!r} has no style encoder; give --encoder E.pth (upstream latest_net_E.pth)"
            )
        arr = np.asarray(style)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise InputError(f"style image must be HxWx3 uint8 RGB; got shape {arr.shape}, {arr.dtype}")
        _check_size(arr.shape[0], arr.shape[1], "style image")
        x = _pixels_to_tensor(arr).to(self.device, self.dtype)
        with torch.inference_mode():
            mu, _logvar = self.encoder(x)
        return mu.to("cpu", torch.float32).reshape(1, -1)


def tiles(width: int, height: int, tile: int) -> Iterator[Box]:
    """Boxes of at most tile x tile covering the canvas, row by row."""
    if tile < MIN_SIDE:
        raise InputError(f"tile size {tile} is too small; expected at least {MIN_SIDE} px")
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield Box(x0, y0, min(x0 + tile, width), min(y0 + tile, height))


def render(model: Model, source: np.ndarray, **options: Unpack[RenderOptions]) -> np.ndarray:
    """One-off convenience: build a CPU/auto `Renderer` and render once."""
    return Renderer(model).render(source, **options)


def blend(base: np.ndarray, styled: np.ndarray, strength: float) -> np.ndarray:
    """A restyled picture mixed with the unstyled one: strength 0 = unstyled, 1 = fully restyled."""
    if strength <= 0.0:
        return base
    if strength >= 1.0:
        return styled
    mixed = base.astype(np.float32) * (1.0 - strength) + styled.astype(np.float32) * strength
    return np.rint(mixed).astype(np.uint8)


def document_layer(doc: Document, model: Model) -> np.ndarray:
    """The layer of a painting that `model` renders, in the model's own index space for label models.

    A painting made with another label set reaches an upstream ADE20K / COCO-Stuff model through each label's
    ADE20K / COCO-Stuff reference, and any other model through equal class names; classes without a match go
    to the dontcare channel where the model has one, else they are an error that names them.
    """
    kind = model.card.input_kind
    if kind == "sketch":
        return doc.sketch
    if kind != "labels":
        raise InputError(
            f"model {model.card.name!r} restyles pictures; a painting needs a label or sketch model to render it"
        )
    target = model.card.label_set
    assert target is not None
    if target == doc.label_set:
        return doc.labels
    via: Via = "ade20k" if target.name == "ade20k" else "coco" if target.name == "coco" else "name"
    layout = label_layout(model.config, target)
    return remap(doc.labels, doc.label_set, target, via=via, fill=DONTCARE_VALUE if layout.dontcare else None)


def render_document(
    doc: Document,
    render_model: Model,
    restyle_model: Model | None = None,
    *,
    device: str = "auto",
    seed: int | None = None,
    style: np.ndarray | None = None,
) -> np.ndarray:
    """A saved painting as the app shows it: its layer through the render model, then the restyle blended in."""
    picture = Renderer(render_model, device=device).render(
        document_layer(doc, render_model), seed=doc.seed if seed is None else seed, style=style
    )
    if restyle_model is None:
        return picture
    styled = Renderer(restyle_model, device=device).render(picture)
    return blend(picture, styled, float(doc.restyle_strength))
