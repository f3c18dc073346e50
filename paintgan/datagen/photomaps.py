"""Real photo pairs: label maps for a few shared photos, painted coarsely by hand and refined by colour.

Each photo's map is a list of shapes painted in order, like a person paints in the app, stored as data below
(polygons in percent of the photo's width and height). A shape names one class (the person is sure) or
several (`("mountain", "snow")`: "these, decide per pixel"). The refinement then
1. widens every boundary into a band of undecided pixels (a hand-drawn line is never exactly on the edge),
2. fits a colour model (CIE Lab mean and spread) to each class from its sure pixels in the same photo, and
3. gives every undecided pixel the candidate class whose model fits its colour best.
The result is checked by eye on an overlay sheet before use (see docs/data/SCENES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from paintgan.datagen.scenes import LABEL_SET
from paintgan.errors import DataError

Polygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Shape:
    classes: tuple[str, ...]  # one class: sure; several: decided per pixel by colour
    polygon: Polygon  # (x, y) in percent of the photo's width and height


def _s(classes: str, *pts: tuple[float, float]) -> Shape:
    return Shape(tuple(classes.split("/")), pts)


FULL = ((0, 0), (100, 0), (100, 100), (0, 100))
PHOTO_MAPS: dict[str, tuple[Shape, ...]] = {
    "lake_mountains_forest_zetong_li.jpg": (
        _s("sky", *FULL),
        _s("cloud/sky", (15, 0), (100, 0), (100, 19), (15, 22)),
        _s("cloud", (20, 0), (100, 0), (100, 8), (20, 8)),
        _s("mountain", (30, 34), (45, 23), (55, 18), (62, 15), (66, 17), (69, 14), (73, 13), (77, 16), (80, 19),
           (88, 19), (92, 17), (100, 17), (100, 36), (30, 38)),
        _s("mountain/cloud", (66, 11), (100, 11), (100, 18), (66, 18)),
        _s("tree", (0, 0), (14, 0), (17, 10), (20, 25), (22, 31), (30, 33), (40, 33), (55, 34), (60, 31), (70, 34),
           (85, 28), (100, 26), (100, 50), (0, 52)),
        _s("rock", (0, 50), (100, 48.5), (100, 52.5), (0, 54)),
        _s("water", (0, 54), (100, 52.5), (100, 100), (0, 100)),
    ),
    "lake_mountains_sherburne.jpg": (
        _s("sky", *FULL),
        _s("mountain/snow", (0, 18), (3, 17), (5, 22), (10, 25), (20, 28), (30, 25), (35, 23), (40, 27), (45, 34),
           (55, 35), (65, 33), (72, 37), (78, 41), (85, 43), (90, 41), (95, 42), (100, 45), (100, 72), (0, 70)),
        _s("snow", (88, 58), (96, 57), (96, 62), (88, 63)),
        _s("mountain", (20, 45), (30, 45), (30, 50), (20, 50)),
        _s("tree", (0, 55), (15, 57), (30, 61), (45, 64), (60, 68), (75, 71), (100, 72), (100, 75.5), (0, 75.5)),
        _s("water", (0, 75.5), (100, 75.5), (100, 100), (0, 100)),
    ),
    "mountains_snow_picosdeeuropa.jpg": (
        _s("sky", *FULL),
        _s("cloud/sky", (5, 10), (15, 5), (22, 15), (30, 22), (40, 20), (46, 24), (40, 36), (30, 41), (20, 36),
           (10, 22)),
        _s("cloud", (14, 10), (19, 10), (21, 15), (16, 16)),
        _s("rock", (0, 18), (5, 18), (10, 25), (18, 32), (25, 35), (30, 42), (33, 45), (0, 45)),
        _s("rock", (35, 40), (45, 20), (55, 20), (65, 25), (75, 22), (85, 18), (95, 15), (100, 13), (100, 62),
           (70, 62), (50, 57), (40, 53), (35, 47)),
        _s("rock/sky", (38, 32), (45, 16), (55, 16), (65, 20), (75, 17), (85, 13), (100, 9), (100, 24), (80, 28),
           (60, 32), (45, 36)),
        _s("grass", (0, 45), (33, 45), (40, 53), (55, 59), (100, 63), (100, 100), (0, 100)),
        _s("snow/rock/grass", (50, 54), (100, 53), (100, 66), (50, 60)),
        _s("snow", (60, 57.5), (78, 58), (78, 62.5), (60, 62)),
        _s("dirt/grass", (10, 100), (15, 85), (22, 70), (30, 62), (40, 57), (46, 57), (38, 63), (33, 71), (30, 81),
           (36, 100)),
        _s("dirt", (16, 95), (20, 82), (26, 72), (30, 73), (26, 84), (23, 96)),
    ),
    "meadow_lake_landmannalaugar.jpg": (
        _s("sky", *FULL),
        _s("mountain", (0, 45), (5, 42), (10, 43), (15, 45), (25, 46), (35, 46), (45, 45), (55, 46), (58, 45),
           (62, 42), (70, 35), (72, 30), (75, 30), (80, 33), (85, 38), (95, 43), (100, 44), (100, 50), (0, 50)),
        _s("water", (0, 50), (100, 50), (100, 64), (0, 64)),
        _s("grass/water", (0, 51), (20, 51), (20, 57), (0, 58)),
        _s("grass/water", (25, 52), (52, 52), (52, 56), (25, 56)),
        _s("grass", (0, 64), (100, 64), (100, 100), (0, 100)),
    ),
    "lake_mountain_reflection_sean_afnan.jpg": (
        _s("sky", *FULL),
        _s("mountain", (45, 46), (55, 30), (65, 20), (75, 10), (85, 3), (92, 0), (100, 0), (100, 48), (45, 48)),
        _s("mountain/snow", (7, 38), (15, 33), (25, 32), (35, 33), (40, 36), (40, 46), (7, 46)),
        _s("snow", (17, 33.5), (27, 33), (27, 37), (17, 37.5)),
        _s("mountain", (0, 35), (5, 37), (10, 42), (10, 47), (0, 47)),
        _s("water", (0, 48), (100, 48), (100, 100), (0, 100)),
        _s("rock", (30, 73), (36, 71), (45, 73), (45, 77), (32, 77)),
        _s("rock", (50, 67), (58, 66), (67, 70), (65, 74), (52, 74)),
        _s("rock", (45, 82), (52, 79), (58, 84), (56, 90), (46, 88)),
        _s("rock", (78, 72), (85, 71), (90, 74), (88, 78), (79, 78)),
    ),
    "sea_waves_spray_andreas_kainz.jpg": (
        _s("sky", *FULL),
        _s("mountain/sky", (0, 44), (25, 43), (45, 41), (60, 40), (70, 41), (85, 40), (100, 33), (100, 49), (0, 48)),
        _s("mountain", (80, 45), (90, 40), (100, 36), (100, 49), (80, 49)),
        _s("water", (0, 48.5), (100, 49), (100, 84), (0, 87)),
        _s("rock/water", (0, 86), (30, 88), (60, 87), (100, 83), (100, 100), (0, 100)),
        _s("rock", (0, 94), (100, 94), (100, 100), (0, 100)),
    ),
}

# Half-width of the undecided band around every hand-drawn boundary, in percent of the photo's width.
BAND = 0.8


def _index(name: str) -> int:
    return LABEL_SET.by_name(name).index


def refine(rgb: np.ndarray, shapes: tuple[Shape, ...]) -> np.ndarray:
    """The label map (uint8 indices) of a photo (float RGB in [0, 1]) from its hand-painted shapes."""
    h, w = rgb.shape[:2]
    n = len(LABEL_SET)
    cand = np.zeros((h, w), np.uint32)  # bit c set: class c is still possible here
    for shape in shapes:
        pts = np.array([(x * w / 100, y * h / 100) for x, y in shape.polygon], np.int32)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [pts], 1)
        bits = sum(1 << _index(c) for c in shape.classes)
        cand[m == 1] = bits
    sure = cand.copy()
    r = max(1, int(BAND * w / 100))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    for c in range(n):
        near = cv2.dilate(((cand >> c) & 1).astype(np.uint8), kernel)
        cand |= near.astype(np.uint32) << c
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)
    single = (cand & (cand - 1)) == 0
    best = np.full((h, w), np.inf, np.float32)
    out = np.zeros((h, w), np.uint8)
    for c in range(n):
        has = ((cand >> c) & 1).astype(bool)
        if not has.any():
            continue
        pure = single & (sure == (1 << c))
        if pure.sum() < 50:
            raise DataError(f"class {LABEL_SET.by_index(c).name} has no sure pixels in this photo's map; "
                            "expected a one-class shape for every class named in a several-class shape")
        mean = lab[pure].mean(axis=0)
        spread = lab[pure].std(axis=0) + 2.0
        d = (((lab - mean) / spread) ** 2).sum(axis=2)
        d[~has] = np.inf
        better = d < best
        best[better] = d[better]
        out[better] = c
    # A few stray pixels of the wrong class inside a region are noise of the colour models.
    return cv2.medianBlur(out, 5)


def photo_labels(photo_dir: Path, name: str, width: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The photo (uint8 RGB, `width` wide) and its refined label map."""
    path = photo_dir / name
    if not path.is_file():
        raise DataError(f"photo {path} not found; expected the shared photos folder")
    with Image.open(path) as im:
        im = im.convert("RGB")
        im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        rgb = np.asarray(im)
    return rgb, refine(rgb.astype(np.float32) / 255, PHOTO_MAPS[name])


def crops(rgb: np.ndarray, labels: np.ndarray, rng: np.random.Generator, count: int,
          size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random square crops (40-100 % of the short side) of a labelled photo, resized to size x size."""
    h, w = labels.shape
    out = []
    for _ in range(count):
        side = int(min(h, w) * rng.uniform(0.4, 1.0))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = cv2.resize(rgb[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
        lab = cv2.resize(labels[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_NEAREST)
        if rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        out.append((np.ascontiguousarray(img), np.ascontiguousarray(lab)))
    return out
