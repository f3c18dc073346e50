"""`paintgan convert IN.pth OUT.safetensors`: an upstream checkpoint as one PaintGAN model file."""

from __future__ import annotations

import argparse

from paintgan.models import convert


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="convert an upstream .pth generator to a PaintGAN .safetensors model",
        description="Convert a pix2pix/CycleGAN/GANILLA/SPADE generator checkpoint (family and settings are "
        "detected from its weights) into one .safetensors file with its model card. A SPADE encoder "
        "<prefix>_net_E.pth beside <prefix>_net_G.pth is included automatically.",
    )
    p.add_argument("input", metavar="IN.pth", help="upstream generator checkpoint")
    p.add_argument("output", metavar="OUT.safetensors", help="model file to write")
    p.add_argument("--name", help="model name (default: the checkpoint's folder or file name)")
    p.add_argument("--encoder", metavar="E.pth", help="SPADE style encoder, if not beside the generator")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    convert(args.input, args.output, name=args.name, encoder=args.encoder)
    print(args.output)
    return 0
