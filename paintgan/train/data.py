"""Training data folders: finding the layout, checking every file before the first step, and loading samples.

Layouts (`DIR` is `--data`):
- `labels/` + `images/`: label maps (index PNGs, or colour PNGs with a label set) and pictures, matching stems.
- `sketches/` + `images/`: black-on-white line drawings and pictures, matching stems.
- `images/` alone with `--input edges`: the sketch is drawn from each augmented crop on the fly.
- `labels/` with `--target labels` (layout "sketch_labels"): sketch in, label map out, for the segmenter of a
  `staged` sketch model. Sketches are read from `sketches/` when it is there, or drawn as outlines of the label
  map (`paintgan.sketch.outline_labels`) for a share of samples (`--outline-share`; all of them without it).
- `train/` of side-by-side `A|B` pictures (the pix2pix upstream layout).
- `A/` + `B/`, or `trainA/` + `trainB/` (the CycleGAN upstream layout): unpaired pictures; when both sides hold
  exactly the same file names (`paintgan.datagen.restyle_pairs` writes them so), each `A/NAME` is paired with
  `B/NAME` instead and the model learns A -> B as a paired problem (cropped and flipped together).

Samples are addressed by `(index, epoch)`; the augmentation of each is seeded from the run seed and that key, so
a sample is the same whichever worker loads it, and a resumed run sees exactly the data it would have seen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from paintgan.errors import DataError, PaintGANError
from paintgan.labels import LabelSet

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DONTCARE = 255
LAYOUT_HELP = (
    "expected labels/+images/, sketches/+images/, images/ with --input edges, train/ (side-by-side AB), "
    "A/+B/ or trainA/+trainB/"
)
MAX_NAMED = 3


@dataclass(frozen=True)
class DataSpec:
    """A checked data folder: which files pair up and what the generator will see."""

    layout: str  # "labels", "sketches", "sketch_labels", "edges", "ab", "pairs" (A/B same names), "unpaired", "images" (distillation)
    root: Path
    sources: tuple[Path, ...]  # label maps, sketches, pictures (edges, ab: the same files as targets), A side
    targets: tuple[Path, ...]  # pictures, B side
    input_kind: str  # "labels", "sketch", "image": the model card's input kind
    label_set: LabelSet | None = None

    @property
    def paired(self) -> bool:
        return self.layout != "unpaired"

    def __len__(self) -> int:
        return len(self.sources)

    def describe(self) -> str:
        if self.layout == "unpaired":
            return f"{len(self.sources)} A and {len(self.targets)} B pictures (unpaired) from {self.root.name}/"
        if self.layout == "images":
            return f"{len(self.sources)} pictures from {self.root.name}/"
        if self.layout == "pairs":
            return f"{len(self.sources)} A->B picture pairs from {self.root.name}/"
        if self.layout == "sketch_labels":
            if all(s == t for s, t in zip(self.sources, self.targets, strict=True)):
                return f"{len(self.targets)} label maps (sketches outlined from them) from {self.root.name}/"
            return f"{len(self.targets)} sketch/label map pairs (and outlines of the maps) from {self.root.name}/"
        what = {"labels": "label map", "sketches": "sketch", "edges": "edge", "ab": "side-by-side AB"}[self.layout]
        return f"{len(self.sources)} {what}/picture pairs from {self.root.name}/"


def _named(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_NAMED])
    return shown + (f" and {len(paths) - MAX_NAMED} more" if len(paths) > MAX_NAMED else "")


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def list_images(folder: Path) -> list[Path]:
    """Picture files of a folder, sorted; hidden files and other extensions are not training data."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _nonempty(root: Path, folder: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise DataError(f"{_rel(root, folder)}/ holds no pictures; expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
    return files


def _by_stem(root: Path, files: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise DataError(
                f"{_rel(root, out[f.stem])} and {_rel(root, f)} share the name {f.stem!r}; expected one file a name"
            )
        out[f.stem] = f
    return out


def _pair(root: Path, source_dir: Path, target_dir: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    sources = _by_stem(root, _nonempty(root, source_dir))
    targets = _by_stem(root, _nonempty(root, target_dir))
    lonely = [_rel(root, p) for s, p in sources.items() if s not in targets]
    if lonely:
        raise DataError(f"no picture in {target_dir.name}/ with the same name as {_named(lonely)}")
    unused = [_rel(root, p) for s, p in targets.items() if s not in sources]
    if unused:
        raise DataError(f"no {source_dir.name[:-1]} in {source_dir.name}/ with the same name as {_named(unused)}")
    stems = sorted(sources)
    return tuple(sources[s] for s in stems), tuple(targets[s] for s in stems)


def find_layout(root: str | Path, input_kind: str = "auto", target: str = "image") -> DataSpec:
    """Recognise the folder layout (no pixels read yet); `input_kind` and `target` are the `--input`/`--target` options."""
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"data folder {r} does not exist or is not a folder; {LAYOUT_HELP}")
    sub = {p.name: p for p in r.iterdir() if p.is_dir()}
    if target == "labels":
        return _sketch_labels(r, sub, input_kind)
    for a, b in (("A", "B"), ("trainA", "trainB")):
        if a in sub or b in sub:
            if not (a in sub and b in sub):
                have, missing = (a, b) if a in sub else (b, a)
                raise DataError(f"{r} has {have}/ but no {missing}/; unpaired data needs both {a}/ and {b}/")
            _check_input(input_kind, ("image",), "A/B pictures")
            sources, targets = _nonempty(r, sub[a]), _nonempty(r, sub[b])
            if {p.stem for p in sources} == {p.stem for p in targets}:
                return DataSpec("pairs", r, *_pair(r, sub[a], sub[b]), "image")
            return DataSpec("unpaired", r, tuple(sources), tuple(targets), "image")
    if "images" in sub:
        if input_kind == "edges":
            images = tuple(_nonempty(r, sub["images"]))
            return DataSpec("edges", r, images, images, "sketch")
        if "labels" in sub and input_kind in ("auto", "labels"):
            sources, targets = _pair(r, sub["labels"], sub["images"])
            return DataSpec("labels", r, sources, targets, "labels")
        if "sketches" in sub and input_kind in ("auto", "sketch"):
            sources, targets = _pair(r, sub["sketches"], sub["images"])
            return DataSpec("sketches", r, sources, targets, "sketch")
        if input_kind == "image":  # pictures in, pictures out: only meaningful with a teacher to imitate
            images = tuple(_nonempty(r, sub["images"]))
            return DataSpec("images", r, images, images, "image")
        want = {"labels": "labels/", "sketch": "sketches/"}.get(input_kind)
        if want:
            raise DataError(f"{r} has images/ but no {want}; --input {input_kind} needs {want} beside images/")
        raise DataError(
            f"{r} has images/ but neither labels/ nor sketches/; add one, or pass --input edges to draw sketches"
        )
    if "train" in sub:
        _check_input(input_kind, ("image",), "side-by-side AB pictures")
        files = tuple(_nonempty(r, sub["train"]))
        return DataSpec("ab", r, files, files, "image")
    found = ", ".join(sorted(f"{n}/" for n in sub)) or "no sub-folders"
    raise DataError(f"{r} has {found}; {LAYOUT_HELP}")


def _sketch_labels(r: Path, sub: dict[str, Path], input_kind: str) -> DataSpec:
    _check_input(input_kind, ("sketch",), "--target labels (a sketch in, a label map out)")
    if "labels" not in sub:
        raise DataError(f"{r} has no labels/; --target labels learns label maps, so it needs labels/ (and optionally sketches/)")
    if "sketches" in sub:
        sources, targets = _pair(r, sub["sketches"], sub["labels"])
        return DataSpec("sketch_labels", r, sources, targets, "sketch")
    labels = tuple(_nonempty(r, sub["labels"]))
    return DataSpec("sketch_labels", r, labels, labels, "sketch")  # every sketch an outline of its map


def _check_input(input_kind: str, allowed: tuple[str, ...], what: str) -> None:
    if input_kind not in ("auto", *allowed):
        raise DataError(f"--input {input_kind} does not fit {what}; expected --input auto or {allowed[0]}")


def _open(root: Path, path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.size  # noqa: B018  the header is parsed lazily; touching it raises on a broken file now
        return img
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{_rel(root, path)} cannot be read as a picture ({reason}); expected a PNG or JPEG") from None


def check_data(spec: DataSpec, label_set: LabelSet | None = None, dontcare: bool = False) -> DataSpec:
    """Open every file once and fail on the first that training would choke on, naming it.

    Returns the spec with its label set: the given one, or for index maps without one, classes 0..max found.
    """
    root = spec.root
    sizes: dict[Path, tuple[int, int]] = {}
    for path in dict.fromkeys(spec.sources + spec.targets):
        img = _open(root, path)
        sizes[path] = img.size
        if min(img.size) < 8:
            raise DataError(f"{_rel(root, path)} is {img.size[0]}x{img.size[1]}; expected pictures of at least 8x8")
    if spec.layout == "ab":
        narrow = [_rel(root, p) for p in spec.sources if sizes[p][0] < 2 * sizes[p][1] * 0.75 or sizes[p][0] % 2]
        if narrow:
            raise DataError(f"{_named(narrow)} are not side-by-side A|B pictures; expected an even width about twice the height")
    if spec.layout in ("labels", "sketches", "sketch_labels", "pairs"):
        for s, t in zip(spec.sources, spec.targets, strict=True):
            if sizes[s] != sizes[t]:
                (sw, sh), (tw, th) = sizes[s], sizes[t]
                raise DataError(f"{_rel(root, s)} is {sw}x{sh} but {_rel(root, t)} is {tw}x{th}; expected the same size")
    if spec.layout == "labels":
        return _check_labels(spec, spec.sources, label_set, dontcare)
    if spec.layout == "sketch_labels":
        return _check_labels(spec, spec.targets, label_set, dontcare)
    return spec


def _check_labels(spec: DataSpec, maps: tuple[Path, ...], label_set: LabelSet | None, dontcare: bool) -> DataSpec:
    root = spec.root
    highest = -1
    for path in maps:
        try:
            index = read_labels(path, label_set)
        except PaintGANError as exc:
            hint = "" if label_set is not None else " (colour label maps need --labels LABELSET.json)"
            raise DataError(f"{_rel(root, path)}: {exc}{hint}") from None
        values = np.unique(index)
        if dontcare:
            values = values[values != DONTCARE]
        if values.size:
            top = int(values.max())
            if label_set is not None and top >= len(label_set.labels):
                raise DataError(
                    f"{_rel(root, path)} holds label {top} but the label set has {len(label_set.labels)} classes; "
                    f"expected indices 0..{len(label_set.labels) - 1}" + ("" if dontcare else " (or --dontcare for 255)")
                )
            highest = max(highest, top)
    if label_set is None:
        from paintgan.labels import numbered_labelset

        label_set = numbered_labelset(highest + 1)
    return DataSpec(spec.layout, root, spec.sources, spec.targets, spec.input_kind, label_set)


def read_labels(path: Path, label_set: LabelSet | None) -> np.ndarray:
    """A label map as an HxW integer array: index PNGs as they are, colour PNGs snapped to the label set."""
    from paintgan.images import read_label_map

    indices, _snapped = read_label_map(path, label_set)
    return np.asarray(indices)


def read_picture(path: Path) -> np.ndarray:
    from paintgan.images import read_rgb

    return np.asarray(read_rgb(path))


def read_sketch(path: Path) -> np.ndarray:
    """A drawn sketch file as the model sees it: HxW uint8, dark lines on white."""
    with Image.open(path) as img:
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            # Lines drawn on a transparent layer: composite on white so empty paper is white, not black.
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("L"))
        return np.asarray(img.convert("L"))


def _to_unit(u8: Tensor) -> Tensor:
    return u8.float().div(127.5).sub(1.0)


def _sample_seed(seed: int, epoch: int, index: int) -> int:
    # Distinct, well-spread seeds for every (run, epoch, item); plain sums would collide across epochs.
    return ((seed * 1_000_003 + epoch) * 2_147_483_647 + index) & 0x7FFF_FFFF_FFFF


class TrainingSet(Dataset[dict[str, Tensor]]):
    """Augmented samples: `source` (float CxHxW in [-1, 1], or long HxW label indices) and `target` (3xHxW)."""

    def __init__(self, spec: DataSpec, size: int, *, seed: int = 0, load_scale: float = 1.12, flip: bool = True,
                 edges: str = "mixed", direction: str = "AtoB", outline_share: float = 0.5) -> None:
        self.spec, self.size, self.seed, self.edges, self.direction = spec, size, seed, edges, direction
        self.outline_share = outline_share
        top = max(size + 1, int(round(size * load_scale)) + 1)
        self.geometry = v2.Compose([
            v2.RandomResize(size, top),
            v2.RandomCrop(size),
            v2.RandomHorizontalFlip(p=0.5 if flip else 0.0),
        ])

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        index, epoch = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_sample_seed(self.seed, epoch, index))
            return self._load(index)

    def _load(self, index: int) -> dict[str, Tensor]:
        spec = self.spec
        if spec.layout == "unpaired":
            other = int(torch.randint(len(spec.targets), ()))
            a = self.geometry(_image(read_picture(spec.sources[index])))
            b = self.geometry(_image(read_picture(spec.targets[other])))
            return {"source": _to_unit(a), "target": _to_unit(b)}
        if spec.layout == "sketch_labels":
            return self._sketch_and_labels(index)
        target = _image(read_picture(spec.targets[index]))
        if spec.layout == "labels":
            labels = tv_tensors.Mask(torch.from_numpy(read_labels(spec.sources[index], spec.label_set).astype(np.int64))[None])
            labels, target = self.geometry(labels, target)
            return {"source": labels[0].long(), "target": _to_unit(target)}
        if spec.layout == "sketches":
            sketch = tv_tensors.Image(torch.from_numpy(read_sketch(spec.sources[index]).copy())[None])
            sketch, target = self.geometry(sketch, target)
            return {"source": _to_unit(sketch), "target": _to_unit(target)}
        if spec.layout in ("ab", "pairs"):
            if spec.layout == "pairs":
                a, b = _image(read_picture(spec.sources[index])), target
            else:
                half = target.shape[-1] // 2
                a, b = tv_tensors.wrap(target[..., :half], like=target), tv_tensors.wrap(target[..., half:], like=target)
            a, b = self.geometry(a, b)
            a, b = (a, b) if self.direction == "AtoB" else (b, a)
            return {"source": _to_unit(a), "target": _to_unit(b)}
        target = self.geometry(target)
        if spec.layout == "images":
            return {"source": _to_unit(target), "target": _to_unit(target)}
        # edges: the sketch is drawn from the augmented crop
        return {"source": _to_unit(self._sketch_of(target))[None], "target": _to_unit(target)}

    def _sketch_and_labels(self, index: int) -> dict[str, Tensor]:
        spec = self.spec
        labels = tv_tensors.Mask(torch.from_numpy(read_labels(spec.targets[index], spec.label_set).astype(np.int64))[None])
        drawn = spec.sources[index] != spec.targets[index] and float(torch.rand(())) >= self.outline_share
        if drawn:
            sketch = tv_tensors.Image(torch.from_numpy(read_sketch(spec.sources[index]).copy())[None])
            sketch, labels = self.geometry(sketch, labels)
        else:
            from paintgan.sketch import outline_labels

            labels = self.geometry(labels)
            rng = np.random.default_rng(int(torch.randint(2**62, ())))
            sketch = 255 - torch.from_numpy(outline_labels(labels[0].numpy(), rng))[None]
        return {"source": _to_unit(sketch), "target": labels[0].long()}

    def _sketch_of(self, image: Tensor) -> Tensor:
        from paintgan.sketch import image_to_sketch

        method = self.edges
        if method == "mixed":
            method = ("canny", "xdog")[int(torch.randint(2, ()))]
        ink = image_to_sketch(np.ascontiguousarray(image.permute(1, 2, 0).numpy()), method)
        return 255 - torch.from_numpy(np.asarray(ink, dtype=np.uint8))


def picture_u8(t: Tensor) -> np.ndarray:
    """CxHxW in [-1, 1] as HxWx3 uint8, the renderer's rounding (a one-channel sketch is repeated)."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def source_array(source: Tensor, kind: str) -> np.ndarray:
    """A dataset `source` as the renderer takes it: label indices HxW, sketch ink HxW (0 = paper), or RGB HxWx3."""
    if kind == "labels":
        return source.numpy().astype(np.uint16 if int(source.max()) > 255 else np.uint8)
    u8 = ((source.float() + 1) * 127.5).round().clamp(0, 255).byte()
    if kind == "sketch":
        return np.ascontiguousarray(255 - u8[0].numpy())  # the dataset gives the drawing, the renderer takes ink
    return np.ascontiguousarray(u8.permute(1, 2, 0).numpy())


def _image(rgb: np.ndarray) -> tv_tensors.Image:
    return tv_tensors.Image(torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1))


class ResumableSampler(Sampler[tuple[int, int]]):
    """An endless stream of `(index, epoch)` keys, shuffled per epoch, this rank's share, from any position.

    Each epoch is `DistributedSampler`'s order for this rank, so K processes see disjoint shards; `start` skips the
    keys already consumed (steps done x batch), which is how a resumed run continues at its data position.
    """

    def __init__(self, length: int, *, seed: int, rank: int = 0, world: int = 1, start: int = 0) -> None:
        self.length, self.seed, self.rank, self.world, self.start = length, seed, rank, world, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        shard = DistributedSampler(
            range(self.length), num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.seed
        )
        per_epoch = len(shard)
        epoch, skip = divmod(self.start, per_epoch)
        while True:
            shard.set_epoch(epoch)
            for i in list(shard)[skip:]:
                yield i, epoch
            epoch, skip = epoch + 1, 0


def auto_workers(world: int) -> int:
    """Loader processes per rank: leave one core to the step itself; none on a machine of two cores or fewer."""
    cores = os.cpu_count() or 1
    return max(0, min(4, cores // world - 1))


def make_loader(dataset: TrainingSet, batch: int, sampler: ResumableSampler, workers: int, pin: bool) -> DataLoader[Any]:
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        # Its own generator: creating the iterator must not draw from the global RNG, or a resumed run (which
        # creates it after restoring that RNG) would draw dropout and DiffAugment noise one step out of line.
        generator=torch.Generator().manual_seed(sampler.seed),
    )
