"""The one place that talks to the engine from a thread, and the only place that knows the latest-wins rule.

The UI thread never waits on a model. It hands the worker a `RenderRequest` (a private copy of the source and the
document revision it came from); a request that arrives while a render runs REPLACES the pending one, so the
queue never holds more than one picture's worth of work. Every result carries its revision and a serial number;
the UI drops results older than what it already shows.

Pipeline per request: draft model at the preview resolution -> restyle (if a restyle model is chosen). When no
new request has come for `idle_ms` after a draft, the refine model renders the same revision at full size (the
draft model does, when no refine model is chosen and the draft was made smaller than the canvas). Exceptions raised by a model become a one-line message (`failed`); the thread keeps serving.

Big canvases: the refine pass goes tile by tile, re-rendering only tiles near pixels that changed, when the engine
says the model tiles exactly (`renderer.tiling`: each tile with its overlap equals the full render); a model that
cannot (instance norm, or a family that states nothing) is always rendered whole, so no seam is ever shown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from paintgan.errors import PaintGANError

log = logging.getLogger(__name__)
DRAFT, REFINE, RESTYLE = "draft", "refine", "restyle"
ROLES = (DRAFT, REFINE, RESTYLE)
PHOTO_MAX_SIDE = 1024
TILE = 512  # final renders of canvases larger than this may go tile by tile (models that tile exactly)
# Up to this many pixels, when the tiles to redo would cost more pixels (with their overlaps) than the canvas, one
# full render makes the same picture for less; above it tiles bound the memory (a 4096 px canvas's features run to
# gigabytes).
WHOLE_MAX_PIXELS = 2048 * 2048


class RendererLike(Protocol):
    def render(self, source: np.ndarray, *, style: np.ndarray | None = None, seed: int | None = None) -> np.ndarray:
        ...


# A model to use for a role: a registry name / file path or a zero-argument callable that builds one (both run in
# the worker thread, so torch is imported there and not on the UI thread), a ready `Model`, or None.
ModelSpec = Any
RendererFactory = Callable[[Any, str, int | None], RendererLike]


@dataclass(frozen=True)
class RenderRequest:
    revision: int
    source: np.ndarray  # label indices, sketch ink or an RGB photo: a copy the UI no longer touches
    photo: bool = False  # True: `source` is a photo to restyle (no render model involved)
    seed: int | None = None
    style: np.ndarray | None = None  # style reference picture for models with an encoder
    label_set: Any = None  # the set `source` indices belong to (label maps only)


@dataclass(frozen=True)
class RenderResult:
    serial: int
    revision: int
    stage: str  # DRAFT, REFINE or "photo"
    model_name: str
    base: np.ndarray  # the model's picture (or the photo), HxWx3 uint8
    styled: np.ndarray | None  # `base` restyled, same size
    restyle_name: str
    ms: float  # wall time of this result's model calls
    placeholder: bool = False


@dataclass
class _Slot:
    renderer: RendererLike | None = None
    name: str = ""
    placeholder: bool = False
    label_set: Any = None  # the model's label set; label maps in another set are translated for it


@dataclass
class _ModelJob:
    specs: dict[str, ModelSpec]
    device: str
    threads: int | None
    ready: dict[str, RendererLike] = field(default_factory=dict)


@dataclass(frozen=True)
class _Picture:
    """The last rendered picture, kept so a new style can be applied without rendering again."""

    req: RenderRequest
    stage: str
    model_name: str
    base: np.ndarray
    placeholder: bool


@dataclass
class _TileCache:
    """The last tiled full-size picture, so the next one re-renders only tiles whose input changed."""

    key: tuple
    source: np.ndarray
    picture: np.ndarray


def _same_picture(a: RenderRequest, b: RenderRequest) -> bool:
    return (a.revision == b.revision and a.photo == b.photo and a.seed == b.seed and a.style is b.style
            and a.label_set == b.label_set and a.source.shape == b.source.shape
            and (not a.photo or a.source is b.source))


def one_line(exc: BaseException) -> str:
    """A user-facing line for an exception: engine errors already are one; anything else gets its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PaintGANError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _default_factory(model: Any, device: str, threads: int | None) -> RendererLike:
    from paintgan.onnx_runtime import OnnxModel, OnnxRenderer

    if isinstance(model, OnnxModel):
        return OnnxRenderer(model, device=device, threads=threads)
    from paintgan.render import Renderer

    # ONNX Runtime where it measured faster (and the onnx extra is installed): restyles and sketches, mostly.
    return Renderer(model, device=device, threads=threads, backend="auto")


def _load(spec: ModelSpec) -> Any:
    if isinstance(spec, str):
        from paintgan.devices import torch_available
        from paintgan.onnx_runtime import load_onnx_model

        if not torch_available():  # the lite build: the same names, as ONNX files
            return load_onnx_model(spec)
        from paintgan.models import load_model

        return load_model(spec)
    if callable(spec):
        return spec()
    return spec


def _exact_overlap(renderer: Any) -> int | None:
    """The overlap with which the engine says this renderer's tiles equal its full render; None where they do
    not (or it says nothing), and the canvas must be rendered whole."""
    tiling = getattr(renderer, "tiling", None)
    if tiling is None or not tiling.exact or not hasattr(renderer, "render_region"):
        return None
    return int(tiling.overlap)


def _fit(source: np.ndarray, max_side: int, nearest: bool) -> np.ndarray:
    """Shrink so the longest side is at most `max_side` (labels by nearest: indices must not mix)."""
    h, w = source.shape[:2]
    if max(h, w) <= max_side:
        return source
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    if source.dtype not in (np.uint8, np.uint16, np.float32):
        source = source.astype(np.uint16)
    return cv2.resize(source, size, interpolation=interpolation)


def _translate(source: np.ndarray, have: Any, want: Any) -> np.ndarray:
    """A label map painted in one label set, for a model trained on another (an upstream ADE20K or COCO-Stuff
    SPADE as the refine model, say): classes correspond through the engine's tables."""
    if have is None or want is None or have == want or source.ndim != 2:
        return source
    from paintgan.labels import remap

    via = want.name if want.name in ("ade20k", "coco") else "name"
    return remap(source, have, want, via=via)


class _Thread(QThread):
    def __init__(self, worker: RenderWorker) -> None:
        super().__init__()
        self.setObjectName("PaintGAN render worker")
        self._worker = worker

    def run(self) -> None:
        self._worker._loop()


class RenderWorker(QObject):
    resultReady = Signal(object)  # RenderResult
    failed = Signal(str)  # one line; the worker keeps running
    modelsChanged = Signal(object)  # {role: (name, placeholder, device)} after a model job
    modelFailed = Signal(str, str)  # role, one line (the previous model for that role stays)
    busyChanged = Signal(bool)
    thumbnailReady = Signal(str, object)  # restyle model name, RGB picture

    def __init__(self, renderer_factory: RendererFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.renderer_factory = renderer_factory or _default_factory
        self.preview_side = 512
        self.idle_ms = 700
        self.label_input = True  # whether the draft model takes indices (nearest resampling) or ink / RGB
        self.stats: Counter[str] = Counter()  # model calls started, by stage: tests and status read it
        self._cond = threading.Condition()
        self._slots = {role: _Slot() for role in ROLES}
        self._pending: RenderRequest | None = None
        self._model_job: _ModelJob | None = None
        self._restyle_again = False
        self._refine: tuple[float, RenderRequest] | None = None
        self._thumbs: list[tuple[str, ModelSpec, np.ndarray]] = []
        self._last: _Picture | None = None
        self._latest: RenderRequest | None = None  # rendered again when the models change
        self._tiles: _TileCache | None = None
        self._serial = 0
        self._stop = False
        self._thread = _Thread(self)

    # --- UI thread API ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._thread.isRunning():
            self._stop = False
            self._thread.start()

    def stop(self, timeout_ms: int = 15000) -> bool:
        """Ask the thread to finish after the current model call; True when it has stopped."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify_all()
        if not self._thread.isRunning():
            return True
        return bool(self._thread.wait(timeout_ms))

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def request(self, request: RenderRequest, force: bool = False) -> None:
        """Latest wins: replaces any request not yet started, and cancels a refine that has not begun.

        A request for exactly what was last asked (same revision, seed, style and kind) is dropped unless forced:
        several parts of the UI may ask for the same picture in one turn.
        """
        with self._cond:
            if not force and self._latest is not None and _same_picture(request, self._latest):
                return
            self._pending = self._latest = request
            self._refine = None
            self._cond.notify_all()

    def set_models(self, specs: dict[str, ModelSpec], device: str = "auto", threads: int | None = None) -> None:
        """Load models for the roles given (others keep theirs); a role mapped to None is cleared."""
        with self._cond:
            if self._model_job is not None:  # merge, newest spec per role wins
                merged = dict(self._model_job.specs)
                merged.update(specs)
                specs = merged
            self._model_job = _ModelJob(dict(specs), device, threads)
            self._cond.notify_all()

    def use_renderers(self, **renderers: tuple[str, RendererLike | None, bool]) -> None:
        """Install ready renderers: role=(name, renderer, placeholder). For tests and benchmarks."""
        with self._cond:
            for role, (name, renderer, placeholder) in renderers.items():
                self._slots[role] = _Slot(renderer, name if renderer else "", placeholder)
            self._cond.notify_all()

    def request_thumbnails(self, items: list[tuple[str, ModelSpec]], sample: np.ndarray) -> None:
        """Restyle `sample` with each model when nothing else is waiting (for the restyle panel)."""
        with self._cond:
            self._thumbs = [(name, spec, sample) for name, spec in items]
            self._cond.notify_all()

    # --- worker thread ---------------------------------------------------------------------------------------
    def _next_job(self) -> tuple[str, Any] | None:
        """Wait for the most important job; None means stop. Called with the lock held."""
        while not self._stop:
            if self._model_job is not None:
                job, self._model_job = self._model_job, None
                return "models", job
            if self._pending is not None:
                req, self._pending = self._pending, None
                return "render", req
            if self._restyle_again:
                self._restyle_again = False
                if self._last is not None:
                    return "restyle", self._last
                continue
            timeout = None
            if self._refine is not None:
                due, req = self._refine
                remaining = due - time.monotonic()
                if remaining <= 0:
                    self._refine = None
                    return "refine", req
                timeout = remaining
            elif self._thumbs:
                return "thumb", self._thumbs.pop(0)
            self._cond.wait(timeout)
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
            if job is None:
                return
            kind, payload = job
            self.busyChanged.emit(True)
            try:
                if kind == "models":
                    self._load_models(payload)
                elif kind == "render":
                    self._render(payload, DRAFT)
                elif kind == "refine":
                    self._render(payload, REFINE)
                elif kind == "restyle":
                    self._restyle_and_emit(payload, time.perf_counter())
                else:
                    self._thumbnail(*payload)
            except Exception as exc:  # noqa: BLE001 - a model failing must never take the app down
                self.failed.emit(one_line(exc))
            finally:
                self.busyChanged.emit(False)

    def _load_models(self, job: _ModelJob) -> None:
        for role, spec in job.specs.items():
            if spec is None:
                self._slots[role] = _Slot()
                continue
            try:
                model = _load(spec)
                renderer = self.renderer_factory(model, job.device, job.threads)
            except Exception as exc:  # noqa: BLE001 - reported, the previous model stays
                self.modelFailed.emit(role, one_line(exc))
                continue
            card = getattr(model, "card", None)
            self._slots[role] = _Slot(renderer, getattr(card, "name", str(spec)),
                                      bool(getattr(card, "placeholder", False)), getattr(card, "label_set", None))
        self._tiles = None  # keyed by the renderer's id, which a new model may reuse
        info = {}
        for role, slot in self._slots.items():
            device = getattr(slot.renderer, "device", "")
            info[role] = (slot.name, slot.placeholder, str(device))
        self.modelsChanged.emit(info)
        with self._cond:
            if set(job.specs) == {RESTYLE} and self._last is not None:
                self._restyle_again = True  # only the style changed: the picture itself is still good
            elif self._pending is None and self._latest is not None:
                self._pending = self._latest

    def _render(self, req: RenderRequest, stage: str) -> None:
        start = time.perf_counter()
        shrunk = False
        if req.photo:
            base = _fit(req.source, max(self.preview_side, PHOTO_MAX_SIDE), nearest=False)
            model_name, placeholder, stage = "photo", False, "photo"
        else:
            slot = self._slots[stage]
            if stage == REFINE and slot.renderer is None:
                slot = self._slots[DRAFT]  # no heavier model: the final pass is the draft model at full size
            if slot.renderer is None:
                return
            source = _translate(req.source, req.label_set, slot.label_set)
            if stage == DRAFT:
                source = _fit(source, self.preview_side, nearest=self.label_input)
                shrunk = source.shape != req.source.shape
            self.stats[stage] += 1
            overlap = _exact_overlap(slot.renderer)
            if stage == REFINE and max(source.shape[:2]) > TILE and overlap is not None:
                base = self._render_tiles(slot, source, req, overlap)
            else:
                if stage == REFINE:
                    self._tiles = None  # a picture from tiles is only reused by the model that tiles exactly
                base = slot.renderer.render(source, style=req.style, seed=req.seed)
            model_name, placeholder = slot.name, slot.placeholder
        self._last = _Picture(req, stage, model_name, base, placeholder)
        self._restyle_and_emit(self._last, start)
        if stage == DRAFT and (shrunk or self._slots[REFINE].renderer is not None):
            with self._cond:
                if self._pending is None:
                    self._refine = (time.monotonic() + self.idle_ms / 1000.0, req)

    def _render_tiles(self, slot: _Slot, source: np.ndarray, req: RenderRequest, overlap: int) -> np.ndarray:
        """A big canvas at full size, for a model whose tiles equal its full render with `overlap` px of context:
        only tiles within `overlap` of pixels that changed since the last picture are rendered again (a change
        further away cannot reach them), or the whole canvas where that costs fewer pixels."""
        from paintgan.render_core import tiles

        renderer: Any = slot.renderer
        h, w = source.shape[:2]
        key = (id(renderer), req.seed, id(req.style), source.shape, source.dtype)
        cache = self._tiles
        changed = source != cache.source if cache is not None and cache.key == key else np.ones((h, w), bool)
        if changed.ndim == 3:
            changed = changed.any(axis=2)
        c = overlap
        redo = [box for box in tiles(w, h, TILE, renderer.tiling.columns)
                if changed[max(box.y0 - c, 0) : box.y1 + c, max(box.x0 - c, 0) : box.x1 + c].any()]
        cost = sum(ctx.width * ctx.height for ctx in (renderer.context_box(b, w, h) for b in redo))
        if cost >= h * w and h * w <= WHOLE_MAX_PIXELS:
            picture = renderer.render(source, style=req.style, seed=req.seed)
        else:
            picture = cache.picture.copy() if cache is not None and cache.key == key else np.empty((h, w, 3), np.uint8)
            latent = renderer.latent(style=req.style, seed=req.seed) if redo else None
            for box in redo:
                self.stats["tiles"] += 1
                picture[box.y0 : box.y1, box.x0 : box.x1] = renderer.render_region(source, box, latent=latent)
        self._tiles = _TileCache(key, source.copy(), picture)
        return picture

    def _restyle_and_emit(self, picture: _Picture, start: float) -> None:
        """Restyle (if a style is chosen) and hand the result over. A failing style still shows the unstyled
        picture, and its message comes after it, so the picture does not clear the message."""
        slot = self._slots[RESTYLE]
        styled, error = None, ""
        if slot.renderer is not None:
            self.stats[RESTYLE] += 1
            try:
                styled = slot.renderer.render(picture.base)
            except Exception as exc:  # noqa: BLE001 - reported below; the picture is shown without the style
                error = f"restyle {slot.name}: {one_line(exc)}"
        self._serial += 1
        ms = (time.perf_counter() - start) * 1000.0
        self.resultReady.emit(RenderResult(self._serial, picture.req.revision, picture.stage, picture.model_name,
                                           picture.base, styled, slot.name if styled is not None else "", ms,
                                           picture.placeholder))
        if error:
            self.failed.emit(error)

    def _thumbnail(self, name: str, spec: ModelSpec, sample: np.ndarray) -> None:
        try:
            renderer = self.renderer_factory(_load(spec), "cpu", None)
            picture = renderer.render(sample)
        except Exception as exc:  # noqa: BLE001 - the style keeps its initials tile; using it reports the error
            log.warning("no thumbnail for %s: %s", name, one_line(exc))
            return
        self.thumbnailReady.emit(name, picture)
