"""`.paintgan` documents and OpenRaster export.

A document is a zip archive of exactly four members:

* `mimetype`: `application/x-paintgan`, first and stored, so the file can be recognised by its first bytes
  (the way OpenRaster and OpenDocument files are);
* `document.json`: `{"format": "paintgan-document", "version": 1, "app_version", "canvas": {"width",
  "height"}, "label_set": LabelSet.to_dict(), "models": {"render", "restyle"}, "restyle_strength", "seed"}`;
* `labels.png`: the label layer, a single-channel index PNG (8-bit, or 16-bit for label sets past 255);
* `sketch.png`: the sketch layer, 8-bit single channel, ink coverage (0 = no ink, 255 = full ink).

Saving writes the whole archive to a temporary file beside the target, fsyncs it and renames it over the
target, so a kill mid-save leaves the previous file intact. Loading trusts nothing: member names, sizes,
compression ratios and every JSON field are checked before anything is decompressed, members are read into
memory only, and every problem is a one-line `DocumentError`.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from paintgan import __version__
from paintgan.errors import DocumentError, InputError, PaintGANError
from paintgan.images import MAX_SIDE, encode_image, read_gray, read_indices, write_bytes_atomic
from paintgan.labels import LabelSet, check_indices

FORMAT = "paintgan-document"
FORMAT_VERSION = 1
MIMETYPE = "application/x-paintgan"
SUFFIX = ".paintgan"
MEMBERS = ("mimetype", "document.json", "labels.png", "sketch.png")

# Limits for reading. A 4096 x 4096 layer PNG of pure noise is about 17 MB; nothing honest comes near these.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_MEMBER_BYTES = {"mimetype": 64, "document.json": 4 * 1024 * 1024,
                    "labels.png": 48 * 1024 * 1024, "sketch.png": 48 * 1024 * 1024}
MAX_TOTAL_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100  # declared size / compressed size, for members over RATIO_FLOOR bytes
RATIO_FLOOR = 1024 * 1024

ORA_MIMETYPE = "image/openraster"
ORA_THUMBNAIL_SIDE = 256


@dataclass(eq=False)
class Document:
    labels: np.ndarray  # HxW uint8 (uint16 for label sets past 255) class indices
    sketch: np.ndarray  # HxW uint8 ink
    label_set: LabelSet
    render_model: str | None = None
    restyle_model: str | None = None
    restyle_strength: float = 1.0
    seed: int = 0
    app_version: str = field(default=__version__)

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def new(cls, width: int, height: int, label_set: LabelSet, fill_label: int = 0) -> Document:
        """A blank canvas: every pixel `fill_label`, no ink."""
        _check_size(width, height)
        label_set.by_index(fill_label)
        dtype = np.uint8 if label_set.max_index <= 255 else np.uint16
        return cls(labels=np.full((height, width), fill_label, dtype=dtype),
                   sketch=np.zeros((height, width), dtype=np.uint8), label_set=label_set)


def _check_size(width: Any, height: Any) -> None:
    if not (_is_int(width) and _is_int(height) and 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InputError(f"canvas size {width}x{height} is not possible; expected 1..{MAX_SIDE} px a side")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_layers(doc: Document) -> None:
    labels, sketch = doc.labels, doc.sketch
    if not (isinstance(labels, np.ndarray) and labels.ndim == 2 and labels.dtype in (np.uint8, np.uint16)):
        raise InputError(f"the label layer must be an HxW uint8 or uint16 array, got "
                         f"{getattr(labels, 'dtype', type(labels))} {getattr(labels, 'shape', '')}")
    if not (isinstance(sketch, np.ndarray) and sketch.dtype == np.uint8 and sketch.shape == labels.shape):
        raise InputError(f"the sketch layer must be uint8 of the label layer's size {labels.shape}, got "
                         f"{getattr(sketch, 'dtype', type(sketch))} {getattr(sketch, 'shape', '')}")
    _check_size(doc.width, doc.height)
    check_indices(labels, doc.label_set)


def _metadata(doc: Document) -> dict[str, Any]:
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "app_version": doc.app_version,
        "canvas": {"width": doc.width, "height": doc.height},
        "label_set": doc.label_set.to_dict(),
        "models": {"render": doc.render_model, "restyle": doc.restyle_model},
        "restyle_strength": float(doc.restyle_strength), "seed": int(doc.seed),
    }


def _zip_member(zf: zipfile.ZipFile, name: str, data: bytes, compress: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def document_bytes(doc: Document) -> bytes:
    """The `.paintgan` file contents of `doc` (what `save_document` writes)."""
    _check_layers(doc)
    if not 0.0 <= float(doc.restyle_strength) <= 1.0:
        raise InputError(f"restyle strength {doc.restyle_strength} is out of range; expected 0..1")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        _zip_member(zf, "mimetype", MIMETYPE.encode(), compress=False)
        _zip_member(zf, "document.json", json.dumps(_metadata(doc), indent=1).encode(), compress=True)
        # PNGs are already deflated: storing them costs nothing and keeps the ratio checks meaningful.
        _zip_member(zf, "labels.png", encode_image(np.ascontiguousarray(doc.labels)), compress=False)
        _zip_member(zf, "sketch.png", encode_image(np.ascontiguousarray(doc.sketch)), compress=False)
    return out.getvalue()


def save_document(doc: Document, path: str | os.PathLike[str]) -> Path:
    """Write `doc` atomically: the old file stays whole until the new one is complete on disk."""
    return write_bytes_atomic(path, document_bytes(doc))


# ---------------------------------------------------------------------------------------------------------
# Reading


def _safe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.rstrip("/").split("/"))


def _members(zf: zipfile.ZipFile, fail: Any) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        if not _safe_name(info.filename):
            raise fail(f"unsafe member name {info.filename!r} (absolute, or outside the archive)")
    names = [info.filename for info in infos]
    if "document.json" not in names and "mimetype" not in names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise fail(f"not a PaintGAN document (it holds: {shown or 'nothing'})")
    for name in names:
        if names.count(name) > 1:
            raise fail(f"member {name} appears twice")
        if name not in MEMBERS:
            raise fail(f"unexpected member {name}; a document holds only {', '.join(MEMBERS)}")
    for name in MEMBERS:
        if name not in names:
            raise fail(f"missing member {name}")
    by_name = {info.filename: info for info in infos}
    total = 0
    for name, info in by_name.items():
        if info.flag_bits & 0x1:
            raise fail(f"member {name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(f"member {name} uses an unsupported compression method ({info.compress_type})")
        if info.file_size > MAX_MEMBER_BYTES[name]:
            raise fail(f"member {name} declares {info.file_size} bytes; the limit is {MAX_MEMBER_BYTES[name]}")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise fail(f"member {name} is compressed {info.file_size // max(info.compress_size, 1)}:1, "
                       "as a zip bomb is; refused")
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise fail(f"members declare {total} bytes in all; the limit is {MAX_TOTAL_BYTES}")
    return by_name


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fail: Any) -> bytes:
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise fail(f"member {info.filename} is damaged ({' '.join(str(exc).split())})") from None
    if len(data) != info.file_size:
        raise fail(f"member {info.filename} holds {len(data)} bytes but declares {info.file_size}")
    return data


def _field(obj: dict[str, Any], key: str, kinds: tuple[type, ...], where: str, fail: Any) -> Any:
    if key not in obj:
        raise fail(f"document.json: {where}'{key}' is missing")
    value = obj[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise fail(f"document.json: {where}'{key}' must be {names}, got {type(value).__name__}")
    return value


def _parse_metadata(raw: bytes, fail: Any) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"document.json is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise fail("document.json must hold an object")
    if _field(meta, "format", (str,), "", fail) != FORMAT:
        raise fail(f"document.json: format is {meta['format']!r}; expected {FORMAT!r}")
    version = _field(meta, "version", (int,), "", fail)
    if version > FORMAT_VERSION or version < 1:
        raise fail(f"document format version {version} is not supported (this PaintGAN reads 1..{FORMAT_VERSION});"
                   " it may come from a newer PaintGAN")
    _field(meta, "app_version", (str,), "", fail)
    canvas = _field(meta, "canvas", (dict,), "", fail)
    width = _field(canvas, "width", (int,), "canvas ", fail)
    height = _field(canvas, "height", (int,), "canvas ", fail)
    try:
        _check_size(width, height)
    except InputError as exc:
        raise fail(f"document.json: {exc}") from None
    models = _field(meta, "models", (dict,), "", fail)
    _field(models, "render", (str, type(None)), "models ", fail)
    _field(models, "restyle", (str, type(None)), "models ", fail)
    strength = _field(meta, "restyle_strength", (int, float), "", fail)
    if not 0.0 <= strength <= 1.0:
        raise fail(f"document.json: restyle_strength {strength} is out of range; expected 0..1")
    _field(meta, "seed", (int,), "", fail)
    _field(meta, "label_set", (dict,), "", fail)
    return meta


def load_document(path: str | os.PathLike[str]) -> Document:
    """Read a `.paintgan` file defensively; any problem is a one-line `DocumentError`."""
    p = Path(path)

    def fail(message: str) -> DocumentError:
        return DocumentError(f"{p.name}: {message}")

    try:
        size = p.stat().st_size
    except OSError as exc:
        raise fail(f"cannot open the document ({exc.strerror or exc})") from None
    if not p.is_file():
        raise fail("not a file")
    if size > MAX_FILE_BYTES:
        raise fail(f"file is {size} bytes; a document is at most {MAX_FILE_BYTES}")
    try:
        with zipfile.ZipFile(p) as zf:
            infos = _members(zf, fail)
            raw = {name: _read_member(zf, infos[name], fail) for name in MEMBERS}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, EOFError, ValueError):
        raise fail("not a PaintGAN document (not a zip archive, or a damaged one)") from None
    except OSError as exc:
        raise fail(f"cannot read the document ({exc.strerror or exc})") from None
    if raw["mimetype"] != MIMETYPE.encode():
        raise fail(f"mimetype is {raw['mimetype'][:40]!r}; expected {MIMETYPE!r}")
    meta = _parse_metadata(raw["document.json"], fail)
    try:
        label_set = LabelSet.from_dict(meta["label_set"])
    except PaintGANError as exc:
        raise fail(f"document.json: {exc}") from None
    try:
        labels = read_indices(raw["labels.png"])
    except PaintGANError as exc:
        raise fail(f"labels.png: {str(exc).removeprefix('picture data: ')}") from None
    try:
        sketch = read_gray(raw["sketch.png"])
    except PaintGANError as exc:
        raise fail(f"sketch.png: {str(exc).removeprefix('picture data: ')}") from None
    width, height = meta["canvas"]["width"], meta["canvas"]["height"]
    for name, layer in (("labels.png", labels), ("sketch.png", sketch)):
        if layer.shape != (height, width):
            raise fail(f"{name} is {layer.shape[1]}x{layer.shape[0]} but the canvas is {width}x{height}")
    try:
        check_indices(labels, label_set)
    except InputError as exc:
        raise fail(f"labels.png: {exc}") from None
    if labels.dtype != np.uint8 and label_set.max_index <= 255:
        labels = labels.astype(np.uint8)
    return Document(labels=labels, sketch=sketch, label_set=label_set,
                    render_model=meta["models"]["render"], restyle_model=meta["models"]["restyle"],
                    restyle_strength=float(meta["restyle_strength"]), seed=meta["seed"],
                    app_version=meta["app_version"])


# ---------------------------------------------------------------------------------------------------------
# OpenRaster


def render_layers_rgba(doc: Document) -> list[tuple[str, np.ndarray]]:
    """The document's layers as RGBA, bottom first: labels in palette colours, then the sketch as black ink
    whose alpha is the ink coverage."""
    _check_layers(doc)
    colours = doc.label_set.palette()[doc.labels]
    labels = np.dstack([colours, np.full(doc.labels.shape, 255, np.uint8)])
    sketch = np.zeros((doc.height, doc.width, 4), np.uint8)
    sketch[:, :, 3] = doc.sketch
    return [("Labels", labels), ("Sketch", sketch)]


def composite(layers: list[np.ndarray]) -> np.ndarray:
    """Source-over of straight-alpha RGBA layers, bottom first, onto transparency."""
    height, width = layers[0].shape[:2]
    rgb = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width, 1), np.float32)
    for layer in layers:
        src_a = layer[:, :, 3:4].astype(np.float32) / 255.0
        out_a = src_a + alpha * (1.0 - src_a)
        premul = layer[:, :, :3].astype(np.float32) * src_a + rgb * alpha * (1.0 - src_a)
        rgb = np.divide(premul, out_a, out=np.zeros_like(premul), where=out_a > 0)
        alpha = out_a
    out = np.dstack([rgb, alpha * 255.0])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def ora_bytes(layers: list[tuple[str, np.ndarray]], width: int, height: int) -> bytes:
    """An OpenRaster archive of `layers` (bottom first): mimetype, stack.xml, data/, merged image, thumbnail."""
    _check_size(width, height)
    if not layers:
        raise InputError("an OpenRaster file needs at least one layer")
    for name, rgba in layers:
        if not isinstance(name, str) or not name:
            raise InputError(f"every layer needs a non-empty name, got {name!r}")
        if not (isinstance(rgba, np.ndarray) and rgba.dtype == np.uint8 and rgba.shape == (height, width, 4)):
            raise InputError(f"layer '{name}' must be a {height}x{width}x4 uint8 RGBA array, got "
                             f"{getattr(rgba, 'dtype', type(rgba))} {getattr(rgba, 'shape', '')}")
    image = ElementTree.Element("image", {"version": "0.0.5", "w": str(width), "h": str(height)})
    stack = ElementTree.SubElement(image, "stack")
    # stack.xml lists the topmost layer first.
    for i in reversed(range(len(layers))):
        ElementTree.SubElement(stack, "layer", {
            "name": layers[i][0], "src": f"data/layer{i}.png", "x": "0", "y": "0", "opacity": "1.0",
            "visibility": "visible", "composite-op": "svg:src-over"})
    merged = composite([rgba for _, rgba in layers])
    thumb = Image.fromarray(merged)
    thumb.thumbnail((ORA_THUMBNAIL_SIDE, ORA_THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        # The spec wants mimetype first and uncompressed so the type is readable at a fixed offset.
        _zip_member(zf, "mimetype", ORA_MIMETYPE.encode(), compress=False)
        _zip_member(zf, "stack.xml", ElementTree.tostring(image, encoding="UTF-8", xml_declaration=True),
                    compress=True)
        for i, (_, rgba) in enumerate(layers):
            _zip_member(zf, f"data/layer{i}.png", encode_image(rgba), compress=False)
        _zip_member(zf, "mergedimage.png", encode_image(merged), compress=False)
        _zip_member(zf, "Thumbnails/thumbnail.png", encode_image(np.asarray(thumb)), compress=False)
    return out.getvalue()


def export_ora(path: str | os.PathLike[str], layers: list[tuple[str, np.ndarray]], width: int,
               height: int) -> Path:
    """Write `layers` (bottom first) as an OpenRaster file that Krita, GIMP and MyPaint open; atomic."""
    return write_bytes_atomic(path, ora_bytes(layers, width, height))
