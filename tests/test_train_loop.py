"""Training runs: each family learns on tiny data, a resumed run takes the very step the unbroken run took, a run
folder is refused twice, and an export opens in the renderer at once."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from train_data import make_labels_folder, make_sketch_folder, make_unpaired_folder

from paintgan.cli import main
from paintgan.errors import OutputError
from paintgan.models import load_model
from paintgan.render import Renderer
from paintgan.train.config import resolve_config
from paintgan.train.export import export_run
from paintgan.train.loop import train
from paintgan.train.rundir import RunDir

TINY = {"ndf": 8, "workers": 0, "sample_every": 1000, "save_every": 1000, "log_every": 1}


def run(data: Path, out: Path, family: str, **options: Any) -> Any:
    config = resolve_config({"family": family, "data": str(data), "out": str(out), **TINY, **options})
    return train(config, log=None)


def column(out: Path, name: str) -> list[float]:
    with (out / "metrics.csv").open() as fh:
        return [float(row[name]) for row in csv.DictReader(fh)]


FAMILIES = {
    # family: (folder maker, generator settings, extra options, loss that must fall)
    "pix2pix": (make_labels_folder, {"ngf": 8}, {}, "L1"),
    "light_unet": (make_sketch_folder, {"ngf": 8}, {}, "L1"),
    "spade": (make_labels_folder, {"ngf": 4}, {"d_layers": 2, "steps": 20}, "perceptual"),
    "light_spade": (make_labels_folder, {"ngf": 8}, {"d_layers": 2}, "perceptual"),
    "cyclegan": (make_unpaired_folder, {"ngf": 8, "n_blocks": 2}, {}, "cycle"),
    "ganilla": (make_unpaired_folder, {"ngf": 8, "widths": [8, 8, 8, 8], "fpn_size": 8, "layers": [1, 1, 1, 1]},
                {"steps": 24}, "cycle"),
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_few_steps_lower_the_loss(tmp_path: Path, family: str) -> None:
    make, model, extra, loss = FAMILIES[family]
    extra = dict(extra)
    data = make(tmp_path / "data", n=2, size=32)
    steps = extra.pop("steps", 14)
    result = run(data, tmp_path / "run", family, steps=steps, size=32, batch=2, lr_g=2e-3, lr_d=2e-3, load_scale=1.0,
                 flip=False, model=model, **extra)
    values = column(tmp_path / "run", loss)
    assert result.step == steps and len(values) == steps
    assert np.mean(values[-4:]) < 0.85 * np.mean(values[:4]), values


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return RunDir.load_checkpoint(path)["nets"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "make", "options"),
    [
        ("pix2pix", make_labels_folder, {"model": {"ngf": 4}, "diffaug": "color,translation,cutout"}),
        ("cyclegan", make_unpaired_folder, {"model": {"ngf": 4, "n_blocks": 1}, "pool_size": 2}),
    ],
)
def test_resume_takes_the_same_next_step_bit_for_bit(tmp_path: Path, family: str, make: Any, options: dict[str, Any]) -> None:
    data = make(tmp_path / "data", n=3, size=32)
    whole = tmp_path / "whole"
    run(data, whole, family, steps=3, size=32, batch=1, save_every=2, keep_checkpoints=5, **options)
    files = RunDir(whole).checkpoint_files()
    assert [s for s, _ in files] == [2, 3]
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    (resumed / "checkpoints" / files[1][1].name).unlink()
    (resumed / "metrics.csv").unlink()
    config = resolve_config({}, resumed / "config.toml", None)
    config.out = str(resumed)
    result = train(config, resume=True, log=None)
    assert result.step == 3
    a, b = _weights(files[1][1]), _weights(RunDir(resumed).latest_checkpoint())
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs after resume"
    # ... and the step really moved the weights, so equality is not trivially true.
    before = _weights(files[0][1])
    assert any(not torch.equal(before[n][k], a[n][k]) for n in a for k in a[n] if a[n][k].is_floating_point())


def test_a_run_folder_is_not_overwritten_and_resume_needs_a_run(tmp_path: Path) -> None:
    data = make_labels_folder(tmp_path / "data", n=2, size=32)
    run(data, tmp_path / "run", "pix2pix", steps=1, size=32, model={"ngf": 4})
    with pytest.raises(OutputError, match="already holds a run; pass --resume"):
        run(data, tmp_path / "run", "pix2pix", steps=1, size=32, model={"ngf": 4})
    assert main(["train", "--family", "pix2pix", "--data", str(data), "--out", str(tmp_path / "empty"), "--resume"]) == 2


@pytest.mark.slow
def test_export_then_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_labels_folder(tmp_path / "data", n=2, size=64)
    names = ["sky", "grass", "tree", "rock"]
    (data / "labels.json").write_text(json.dumps([{"index": i, "name": n, "colour": [i, i, i]} for i, n in enumerate(names)]))
    out = tmp_path / "run"
    run(data, out, "pix2pix", steps=2, size=64, model={"ngf": 4}, name="meadows", data_licence="CC0")
    assert (out / "config.toml").is_file() and list((out / "samples").glob("step_*.png"))
    model_path = tmp_path / "m.safetensors"
    assert main(["export", str(out), "--output", str(model_path)]) == 0
    model = load_model(model_path)
    card = model.card
    assert (card.family, card.input_kind, card.name, card.training["steps"]) == ("pix2pix", "labels", "meadows", 2)
    assert card.training["data_licence"] == "CC0" and card.label_set is not None
    assert [label.name for label in card.label_set] == names  # the folder's labels.json names the classes
    picture = Renderer(model).render(np.asarray(Image.open(data / "labels" / "s0.png")))
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    rendered = tmp_path / "out.png"
    assert main(["render", "--model", str(model_path), "--input", str(data / "labels" / "s1.png"),
                 "--output", str(rendered)]) == 0
    assert Image.open(rendered).size == (64, 64)


def test_export_writes_the_card_notes_and_eval_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_labels_folder(tmp_path / "data", n=2, size=32)
    run(data, tmp_path / "run", "pix2pix", steps=2, size=32, model={"ngf": 4}, name="valley", log_every=1)
    notes = tmp_path / "card.toml"
    notes.write_text('description = "Valley painter"\nlimits = "daylight only"\n[training]\nhardware = "2-core CPU"\n')
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"model": "valley", "data": "2 pairs", "items": 2, "feature_net": "random",
                                  "metrics": {"class_consistency": 0.93, "L1": 0.1}}))
    model_path = tmp_path / "m.safetensors"
    assert main(["export", str(tmp_path / "run"), "--output", str(model_path), "--card", str(notes),
                 "--metrics", str(report)]) == 0
    card = load_model(model_path).card
    assert (card.description, card.limits, card.training["hardware"]) == ("Valley painter", "daylight only", "2-core CPU")
    assert card.metrics["class_consistency"] == 0.93 and card.metrics["eval_items"] == 2
    assert "G" not in card.metrics  # the training losses gave way to the evaluation
    assert card.training["steps"] == 2 and card.training["hours"] >= 0

    notes.write_text('colour = "blue"\n')
    again = tmp_path / "again.safetensors"
    assert main(["export", str(tmp_path / "run"), "--output", str(again), "--card", str(notes)]) == 2
    assert "sets colour" in capsys.readouterr().err and not again.exists()


def test_a_loss_added_on_resume_gets_its_own_metrics_column(tmp_path: Path) -> None:
    data = make_labels_folder(tmp_path / "data", n=2, size=32)
    out = tmp_path / "run"
    run(data, out, "pix2pix", steps=2, size=32, model={"ngf": 4}, log_every=1, lambda_fm=0.0)
    config = resolve_config({"family": "pix2pix", "data": str(data), "out": str(out), **TINY, "steps": 4,
                             "size": 32, "model": {"ngf": 4}, "log_every": 1, "lambda_fm": 5.0})
    train(config, resume=True, log=None)
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(None not in r for r in rows), "no value may fall outside the header"
    assert [r["FM"] != "" for r in rows] == [False, False, True, True]
    assert all(float(r["G"]) > 0 for r in rows)  # the total stays under G, not shifted into another column


def test_training_hours_add_up_over_resumed_processes(tmp_path: Path) -> None:
    from paintgan.train.export import training_hours
    from paintgan.train.rundir import RunDir

    run_dir = RunDir(tmp_path)
    # two processes: 20 steps at 2 it/s and 1 it/s, then a resumed one whose elapsed_s restarts at 0
    run_dir.metrics_path.write_text("step,elapsed_s,it_per_s\n10,5,2\n20,15,1\n30,20,0.5\n")
    assert training_hours(run_dir) == pytest.approx(35 / 3600, abs=1e-6)


@pytest.mark.slow
def test_unpaired_export_offers_both_directions(tmp_path: Path) -> None:
    data = make_unpaired_folder(tmp_path / "data", n=2, size=64)
    run(data, tmp_path / "run", "cyclegan", steps=1, size=64, model={"ngf": 4, "n_blocks": 1})
    a = export_run(tmp_path / "run", tmp_path / "a.safetensors")
    b = export_run(tmp_path / "run", tmp_path / "b.safetensors", which="B")
    assert a.name != b.name and "A to B" in a.description and "B to A" in b.description
    styled = Renderer(load_model(tmp_path / "b.safetensors")).render(np.zeros((64, 64, 3), np.uint8))
    assert styled.shape == (64, 64, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "input_kind", "options"),
    [
        ("spade", "labels", {"model": {"ngf": 2}, "d_layers": 3}),
        ("light_spade", "labels", {"model": {"ngf": 4}, "d_layers": 3}),
        ("light_unet", "edges", {"model": {"ngf": 4}}),
    ],
)
def test_every_kind_of_model_exports_and_renders(tmp_path: Path, family: str, input_kind: str, options: dict[str, Any]) -> None:
    data = make_labels_folder(tmp_path / "data", n=2, size=64)
    if input_kind == "edges":
        shutil.rmtree(data / "labels")
    run(data, tmp_path / "run", family, steps=2, size=64, input=input_kind, **options)
    export_run(tmp_path / "run", tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors")
    if input_kind == "labels":
        source = np.asarray(Image.open(data / "labels" / "s0.png"))
    else:
        source = np.zeros((64, 64), np.uint8)
        source[30:34] = 255  # one ink stroke
    picture = Renderer(model).render(source)
    assert picture.shape == (64, 64, 3)
    assert model.card.input_kind == ("sketch" if input_kind == "edges" else "labels")


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    data = make_labels_folder(tmp_path / "data", n=2, size=32)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "paintgan", "train", "--family", "pix2pix", "--data", str(data), "--out", str(out),
           "--steps", "100000", "--size", "32", "--log-every", "1", "--workers", "0", "--ndf", "8",
           "--model-option", "ngf=4"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("step 2/"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err
    step = RunDir(out).checkpoint_files()[-1][0]
    assert step >= 2
    assert main(["train", "--resume", "--out", str(out), "--steps", str(step + 1)]) == 0
    assert RunDir(out).checkpoint_files()[-1][0] == step + 1
