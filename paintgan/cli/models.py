"""`paintgan models [--json]`: the models PaintGAN can find by name (bundled and the user's)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from paintgan.devices import torch_available
from paintgan.models import RegistryEntry, registry
from paintgan.onnx_runtime import onnx_registry


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list the bundled and user models", description=__doc__)
    p.add_argument("--json", action="store_true", help="print every model's card as a JSON list")
    p.set_defaults(func=run)


def _size(entry: RegistryEntry) -> str:
    return f"{entry.path.stat().st_size / 1e6:.1f} MB"


def entry_json(entry: RegistryEntry) -> dict[str, Any]:
    """The card plus where it was found; label models carry their label set (name, index, colour)."""
    return {**entry.card.to_dict(), "installed": entry.origin, "path": str(entry.path),
            "bytes": entry.path.stat().st_size}


def run(args: argparse.Namespace) -> int:
    found = registry() if torch_available() else onnx_registry()  # without torch: what can render, the .onnx
    entries = sorted(found.values(), key=lambda e: e.card.name)
    if args.json:
        print(json.dumps([entry_json(e) for e in entries], indent=1))
        return 0
    rows = [("NAME", "FAMILY", "INPUT", "SIZE", "SOURCE", "")]
    for e in entries:
        c = e.card
        kind = f"labels ({c.label_set.name})" if c.label_set is not None else c.input_kind
        rows.append((c.name, c.family, kind, _size(e), e.origin, "untrained placeholder" if c.placeholder else ""))
    if len(rows) == 1:
        print("no models found (bundled weights/ is empty and no user models are installed)")
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0
