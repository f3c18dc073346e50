"""`paintgan export-onnx MODEL OUT.onnx`: a model as an ONNX graph with its card, for the lite build (no torch)."""

from __future__ import annotations

import argparse

from paintgan.cli.render import parse_size


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export-onnx",
        help="export a model to ONNX for the lite build (ONNX Runtime, no torch)",
        description="Write MODEL (a registered name, a .safetensors model or an upstream .pth) as one .onnx file "
        "holding the generator graph and the model card. The lite build renders it with ONNX Runtime; its "
        "pictures match torch within 1e-3 (checked while exporting). H and W stay free where the family allows "
        "it; SPADE with a VAE is exported for one size (--size, default 256x256).",
    )
    p.add_argument("model", help="model name (see `paintgan models`) or a .safetensors / upstream .pth file")
    p.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--size", metavar="WxH", type=parse_size,
                   help="input size for models whose graph has a fixed size (default 256x256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paintgan.models import load_model
    from paintgan.onnx_export import export_onnx

    model = load_model(args.model)
    size = None if args.size is None else (args.size[1], args.size[0])
    print(export_onnx(model, args.output, size))
    return 0
