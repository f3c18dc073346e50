"""Semi-automatic checks of hand-picked photo regions: which pixels of a one-class rectangle really are that class.

A person picks a rectangle that is mostly one class; colour statistics then flag the pixels that do not belong
(a kite in the sky, a bush in the meadow, a boulder in the snow). The statistics are robust (median and median
absolute deviation in CIE Lab), so the stray pixels do not pull the model of the class toward themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

# Robust z-score over Lab channels beyond which a pixel is called foreign to the rectangle's class.
MAX_SCORE = 3.5
# Lab units: a very flat patch (clear sky, smooth sand) still tolerates this much colour variation.
MIN_SPREAD = 4.0


def purity_mask(patch: np.ndarray) -> np.ndarray:
    """Boolean HxW mask of the pixels of an RGB float patch ([0, 1]) that match its dominant colour."""
    lab = cv2.cvtColor(np.ascontiguousarray(patch, np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    # Lightness varies most inside one texture (shadow and light), so it is judged more leniently than hue.
    med = np.median(lab, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(lab - med), axis=0), MIN_SPREAD)
    spread[0] *= 1.5
    score = np.sqrt((((lab - med) / spread) ** 2).mean(axis=1))
    keep = (score < MAX_SCORE).reshape(patch.shape[:2]).astype(np.uint8)
    # Isolated kept specks inside a rejected object are still part of it.
    keep = cv2.morphologyEx(keep, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return keep.astype(bool)
