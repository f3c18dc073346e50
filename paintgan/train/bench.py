"""Training speed per family: `python -m paintgan.train.bench [--sizes 128 256] [--families ...] [--steps N]`.

Builds each family at its paper defaults (the run a user gets without `--model-option`) on a generated folder of
landscape-like label maps, pictures and sketches, and times full optimisation steps (both networks, every loss)
on one already-loaded batch, after one warm-up step. Data loading is left out: it runs in worker processes in real
runs. Prints one line per family and size: steps/second and seconds/step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from paintgan.train.config import resolve_config
from paintgan.train.loop import Trainer

CLASSES = 10
FAMILIES = ("pix2pix", "light_unet", "spade", "light_spade", "cyclegan", "ganilla")


def _folder(root: Path, size: int, paired_labels: bool) -> Path:
    rng = np.random.default_rng(0)
    if paired_labels:
        (root / "labels").mkdir(parents=True)
        (root / "images").mkdir()
    else:
        (root / "A").mkdir(parents=True)
        (root / "B").mkdir()
    for i in range(2):
        labels = np.repeat(rng.integers(0, CLASSES, (size // 16, 1)), size, 1).repeat(16, 0).astype(np.uint8)
        picture = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        if paired_labels:
            Image.fromarray(labels).save(root / "labels" / f"{i}.png")
            Image.fromarray(picture).save(root / "images" / f"{i}.png")
        else:
            Image.fromarray(picture).save(root / "A" / f"{i}.png")
            Image.fromarray(picture[::-1].copy()).save(root / "B" / f"{i}.png")
    return root


def steps_per_second(family: str, size: int, steps: int, root: Path) -> float:
    unpaired = family in ("cyclegan", "ganilla")
    data = _folder(root / f"{family}_{size}_data", size, not unpaired)
    config = resolve_config({"family": family, "data": str(data), "out": str(root / f"{family}_{size}_run"),
                             "size": size, "workers": 0})
    trainer = Trainer(config, log=None)
    dataset = trainer.make_dataset()
    item = dataset[(0, 0)]
    batch = {k: v[None] for k, v in item.items()}
    trainer.objective.step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.objective.step(batch)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, paper-default generators")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for family in args.families:
                rate = steps_per_second(family, size, args.steps, Path(tmp))
                print(f"{family:12s} {size:4d} px  {rate:7.3f} steps/s  {1 / rate:7.2f} s/step", flush=True)


if __name__ == "__main__":
    main()
