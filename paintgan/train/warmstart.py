"""Fine-tuning: a new run whose networks start from another run's newest checkpoint (`--init RUN_DIR`).

Only weights carry over; optimisers, schedules, pools and the step count start fresh, because the new run has
its own options (data, losses, steps). A generator may have grown new input channels since (a conditioning
input added to a trained family, e.g. `light_spade`'s `reflect`): such a tensor takes the old weights in its
leading channels and zeros in the new ones, so the fine-tuned network starts out rendering exactly what the old
one did and learns to use the new input from there. A network the old run did not have (a new discriminator)
and parameters it did not have start from their fresh initialisation; anything else that differs is an error,
since silently dropping trained weights would make a different model than the user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from paintgan.train.config import ConfigError
from paintgan.train.rundir import RunDir


@dataclass
class WarmStart:
    """What `--init` carried over: checkpoint read, tensors grown, and tensors left at their fresh values."""

    checkpoint: Path
    step: int
    grown: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"weights from {self.checkpoint} (step {self.step})"]
        if self.grown:
            parts.append(f"{len(self.grown)} tensor(s) grew new input channels, started at zero")
        if self.fresh:
            parts.append(f"{len(self.fresh)} tensor(s) new, freshly initialised")
        return "; ".join(parts)


def grow(old: Tensor, new: Tensor, name: str) -> Tensor:
    """`old` in the leading slice of a tensor shaped like `new`, zeros elsewhere; only dim 1 (inputs) may grow."""
    if old.shape == new.shape:
        return old.to(new.dtype)
    if old.dim() != new.dim() or old.dim() < 2 or old.shape[0] != new.shape[0] or old.shape[2:] != new.shape[2:] \
            or old.shape[1] > new.shape[1]:
        raise ConfigError(f"--init: {name} has shape {tuple(old.shape)} in the checkpoint but {tuple(new.shape)} "
                          "in this model; expected the same network, or one with more input channels")
    out = torch.zeros_like(new)
    out[:, : old.shape[1]] = old.to(new.dtype)
    return out


def load_grown(net: nn.Module, state: dict[str, Tensor], prefix: str, record: WarmStart) -> None:
    own = net.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ConfigError(f"--init: {prefix} in the checkpoint has {unknown[0]!r}, which this model lacks; "
                          "expected a checkpoint of the same family and options")
    merged = {}
    for key, value in own.items():
        if key not in state:
            record.fresh.append(f"{prefix}.{key}")
            merged[key] = value
            continue
        merged[key] = grow(state[key], value, f"{prefix}.{key}")
        if state[key].shape != value.shape:
            record.grown.append(f"{prefix}.{key}")
    net.load_state_dict(merged)


def warm_start(run: str | Path, nets: dict[str, nn.Module], emas: dict[str, nn.Module]) -> WarmStart:
    """Load the newest checkpoint of `run` into `nets` (and the EMA copies `emas`, by generator name)."""
    source = RunDir(run)
    if not source.root.is_dir():
        raise ConfigError(f"--init: {source.root} is not a folder; expected a run directory of `paintgan train`")
    path = source.latest_checkpoint()
    state = RunDir.load_checkpoint(path)
    record = WarmStart(path, int(state["step"]))
    for name, net in nets.items():
        if name in state["nets"]:
            load_grown(net, state["nets"][name], name, record)
        else:
            record.fresh.append(name)
    for name, shadow in emas.items():
        # Without a recorded average the shadow starts from the loaded weights, like a new run's does.
        load_grown(shadow, state["ema"].get(name, nets[name].state_dict()), f"ema.{name}", record)
    return record
