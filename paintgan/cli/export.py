"""`paintgan export`: a training run folder in, one `.safetensors` model (weights + card) out."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write a training run's generator as a model file",
        description="Write the newest checkpoint of RUN_DIR as MODEL.safetensors with its model card "
        "(family, settings, label set, data, steps, metrics); `paintgan render --model` opens it at once.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of paintgan train")
    p.add_argument("--output", metavar="MODEL.safetensors", required=True, help="model file to write")
    p.add_argument("--name", help="model name in the card (default: the run's --name, else the folder name)")
    p.add_argument("--generator", choices=("A", "B"), default="A",
                   help="unpaired runs: A exports A -> B (default), B exports B -> A")
    p.add_argument("--raw", action="store_true", help="export the live weights instead of their moving average")
    p.add_argument("--card", metavar="NOTES.toml",
                   help="card text: description, limits and a [training] table (e.g. hardware) to add")
    p.add_argument("--painter", metavar="MODEL",
                   help="segmenter runs (--target labels): the label model (name or file) that paints the map; "
                        "the export is one staged sketch model")
    p.add_argument("--metrics", metavar="EVAL.json",
                   help="a `paintgan eval --json` report to put in the card instead of the last training losses")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paintgan.train.export import export_run, read_card_notes, read_eval_report

    notes = read_card_notes(args.card) if args.card else None
    evaluation = read_eval_report(args.metrics) if args.metrics else None
    card = export_run(args.run_dir, args.output, which=args.generator, raw=args.raw, name=args.name,
                      notes=notes, evaluation=evaluation, painter=args.painter)
    print(f"{args.output}: {card.family} model {card.name!r}, {card.input_kind} input, {card.training['steps']} steps")
    return 0
