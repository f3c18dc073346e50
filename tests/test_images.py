"""Picture reading and writing: modes, size limits, bombs, broken files, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_paths import DATA, needs_shared
from paintgan import images
from paintgan.errors import InputError, OutputError
from paintgan.labels import landscape_labelset

EVAL = DATA / "eval_maps"


def _png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def _with_header_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with an IHDR that claims another size (CRC fixed, pixel data untouched)."""
    ihdr = bytearray(png[12:29])  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return png[:12] + bytes(ihdr) + crc + png[33:]


def test_read_rgb_gives_uint8_rgb_from_many_modes(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(images.read_rgb(tmp_path / "a.png"), rgb)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "g.png")
    grey = images.read_rgb(tmp_path / "g.png")
    assert grey.shape == (20, 30, 3) and np.array_equal(grey[:, :, 2], rgb[:, :, 0])
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba).save(tmp_path / "t.png")
    assert (images.read_rgb(tmp_path / "t.png") == 255).all()  # transparency reads as white paper


def test_read_rgb_applies_exif_rotation(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert images.read_rgb(tmp_path / "r.jpg").shape == (40, 20, 3)


def test_picture_over_the_limit_is_refused_from_the_header_before_decoding(tmp_path: Path) -> None:
    small = _png(Image.new("L", (8, 8)))
    forged = _with_header_size(small, 5000, 64)  # pixel data is far too short: decoding would fail
    (tmp_path / "big.png").write_bytes(forged)
    with pytest.raises(InputError, match="5000x64; the limit is 4096 px a side"):
        images.read_rgb(tmp_path / "big.png")
    with pytest.raises(InputError, match="limit is 64"):
        images.read_label_map(_png(Image.new("L", (65, 8))), max_side=64)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = _with_header_size(_png(Image.new("L", (8, 8))), 60000, 60000)
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(InputError, match="decompression bomb"):
        images.read_rgb(tmp_path / "bomb.png", max_side=100000)
    with pytest.raises(InputError):
        images.read_rgb(tmp_path / "bomb.png")


@pytest.mark.parametrize("content, words", [
    (b"hello, this is text", "not a picture"),
    (b"", "not a picture"),
])
def test_foreign_files_are_refused(tmp_path: Path, content: bytes, words: str) -> None:
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(InputError, match=words):
        images.read_rgb(p)


def test_truncated_and_missing_files_are_refused(tmp_path: Path) -> None:
    data = _png(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png") as err:
        images.read_rgb(tmp_path / "cut.png")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="file not found"):
        images.read_rgb(tmp_path / "nope.png")
    with pytest.raises(InputError, match="not a file"):
        images.read_rgb(tmp_path)


def test_label_map_index_png_is_read_raw(tmp_path: Path) -> None:
    idx = np.array([[0, 1, 2], [9, 150, 255]], np.uint8)
    Image.fromarray(idx).save(tmp_path / "l.png")
    got, snapped = images.read_label_map(tmp_path / "l.png")
    assert got.dtype == np.uint8 and np.array_equal(got, idx) and snapped == 0
    pal = Image.fromarray(idx, mode="L").convert("P")
    pal.putpalette([0, 0, 0] * 256)
    pal.putdata(idx.ravel().tolist())
    got_p, _ = images.read_label_map(_png(pal))
    assert np.array_equal(got_p, idx)  # palette indices, not colours


def test_sixteen_bit_maps_keep_raw_integers(tmp_path: Path) -> None:
    ids = np.array([[7, 26000, 26001], [33, 24000, 0]], np.uint16)
    Image.fromarray(ids).save(tmp_path / "inst.png")
    inst = images.read_instance_map(tmp_path / "inst.png")
    assert inst.dtype == np.uint16 and np.array_equal(inst, ids)
    labels16, _ = images.read_label_map(tmp_path / "inst.png")
    assert np.array_equal(labels16, ids)
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="single-channel"):
        images.read_instance_map(tmp_path / "rgb.png")


def test_colour_label_map_snaps_to_the_label_set(tmp_path: Path) -> None:
    ls = landscape_labelset()
    idx = np.array([[0, 5, 7], [9, 9, 1]], np.uint8)
    rgb = ls.palette()[idx]
    rgb[0, 0] = (118, 171, 236)  # one pixel a little off
    Image.fromarray(rgb).save(tmp_path / "c.png")
    got, snapped = images.read_label_map(tmp_path / "c.png", ls)
    assert np.array_equal(got, idx) and snapped == 1
    with pytest.raises(InputError, match="needs a label set"):
        images.read_label_map(tmp_path / "c.png")


@needs_shared(EVAL / "map_00.png")
def test_eval_maps_colour_and_index_forms_agree() -> None:
    ls = landscape_labelset()
    idx, _ = images.read_label_map(EVAL / "map_00.png", ls)
    from_colour, snapped = images.read_label_map(EVAL / "map_00_colour.png", ls)
    assert np.array_equal(idx, from_colour) and snapped == 0


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp"])
def test_write_image_round_trips_by_suffix(tmp_path: Path, suffix: str) -> None:
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (200, 40, 30)
    out = images.write_image(tmp_path / f"o{suffix}", rgb)
    back = images.read_rgb(out)
    error = np.abs(back.astype(int) - rgb)
    assert back.shape == rgb.shape
    assert error.max() == 0 if suffix == ".png" else error.mean() < 3
    assert [p.name for p in tmp_path.iterdir()] == [f"o{suffix}"]  # no temp file left behind


def test_write_image_keeps_16_bit_and_alpha_in_png(tmp_path: Path) -> None:
    ids = np.array([[1, 60000]], np.uint16)
    images.write_image(tmp_path / "i.png", ids)
    assert np.array_equal(images.read_instance_map(tmp_path / "i.png"), ids)
    rgba = np.full((2, 2, 4), 128, np.uint8)
    images.write_image(tmp_path / "a.png", rgba)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), rgba)


def test_write_image_errors_leave_nothing_behind(tmp_path: Path) -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(OutputError, match="unknown picture type"):
        images.write_image(tmp_path / "o.gif2", rgb)
    with pytest.raises(OutputError, match="does not exist"):
        images.write_image(tmp_path / "no" / "o.png", rgb)
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        images.write_image(tmp_path / "d.png", rgb)
    (tmp_path / "d.png").rmdir()
    with pytest.raises(InputError, match="JPEG"):
        images.write_image(tmp_path / "o.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        images.write_image(tmp_path / "o.png", np.zeros((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions as non-root")
def test_write_into_a_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            images.write_image(locked / "o.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        locked.chmod(0o700)


def test_write_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "o.png"
    images.write_image(target, np.zeros((4, 4, 3), np.uint8))
    images.write_image(target, np.full((8, 8, 3), 255, np.uint8))
    assert images.read_rgb(target).shape == (8, 8, 3)


def test_read_gray_accepts_only_8_bit_single_channel() -> None:
    assert images.read_gray(_png(Image.new("L", (3, 2), 7))).tolist() == [[7, 7, 7], [7, 7, 7]]
    with pytest.raises(InputError, match="single-channel 8-bit"):
        images.read_gray(_png(Image.new("RGB", (3, 2))))


def test_open_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with images.open_atomic(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["ckpt.bin"]
    with images.open_atomic(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"


def test_written_files_get_ordinary_permissions_not_private_temp_ones(tmp_path):
    out = images.write_image(tmp_path / "out.png", np.zeros((8, 8, 3), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    out.chmod(0o640)
    images.write_image(out, np.ones((8, 8, 3), np.uint8))
    assert out.stat().st_mode & 0o777 == 0o640  # replacing a file keeps its permissions
