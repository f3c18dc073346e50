"""The registry of generator families.

A family knows how to build its generator from a typed config, what input size multiple it needs, and how to
recognise its own state dicts (returning the config that rebuilds them, or None). Each family module registers
itself on import; importing this package imports them all, so the registry is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from paintgan.errors import CheckpointError

CONDITIONAL_KINDS = ("image", "labels")


@dataclass(frozen=True)
class Family:
    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    size_multiple: Callable[[Any], int]
    detect: Callable[[dict[str, Tensor]], Any | None]
    conditional: str
    # config -> render_core.Tiling: whether tiles equal the full render and with what overlap (families/tiling.py);
    # None: not stated, so the engine never tiles it where a seam would show
    tiling: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.conditional not in CONDITIONAL_KINDS:
            raise ValueError(f"family {self.name!r}: conditional must be one of {CONDITIONAL_KINDS}")


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> None:
    """Add a family; registering the same name twice replaces the entry (module reloads in tests)."""
    _REGISTRY[family.name] = family


def get_family(name: str) -> Family:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise CheckpointError(f"unknown generator family {name!r}; expected one of: {known}") from None


def all_families() -> list[Family]:
    return list(_REGISTRY.values())


# Imported for their registration side effect; order is the order `checkpoints.detect` tries them.
from paintgan.families import cyclegan, ganilla, light_spade, light_unet, pix2pix, spade, staged  # noqa: E402,F401  isort:skip
