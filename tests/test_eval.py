"""`paintgan eval`: the measures behave as their definitions say, and a trained model gets a full report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_data import make_labels_folder, make_sketch_folder, make_unpaired_folder

from paintgan.cli import main
from paintgan.errors import DataError
from paintgan.eval import class_consistency, evaluate, frechet_distance, halo_depth, render_halo, sobel, ssim
from paintgan.models import placeholder_model
from paintgan.train.config import resolve_config
from paintgan.train.export import export_run
from paintgan.train.features import load_feature_net, random_features
from paintgan.train.loop import train


def test_ssim_and_edges_are_one_for_identical_pictures_and_lower_otherwise() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 32, 32, generator=g)
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-5)
    assert (ssim(a, torch.rand(2, 1, 32, 32, generator=g)) < 0.2).all()
    assert torch.allclose(ssim(sobel(a), sobel(a)), torch.ones(2), atol=1e-5)


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    assert abs(frechet_distance(a, a)) < 1e-6
    near, far = frechet_distance(a, a + 0.1), frechet_distance(a, a + 1.0)
    assert 0 < near < far and abs(far - 8.0) < 1e-6  # ||shift||^2 when covariances are equal


def test_random_feature_network_is_the_same_everywhere() -> None:
    a, b = random_features(), random_features()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert load_feature_net("auto").name in ("random", "vgg19")


def test_class_consistency_is_high_for_real_pictures_and_low_for_shuffled_classes() -> None:
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(np.repeat(np.repeat(rng.integers(0, 3, (4, 4, 4)), 16, 1), 16, 2))
    colours = torch.tensor([[-0.8, -0.2, 0.9], [-0.5, 0.6, -0.6], [0.5, 0.2, -0.2]])
    real = colours[labels].permute(0, 3, 1, 2) + 0.05 * torch.randn(4, 3, 64, 64)
    net = random_features()
    right = class_consistency(net, labels, real, real, 3)
    wrong = class_consistency(net, labels, real, colours[(labels + 1) % 3].permute(0, 3, 1, 2), 3)
    assert right["class_consistency_real"] > 0.9 and right["class_consistency"] > 0.9
    assert wrong["class_consistency"] < 0.3


@pytest.mark.slow
def test_halo_depth_sees_a_dark_ring_around_a_cloud_at_any_picture_size() -> None:
    for size in (256, 512):
        yy, xx = np.mgrid[:size, :size] * (256 / size)
        r = np.hypot(yy - 80, xx - 128)
        labels = np.where(r < 30, 1, 0)  # a cloud (1) in open sky (0)
        flat = np.where((r < 30)[..., None], 250, [110, 160, 230]).astype(np.uint8)
        ringed = flat.astype(float) - 50 * np.exp(-(((r - 36) / 4) ** 2))[..., None]
        assert abs(halo_depth(flat, labels, cloud=1, sky=0)) < 1
        assert halo_depth(np.clip(ringed, 0, 255).astype(np.uint8), labels, cloud=1, sky=0) > 25
    assert halo_depth(flat, np.zeros_like(labels), cloud=1, sky=0) is None  # no cloud: nothing to measure


def test_render_halo_needs_a_painter_with_clouds_and_maps_that_show_them() -> None:
    from paintgan.labels import numbered_labelset

    restyle = placeholder_model("image")
    with pytest.raises(DataError, match="has no 'cloud' and 'sky' classes"):
        render_halo(restyle, placeholder_model("labels", numbered_labelset(4)), [np.zeros((64, 64), np.uint8)])
    with pytest.raises(DataError, match="no halo map shows both clouds and open sky"):
        render_halo(restyle, placeholder_model("labels"), [np.zeros((64, 64), np.uint8)])


def test_eval_reports_paired_and_restyle_measures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = {"size": 64, "steps": 2, "workers": 0, "ndf": 8}
    labels = make_labels_folder(tmp_path / "labels", n=3, size=64)
    train(resolve_config({"family": "pix2pix", "data": str(labels), "out": str(tmp_path / "r1"), "model": {"ngf": 4},
                          **common}), log=None)
    export_run(tmp_path / "r1", tmp_path / "p.safetensors")
    report = tmp_path / "report.json"
    assert main(["eval", "--model", str(tmp_path / "p.safetensors"), "--data", str(labels), "--size", "64",
                 "--json", str(report)]) == 0
    metrics = json.loads(report.read_text())["metrics"]
    assert {"L1", "PSNR", "SSIM", "FD", "class_consistency", "class_consistency_real"} <= set(metrics)
    assert 0 <= metrics["L1"] <= 1 and -1 <= metrics["SSIM"] <= 1
    assert "PSNR" in capsys.readouterr().out

    unpaired = make_unpaired_folder(tmp_path / "unpaired", n=2, size=64)
    train(resolve_config({"family": "cyclegan", "data": str(unpaired), "out": str(tmp_path / "r2"),
                          "model": {"ngf": 4, "n_blocks": 1}, **common}), log=None)
    export_run(tmp_path / "r2", tmp_path / "c.safetensors")
    assert main(["eval", "--model", str(tmp_path / "c.safetensors"), "--data", str(unpaired), "--size", "64",
                 "--json", str(report)]) == 0
    metrics = json.loads(report.read_text())["metrics"]
    assert {"style_distance", "style_distance_input", "content_edge_SSIM"} <= set(metrics)


def test_sketch_model_is_measured_on_the_drawn_sketches_beside_label_maps(tmp_path: Path) -> None:
    root = make_sketch_folder(tmp_path / "d", n=2, size=64)
    labels = make_labels_folder(tmp_path / "l", n=2, size=64)
    (labels / "labels").rename(root / "labels")  # a scenes folder holds labels/, sketches/ and images/
    report = evaluate(placeholder_model("sketch"), root, size=64, device="cpu")
    assert report.data.startswith("2 sketch/picture pairs") and report.items == 2
    assert "SSIM" in report.metrics
    (root / "sketches").rename(tmp_path / "gone")
    assert evaluate(placeholder_model("sketch"), root, size=64, device="cpu").data.startswith("2 edge/picture")
