"""The `paintgan` command line: one module a subcommand, each a thin layer over the engine API."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from paintgan.errors import PaintGANError

# Each module defines `add_parser(subparsers)` which registers its subcommand with `func=run(args) -> int`.
SUBCOMMANDS = ("render", "convert", "models", "train", "export", "eval", "bench", "sheet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paintgan", description="PaintGAN: paint a map, get a picture.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"paintgan.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PaintGANError as exc:
        print(f"paintgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paintgan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: point stdout at devnull so the interpreter's final flush
        # does not raise a second time, as the Python docs recommend.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
