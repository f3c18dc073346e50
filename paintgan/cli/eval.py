"""`paintgan eval`: measure a model on a data folder (pixel, structure, feature, class and style scores)."""

from __future__ import annotations

import argparse
import json

from paintgan.devices import DEVICE_NAMES
from paintgan.images import write_bytes_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="measure a model on a data folder",
        description="Render every item of DIR with the model and compare: L1, PSNR, SSIM and a Fréchet feature "
        "distance for paired data; class consistency for label models; style distance and edge SSIM for restyles.",
    )
    p.add_argument("--model", required=True, help="model name, .safetensors or upstream .pth")
    p.add_argument("--data", required=True, metavar="DIR", help="data folder in any layout paintgan train reads")
    p.add_argument("--size", type=int, default=256, help="items are resized and cropped to this square (default 256)")
    p.add_argument("--limit", type=int, default=200, help="at most this many items (default 200)")
    p.add_argument("--style", metavar="DIR", help="style pictures for restyle models (default DIR/B or DIR/trainB)")
    p.add_argument("--feature-net", default="auto", help="auto, random, or a torchvision VGG19 .pth file")
    p.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    p.add_argument("--halo-maps", nargs="+", metavar="MAP", help="restyles: label maps for the painter to render; "
                   "measures the dark halo the restyle paints around clouds (render_halo)")
    p.add_argument("--painter", help="label model that renders --halo-maps (default: the bundled landscape)")
    p.add_argument("--json", metavar="OUT.json", help="also write the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paintgan.eval import evaluate, report_dict

    maps, painter = None, None
    if args.halo_maps:
        from paintgan.images import read_label_map
        from paintgan.models import load_model

        painter = load_model(args.painter or "landscape")
        maps = [read_label_map(path, painter.card.label_set)[0] for path in args.halo_maps]
    report = evaluate(args.model, args.data, size=args.size, limit=args.limit, style=args.style,
                      feature_net=args.feature_net, device=args.device, halo_maps=maps, painter=painter)
    print("\n".join(report.lines()))
    if args.json:
        write_bytes_atomic(args.json, (json.dumps(report_dict(report), indent=1) + "\n").encode())
    return 0
