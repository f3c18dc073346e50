"""Tiny generated training folders for the training tests: a few 32-64 px label maps, pictures and sketches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PALETTE = np.array([[120, 170, 235], [90, 170, 60], [30, 90, 40], [120, 100, 90]], np.uint8)


def scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """A label map: sky over a horizon, a round tree, a rock; indices 0..3."""
    labels = np.zeros((size, size), np.uint8)
    labels[int(rng.integers(size // 3, 2 * size // 3)) :] = 1
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 6, size - size // 6, 2)
    labels[(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 6) ** 2] = 2
    x0 = int(rng.integers(0, size // 2))
    labels[: size // 6, x0 : x0 + size // 3] = 3
    return labels


def picture(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    noise = rng.integers(-12, 13, labels.shape + (3,))
    return np.clip(PALETTE[labels].astype(np.int16) + noise, 0, 255).astype(np.uint8)


def make_labels_folder(root: Path, n: int = 8, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "labels").mkdir(parents=True)
    (root / "images").mkdir()
    for i in range(n):
        labels = scene(rng, size)
        Image.fromarray(labels).save(root / "labels" / f"s{i}.png")
        Image.fromarray(picture(rng, labels)).save(root / "images" / f"s{i}.png")
    return root


def make_sketch_folder(root: Path, n: int = 4, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "sketches").mkdir(parents=True)
    (root / "images").mkdir()
    for i in range(n):
        labels = scene(rng, size)
        edges = np.zeros_like(labels, dtype=bool)
        edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        edges[1:, :] |= labels[1:, :] != labels[:-1, :]
        Image.fromarray(np.where(edges, 0, 255).astype(np.uint8)).save(root / "sketches" / f"s{i}.png")
        Image.fromarray(picture(rng, labels)).save(root / "images" / f"s{i}.jpg")
    return root


def make_unpaired_folder(root: Path, n: int = 4, size: int = 64, seed: int = 0, names: tuple[str, str] = ("A", "B")) -> Path:
    rng = np.random.default_rng(seed)
    for side, shift in zip(names, (0, 60), strict=True):
        (root / side).mkdir(parents=True)
        for i in range(n):
            pic = picture(rng, scene(rng, size)).astype(np.int16)
            pic[..., 0] += shift  # domain B is redder
            Image.fromarray(np.clip(pic, 0, 255).astype(np.uint8)).save(root / side / f"{side}{i}.png")
    return root
