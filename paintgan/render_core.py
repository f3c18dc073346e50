"""What rendering does around the network, in numpy only: checking and padding the input, tiles, building the
network input, choosing z, quantising the output. `paintgan.render.Renderer` (torch) and
`paintgan.onnx_runtime.OnnxRenderer` (ONNX Runtime, for the build without torch) are both a `FrameRenderer`
that adds only how the network runs, so the two draw the same picture from the same input.

The rules themselves (sizes, padding side, z from a seed, tiles) are documented in `paintgan.render`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from paintgan.cards import LabelLayout, ModelCard
from paintgan.errors import InputError
from paintgan.labels import Via, check_indices, remap

if TYPE_CHECKING:
    from paintgan.documents import Document

MIN_SIDE = 64
MAX_SIDE = 4096
DEFAULT_SEED = 0
# How a generator runs: torch, ONNX Runtime, or whichever measured faster for its family (`paintgan.render`).
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")
DONTCARE_VALUE = 255  # upstream "unlabelled" in ADE20K / COCO-Stuff label PNGs; SPADE's dontcare channel

Out = TypeVar("Out")  # the raw network output type: a torch Tensor or a numpy array
Latent = TypeVar("Latent")


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


@dataclass(frozen=True)
class Tiling:
    """Whether a model rendered tile by tile gives the picture of one full render, and with how much context.

    `exact`: each tile, rendered with `overlap` px of context on every side (aligned to the size multiple), equals
    that part of the full render (within float rounding, so 0 levels in uint8). Not exact: some layer sees the
    whole picture (instance norm statistics, a latent grid of fixed size) or the family states no receptive field,
    so tiles meet with seams and a big canvas must be rendered in one go. `reason` is one line for people.
    `columns`: some layer reads whole columns (light_spade's reflections mirror each column about its shore), so
    a tile's context is the full canvas height and `overlap` px left and right, and tiles are column strips.
    """

    exact: bool
    overlap: int
    reason: str
    columns: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "overlap": self.overlap, "reason": self.reason, "columns": self.columns}

    @classmethod
    def from_json(cls, data: Any) -> Tiling:
        """A tiling read back from a file; anything unreadable is the safe answer, not exact."""
        if not isinstance(data, dict) or not isinstance(data.get("exact"), bool):
            return NOT_STATED
        try:
            return cls(bool(data["exact"]), max(0, int(data.get("overlap", 0))), str(data.get("reason", "")),
                       data.get("columns") is True)
        except (TypeError, ValueError):
            return NOT_STATED


def inexact(reason: str) -> Tiling:
    return Tiling(False, 0, reason)


# The default for any model whose family says nothing: seams are possible, so it renders whole.
NOT_STATED = inexact("its family states no receptive field")
# Context a tile gets when the caller asks for tiles of a model that cannot tile exactly (bounded memory wins
# over seams there; the app never asks): enough for the small light families' receptive fields.
INEXACT_OVERLAP = 64


def tiles(width: int, height: int, tile: int, columns: bool = False) -> Iterator[Box]:
    """Boxes of at most tile x tile covering the canvas, row by row; with `columns` (a model whose tiles need
    whole columns, `Tiling.columns`), strips of at most `tile` px wide and the canvas's height."""
    if tile < MIN_SIDE:
        raise InputError(f"tile size {tile} is too small; expected at least {MIN_SIDE} px")
    if columns:
        for x0 in range(0, width, tile):
            yield Box(x0, 0, min(x0 + tile, width), height)
        return
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield Box(x0, y0, min(x0 + tile, width), min(y0 + tile, height))


def check_size(h: int, w: int, what: str) -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise InputError(f"{what} is {w}x{h} px; expected each side between {MIN_SIDE} and {MAX_SIDE} px")


def pad(arr: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the bottom and right of an HxW(xC) array up to the next multiple."""
    h, w = arr.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return arr
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, widths, mode="reflect")


def pixels_to_array(pixels: np.ndarray) -> np.ndarray:
    """HxWxC uint8 -> 1xCxHxW float32 in [-1, 1], the exact float32 ops of torchvision ToTensor + Normalize(0.5)."""
    x = np.array(pixels.transpose(2, 0, 1), dtype=np.float32, order="C")[None]  # a fresh copy
    return (x / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)


def array_to_uint8(arr: np.ndarray) -> np.ndarray:
    """1x3xHxW (or 3xHxW) in [-1, 1] -> HxWx3 uint8 by round-half-to-even of (y + 1) * 127.5 in float64."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 4:
        arr = arr[0]
    return np.clip(np.rint((arr + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def one_hot(labels: np.ndarray, layout: LabelLayout, edges: np.ndarray | None = None) -> np.ndarray:
    """A label model's input as 1xCxHxW float32: one-hot labels, the dontcare channel (which 255 and label_nc
    reach), then the instance-edge channel; the numpy twin of `families.spade.semantic_tensor`."""
    ids = labels.astype(np.int64)
    channels = layout.label_nc + layout.dontcare
    if layout.dontcare:
        ids = np.where(ids == DONTCARE_VALUE, layout.label_nc, ids)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= channels):
        bad = int(ids.max()) if int(ids.max()) >= channels else int(ids.min())
        allowed = f"0..{channels - 1}" + (f" or {DONTCARE_VALUE}" if layout.dontcare else "")
        raise InputError(f"label index {bad} is outside this model's label set; expected {allowed}")
    planes = [ids[None] == np.arange(channels)[:, None, None]]
    if layout.instance_edges:
        if edges is None:
            raise InputError("this model takes an instance-edge channel; no instance map or label map was given")
        planes.append(edges[None] != 0)
    return np.concatenate(planes, axis=0).astype(np.float32)[None]


def instance_edges(instance: np.ndarray) -> np.ndarray:
    """SPADE's instance boundary map: 1 where a pixel's id differs from a 4-neighbour (both pixels of each pair).

    `instance` is H x W of integer instance ids (raw values, not rescaled); returns uint8 H x W of 0/1.
    """
    if instance.ndim != 2:
        raise InputError(f"instance map has shape {instance.shape}; expected a single-channel H x W map")
    edge = np.zeros(instance.shape, dtype=bool)
    horizontal = instance[:, 1:] != instance[:, :-1]
    vertical = instance[1:, :] != instance[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge.astype(np.uint8)


# ----------------------------------------------------------------------------------------- seeded z


def _mt19937_words(seed: int, count: int) -> np.ndarray:
    """The first `count` 32-bit outputs of MT19937 seeded as torch's CPU generator seeds it (init_genrand, which
    is also numpy's legacy seeding), as uint64."""
    bits = np.random.RandomState(seed & 0xFFFFFFFF)._bit_generator  # noqa: SLF001 - the raw words are the point
    return np.asarray(bits.random_raw(count), dtype=np.uint64)


def _uniform24(words: np.ndarray) -> np.ndarray:
    return (words & ((1 << 24) - 1)).astype(np.float32) * np.float32(2.0**-24)


def _box_muller16(u: np.ndarray) -> np.ndarray:
    """torch's `normal_fill_16`: 16 uniforms -> 16 normals (cos half, then sin half)."""
    radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - u[:8]))
    theta = np.float32(2.0 * np.pi) * u[8:]
    return np.concatenate([radius * np.cos(theta), radius * np.sin(theta)]).astype(np.float32)


def torch_randn(seed: int, n: int) -> np.ndarray:
    """`torch.randn(n, generator=torch.Generator().manual_seed(seed))` in numpy (within 1 ulp of float32), so the
    build without torch draws the same z for a seed as the torch build and upstream."""
    if n >= 16:  # torch's vectorised path: n uniforms, Box-Muller 16 at a time, the tail redrawn as a last 16
        words = _mt19937_words(seed, n + (16 if n % 16 else 0))
        u = _uniform24(words[:n])
        out = np.empty(n, np.float32)
        for i in range(0, n - 15, 16):
            out[i : i + 16] = _box_muller16(u[i : i + 16])
        if n % 16:
            out[n - 16 :] = _box_muller16(_uniform24(words[n:]))
        return out
    # Below 16 values torch draws each from a double normal: two 53-bit uniforms (two words each), one cached.
    words = _mt19937_words(seed, 4 * n).tolist()
    values: list[float] = []
    while len(values) < n:
        u1, u2 = (((words.pop(0) << 32) | words.pop(0)) & ((1 << 53) - 1) for _ in range(2))
        radius = np.sqrt(-2.0 * np.log1p(-u2 * 2.0**-53))
        theta = 2.0 * np.pi * u1 * 2.0**-53
        values += [radius * np.cos(theta), radius * np.sin(theta)]
    return np.asarray(values[:n], np.float32)


# ----------------------------------------------------------------------------------------- documents


def document_layer_for(doc: Document, card: ModelCard, layout: LabelLayout | None) -> np.ndarray:
    """The layer of a painting that a model renders, in the model's own index space for label models.

    A painting made with another label set reaches an upstream ADE20K / COCO-Stuff model through each label's
    ADE20K / COCO-Stuff reference, and any other model through equal class names; classes without a match go
    to the dontcare channel where the model has one, else they are an error that names them.
    """
    kind = card.input_kind
    if kind == "sketch":
        return doc.sketch
    if kind != "labels":
        raise InputError(
            f"model {card.name!r} restyles pictures; a painting needs a label or sketch model to render it"
        )
    target = card.label_set
    assert target is not None and layout is not None
    if target == doc.label_set:
        return doc.labels
    via: Via = "ade20k" if target.name == "ade20k" else "coco" if target.name == "coco" else "name"
    return remap(doc.labels, doc.label_set, target, via=via, fill=DONTCARE_VALUE if layout.dontcare else None)


def blend(base: np.ndarray, styled: np.ndarray, strength: float) -> np.ndarray:
    """A restyled picture mixed with the unstyled one: strength 0 = unstyled, 1 = fully restyled."""
    if strength <= 0.0:
        return base
    if strength >= 1.0:
        return styled
    mixed = base.astype(np.float32) * (1.0 - strength) + styled.astype(np.float32) * strength
    return np.rint(mixed).astype(np.uint8)


def render_document_with(
    doc: Document,
    renderer: FrameRenderer[Any, Any],
    restyler: FrameRenderer[Any, Any] | None = None,
    *,
    seed: int | None = None,
    style: np.ndarray | None = None,
) -> np.ndarray:
    """A saved painting as the app shows it: its layer through `renderer`, then `restyler`'s picture blended in."""
    layer = document_layer_for(doc, renderer.card, renderer.layout)
    picture = renderer.render(layer, seed=doc.seed if seed is None else seed, style=style)
    if restyler is None:
        return picture
    return blend(picture, restyler.render(picture), float(doc.restyle_strength))


# ----------------------------------------------------------------------------------------- the frame


class FrameRenderer(Generic[Out, Latent]):
    """Everything of a render but the network: subclasses give `_forward` (network input -> output), `_quantise`,
    and the latent conversions. Not thread-safe: give each worker thread its own, or serialise calls."""

    card: ModelCard
    multiple: int
    z_dim: int
    layout: LabelLayout | None
    tiling: Tiling  # whether tiles equal the full render, and the overlap they need (callers decide on it)

    def _setup_frame(self, card: ModelCard, layout: LabelLayout | None, z_dim: int, tiling: Tiling) -> None:
        self.card = card
        self.multiple = int(card.size_multiple)
        self.z_dim = int(z_dim)
        self.layout = layout if card.input_kind == "labels" else None
        self.tiling = tiling

    # ------------------------------------------------------------------------------- what subclasses give

    def _forward(self, x: np.ndarray | None, labels: np.ndarray | None, edges: np.ndarray | None,
                 latent: Latent | None) -> Out:
        """Run the network on a padded input: `x` (pixels, 1xCxHxW float32) for image and sketch models, else the
        padded `labels` index map and its instance edges (each backend builds the one-hot where it is used)."""
        raise NotImplementedError

    def _quantise(self, y: Out) -> np.ndarray:
        raise NotImplementedError

    def _crop_output(self, y: Out, y0: int, y1: int, x0: int, x1: int) -> Out:
        return y[..., y0:y1, x0:x1]  # type: ignore[index]

    def _latent_from_z(self, z: Any) -> Latent:
        raise NotImplementedError

    def _latent_from_seed(self, seed: int) -> Latent:
        raise NotImplementedError

    def _encode_style(self, style: np.ndarray) -> Latent:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ public

    def render(self, source: np.ndarray, **options: Any) -> np.ndarray:
        """The picture for `source` as HxWx3 uint8, the same size as `source` (options: see `render_tensor`)."""
        return self._quantise(self.render_tensor(source, **options))

    def render_tensor(
        self,
        source: np.ndarray,
        *,
        style: np.ndarray | None = None,
        z: Any = None,
        seed: int | None = None,
        instance: np.ndarray | None = None,
    ) -> Out:
        """The raw generator output, 1x3xHxW float32 on the CPU, in [-1, 1]."""
        source, ids = self._prepare(source, instance, check_labels=True)
        latent = self.latent(style=style, z=z, seed=seed)
        h, w = source.shape[:2]
        crop, edges = self._crop(source, ids, Box(0, 0, w, h), check_labels=False)
        return self._crop_output(self._run(crop, edges, latent), 0, h, 0, w)

    def latent(self, *, style: np.ndarray | None = None, z: Any = None, seed: int | None = None) -> Latent | None:
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
        if style is not None:
            arr = np.asarray(style)
            if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
                raise InputError(f"style image must be HxWx3 uint8 RGB; got shape {arr.shape}, {arr.dtype}")
            check_size(arr.shape[0], arr.shape[1], "style image")
            return self._encode_style(arr)
        if z is not None:
            return self._latent_from_z(z)
        return self._latent_from_seed(DEFAULT_SEED if seed is None else int(seed))

    def check_z(self, values: int) -> None:
        if values != self.z_dim:
            raise InputError(f"z has {values} values; model {self.card.name!r} expects {self.z_dim}")

    def render_region(
        self,
        source: np.ndarray,
        box: Box,
        *,
        overlap: int | None = None,
        latent: Latent | None = None,
        instance: np.ndarray | None = None,
    ) -> np.ndarray:
        """Render only `box` of a big canvas: the box plus `overlap` px of context, aligned to the size multiple.

        Convolutions near the box edge then see real neighbours rather than padding. With the default overlap
        (`tiling.overlap` where `tiling.exact`), the region is exactly that part of the full render; for a model
        that cannot tile exactly it is INEXACT_OVERLAP px and regions meet with seams. Pass the canvas-wide `latent`
        (from `latent()`) so every tile uses the same z. Only the context is checked and converted, so a small
        region of a 4096 px canvas costs a small render. Returns box.height x box.width x 3 uint8.
        """
        source, ids = self._prepare(source, instance, check_labels=False)
        return self._render_box(source, ids, box, self.overlap(overlap), self.latent() if latent is None else latent)

    def render_tiled(
        self,
        source: np.ndarray,
        *,
        tile: int = 512,
        overlap: int | None = None,
        style: np.ndarray | None = None,
        z: Any = None,
        seed: int | None = None,
        instance: np.ndarray | None = None,
    ) -> np.ndarray:
        """The whole picture, rendered tile by tile (bounded memory for big canvases); with the default overlap,
        the full render's picture for a model whose `tiling` is exact (see `render_region`)."""
        source, ids = self._prepare(source, instance, check_labels=False)
        latent = self.latent(style=style, z=z, seed=seed)
        h, w = source.shape[:2]
        out = np.empty((h, w, 3), np.uint8)
        context = self.overlap(overlap)
        for box in tiles(w, h, tile, self.tiling.columns):
            out[box.y0 : box.y1, box.x0 : box.x1] = self._render_box(source, ids, box, context, latent)
        return out

    def overlap(self, overlap: int | None = None) -> int:
        """The context (px) a tile gets: `overlap` if given, else what this model's tiling needs."""
        if overlap is not None:
            return overlap
        return self.tiling.overlap if self.tiling.exact else INEXACT_OVERLAP

    # ------------------------------------------------------------------------------------ inside

    def _render_box(
        self, source: np.ndarray, ids: np.ndarray | None, box: Box, overlap: int, latent: Latent | None
    ) -> np.ndarray:
        h, w = source.shape[:2]
        if not (0 <= box.x0 < box.x1 <= w and 0 <= box.y0 < box.y1 <= h):
            raise InputError(f"region {box} lies outside the {w}x{h} canvas")
        if overlap < 0:
            raise InputError(f"overlap must be >= 0 px; got {overlap}")
        ctx = self.context_box(box, w, h, overlap)
        crop, edges = self._crop(source, ids, ctx, check_labels=True)
        y = self._run(crop, edges, latent)
        oy, ox = box.y0 - ctx.y0, box.x0 - ctx.x0
        return self._quantise(self._crop_output(y, oy, oy + box.height, ox, ox + box.width))

    def context_box(self, box: Box, w: int, h: int, overlap: int | None = None) -> Box:
        """What `render_region` renders for `box` of a w x h canvas: the box and its context (see `overlap`; the
        full height for a model that tiles in columns), aligned to the size multiple; its area is what the region
        costs."""
        m = self.multiple
        overlap = self.overlap(overlap)

        def span(lo: int, hi: int, size: int) -> tuple[int, int]:
            # Aligning the context to the size multiple keeps every stride-2 layer on the same pixel grid as a
            # full render, which is what makes the tile interiors match it.
            a = max(0, (lo - overlap) // m * m)
            b = min(size, -(-(hi + overlap) // m) * m)
            while b - a < MIN_SIDE:  # only near the edge of small canvases
                a, b = max(0, a - m), min(size, b + m)
            return a, b

        x0, x1 = span(box.x0, box.x1, w)
        y0, y1 = (0, h) if self.tiling.columns else span(box.y0, box.y1, h)
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
        check_size(arr.shape[0], arr.shape[1], "input")
        if kind == "labels" and check_labels:
            self._check_labels(arr)
        return arr

    def _check_labels(self, labels: np.ndarray) -> None:
        label_set = self.card.label_set
        assert label_set is not None and self.layout is not None  # a labels card always has both
        # Upstream SPADE sends 255 ("unlabelled" in ADE20K / COCO-Stuff PNGs) and label_nc to the dontcare channel.
        extra = (self.layout.label_nc, DONTCARE_VALUE) if self.layout.dontcare else ()
        check_indices(labels, label_set, extra)

    def _pixels(self, source: np.ndarray) -> np.ndarray:
        """An image or sketch model's input pixels as 1xCxHxW float32 in [-1, 1]."""
        if self.card.input_kind == "sketch":
            paper = 255 - source  # the model sees black lines on white paper
            return pixels_to_array(np.repeat(paper[..., None], self.card.input_nc, axis=2))
        return pixels_to_array(source)

    def _run(self, source: np.ndarray, edges: np.ndarray | None, latent: Latent | None) -> Out:
        padded = pad(source, self.multiple)
        padded_edges = None if edges is None else pad(edges, self.multiple)
        if self.card.input_kind == "labels":
            return self._forward(None, padded, padded_edges, latent)
        return self._forward(self._pixels(padded), None, None, latent)
