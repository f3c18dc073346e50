"""The training loop: assemble a run from its config, resume it exactly, step, log, sample, checkpoint.

Exact resume: a checkpoint holds every network, optimiser, scheduler, EMA copy, GradScaler, image pool and each
rank's RNG state; the data order is a pure function of (seed, epoch, position) and each sample's augmentation of
(seed, epoch, index), so a resumed run takes the same next step, bit for bit, as the run that never stopped.

Ctrl+C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and returns; a second Ctrl+C aborts.
Under torchrun every rank agrees on stopping before anyone writes, so no rank waits for a peer that has left.
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from paintgan import __version__
from paintgan.devices import pick_device
from paintgan.errors import DataError, OutputError
from paintgan.families import get_family
from paintgan.images import write_image
from paintgan.labels import LabelSet, colourize, read_labelset
from paintgan.train import ddp
from paintgan.train.config import TrainConfig, to_toml
from paintgan.train.data import (
    DONTCARE,
    DataSpec,
    ResumableSampler,
    TrainingSet,
    auto_workers,
    check_data,
    find_layout,
    make_loader,
    picture_u8,
)
from paintgan.train.distill import TeacherTargets, load_teacher, teacher_input
from paintgan.train.ema import EMA
from paintgan.train.features import load_feature_net
from paintgan.train.losses import PerceptualLoss
from paintgan.train.nets import InputSpec, build_discriminators, build_generator, generator_config, input_spec
from paintgan.train.objectives import Objective, PairedObjective, SegmentObjective, StepContext, UnpairedObjective
from paintgan.train.rundir import RunDir
from paintgan.train.warmstart import WarmStart, warm_start

SAMPLE_ITEMS = 4
LABELS_FILE = "labels.json"


@dataclass
class RunResult:
    run_dir: Path
    step: int
    interrupted: bool
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None


def _amp_dtype(c: TrainConfig, device: torch.device) -> torch.dtype | None:
    if not c.amp or device.type != "cuda":
        return None  # CPU autocast is slower than fp32 for these convs, and less exact
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _lr_factor(c: TrainConfig) -> Callable[[int], float]:
    """Constant, then linear decay to zero over the last (1 - decay_from) of the steps (pix2pix / CycleGAN)."""
    start = int(c.steps * c.decay_from)
    span = max(1, c.steps - start)
    return lambda step: 1.0 - max(0, step - start) / span


class StopFlag:
    """Set by SIGINT/SIGTERM; a second SIGINT raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def agreed(self, d: ddp.Dist, device: torch.device) -> bool:
        if not d.enabled:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class Trainer:
    """Everything a run holds in memory; `run()` drives it."""

    def __init__(self, config: TrainConfig, *, resume: bool = False, log: TextIO | None = sys.stderr) -> None:
        self.config = c = config
        self.resume = resume
        self.log = log
        kind = pick_device(c.device)
        self.dist = ddp.init(kind.type)
        self.device = torch.device("cuda", self.dist.local_rank) if kind.type == "cuda" and self.dist.enabled else kind
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.run_dir = RunDir(c.out)
        info = self._check_run_dir()
        self.teacher = None
        if c.teacher:
            self.teacher = load_teacher(c.teacher, "cuda" if self.device.type == "cuda" else "cpu")
        self.spec = self._data(info)
        self.segmenting = self.spec.layout == "sketch_labels"
        self.family = get_family(c.family)
        if info:
            self.inputs = InputSpec.from_dict(info["inputs"])
            self.g_config = self.family.config_cls(**info["generator"])
        else:
            self.inputs = input_spec(self.spec, c.dontcare)
            output_nc = self.inputs.label_nc if self.segmenting else 3
            self.g_config = generator_config(self.family, self.inputs, c.size, c.model, output_nc)
        self._build()

    # ------------------------------------------------------------------------------------------ set-up

    def _check_run_dir(self) -> dict[str, Any] | None:
        has_run = bool(self.run_dir.checkpoint_files())
        if self.resume:
            self.run_dir.latest_checkpoint()  # raises when there is nothing to resume
            return self.run_dir.read_info()
        if has_run:
            raise OutputError(f"{self.run_dir.root} already holds a run; pass --resume to continue it, or pick a new --out")
        return None

    def _data(self, info: dict[str, Any] | None) -> DataSpec:
        c = self.config
        recorded = None if info is None else info["inputs"].get("label_set")
        label_set: LabelSet | None = None
        if recorded is not None:
            label_set = LabelSet.from_dict(recorded)
        elif c.labels:
            label_set = read_labelset(c.labels)
        elif self.teacher is not None and self.teacher.label_set is not None:
            label_set = self.teacher.label_set  # the student speaks its teacher's label set
        elif (Path(c.data) / LABELS_FILE).is_file():
            label_set = read_labelset(Path(c.data) / LABELS_FILE)  # the folder names its classes (paintgan.datagen)
        input_kind = c.input
        if self.teacher is not None and input_kind == "auto":
            input_kind = teacher_input(self.teacher, Path(c.data))
        spec = find_layout(c.data, input_kind, c.target)
        if spec.layout == "images" and self.teacher is None:
            raise DataError(f"{spec.root} gives pictures only; pass --teacher to distil a model, or --input edges")
        return check_data(spec, label_set, c.dontcare)

    def _build(self) -> None:
        c, device = self.config, self.device
        torch.manual_seed(c.seed)
        unpaired = not self.spec.paired
        count = 2 if unpaired else 1
        gens = [build_generator(self.family, self.g_config, c.g_spectral_norm).to(device) for _ in range(count)]
        d_input = 3 if unpaired else self.inputs.channels + 3
        discs = [] if self.segmenting else [d.to(device) for d in build_discriminators(c, d_input, count)]
        perceptual = None
        if c.lambda_perceptual > 0:
            self.feature_net = load_feature_net(c.feature_net)
            perceptual = PerceptualLoss(self.feature_net).to(device)
        amp_dtype = _amp_dtype(c, device)
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.ctx = StepContext(c, self.dist, device, amp_dtype, scaler, perceptual)
        self.objective: Objective
        if self.segmenting:
            self.objective = SegmentObjective(self.ctx, gens[0], DONTCARE)
        elif unpaired:
            self.objective = UnpairedObjective(self.ctx, (gens[0], gens[1]), (discs[0], discs[1]))
        else:
            self.objective = PairedObjective(self.ctx, self.inputs, gens[0], discs[0])
        factor = _lr_factor(c)
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, factor) for name, opt in self.objective.optimizers.items()
        }
        self.emas = {name: EMA(g, c.ema) for name, g in self.objective.generators.items()} if c.ema > 0 else {}
        self.step = 0
        self.started: WarmStart | None = None
        if self.resume:
            self._load(self.run_dir.latest_checkpoint())
        else:
            if c.init:
                nets = {**self.objective.generators, **self.objective.discriminators}
                self.started = warm_start(c.init, nets, {n: e.shadow for n, e in self.emas.items()})
                self._say(f"paintgan train: --init {self.started.describe()}")
            torch.manual_seed(c.seed + 7919 * (self.dist.rank + 1))  # ranks draw dropout / augment noise apart
        ddp.broadcast_state(self.dist, self._all_nets())

    def _all_nets(self) -> list[nn.Module]:
        o = self.objective
        return [*o.generators.values(), *o.discriminators.values(), *(e.shadow for e in self.emas.values())]

    # ------------------------------------------------------------------------------------- checkpoints

    def _state(self) -> dict[str, Any]:
        o = self.objective
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.empty(0, dtype=torch.uint8)
        rngs = [(rng, cuda_rng)]
        if self.dist.enabled:
            gathered: list[Any] = [None] * self.dist.world
            dist.all_gather_object(gathered, (rng, cuda_rng.cpu()))
            rngs = gathered
        return {
            "step": self.step,
            "world": self.dist.world,
            "nets": {n: m.state_dict() for n, m in {**o.generators, **o.discriminators}.items()},
            "ema": {n: e.shadow.state_dict() for n, e in self.emas.items()},
            "optimizers": {n: opt.state_dict() for n, opt in o.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.ctx.scaler.state_dict(),
            "pools": {n: p.state_dict() for n, p in o.pools.items()},
            "rng": {"torch": [r[0] for r in rngs], "cuda": [r[1] for r in rngs]},
        }

    def _load(self, path: Path) -> None:
        state = RunDir.load_checkpoint(path)
        o = self.objective
        for name, net in {**o.generators, **o.discriminators}.items():
            net.load_state_dict(state["nets"][name])
        for name, ema in self.emas.items():
            if name in state["ema"]:
                ema.shadow.load_state_dict(state["ema"][name])
        for name, opt in o.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        if state["scaler"]:
            self.ctx.scaler.load_state_dict(state["scaler"])
        for name, pool in o.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
        self.step = int(state["step"])
        rank = self.dist.rank
        if int(state["world"]) == self.dist.world:
            torch.set_rng_state(state["rng"]["torch"][rank])
            if self.device.type == "cuda" and state["rng"]["cuda"][rank].numel():
                torch.cuda.set_rng_state(state["rng"]["cuda"][rank], self.device)
        else:
            # A different process count cannot replay the old streams; start fresh, distinct ones.
            torch.manual_seed(self.config.seed + 7919 * (rank + 1) + 104729 * self.step)

    def save(self) -> Path | None:
        state = self._state()  # collective under torchrun: every rank takes part
        path = None
        if self.dist.main:
            path = self.run_dir.save_checkpoint(self.step, state, self.config.keep_checkpoints)
        ddp.barrier(self.dist)
        return path

    # --------------------------------------------------------------------------------------- recording

    def _write_header(self) -> None:
        c = self.config
        self.run_dir.create()
        self.run_dir.write_text(self.run_dir.config_path, to_toml(c))
        if self.resume:
            return
        self.run_dir.write_info({
            "paintgan": __version__,
            "family": self.family.name,
            "generator": asdict(self.g_config),
            "inputs": self.inputs.to_dict(),
            "layout": self.spec.layout,
            "target": c.target,
            "paired": self.spec.paired,
            "data": self.spec.describe(),
            "data_licence": c.data_licence,
            "world": self.dist.world,
            "size": c.size,
            "batch": c.batch,
            "feature_net": getattr(getattr(self, "feature_net", None), "name", None),
            "teacher": c.teacher,
            # Where a fine-tuned run's weights came from: its card counts that run's steps and hours too.
            "init": None if self.started is None else {"run": str(Path(c.init).resolve()), "step": self.started.step},
        })

    def _log_row(self, row: dict[str, float]) -> None:
        path = self.run_dir.metrics_path
        header: list[str] = []
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
        if header and set(row) <= set(header):
            with path.open("a", newline="", encoding="utf-8") as fh:
                csv.DictWriter(fh, fieldnames=header).writerow(row)
            return
        # First row, or a resumed run with a new loss term (e.g. --lambda-fm added): rewrite the file under the
        # union of columns, earlier rows blank in the new ones, so every row stays under its own names.
        rows: list[dict[str, str]] = []
        if header:
            with path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        columns = header + [k for k in row if k not in header]
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows([*rows, row])
        os.replace(tmp, path)

    def _visual(self, source: Tensor) -> np.ndarray:
        if self.inputs.kind == "labels":
            assert self.inputs.label_set is not None
            indices = source.numpy().astype(np.int64)
            indices = np.where(indices > self.inputs.label_set.max_index, 0, indices)  # dontcare shows as class 0
            return colourize(indices, self.inputs.label_set)
        return picture_u8(source)

    def _output_visual(self, out: Tensor) -> np.ndarray:
        """A generated picture, or a segmenter's logits (or a target label map) as the label set's colours."""
        if not self.segmenting:
            return picture_u8(out)
        assert self.inputs.label_set is not None
        indices = out.argmax(0) if out.is_floating_point() else out
        return colourize(indices.numpy().astype(np.int64), self.inputs.label_set)

    @torch.no_grad()
    def write_samples(self, dataset: TrainingSet | TeacherTargets) -> Path:
        keys = [(i, 0) for i in range(min(SAMPLE_ITEMS, len(dataset)))]
        items = [dataset[k] for k in keys]
        source = torch.stack([it["source"] for it in items])
        target = torch.stack([it["target"] for it in items])
        rows = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            for name, g in self.objective.generators.items():
                net = self.emas[name].shadow if name in self.emas else g
                was_training = net.training
                net.eval()
                inp = source if name != "G_B" else target
                out = self.objective.generate(inp.to(self.device), net).float().cpu()
                net.train(was_training)
                rows.append([self._visual(s) if name != "G_B" else picture_u8(s) for s in inp])
                rows.append([self._output_visual(o) for o in out])
        if self.spec.paired:
            rows.append([self._output_visual(t) for t in target])
        grid = np.concatenate([np.concatenate(col, axis=0) for col in rows], axis=1)
        return write_image(self.run_dir.samples / f"step_{self.step:08d}.png", grid)

    # ---------------------------------------------------------------------------------------------- loop

    def make_dataset(self) -> TrainingSet | TeacherTargets:
        c = self.config
        dataset = TrainingSet(self.spec, c.size, seed=c.seed, load_scale=c.load_scale, flip=c.flip, edges=c.edges,
                              direction=c.direction, outline_share=c.outline_share)
        if self.teacher is not None:
            self._say(f"paintgan train: caching {len(dataset) * c.teacher_variants} teacher pictures of {self.teacher.name}")
            return TeacherTargets.prepare(dataset, c, self.run_dir, self.dist, self.teacher)
        return dataset

    def _say(self, text: str) -> None:
        if self.dist.main and self.log is not None:
            print(text, file=self.log, flush=True)

    def run(self) -> RunResult:
        c, d = self.config, self.dist
        if d.main:
            self._write_header()
        ddp.barrier(d)
        dataset = self.make_dataset()
        workers = auto_workers(d.world) if c.workers < 0 else c.workers
        sampler = ResumableSampler(len(dataset), seed=c.seed, rank=d.rank, world=d.world, start=self.step * c.batch)
        loader = make_loader(dataset, c.batch, sampler, workers, pin=self.device.type == "cuda")
        self._say(f"paintgan train: {self.family.name} on {self.spec.describe()}, {c.size} px, batch {c.batch} x "
                  f"{d.world} process(es), {self.device}, steps {self.step}->{c.steps}, run {self.run_dir.root}")
        for net in self.objective.generators.values():
            net.train()
        board = _tensorboard(self.run_dir.root / "tensorboard") if d.main else None
        window: dict[str, list[float]] = {}
        last: dict[str, float] = {}
        t0, done_at_t0, interrupted = time.perf_counter(), self.step, False
        start_time = t0
        with StopFlag() as stop:
            batches = iter(loader)
            while self.step < c.steps:
                metrics = self.objective.step(next(batches))
                self.step += 1
                for name, g in self.objective.generators.items():
                    if name in self.emas:
                        self.emas[name].update(g, self.step)
                for sched in self.schedulers.values():
                    sched.step()
                ddp.broadcast_state(d, self._all_nets(), buffers_only=True)
                for k, v in metrics.items():
                    window.setdefault(k, []).append(v)
                if self.step % c.log_every == 0 or self.step == c.steps:
                    last = ddp.mean_scalars(d, {k: sum(v) / len(v) for k, v in window.items()}, self.device)
                    window = {}
                    now = time.perf_counter()
                    rate = (self.step - done_at_t0) / max(now - t0, 1e-9)
                    self._progress(last, rate)
                    if d.main:
                        lrs = {f"lr_{n}": s.get_last_lr()[0] for n, s in self.schedulers.items()}
                        self._log_row({"step": self.step, "elapsed_s": round(now - start_time, 3),
                                       "it_per_s": round(rate, 4), **lrs, **{k: round(v, 6) for k, v in last.items()}})
                        if board is not None:
                            for k, v in {**lrs, **last}.items():
                                board.add_scalar(k, v, self.step)
                    t0, done_at_t0 = now, self.step
                if d.main and (self.step % c.sample_every == 0 or self.step == c.steps):
                    self.write_samples(dataset)
                if stop.agreed(d, self.device):
                    interrupted = True
                    break
                if self.step % c.save_every == 0 and self.step < c.steps:
                    self.save()
            path = self.save()
        if board is not None:
            board.close()
        if interrupted:
            self._say(f"paintgan train: stopped at step {self.step}; continue with --resume --out {self.run_dir.root}")
        return RunResult(self.run_dir.root, self.step, interrupted, last, path)

    def _progress(self, metrics: dict[str, float], rate: float) -> None:
        c = self.config
        eta = (c.steps - self.step) / rate if rate > 0 else 0.0
        hours, rest = divmod(int(eta), 3600)
        terms = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self._say(f"step {self.step}/{c.steps} | {rate:.2f} it/s | ETA {hours}:{rest // 60:02d}:{rest % 60:02d} | {terms}")


def _tensorboard(folder: Path) -> Any:
    """A TensorBoard writer when the tensorboard package is installed (it is optional), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))


def train(config: TrainConfig, *, resume: bool = False, log: TextIO | None = sys.stderr) -> RunResult:
    """Run (or continue) training as `config` says; under torchrun, every rank calls this."""
    try:
        return Trainer(config, resume=resume, log=log).run()
    finally:
        ddp.shutdown()
