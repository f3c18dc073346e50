"""Multi-process training under torchrun on the CPU (gloo): the ranks stay identical, one checkpoint is written, and
the automation contract (torchrun train -> export -> render) works as written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image
from train_data import make_labels_folder

from paintgan.train.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_two_ranks_keep_identical_weights_and_write_one_checkpoint(tmp_path: Path) -> None:
    data = make_labels_folder(tmp_path / "data", n=6, size=32)
    out = tmp_path / "run"
    script = tmp_path / "ranks.py"
    script.write_text(textwrap.dedent(f"""
        import torch
        from paintgan.train import ddp
        from paintgan.train.config import resolve_config
        from paintgan.train.loop import Trainer
        config = resolve_config({{"family": "pix2pix", "data": {str(data)!r}, "out": {str(out)!r}, "steps": 3,
                                 "size": 32, "batch": 1, "workers": 0, "model": {{"ngf": 4}}, "ndf": 8,
                                 "diffaug": "translation"}})
        trainer = Trainer(config, log=None)
        trainer.run()
        nets = {{**trainer.objective.generators, **trainer.objective.discriminators}}
        state = {{f"{{n}}.{{k}}": v for n, net in nets.items() for k, v in net.state_dict().items()}}
        torch.save(state, {str(tmp_path)!r} + f"/rank{{trainer.dist.rank}}.pt")
        ddp.shutdown()
    """))
    _check(subprocess.run([*TORCHRUN, str(script)], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600))
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0.keys() == r1.keys()
    for key in r0:
        assert torch.equal(r0[key], r1[key]), f"{key} differs between ranks"
    assert [s for s, _ in RunDir(out).checkpoint_files()] == [3]
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # header + the one row rank 0 wrote for 3 steps at log_every 10


@pytest.mark.slow
def test_automation_contract_torchrun_export_render(tmp_path: Path) -> None:
    data = make_labels_folder(tmp_path / "data", n=8, size=64)
    run, model, picture = tmp_path / "RUN", tmp_path / "M.safetensors", tmp_path / "OUT.png"
    paintgan = [sys.executable, "-m", "paintgan"]
    train = [*TORCHRUN, "-m", "paintgan", "train", "--family", "pix2pix", "--data", str(data), "--out", str(run),
             "--steps", "4", "--size", "64", "--batch", "1"]
    _check(subprocess.run(train, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600))
    assert len(RunDir(run).checkpoint_files()) == 1
    _check(subprocess.run([*paintgan, "export", str(run), "--output", str(model)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=300))
    _check(subprocess.run([*paintgan, "render", "--model", str(model), "--input", str(data / "labels" / "s3.png"),
                           "--output", str(picture)], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300))
    assert Image.open(picture).size == (64, 64)
