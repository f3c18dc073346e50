"""How fast PaintGAN renders: per model, size and device, against a plain reference timed in the same run.

One case = one model at one size on one device. `measure_case` times `Renderer.render` (a whole frame: one-hot or
pixel conversion, padding, the generator, quantisation to uint8) with the fast path (`paintgan.fastpath`) and the
same weights through a plain reference (`Renderer(fast=False)`: eager, fp32, NCHW, BatchNorm as its own layer and,
for SPADE, spectral norm as torch's parametrization evaluated with the stored u/v on every call, as upstream
runs it). Runs of the two alternate, so load from other processes slows both alike; the ratio of their medians is
the speed-up, and the largest difference of their float outputs shows that speed bought no other picture. On the
CPU, where `resolve_backend("auto")` would pick ONNX Runtime for the family (`render.ONNX_FASTER`, the `onnx`
extra installed), a third renderer takes its turn in the same rounds: the same weights exported to ONNX and run by
ONNX Runtime, reported under "onnx" with its own speed-up against the same reference (peak RSS then includes its
session). Exports are cached under `onnx_cache`, keyed by a hash of the weights, so a second run skips them.

Rounds stop when the case's time budget is spent (at least `min_rounds`, at most `max_rounds`); every figure
says how many rounds it rests on. `run_all` divides a total budget among the cases as it goes (what one case did
not use, the next ones get) and runs each case in a child process of its own, forked from a server that imported
torch once, so each case's peak RSS is its own without paying the import per case. The total is a hard bound:
what cannot fit in what is left (a case, a round, the ONNX Runtime column, the tiles) is not started, and the
results say what was skipped and why. Models: the bundled ones
(`weights/`, or the untrained placeholders while there are none) and each upstream family at its published width,
with seeded random weights and BatchNorm statistics (speed and exactness do not depend on what the weights learnt).

Timing: wall clock (median, p95) and this process's CPU time (median). On a shared machine absolute wall figures
are noisy and ratios are the fair part; with one thread, CPU time barely depends on the other processes.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.utils.flop_counter import FlopCounterMode

from paintgan import checkpoints
from paintgan.devices import pick_device
from paintgan.errors import InputError
from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SpadeConfig
from paintgan.images import write_bytes_atomic
from paintgan.models import Model, label_layout, load_model, placeholder_model, registry, synthesise_card
from paintgan.render import Box, Renderer, resolve_backend, tiles

if TYPE_CHECKING:
    from paintgan.onnx_runtime import OnnxSession

SIZES = (256, 512, 1024)
TILE, STROKE_BOX = 512, 128
MIN_ROUNDS, MAX_ROUNDS = 3, 30
CASE_BUDGET_S = 10.0  # one case alone (`--model M --size N`)
# A whole `paintgan bench` run unless told (`make bench` gives it what the live loop left of its 540 s).
TOTAL_BUDGET_S = 480.0
MIN_CASE_BUDGET_S = 2.0  # even when the total is spent, a light case still gets enough rounds for a median
MAX_CASE_BUDGET_S = 20.0  # a run of few models ends early rather than timing each case for minutes
TILE_SHARE = 1 / 3  # of a case's budget, for the tiles' rounds where a case measures them
# What an ONNX export not in the cache is assumed to take (upstream families at 512 px: 6-7 s on this CPU), so a
# case under a deadline leaves ONNX Runtime out rather than start an export it cannot finish.
ONNX_EXPORT_S = 10.0
END_MARGIN_S = 2.0  # of a whole run's budget, kept for writing its report after the last case
KILL_GRACE_S = 5.0  # a case still running this long past its limit is killed
FIRST_OVERHEAD_S = 3.0  # what starting a case costs besides its timed rounds, until one has been measured


@dataclass(frozen=True)
class Upstream:
    """An upstream generator at its published width; `sizes` are what a default run measures."""

    family: str
    config: Any
    sizes: tuple[int, ...]


# Upstream families skip 1024 px by default (`--all-sizes` adds it) so that `make bench` stays under 10 min on a
# 2-core CPU: there upstream SPADE takes about 20 s a frame at 1024 px (its reference 35 s), CycleGAN 7 s, and a
# case renders up to three times a round (fast path, reference, ONNX Runtime) for at least MIN_ROUNDS rounds.
UPSTREAM_SIZES = (256, 512)
UPSTREAM = {
    "pix2pix-unet256": Upstream("pix2pix", UnetConfig(), UPSTREAM_SIZES),
    "cyclegan-resnet9": Upstream("cyclegan", ResnetConfig(), UPSTREAM_SIZES),
    "ganilla": Upstream("ganilla", GanillaConfig(), UPSTREAM_SIZES),
    "spade-coco": Upstream("spade", SpadeConfig(), UPSTREAM_SIZES),
}
PLACEHOLDERS = {"placeholder-labels": "labels", "placeholder-sketch": "sketch", "placeholder-image": "image"}
REFERENCE_PIX2PIX = "pix2pix-unet256"


# ------------------------------------------------------------------------------------------ models


def model_names() -> list[str]:
    """Bundled models (or the placeholders while `weights/` has none), then the upstream families."""
    bundled = sorted(name for name, e in registry().items() if e.origin == "bundled")
    return (bundled or list(PLACEHOLDERS)) + list(UPSTREAM)


def default_sizes(name: str, all_sizes: bool = False) -> tuple[int, ...]:
    return SIZES if all_sizes or name not in UPSTREAM else UPSTREAM[name].sizes


def model_origin(name: str) -> str:
    return "upstream" if name in UPSTREAM else "bundled"


def model_pair(name: str) -> tuple[Model, Model]:
    """(model, reference): the same weights twice, the reference in its plain upstream form."""
    if name in PLACEHOLDERS:
        kind = PLACEHOLDERS[name]
        return placeholder_model(kind), placeholder_model(kind)  # type: ignore[arg-type]  # seeded: same weights
    if name not in UPSTREAM:
        return load_model(name), load_model(name)
    up = UPSTREAM[name]
    family = get_family(up.family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = family.build(up.config).eval()
        _random_statistics(reference)
        if up.family == "spade":
            _spectral(reference)
    # What loading an upstream file does: spectral norm folded with the stored vectors, strict load.
    plain = family.build(up.config).eval()
    plain.load_state_dict(checkpoints.normalize(reference.state_dict()), strict=True)
    card = synthesise_card(family, up.config, name=name, origin="seeded random weights (benchmark)")
    return Model(card, plain), Model(card, reference)


def _random_statistics(net: nn.Module) -> None:
    """Trained-looking BatchNorm statistics (fresh ones are 0/1, which would make folding them trivial)."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            if m.affine:
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)


def _spectral(net: nn.Module) -> None:
    # parametrizations.spectral_norm runs 15 power iterations when applied, so u/v are converged, as in a
    # trained checkpoint; in eval mode each forward recomputes W / (u . W v) from them.
    for m in list(net.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            spectral_norm(m)
    net.eval()


# ------------------------------------------------------------------------------------------ inputs


def sample_input(model: Model, size: int) -> np.ndarray:
    """A deterministic painting-like input: label regions with curved borders, a line sketch, or a picture."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    kind = model.card.input_kind
    if kind == "labels":
        assert model.card.label_set is not None
        indices = [label.index for label in model.card.label_set.labels][:7]
        bands = (yy + 0.08 * np.sin(9 * xx) + 0.05 * np.sin(23 * xx + 1)) * len(indices[:4])
        out = np.asarray(indices, np.uint16)[np.clip(bands.astype(int), 0, min(3, len(indices) - 1))]
        for i, (cx, cy, r) in enumerate([(0.3, 0.6, 0.12), (0.7, 0.75, 0.09), (0.55, 0.35, 0.07)]):
            out[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = indices[(4 + i) % len(indices)]
        return out.astype(np.uint8) if max(indices) < 256 else out
    if kind == "sketch":
        rings = np.abs(np.sin(40 * np.hypot(xx - 0.4, yy - 0.6))) < 0.08
        lines = np.abs(np.sin(25 * (xx + 0.3 * yy))) < 0.05
        return np.where(rings | (lines & (yy < 0.4)), 255, 0).astype(np.uint8)
    rgb = np.stack([xx, yy, 0.5 + 0.5 * np.sin(12 * xx * yy)], axis=-1)
    noise = np.random.default_rng(0).normal(0, 0.05, rgb.shape)
    return np.clip((rgb + noise) * 255, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    runs: int
    cpu_median_ms: float  # CPU time of this process (all its threads): what waiting for other processes does
    # not inflate, so on a loaded machine its ratios are the steadier ones (with 1 thread; more threads spin)


@dataclass(frozen=True)
class Deadline:
    """A hard end on `clock`: work predicted to end past it is not started (the case's, or the run's, time)."""

    end: float
    clock: Callable[[], float] = time.perf_counter

    @classmethod
    def within(cls, seconds: float, clock: Callable[[], float] = time.perf_counter) -> Deadline:
        return cls(clock() + seconds, clock)

    def left(self) -> float:
        return self.end - self.clock()

    def fits(self, seconds: float) -> bool:
        return seconds <= self.left()


@dataclass(frozen=True)
class Rounds:
    """When timed rounds stop: once another round (as long as the average so far) would overrun `budget_s`, but
    never before `min_rounds`, and at `max_rounds` at the latest. A `deadline` is harder than the minimum: a
    round predicted to end past it is not started."""

    budget_s: float
    min_rounds: int = MIN_ROUNDS
    max_rounds: int = MAX_ROUNDS
    deadline: Deadline | None = None

    def __post_init__(self) -> None:
        if self.min_rounds < 1 or self.max_rounds < self.min_rounds or self.budget_s < 0:
            raise InputError(f"bench rounds: min {self.min_rounds}, max {self.max_rounds}, budget {self.budget_s} s "
                             "are not usable; expected 1 <= min <= max and a budget >= 0 s")

    def share(self, fraction: float) -> Rounds:
        return Rounds(self.budget_s * fraction, self.min_rounds, self.max_rounds, self.deadline)

    def fits(self, seconds: float) -> bool:
        return self.deadline is None or self.deadline.fits(seconds)

    def deadline_left(self) -> float:
        """Seconds left before the deadline (never below 0), for messages."""
        return math.inf if self.deadline is None else max(0.0, self.deadline.left())

    def done(self, rounds: int, elapsed_s: float, first_round_s: float | None = None) -> bool:
        """`first_round_s`: what the first round is expected to take (the warm-up's time), for the deadline."""
        if rounds >= self.max_rounds:
            return True
        next_s = elapsed_s / rounds if rounds else first_round_s
        if next_s is not None and not self.fits(next_s):
            return True
        return rounds >= self.min_rounds and elapsed_s + (next_s or 0.0) > self.budget_s


@dataclass(frozen=True)
class Timed:
    timings: list[Timing]  # one per callable, in their order; each rests on `rounds` runs
    rounds: int
    seconds: float  # wall time of the timed rounds


def _timing(seconds: list[float], cpu_seconds: list[float]) -> Timing:
    ms = sorted(1000 * s for s in seconds)
    return Timing(statistics.median(ms), float(np.percentile(ms, 95)), len(ms), 1000 * statistics.median(cpu_seconds))


def time_alternating(
    runs: Sequence[Callable[[], object]], sync: Callable[[], None], rounds: Rounds, *, warm_up: bool = True,
    clock: Callable[[], float] = time.perf_counter, first_round_s: float | None = None,
) -> Timed:
    """Wall and CPU time of each callable, the callables run in turn each round (after one warm-up each unless
    the caller has run them already, saying in `first_round_s` what that took) until `rounds` says stop. Under a
    deadline that not even one round fits, `rounds` is 0 and `timings` empty."""
    if warm_up:
        began = clock()
        for run in runs:
            run()
        sync()
        first_round_s = clock() - began
    times: list[list[float]] = [[] for _ in runs]
    cpu: list[list[float]] = [[] for _ in runs]
    start = clock()
    taken = 0
    while not rounds.done(taken, clock() - start, first_round_s):
        for run, t, c in zip(runs, times, cpu, strict=True):
            t0, c0 = clock(), time.process_time()
            run()
            sync()
            t.append(clock() - t0)
            c.append(time.process_time() - c0)
        taken += 1
    return Timed([_timing(t, c) for t, c in zip(times, cpu, strict=True)] if taken else [], taken, clock() - start)


def frame_flops(model: Model, size: int) -> float:
    """FLOPs of one generator forward at size x size (counted on the meta device: nothing is computed)."""
    card = model.card
    channels = label_layout(model.config, card.label_set).channels if card.input_kind == "labels" else card.input_nc
    with torch.device("meta"):
        net = model.family.build(model.config).eval()
        args: list[torch.Tensor] = [torch.zeros(1, channels, size, size)]
        z_dim = int(getattr(model.config, "latent_dim", 0) or 0)
        if z_dim:
            args.append(torch.zeros(1, z_dim))
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            net(*args)
    return float(counter.get_total_flops())


def peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc; elsewhere the peak, which is what the OS offers without psutil)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except OSError:
        return peak_rss_mb()


# ------------------------------------------------------------------------------------------ ONNX exports


def weights_key(model: Model) -> str:
    """What an ONNX export depends on: the generator's tensors, the card the graph carries, torch's version."""
    from paintgan.onnx_export import GRAPH_REVISION, OPSET

    h = hashlib.sha256(f"{torch.__version__} opset {OPSET} graph {GRAPH_REVISION}\n{model.card.to_json()}\n".encode())
    for name, tensor in sorted(model.generator.state_dict().items()):
        h.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        h.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def export_path(model: Model, cache: Path | None) -> Path | None:
    from paintgan.onnx_runtime import ONNX_SUFFIX

    return None if cache is None else cache / f"{weights_key(model)}{ONNX_SUFFIX}"


def export_cached(model: Model, cache: Path | None) -> bool:
    path = export_path(model, cache)
    return path is not None and path.is_file()


def cached_session(model: Model, threads: int | None, cache: Path | None) -> OnnxSession:
    """An ONNX Runtime session of the model's generator, exported once per weights into `cache` (if given)."""
    from paintgan.onnx_export import export_graph
    from paintgan.onnx_runtime import OnnxSession

    path = export_path(model, cache)
    if path is not None and path.is_file():
        return OnnxSession(path, threads)
    graph = export_graph(model, threads=threads)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, graph)
    return OnnxSession(graph, threads)


class _CachedRenderer(Renderer):
    """A `Renderer` whose ONNX export (where its backend is ONNX Runtime) comes from the bench's cache."""

    def __init__(self, model: Model, device: str, threads: int | None, backend: str, cache: Path | None) -> None:
        self._cache = cache
        super().__init__(model, device=device, threads=threads, backend=backend)

    def _onnx_session(self, threads: int | None) -> OnnxSession:
        session = cached_session(self.model, threads, self._cache)
        if not session.info(self.card.name).dynamic:
            raise InputError(f"model {self.card.name!r} exports to ONNX for one size only; bench times it on torch")
        return session


# ------------------------------------------------------------------------------------------ one case


def measure_case(
    name: str, size: int, device: str = "cpu", threads: int | None = 2, *, rounds: Rounds | None = None,
    backend: str = "torch", onnx_cache: Path | None = None,
) -> dict[str, Any]:
    """One model at one size on one device: fast path vs plain reference, FLOPs, memory (and tiles at >= 1024).

    `backend` is the Renderer backend of the measured side ("torch": the fast path; "onnx"; "auto"). While it runs
    through torch on the CPU, ONNX Runtime is timed beside it where `backend="auto"` would pick it for the family
    (the "onnx" figures). `rounds` bounds the timed rounds (default: CASE_BUDGET_S); where tiles are measured,
    they get TILE_SHARE of its budget.
    """
    if size < 64 or size % 64:
        raise InputError(f"bench size {size} is not usable; expected a multiple of 64 px (256, 512, 1024)")
    rounds = rounds or Rounds(CASE_BUDGET_S)
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    dev = pick_device(device)
    model, reference = model_pair(name)
    fast = _CachedRenderer(model, str(dev.type), threads, backend, onnx_cache)
    plain = Renderer(reference, device=str(dev.type), dtype=torch.float32, fast=False)
    # Big canvases of the bundled models: tiles are timed where the app draws them (models that tile exactly).
    tiles = model_origin(name) == "bundled" and size >= 2 * TILE
    main_rounds = rounds.share(1 - TILE_SHARE) if tiles and fast.tiling.exact else rounds
    source = sample_input(model, size)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # These first renders are also each renderer's warm-up; together they are what a round is expected to take.
    began = time.perf_counter()
    got = fast.render_tensor(source)
    fast_s = time.perf_counter() - began
    want = plain.render_tensor(source)
    first_round_s = time.perf_counter() - began
    runs = [lambda: fast.render(source), lambda: plain.render(source)]
    ort: Renderer | None = None
    auto = resolve_backend("auto", model.card.family, dev, fast.dtype)
    left_out: dict[str, str] = {}
    if fast.backend == "torch" and auto == "onnx":
        # An export not cached yet takes seconds; ONNX Runtime then costs about a fast-path render a round.
        export_s = 0.0 if export_cached(model, onnx_cache) else ONNX_EXPORT_S
        if rounds.fits(export_s + 2 * fast_s + first_round_s + fast_s):
            started = time.perf_counter()
            ort = _CachedRenderer(model, "cpu", threads, "onnx", onnx_cache)
            ort_export_s = time.perf_counter() - started
            started = time.perf_counter()
            ort_diff = float((ort.render_tensor(source) - want).abs().max())
            first_round_s += time.perf_counter() - started
            runs.append(lambda: ort.render(source))  # type: ignore[union-attr]
        else:
            left_out["onnx"] = f"not timed: its export and rounds do not fit in the {rounds.deadline_left():.0f} s left"
    timed = time_alternating(runs, sync, main_rounds, warm_up=False, first_round_s=first_round_s)
    if not timed.rounds:
        return skipped(name, size, dev.type, f"not one timed round fits in the {rounds.deadline_left():.0f} s left "
                       f"(a round takes about {first_round_s:.0f} s)")
    timing, ref, *ort_timing = timed.timings
    flops = frame_flops(model, size)
    result: dict[str, Any] = {
        "model": name,
        "family": model.card.family,
        "origin": model_origin(name),
        "placeholder": bool(model.card.placeholder),
        "input_kind": model.card.input_kind,
        "size": size,
        "device": dev.type,
        "device_name": _device_name(dev),
        "dtype": str(fast.dtype).removeprefix("torch."),
        "backend": fast.backend,
        "threads": torch.get_num_threads(),
        "fast_path": list(fast.fast_steps),
        "median_ms": timing.median_ms,
        "p95_ms": timing.p95_ms,
        "fps": 1000.0 / timing.median_ms,
        "runs": timed.rounds,  # every timed figure of the case rests on this many rounds (tiles: their own)
        "budget_s": rounds.budget_s,
        "min_runs": rounds.min_rounds,
        "max_runs": rounds.max_rounds,
        "timed_s": timed.seconds,
        "round_s": timed.seconds / timed.rounds,  # one round of the renderers in turn
        "reference_median_ms": ref.median_ms,
        "reference_p95_ms": ref.p95_ms,
        "speedup": ref.median_ms / timing.median_ms,
        "cpu_median_ms": timing.cpu_median_ms,
        "reference_cpu_median_ms": ref.cpu_median_ms,
        "cpu_speedup": ref.cpu_median_ms / timing.cpu_median_ms,
        "max_abs_diff": float((got - want).abs().max()),
        "gflop": flops / 1e9,
        "gflop_per_s": flops / 1e9 / (timing.median_ms / 1000),
        "peak_rss_mb": peak_rss_mb(),
        "cuda_max_allocated_mb": torch.cuda.max_memory_allocated() / (1 << 20) if dev.type == "cuda" else None,
        "auto_backend": auto,
    }
    if left_out:
        result["left_out"] = left_out
    if ort is not None:
        o = ort_timing[0]
        result["onnx"] = {
            "median_ms": o.median_ms,
            "p95_ms": o.p95_ms,
            "runs": o.runs,
            "cpu_median_ms": o.cpu_median_ms,
            "speedup": ref.median_ms / o.median_ms,
            "cpu_speedup": ref.cpu_median_ms / o.cpu_median_ms,
            "max_abs_diff": ort_diff,
            "export_s": ort_export_s,  # reading the cached export when there is one
            "threads": ort.session.threads if ort.session is not None else None,
        }
    if tiles:
        result["tiles"] = tile_seams(fast, source, sync, rounds.share(TILE_SHARE), full_s=timing.median_ms / 1000)
        result["timed_s"] += result["tiles"]["timed_s"]
    return result


def skipped(name: str, size: int, device: str, reason: str) -> dict[str, Any]:
    """A case that was not measured, and why (the table and the JSON say so instead of a figure)."""
    return {"model": name, "size": size, "device": device, "skipped": reason}


def tile_seams(renderer: Renderer, source: np.ndarray, sync: Callable[[], None], rounds: Rounds,
               full_s: float | None = None) -> dict[str, Any]:
    """A big canvas as the app renders it. A model that tiles exactly (`renderer.tiling`): tiled (with the overlap
    the engine gives it) vs full render, the largest difference (uint8 levels), and what one stroke costs when only
    the region it touched is rendered again. Any other model renders whole, so there is no seam to report (a seam
    figure at some overlap would describe tiles nobody draws); nothing is timed beyond the case's full render.
    `full_s` (a full render's time) lets a deadline in `rounds` leave the tiles out when they cannot fit."""
    tiling = renderer.tiling
    if not tiling.exact:
        return {"tile": TILE, "exact": False, "renders_whole": True, "reason": tiling.reason, "runs": 0,
                "timed_s": 0.0}
    h, w = source.shape[:2]
    if full_s is not None:
        # a full and a tiled render (its overlaps re-render up to the whole context), then one round at least
        boxes = tiles(w, h, TILE, tiling.columns)
        ctx = sum(c.width * c.height for c in (renderer.context_box(b, w, h) for b in boxes))
        needed = full_s * (2 + ctx / (w * h) + 0.5)
        if not rounds.fits(needed):
            return {"tile": TILE, "exact": True, "renders_whole": False, "overlap": tiling.overlap, "runs": 0,
                    "timed_s": 0.0, "skipped": f"not measured: about {needed:.0f} s of renders do not fit in the "
                    f"{rounds.deadline_left():.0f} s left"}
    full = renderer.render(source)
    tiled = renderer.render_tiled(source, tile=TILE)
    seam = np.zeros((h, w), bool)
    for edge in range(TILE, w, TILE):  # 8 px either side of each tile border
        seam[:, max(0, edge - 8) : edge + 8] = True
    for edge in range(TILE, h if not tiling.columns else 0, TILE):  # column strips have no borders across
        seam[max(0, edge - 8) : edge + 8, :] = True
    diff = np.abs(full.astype(np.int16) - tiled.astype(np.int16)).max(axis=2)
    box = Box(w // 2 - STROKE_BOX // 2, h // 2 - STROKE_BOX // 2, w // 2 + STROKE_BOX // 2, h // 2 + STROKE_BOX // 2)
    latent = renderer.latent()

    def stroke() -> object:
        return renderer.render_region(source, box, latent=latent)

    started = time.perf_counter()
    stroke()  # its warm-up; the full render's was the one above
    first_round_s = time.perf_counter() - started + (full_s or 0.0)
    timed = time_alternating([stroke, lambda: renderer.render(source)], sync, rounds, warm_up=False,
                             first_round_s=first_round_s)
    if not timed.rounds:
        return {"tile": TILE, "exact": True, "renders_whole": False, "overlap": tiling.overlap,
                "max_diff": int(diff.max()), "max_seam_diff": int(diff[seam].max()), "runs": 0,
                "timed_s": timed.seconds, "skipped": "stroke not timed: no round fits in the time left"}
    region, whole = timed.timings
    return {
        "tile": TILE,
        "exact": True,
        "renders_whole": False,
        "overlap": tiling.overlap,
        "reason": tiling.reason,
        "max_diff": int(diff.max()),
        "max_seam_diff": int(diff[seam].max()),
        "stroke_box": STROKE_BOX,
        "stroke_region_median_ms": region.median_ms,
        "full_median_ms": whole.median_ms,
        "runs": timed.rounds,
        "timed_s": timed.seconds,
    }


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------------ a whole run


@dataclass(frozen=True)
class Case:
    name: str
    size: int
    device: str


def plan(names: Sequence[str], devices: Sequence[str], *, all_sizes: bool = False,
         sizes: Sequence[int] | None = None) -> list[Case]:
    """Every case of a run, in report order (device, model, size)."""
    return [Case(name, size, device) for device in devices for name in names
            for size in sorted(sizes or default_sizes(name, all_sizes))]


def case_budget(total_s: float, elapsed_s: float, cases_left: int, overhead_s: float,
                floor_s: float = MIN_CASE_BUDGET_S, ceiling_s: float = MAX_CASE_BUDGET_S) -> float:
    """Seconds of timed rounds for the next case: an equal share of what is left of the total, less what each
    case costs besides its timed rounds (start, models, export, warm-up), within [floor_s, ceiling_s]."""
    share = (total_s - elapsed_s) / max(1, cases_left) - overhead_s
    return min(ceiling_s, max(floor_s, share))


def minimum_case_s(case: Case, finished: Sequence[dict[str, Any]], overhead_s: float) -> tuple[float, str]:
    """What `case` takes at the least (start, models, warm-up and one timed round), and what that rests on: the
    same model measured at a smaller size, its renders scaled by the pixel count; else the start-up (`overhead_s`)
    the cases so far took besides their rounds."""
    prior = [r for r in finished if r.get("model") == case.name and r.get("device") == case.device
             and r.get("runs") and r.get("size", math.inf) <= case.size]
    if not prior:
        return overhead_s, "the start-up of a case"
    r = max(prior, key=lambda r: r["size"])
    round_s = r["round_s"]
    fixed_s = max(0.0, r["case_s"] - r["timed_s"] - round_s)  # the start and the models; the warm-up is a round
    return fixed_s + 2 * round_s * (case.size / r["size"]) ** 2, f"from its {r['size']} px case"


def _run_case(case: Case, threads: int, rounds: Rounds, limit_s: float, backend: str, onnx_cache: Path | None,
              env: dict[str, str], cwd: str) -> dict[str, Any]:
    """A child process's case; its failure is the result, as one line, so the run goes on."""
    # The fork server started with the environment and folder of its first use; a case sees the caller's now
    # (PAINTGAN_HOME, a model given as a relative path), as a child started afresh would.
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    rounds = replace(rounds, deadline=Deadline.within(limit_s))
    try:
        return measure_case(case.name, case.size, case.device, threads, rounds=rounds, backend=backend,
                            onnx_cache=onnx_cache)
    except Exception as exc:  # a case that fails is reported, not fatal: the exception ends this child only
        lines = traceback.format_exception_only(exc)
        return {"model": case.name, "size": case.size, "device": case.device, "error": lines[-1].strip()}


def _case_child(send: Connection, *args: Any) -> None:
    send.send(_run_case(*args))
    send.close()


# (case, rounds, limit_s) -> its result, or None when it was stopped at its limit
CaseRunner = Callable[[Case, Rounds, float], dict[str, Any] | None]


class _CaseProcesses:
    """Each case in a fresh process forked from a server that imported torch and this module once (each case's
    peak RSS is its own, without paying the import per case). A case is told its limit and stops itself; one
    still running KILL_GRACE_S past it (a render that took far longer than predicted) is killed."""

    def __init__(self, threads: int, backend: str, onnx_cache: Path | None) -> None:
        methods = multiprocessing.get_all_start_methods()
        self.ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            self.ctx.set_forkserver_preload([__name__])
        self.args = (threads, backend, onnx_cache)

    def __call__(self, case: Case, rounds: Rounds, limit_s: float) -> dict[str, Any] | None:
        threads, backend, onnx_cache = self.args
        receive, send = self.ctx.Pipe(duplex=False)
        child = self.ctx.Process(target=_case_child, daemon=True, args=(
            send, case, threads, rounds, limit_s, backend, onnx_cache, dict(os.environ), os.getcwd()))
        child.start()
        send.close()
        try:
            if not receive.poll(limit_s + KILL_GRACE_S):
                return None
            try:
                return receive.recv()  # type: ignore[no-any-return]
            except EOFError:  # the child died (out of memory, a signal): reported, the next case gets its own
                child.join(1.0)
                return {"model": case.name, "size": case.size, "device": case.device,
                        "error": f"the case's process died (exit code {child.exitcode})"}
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receive.close()


def run_all(
    cases: Sequence[Case], threads: int, *, total_budget_s: float = TOTAL_BUDGET_S, case_budget_s: float | None = None,
    min_rounds: int = MIN_ROUNDS, max_rounds: int = MAX_ROUNDS, backend: str = "torch",
    onnx_cache: Path | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.perf_counter, runner: CaseRunner | None = None,
) -> list[dict[str, Any]]:
    """Every case in a child process of its own; a case that fails is reported, not fatal. The run ends within
    `total_budget_s`, whatever the load: fixed costs (starting a case, loading and exporting models, warm-ups)
    are measured as they happen and count against it, and a case, an ONNX Runtime column or a tile measurement
    that cannot fit in what is left is skipped (its row says why) or cut short rather than started.

    Each case's budget for timed rounds is `case_budget_s` if given, else its share of what is left. Small sizes
    run first, bundled models first within a size: the 256 px figures are the issue's targets, and a bigger
    case's cost is predicted from the same model's smaller one (`minimum_case_s`), so under load it is the
    biggest cases that are left out. Each case is given all that is left as its hard limit; it stops its rounds
    there even below `min_rounds`, and is killed KILL_GRACE_S later. Results come back in `cases`' order, each
    with `case_s` (its wall time in the parent)."""
    order = sorted(range(len(cases)), key=lambda i: (cases[i].size, model_origin(cases[i].name) != "bundled"))
    results: list[dict[str, Any] | None] = [None] * len(cases)
    deadline = Deadline.within(total_budget_s - END_MARGIN_S, clock)
    start = clock()
    overheads: list[float] = []
    run = runner or _CaseProcesses(threads, backend, onnx_cache)
    for done, i in enumerate(order):
        case = cases[i]
        overhead = statistics.mean(overheads) if overheads else FIRST_OVERHEAD_S
        need, basis = minimum_case_s(case, [r for r in results if r is not None], overhead)
        limit = deadline.left() - KILL_GRACE_S
        began = clock()
        if need > limit:
            result = skipped(case.name, case.size, case.device, f"needs about {need:.0f} s ({basis}); "
                             f"{max(0.0, limit):.0f} s of the budget were left")
        else:
            budget = case_budget_s if case_budget_s is not None else case_budget(
                total_budget_s, clock() - start, len(cases) - done, overhead)
            result = run(case, Rounds(budget, min_rounds, max_rounds), limit) or skipped(
                case.name, case.size, case.device, f"stopped: still running {limit + KILL_GRACE_S:.0f} s later, "
                "at the end of the budget")
        result["case_s"] = clock() - began
        if "timed_s" in result:
            overheads.append(max(0.0, result["case_s"] - result["timed_s"]))
        results[i] = result
        if progress is not None:
            progress(result)
    return [r for r in results if r is not None]


def present_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


# ------------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    what: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


def _find(results: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for r in results:
        if "error" not in r and "skipped" not in r and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def targets(results: Sequence[dict[str, Any]], live: dict[str, Any] | None = None) -> list[Target]:
    """The issue's CPU targets, each with what this run measured."""
    out: list[Target] = []
    pix = _find(results, model=REFERENCE_PIX2PIX, size=256, device="cpu")
    for r in [r for r in results if r.get("origin") == "bundled" and r.get("size") == 256 and r.get("device") == "cpu"]:
        restyle = r["input_kind"] == "image"
        limit = 100.0 if restyle else 40.0
        # The app renders with backend "auto": where that is ONNX Runtime, its figure is the app's.
        on_ort = "onnx" in r and r.get("auto_backend") == "onnx"
        app_ms = r["onnx"]["median_ms"] if on_ort else r["median_ms"]
        measured = f"{r['median_ms']:.1f} ms torch" + (f", {app_ms:.1f} ms ONNX Runtime (the app's)" if on_ort else "")
        out.append(Target(f"{r['model']} 256 px median", f"<= {limit:.0f} ms", f"{measured} ({r['runs']} runs)",
                          app_ms <= limit))
        if not restyle:
            ratio = app_ms / pix["reference_median_ms"] if pix else math.nan
            out.append(Target(f"{r['model']} vs plain pix2pix U-Net-256", "<= 0.3x",
                              f"{ratio:.3f}x" if pix else "pix2pix not measured", ratio <= 0.3 if pix else None))
    for r in [r for r in results if r.get("origin") == "upstream" and r.get("device") == "cpu"]:
        best = max(r["speedup"], r["onnx"]["speedup"] if "onnx" in r else 0.0)
        measured = f"{r['speedup']:.2f}x torch" + (f", {r['onnx']['speedup']:.2f}x ONNX Runtime" if "onnx" in r else "")
        measured += f" ({r['runs']} runs)"
        out.append(Target(f"{r['model']} {r['size']} px speed-up vs reference", ">= 1.5x", measured, best >= 1.5))
    diffs = [r["max_abs_diff"] for r in results if "max_abs_diff" in r and r.get("dtype") == "float32"]
    diffs += [r["onnx"]["max_abs_diff"] for r in results if "onnx" in r]
    if diffs:
        out.append(Target("fp32 fast path vs reference, largest output difference", "<= 1e-3",
                          f"{max(diffs):.2e}", max(diffs) <= 1e-3))
    for r in [r for r in results if "tiles" in r]:
        t = r["tiles"]
        what = f"{r['model']} {r['size']} px tiles vs full render"
        if "skipped" in t and "max_seam_diff" not in t:
            out.append(Target(what, "seams invisible", t["skipped"], None))
            continue
        if t.get("renders_whole"):  # no tiles drawn, so no seam: a stroke costs a full render
            out.append(Target(what, "seams invisible", f"renders whole ({t['reason']}); a stroke re-renders the "
                              f"full {r['median_ms']:.0f} ms frame", True))
            continue
        measured = f"max seam diff {t['max_seam_diff']} levels at the engine's {t['overlap']} px overlap"
        if "stroke_region_median_ms" in t:
            measured += (f"; a stroke re-renders in {t['stroke_region_median_ms']:.0f} ms vs "
                         f"{t['full_median_ms']:.0f} ms full ({t['runs']} runs)")
        out.append(Target(what, "seams invisible", measured, t["max_seam_diff"] <= 1))
    if live:
        growth = live["rss_end_mb"] - live["rss_start_mb"]
        out += [
            Target("live loop 256 px stroke-to-preview p95", "<= 120 ms", f"{live['latency_p95_ms']:.0f} ms",
                   live["latency_p95_ms"] <= 120),
            Target("live loop longest UI-thread stall", "<= 16 ms", f"{live['ui_longest_stall_ms']:.1f} ms",
                   live["ui_longest_stall_ms"] <= 16),
            Target("live loop memory over 10 s", "flat", f"{growth:+.0f} MB (RSS {live['rss_start_mb']:.0f} -> "
                   f"{live['rss_end_mb']:.0f} MB)", abs(growth) <= 50),
        ]
    return out


# ------------------------------------------------------------------------------------------ table


def table(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table rows, one per case. "runs": the timed rounds every figure of the row rests on (the fast
    path, the reference and ONNX Runtime take turns in the same rounds)."""
    head = ("| model | size | device | runs | median ms | p95 ms | ref median ms | speed-up | CPU speed-up | max diff "
            "| GFLOP | GFLOP/s | peak RSS MB | fast path | ORT median ms | ORT speed-up | ORT CPU speed-up "
            "| ORT max diff |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        if "error" in r or "skipped" in r:
            what = f"error: {r['error']}" if "error" in r else f"skipped: {r['skipped']}"
            lines.append(f"| {r['model']} | {r['size']} | {r['device']} | {what} |" + " |" * 14)
            continue
        o = r.get("onnx")
        ort = (f"{o['median_ms']:.1f} | {o['speedup']:.2f}x | {o['cpu_speedup']:.2f}x | {o['max_abs_diff']:.1e}"
               if o else "- | - | - | -")
        lines.append(
            f"| {r['model']} | {r['size']} | {r['device']} | {r['runs']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} "
            f"| {r['reference_median_ms']:.1f} | {r['speedup']:.2f}x | {r['cpu_speedup']:.2f}x "
            f"| {r['max_abs_diff']:.1e} | {r['gflop']:.1f} "
            f"| {r['gflop_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {', '.join(r['fast_path']) or '-'} | {ort} |"
        )
    return lines
