"""Write a paired landscape data set: `python -m paintgan.datagen.build --out DIR --count N --size 256`.

Layout (what `paintgan.train.data.find_layout` reads): `DIR/labels/NAME.png` (index PNG, class indices of
the landscape label set), `DIR/images/NAME.png` (RGB picture) and, with `--sketches`, `DIR/sketches/NAME.png`
(black lines on white). `DIR/labels.json` holds the label set and `DIR/dataset.json` how the set was made.
Pair i is drawn from its own random stream (seed, i): a run that was stopped resumes where it left off and
two runs with different `--start` can share the work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paintgan.datagen.compose import compose
from paintgan.datagen.photomaps import PHOTO_MAPS, crops, photo_labels
from paintgan.datagen.scenes import LABEL_SET, MIN_SIZE, Scene, colourize, generate_scene
from paintgan.datagen.textures import SOURCES, TextureBank, TextureSource, load_bank, share_alike_free, used_photos
from paintgan.errors import DataError, PaintGANError
from paintgan.images import write_bytes_atomic, write_image

# The shared photos sit beside the checkout (`../shared/data/photos`), as tests/conftest.py expects.
DEFAULT_PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos"
VERSION = 1


@dataclass(frozen=True)
class Pair:
    scene: Scene
    image: np.ndarray  # HxWx3 uint8


def make_pair(bank: TextureBank, seed: int, index: int, size: int) -> Pair:
    """Pair number `index` of the set with this seed: the same arguments always give the same pair."""
    rng = np.random.default_rng([seed, index])
    scene = generate_scene(rng, size)
    return Pair(scene, compose(scene.labels, bank, rng, scene.horizon))


def contact_sheet(pairs: Sequence[Pair], columns: int = 6) -> np.ndarray:
    """Pictures with their colour label maps underneath, in a grid (HxWx3 uint8)."""
    if not pairs:
        raise DataError("a contact sheet needs at least one pair")
    h, w = pairs[0].image.shape[:2]
    rows = -(-len(pairs) // columns)
    sheet = np.zeros((rows * 2 * h, columns * w, 3), np.uint8)
    for i, p in enumerate(pairs):
        y, x = (i // columns) * 2 * h, (i % columns) * w
        sheet[y:y + h, x:x + w] = p.image
        sheet[y + h:y + 2 * h, x:x + w] = colourize(p.scene.labels)
    return sheet


def _write_card(out: Path, seed: int, size: int, sources: tuple[TextureSource, ...]) -> None:
    write_bytes_atomic(out / "labels.json", LABEL_SET.to_json().encode())
    card = {"generator": "paintgan.datagen", "version": VERSION, "seed": seed, "size": size,
            "texture_photos": used_photos(sources), "licences": "see docs/data/SCENES.md in the PaintGAN repository"}
    write_bytes_atomic(out / "dataset.json", (json.dumps(card, indent=1) + "\n").encode())


def _write_pair(out: Path, name: str, image: np.ndarray, labels: np.ndarray,
                to_sketch: Callable[[np.ndarray], np.ndarray] | None) -> None:
    if to_sketch is not None:
        # Sketch files are drawn lines, dark on white: the inverse of the ink layer.
        write_image(out / "sketches" / name, 255 - to_sketch(image))
    write_image(out / "images" / name, image)
    # Label last: a pair counts as done only when its label map exists.
    write_image(out / "labels" / name, labels)


def _prepare(out: Path, size: int, sketches: bool) -> Callable[[np.ndarray], np.ndarray] | None:
    """Create the folders; the sketch function when sketches are wanted."""
    if size < MIN_SIZE:
        raise DataError(f"--size {size} is too small; expected at least {MIN_SIZE}")
    for f in ("labels", "images") + (("sketches",) if sketches else ()):
        (out / f).mkdir(parents=True, exist_ok=True)
    if not sketches:
        return None
    from paintgan.sketch import image_to_sketch

    return image_to_sketch


def build(out: Path, count: int, size: int, seed: int = 0, start: int = 0, photos: Path = DEFAULT_PHOTOS,
          sketches: bool = False, log: bool = False, bank: TextureBank | None = None,
          sources: tuple[TextureSource, ...] = SOURCES) -> int:
    """Generate pairs start .. start+count-1 into `out`; pairs already on disk are kept. Returns pairs written.

    `bank` saves re-reading the photos when the caller already holds a bank loaded from `photos` and `sources`.
    """
    if count < 1:
        raise DataError(f"--count {count} makes nothing; expected at least 1")
    to_sketch = _prepare(out, size, sketches)
    folders = ["labels", "images"] + (["sketches"] if sketches else [])
    _write_card(out, seed, size, sources)
    bank = load_bank(photos, sources) if bank is None else bank
    written = 0
    t0 = time.perf_counter()
    for i in range(start, start + count):
        name = f"{i:06d}.png"
        if all((out / f / name).exists() for f in folders):
            continue
        pair = make_pair(bank, seed, i, size)
        _write_pair(out, name, pair.image, pair.scene.labels, to_sketch)
        written += 1
        if log and written % 250 == 0:
            rate = written / (time.perf_counter() - t0)
            print(f"{written} pairs, {rate:.1f} pairs/s", file=sys.stderr)
    return written


def build_photo_pairs(out: Path, per_photo: int, size: int, seed: int = 0, photos: Path = DEFAULT_PHOTOS,
                      sketches: bool = False) -> int:
    """Write `per_photo` random crops of every hand-and-colour labelled photo (`photomaps`) as real pairs."""
    if per_photo < 1:
        raise DataError(f"--photo-pairs {per_photo} makes nothing; expected at least 1")
    to_sketch = _prepare(out, size, sketches)
    write_bytes_atomic(out / "labels.json", LABEL_SET.to_json().encode())
    written = 0
    for k, name in enumerate(sorted(PHOTO_MAPS)):
        rgb, labels = photo_labels(photos, name)
        for j, (img, lab) in enumerate(crops(rgb, labels, np.random.default_rng([seed, k]), per_photo, size)):
            _write_pair(out, f"photo_{Path(name).stem}_{j:03d}.png", img, lab, to_sketch)
            written += 1
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paintgan.datagen.build", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="data set folder (created)")
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="index of the first pair (to split work between runs)")
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of the shared texture photos")
    ap.add_argument("--sketches", action="store_true", help="also write sketches/ (line drawings of the pictures)")
    ap.add_argument("--sheet", type=Path, help="also write a contact sheet of the first 24 pairs to this PNG")
    ap.add_argument("--photo-pairs", type=int, metavar="K",
                    help="instead of scenes, write K random crops of each labelled real photo (photomaps)")
    ap.add_argument("--no-share-alike", action="store_true",
                    help="use only photos whose licence (per ../MANIFEST.csv) has no share-alike or copyleft term")
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        if args.photo_pairs is not None:
            n = build_photo_pairs(args.out, args.photo_pairs, args.size, args.seed, args.photos, args.sketches)
            print(f"wrote {n} photo pairs to {args.out}")
            return 0
        sources = share_alike_free(SOURCES, args.photos.parent / "MANIFEST.csv") if args.no_share_alike else SOURCES
        bank = load_bank(args.photos, sources)
        n = build(args.out, args.count, args.size, args.seed, args.start, args.photos, args.sketches, log=True,
                  bank=bank, sources=sources)
        dt = time.perf_counter() - t0
        print(f"wrote {n} pairs to {args.out} in {dt:.0f} s ({n / max(dt, 1e-9):.1f} pairs/s incl. loading)")
        if args.sheet is not None:
            pairs = [make_pair(bank, args.seed, args.start + i, args.size) for i in range(min(24, args.count))]
            write_image(args.sheet, contact_sheet(pairs))
    except PaintGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
