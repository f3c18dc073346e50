"""`.paintgan` documents: exact round trip, atomic saves, every malicious archive refused; OpenRaster export."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from paintgan import documents as D
from paintgan.errors import DocumentError, InputError
from paintgan.labels import landscape_labelset, numbered_labelset


def _doc(width: int = 96, height: int = 64) -> D.Document:
    doc = D.Document.new(width, height, landscape_labelset(), fill_label=0)
    rng = np.random.default_rng(3)
    doc.labels[:] = rng.integers(0, 10, (height, width), dtype=np.uint8)
    doc.sketch[:] = rng.integers(0, 256, (height, width), dtype=np.uint8)
    doc.render_model, doc.restyle_model = "landscape-lite", "ukiyoe"
    doc.restyle_strength, doc.seed = 0.35, 1234
    return doc


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rezip(path: Path, members: dict[str, bytes], compress: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            zf.writestr(info, data)
    return path


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return D.save_document(_doc(), tmp_path / "good.paintgan")


def test_round_trip_is_exact(tmp_path: Path) -> None:
    doc = _doc()
    back = D.load_document(D.save_document(doc, tmp_path / "a.paintgan"))
    assert np.array_equal(back.labels, doc.labels) and back.labels.dtype == np.uint8
    assert np.array_equal(back.sketch, doc.sketch)
    assert back.label_set == doc.label_set
    assert (back.render_model, back.restyle_model, back.restyle_strength, back.seed, back.app_version) == (
        "landscape-lite", "ukiyoe", 0.35, 1234, doc.app_version)
    assert (back.width, back.height) == (96, 64)


def test_large_label_sets_round_trip_through_16_bit(tmp_path: Path) -> None:
    doc = D.Document.new(8, 4, numbered_labelset(300), fill_label=299)
    assert doc.labels.dtype == np.uint16
    back = D.load_document(D.save_document(doc, tmp_path / "big.paintgan"))
    assert np.array_equal(back.labels, doc.labels) and len(back.label_set) == 300


def test_archive_layout_is_what_the_format_promises(saved: Path) -> None:
    with zipfile.ZipFile(saved) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == list(D.MEMBERS)
    assert infos[0].compress_type == zipfile.ZIP_STORED
    assert saved.read_bytes()[30:38] == b"mimetype"  # readable at a fixed offset
    meta = json.loads(_members(saved)["document.json"])
    assert meta["format"] == "paintgan-document" and meta["version"] == 1
    assert meta["canvas"] == {"width": 96, "height": 64} and meta["label_set"]["name"] == "landscape"
    assert Image.open(io.BytesIO(_members(saved)["labels.png"])).mode == "L"


def test_new_document_is_blank_and_checks_its_arguments() -> None:
    doc = D.Document.new(32, 16, landscape_labelset(), fill_label=6)
    assert (doc.labels == 6).all() and not doc.sketch.any() and doc.labels.shape == (16, 32)
    with pytest.raises(InputError, match="canvas size"):
        D.Document.new(5000, 16, landscape_labelset())
    with pytest.raises(InputError, match="no label with index 42"):
        D.Document.new(8, 8, landscape_labelset(), fill_label=42)


def test_saving_an_invalid_document_writes_nothing(tmp_path: Path) -> None:
    doc = _doc()
    doc.labels[0, 0] = 77
    with pytest.raises(InputError, match="77"):
        D.save_document(doc, tmp_path / "bad.paintgan")
    assert list(tmp_path.iterdir()) == []


def test_resave_replaces_the_file_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.paintgan"
    D.save_document(_doc(), target)
    D.save_document(_doc(32, 32), target)
    assert D.load_document(target).width == 32
    assert [p.name for p in tmp_path.iterdir()] == ["a.paintgan"]


def test_a_kill_mid_save_leaves_the_previous_document_intact(tmp_path: Path) -> None:
    target = tmp_path / "a.paintgan"
    D.save_document(_doc(), target)
    before = target.read_bytes()
    # A child saves big documents in a loop and is SIGKILLed while doing so.
    script = (
        "import sys, numpy as np\n"
        "from paintgan import documents as D\n"
        "from paintgan.labels import landscape_labelset\n"
        "doc = D.Document.new(2048, 2048, landscape_labelset())\n"
        "doc.sketch[:] = np.random.default_rng(0).integers(0, 256, doc.sketch.shape, dtype=np.uint8)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    D.save_document(doc, sys.argv[1])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[1])
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(1.5)  # several saves of about 0.2 s each: the kill lands in one of them
    child.kill()
    child.wait()
    doc = D.load_document(target)  # whole: either the first save or one of the child's
    assert doc.width == 2048 or target.read_bytes() == before


# ------------------------------------------------------------------ malicious or broken documents


def _expect(path: Path, words: str) -> None:
    with pytest.raises(DocumentError) as err:
        D.load_document(path)
    message = str(err.value)
    assert words in message and path.name in message and "\n" not in message, message


def test_missing_file_and_non_zip(tmp_path: Path) -> None:
    _expect(tmp_path / "none.paintgan", "cannot open")
    (tmp_path / "text.paintgan").write_text("just some text")
    _expect(tmp_path / "text.paintgan", "not a zip archive")
    good = D.save_document(_doc(), tmp_path / "g.paintgan").read_bytes()
    (tmp_path / "cut.paintgan").write_bytes(good[: len(good) // 2])
    _expect(tmp_path / "cut.paintgan", "not a zip archive")


def test_foreign_zip_is_refused(tmp_path: Path) -> None:
    _expect(_rezip(tmp_path / "f.paintgan", {"word/document.xml": b"<w/>", "[Content_Types].xml": b"<x/>"}),
            "not a PaintGAN document")


@pytest.mark.parametrize("evil", ["../escape.png", "/etc/passwd", "a/../../b", "C:/windows/x", "..\\x.png"])
def test_path_traversal_and_absolute_names_are_refused(tmp_path: Path, saved: Path, evil: str) -> None:
    members = _members(saved)
    members[evil] = b"x"
    _expect(_rezip(tmp_path / "evil.paintgan", members), "unsafe member name")


def test_missing_extra_and_duplicate_members(tmp_path: Path, saved: Path) -> None:
    members = _members(saved)
    _expect(_rezip(tmp_path / "m.paintgan", {k: v for k, v in members.items() if k != "sketch.png"}),
            "missing member sketch.png")
    _expect(_rezip(tmp_path / "e.paintgan", {**members, "notes.txt": b"hi"}), "unexpected member notes.txt")
    dup = tmp_path / "d.paintgan"
    _rezip(dup, members)
    with zipfile.ZipFile(dup, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("labels.png", members["labels.png"])
    _expect(dup, "appears twice")


def test_zip_bombs_are_refused_before_decompressing(tmp_path: Path, saved: Path) -> None:
    members = _members(saved)
    # 5 MB of spaces deflates to a few kB: over the JSON member's size limit
    _expect(_rezip(tmp_path / "b1.paintgan", {**members, "document.json": b" " * (5 * 1024 * 1024)},
                   compress=True), "the limit is")
    # 4 MB of zeros in a layer member: allowed size, absurd compression ratio
    _expect(_rezip(tmp_path / "b2.paintgan", {**members, "labels.png": bytes(4 * 1024 * 1024)}, compress=True),
            "zip bomb")


def test_a_member_that_lies_about_its_size_is_refused(tmp_path: Path, saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    # find document.json's central directory entry and shrink its declared uncompressed size
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46: pos + 46 + name_len]) == b"document.json":
            break
        pos += 4
    real = struct.unpack_from("<I", data, pos + 24)[0]
    struct.pack_into("<I", data, pos + 24, real - 10)
    liar = tmp_path / "liar.paintgan"
    liar.write_bytes(bytes(data))
    with pytest.raises(DocumentError, match="document.json"):
        D.load_document(liar)


def test_total_uncompressed_size_is_capped(monkeypatch: pytest.MonkeyPatch, saved: Path) -> None:
    monkeypatch.setattr(D, "MAX_TOTAL_BYTES", 1000)
    _expect(saved, "in all; the limit is 1000")


@pytest.mark.parametrize("change, words", [
    (lambda m: m.update(format="krita"), "expected 'paintgan-document'"),
    (lambda m: m.update(version=99), "version 99 is not supported"),
    (lambda m: m.pop("seed"), "'seed' is missing"),
    (lambda m: m.update(seed="7"), "'seed' must be int"),
    (lambda m: m.update(seed=True), "'seed' must be int"),
    (lambda m: m["canvas"].update(width=-3), "canvas size"),
    (lambda m: m.update(canvas=[96, 64]), "'canvas' must be dict"),
    (lambda m: m["models"].update(render=3), "'render' must be str or null"),
    (lambda m: m.update(restyle_strength=4.0), "restyle_strength 4.0 is out of range"),
    (lambda m: m["label_set"]["labels"][1].update(colour=[120, 170, 235]), "share colour"),
    (lambda m: m.update(label_set="landscape"), "'label_set' must be dict"),
])
def test_json_of_the_wrong_shape_is_refused(tmp_path: Path, saved: Path, change, words: str) -> None:
    members = _members(saved)
    meta = json.loads(members["document.json"])
    change(meta)
    _expect(_rezip(tmp_path / "j.paintgan", {**members, "document.json": json.dumps(meta).encode()}), words)


def test_broken_json_mimetype_and_layers_are_refused(tmp_path: Path, saved: Path) -> None:
    members = _members(saved)
    _expect(_rezip(tmp_path / "a.paintgan", {**members, "document.json": b"{nope"}), "not valid JSON")
    _expect(_rezip(tmp_path / "b.paintgan", {**members, "document.json": b"[1, 2]"}), "must hold an object")
    _expect(_rezip(tmp_path / "c.paintgan", {**members, "mimetype": b"image/openraster"}), "mimetype")
    _expect(_rezip(tmp_path / "d.paintgan", {**members, "labels.png": b"\x89PNG garbage"}), "labels.png")
    rgb = io.BytesIO()
    Image.new("RGB", (96, 64)).save(rgb, format="PNG")
    _expect(_rezip(tmp_path / "e.paintgan", {**members, "sketch.png": rgb.getvalue()}), "sketch.png")


def test_label_values_outside_the_set_and_size_mismatch_are_refused(tmp_path: Path, saved: Path) -> None:
    members = _members(saved)
    bad = np.zeros((64, 96), np.uint8)
    bad[5, 5] = 42
    png = io.BytesIO()
    Image.fromarray(bad).save(png, format="PNG")
    _expect(_rezip(tmp_path / "v.paintgan", {**members, "labels.png": png.getvalue()}), "42")
    small = io.BytesIO()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(small, format="PNG")
    _expect(_rezip(tmp_path / "s.paintgan", {**members, "sketch.png": small.getvalue()}),
            "sketch.png is 10x10 but the canvas is 96x64")


def test_layer_png_bomb_inside_a_document_is_refused(tmp_path: Path, saved: Path) -> None:
    members = _members(saved)
    png = bytearray(io.BytesIO(members["labels.png"]).getvalue())
    struct.pack_into(">II", png, 16, 50000, 50000)  # IHDR width/height
    struct.pack_into(">I", png, 29, zlib.crc32(bytes(png[12:29])) & 0xFFFFFFFF)
    _expect(_rezip(tmp_path / "p.paintgan", {**members, "labels.png": bytes(png)}), "labels.png")


def test_nothing_is_written_to_disk_while_loading(tmp_path: Path, saved: Path) -> None:
    before = sorted(os.listdir(tmp_path))
    D.load_document(saved)
    assert sorted(os.listdir(tmp_path)) == before


# ------------------------------------------------------------------ OpenRaster


def test_ora_export_is_a_valid_openraster_file(tmp_path: Path) -> None:
    doc = _doc(300, 200)
    layers = D.render_layers_rgba(doc)
    out = D.export_ora(tmp_path / "art.ora", layers, 300, 200)
    raw = out.read_bytes()
    assert raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        assert infos[0].filename == "mimetype" and infos[0].compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"image/openraster"
        root = ElementTree.fromstring(zf.read("stack.xml"))
        assert root.tag == "image" and (root.get("w"), root.get("h")) == ("300", "200")
        stack = root.find("stack")
        assert stack is not None
        entries = stack.findall("layer")
        assert [e.get("name") for e in entries] == ["Sketch", "Labels"]  # topmost first
        for entry, (_, rgba) in zip(entries, reversed(layers)):
            png = Image.open(io.BytesIO(zf.read(entry.get("src"))))
            assert png.size == (300, 200) and png.mode == "RGBA"
            assert np.array_equal(np.asarray(png), rgba)
        merged = Image.open(io.BytesIO(zf.read("mergedimage.png")))
        thumb = Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png")))
    assert merged.size == (300, 200) and max(thumb.size) == 256 and thumb.size == (256, 171)


def test_layers_show_palette_colours_and_black_ink(tmp_path: Path) -> None:
    doc = D.Document.new(4, 2, landscape_labelset(), fill_label=5)
    doc.sketch[0, 0] = 255
    doc.sketch[1, 1] = 128
    (_, labels), (_, sketch) = D.render_layers_rgba(doc)
    assert labels[0, 0].tolist() == [40, 90, 170, 255]
    assert sketch[0, 0].tolist() == [0, 0, 0, 255] and sketch[1, 1, 3] == 128 and sketch[0, 1, 3] == 0
    merged = D.composite([labels, sketch])
    assert merged[0, 0].tolist() == [0, 0, 0, 255] and merged[0, 1].tolist() == [40, 90, 170, 255]
    assert merged[1, 1, :3].tolist() == [20, 45, 85]  # half ink over water


def test_ora_export_refuses_bad_layers(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="RGBA"):
        D.export_ora(tmp_path / "x.ora", [("a", np.zeros((4, 4, 3), np.uint8))], 4, 4)
    with pytest.raises(InputError, match="at least one layer"):
        D.export_ora(tmp_path / "x.ora", [], 4, 4)
    assert list(tmp_path.iterdir()) == []
