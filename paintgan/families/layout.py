"""Helpers shared by the families: norm layers by name, config checks, and state-dict layout matching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from paintgan.errors import CheckpointError

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The upstream pix2pix/CycleGAN norms: affine BatchNorm with running stats, or stateless InstanceNorm."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def check(condition: bool, family: str, what: str) -> None:
    """Reject a config that cannot describe a network (configs also come from model cards on disk)."""
    if not condition:
        raise CheckpointError(f"invalid {family} config: {what}")


def shape(sd: dict[str, Tensor], key: str) -> tuple[int, ...] | None:
    t = sd.get(key)
    return None if t is None else tuple(t.shape)


def count_children(sd: dict[str, Tensor], prefix: str) -> int:
    """How many numbered children `prefix.<i>.` (a ModuleList or Sequential) hold keys in `sd`."""
    start = prefix + "."
    return len({k[len(start) :].split(".", 1)[0] for k in sd if k.startswith(start)})


def matches(build: Callable[[Any], nn.Module], config: Any, sd: dict[str, Tensor]) -> bool:
    """True if `build(config)` has exactly the keys and shapes of `sd`.

    The network is built on the meta device, so checking even a 100M-parameter candidate costs no memory.
    """
    try:
        with torch.device("meta"):
            expected = build(config).state_dict()
    except (CheckpointError, ValueError, RuntimeError):
        return False
    if expected.keys() != sd.keys():
        return False
    return all(tuple(v.shape) == tuple(sd[k].shape) for k, v in expected.items())
