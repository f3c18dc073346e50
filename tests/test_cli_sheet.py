"""`paintgan sheet`: the contact sheets in docs/models/ show each input beside the model's own picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paintgan.cli import main
from paintgan.labels import landscape_labelset
from paintgan.models import load_model, placeholder_model, save_model
from paintgan.render import Renderer


def _label_map(path: Path, top: int, size: int = 80) -> Path:
    idx = np.full((size, size), 6, np.uint8)  # grass
    idx[: size // 2] = top
    Image.fromarray(idx).save(path)
    return path


def test_sheet_pairs_each_input_with_its_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = save_model(placeholder_model("labels", landscape_labelset()), tmp_path / "m.safetensors")
    inputs = [_label_map(tmp_path / f"in{i}.png", top) for i, top in enumerate((0, 2, 4))]
    out = tmp_path / "sheet.png"
    assert main(["sheet", "--model", str(model_path), "--input", *map(str, inputs), "--output", str(out),
                 "--size", "64", "--columns", "2"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    # two rows of two input|output pairs (the second row half full), 4 px gaps
    assert sheet.shape == (64 * 2 + 4, 2 * (2 * 64 + 4) + 8, 3)
    model = load_model(model_path)
    palette = model.card.label_set.palette()
    second = np.asarray(Image.open(inputs[1]).resize((64, 64), Image.NEAREST))
    x = 2 * 64 + 4 + 8  # the second pair of the first row
    assert np.array_equal(sheet[:64, x : x + 64], palette[second])
    assert np.array_equal(sheet[:64, x + 68 : x + 132], Renderer(model, device="cpu").render(second))
    assert (sheet[68:, x:] == 255).all()  # no fourth input: the cell stays paper-white


def test_sheet_of_a_missing_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = save_model(placeholder_model("sketch"), tmp_path / "s.safetensors")
    out = tmp_path / "sheet.png"
    assert main(["sheet", "--model", str(model_path), "--input", str(tmp_path / "nope.png"), "--output", str(out)]) == 2
    assert "nope.png" in capsys.readouterr().err
    assert not out.exists()
    assert main(["sheet", "--model", str(model_path), "--input", str(model_path), "--output", str(out),
                 "--size", "32"]) == 2
    assert "expected 64..1024" in capsys.readouterr().err and not out.exists()
