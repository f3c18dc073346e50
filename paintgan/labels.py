"""Label sets as data: names, palette colours, and where each class sits in ADE20K and COCO-Stuff.

Index spaces (what `Label.index`, `Label.ade20k` and `Label.coco` count in):

* `Label.index` is the value a label map holds for that class, which is also the one-hot channel of the model
  the set belongs to.
* `Label.ade20k` is an index of `ade20k_labelset()`: the raw ADE20K SceneParsing annotation value, 1..150 for
  the classes of `objectInfo150` and 0 for "other". Upstream SPADE (`--dataset_mode ade20k`, label_nc 150 plus
  dontcare) one-hots that raw value as shipped, so it is also the SPADE channel; raw 255 goes to channel 150,
  which "flag" shares.
* `Label.coco` is an index of `coco_labelset()`: the COCO-Stuff-164k PNG value, i.e. the `labels.txt` id minus
  one. Things are 0..90 (the eleven ids COCO never annotates keep their slots), stuff 91..181. Unlabelled
  pixels are 255 in those PNGs; SPADE (label_nc 182 plus dontcare) sends 255 to channel 182.
* `cityscapes_labelset()` uses the Cityscapes label ids 0..33, as SPADE (label_nc 35) does, and puts
  "license plate" (id -1 upstream) on the last channel, 34, where SPADE's colour map puts it too.

The factories below return shared instances (label sets are immutable).

Colours must be unique within a set so that a colour map snaps back to one class. Where a standard palette
repeats a colour (ADE20K road/skyscraper, the black Cityscapes void classes, pole/polegroup, car/license
plate), the later class gets the nearest unused colour by stepping its blue channel; the first keeps the
standard colour, so a standard colour map snaps to that first class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import numpy as np

from paintgan.errors import InputError
from paintgan.label_tables import ADE20K_COLOURS, ADE20K_NAMES, CITYSCAPES_LABELS, COCO_STUFF_NAMES

Colour = tuple[int, int, int]
Via = Literal["name", "ade20k", "coco"]

MAX_INDEX = 65535  # label maps are uint16 at most
ADE20K_OTHER = 0
COCO_UNLABELED = 255  # the value COCO-Stuff PNGs (and SPADE's dontcare rule) use for unlabelled pixels


@dataclass(frozen=True)
class Label:
    index: int
    name: str
    colour: Colour
    ade20k: int | None = None
    coco: int | None = None

    @property
    def short_name(self) -> str:
        """The first synonym: ADE20K names list several ("mountain, mount")."""
        return self.name.split(",")[0].strip()

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "colour": list(self.colour),
                "ade20k": self.ade20k, "coco": self.coco}


@dataclass(frozen=True)
class LabelSet:
    name: str
    labels: tuple[Label, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        _validate(self)

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self.labels)

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(label.index for label in self.labels)

    @property
    def max_index(self) -> int:
        return max(self.indices)

    def by_name(self, name: str) -> Label:
        for label in self.labels:
            if label.name == name:
                return label
        raise InputError(f"label set '{self.name}' has no label named '{name}'")

    def by_index(self, index: int) -> Label:
        for label in self.labels:
            if label.index == index:
                return label
        raise InputError(f"label set '{self.name}' has no label with index {index} (valid: {_describe(self)})")

    def palette(self) -> np.ndarray:
        """`(max_index + 1, 3)` uint8: row i is the colour of index i (black where no label has index i)."""
        table = np.zeros((self.max_index + 1, 3), dtype=np.uint8)
        for label in self.labels:
            table[label.index] = label.colour
        return table

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "labels": [label.to_dict() for label in self.labels]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any, name: str = "custom") -> LabelSet:
        """Build from `to_dict()` output, or from a bare list of labels (as `eval_maps/labels.json` is).

        `name` names a bare list, which carries none. Any problem raises `InputError`.
        """
        if isinstance(data, list):
            data = {"name": name, "labels": data}
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(
                data.get("labels"), list):
            raise InputError('a label set must be {"name": str, "labels": [...]} or a list of labels')
        return cls(data["name"], tuple(_label_from_dict(item, data["name"]) for item in data["labels"]))

    @classmethod
    def from_json(cls, text: str | bytes, name: str = "custom") -> LabelSet:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"label set is not valid JSON: {exc}") from None
        return cls.from_dict(data, name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _label_from_dict(item: Any, set_name: str) -> Label:
    where = f"label set '{set_name}'"
    if not isinstance(item, dict):
        raise InputError(f"{where}: each label must be an object with index, name and colour")
    index, name, colour = item.get("index"), item.get("name"), item.get("colour")
    if not _is_int(index):
        raise InputError(f"{where}: label {item.get('name', '?')!r} needs an integer 'index', got {index!r}")
    if not isinstance(name, str):
        raise InputError(f"{where}: label {index} needs a string 'name', got {name!r}")
    if not (isinstance(colour, (list, tuple)) and len(colour) == 3 and all(_is_int(c) for c in colour)):
        raise InputError(f"{where}: label '{name}' needs 'colour' as three integers 0..255, got {colour!r}")
    refs = {}
    for key in ("ade20k", "coco"):
        ref = item.get(key)
        if ref is not None and not _is_int(ref):
            raise InputError(f"{where}: label '{name}' has a non-integer '{key}' index {ref!r}")
        refs[key] = ref
    return Label(index, name, (colour[0], colour[1], colour[2]), refs["ade20k"], refs["coco"])


def _validate(ls: LabelSet) -> None:
    where = f"label set '{ls.name}'"
    if not ls.name:
        raise InputError("a label set needs a non-empty name")
    if not ls.labels:
        raise InputError(f"{where} has no labels")
    seen_index: dict[int, str] = {}
    seen_name: set[str] = set()
    seen_colour: dict[Colour, str] = {}
    for label in ls.labels:
        if not label.name:
            raise InputError(f"{where}: label {label.index} has an empty name")
        if not 0 <= label.index <= MAX_INDEX:
            raise InputError(f"{where}: label '{label.name}' has index {label.index}; expected 0..{MAX_INDEX}")
        if not all(0 <= c <= 255 for c in label.colour):
            raise InputError(f"{where}: label '{label.name}' has colour {label.colour}; expected 0..255 each")
        if label.ade20k is not None and not 0 <= label.ade20k <= len(ADE20K_NAMES):
            raise InputError(f"{where}: label '{label.name}' has ADE20K index {label.ade20k}; expected 0..150")
        if label.coco is not None and not 0 <= label.coco < len(COCO_STUFF_NAMES):
            raise InputError(f"{where}: label '{label.name}' has COCO-Stuff index {label.coco}; expected 0..181")
        if label.index in seen_index:
            raise InputError(f"{where}: index {label.index} is used by both '{seen_index[label.index]}' "
                             f"and '{label.name}'")
        if label.name in seen_name:
            raise InputError(f"{where}: two labels are named '{label.name}'")
        if label.colour in seen_colour:
            raise InputError(f"{where}: '{seen_colour[label.colour]}' and '{label.name}' share colour "
                             f"{label.colour}; colours must be unique")
        seen_index[label.index] = label.name
        seen_name.add(label.name)
        seen_colour[label.colour] = label.name


def _describe(ls: LabelSet) -> str:
    idx = sorted(ls.indices)
    if idx == list(range(idx[0], idx[-1] + 1)):
        return f"{idx[0]}..{idx[-1]}"
    shown = ", ".join(map(str, idx[:12]))
    return shown + (", ..." if len(idx) > 12 else "")


def read_labelset(path: str | os.PathLike[str]) -> LabelSet:
    """Read a label set JSON file (the `to_json()` form, or a bare list of labels named after the file)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            text = fh.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise InputError(f"cannot read label set {p}: {exc.strerror or exc}") from None
    if len(text) > 4 * 1024 * 1024:
        raise InputError(f"label set {p} is larger than 4 MB; expected a small JSON file")
    try:
        return LabelSet.from_json(text, name=os.path.splitext(os.path.basename(p))[0])
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Bundled and public label sets


def _distinct(colours: Iterable[Colour]) -> list[Colour]:
    used: set[Colour] = set()
    out: list[Colour] = []
    for r, g, b in colours:
        while (r, g, b) in used:
            b = (b + 1) % 256
        used.add((r, g, b))
        out.append((r, g, b))
    return out


def bit_palette(n: int) -> list[Colour]:
    """The PASCAL VOC style colour map (bits of i + 1 spread over R, G, B), as SPADE colours labels.

    Distinct for every n <= 2**21, so it suits any generated label set.
    """
    colours = []
    for i in range(n):
        code, r, g, b = i + 1, 0, 0, 0
        for shift in range(7, 0, -1):
            r |= (code & 1) << shift
            g |= ((code >> 1) & 1) << shift
            b |= ((code >> 2) & 1) << shift
            code >>= 3
        colours.append((r, g, b))
    return colours


@cache
def ade20k_labelset() -> LabelSet:
    """ADE20K SceneParsing: 0 = "other", 1..150 = objectInfo150, coloured with CSAIL color150."""
    names = ("other", *ADE20K_NAMES)
    colours = _distinct([(0, 0, 0), *ADE20K_COLOURS])
    return LabelSet("ade20k", tuple(Label(i, n, c, ade20k=i) for i, (n, c) in enumerate(zip(names, colours))))


# SPADE's COCO colour map overrides these for its demo scenes; the rest follow bit_palette.
_COCO_DEMO_COLOURS: dict[str, Colour] = {
    "sea": (54, 62, 167), "sky-other": (95, 219, 255), "tree": (140, 104, 47), "clouds": (170, 170, 170),
    "grass": (29, 195, 49),
}


@cache
def coco_labelset() -> LabelSet:
    """COCO-Stuff-164k: index = labels.txt id - 1 (0..181); 255 (unlabelled) is not a label."""
    base = bit_palette(len(COCO_STUFF_NAMES))
    colours = _distinct(_COCO_DEMO_COLOURS.get(n, c) for n, c in zip(COCO_STUFF_NAMES, base))
    return LabelSet("coco", tuple(Label(i, n, c, coco=i) for i, (n, c) in enumerate(zip(COCO_STUFF_NAMES,
                                                                                        colours))))


@cache
def cityscapes_labelset() -> LabelSet:
    """Cityscapes: label ids 0..33 and "license plate" at 34, coloured as cityscapesScripts does."""
    rows = sorted(CITYSCAPES_LABELS, key=lambda row: row[1] if row[1] >= 0 else len(CITYSCAPES_LABELS))
    colours = _distinct(row[2] for row in rows)
    return LabelSet("cityscapes", tuple(Label(i, row[0], c) for i, (row, c) in enumerate(zip(rows, colours))))


@lru_cache(maxsize=16)
def numbered_labelset(n: int, name: str | None = None) -> LabelSet:
    """Classes 0..n-1 named "class 0", "class 1", ...: for index maps that come without a label set."""
    if not 1 <= n <= MAX_INDEX + 1:
        raise InputError(f"a label set needs 1..{MAX_INDEX + 1} classes, got {n}")
    return LabelSet(name or f"classes{n}",
                    tuple(Label(i, f"class {i}", c) for i, c in enumerate(bit_palette(n))))


# The bundled landscape classes, with the closest class of each public set (ADE20K raw value, COCO-Stuff
# index). Where a public set has no such class: ADE20K has no cloud (-> sky: clouds are part of the sky
# there) and no snow (-> mountain: painted snow is nearly always snow-capped peaks); for water ADE20K's
# generic "water" and COCO-Stuff's "sea" (the class SPADE's own landscape demos paint water with); dirt is
# ADE20K "earth, ground" and COCO-Stuff "dirt".
_LANDSCAPE: tuple[tuple[str, Colour, str, str], ...] = (
    ("sky", (120, 170, 235), "sky", "sky-other"),
    ("cloud", (235, 235, 245), "sky", "clouds"),
    ("mountain", (120, 100, 90), "mountain, mount", "mountain"),
    ("rock", (140, 140, 135), "rock, stone", "rock"),
    ("snow", (250, 250, 255), "mountain, mount", "snow"),
    ("water", (40, 90, 170), "water", "sea"),
    ("grass", (90, 170, 60), "grass", "grass"),
    ("tree", (30, 90, 40), "tree", "tree"),
    ("sand", (225, 200, 140), "sand", "sand"),
    ("dirt", (150, 110, 70), "earth, ground", "dirt"),
)


@cache
def landscape_labelset() -> LabelSet:
    """The ten classes the bundled models paint (indices and colours as `eval_maps/labels.json`)."""
    return LabelSet("landscape", tuple(
        Label(i, name, colour, ade20k=ADE20K_NAMES.index(ade) + 1, coco=COCO_STUFF_NAMES.index(coco))
        for i, (name, colour, ade, coco) in enumerate(_LANDSCAPE)))


# ---------------------------------------------------------------------------------------------------------
# Label maps


def _index_dtype(max_value: int) -> type[np.unsignedinteger[Any]]:
    return np.uint8 if max_value <= 255 else np.uint16


def _require_index_map(indices: Any) -> None:
    if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
        kind = indices.dtype if isinstance(indices, np.ndarray) else type(indices).__name__
        raise InputError(f"a label map must hold integer class indices, got {kind}")


def check_indices(indices: np.ndarray, ls: LabelSet, extra: Iterable[int] = ()) -> None:
    """Raise `InputError` unless every value of `indices` is an index of `ls` (or one of `extra`)."""
    _require_index_map(indices)
    if indices.size == 0:
        return
    valid = np.zeros(MAX_INDEX + 1, dtype=bool)
    valid[list(ls.indices)] = True
    for value in extra:
        if 0 <= value <= MAX_INDEX:
            valid[value] = True
    lo, hi = int(indices.min()), int(indices.max())
    if lo >= 0 and hi <= MAX_INDEX and valid[indices].all():
        return
    flat = indices.ravel()
    in_range = (flat >= 0) & (flat <= MAX_INDEX) if lo < 0 or hi > MAX_INDEX else None
    bad = [] if in_range is None else np.unique(flat[~in_range]).tolist()
    present = _present(flat if in_range is None else flat[in_range], min(hi, MAX_INDEX) + 1)
    bad += np.flatnonzero(present & ~valid[:present.size]).tolist()
    if not bad:
        return
    bad.sort()
    shown = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
    raise InputError(f"the label map holds {len(bad)} value(s) not in label set '{ls.name}': {shown} "
                     f"(valid: {_describe(ls)})")


def _present(values: np.ndarray, size: int) -> np.ndarray:
    """Which of 0..size-1 occur in `values` (all within that range): a bincount, no sort."""
    if values.size == 0:
        return np.zeros(max(size, 0), dtype=bool)
    return np.bincount(values.astype(np.intp, copy=False), minlength=size)[:size] > 0


def colourize(indices: np.ndarray, ls: LabelSet) -> np.ndarray:
    """HxW indices -> HxWx3 uint8 palette colours."""
    check_indices(indices, ls)
    return ls.palette()[indices]


def _pack(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


def snap_colours(rgb: np.ndarray, ls: LabelSet) -> tuple[np.ndarray, int]:
    """Nearest palette colour (Euclidean RGB) per pixel: returns (HxW indices, number of pixels that moved).

    Works on the distinct colours only, through a 2**24 lookup table, so a 4096 x 4096 map costs one pass.
    """
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        shape = getattr(rgb, "shape", None)
        raise InputError(f"a colour label map must be HxWx3 uint8 RGB, got shape {shape}")
    keys = _pack(rgb)
    present = np.zeros(1 << 24, dtype=bool)
    present[keys] = True
    colours = np.flatnonzero(present)
    labels = ls.labels
    # |c - p|^2 = |c|^2 - 2 c.p + |p|^2 as one matrix product; float32 holds these integers exactly.
    pal = np.array([label.colour for label in labels], dtype=np.float32)
    pal_norm = (pal ** 2).sum(axis=1)
    pal_idx = np.array([label.index for label in labels], dtype=np.int64)
    lut = np.zeros(1 << 24, dtype=_index_dtype(ls.max_index))
    chunk = max(1, (1 << 22) // len(labels))  # bounds the distance matrix at 16 MB
    for start in range(0, colours.size, chunk):
        part = colours[start:start + chunk]
        cols = np.stack([(part >> 16) & 255, (part >> 8) & 255, part & 255], axis=1).astype(np.float32)
        dist = (cols ** 2).sum(axis=1)[:, None] - 2.0 * (cols @ pal.T) + pal_norm[None, :]
        lut[part] = pal_idx[dist.argmin(axis=1)]
    exact = np.zeros(1 << 24, dtype=bool)
    exact[_pack(pal.astype(np.uint32))] = True
    snapped = int(keys.size - np.count_nonzero(exact[keys]))
    return lut[keys], snapped


def _match_table(src: LabelSet, dst: LabelSet, via: Via) -> dict[int, int]:
    """src index -> dst index for every src label that has a match (first dst label in index order wins)."""
    table: dict[int, int] = {}
    ordered = sorted(dst.labels, key=lambda label: label.index)
    if via == "name":
        for label in src.labels:
            wanted = label.name.strip().lower()
            for cand in ordered:
                synonyms = {cand.name.strip().lower(), *(s.strip().lower() for s in cand.name.split(","))}
                if wanted in synonyms:
                    table[label.index] = cand.index
                    break
    elif via in ("ade20k", "coco"):
        first: dict[int, int] = {}
        for cand in ordered:
            key = getattr(cand, via)
            if key is not None:
                first.setdefault(key, cand.index)
        for label in src.labels:
            key = getattr(label, via)
            if key is not None and key in first:
                table[label.index] = first[key]
    else:
        raise InputError(f"cannot map labels via {via!r}; expected 'name', 'ade20k' or 'coco'")
    return table


def remap(indices: np.ndarray, src: LabelSet, dst: LabelSet, via: Via = "name",
          fill: int | None = None) -> np.ndarray:
    """Translate a label map from `src` indices to `dst` indices.

    `via` picks how classes correspond: equal names (an ADE20K synonym counts), or the same `ade20k` / `coco`
    reference. When several `dst` labels match, the lowest index wins. Without `fill`, a value that is not a
    label of `src`, or a class of `src` that occurs in the map and has no match, raises `InputError` naming
    it. With `fill`, both are written as `fill` instead (e.g. COCO-Stuff's unlabelled 255 when importing a
    COCO-Stuff map; for SPADE, 255 reaches the dontcare channel).
    """
    if fill is None:
        check_indices(indices, src)
    else:
        _require_index_map(indices)
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) > MAX_INDEX):
            raise InputError(f"the label map holds values outside 0..{MAX_INDEX}")
    table = _match_table(src, dst, via)
    top = max([*table.values(), fill or 0, 0])
    size = max(src.max_index, int(indices.max()) if indices.size else 0) + 1
    lut = np.full(size, fill or 0, dtype=_index_dtype(top))
    missing = np.zeros(size, dtype=bool)
    for label in src.labels:
        if label.index in table:
            lut[label.index] = table[label.index]
        elif fill is None:
            missing[label.index] = True
    if missing.any():
        used = _present(indices.ravel(), size)
        lost = [src.by_index(int(i)).name for i in np.flatnonzero(missing & used)]
        if lost:
            raise InputError(f"label(s) {', '.join(repr(n) for n in lost)} of set '{src.name}' have no match "
                             f"in '{dst.name}' (by {via}); paint them as another class, or pick another model")
    return lut[indices]


def to_ade20k(indices: np.ndarray, ls: LabelSet, fill: int | None = None) -> np.ndarray:
    """A label map of `ls` in the ADE20K index space (for an upstream SPADE ade20k checkpoint)."""
    return remap(indices, ls, ade20k_labelset(), via="ade20k", fill=fill)


def to_coco(indices: np.ndarray, ls: LabelSet, fill: int | None = None) -> np.ndarray:
    """A label map of `ls` in the COCO-Stuff index space (for an upstream SPADE coco checkpoint)."""
    return remap(indices, ls, coco_labelset(), via="coco", fill=fill)
