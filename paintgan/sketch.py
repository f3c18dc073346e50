"""Line drawings from pictures: the sketch layer a person would have drawn over a photo.

Ink convention (as the sketch layer): `uint8` HxW, 0 = no ink, 255 = full ink; a sketch model sees
`255 - ink`, black lines on white.

Both extractors work at a fixed detail level: pictures larger than `WORK_SIDE` on their long side are
reduced to it first and the ink is scaled back up, so a 4096 px photo gives the same drawing as a 640 px one
(with proportionally wider lines) and costs about the same. Before finding lines, texture (grass, foliage,
rock grain, JPEG noise) is flattened by a small median and two edge-preserving bilateral passes: people draw
the outlines of things, not every blade of grass.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from paintgan.errors import InputError

WORK_SIDE = 640
Method = Literal["xdog", "canny"]


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise InputError(f"line extraction needs a uint8 picture, got {getattr(rgb, 'dtype', type(rgb))}")
    if rgb.ndim == 2:
        return np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim == 3 and rgb.shape[2] in (3, 4):
        return np.ascontiguousarray(rgb[:, :, :3])
    raise InputError(f"line extraction needs an HxW or HxWx3 picture, got shape {rgb.shape}")


def _work_gray(rgb: np.ndarray, work_side: int) -> np.ndarray:
    """Texture-flattened lightness in [0, 1] at the working size, its contrast stretched (1st-99th pct)."""
    h, w = rgb.shape[:2]
    scale = work_side / max(h, w)
    img = rgb
    if scale < 1:
        img = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    img = cv2.medianBlur(img, 3)
    for _ in range(2):
        img = cv2.bilateralFilter(img, 7, 20, 3)
    light = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
    lo, hi = np.percentile(light, (1, 99))
    return np.clip((light - lo) / max(float(hi - lo), 1.0), 0.0, 1.0)


def _keep_strokes(ink: np.ndarray, min_length: float, seed_ink: int) -> np.ndarray:
    """Drop specks and faint dashes: a stroke stays if it spans `min_length` px and is dark somewhere."""
    count, comp, stats, _ = cv2.connectedComponentsWithStats((ink > 40).astype(np.uint8), connectivity=8)
    peak = np.zeros(count, dtype=np.uint8)
    np.maximum.at(peak, comp.ravel(), ink.ravel())
    span = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = (peak >= seed_ink) & (span >= min_length)
    keep[0] = False  # background
    return np.where(keep[comp], ink, 0).astype(np.uint8)


def _to_size(ink: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    if ink.shape == (h, w):
        return ink
    return cv2.resize(ink, (w, h), interpolation=cv2.INTER_LINEAR)


def xdog_lines(rgb: np.ndarray, sigma: float = 1.0, k: float = 1.6, tau: float = 0.99, epsilon: float = -0.003,
               phi: float = 200.0, min_length: float = 16.0, seed_ink: int = 160,
               work_side: int = WORK_SIDE) -> np.ndarray:
    """eXtended Difference of Gaussians (Winnemöller et al. 2012) in its line mode.

    D = G_sigma - tau * G_{k sigma} of the lightness; ink = 0 where D >= epsilon, else 1 - (1 + tanh(phi *
    (D - epsilon))), i.e. a soft threshold that gives dark, tapered lines on the darker side of each edge.
    `sigma` (in working pixels) sets line width, `epsilon` how faint an edge still gets a line, `phi` how
    soft the line edges are. Lengths are in working pixels.
    """
    src = _as_rgb(rgb)
    gray = _work_gray(src, work_side)
    fine = cv2.GaussianBlur(gray, (0, 0), sigma)
    coarse = cv2.GaussianBlur(gray, (0, 0), sigma * k)
    dog = fine - tau * coarse
    tone = np.where(dog >= epsilon, 1.0, 1.0 + np.tanh(phi * (dog - epsilon)))
    ink = np.clip(np.rint((1.0 - tone) * 255.0), 0, 255).astype(np.uint8)
    return _to_size(_keep_strokes(ink, min_length, seed_ink), src.shape)


def canny_lines(rgb: np.ndarray, low: float | None = None, high: float | None = None, min_length: float = 16.0,
                work_side: int = WORK_SIDE) -> np.ndarray:
    """Canny edges (one pixel wide at the working size) of the texture-flattened lightness.

    Without thresholds, `high` is the 90th percentile of the gradient magnitude and `low` 40 % of it, so dim
    and bright pictures get a similar amount of line.
    """
    src = _as_rgb(rgb)
    gray = np.rint(_work_gray(src, work_side) * 255.0).astype(np.uint8)
    if high is None:
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        high = max(float(np.percentile(np.hypot(gx, gy), 90)), 20.0)
    if low is None:
        low = 0.4 * high
    edges = cv2.Canny(gray, low, high, L2gradient=True)
    return _to_size(_keep_strokes(edges, min_length, 255), src.shape)


def image_to_sketch(rgb: np.ndarray, method: Method = "xdog") -> np.ndarray:
    """The sketch layer (ink) for a picture: "xdog" looks hand-drawn, "canny" gives thin exact edges."""
    if method == "xdog":
        return xdog_lines(rgb)
    if method == "canny":
        return canny_lines(rgb)
    raise InputError(f"unknown line method '{method}'; expected 'xdog' or 'canny'")


def outline_labels(indices: np.ndarray, rng: np.random.Generator, *, width: tuple[int, int] = (1, 4),
                   wobble: float = 1.5, gaps: float = 0.15) -> np.ndarray:
    """The ink a person draws to outline the regions of a label map: every class boundary, once.

    Hand lines are not the exact boundary: the map is bent by a smooth random field of up to `wobble` px before
    its boundaries are taken, the pen is `width` px (a range: drawn once per sheet), and with probability `gaps`
    the pen lifts on a few short stretches, so a model trained on these also accepts outlines that do not close.
    """
    if indices.ndim != 2:
        raise InputError(f"outlines need an HxW label map, got shape {indices.shape}")
    h, w = indices.shape
    labels = indices.astype(np.int32)
    if wobble > 0:
        coarse = rng.normal(0.0, wobble, size=(2, max(2, h // 24), max(2, w // 24))).astype(np.float32)
        dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        labels = cv2.remap(labels.astype(np.float32), gx + dx, gy + dy, cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.int32)
    edge = np.zeros((h, w), dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    pen = int(rng.integers(width[0], width[1] + 1))
    ink = edge.astype(np.uint8) * 255
    if pen > 1:
        ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)))
    if rng.random() < gaps:
        for _ in range(int(rng.integers(1, 6))):
            cx, cy, r = int(rng.integers(w)), int(rng.integers(h)), int(rng.integers(3, 3 + max(h, w) // 32))
            cv2.circle(ink, (cx, cy), r, 0, -1)
    return ink
