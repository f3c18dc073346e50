"""Distillation: a student (any family, usually a light one) learns to reproduce a teacher on the data's inputs.

`--teacher` is a model PaintGAN can open (a `.safetensors` file, an upstream `.pth`, or a registered model name),
rendered through `paintgan.render` exactly as the app would render it, or `module:factory`, a zero-argument
factory returning a callable that maps an RGB batch (N x 3 x H x W in [-1, 1]) to a picture batch of the same
size (the `paintgan.teachers` convention, e.g. `paintgan.teachers.magenta:monet`).

Each data item is seen in `teacher_variants` augmented versions (crop, scale, flip seeded by item and variant).
The teacher runs once per (item, variant), before the first step, and its picture is cached as a PNG in
`RUN/teacher/`, so a slow teacher costs one forward pass per cached picture however long the student trains, and
a resumed run reuses the cache. Training is then ordinary paired training with the teacher's pictures as targets.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from paintgan.images import read_rgb, write_image
from paintgan.labels import LabelSet
from paintgan.teachers import TeacherError
from paintgan.train import ddp
from paintgan.train.config import TrainConfig
from paintgan.train.data import TrainingSet, picture_u8, source_array
from paintgan.train.rundir import RunDir


@dataclass
class Teacher:
    """Maps one augmented training `source` (as the dataset gives it) to the teacher's picture, 3xHxW in [-1, 1]."""

    name: str
    input_kind: str  # "labels", "sketch", "image"
    run: Callable[[Tensor], Tensor]
    label_set: LabelSet | None = None


def _from_callable(spec: str) -> Teacher:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise TeacherError(f"teacher {spec!r} cannot be imported ({exc}); expected module:factory") from None
    fn = factory()

    @torch.no_grad()
    def run(source: Tensor) -> Tensor:
        out = fn(source[None].float())
        return torch.as_tensor(out)[0].float().clamp(-1, 1)

    return Teacher(spec, "image", run)


def _from_model(spec: str, device: str) -> Teacher:
    from paintgan.models import load_model
    from paintgan.render import Renderer

    model = load_model(spec)
    renderer = Renderer(model, device=device, dtype=torch.float32)
    kind = model.card.input_kind

    def run(source: Tensor) -> Tensor:
        return renderer.render_tensor(source_array(source, kind))[0].float()

    return Teacher(model.card.name, kind, run, model.card.label_set)


def load_teacher(spec: str, device: str = "auto") -> Teacher:
    looks_callable = ":" in spec and not Path(spec).exists() and "/" not in spec.split(":")[0]
    return _from_callable(spec) if looks_callable else _from_model(spec, device)


def teacher_input(teacher: Teacher, data: Path) -> str:
    """The `--input` that feeds this teacher from the folder: its own kind (sketches drawn from images/ if needed)."""
    if teacher.input_kind == "sketch" and not (data / "sketches").is_dir():
        return "edges"
    return teacher.input_kind


class TeacherTargets(Dataset[dict[str, Tensor]]):
    """The data's augmented sources paired with the cached teacher picture of exactly that augmentation."""

    def __init__(self, base: TrainingSet, cache: Path, variants: int) -> None:
        self.base, self.cache, self.variants = base, cache, variants

    def __len__(self) -> int:
        return len(self.base)

    def path(self, index: int, variant: int) -> Path:
        return self.cache / f"{index:06d}_{variant}.png"

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        index, epoch = key
        variant = epoch % self.variants
        source = self.base[(index, variant)]["source"]
        target = torch.from_numpy(read_rgb(self.path(index, variant)).copy()).permute(2, 0, 1)
        return {"source": source, "target": target.float().div(127.5).sub(1.0)}

    @classmethod
    def prepare(cls, base: TrainingSet, c: TrainConfig, run: RunDir, d: ddp.Dist, teacher: Teacher) -> TeacherTargets:
        """Fill the cache (each rank its share of the items), then wait for every rank."""
        cache = run.root / "teacher"
        cache.mkdir(parents=True, exist_ok=True)
        targets = cls(base, cache, c.teacher_variants)
        for index in range(d.rank, len(base), d.world):
            for variant in range(c.teacher_variants):
                path = targets.path(index, variant)
                if path.exists():
                    continue
                source = base[(index, variant)]["source"]
                picture = teacher.run(source)
                if picture.shape[-2:] != source.shape[-2:]:
                    picture = torch.nn.functional.interpolate(picture[None], size=tuple(source.shape[-2:]),
                                                              mode="bilinear", align_corners=False)[0]
                write_image(path, picture_u8(picture))
        ddp.barrier(d)
        return targets
