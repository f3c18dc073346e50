"""Procedural landscape label maps that look like what a person paints with a round brush.

The maps imitate the hand-painted `eval_maps/`: a wobbly horizon, a sky with blobby clouds, ridged mountain
ranges with jagged snow caps, tree lines of round blobs at the foot of the mountains, ground bands (grass,
water, sand, snow, dirt) with wavy edges, paths that narrow toward the horizon, lakes, rocks and trees whose
size grows toward the viewer. Everything is drawn crisp (no anti-aliasing), as the app's brush does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from paintgan.errors import InputError
from paintgan.labels import colourize as _colourize
from paintgan.labels import landscape_labelset

LABEL_SET = landscape_labelset()
# Class indices of the ten-class landscape label set (`eval_maps/labels.json`), looked up by name.
CLASS_NAMES = tuple(label.name for label in LABEL_SET)
SKY, CLOUD, MOUNTAIN, ROCK, SNOW, WATER, GRASS, TREE, SAND, DIRT = (
    LABEL_SET.by_name(n).index for n in ("sky", "cloud", "mountain", "rock", "snow", "water", "grass", "tree",
                                         "sand", "dirt"))
# Classes lying flat on the ground plane: what a water surface cannot mirror and what perspective shrinks.
GROUND = (WATER, GRASS, SAND, DIRT)

MIN_SIZE = 32


@dataclass(frozen=True)
class Scene:
    """A painted label map and the layout facts the picture composer needs."""

    labels: np.ndarray  # uint8 HxW class indices
    horizon: int  # row where the ground meets the sky or the foot of the mountains
    kind: str  # "meadow", "lake", "sea", "desert", "snowfield", "valley"


def _smooth_noise(rng: np.random.Generator, n: int, knots: int) -> np.ndarray:
    """1-D noise in [-1, 1]: random knots joined by cubic interpolation."""
    k = rng.uniform(-1.0, 1.0, knots + 3)
    x = np.linspace(1.0, knots + 1.0, n)
    i = np.floor(x).astype(int)
    t = x - i
    p0, p1, p2, p3 = k[i - 1], k[i], k[i + 1], k[np.minimum(i + 2, knots + 2)]
    # Catmull-Rom spline through the knots.
    return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)


def _fractal(rng: np.random.Generator, n: int, octaves: int = 4, base: int = 3, rough: float = 0.5) -> np.ndarray:
    out = np.zeros(n)
    amp = 1.0
    for o in range(octaves):
        out += amp * _smooth_noise(rng, n, base * 2**o)
        amp *= rough
    return out / (2 - rough ** (octaves - 1))


def _disc(lab: np.ndarray, cx: float, cy: float, r: float, cls: int) -> None:
    cv2.circle(lab, (int(round(cx)), int(round(cy))), max(1, int(round(r))), int(cls), -1, lineType=cv2.LINE_8)


def _blob(lab: np.ndarray, rng: np.random.Generator, cx: float, cy: float, r: float, cls: int, n: int,
          flat_bottom: bool = False) -> None:
    """A cluster of round dabs, as a round brush paints a tree crown, a cloud or a boulder."""
    m = np.zeros(lab.shape, np.uint8)
    _disc(m, cx, cy, r, 1)
    for _ in range(n - 1):
        a = rng.uniform(0, 2 * np.pi)
        d = rng.uniform(0.3, 0.9) * r
        dy = -abs(d * np.sin(a)) * 0.8 if flat_bottom else d * np.sin(a)
        _disc(m, cx + d * np.cos(a) * 1.3, cy + dy, r * rng.uniform(0.5, 0.95), 1)
    if flat_bottom:
        # Cumulus clouds are flat underneath: cut what hangs below the base line.
        m[max(0, int(round(cy + r * rng.uniform(0.35, 0.7)))):] = 0
    lab[m == 1] = cls


def _fill_below(lab: np.ndarray, edge: np.ndarray, cls: int, stop: np.ndarray | None = None) -> None:
    """Paint class `cls` in every column from row edge[x] down (to stop[x] if given)."""
    h = lab.shape[0]
    rows = np.arange(h)[:, None]
    m = rows >= edge[None, :]
    if stop is not None:
        m &= rows < stop[None, :]
    lab[m] = cls


def _ridge(rng: np.random.Generator, w: int, base: float, height: float, peaks: int) -> np.ndarray:
    """A mountain ridgeline: overlapping triangular peaks roughened by fractal noise (row of the ridge per column)."""
    x = np.arange(w, dtype=np.float64)
    top = np.full(w, base)
    px = np.sort(rng.uniform(-0.1 * w, 1.1 * w, peaks))
    for p in px:
        ph = height * rng.uniform(0.45, 1.0)
        slope = rng.uniform(0.55, 1.5)
        asym = rng.uniform(0.7, 1.4)
        d = np.where(x < p, (p - x) * slope, (x - p) * slope * asym)
        top = np.minimum(top, base - ph + d)
    rough = _fractal(rng, w, octaves=5, base=6, rough=0.55) * height * rng.uniform(0.04, 0.1)
    return np.minimum(top + rough, base)


def _snow_caps(lab: np.ndarray, rng: np.random.Generator, ridge: np.ndarray, base: float, mask_cls: int) -> None:
    """Jagged white caps on the peaks that rise above a snow line."""
    h, w = lab.shape
    peak = ridge.min()
    line = peak + (base - peak) * rng.uniform(0.25, 0.6)
    jag = _fractal(rng, w, octaves=5, base=10, rough=0.7) * (base - peak) * rng.uniform(0.08, 0.2)
    # Snow reaches further down the gullies than on the faces: deep sharp teeth, as painted.
    teeth = np.abs(_smooth_noise(rng, w, int(rng.integers(12, 30)))) * (base - peak) * rng.uniform(0.05, 0.2)
    snowline = np.clip(line + jag + teeth, 0, h)
    rows = np.arange(h)[:, None]
    m = (rows >= ridge[None, :]) & (rows < snowline[None, :]) & (lab == mask_cls)
    lab[m] = SNOW


def _tree_line(lab: np.ndarray, rng: np.random.Generator, y: np.ndarray, r: float, density: float,
               x0: int = 0, x1: int | None = None) -> None:
    """A band of round tree crowns along the row profile y[x] (the foot of mountains, a far shore)."""
    w = lab.shape[1]
    x1 = w if x1 is None else x1
    x = float(x0)
    gap_p = rng.uniform(0.0, 0.25)
    while x < x1:
        rr = r * rng.uniform(0.6, 1.3)
        if rng.random() > gap_p:
            xi = int(min(max(x, 0), w - 1))
            _disc(lab, x, y[xi] - rr * rng.uniform(0.0, 0.6), rr, TREE)
        x += rr * rng.uniform(0.8, 2.2) / density


def _path(lab: np.ndarray, rng: np.random.Generator, horizon: float, cls: int, width: float) -> None:
    """A path or stream: a bent band that starts wide at the bottom edge and narrows into the distance."""
    h, w = lab.shape
    top = horizon + 2
    n = 24
    t = np.linspace(0.0, 1.0, n)
    xb = rng.uniform(0.15, 0.85) * w
    xt = np.clip(xb + rng.uniform(-0.4, 0.4) * w, 0.05 * w, 0.95 * w)
    bend = rng.uniform(-0.3, 0.3) * w
    xs = xb + (xt - xb) * t + bend * np.sin(np.pi * t) * rng.uniform(0.5, 1.0)
    # Perspective: equal steps along the ground crowd together toward the horizon.
    ys = h + 2 - (h + 2 - top) * (1 - (1 - t) ** 1.7)
    half = 0.5 * width * (1 - t) ** 1.3 + 0.6
    left = np.stack([xs - half, ys], 1)
    right = np.stack([xs + half, ys], 1)[::-1]
    pts = np.round(np.concatenate([left, right])).astype(np.int32)
    cv2.fillPoly(lab, [pts], int(cls), lineType=cv2.LINE_8)


def _wobble(lab: np.ndarray, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Shake every edge a little with a smooth random warp, as a hand-held brush does."""
    h, w = lab.shape
    g = max(4, w // 24)
    d = rng.normal(0, 1, (2, g, g)).astype(np.float32)
    dx = cv2.resize(d[0], (w, h), interpolation=cv2.INTER_CUBIC) * amp
    dy = cv2.resize(d[1], (w, h), interpolation=cv2.INTER_CUBIC) * amp
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(lab, gx + dx, gy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


KINDS = ("meadow", "lake", "sea", "desert", "snowfield", "valley")
KIND_WEIGHTS = (0.24, 0.22, 0.18, 0.12, 0.08, 0.16)


def generate_scene(rng: np.random.Generator, size: int = 256, kind: str | None = None) -> Scene:
    """Paint one random landscape label map of `size` x `size` pixels."""
    if size < MIN_SIZE:
        raise InputError(f"scene size {size} is too small; expected at least {MIN_SIZE} pixels")
    if kind is None:
        kind = str(rng.choice(KINDS, p=KIND_WEIGHTS))
    elif kind not in KINDS:
        raise InputError(f"unknown scene kind {kind!r}; expected one of {', '.join(KINDS)}")
    s = float(size)
    w = h = size
    lab = np.full((h, w), SKY, np.uint8)
    horizon = s * rng.uniform(0.32, 0.66)
    if rng.random() < 0.08:
        horizon = s * rng.uniform(0.18, 0.32)

    # Clouds: painted first so that mountains cover them.
    n_clouds = int(rng.choice([0, 1, 2, 3, 4, 6], p=[0.12, 0.2, 0.25, 0.2, 0.15, 0.08]))
    for _ in range(n_clouds):
        r = s * rng.uniform(0.025, 0.07)
        cy = rng.uniform(0.04 * s, max(0.06 * s, horizon - 0.12 * s))
        cx = rng.uniform(-0.05, 1.05) * s
        _blob(lab, rng, cx, cy, r, CLOUD, int(rng.integers(2, 7)), flat_bottom=rng.random() < 0.5)

    # Mountains: up to two ranges, the second lower and painted in front of the first.
    has_mountains = rng.random() < {"meadow": 0.55, "lake": 0.75, "sea": 0.3, "desert": 0.35,
                                    "snowfield": 0.9, "valley": 1.0}[kind]
    if has_mountains:
        ranges = 1 if rng.random() < 0.6 else 2
        for i in range(ranges):
            height = s * rng.uniform(0.08, 0.28) * (1.0 if i == 0 else 0.6)
            height = min(height, horizon - 0.05 * s)
            if height < 0.03 * s:
                break
            ridge = _ridge(rng, w, horizon, height, int(rng.integers(2, 8)))
            cls = MOUNTAIN if rng.random() < 0.88 or kind == "snowfield" else ROCK
            _fill_below(lab, np.round(ridge).astype(int), cls, np.full(w, int(horizon) + 3))
            snow_p = {"snowfield": 0.95, "desert": 0.1, "sea": 0.3}.get(kind, 0.6)
            if rng.random() < snow_p:
                _snow_caps(lab, rng, ridge, horizon, cls)
    if kind == "desert" and rng.random() < 0.3:
        # Mesas and buttes: flat-topped rock blocks standing on the horizon.
        for _ in range(int(rng.integers(1, 3))):
            cx = rng.uniform(0.1, 0.9) * s
            bw = rng.uniform(0.08, 0.25) * s
            bh = rng.uniform(0.06, 0.15) * s
            tw = bw * rng.uniform(0.55, 0.9)
            pts = np.array([[cx - bw / 2, horizon + 2], [cx - tw / 2, horizon - bh], [cx + tw / 2, horizon - bh],
                            [cx + bw / 2, horizon + 2]], np.int32)
            cv2.fillPoly(lab, [pts], ROCK)

    # Ground bands from the horizon down, each with a wavy top edge.
    def edge(y0: float, amp: float) -> np.ndarray:
        return np.round(y0 + _fractal(rng, w, 3, 2, 0.5) * amp).astype(int)

    hz = edge(horizon, s * rng.uniform(0.0, 0.012))
    main = {"meadow": GRASS, "lake": GRASS, "sea": WATER, "desert": SAND, "snowfield": SNOW,
            "valley": GRASS}[kind]
    if kind == "meadow" and rng.random() < 0.2:
        main = DIRT if rng.random() < 0.4 else SAND
    _fill_below(lab, hz, main)
    near = s - horizon
    water_bottom = None
    if kind == "sea":
        shore = horizon + near * rng.uniform(0.2, 0.7)
        water_bottom = edge(shore, s * rng.uniform(0.01, 0.05))
        beach = SAND if rng.random() < 0.7 else int(rng.choice([GRASS, ROCK, DIRT]))
        _fill_below(lab, water_bottom, beach)
        if beach == SAND and rng.random() < 0.35:
            _fill_below(lab, edge(shore + near * rng.uniform(0.25, 0.5), s * 0.03), GRASS)
    elif kind == "lake":
        far = horizon + near * rng.uniform(0.0, 0.12)
        water_top = edge(far, s * 0.01)
        water_bottom = edge(far + near * rng.uniform(0.2, 0.6), s * rng.uniform(0.01, 0.05))
        _fill_below(lab, water_top, WATER, water_bottom)
        if rng.random() < 0.4:
            _fill_below(lab, water_bottom, SAND, edge(float(water_bottom.mean()) + near * 0.06, s * 0.02))
    elif kind == "valley" and rng.random() < 0.5:
        _path(lab, rng, horizon, WATER, s * rng.uniform(0.08, 0.3))
    elif kind in ("meadow", "valley") and rng.random() < 0.3:
        # A pond or lake lying in the field: a union of flattened ellipses.
        cx, cy = rng.uniform(0.2, 0.8) * s, horizon + near * rng.uniform(0.3, 0.7)
        for _ in range(int(rng.integers(1, 4))):
            ax = (s * rng.uniform(0.1, 0.3), near * rng.uniform(0.06, 0.2))
            c = (int(cx + rng.uniform(-0.15, 0.15) * s), int(cy + rng.uniform(-0.05, 0.05) * s))
            cv2.ellipse(lab, c, (int(ax[0]), int(ax[1])), 0, 0, 360, WATER, -1)
    if kind == "desert" and rng.random() < 0.3:
        _fill_below(lab, edge(horizon + near * rng.uniform(0.3, 0.7), s * 0.04), DIRT)

    # A tree line along the foot of the mountains or the far shore.
    tl_p = {"desert": 0.05, "sea": 0.2, "snowfield": 0.6}.get(kind, 0.6)
    if rng.random() < tl_p:
        r = s * rng.uniform(0.01, 0.03)
        x0 = 0 if rng.random() < 0.6 else int(rng.uniform(0, 0.5) * s)
        x1 = w if rng.random() < 0.6 else int(rng.uniform(0.5, 1.0) * s)
        _tree_line(lab, rng, hz + r * rng.uniform(0.2, 0.9), r, rng.uniform(0.7, 1.6), x0, x1)

    # Paths.
    if kind in ("meadow", "valley", "snowfield", "desert") and rng.random() < 0.4:
        _path(lab, rng, horizon, DIRT, s * rng.uniform(0.05, 0.18))

    # Single trees and bushes, larger toward the viewer.
    n_trees = int(rng.choice([0, 1, 2, 3, 5, 8], p=[0.3, 0.2, 0.18, 0.14, 0.1, 0.08]))
    if kind in ("desert", "sea"):
        n_trees = n_trees // 3
    for _ in range(n_trees):
        depth = rng.uniform(0.05, 1.0) ** 0.8
        cy = horizon + near * depth
        r = s * (0.015 + 0.09 * depth) * rng.uniform(0.6, 1.2)
        cx = rng.uniform(0, 1) * s
        if water_bottom is not None and cy < water_bottom[int(min(max(cx, 0), w - 1))] + r:
            continue
        _blob(lab, rng, cx, cy - r, r, TREE, int(rng.integers(2, 6)))

    # Rocks and boulders.
    rock_p = {"sea": 0.6, "desert": 0.3, "lake": 0.35, "valley": 0.35}.get(kind, 0.2)
    if rng.random() < rock_p:
        for _ in range(int(rng.integers(1, 5))):
            depth = rng.uniform(0.1, 1.0)
            r = s * (0.015 + 0.07 * depth) * rng.uniform(0.6, 1.3)
            _blob(lab, rng, rng.uniform(0, 1) * s, horizon + near * depth, r, ROCK, int(rng.integers(1, 4)))

    lab = _wobble(lab, rng, s * rng.uniform(0.004, 0.012))
    return Scene(labels=lab, horizon=int(round(horizon)), kind=kind)


def colourize(labels: np.ndarray) -> np.ndarray:
    """The label map in the palette colours, as the app shows it (HxWx3 uint8)."""
    return _colourize(labels, LABEL_SET)
