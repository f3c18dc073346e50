"""`paintgan render / convert / models` as a user runs them, and every bad input as one error line, exit 2."""

from __future__ import annotations

import json
import os
import pathlib
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import paintgan.models
import torch
from PIL import Image

from shared_paths import FIXTURES, REPO, needs_shared
from paintgan.cli import main
from paintgan.families import get_family
from paintgan.families.pix2pix import UnetConfig
from paintgan.labels import landscape_labelset
from paintgan.models import load_model, placeholder_model, save_model
from paintgan.render import Renderer

ADE = FIXTURES / "spade_ade20k_vae"
CITY = FIXTURES / "spade_cityscapes"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def assert_error(code: int, out: str, err: str, words: str, output: Path) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paintgan: error: "), err
    assert words in lines[0], lines[0]
    assert not output.exists()
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")] == []


# ------------------------------------------------------------------------------ upstream fixtures


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("pix2pix_unet256", ["--input", "input.png"]),
        ("cyclegan_resnet9", ["--input", "input.png"]),
        pytest.param("ganilla", ["--input", "input.png"], marks=pytest.mark.slow),
        pytest.param("spade_ade20k_vae", ["--input", "label.png", "--style", "style.png"], marks=pytest.mark.slow),
        pytest.param("spade_cityscapes", ["--input", "label.png", "--instance", "instance.png"],
                     marks=pytest.mark.slow),
    ],
)
def test_render_reproduces_the_upstream_fixtures(
    name: str, inputs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = FIXTURES / name
    if not folder.exists():
        pytest.skip(f"shared fixture not found: {folder}")
    args = [a if a.startswith("--") else folder / a for a in inputs]
    out_png = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "render", "--model", folder / "latest_net_G.pth", *args, "--output", out_png,
                             "--device", "cpu")
    assert (code, out, err) == (0, f"{out_png}\n", "")
    assert np.abs(read(out_png).astype(int) - read(folder / "output.png")).max() <= 1


@pytest.mark.slow
@needs_shared(ADE)
def test_ade20k_encoder_can_be_given_when_it_is_not_beside_the_generator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = tmp_path / "run"
    alone.mkdir()
    (alone / "latest_net_G.pth").symlink_to(ADE / "latest_net_G.pth")
    base = ["render", "--model", alone / "latest_net_G.pth", "--input", ADE / "label.png",
            "--style", ADE / "style.png"]
    missing = tmp_path / "no.png"
    assert_error(*run_cli(capsys, *base, "--output", missing), "has no style encoder", missing)
    out_png = tmp_path / "out.png"
    code, _, _ = run_cli(capsys, *base, "--encoder", ADE / "latest_net_E.pth", "--output", out_png)
    assert code == 0
    assert np.abs(read(out_png).astype(int) - read(ADE / "output.png")).max() <= 1


# --------------------------------------------------------------------------------- inputs and size


@pytest.fixture()
def landscape_model(tmp_path: Path) -> Path:
    path = tmp_path / "landscape.safetensors"
    save_model(placeholder_model("labels", landscape_labelset()), path)
    return path


def test_colour_label_maps_are_snapped_with_a_note_and_match_index_maps(
    tmp_path: Path, landscape_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ls = landscape_labelset()
    rng = np.random.default_rng(0)
    index = np.kron(rng.integers(0, 10, (4, 5)), np.ones((16, 16), int)).astype(np.uint8)
    colour = ls.palette()[index].astype(int)
    colour[:3, :] += 6  # 3 rows of slightly-off colours, as an antialiased brush leaves them
    Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8)).save(tmp_path / "colour.png")
    Image.fromarray(index).save(tmp_path / "index.png")
    code, out, err = run_cli(capsys, "render", "--model", landscape_model, "--input", tmp_path / "colour.png",
                             "--output", tmp_path / "a.png")
    assert code == 0 and out == f"{tmp_path / 'a.png'}\n"
    assert "paintgan: note: 240 pixel(s)" in err and "snapped" in err
    code, _, err = run_cli(capsys, "render", "--model", landscape_model, "--input", tmp_path / "index.png",
                           "--output", tmp_path / "b.png")
    assert code == 0 and err == ""
    assert np.array_equal(read(tmp_path / "a.png"), read(tmp_path / "b.png"))


def test_size_resizes_label_maps_by_nearest_neighbour(
    tmp_path: Path, landscape_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = np.zeros((64, 64), np.uint8)
    index[:, 32:] = 6
    Image.fromarray(index).save(tmp_path / "index.png")
    code, _, _ = run_cli(capsys, "render", "--model", landscape_model, "--input", tmp_path / "index.png",
                         "--output", tmp_path / "big.png", "--size", "128x96")
    assert code == 0
    big = read(tmp_path / "big.png")
    assert big.shape == (96, 128, 3)
    expected = Renderer(load_model(landscape_model), device="cpu").render(_nearest(index, 128, 96))
    assert np.array_equal(big, expected)


def _nearest(index: np.ndarray, w: int, h: int) -> np.ndarray:
    rows = (np.arange(h) * index.shape[0] / h).astype(int)
    cols = (np.arange(w) * index.shape[1] / w).astype(int)
    return index[rows][:, cols]


def test_sketch_files_are_black_lines_on_white(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    g = tmp_path / "sk_net_G.pth"
    torch.save(get_family("pix2pix").build(UnetConfig(input_nc=1, num_downs=6, ngf=2)).state_dict(), g)
    paper = np.full((64, 64, 3), 255, np.uint8)
    paper[30:33, 5:60] = 0
    Image.fromarray(paper).save(tmp_path / "sketch.png")
    code, _, _ = run_cli(capsys, "render", "--model", g, "--input", tmp_path / "sketch.png", "--output",
                         tmp_path / "out.png")
    assert code == 0
    ink = 255 - paper[..., 0]
    assert np.array_equal(read(tmp_path / "out.png"), Renderer(load_model(g), device="cpu").render(ink))


# ------------------------------------------------------------------------------ convert and models


@needs_shared(FIXTURES / "cyclegan_resnet9")
def test_convert_then_models_lists_it_with_its_card(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "no_bundled").mkdir()  # the listing below is of the user's models alone
    monkeypatch.setattr(paintgan.models, "bundled_models_dir", lambda: tmp_path / "no_bundled")
    user = Path(os.environ["PAINTGAN_HOME"]) / "models"
    user.mkdir(parents=True)
    target = user / "cg.safetensors"
    code, out, _ = run_cli(capsys, "convert", FIXTURES / "cyclegan_resnet9" / "latest_net_G.pth", target,
                           "--name", "monet-test")
    assert (code, out) == (0, f"{target}\n")
    save_model(placeholder_model("labels"), user / "land.safetensors")
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "FAMILY", "INPUT", "SIZE", "SOURCE"]
    assert lines[1].split()[:3] == ["monet-test", "cyclegan", "image"]
    assert "labels (landscape)" in lines[2] and "untrained placeholder" in lines[2]
    code, out, _ = run_cli(capsys, "models", "--json")
    cards = {c["name"]: c for c in json.loads(out)}
    assert set(cards) == {"monet-test", "placeholder-labels"}
    assert cards["monet-test"]["family"] == "cyclegan" and cards["monet-test"]["installed"] == "user"
    snow = [lab for lab in cards["placeholder-labels"]["label_set"]["labels"] if lab["name"] == "snow"]
    assert snow == [{"index": 4, "name": "snow", "colour": [250, 250, 255], "ade20k": 17, "coco": 158}]
    out_png = tmp_path / "by_name.png"
    code, _, _ = run_cli(capsys, "render", "--model", "monet-test", "--input",
                         FIXTURES / "cyclegan_resnet9" / "input.png", "--output", out_png)
    assert code == 0
    assert np.abs(read(out_png).astype(int) - read(FIXTURES / "cyclegan_resnet9" / "output.png")).max() <= 1


# ------------------------------------------------------------------------------------- bad inputs


class _RunsCode:
    """Pickles to a call of Path.touch: loading it unsafely would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (pathlib.Path.touch, (self.marker,))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width x height."""
    import io

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[16:29]
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """A good small image model and input, plus one broken thing of every kind."""
    torch.manual_seed(0)
    good = tmp_path / "good_net_G.pth"
    torch.save(get_family("pix2pix").build(UnetConfig(num_downs=6, ngf=2)).state_dict(), good)
    four = tmp_path / "four_net_G.pth"
    torch.save(get_family("pix2pix").build(UnetConfig(input_nc=4, num_downs=6, ngf=2)).state_dict(), four)
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.conv.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)}, unknown)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:3000])
    evil = tmp_path / "evil.pth"
    torch.save({"weight": _RunsCode(tmp_path / "pwned")}, evil)
    image = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(image)
    labels = tmp_path / "labels.png"
    bad_labels = np.zeros((64, 64), np.uint8)
    bad_labels[10, 12] = 42
    Image.fromarray(bad_labels).save(labels)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (4097, 64)).save(wide)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(30000, 30000))
    landscape = tmp_path / "landscape.safetensors"
    save_model(placeholder_model("labels"), landscape)
    return {"good": good, "four": four, "unknown": unknown, "truncated": truncated, "evil": evil, "image": image,
            "labels": labels, "wide": wide, "bomb": bomb, "landscape": landscape, "dir": tmp_path}


@pytest.mark.parametrize(
    ("model", "input_", "words"),
    [
        ("unknown", "image", "unknown checkpoint layout (2 keys, starting encoder.conv.weight, head.bias)"),
        ("truncated", "image", "truncated.pth"),
        ("evil", "image", "evil.pth"),
        ("landscape", "labels", "not in label set 'landscape': 42"),
        ("four", "image", "takes an HxWx4 image; got an array of shape 64x64x3"),
        ("good", "wide", "picture is 4097x64; the limit is 4096 px a side"),
        ("good", "bomb", "decompression bomb"),
        ("lanscape", "image", "unknown model 'lanscape'; known models: "),
        ("good", "missing", "file not found"),
    ],
)
def test_bad_inputs_give_one_error_line_exit_2_and_no_file(
    model: str, input_: str, words: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out_png = files["dir"] / "out.png"
    model_arg = files.get(model, model)
    input_arg = files.get(input_, files["dir"] / "missing.png")
    assert_error(*run_cli(capsys, "render", "--model", model_arg, "--input", input_arg, "--output", out_png),
                 words, out_png)


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out_png = files["dir"] / "out.png"
    code, out, err = run_cli(capsys, "render", "--model", files["evil"], "--input", files["image"], "--output",
                             out_png)
    assert_error(code, out, err, "evil.pth", out_png)
    assert not (files["dir"] / "pwned").exists()
    torch.load(files["evil"], weights_only=False)  # proof that the file is hostile: unsafe loading runs it
    assert (files["dir"] / "pwned").exists()


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("missing/out.png", "does not exist"),
        ("out.gif", "unknown picture type '.gif'"),
        ("sub.png", "it is a folder"),
    ],
)
def test_unwritable_output_paths_are_refused_before_rendering(
    target: str, words: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (files["dir"] / "sub.png").mkdir()
    out = files["dir"] / target
    code, stdout, err = run_cli(capsys, "render", "--model", files["good"], "--input", files["image"], "--output",
                                out)
    assert code == 2 and stdout == "" and words in err and len(err.strip().splitlines()) == 1
    assert not out.is_file()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder_is_refused(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ro = files["dir"] / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        out = ro / "out.png"
        assert_error(*run_cli(capsys, "render", "--model", files["good"], "--input", files["image"], "--output",
                              out), "permission denied", out)
    finally:
        ro.chmod(0o755)


@pytest.mark.slow
def test_the_console_command_prints_no_traceback(files: dict[str, Path]) -> None:
    out_png = files["dir"] / "out.png"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "paintgan", "render", "--model", str(files["truncated"]), "--input",
         str(files["image"]), "--output", str(out_png)],
        capture_output=True, text=True, env=env, timeout=120, cwd=files["dir"],
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("paintgan: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr and not out_png.exists()


def test_instance_map_must_be_single_channel(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    index = files["dir"] / "index.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(index)
    out_png = files["dir"] / "out.png"
    assert_error(*run_cli(capsys, "render", "--model", files["landscape"], "--input", index, "--instance",
                          files["image"], "--output", out_png), "single-channel", out_png)


# ------------------------------------------------------------------------------------------ projects


def _user_model(model_kind: str, name: str, seed: int = 0) -> None:
    folder = Path(os.environ["PAINTGAN_HOME"]) / "models"
    folder.mkdir(parents=True, exist_ok=True)
    model = placeholder_model(model_kind, seed=seed)  # type: ignore[arg-type]
    model.card.name = name
    save_model(model, folder / f"{name}.safetensors")


def test_project_renders_with_the_models_it_names_and_blends_the_restyle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from paintgan.documents import Document, save_document
    from paintgan.render import blend

    _user_model("labels", "land")
    _user_model("image", "paint", seed=7)
    doc = Document.new(96, 64, landscape_labelset(), fill_label=0)
    doc.labels[40:, :] = 6
    doc.labels[30:50, 20:60] = 5
    doc.render_model, doc.restyle_model, doc.restyle_strength, doc.seed = "land", "paint", 0.25, 3
    save_document(doc, tmp_path / "p.paintgan")
    out_png = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "render", "--project", tmp_path / "p.paintgan", "--output", out_png)
    assert (code, out, err) == (0, f"{out_png}\n", "")
    base = Renderer(load_model("land"), device="cpu").render(doc.labels, seed=3)
    styled = Renderer(load_model("paint"), device="cpu").render(base)
    assert np.array_equal(read(out_png), blend(base, styled, 0.25))
    assert not np.array_equal(base, styled)


def test_project_with_a_sketch_model_renders_the_sketch_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from paintgan.documents import Document, save_document

    _user_model("sketch", "lines")
    doc = Document.new(64, 64, landscape_labelset())
    doc.sketch[10:12, :] = 255
    save_document(doc, tmp_path / "p.paintgan")
    out_png = tmp_path / "out.png"
    missing = run_cli(capsys, "render", "--project", tmp_path / "p.paintgan", "--output", out_png)
    assert_error(*missing, "names no render model; give one with --model", out_png)
    code, _, _ = run_cli(capsys, "render", "--project", tmp_path / "p.paintgan", "--model", "lines", "--output",
                         out_png)
    assert code == 0
    assert np.array_equal(read(out_png), Renderer(load_model("lines"), device="cpu").render(doc.sketch))


def test_broken_project_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.paintgan"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    out_png = tmp_path / "out.png"
    assert_error(*run_cli(capsys, "render", "--project", bad, "--model", "x", "--output", out_png), "bad.paintgan",
                 out_png)


def test_tiled_rendering_uses_the_context_the_model_needs_and_warns_where_tiles_cannot_be_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ink = np.zeros((128, 192), np.uint8)
    ink[60, :] = ink[:, 90] = 255  # a horizon and a post: lines that cross tile borders
    Image.fromarray(255 - ink).save(tmp_path / "lines.png")
    base = ["render", "--model", "landscape", "--input", tmp_path / "lines.png"]
    labels = np.where(ink > 0, 6, 0).astype(np.uint8)
    labels[100:] = 5  # a lake that mirrors the grass and the post from 40 px up, across tile borders
    Image.fromarray(labels).save(tmp_path / "lines.png")
    assert run_cli(capsys, *base, "--output", tmp_path / "full.png")[0] == 0
    code, _out, err = run_cli(capsys, *base, "--output", tmp_path / "tiled.png", "--tile", "64")
    # light_spade's reach is 61 px across and its reflections read whole columns: strips with that context are exact
    assert code == 0 and "tile" not in err
    assert np.array_equal(read(tmp_path / "full.png"), read(tmp_path / "tiled.png"))
    Image.fromarray(255 - ink).save(tmp_path / "sketch.png")
    code, _out, err = run_cli(capsys, "render", "--model", "sketch", "--input", tmp_path / "sketch.png", "--output",
                              tmp_path / "sketch_out.png", "--tile", "64")
    assert code == 0 and "reads the whole sketch" in err  # the staged sketch reads at a scale set by the size
    photo = np.full((128, 128, 3), 120, np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    code, _out, err = run_cli(capsys, "render", "--model", "monet", "--input", tmp_path / "photo.png", "--output",
                              tmp_path / "styled.png", "--tile", "64")
    assert code == 0 and "does not tile exactly" in err and (tmp_path / "styled.png").is_file()


def test_tiled_rendering_of_a_light_model_equals_the_full_render(
    tmp_path: Path, landscape_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = np.kron(np.random.default_rng(2).integers(0, 10, (8, 12)), np.ones((16, 16), int)).astype(np.uint8)
    Image.fromarray(index).save(tmp_path / "index.png")
    base = ["render", "--model", landscape_model, "--input", tmp_path / "index.png"]
    assert run_cli(capsys, *base, "--output", tmp_path / "full.png")[0] == 0
    assert run_cli(capsys, *base, "--output", tmp_path / "tiled.png", "--tile", "64")[0] == 0
    assert np.array_equal(read(tmp_path / "full.png"), read(tmp_path / "tiled.png"))
    too_small = tmp_path / "small.png"
    assert_error(*run_cli(capsys, *base, "--output", too_small, "--tile", "16"), "tile size 16 is too small",
                 too_small)
