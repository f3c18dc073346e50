"""Exact rewrites of an exported ONNX graph for ONNX Runtime's CPU kernels: the same outputs, less work.

* Wide 3x3 convs as Winograd F(4x4, 3x3). A 3x3 conv (stride 1) computes each 4x4 output tile from a 6x6 input
  tile. Winograd's algorithm transforms the input tile (V = B^T d B) and the filter (U = G g G^T), multiplies
  them element-wise, summed over input channels, and transforms back (Y = A^T M A). Summed over channels, the
  products are 36 matrix products (O x C) @ (C x tiles): 36 * O * C multiply-adds per tile instead of
  144 * O * C. The transforms are linear maps with small integer entries (interpolation points 0, +-1, +-2 and
  infinity), so the result is the conv's up to float rounding (about 1e-5 of the output's scale in float32).
  In the graph: a Pad to whole tiles; the input transform as a stride-4 conv of each channel with the 36
  kernels of B^T . B; one batched MatMul with U; the output transform as a MatMul with A^T (x) A^T;
  DepthToSpace and a Slice back to the conv's size; the bias. U is computed in the graph from the conv's own
  weights, which ONNX Runtime folds into a constant when it loads the graph, so a file keeps its size.
  Measured per layer on the 2-core dev CPU (64x64 px, 256 channels): 1.9x faster at one thread, 1.4x at two;
  at 128 channels and 128 px the transforms cost more than the products save (0.9x), hence `MIN_CHANNELS`.
* Narrow convs (an RGB output layer: 3 channels from 64) on a space-to-depth input. ONNX Runtime's blocked
  conv kernels compute 16 output channels at a time, so 3 outputs waste 13/16 of the work (the 7x7 output conv
  of CycleGAN took 11% of a frame). On 2x2 blocks the same conv has 4x the channels in and out and a kernel of
  k // 2 + 1: 12 of 16 outputs used, at 1.3x the multiply-adds of the plain conv. DepthToSpace puts the pixels back.
* Transposed convs (stride s) as s * s ordinary convs, one per output phase (pixel s * I + r reads a fixed set of
  taps), each with exactly its taps, interleaved by DepthToSpace ("sub-pixel" convolution): no multiplications
  by the zeros a transposed conv inserts, and ONNX Runtime's conv kernels instead of its GEMM + col2im. The
  whole pix2pix U-Net ran 1.1x faster at 1 and 2 threads; CycleGAN's two up convs, the same speed.

H and W stay free: pads and crops come from the input's shape. Winograd would not help the torch fast path:
torch's CPU matrix products (MKL on the dev machine's AMD CPU) run at under half the speed of its direct conv.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

KERNEL = 3
POINTS = (0, 1, -1, 2, -2)  # F(4, 3) needs m + 1 finite interpolation points (and infinity)
TILE = len(POINTS) + 2 - KERNEL  # m: output tiles of 4x4 px
_Rewrite = Callable[["onnx.NodeProto", np.ndarray, "np.ndarray | None"], "_Builder"]
MIN_CHANNELS = 256  # narrower convs lost on the dev CPU (128 channels at 128 px: 0.9x)
# Winograd also needs enough tiles for its matrix products: at a 256 px frame, a 64x64 px output (SPADE's
# 1024-channel blocks at 8-32 px, GANILLA's 256-512 at 8-16 px did not gain)
REFERENCE_SIDE = 256
MIN_TILES = 256
NARROW = 4  # convs with at most this many output channels run on 2x2 blocks (4 * 4 = 16: one kernel block)
BLOCK = 2


@cache
def transforms(points: tuple[float, ...] = POINTS, r: int = KERNEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T, G, B^T) of the 1-D Winograd algorithm F(m, r) for the given points (float64, small rationals).

    A^T evaluates the product polynomial at the points (and its top coefficient, "infinity"); G evaluates the
    filter there, divided by the Lagrange denominators; B^T is the unique matrix with
    A^T [(G g) * (B^T d)] = correlate(d, g) for every d and g, solved from those m * r * n linear equations.
    """
    p = [Fraction(x) for x in points]
    n = len(p) + 1
    m = n - r + 1
    at = np.array([[float(q**i) for q in p] + [float(i == m - 1)] for i in range(m)])
    g_rows = []
    for j, q in enumerate(p):
        denominator = Fraction(1)
        for k, other in enumerate(p):
            if k != j:
                denominator *= q - other
        g_rows.append([float(q**k / denominator) for k in range(r)])
    g = np.array([*g_rows, [float(k == r - 1) for k in range(r)]])
    # Output i of the correlation takes input l with weight g[l - i]: sum_j A^T[i,j] G[j,k] B^T[j,l] = [l == i + k]
    eqs = np.zeros((m, r, n, n, n))
    for i in range(m):
        for k in range(r):
            for col in range(n):
                eqs[i, k, col, :, col] = at[i] * g[:, k]
    rhs = np.array([[[float(col == i + k) for col in range(n)] for k in range(r)] for i in range(m)])
    bt, *_ = np.linalg.lstsq(eqs.reshape(m * r * n, n * n), rhs.reshape(-1), rcond=None)
    return at, g, np.round(bt.reshape(n, n), 12)


@dataclass(frozen=True)
class _Geometry:
    """A dense, undilated 2-D Conv or ConvTranspose: its stride, zero pads (top, left, bottom, right) and, for a
    transposed conv, its output padding."""

    stride: int
    pads: tuple[int, int, int, int]
    output_padding: tuple[int, int]


def _geometry(node: onnx.NodeProto) -> _Geometry | None:
    """None for anything else: grouped, dilated, auto-padded, unequal strides, a given output shape."""
    import onnx

    if node.op_type not in ("Conv", "ConvTranspose"):
        return None
    a = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}

    def ints(key: str, default: list[int]) -> list[int]:
        return [int(v) for v in a.get(key, default)]  # type: ignore[attr-defined]

    pads, strides, extra = ints("pads", [0, 0, 0, 0]), ints("strides", [1, 1]), ints("output_padding", [0, 0])
    if (
        ints("dilations", [1, 1]) != [1, 1]
        or a.get("group", 1) != 1
        or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        or "output_shape" in a
        or len(pads) != 4
        or len(strides) != 2
        or strides[0] != strides[1]
        or len(extra) != 2
    ):
        return None
    return _Geometry(strides[0], (pads[0], pads[1], pads[2], pads[3]), (extra[0], extra[1]))


def _rewriter(node: onnx.NodeProto, shape: tuple[int, ...], min_channels: int,
              tiles: float | None) -> tuple[str, _Rewrite] | None:
    """Which rewrite computes this conv faster (its name and the function building its nodes), if any. `tiles`:
    the conv's output tiles (TILE x TILE px) in a REFERENCE_SIDE px frame (None: not known, no Winograd)."""
    geometry = _geometry(node)
    if geometry is None or len(shape) != 4:
        return None
    pads = geometry.pads
    if node.op_type == "ConvTranspose":
        phases = _phases(shape[2:], geometry)
        if geometry.stride > 1 and phases is not None:
            return "sub-pixel", lambda n, w, bias: _subpixel_nodes(n, w, bias, geometry, phases)
        return None
    if geometry.stride != 1:
        return None
    o, c, kh, kw = shape
    wide = min(o, c) >= min_channels and tiles is not None and tiles >= MIN_TILES
    if (kh, kw) == (KERNEL, KERNEL) and len(set(pads)) == 1 and pads[0] in (0, 1) and wide:
        return "winograd", lambda n, w, bias: _winograd_nodes(n, w, bias, pads[0])
    if o <= NARROW and min(kh, kw) >= KERNEL:
        return "blocked", lambda n, w, bias: _narrow_nodes(n, w, bias, pads)
    return None


class _Builder:
    """New nodes and constants of one rewritten conv, named after it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def name(self) -> str:
        self._count += 1
        return f"{self.prefix}/rewrite_{self._count}"

    def const(self, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name()
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, dtype=np.int64))

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attrs: object) -> str:
        from onnx import helper

        out = output or self.name()
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{out}_node", **attrs))
        return out


@dataclass(frozen=True)
class _Sizes:
    """Sizes of a conv computed in output tiles, as int64 tensors of the graph."""

    batch: str  # N, as a 1-element tensor
    hw: str  # the input's H, W
    out_hw: str  # the conv's output H, W
    tiles: str  # output tiles along H, W: ceil(out / m)


def _sizes(b: _Builder, x: str, grow: tuple[int, int], m: int) -> _Sizes:
    """For a conv whose output is `grow` larger than its input `x`, computed in m x m output tiles."""
    shape = b.op("Shape", x)
    batch, hw = b.op("Slice", shape, b.ints(0), b.ints(1)), b.op("Slice", shape, b.ints(2), b.ints(4))
    out_hw = b.op("Add", hw, b.ints(*grow))
    tiles = b.op("Div", b.op("Add", out_hw, b.ints(m - 1, m - 1)), b.ints(m, m))
    return _Sizes(batch, hw, out_hw, tiles)


def _finish(b: _Builder, y: str, out_hw: str, bias: np.ndarray | None, output: str) -> None:
    """Crop `y` to the conv's output size and add its bias, writing the conv's output name."""
    y = b.op("Slice", y, b.ints(0, 0), out_hw, b.ints(2, 3), output=None if bias is not None else output)
    if bias is not None:
        b.op("Add", y, b.const(bias.reshape(1, -1, 1, 1)), output=output)


def _winograd_nodes(node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None, pad: int) -> _Builder:
    """The nodes computing `node` (a qualifying Conv) by F(4x4, 3x3), writing to the conv's output name."""
    at, g, bt = transforms()
    m, a = at.shape
    o, c = weight.shape[:2]
    dtype = weight.dtype
    b = _Builder(node.name or node.output[0])
    t = _sizes(b, node.input[0], (2 * pad - KERNEL + 1,) * 2, m)
    # Input transform of every tile of every channel: a stride-m conv of each channel with B^T . B's a*a kernels.
    # Its own zero padding covers the conv's and the last tile's: m - 1 more at the end give ceil(out / m) tiles
    # for any size (the outputs past the conv's size are cropped at the end).
    planes = b.op("Reshape", node.input[0], b.op("Concat", b.ints(-1, 1), t.hw, axis=0))
    kin = np.einsum("iu,jv->ijuv", bt, bt).reshape(a * a, 1, a, a).astype(dtype)
    v = b.op("Conv", planes, b.const(kin), kernel_shape=[a, a], strides=[m, m],
             pads=[pad, pad, pad + m - 1, pad + m - 1])  # N*C x a*a x tiles
    v = b.op("Reshape", v, b.op("Concat", t.batch, b.ints(c, a * a, -1), axis=0))
    v = b.op("Transpose", v, perm=[0, 2, 1, 3])  # N x a*a x C x tiles
    # U = G g G^T from the conv's weights: constant, so ONNX Runtime computes it once, at load
    u = b.op("MatMul", b.op("MatMul", b.const(g.astype(dtype)), node.input[1]), b.const(g.T.astype(dtype)))
    u = b.op("Transpose", b.op("Reshape", u, b.ints(o, c, a * a)), perm=[2, 0, 1])  # a*a x O x C
    prod = b.op("MatMul", u, v)  # N x a*a x O x tiles: the channel sums
    flat = b.op("Reshape", prod, b.op("Concat", t.batch, b.ints(a * a, -1), axis=0))
    y = b.op("MatMul", b.const(np.kron(at, at).astype(dtype)), flat)  # N x m*m x (O, tiles)
    y = b.op("Reshape", y, b.op("Concat", t.batch, b.ints(m * m * o), t.tiles, axis=0))
    y = b.op("DepthToSpace", y, blocksize=m, mode="DCR")
    _finish(b, y, t.out_hw, bias, node.output[0])
    return b


def _narrow_nodes(node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None,
                  pads: tuple[int, int, int, int]) -> _Builder:
    """The nodes computing `node` (a stride-1 Conv with few outputs) on BLOCK x BLOCK blocks of its input."""
    o, c, kh, kw = weight.shape
    f = BLOCK
    kb = (kh // f + 1, kw // f + 1)  # kernel taps r + u (phase r, tap u) span this many blocks
    top, left, bottom, right = pads
    b = _Builder(node.name or node.output[0])
    t = _sizes(b, node.input[0], (top + bottom - kh + 1, left + right - kw + 1), f)
    # Zero-pad to whole blocks: the conv's own padding, then up to (tiles + kernel blocks - 1) * f
    padded_hw = b.op("Mul", b.op("Add", t.tiles, b.ints(kb[0] - 1, kb[1] - 1)), b.ints(f, f))
    end_pads = b.op("Sub", padded_hw, b.op("Add", t.hw, b.ints(top, left)))
    pads = b.op("Concat", b.ints(0, 0, top, left), b.ints(0, 0), end_pads, axis=0)
    padded = b.op("Pad", node.input[0], pads, mode="constant")
    blocks = b.op("SpaceToDepth", padded, blocksize=f)  # channel (ph * f + pw) * C + c
    # Output phase (rh, rw) at block offset (bh, bw) reads input phase (ph, pw) through tap f*b + p - r
    w = np.zeros((f, f, o, f, f, c, kb[0], kb[1]), dtype=weight.dtype)
    for rh, rw, ph, pw, bh, bw in np.ndindex(f, f, f, f, kb[0], kb[1]):
        th, tw = f * bh + ph - rh, f * bw + pw - rw
        if 0 <= th < kh and 0 <= tw < kw:
            w[rh, rw, :, ph, pw, :, bh, bw] = weight[:, :, th, tw]
    y = b.op("Conv", blocks, b.const(w.reshape(f * f * o, f * f * c, *kb)), kernel_shape=list(kb))
    y = b.op("DepthToSpace", y, blocksize=f, mode="DCR")  # channel (rh * f + rw) * O + o
    _finish(b, y, t.out_hw, bias, node.output[0])
    return b


@dataclass(frozen=True)
class _Phase:
    """Along one axis, the output pixels s * I + r of a stride-s transposed conv: they read inputs I - d for
    d in [low, high] through taps s * d + r + pad_begin, i.e. a stride-1 conv of `high - low + 1` taps with
    `high` zero pads before and `after` behind; `crop` trailing pixels of the last block are past the output."""

    low: int
    high: int
    after: int
    crop: int


def _phases(kernel: tuple[int, ...], g: _Geometry) -> tuple[list[_Phase], list[_Phase]] | None:
    """The phases along H and W of a transposed conv, or None where a phase reads no tap or needs negative pads."""
    s = g.stride
    axes: list[list[_Phase]] = []
    for k, begin, end, extra in zip(kernel, g.pads[:2], g.pads[2:], g.output_padding, strict=True):
        grow = k + extra - begin - end  # output = s * (input - 1) + grow
        blocks_over = -(-grow // s)  # output blocks = input - 1 + blocks_over
        axis = []
        for r in range(s):
            low, high = -((r + begin) // s), (k - 1 - r - begin) // s
            after = blocks_over + (high - low + 1) - 2 - high
            if high < low or high < 0 or after < 0:
                return None
            axis.append(_Phase(low, high, after, s * blocks_over - grow))
        axes.append(axis)
    return axes[0], axes[1]


def _subpixel_nodes(node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None, geometry: _Geometry,
                    phases: tuple[list[_Phase], list[_Phase]]) -> _Builder:
    """The nodes computing `node` (a stride-s ConvTranspose) as s * s stride-1 convs, one per output phase, each
    with exactly the taps that phase reads (no multiplications by the zeros a transposed conv inserts), their
    outputs interleaved by DepthToSpace. With few outputs (an RGB layer), one conv computes every phase over the
    union of their taps instead: more multiply-adds, but 4 * O of 16 channels used, not O."""
    b = _Builder(node.name or node.output[0])
    s, begin = geometry.stride, geometry.pads[:2]
    k, o = weight.shape[2:], weight.shape[1]
    if o <= NARROW:
        axes = [_Phase(min(p.low for p in ps), max(p.high for p in ps), max(p.after for p in ps), ps[0].crop)
                for ps in phases]
        w = np.zeros((s, s, o, weight.shape[0], *(a.high - a.low + 1 for a in axes)), dtype=weight.dtype)
        for rh, rw, qh, qw in np.ndindex(s, s, *w.shape[4:]):
            th, tw = s * (axes[0].high - qh) + rh + begin[0], s * (axes[1].high - qw) + rw + begin[1]
            if 0 <= th < k[0] and 0 <= tw < k[1]:
                w[rh, rw, :, :, qh, qw] = weight[:, :, th, tw].T
        inputs = [node.input[0], b.const(w.reshape(s * s * o, *w.shape[3:]))]
        inputs += [] if bias is None else [b.const(np.tile(bias, s * s))]
        phased = b.op("Conv", *inputs, kernel_shape=list(w.shape[4:]),
                      pads=[axes[0].high, axes[1].high, axes[0].after, axes[1].after])
    else:
        outs = []
        for (rh, ph), (rw, pw) in itertools.product(enumerate(phases[0]), enumerate(phases[1])):
            taps_h = [s * d + rh + begin[0] for d in range(ph.high, ph.low - 1, -1)]
            taps_w = [s * d + rw + begin[1] for d in range(pw.high, pw.low - 1, -1)]
            w = weight[:, :, taps_h][:, :, :, taps_w].transpose(1, 0, 2, 3)  # O x C x taps
            inputs = [node.input[0], b.const(np.ascontiguousarray(w))] + ([] if bias is None else [b.const(bias)])
            outs.append(b.op("Conv", *inputs, kernel_shape=[len(taps_h), len(taps_w)],
                             pads=[ph.high, pw.high, ph.after, pw.after]))
        phased = b.op("Concat", *outs, axis=1)
    crop = (phases[0][0].crop, phases[1][0].crop)
    y = b.op("DepthToSpace", phased, blocksize=s, mode="DCR", output=None if any(crop) else node.output[0])
    if any(crop):
        b.op("Slice", y, b.ints(0, 0), b.ints(-crop[0] or np.iinfo(np.int64).max, -crop[1] or np.iinfo(np.int64).max),
             b.ints(2, 3), output=node.output[0])
    return b


def _output_tiles(model: onnx.ModelProto, convs: list[onnx.NodeProto],
                  probe: dict[str, np.ndarray]) -> dict[str, float]:
    """Each conv's output tiles (TILE x TILE px) in a REFERENCE_SIDE px frame, by name of its output: the sizes
    of one run of the graph on `probe` (a small input: the graphs are fully convolutional, sizes scale with it)."""
    import onnx
    import onnxruntime as ort

    if not convs:
        return {}
    probed = onnx.ModelProto()
    probed.CopyFrom(model)
    names = [node.output[0] for node in convs]
    probed.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    session = ort.InferenceSession(probed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    side = max(x.shape[-1] for x in probe.values() if x.ndim == 4)
    scale = REFERENCE_SIDE / side
    out = session.run(names, probe)
    return {n: float(np.ceil(y.shape[2] * scale / TILE) * np.ceil(y.shape[3] * scale / TILE))
            for n, y in zip(names, out, strict=True)}


def rewrite(model: onnx.ModelProto, probe: dict[str, np.ndarray] | None = None,
            min_channels: int = MIN_CHANNELS) -> dict[str, int]:
    """Rewrite (in place) every Conv of `model`'s graph that one of the rewrites above computes faster (constant
    weights and bias needed); returns how many convs each rewrite took, e.g. {"winograd": 18, "blocked": 1}.

    `probe`: a small input of the graph (name -> array), run once to learn each wide conv's size; without it
    there is no Winograd. `min_channels`: the narrowest conv (in and out) Winograd takes. Initialisers that no
    node reads any more (the replaced biases) are dropped."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    consumers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    outputs = {o.name for o in graph.output}

    def normalised(name: str) -> bool:
        """Whether only InstanceNorms read this tensor: they subtract each channel's mean, a bias with it."""
        return name not in outputs and consumers.get(name) == {"InstanceNormalization"}

    def weight_shape(node: onnx.NodeProto) -> tuple[int, ...] | None:
        """The constant weight's shape of a (transposed) conv with constant weights and bias; None otherwise."""
        if node.op_type not in ("Conv", "ConvTranspose") or len(node.input) < 2 or node.input[1] not in inits:
            return None
        if len(node.input) > 2 and node.input[2] != "" and node.input[2] not in inits:
            return None
        return tuple(inits[node.input[1]].dims)

    def choice(node: onnx.NodeProto, tiles: float | None) -> tuple[str, _Rewrite] | None:
        shape = weight_shape(node)
        return None if shape is None else _rewriter(node, shape, min_channels, tiles)

    # Which convs Winograd would take given enough tiles: only those need the probe's sizes
    candidates = [n for n in graph.node if (c := choice(n, float("inf"))) is not None and c[0] == "winograd"]
    tiles = {} if probe is None else _output_tiles(model, candidates, probe)
    nodes: list[onnx.NodeProto] = []
    counts: dict[str, int] = {}
    for node in graph.node:
        chosen = choice(node, tiles.get(node.output[0]))
        if chosen is None:
            nodes.append(node)
            continue
        name, build = chosen
        weight = numpy_helper.to_array(inits[node.input[1]])
        has_bias = len(node.input) > 2 and node.input[2] != ""
        # A bias before an InstanceNorm changes nothing; in a rewrite it would cost its own pass over the output
        keep_bias = has_bias and not normalised(node.output[0])
        built = build(node, weight, numpy_helper.to_array(inits[node.input[2]]) if keep_bias else None)
        nodes += built.nodes
        graph.initializer.extend(built.inits)
        counts[name] = counts.get(name, 0) + 1
    del graph.node[:]
    graph.node.extend(nodes)
    # Drop what no node reads any more (the replaced biases), in place: copying would copy every weight
    used = {name for node in graph.node for name in node.input}
    for i in reversed(range(len(graph.initializer))):
        if graph.initializer[i].name not in used:
            del graph.initializer[i]
    return counts
