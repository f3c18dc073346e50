"""The `paintgan` command line: one module a subcommand, each a thin layer over the engine API."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from paintgan.errors import PaintGANError

# Each module defines `add_parser(subparsers)` which registers its subcommand with `func=run(args) -> int`.
SUBCOMMANDS = ("render", "convert", "models", "train", "export", "eval", "bench", "sheet", "export-onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paintgan", description="PaintGAN: paint a map, get a picture.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"paintgan.cli.{name.replace('-', '_')}")
        except ImportError as exc:
            if (exc.name or "").split(".")[0] != "torch":
                raise
            _needs_torch(sub, name)  # the lite build: the command exists, and says what it needs
            continue
        module.add_parser(sub)
    return parser


def _full_build_only(name: str) -> str:
    return f"`paintgan {name}` needs the full build of PaintGAN (with torch); this build renders ONNX models only"


def _needs_torch(sub: argparse._SubParsersAction, name: str) -> None:  # type: ignore[type-arg]
    def refuse(_args: argparse.Namespace) -> int:
        raise PaintGANError(_full_build_only(name))

    # No option prefix: whatever options follow are taken as they come rather than refused one by one.
    p = sub.add_parser(name, help="(full build only)", add_help=False, prefix_chars="\0")
    p.add_argument("rest", nargs="*")
    p.set_defaults(func=refuse)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PaintGANError as exc:
        print(f"paintgan: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        print(f"paintgan: error: {_full_build_only(args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paintgan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: point stdout at devnull so the interpreter's final flush
        # does not raise a second time, as the Python docs recommend.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
