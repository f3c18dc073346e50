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
size multiple so its stride-2 layers sit on the full render's pixel grid. `Renderer.tiling` (what the model's
family states for its config, `paintgan.families.tiling`) says whether tiles can equal the full render and with
how much overlap, which is the default overlap of `render_region` and `render_tiled`: the light families and
batch-norm ResNets/U-Nets tile exactly once the overlap covers their receptive field; instance norm (each tile
normalised by its own statistics), SPADE's fixed latent grid and families that state nothing never do, and a
caller that wants no seams renders those whole (the app's worker does).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np
import torch
from torch import Tensor

from paintgan.devices import default_dtype, pick_device
from paintgan.errors import InputError, PaintGANError
from paintgan.fastpath import optimize
from paintgan.families import get_family
from paintgan.families.spade import semantic_tensor
from paintgan.families.tiling import of as family_tiling
from paintgan.models import Model, label_layout, latent_dim
from paintgan.render_core import (  # noqa: F401  Box, tiles, blend, the size limits: this module's API too
    BACKENDS,
    DEFAULT_SEED,
    MAX_SIDE,
    MIN_SIDE,
    Box,
    FrameRenderer,
    Tiling,
    array_to_uint8,
    blend,
    document_layer_for,
    one_hot,
    pixels_to_array,
    render_document_with,
    tiles,
)

if TYPE_CHECKING:
    from paintgan.documents import Document
    from paintgan.onnx_runtime import OnnxSession

log = logging.getLogger(__name__)

# Families where ONNX Runtime (CPU, fp32) beat torch's fast path at 256 px on the 2-core CPU of docs/PERFORMANCE.md
# ("ONNX Runtime backend"; with the graph rewrites of `onnx_rewrite`, 1.4-1.8x the plain reference at 1 and 2
# threads where torch's fast path gives 1.0-1.2x); `backend="auto"` picks ONNX Runtime only for these. SPADE ties (its fast path's one-hot look-up is as
# quick) and light_spade ties at 2 threads: both stay on torch, which needs no export when the model loads.
# staged (the bundled `sketch`): 17.8 / 15.3 ms against torch's 37.9 / 28.4 ms at 1 / 2 threads, 256 px; its hard
# label map can differ from torch's where two classes tie at a boundary (2 of 262144 pixels on a 512 px sketch).
ONNX_FASTER = frozenset({"pix2pix", "cyclegan", "ganilla", "light_unet", "staged"})


class RenderOptions(TypedDict, total=False):
    """Keyword options of `Renderer.render_tensor` (and so of `render`)."""

    style: np.ndarray | None
    z: Tensor | np.ndarray | None
    seed: int | None
    instance: np.ndarray | None


def to_uint8(y: Tensor) -> np.ndarray:
    """1x3xHxW (or 3xHxW) in [-1, 1] -> HxWx3 uint8 by round-half-to-even of (y + 1) * 127.5 in float64."""
    return array_to_uint8(y.detach().to("cpu", torch.float64).numpy())


def _pixels_to_tensor(pixels: np.ndarray) -> Tensor:
    """HxWxC uint8 -> 1xCxHxW float32 in [-1, 1], the exact ops of torchvision ToTensor + Normalize(0.5, 0.5)."""
    return torch.from_numpy(pixels_to_array(pixels))


def onnx_available() -> bool:
    """Whether this environment can export (onnx) and run (onnxruntime) ONNX graphs: the `onnx` extra."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def resolve_backend(backend: str, family: str, device: torch.device, dtype: torch.dtype) -> str:
    """"torch" or "onnx" for a requested backend: "auto" takes ONNX Runtime where it measured faster (CPU, fp32,
    a family in ONNX_FASTER, the `onnx` extra installed); asking for "onnx" where it cannot run is an error."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    usable = device.type == "cpu" and dtype == torch.float32
    if backend == "auto":
        return "onnx" if usable and family in ONNX_FASTER and onnx_available() else "torch"
    if backend == "onnx":
        if not usable:
            raise InputError(f"the onnx backend runs fp32 on the CPU only; got {device.type} {dtype}")
        if not onnx_available():
            raise InputError("the onnx backend needs the onnx and onnxruntime packages (pip install 'paintgan[onnx]')")
    return backend


def model_tiling(model: Model) -> Tiling:
    """Whether `model` tiles exactly, and with how much overlap (its family's statement for its config)."""
    return family_tiling(get_family(model.card.family), model.config)


class Renderer(FrameRenderer[Tensor, Tensor]):
    """Runs one model on one device. Not thread-safe: give each worker thread its own, or serialise calls.

    The model's modules are moved to the device (in place) once, here. `dtype` defaults to fp32 on the CPU and
    half precision on a GPU. `threads` sets torch's intra-op thread count, which is process-wide. `fast` runs
    the generator through `paintgan.fastpath` (exact rewrites: same picture within 1e-3, faster); `fast=False`
    runs the model's own modules as they are (the plain reference `paintgan bench` compares against).
    `backend="onnx"` exports the generator to ONNX (in memory, a few seconds for upstream-size models) and runs
    it through ONNX Runtime with `threads` intra-op threads; "auto" does so where that measured faster.
    """

    def __init__(
        self,
        model: Model,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        threads: int | None = None,
        fast: bool = True,
        backend: str = "torch",
    ) -> None:
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.model = model
        self.config = model.config
        self.device = pick_device(device)
        self.dtype = dtype if dtype is not None else default_dtype(self.device)
        card = model.card
        self._setup_frame(card, label_layout(self.config, card.label_set) if card.input_kind == "labels" else None,
                          latent_dim(self.config), model_tiling(model))
        self.backend = resolve_backend(backend, card.family, self.device, self.dtype)
        generator = model.generator.to(self.device, self.dtype).eval()
        self.session: OnnxSession | None = None
        if self.backend == "onnx":
            try:
                self.session = self._onnx_session(threads)
            except (PaintGANError, RuntimeError) as exc:
                if backend != "auto":
                    raise
                # "auto" is a speed choice: a model that does not export still renders, through torch.
                log.warning("model %s renders through torch: its ONNX export failed (%s)", card.name, exc)
                self.backend = "torch"
        rewritten = optimize(generator, card.family) if fast and self.session is None else None
        self.generator = generator if rewritten is None else rewritten.module
        self.fast_steps: tuple[str, ...] = (
            ("onnxruntime",) if self.session is not None else () if rewritten is None else rewritten.steps
        )
        self.encoder = None if model.encoder is None else model.encoder.to(self.device, self.dtype).eval()

    def _onnx_session(self, threads: int | None) -> OnnxSession:
        from paintgan.onnx_export import export_session

        session = export_session(self.model, threads=torch.get_num_threads() if threads is None else threads)
        if not session.info(self.card.name).dynamic:
            raise InputError(f"model {self.card.name!r} exports to ONNX for one size only (SPADE's VAE); "
                             "render it with the torch backend")
        return session

    # render_tensor's keywords are RenderOptions; `render` keeps the typed signature for callers
    def render(self, source: np.ndarray, **options: Unpack[RenderOptions]) -> np.ndarray:
        """The picture for `source` as HxWx3 uint8, the same size as `source` (options: see `render_tensor`)."""
        return super().render(source, **options)

    # ------------------------------------------------------------------------------------ inside

    def _quantise(self, y: Tensor) -> np.ndarray:
        return to_uint8(y)

    def _latent_from_z(self, z: Any) -> Tensor:
        zt = (z if isinstance(z, Tensor) else torch.from_numpy(np.asarray(z))).to("cpu", torch.float32)
        self.check_z(zt.numel())
        return zt.reshape(1, self.z_dim)

    def _latent_from_seed(self, seed: int) -> Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(1, self.z_dim, generator=gen, dtype=torch.float32)

    def _forward(self, x: np.ndarray | None, labels: np.ndarray | None, edges: np.ndarray | None,
                 latent: Tensor | None) -> Tensor:
        if self.session is not None:
            assert self.layout is not None or x is not None
            net_in = x if x is not None else one_hot(labels, self.layout, edges)  # type: ignore[arg-type]
            z = None if latent is None else latent.numpy()
            return torch.from_numpy(self.session.run(net_in, z))
        try:
            return self._run_torch(x, labels, edges, latent)
        except (MemoryError, RuntimeError) as exc:
            # Out of memory is the one failure a user can fix (smaller size, tiles); anything else is a bug.
            if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "allocate" not in str(exc):
                raise
            h, w = (x.shape[2:] if x is not None else labels.shape)  # type: ignore[union-attr]
            raise InputError(
                f"not enough {self.device.type.upper()} memory to render {w}x{h} px with model {self.card.name!r}; "
                "render in tiles (--tile 512) or at a smaller size"
            ) from None

    def _run_torch(self, x: np.ndarray | None, labels: np.ndarray | None, edges: np.ndarray | None,
                   latent: Tensor | None) -> Tensor:
        if x is None:
            assert labels is not None and self.layout is not None
            # The one-hot is built where it is used: on a GPU that saves host memory and a transfer
            # (184 channels x 4096^2 px of float32 is 12 GB).
            ids = torch.from_numpy(labels.astype(np.int64))[None].to(self.device)
            edge_t = None if edges is None else torch.from_numpy(edges)[None].to(self.device)
            net_in = semantic_tensor(ids, self.layout.label_nc, self.layout.dontcare, edge_t)
        else:
            net_in = torch.from_numpy(x)
        net_in = net_in.to(self.device, self.dtype)
        with torch.inference_mode():
            if self.z_dim:
                assert latent is not None
                y = self.generator(net_in, latent.to(self.device, self.dtype))
            else:
                y = self.generator(net_in)
        return y.to("cpu", torch.float32)

    def _encode_style(self, style: np.ndarray) -> Tensor:
        if self.encoder is None:
            raise InputError(
                f"model {self.card.name!r} has no style encoder; give --encoder E.pth (upstream latest_net_E.pth)"
            )
        x = _pixels_to_tensor(style).to(self.device, self.dtype)
        with torch.inference_mode():
            mu, _logvar = self.encoder(x)
        return mu.to("cpu", torch.float32).reshape(1, -1)


def render(model: Model, source: np.ndarray, **options: Unpack[RenderOptions]) -> np.ndarray:
    """One-off convenience: build a CPU/auto `Renderer` and render once."""
    return Renderer(model).render(source, **options)


def document_layer(doc: Document, model: Model) -> np.ndarray:
    """The layer of a painting that `model` renders (see `render_core.document_layer_for`)."""
    layout = label_layout(model.config, model.card.label_set) if model.card.input_kind == "labels" else None
    return document_layer_for(doc, model.card, layout)


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
    restyler = None if restyle_model is None else Renderer(restyle_model, device=device)
    return render_document_with(doc, Renderer(render_model, device=device), restyler, seed=seed, style=style)
