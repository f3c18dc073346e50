"""Fine-tuning with `--init`: a new run starts from another run's weights, and a generator that grew a new input
(light_spade's reflections) starts out painting exactly what the old one painted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from train_data import make_labels_folder

from paintgan.cli import main
from paintgan.families import get_family
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.train.config import ConfigError, resolve_config
from paintgan.train.export import run_generator, training_hours
from paintgan.train.loop import train
from paintgan.train.rundir import RunDir
from paintgan.train.warmstart import grow, warm_start

TINY = {"ndf": 8, "d_layers": 2, "workers": 0, "sample_every": 1000, "save_every": 1000, "log_every": 1,
        "size": 32, "batch": 2, "load_scale": 1.0}
MODEL = {"ngf": 4, "hidden": 4, "n_down": 2}


@pytest.fixture(scope="module")
def old_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("warm")
    data = make_labels_folder(root / "data", n=2, size=32)
    config = resolve_config({"family": "light_spade", "data": str(data), "out": str(root / "old"), "steps": 3,
                             "model": MODEL, **TINY})
    train(config, log=None)
    return root


def _label_batch(seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    labels = np.zeros((32, 32), np.int64)
    labels[16:] = 1
    labels[rng.integers(0, 32, 40), rng.integers(0, 32, 40)] = 2
    return torch.nn.functional.one_hot(torch.as_tensor(labels), 4).permute(2, 0, 1)[None].float()


def test_a_generator_with_reflections_starts_from_the_old_weights_painting_the_same_picture(old_run: Path) -> None:
    family = get_family("light_spade")
    state = RunDir.load_checkpoint(RunDir(old_run / "old").latest_checkpoint())
    old = family.build(LightSpadeConfig(4, **MODEL)).eval()
    old.load_state_dict(state["nets"]["G"])
    new = family.build(LightSpadeConfig(4, **MODEL, reflect=(1,)))
    started = warm_start(old_run / "old", {"G": new, "D_style": torch.nn.Conv2d(3, 1, 1)}, {})
    assert started.step == 3 and "G.head.weight" in started.grown and "D_style" in started.fresh
    new.eval()
    x = _label_batch()
    with torch.no_grad():
        assert torch.allclose(new(x), old(x), atol=1e-6), "new channels must start silent"
        new.head.weight[:, 4:] += 0.5  # once trained, the mirror input does change the picture
        assert not torch.allclose(new(x), old(x), atol=1e-3)


@pytest.mark.slow
def test_paintgan_train_init_fine_tunes_into_a_new_run(old_run: Path) -> None:
    out = old_run / "tuned"
    code = main(["train", "--family", "light_spade", "--data", str(old_run / "data"), "--out", str(out),
                 "--init", str(old_run / "old"), "--steps", "2", "--model-option", "reflect=[1]",
                 *(f"--model-option={k}={v}" for k, v in MODEL.items()),
                 *(f"--{k.replace('_', '-')}={v}" for k, v in TINY.items())])
    assert code == 0
    assert RunDir(out).read_info()["generator"]["reflect"] == [1]
    assert f'init = "{old_run / "old"}"' in RunDir(out).config_path.read_text(), "the run records where it started"
    model, _info = run_generator(out)
    training = model.card.training
    assert training["fine_tuned_from"][0]["run"] == "old" and training["fine_tuned_from"][0]["step"] == 3
    assert training["steps"] == 5, "the card counts the steps the weights had before the fine-tune"
    own = training_hours(RunDir(out))
    assert training["hours"] == pytest.approx(own + training["fine_tuned_from"][0]["hours"], abs=2e-6)
    assert training["fine_tuned_from"][0]["hours"] > 0, "the parent run's hours count too"
    assert model.card.config["reflect"] == [1]


def test_init_refuses_other_networks_and_folders_without_a_run(old_run: Path) -> None:
    cyclegan = get_family("cyclegan")
    net = cyclegan.build(cyclegan.config_cls(ngf=4, n_blocks=1))
    with pytest.raises(ConfigError, match=r"--init: G in the checkpoint has '.*', which this model lacks"):
        warm_start(old_run / "old", {"G": net}, {})
    with pytest.raises(ConfigError, match=r"is not a folder; expected a run directory"):
        warm_start(old_run / "missing", {"G": net}, {})
    with pytest.raises(ConfigError, match=r"has shape \(8, 4, 3, 3\) in the checkpoint but \(8, 2, 3, 3\)"):
        grow(torch.zeros(8, 4, 3, 3), torch.zeros(8, 2, 3, 3), "G.head.weight")
