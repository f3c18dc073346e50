"""Compose a photo-like picture for a label map from real photo textures.

Every class present gets a full-frame layer cut from one of its texture patches; the layers are then mixed
with per-class soft masks so that boundaries are feathered where nature has them (cloud edges, shorelines,
grass into sand) and stay sharp where it has not (a ridge against the sky). On top of plain texture fill:

* perspective: ground textures are sampled with a texel size that shrinks like 1/distance toward the horizon;
* lighting: a sky gradient that brightens into haze at the horizon, aerial perspective on mountains and far
  ground, faceted light and shade on ridges (from the distance transform, whose ridges follow the painted ones),
  rounded shading on tree crowns, clouds and boulders;
* reflections: water mirrors what stands above its shoreline (column by column), rippled, darkened and
  mixed with the water texture more toward the viewer (Fresnel).
"""

from __future__ import annotations

import cv2
import numpy as np

from paintgan.datagen.scenes import CLOUD, GROUND, MOUNTAIN, ROCK, SKY, SNOW, TREE, WATER
from paintgan.datagen.textures import TextureBank
from paintgan.errors import InputError

# Feather width (Gaussian sigma, in pixels at 256 px) of each class's mask: what a class bleeds into its
# neighbours. Clouds are soft, grass and sand fade into each other, ridges and tree crowns stay crisp.
SOFTNESS = (0.6, 2.6, 0.5, 0.7, 0.9, 1.0, 2.0, 0.7, 2.2, 1.8)  # indexed by class
N_CLASSES = 10


def estimate_horizon(labels: np.ndarray) -> int:
    """Row where the ground begins: the median over columns of the first ground-class row."""
    h = labels.shape[0]
    ground = np.isin(labels, GROUND)
    has = ground.any(axis=0)
    if not has.any():
        return int(h * 0.6)
    first = np.argmax(ground, axis=0)[has]
    return int(np.median(first))


def _texel_rows(h: int, horizon: int, base: float) -> np.ndarray:
    """Texture pixels per output pixel for every row: ~1/distance on the ground plane, constant above it."""
    y = np.arange(h, dtype=np.float32)
    near = max(h - horizon, 1)
    # Far rows read 3x more texels than the bottom row: enough to feel depth, little enough to avoid blur.
    d0 = 0.5 * near
    k = near + d0
    tpp = base * k / (np.maximum(y - horizon, 0.0) + d0)
    return tpp.astype(np.float32)


def _pyramid(tex: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    out = [np.ascontiguousarray(tex)]
    for _ in range(levels - 1):
        if min(out[-1].shape[:2]) < 8:
            break
        out.append(cv2.pyrDown(out[-1], borderType=cv2.BORDER_WRAP))
    return out


def _sample(pyr: list[np.ndarray], rng: np.random.Generator, tpp: np.ndarray, w: int) -> np.ndarray:
    """A full-frame layer from a texture pyramid, sampled with the per-row texel size `tpp`."""
    h = tpp.shape[0]
    th, tw = pyr[0].shape[:2]
    x = np.arange(w, dtype=np.float32)[None, :] - w / 2
    u = x * tpp[:, None] + rng.uniform(0, tw)
    v = np.cumsum(tpp)[:, None] * 0.8 + rng.uniform(0, th)
    # Bank textures are periodic: wrap, never mirror (mirroring shows as kaleidoscope patterns).
    u = np.broadcast_to(u % tw, (h, w)).astype(np.float32)
    v = np.broadcast_to(v % th, (h, w)).astype(np.float32)
    # Trilinear-style: read the two pyramid levels around each row's texel size and mix them.
    lod = np.clip(np.log2(np.maximum(tpp, 1e-3)) - 0.3, 0, len(pyr) - 1)
    out = np.zeros((h, w, 3), np.float32)
    for i, level in enumerate(pyr):
        wgt = np.clip(1 - np.abs(lod - i), 0, 1)
        rows = wgt > 0
        if not rows.any():
            continue
        f = 0.5**i
        part = cv2.remap(level, u[rows] * f, v[rows] * f, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        out[rows] += part * wgt[rows][:, None, None]
    return out


def _noise(rng: np.random.Generator, h: int, w: int, gh: int, gw: int) -> np.ndarray:
    return cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _dist(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    if m.all():
        # Nothing outside the shape is in view (a map of one class): measure to the frame instead of infinity.
        return cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return cv2.distanceTransform(m, cv2.DIST_L2, 3)


def _dome_shade(mask: np.ndarray, strength: float, radius: float) -> np.ndarray:
    """Light from above on round shapes: lit tops, darker rims and undersides."""
    d = cv2.GaussianBlur(_dist(mask), (0, 0), 1.5)
    gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    core = np.minimum(d / radius, 1.0)
    return (1.0 + strength * (np.tanh(2 * gy) * 0.6 + (core - 0.6) * 0.7))[..., None]


def _facet_shade(mask: np.ndarray, strength: float, light_from_left: bool) -> np.ndarray:
    """Sunlit and shaded faces either side of every ridge of a mountain mask."""
    d = cv2.GaussianBlur(_dist(mask), (0, 0), 1.2)
    gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    if not light_from_left:
        gx = -gx
    return (1.0 + strength * np.tanh(1.5 * gx))[..., None]


def _sky_layer(bank: TextureBank, rng: np.random.Generator, h: int, w: int, horizon: int) -> np.ndarray:
    patch = bank.pick(rng, SKY).image
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    sh = max(horizon, 8)
    # Keep the patch's own vertical gradient, but blur away any grain: a clear sky is smooth.
    sky = cv2.resize(np.ascontiguousarray(patch), (w, sh), interpolation=cv2.INTER_AREA)
    sky = cv2.GaussianBlur(sky, (0, 0), 3.0)
    if sh < h:
        sky = np.concatenate([sky, np.repeat(sky[-1:], h - sh, axis=0)])
    y = np.arange(h, dtype=np.float32)[:, None, None]
    glow = np.clip(y / sh, 0, 1) ** 2.5 * rng.uniform(0.15, 0.45)
    haze = np.array([0.93, 0.95, 0.97], np.float32)
    return sky[:h] * (1 - glow) + haze * glow


def _reflect(img: np.ndarray, labels: np.ndarray, sky: np.ndarray, horizon: int,
             rng: np.random.Generator) -> np.ndarray:
    """Mirror image of what stands above each column's shoreline, rippled and softened."""
    h, w = labels.shape
    water = labels == WATER
    rows = np.arange(h)[:, None]
    # Last non-water row above each pixel: the shoreline the pixel mirrors about.
    shore = np.maximum.accumulate(np.where(water, -1, rows), axis=0)
    dist = (rows - shore).astype(np.float32)
    src_y = shore - dist + 1
    amp = 0.4 + 0.05 * dist
    dx = _noise(rng, h, w, max(h // 3, 2), max(w // 24, 2)) * amp
    dy = _noise(rng, h, w, max(h // 3, 2), max(w // 24, 2)) * (0.3 + 0.02 * dist)
    gx = np.arange(w, dtype=np.float32)[None, :] + dx
    gy = np.clip(src_y + dy, 0, h - 1).astype(np.float32)
    refl = cv2.remap(img, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # Flat ground lies at the water's level and shows no mirror image: the sky beyond it does, and the sky,
    # being infinitely far, mirrors about the horizon rather than about the shore.
    src_lab = labels[np.clip(np.round(gy), 0, h - 1).astype(int), np.clip(np.round(gx), 0, w - 1).astype(int)]
    flat = np.isin(src_lab, GROUND)
    sky_rows = np.clip(2 * horizon - rows, 0, max(horizon - 1, 0))
    refl[flat] = np.broadcast_to(sky[sky_rows, np.arange(w)[None, :]], refl.shape)[flat]
    return cv2.GaussianBlur(refl, (1, 5), 0)


def compose(labels: np.ndarray, bank: TextureBank, rng: np.random.Generator, horizon: int | None = None) -> np.ndarray:
    """The picture for a label map: HxWx3 uint8 RGB."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise InputError(f"label map must be a 2-D uint8 index array; got {labels.dtype} {labels.shape}")
    if labels.max() >= N_CLASSES:
        raise InputError(f"label map holds index {int(labels.max())}; expected indices below {N_CLASSES}")
    h, w = labels.shape
    px = w / 256.0
    hz = estimate_horizon(labels) if horizon is None else int(np.clip(horizon, 1, h - 1))
    present = [int(c) for c in np.unique(labels)]
    tpp = _texel_rows(h, hz, rng.uniform(1.3, 2.0) / px)
    rows = np.arange(h, dtype=np.float32)[:, None, None]

    sky = _sky_layer(bank, rng, h, w, hz)
    horizon_colour = sky[min(hz, h - 1)].mean(axis=0)
    layers: dict[int, np.ndarray] = {SKY: sky}

    def textured(cls: int, scale: float = 1.0, flat: bool = False) -> np.ndarray:
        t = bank.pick(rng, cls).image
        if rng.random() < 0.5:
            t = t[:, ::-1]
        rows_tpp = np.full_like(tpp, tpp[min(hz, h - 1)]) if flat else tpp
        layer = _sample(_pyramid(t), rng, rows_tpp * scale, w)
        # White things stay white; coloured ones vary a little in tint from scene to scene.
        tint = 0.01 if cls in (CLOUD, SNOW) else 0.05
        return layer * rng.uniform(1 - tint, 1 + tint, 3).astype(np.float32)

    def haze(layer: np.ndarray, amount: np.ndarray | float) -> np.ndarray:
        return layer * (1 - amount) + horizon_colour * amount

    # Aerial perspective on the ground: strongest at the horizon, gone a fifth of the way down.
    ground_haze = np.clip(1 - (rows - hz) / (0.2 * (h - hz) + 1), 0, 1) * rng.uniform(0.1, 0.35)

    relief = np.isin(labels, (MOUNTAIN, SNOW)) | ((labels == ROCK) & (np.arange(h)[:, None] < hz))
    if relief.any():
        light_left = bool(rng.random() < 0.5)
        facets = _facet_shade(relief | (np.arange(h)[:, None] >= hz), rng.uniform(0.08, 0.22), light_left)
        top = int(np.argmax(relief.any(axis=1)))
        depth = np.clip((rows - top) / max(hz - top, 1), 0, 1)
        mist = rng.uniform(0.05, 0.2) + depth * rng.uniform(0.05, 0.35)
    for cls in present:
        if cls in (SKY, WATER):
            continue
        if cls == CLOUD:
            layer = textured(CLOUD, 0.8, flat=True)
            layer = 0.8 * layer + 0.2 * sky
            layer = layer * _dome_shade(labels == CLOUD, 0.25, 6 * px)
        elif cls in (MOUNTAIN, SNOW):
            layer = textured(cls, 1.0, flat=True)
            if cls == SNOW:
                layer = 0.6 * layer + 0.4 * np.float32(0.97)
                shade = facets * np.array([0.97, 0.99, 1.03], np.float32)
            else:
                shade = facets
            layer = haze(np.clip(layer * shade, 0, 1), mist * (0.6 if cls == SNOW else 1.0))
            if cls == SNOW:
                # Snow on the ground below the horizon is seen in perspective, like other ground.
                ground_snow = textured(SNOW) * 0.6 + 0.4 * np.float32(0.97)
                layer = np.where(rows > hz + 2, haze(ground_snow, ground_haze), layer)
        elif cls == TREE:
            layer = textured(TREE, 1.6) * rng.uniform(0.85, 1.05)
            layer = layer * _dome_shade(labels == TREE, 0.25, 5 * px)
            layer = haze(layer, ground_haze * 0.8 + np.where(rows < hz + 4 * px, 0.12, 0.0))
        elif cls == ROCK:
            layer = textured(ROCK)
            above = rows < hz
            boulders = layer * _dome_shade(labels == ROCK, 0.3, 6 * px)
            cliffs = np.clip(layer * facets, 0, 1) if relief.any() else layer
            layer = np.where(above, haze(cliffs, mist if relief.any() else 0.15), haze(boulders, ground_haze))
        else:  # grass, sand, dirt
            layer = haze(textured(cls), ground_haze)
        layers[cls] = layer

    if WATER in present:
        hard = np.zeros((h, w, 3), np.float32)
        for cls, layer in layers.items():
            m = labels == cls
            hard[m] = layer[m]
        refl = _reflect(hard, labels, sky, hz, rng) * rng.uniform(0.7, 0.9)
        surface = textured(WATER)
        depth = np.clip((rows - hz) / max(h - hz, 1), 0, 1)
        mirror = rng.uniform(0.5, 0.9) * (1 - 0.55 * depth)
        layers[WATER] = haze(surface * (1 - mirror) + refl * mirror, ground_haze * 0.7)

    acc = np.zeros((h, w, 3), np.float32)
    norm = np.zeros((h, w, 1), np.float32)
    for cls, layer in layers.items():
        m = (labels == cls).astype(np.float32)
        if not m.any():
            continue
        wgt = cv2.GaussianBlur(m, (0, 0), SOFTNESS[cls] * px)[..., None] + 1e-6 * m[..., None]
        acc += wgt * layer
        norm += wgt
    img = acc / np.maximum(norm, 1e-6)

    # One light for the whole scene: a mild white balance and exposure shift.
    warm = rng.normal(0, 0.035)
    img = img * np.array([1 + warm, 1.0, 1 - warm], np.float32) * rng.uniform(0.92, 1.06)
    img = img + rng.normal(0, 0.008, img.shape).astype(np.float32)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)

