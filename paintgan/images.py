"""Reading and writing pictures safely: size limits checked from the header, bombs refused, atomic writes.

Everything here is numpy + Pillow. Arrays are HxW or HxWxC `uint8` (`uint16` for 16-bit label and instance
maps). Every failure is a one-line `InputError` (reading) or `OutputError` (writing).
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from paintgan.errors import InputError, OutputError
from paintgan.labels import LabelSet, snap_colours

MAX_SIDE = 4096
Source = str | os.PathLike[str] | bytes
READ_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

# Pillow's decoders raise a variety of exception types on hostile or damaged files; all mean "unreadable".
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error,
                  Image.DecompressionBombError, Image.DecompressionBombWarning)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _name(source: Source) -> str:
    return "picture data" if isinstance(source, bytes) else os.fspath(source)


@contextmanager
def _opened(source: Source, max_side: int) -> Iterator[Image.Image]:
    """Open, check the header size against `max_side`, then decode; the caller gets a loaded image."""
    name = _name(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{name}: file not found")
        if not path.is_file():
            raise InputError(f"{name}: not a file")
    fp = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a bomb is refused either way.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(fp, formats=READ_FORMATS)
        except UnidentifiedImageError:
            raise InputError(f"{name}: not a picture PaintGAN can read (expected PNG, JPEG, WebP, BMP, TIFF "
                             "or GIF)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(f"{name}: refused as a decompression bomb (its header claims too many "
                             "pixels)") from None
        except _DECODE_ERRORS as exc:
            raise InputError(f"{name}: cannot read the picture ({_reason(exc)})") from None
        try:
            width, height = im.size
            if width > max_side or height > max_side:
                raise InputError(f"{name}: picture is {width}x{height}; the limit is {max_side} px a side")
            if width < 1 or height < 1:
                raise InputError(f"{name}: picture is empty ({width}x{height})")
            try:
                im.load()
            except _DECODE_ERRORS as exc:
                raise InputError(f"{name}: picture is truncated or corrupt ({_reason(exc)})") from None
            yield im
        finally:
            im.close()


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _flatten_on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def read_rgb(path: Source, max_side: int = MAX_SIDE) -> np.ndarray:
    """HxWx3 uint8 RGB. EXIF rotation is applied; transparency is flattened on white; 16-bit is scaled."""
    with _opened(path, max_side) as im:
        try:
            im = ImageOps.exif_transpose(im)
        except _DECODE_ERRORS as exc:
            raise InputError(f"{_name(path)}: cannot apply its EXIF orientation ({_reason(exc)})") from None
        if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
            gray = np.asarray(im).astype(np.float64)
            top = 65535.0 if im.mode != "F" else max(float(gray.max()), 1e-12)
            gray8 = np.clip(np.rint(gray / top * 255.0), 0, 255).astype(np.uint8)
            return np.repeat(gray8[:, :, None], 3, axis=2)
        if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
            return np.asarray(_flatten_on_white(im))
        return np.asarray(im.convert("RGB"))


def read_gray(path: Source, max_side: int = MAX_SIDE) -> np.ndarray:
    """HxW uint8 from a single-channel 8-bit picture (mode L); anything else is refused, not converted."""
    with _opened(path, max_side) as im:
        if im.mode != "L":
            raise InputError(f"{_name(path)}: expected a single-channel 8-bit picture, got Pillow mode {im.mode}")
        return np.array(im)


def _single_channel(im: Image.Image, name: str) -> np.ndarray | None:
    """Raw integer values of a single-channel picture, or None when the picture is colour."""
    if im.mode in ("L", "P"):
        return np.array(im)  # for P: the palette indices themselves
    if im.mode == "1":
        return np.array(im).astype(np.uint8)
    if im.mode in ("LA", "PA"):
        return np.array(im.getchannel(0))
    if im.mode in _SIXTEEN_BIT:
        return np.array(im).astype(np.uint16)
    if im.mode == "I":
        values = np.array(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError(f"{name}: integer map holds values outside 0..65535")
        return values.astype(np.uint16)
    if im.mode == "F":
        raise InputError(f"{name}: a floating-point picture is not a label map; expected integer values")
    return None


def read_label_map(path: Source, ls: LabelSet | None = None,
                   max_side: int = MAX_SIDE) -> tuple[np.ndarray, int]:
    """(HxW indices, snapped pixel count).

    A single-channel picture (L, P, 16-bit) is taken as index values, kept raw (uint8, or uint16 for 16-bit
    files); the caller checks them against its label set with `labels.check_indices`. A colour picture is
    snapped to the nearest colour of `ls`, and the count says how many pixels were not exact palette colours.
    """
    name = _name(path)
    with _opened(path, max_side) as im:
        values = _single_channel(im, name)
        if values is not None:
            return values, 0
        if ls is None:
            raise InputError(f"{name}: a colour label map needs a label set to match its colours; "
                             "expected a single-channel index PNG otherwise")
        rgb = np.asarray(im.convert("RGB"))
    return snap_colours(rgb, ls)


def read_indices(path: Source, max_side: int = MAX_SIDE) -> np.ndarray:
    """HxW raw integer values of a single-channel picture (uint8 from 8-bit files, uint16 from 16-bit ones),
    never rescaled and never snapped; a colour picture is refused."""
    name = _name(path)
    with _opened(path, max_side) as im:
        values = _single_channel(im, name)
    if values is None:
        raise InputError(f"{name}: expected a single-channel picture (8 or 16-bit PNG) of integer values, "
                         f"got Pillow mode {im.mode}")
    return values


def read_instance_map(path: Source, max_side: int = MAX_SIDE) -> np.ndarray:
    """HxW raw instance ids, as upstream SPADE compares them (16-bit PNGs keep their full values)."""
    return read_indices(path, max_side)


# ---------------------------------------------------------------------------------------------------------
# Writing


def _to_pil(array: np.ndarray) -> Image.Image:
    if not isinstance(array, np.ndarray):
        raise InputError(f"expected a numpy picture, got {type(array).__name__}")
    if array.ndim == 2 and array.dtype == np.uint16:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.dtype != np.uint8:
        raise InputError(f"a picture to write must be uint8 (or 2-D uint16), got {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(np.ascontiguousarray(array))
    raise InputError(f"a picture to write must be HxW, HxWx3 or HxWx4, got shape {array.shape}")


def encode_image(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """The file bytes of `array` in `fmt` ("PNG", "JPEG", "WEBP"), in memory."""
    im = _to_pil(array)
    if fmt == "JPEG" and im.mode not in ("L", "RGB"):
        raise InputError(f"JPEG holds 8-bit grey or RGB only, not {im.mode}; write a .png or .webp instead")
    if fmt == "WEBP" and im.mode not in ("L", "RGB", "RGBA"):
        raise InputError(f"WebP holds 8-bit pictures only, not {im.mode}; write a .png instead")
    options: dict[str, object] = {"JPEG": {"quality": 95, "subsampling": 0},
                                  "WEBP": {"quality": 95, "method": 4}}.get(fmt, {})
    out = io.BytesIO()
    im.save(out, format=fmt, **options)
    return out.getvalue()


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not safe while other threads create files.
_UMASK = _read_umask()


@contextmanager
def open_atomic(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace `path` only when the `with` block ends without error.

    The data goes to a temporary file beside `path`, is fsynced, then renamed over it: a kill at any moment
    leaves either the old file or the new one, never a truncated one. For contents too big to hold in memory
    (checkpoints); `write_bytes_atomic` is the one-call form.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {target.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        # mkstemp makes the file private (0600); a picture or model the user saves should get the
        # permissions any other program's new file gets: 0666 less the umask, or those of the file it replaces.
        os.fchmod(fd, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _sync_folder(target.parent)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` so that `path` holds either its old contents or all of `data`, whatever happens."""
    with open_atomic(path) as fh:
        fh.write(data)
    return Path(path)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); platforms that cannot open a folder skip it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_image(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write a picture atomically; the format comes from the suffix (.png, .jpg/.jpeg, .webp)."""
    target = Path(path)
    fmt = WRITE_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise OutputError(f"cannot write {target.name}: unknown picture type '{target.suffix}'; "
                          "expected .png, .jpg, .jpeg or .webp")
    return write_bytes_atomic(target, encode_image(array, fmt))
