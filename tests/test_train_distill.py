"""Distillation: the teacher runs once per cached (item, variant), the cache holds exactly its answer for that
augmented crop, and the student learns to imitate it."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_data import make_labels_folder

from paintgan.train.config import resolve_config
from paintgan.train.data import TrainingSet, check_data, find_layout, picture_u8
from paintgan.train.loop import train

TEACHER = """
calls = []

def negative():
    def run(batch):
        calls.append(batch.shape[0])
        return -batch
    return run
"""


def _images_only(tmp_path: Path) -> Path:
    data = make_labels_folder(tmp_path / "made", n=3, size=32)
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for p in (data / "images").iterdir():
        p.rename(root / "images" / p.name)
    return root


@pytest.mark.slow
def test_student_learns_a_callable_teacher_from_cached_pictures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_teacher.py").write_text(textwrap.dedent(TEACHER))
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_teacher

    data = _images_only(tmp_path)
    out = tmp_path / "run"
    options = {"family": "light_unet", "data": str(data), "out": str(out), "teacher": "fake_teacher:negative",
               "teacher_variants": 2, "size": 32, "batch": 3, "steps": 12, "workers": 0, "log_every": 1, "ndf": 8,
               "lr_g": 3e-3, "lr_d": 3e-3, "model": {"ngf": 8}, "d_layers": 2}
    config = resolve_config(options)
    assert config.lambda_l1 >= 10  # distillation leans on the pixel loss
    train(config, log=None)
    cached = sorted((out / "teacher").glob("*.png"))
    assert len(cached) == 6 and sum(fake_teacher.calls) == 6  # one forward pass per (item, variant)
    # The cache holds the teacher's answer for exactly the crop the student is shown.
    dataset = TrainingSet(check_data(find_layout(data, "image")), 32, seed=config.seed, load_scale=config.load_scale)
    source = dataset[(1, 1)]["source"]
    expected = picture_u8(-source)
    assert np.abs(np.asarray(Image.open(out / "teacher" / "000001_1.png")).astype(int) - expected).max() <= 1
    with (out / "metrics.csv").open() as fh:
        l1 = [float(r["L1"]) for r in csv.DictReader(fh)]
    assert np.mean(l1[-3:]) < 0.8 * np.mean(l1[:3]), l1
    # Resuming reuses the cache: the teacher is not asked again.
    resumed = resolve_config({"steps": 13}, out / "config.toml")
    train(resumed, resume=True, log=None)
    assert sum(fake_teacher.calls) == 6


def test_a_teacher_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    from paintgan.train.distill import TeacherError, load_teacher

    with pytest.raises(TeacherError, match="cannot be imported"):
        load_teacher("no_such_module_xyz:factory")
    _ = tmp_path
