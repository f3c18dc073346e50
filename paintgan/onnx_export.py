"""A PaintGAN model as an ONNX graph, for ONNX Runtime: the lite build (no torch) and the `onnx` render backend.

The graph is the generator alone, exported from its plain modules (ONNX Runtime does its own BatchNorm folding
and fusing), then rewritten where ONNX Runtime computes the same outputs faster (`paintgan.onnx_rewrite`: wide
3x3 convs by Winograd's algorithm, transposed convs as one conv per output phase, RGB output convs on 2x2
blocks), with inputs `x` (the network input: pixels
in [-1, 1], or the one-hot label tensor) and, for models with a latent, `z` (1 x z_dim); output `y` (1x3xHxW in
[-1, 1]). H and W are free where the family allows it: every export is checked by running ONNX Runtime at a
second, non-square size against torch, and a graph that does not match there (and SPADE with a VAE) is written
for one size (the file says which).

Needs torch and the `onnx` package (`pip install 'paintgan[onnx]'`); the lite build only reads the result.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from paintgan.errors import CheckpointError, OutputError
from paintgan.images import write_bytes_atomic
from paintgan.models import CARD_KEY, Model, label_layout, latent_dim
from paintgan.onnx_rewrite import rewrite
from paintgan.onnx_runtime import (
    INPUT_NAME,
    LATENT_NAME,
    ONNX_META_KEY,
    ONNX_SUFFIX,
    OUTPUT_NAME,
    OnnxInfo,
    OnnxSession,
)
from paintgan.render import model_tiling

OPSET = 17
# What else makes a graph for the same weights: bumped when the exporter's rewrites or the metadata it stores
# (tiling: column strips since 7) change; caches key on it
GRAPH_REVISION = 7
TOLERANCE = 1e-3  # the largest output difference to torch that still counts as the same picture
MIN_TRACE_SIDE = 64
# A graph with fixed H and W (SPADE with its VAE: its latent grid is a Linear layer's output) is made for this
# size unless told another: the app's preview size, and upstream's crop size.
STATIC_SIDE = 256


def _channels(model: Model) -> int:
    card = model.card
    if card.input_kind == "labels":
        return label_layout(model.config, card.label_set).channels
    return int(card.input_nc)


def _trace_size(model: Model) -> tuple[int, int]:
    m = int(model.card.size_multiple)
    side = -(-MIN_TRACE_SIDE // m) * m
    return side, side


def _sample(model: Model, h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A network input of the right kind (one-hot for label models) and a z where the model takes one."""
    gen = torch.Generator().manual_seed(seed)
    c = _channels(model)
    if model.card.input_kind == "labels":
        ids = torch.randint(0, c, (1, 1, h // 8 + 1, w // 8 + 1), generator=gen)
        ids = torch.nn.functional.interpolate(ids.float(), size=(h, w), mode="nearest").long()
        x = torch.zeros(1, c, h, w).scatter_(1, ids, 1.0)
    else:
        x = torch.rand(1, c, h, w, generator=gen) * 2 - 1
    z_dim = latent_dim(model.config)
    return x, (torch.randn(1, z_dim, generator=gen) if z_dim else None)


def _graph_bytes(model: Model, size: tuple[int, int], dynamic: bool) -> bytes:
    import onnx

    generator = model.generator.to("cpu", torch.float32).eval()
    x, z = _sample(model, *size, seed=0)
    names = [INPUT_NAME] + ([LATENT_NAME] if z is not None else [])
    axes = {INPUT_NAME: {2: "height", 3: "width"}, OUTPUT_NAME: {2: "height", 3: "width"}} if dynamic else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter (dynamo=False): it keeps H and W symbolic through every family's ops, and
        # needs no onnxscript at run time; its deprecation and tracer warnings are about that choice.
        warnings.simplefilter("ignore")
        torch.onnx.export(generator, (x,) if z is None else (x, z), buffer, dynamo=False, opset_version=OPSET,
                          input_names=names, output_names=[OUTPUT_NAME], dynamic_axes=axes)
    proto = onnx.load_from_string(buffer.getvalue())
    feed = {INPUT_NAME: x.numpy()} | ({} if z is None else {LATENT_NAME: z.numpy()})
    return proto.SerializeToString() if rewrite(proto, feed) else buffer.getvalue()


def _with_metadata(graph: bytes, model: Model, info: OnnxInfo) -> bytes:
    import onnx

    proto = onnx.load_from_string(graph)
    for key, value in ((CARD_KEY, model.card.to_json()), (ONNX_META_KEY, info.to_json())):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "paintgan"
    return proto.SerializeToString()


def max_difference(model: Model, session: OnnxSession, h: int, w: int, seed: int = 1) -> float:
    """Largest |ONNX Runtime - torch| of the generator output at h x w (same input, same z)."""
    x, z = _sample(model, h, w, seed)
    with torch.inference_mode():
        want = model.generator.to("cpu", torch.float32).eval()(*((x,) if z is None else (x, z)))
    got = session.run(x.numpy(), None if z is None else z.numpy())
    return float(np.abs(got - want.numpy()).max())


def export_graph(model: Model, size: tuple[int, int] | None = None, threads: int | None = None) -> bytes:
    """The model as ONNX bytes with its card. H and W are free if the graph matches torch at a second size;
    otherwise (and for SPADE with a VAE) it is exported for `size` (H, W; default 256 x 256)."""
    m = int(model.card.size_multiple)
    trace = _trace_size(model)
    # SPADE's VAE is not even tried: its latent grid's shape comes from a Linear layer, which no symbolic H and W
    # can feed, and the exporter prints the whole TorchScript graph to stdout on its way to failing.
    dynamic = not getattr(model.config, "use_vae", False)
    if dynamic:
        try:
            graph = _graph_bytes(model, trace, dynamic=True)
        except torch.onnx.errors.OnnxExporterError:
            dynamic = False
        else:
            session = OnnxSession(graph, threads)
            # non-square: a swapped H and W would show
            dynamic = max_difference(model, session, trace[0] + m, trace[1] + 2 * m) <= TOLERANCE
    if not dynamic:
        trace = size or (STATIC_SIDE, STATIC_SIDE)
        if trace[0] % m or trace[1] % m:
            raise OutputError(f"size {trace[1]}x{trace[0]} is not a multiple of {m} px, as model "
                              f"{model.card.name!r} needs")
        try:
            graph = _graph_bytes(model, trace, dynamic=False)
        except torch.onnx.errors.OnnxExporterError:
            raise CheckpointError(f"model {model.card.name!r} does not export at {trace[1]}x{trace[0]} px; "
                                  "give the size it was trained at (--size WxH)") from None
        session = OnnxSession(graph, threads)
    diff = max_difference(model, session, *trace)
    if diff > TOLERANCE:
        raise CheckpointError(f"model {model.card.name!r}: its ONNX graph differs from torch by {diff:.2g} "
                              f"(allowed {TOLERANCE}); it cannot be exported")
    layout = label_layout(model.config, model.card.label_set) if model.card.input_kind == "labels" else None
    info = OnnxInfo(latent_dim(model.config), layout, dynamic, trace, model_tiling(model))
    return _with_metadata(graph, model, info)


def export_session(model: Model, threads: int | None = None) -> OnnxSession:
    """An ONNX Runtime session of the model's generator, exported in memory (the `onnx` render backend)."""
    return OnnxSession(export_graph(model, threads=threads), threads)


def export_onnx(model: Model, path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> Path:
    """Write the model as one `.onnx` file (atomically) that the lite build renders with."""
    target = Path(path)
    if target.suffix != ONNX_SUFFIX:
        raise OutputError(f"cannot save an ONNX model as {target.name}; expected a file name ending in {ONNX_SUFFIX}")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {target.parent} does not exist")
    return write_bytes_atomic(target, export_graph(model, size))
