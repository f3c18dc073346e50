"""The run directory: what a run writes and how it is read back (by --resume, export and eval).

    RUN/config.toml            resolved options (valid as --config)
    RUN/run.json               family, generator config, input spec, data description, world size
    RUN/metrics.csv            one row every log_every steps
    RUN/samples/step_N.png     input | output | target rows for a fixed set of data items
    RUN/checkpoints/step_N.pt  everything --resume needs; the newest keep_checkpoints are kept
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from paintgan.errors import CheckpointError, DataError, OutputError
from paintgan.images import open_atomic, write_bytes_atomic

CHECKPOINT_RE = re.compile(r"^step_(\d+)\.pt$")


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def info_path(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def create(self) -> None:
        for folder in (self.root, self.samples, self.checkpoints):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create run folder {folder}: {exc.strerror or exc}") from None

    def checkpoint_files(self) -> list[tuple[int, Path]]:
        if not self.checkpoints.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
        return sorted(found)

    def latest_checkpoint(self) -> Path:
        files = self.checkpoint_files()
        if not files:
            raise CheckpointError(f"{self.root} holds no checkpoint (checkpoints/step_N.pt); expected a run of paintgan train")
        return files[-1][1]

    def write_text(self, path: Path, text: str) -> None:
        write_bytes_atomic(path, text.encode("utf-8"))

    def write_info(self, info: dict[str, Any]) -> None:
        self.write_text(self.info_path, json.dumps(info, indent=1, sort_keys=True) + "\n")

    def read_info(self) -> dict[str, Any]:
        try:
            return json.loads(self.info_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{self.root} is not a training run (no run.json); expected the --out folder of paintgan train") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.info_path} is damaged ({exc}); expected the JSON written by paintgan train") from None

    def save_checkpoint(self, step: int, state: dict[str, Any], keep: int) -> Path:
        path = self.checkpoints / f"step_{step:08d}.pt"
        # Streamed: a checkpoint is several copies of the weights, too big to assemble in memory first; a kill
        # mid-write leaves the previous checkpoint as the newest.
        with open_atomic(path) as fh:
            torch.save(state, fh)
        for _, old in self.checkpoint_files()[:-keep]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def load_checkpoint(path: Path) -> dict[str, Any]:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {path} does not exist") from None
        except Exception as exc:  # noqa: BLE001  weights-only unpickling reports many kinds of damage
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"checkpoint {path} cannot be read ({first}); expected a paintgan train checkpoint") from None
