"""Line extraction: lines follow outlines, are continuous, leave flat areas white, scale with size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared_paths import DATA, needs_shared
from paintgan import sketch
from paintgan.errors import InputError

PHOTO = DATA / "photos" / "hills_green_serene.jpg"


def _disc(size: int = 128, radius: int = 36) -> np.ndarray:
    rgb = np.full((size, size, 3), (225, 215, 190), np.uint8)  # light paper
    cv2.circle(rgb, (size // 2, size // 2), radius, (40, 60, 90), -1)  # a dark round shape
    return rgb


def _distance_to_circle(size: int, radius: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.abs(np.hypot(yy - size // 2, xx - size // 2) - radius)


@pytest.mark.parametrize("method", ["xdog", "canny"])
def test_lines_trace_the_outline_continuously_and_nowhere_else(method: str) -> None:
    ink = sketch.image_to_sketch(_disc(), method=method)
    assert ink.shape == (128, 128) and ink.dtype == np.uint8
    inked = ink > 128
    dist = _distance_to_circle(128, 36)
    assert inked.any() and dist[inked].max() <= 5  # ink only along the outline
    # every direction around the shape has ink: one closed line, not dashes
    yy, xx = np.nonzero(inked)
    angles = (np.floor((np.degrees(np.arctan2(yy - 64, xx - 64)) + 180) / 10).astype(int)) % 36
    assert len(set(angles.tolist())) == 36
    assert cv2.connectedComponents(inked.astype(np.uint8))[0] - 1 <= 2


@pytest.mark.parametrize("method", ["xdog", "canny"])
def test_flat_picture_has_no_ink(method: str) -> None:
    assert not sketch.image_to_sketch(np.full((64, 96, 3), 128, np.uint8), method=method).any()


def test_xdog_ink_is_soft_edged_like_a_pen_stroke() -> None:
    ink = sketch.xdog_lines(_disc())
    assert ink.max() == 255 and ((ink > 0) & (ink < 255)).any()


def test_large_pictures_keep_their_size_and_the_same_drawing() -> None:
    small = sketch.xdog_lines(_disc(400, 110))
    big = sketch.xdog_lines(cv2.resize(_disc(400, 110), (1600, 1600), interpolation=cv2.INTER_NEAREST))
    assert big.shape == (1600, 1600)
    # the big drawing is the small one scaled: compare at the small size
    shrunk = cv2.resize(big, (400, 400), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small.astype(int)).mean() < 6


def test_grey_and_rgba_inputs_are_accepted() -> None:
    grey = cv2.cvtColor(_disc(), cv2.COLOR_RGB2GRAY)
    assert sketch.canny_lines(grey).shape == grey.shape
    rgba = np.dstack([_disc(), np.full((128, 128), 255, np.uint8)])
    assert np.array_equal(sketch.xdog_lines(rgba), sketch.xdog_lines(_disc()))


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="uint8"):
        sketch.xdog_lines(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(InputError, match="HxW"):
        sketch.canny_lines(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(InputError, match="unknown line method"):
        sketch.image_to_sketch(_disc(), method="pencil")  # type: ignore[arg-type]


@needs_shared(PHOTO)
def test_a_landscape_photo_becomes_mostly_white_paper_with_some_lines() -> None:
    from paintgan.images import read_rgb

    rgb = read_rgb(PHOTO)
    for method in ("xdog", "canny"):
        ink = sketch.image_to_sketch(rgb, method=method)
        assert ink.shape == rgb.shape[:2]
        covered = float((ink > 128).mean())
        assert 0.003 < covered < 0.15, (method, covered)
