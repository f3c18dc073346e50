"""The staged sketch model: outlines drawn from label maps, a segmenter trained on them, and its export joined to a
label painter (`paintgan train --target labels`, `paintgan export --painter`, the `staged` family)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from train_data import make_labels_folder, make_sketch_folder, scene

from paintgan.checkpoints import detect
from paintgan.cli import main
from paintgan.errors import CheckpointError, DataError
from paintgan.eval import evaluate, label_scores
from paintgan.labels import numbered_labelset
from paintgan.families import get_family
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.staged import StagedConfig, StagedGenerator
from paintgan.models import Model, ModelCard, load_model
from paintgan.render import Renderer
from paintgan.sketch import outline_labels
from paintgan.train.config import resolve_config
from paintgan.train.data import TrainingSet, check_data, find_layout
from paintgan.train.loop import train

TINY = {"workers": 0, "sample_every": 1000, "save_every": 1000, "log_every": 1, "load_scale": 1.0, "flip": False}
NAMES = ["sky", "grass", "tree", "rock"]


def _run(data: Path, out: Path, family: str, **options: Any) -> None:
    train(resolve_config({"family": family, "data": str(data), "out": str(out), **TINY, **options}), log=None)


def _named_labels_folder(root: Path, n: int = 4, size: int = 64) -> Path:
    data = make_labels_folder(root, n=n, size=size)
    (data / "labels.json").write_text(json.dumps([{"index": i, "name": name, "colour": [40 * i, 200 - 40 * i, 90]}
                                                  for i, name in enumerate(NAMES)]))
    return data


def test_an_outlined_region_is_a_closed_line_near_its_boundary() -> None:
    labels = np.zeros((96, 96), np.uint8)
    cv2.circle(labels, (48, 40), 20, 2, -1)  # a tree crown in the sky
    ink = outline_labels(labels, np.random.default_rng(3), width=(2, 2), wobble=1.0, gaps=0.0)
    boundary = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    near = cv2.dilate(boundary.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert ink[boundary].mean() > 0 and not ink[~near].any()  # lines only where the region ends
    # closed: paper flooded from the corner never reaches the middle of the crown
    paper = np.where(ink > 0, 0, 255).astype(np.uint8)
    cv2.floodFill(paper, None, (0, 0), 128)
    assert paper[40, 48] == 255 and paper[90, 5] == 128


def test_target_labels_finds_outlines_or_drawn_sketches_and_needs_label_maps(tmp_path: Path) -> None:
    outlined = find_layout(make_labels_folder(tmp_path / "maps", n=2, size=32), target="labels")
    assert outlined.layout == "sketch_labels" and outlined.sources == outlined.targets
    assert "(sketches outlined from them)" in check_data(outlined).describe()
    with pytest.raises(DataError, match="no labels/"):
        find_layout(make_sketch_folder(tmp_path / "sketches", n=2, size=32), target="labels")


def test_a_training_sample_is_a_sketch_and_the_label_map_it_outlines(tmp_path: Path) -> None:
    spec = check_data(find_layout(make_labels_folder(tmp_path / "maps", n=2, size=48), target="labels"))
    sample = TrainingSet(spec, 48, load_scale=1.0, flip=False, outline_share=1.0)[(0, 0)]
    sketch, labels = sample["source"], sample["target"]
    assert sketch.shape == (1, 48, 48) and labels.shape == (48, 48) and labels.dtype == torch.long
    expected = np.asarray(Image.open(spec.targets[0]))
    assert np.array_equal(labels.numpy(), expected)
    ink = sketch[0].numpy() < 0  # dark lines on white paper
    assert 0 < ink.mean() < 0.3


def test_a_big_sketch_is_read_at_the_scale_the_segmenter_learnt() -> None:
    config = StagedConfig(LightUnetConfig(1, 4, 8), "light_spade", LightSpadeConfig(input_nc=4, ngf=8), read_side=64)
    torch.manual_seed(0)
    net = StagedGenerator(config).eval()
    ink = torch.from_numpy(outline_labels(scene(np.random.default_rng(4), 64), np.random.default_rng(5), gaps=0.0))
    small = 1 - ink.float()[None, None] / 127.5
    big = F.interpolate(small, scale_factor=2, mode="nearest")  # the same drawing on a canvas twice the size
    with torch.no_grad():
        expected = F.interpolate(net.seg(small), scale_factor=2, mode="bilinear", align_corners=False).argmax(1)
        read = net.labels(big).argmax(1)
    assert read.shape == (1, 128, 128) and (read == expected).float().mean() > 0.9
    assert not get_family("staged").tiling(config).exact  # a tile would be read at another scale
    # the lite build's ONNX graph applies the same rule at a size it was not traced at
    pytest.importorskip("onnxruntime")
    card = ModelCard("tiny-staged", "staged", asdict(config), "sketch", 1, get_family("staged").size_multiple(config))
    model = Model(card, net)
    lines = (255 - outline_labels(scene(np.random.default_rng(6), 160), np.random.default_rng(7))).astype(np.uint8)
    torch_picture = Renderer(model, backend="torch").render(255 - lines).astype(int)
    onnx_picture = Renderer(model, backend="onnx").render(255 - lines).astype(int)
    assert np.abs(torch_picture - onnx_picture).max() <= 2


def test_label_scores_give_accuracy_and_iou_per_class_present() -> None:
    true = torch.tensor([[0, 0, 1, 1]])
    predicted = torch.tensor([[0, 1, 1, 1]])
    scores = label_scores(predicted, true, numbered_labelset(3), "drawn")
    names = [label.name for label in numbered_labelset(3)]
    assert scores["drawn_accuracy"] == 0.75
    assert scores[f"drawn_IoU_{names[0]}"] == 0.5 and scores[f"drawn_IoU_{names[1]}"] == 2 / 3
    assert f"drawn_IoU_{names[2]}" not in scores  # a class in neither map is not scored
    assert scores["drawn_mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_staged_config_rejects_a_picture_painter_and_a_class_count_mismatch() -> None:
    seg = LightUnetConfig(1, 4, 8)
    with pytest.raises(CheckpointError, match="label family"):
        StagedConfig(seg, "light_unet", LightUnetConfig(3, 3, 8))
    with pytest.raises(CheckpointError, match="4 classes but the painter takes 6"):
        StagedConfig(seg, "light_spade", LightSpadeConfig(input_nc=6, ngf=8))


def test_staged_generator_paints_the_one_hot_map_its_segmenter_reads() -> None:
    config = StagedConfig(LightUnetConfig(1, 4, 8), "light_spade", LightSpadeConfig(input_nc=4, ngf=8))
    torch.manual_seed(0)
    net = StagedGenerator(config).eval()
    family, found = detect(net.state_dict())
    assert family.name == "staged" and found == config  # a saved pair is recognised from its weights alone
    sketch = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        onehot = net.labels(sketch)
        assert torch.equal(onehot.sum(1), torch.ones(1, 32, 32))
        assert torch.equal(onehot.argmax(1), net.seg(sketch).argmax(1))
        assert torch.equal(net(sketch), net.painter(onehot))


def test_segmenter_trains_then_exports_with_a_painter_as_a_sketch_model(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = _named_labels_folder(tmp_path / "data", n=4, size=64)
    seg_run, painter_run = tmp_path / "seg", tmp_path / "painter"
    _run(data, seg_run, "light_unet", target="labels", steps=30, size=32, batch=4, lr_g=5e-3, beta1=0.9,
         model={"ngf": 8}, name="lines")
    with (seg_run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    ce = [float(r["CE"]) for r in rows]
    assert np.mean(ce[-4:]) < 0.85 * np.mean(ce[:4]) and "accuracy" in rows[0]
    _run(data, painter_run, "light_spade", steps=1, size=32, batch=1, d_layers=2, model={"ngf": 8})
    painter = tmp_path / "painter.safetensors"
    assert main(["export", str(painter_run), "--output", str(painter)]) == 0

    model = tmp_path / "sketch.safetensors"
    assert main(["export", str(seg_run), "--output", str(model)]) == 2
    assert "pass --painter MODEL" in capsys.readouterr().err
    assert main(["export", str(seg_run), "--output", str(model), "--painter", str(painter)]) == 0
    staged = load_model(model)
    assert (staged.card.family, staged.card.input_kind, staged.card.input_nc) == ("staged", "sketch", 1)
    assert staged.card.label_set is None and staged.card.training["painter"]["family"] == "light_spade"
    lines = 255 - outline_labels(scene(np.random.default_rng(1), 64), np.random.default_rng(2))
    picture = Renderer(staged).render(lines)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    # eval says how well the lines are read: outlines of the folder's own maps against those maps
    scores = evaluate(staged, data, size=64, device="cpu").metrics
    assert 0 <= scores["outlined_mIoU"] <= 1 and "outlined_IoU_sky" in scores and "drawn_accuracy" not in scores

    # a painter of other classes would paint the wrong materials: refused, nothing written
    other = _named_labels_folder(tmp_path / "other", n=2, size=32)
    (other / "labels.json").write_text(json.dumps([{"index": i, "name": f"c{i}", "colour": [i, i, i]} for i in range(4)]))
    _run(other, tmp_path / "other_run", "light_spade", steps=1, size=32, batch=1, d_layers=2, model={"ngf": 8})
    assert main(["export", str(tmp_path / "other_run"), "--output", str(tmp_path / "o.safetensors")]) == 0
    refused = tmp_path / "refused.safetensors"
    assert main(["export", str(seg_run), "--output", str(refused), "--painter", str(tmp_path / "o.safetensors")]) == 2
    assert "expected the same label set" in capsys.readouterr().err and not refused.exists()
