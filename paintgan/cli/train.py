"""`paintgan train`: train a model from a data folder; the same command runs under `torchrun` on K processes."""

from __future__ import annotations

import argparse

from typing import Any

from paintgan.train.config import ConfigError, add_arguments, parse_model_options, read_toml, resolve_config
from paintgan.train.rundir import RunDir


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model on a folder of pictures",
        description="Train a generator on DIR (labels/+images/, sketches/+images/, images/ with --input edges, "
        "train/ side-by-side AB, A/+B/ or trainA/+trainB/). Every option can also be set in a TOML --config file; "
        "the run folder records the resolved options. Ctrl+C saves a checkpoint; --resume continues it exactly.",
    )
    p.add_argument("--config", metavar="FILE.toml", help="training options as TOML (command-line options win)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paintgan.train.loop import train

    cli = {k: v for k, v in vars(args).items() if k not in ("config", "resume", "func", "command", "model_options")}
    if args.model_options:
        cli["model"] = parse_model_options(args.model_options)
    recorded = None
    if args.resume:
        if not cli.get("out"):
            raise ConfigError("--resume needs --out RUN_DIR, the run to continue")
        recorded = _recorded(RunDir(cli["out"]))
    config = resolve_config(cli, args.config, recorded)
    result = train(config, resume=args.resume)
    return 130 if result.interrupted else 0


def _recorded(run: RunDir) -> dict[str, Any]:
    return read_toml(run.config_path) if run.config_path.is_file() else {}
