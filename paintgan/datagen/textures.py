"""Per-class texture banks cut from the shared landscape photos.

Each `TextureSource` is a rectangle of one photo that holds one class only (chosen and checked by eye on a
grid view of the photo; see docs/data/SCENES.md). `photolabel.purity_mask` then drops the pixels inside a
rectangle that do not match its dominant colour cluster (a stray bush in a meadow, a rock in the snow) and
rectangles that fall below a purity threshold are left out of the bank.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from paintgan.datagen.photolabel import purity_mask
from paintgan.datagen.scenes import CLASS_NAMES, CLOUD, DIRT, GRASS, MOUNTAIN, ROCK, SAND, SKY, SNOW, TREE, WATER
from paintgan.errors import DataError

# Photos are brought to this width before cropping. The composer samples them at 1.5 to 5 texels per output
# pixel (near to far), so a 256 px scene shows grass blades and ripples at about the scale of a wallpaper
# view, never magnified into blur.
WORK_WIDTH = 1024
MIN_PURITY = 0.7
# Mean colour each class's patches are pulled toward (RGB in [0, 1]) and how far (0 keeps the photo's own
# colour): a class then keeps one recognisable look whichever photo its texture came from (dusk photos would
# otherwise give dark sand and black rocks; an autumn meadow would give brown grass). Sky is left as shot.
TARGET_RGB = ((0.0, 0.0, 0.0), (0.93, 0.94, 0.96), (0.45, 0.40, 0.36), (0.52, 0.50, 0.47), (0.90, 0.92, 0.96),
              (0.25, 0.38, 0.46), (0.32, 0.50, 0.17), (0.12, 0.25, 0.10), (0.82, 0.68, 0.48), (0.46, 0.35, 0.25))
TARGET_PULL = (0.0, 0.7, 0.45, 0.6, 0.7, 0.4, 0.75, 0.75, 0.75, 0.6)
# Side of the square texture each patch is re-synthesised into (tiles of shuffled blocks, no mirror seams).
SYNTH_SIZE = 768


@dataclass(frozen=True)
class TextureSource:
    photo: str  # file name under photos/
    cls: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the photo's width and height


_S = TextureSource
SOURCES: tuple[TextureSource, ...] = (
    # sky: cloud-free strips; their top-to-bottom gradient is what the sky layer keeps.
    _S("hills_green_serene.jpg", SKY, (0.0, 0.0, 0.75, 0.22)),
    _S("sea_waves_spray_andreas_kainz.jpg", SKY, (0.0, 0.0, 0.9, 0.35)),
    _S("sky_white_clouds_chuttersnap.jpg", SKY, (0.0, 0.0, 1.0, 0.3)),
    _S("mountains_snow_ridge_ryan_schroeder.jpg", SKY, (0.0, 0.0, 1.0, 0.5)),
    _S("sky_clouds_kite.jpg", SKY, (0.2, 0.3, 0.6, 0.9)),
    _S("lake_mountains_sherburne.jpg", SKY, (0.45, 0.0, 1.0, 0.15)),
    # cloud
    _S("sky_white_clouds_chuttersnap.jpg", CLOUD, (0.1, 0.6, 0.9, 1.0)),
    # mountain: slopes seen from afar, brown, grey and green
    _S("mountains_autumn_aitzgorri.jpg", MOUNTAIN, (0.15, 0.15, 0.85, 0.35)),
    _S("mountains_snow_ridge_ryan_schroeder.jpg", MOUNTAIN, (0.0, 0.72, 1.0, 0.95)),
    _S("lake_mountain_reflection_sean_afnan.jpg", MOUNTAIN, (0.5, 0.08, 1.0, 0.4)),
    _S("volcano_batok_jakub_halun.jpg", MOUNTAIN, (0.3, 0.45, 0.6, 0.6)),
    _S("canyon_grand_canyon_jad_limcaco.jpg", MOUNTAIN, (0.0, 0.35, 1.0, 0.95)),
    # rock
    _S("mountains_snow_picosdeeuropa.jpg", ROCK, (0.45, 0.25, 0.75, 0.6)),
    _S("mountains_snow_picosdeeuropa.jpg", ROCK, (0.0, 0.25, 0.22, 0.45)),
    _S("rocks_pine_mountains_schykle.jpg", ROCK, (0.0, 0.3, 0.2, 0.55)),
    _S("rocks_shore_dusk_victor_svistunov.jpg", ROCK, (0.0, 0.35, 1.0, 0.95)),
    _S("sea_waves_spray_andreas_kainz.jpg", ROCK, (0.0, 0.87, 1.0, 1.0)),
    # snow
    _S("mountains_snow_lucian_dachman.jpg", SNOW, (0.05, 0.45, 0.95, 0.95)),
    _S("mountains_snow_alps_lukas_karas.jpg", SNOW, (0.0, 0.85, 1.0, 0.95)),
    _S("mountains_snow_ridge_ryan_schroeder.jpg", SNOW, (0.15, 0.55, 0.45, 0.68)),
    # water: surfaces with ripples; the mirror image is added by the composer
    _S("sea_waves_spray_andreas_kainz.jpg", WATER, (0.0, 0.42, 1.0, 0.6)),
    _S("lake_mountains_jake_hills.jpg", WATER, (0.0, 0.75, 1.0, 1.0)),
    _S("lake_mountains_clouds_nick_saxby.jpg", WATER, (0.0, 0.82, 1.0, 1.0)),
    _S("lake_mountain_reflection_sean_afnan.jpg", WATER, (0.0, 0.6, 0.3, 0.95)),
    # grass
    _S("mountains_autumn_aitzgorri.jpg", GRASS, (0.0, 0.65, 1.0, 1.0)),
    _S("meadow_lake_landmannalaugar.jpg", GRASS, (0.0, 0.65, 1.0, 0.95)),
    _S("mountains_snow_picosdeeuropa.jpg", GRASS, (0.65, 0.65, 1.0, 1.0)),
    _S("mountains_alpine_walmendingerhorn.jpg", GRASS, (0.75, 0.6, 1.0, 0.8)),
    # tree: foliage, conifer and broadleaf
    _S("lake_mountains_forest_zetong_li.jpg", TREE, (0.0, 0.1, 0.2, 0.55)),
    _S("rocks_pine_mountains_schykle.jpg", TREE, (0.45, 0.3, 1.0, 0.9)),
    _S("valley_river_mountains_tony_reid.jpg", TREE, (0.0, 0.45, 0.2, 0.95)),
    _S("valley_river_mountains_tony_reid.jpg", TREE, (0.62, 0.55, 1.0, 0.8)),
    # sand
    _S("desert_dunes_jeremy_bishop.jpg", SAND, (0.0, 0.3, 1.0, 0.95)),
    _S("beach_aerial_volna.jpg", SAND, (0.0, 0.55, 0.4, 1.0)),
    _S("desert_dunes_night_jared_evans.jpg", SAND, (0.0, 0.75, 1.0, 1.0)),
    # dirt
    _S("mountains_snow_picosdeeuropa.jpg", DIRT, (0.12, 0.8, 0.3, 0.98)),
    _S("volcano_batok_jakub_halun.jpg", DIRT, (0.0, 0.72, 1.0, 1.0)),
    _S("coast_cliffs_beach_rob_bye.jpg", DIRT, (0.0, 0.72, 0.45, 0.98)),
)


@dataclass(frozen=True)
class Texture:
    """One cut patch: float32 HxWx3 RGB in [0, 1], its purity and where it came from."""

    image: np.ndarray
    purity: float
    source: TextureSource


@dataclass(frozen=True)
class TextureBank:
    by_class: dict[int, tuple[Texture, ...]]

    def pick(self, rng: np.random.Generator, cls: int) -> Texture:
        items = self.by_class.get(cls)
        if not items:
            raise DataError(f"the texture bank has no patch of class {CLASS_NAMES[cls]}; expected at least one")
        return items[int(rng.integers(len(items)))]


def _load_photo(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"texture photo {path} not found; expected the shared photos folder")
    with Image.open(path) as im:
        im = im.convert("RGB")
        h = round(im.height * WORK_WIDTH / im.width)
        return np.asarray(im.resize((WORK_WIDTH, h), Image.Resampling.LANCZOS), np.float32) / 255.0


def cut(photo: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = box
    return photo[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]


def _clean(patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the rejected pixels of a patch from their accepted neighbours (inpainting keeps the grain)."""
    if mask.all():
        return patch
    u8 = np.clip(patch * 255 + 0.5, 0, 255).astype(np.uint8)
    out = cv2.inpaint(u8, (~mask).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255.0


def flatten_light(patch: np.ndarray, keep: float) -> np.ndarray:
    """Remove most of a patch's large-scale light falloff (the composer lights the scene itself)."""
    sigma = max(patch.shape[:2]) / 6
    low = cv2.GaussianBlur(patch, (0, 0), sigma)
    flat = patch - low + patch.reshape(-1, 3).mean(axis=0)
    return np.clip(flat * (1 - keep) + patch * keep, 0, 1).astype(np.float32)


def synthesize(patch: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A periodic size x size texture made of random blocks of the patch, cross-faded where they overlap.

    It tiles without seams, so large areas of one class show no mirror images however far they stretch.
    """
    ph, pw = patch.shape[:2]
    b = int(max(16, min(ph, pw, size // 3) * 0.8))
    n = int(np.ceil(size / (b / 2)))
    step = size / n
    ramp = np.minimum(np.arange(b) + 0.5, b - np.arange(b) - 0.5)
    win1 = np.clip(ramp / (b / 2), 0.02, 1.0).astype(np.float32)
    win = (win1[:, None] * win1[None, :])[..., None]
    acc = np.zeros((size + b, size + b, 3), np.float32)
    wsum = np.zeros((size + b, size + b, 1), np.float32)
    for i in range(n):
        for j in range(n):
            y, x = int(rng.integers(0, ph - b + 1)), int(rng.integers(0, pw - b + 1))
            blk = patch[y:y + b, x:x + b]
            if rng.random() < 0.5:
                blk = blk[:, ::-1]
            oy, ox = int(i * step), int(j * step)
            acc[oy:oy + b, ox:ox + b] += blk * win
            wsum[oy:oy + b, ox:ox + b] += win
    # Fold what hangs over the right and bottom edges back onto the left and top: a torus.
    for arr in (acc, wsum):
        arr[:b] += arr[size:size + b]
        arr[:, :b] += arr[:, size:size + b]
    return np.ascontiguousarray(acc[:size, :size] / np.maximum(wsum[:size, :size], 1e-6))


def to_colour(patch: np.ndarray, target: tuple[float, float, float], pull: float) -> np.ndarray:
    """Move a patch's mean colour part of the way to `target`, keeping its grain (per-channel gain)."""
    mean = patch.reshape(-1, 3).mean(axis=0)
    want = mean * (1 - pull) + np.asarray(target, np.float32) * pull
    return np.clip(patch * (want / np.maximum(mean, 1e-3)), 0, 1).astype(np.float32)


def load_bank(photo_dir: Path, sources: tuple[TextureSource, ...] = SOURCES) -> TextureBank:
    """Read every source photo once and cut its class patches."""
    photos: dict[str, np.ndarray] = {}
    by_class: dict[int, list[Texture]] = {}
    for src in sources:
        if src.photo not in photos:
            photos[src.photo] = _load_photo(photo_dir / src.photo)
        patch = cut(photos[src.photo], src.box)
        if min(patch.shape[:2]) < 16:
            raise DataError(f"texture box {src.box} of {src.photo} is {patch.shape[1]}x{patch.shape[0]} px; "
                            "expected at least 16x16")
        mask = purity_mask(patch) if src.cls != SKY else np.ones(patch.shape[:2], bool)
        purity = float(mask.mean())
        if purity < MIN_PURITY:
            continue
        clean = _clean(patch, mask)
        if src.cls != SKY:
            rng = np.random.default_rng(len(by_class.get(src.cls, ())) * 31 + src.cls)
            keep_light = 0.6 if src.cls in (MOUNTAIN, CLOUD) else 0.0
            clean = to_colour(synthesize(flatten_light(clean, keep_light), rng, SYNTH_SIZE), TARGET_RGB[src.cls],
                              TARGET_PULL[src.cls])
        by_class.setdefault(src.cls, []).append(Texture(clean, purity, src))
    return TextureBank({c: tuple(v) for c, v in by_class.items()})


# Licence texts (as MANIFEST.csv words them) that attach share-alike or copyleft terms to adaptations.
_SHARE_ALIKE = re.compile(r"-SA-|GPL")


def share_alike_free(sources: tuple[TextureSource, ...], manifest: Path) -> tuple[TextureSource, ...]:
    """The sources whose photo's licence in `manifest` (the shared MANIFEST.csv) has no share-alike term.

    A photo the manifest does not list is left out: its terms are unknown.
    """
    try:
        with open(manifest, encoding="utf-8", newline="") as fh:
            licences = {row["path"]: row["licence"] for row in csv.DictReader(fh)}
    except (OSError, KeyError, csv.Error) as exc:
        raise DataError(f"cannot read photo licences from {manifest}: {exc}; "
                        "expected the shared MANIFEST.csv") from None
    return tuple(s for s in sources
                 if f"photos/{s.photo}" in licences and not _SHARE_ALIKE.search(licences[f"photos/{s.photo}"]))


def used_photos(sources: tuple[TextureSource, ...] = SOURCES) -> list[str]:
    return sorted({s.photo for s in sources})
