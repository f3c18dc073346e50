"""`paintgan render`: a label map, sketch or picture in, the model's picture out, headless.

Prints nothing on success but the output path; notes (how many colour pixels were snapped to the palette) go to
stderr. Every problem is one `paintgan: error:` line, exit code 2, and no output file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from paintgan import images
from paintgan.devices import DEVICE_NAMES, torch_available
from paintgan.documents import load_document
from paintgan.errors import InputError, OutputError
from paintgan.models import Model, load_model
from paintgan.onnx_runtime import OnnxModel, OnnxRenderer, load_onnx_model
from paintgan.render_core import BACKENDS, FrameRenderer, render_document_with

_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "render",
        help="render a label map, sketch or image with a model",
        description="Render IN.png (or a saved .paintgan painting) with a model and write OUT.png. "
        "Label models take an index PNG in the model's index space or a colour PNG in its palette; "
        "sketch models take black lines on white; image models take RGB.",
    )
    p.add_argument("--model", help="model name (see `paintgan models`) or a .safetensors / upstream .pth file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="IN.png", help="label map, sketch or image to render")
    src.add_argument("--project", metavar="FILE.paintgan", help="render a saved painting with the models it names")
    p.add_argument("--output", metavar="OUT.png", required=True, help="picture to write (.png or .jpg)")
    p.add_argument("--style", metavar="STYLE.png", help="SPADE with VAE: z = the encoder's mean for this picture")
    p.add_argument("--encoder", metavar="E.pth",
                   help="SPADE style encoder (default: <prefix>_net_E.pth beside the model)")
    p.add_argument("--instance", metavar="INST.png", help="instance-id map for models with an instance-edge input")
    p.add_argument("--seed", type=int, metavar="N", help="models with a latent z: z = randn seeded with N (default 0)")
    p.add_argument("--device", choices=DEVICE_NAMES, default="auto", help="where to run (default: auto)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch (default), onnx (ONNX Runtime on the CPU, the model exported on load), or auto (ONNX "
                   "Runtime for the families where it is faster); the build without torch always uses ONNX models")
    p.add_argument("--size", metavar="WxH", type=parse_size, help="resize the input first (nearest for label maps)")
    p.add_argument("--tile", metavar="N", type=int,
                   help="render in N x N tiles, each with the context the model needs (bounds memory on big "
                   "canvases); the same picture as one render for models whose tiling is exact, approximate (seams "
                   "possible, said on stderr) for others, e.g. instance-norm restyles")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    m = _SIZE_RE.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WxH, e.g. 512x384")
    return int(m.group(1)), int(m.group(2))


def resize_input(arr: np.ndarray, size: tuple[int, int] | None, nearest: bool) -> np.ndarray:
    if size is None or arr.shape[1::-1] == size:
        return arr
    w, h = size
    if not (0 < w <= images.MAX_SIDE and 0 < h <= images.MAX_SIDE):
        raise InputError(f"--size {w}x{h} is out of range; expected each side 1..{images.MAX_SIDE} px")
    if nearest:
        interpolation = cv2.INTER_NEAREST
    else:
        shrinking = w * h < arr.shape[0] * arr.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    # OpenCV resizes at most 4 channels and no int64; label and instance maps fit uint16 / int32.
    return cv2.resize(arr, (w, h), interpolation=interpolation)


def read_source(model: Model | OnnxModel, path: str, size: tuple[int, int] | None) -> np.ndarray:
    """The input file as the model's source array (label indices, sketch ink, or RGB)."""
    card = model.card
    if card.input_kind == "labels":
        assert card.label_set is not None
        labels, snapped = images.read_label_map(path, card.label_set)
        if snapped:
            print(
                f"paintgan: note: {snapped} pixel(s) of {path} were not palette colours of "
                f"'{card.label_set.name}' and were snapped to the nearest",
                file=sys.stderr,
            )
        return resize_input(labels, size, nearest=True)
    rgb = images.read_rgb(path)
    if card.input_kind == "sketch":
        # A sketch file is dark lines on light paper; the engine's sketch layer is ink coverage.
        return resize_input(255 - cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, nearest=False)
    if card.input_nc == 1:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return resize_input(rgb, size, nearest=False)


def check_output(path: Path) -> None:
    """Fail before the (possibly long) render if the picture could not be written afterwards."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    if path.suffix.lower() not in images.WRITE_FORMATS:
        kinds = ", ".join(images.WRITE_FORMATS)
        raise OutputError(f"cannot write {path}: unknown picture type {path.suffix!r}; expected one of {kinds}")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied")


def _render_project(args: argparse.Namespace) -> np.ndarray:
    """A saved painting with the models it names (`--model` replaces its render model)."""
    for option, value in (("--instance", args.instance), ("--tile", args.tile)):
        if value is not None:
            raise InputError(f"{option} is for --input files; it does not apply to a .paintgan painting")
    doc = load_document(args.project)
    name = args.model or doc.render_model
    if not name:
        raise InputError(f"{args.project} names no render model; give one with --model")
    renderer = _renderer(_open(name, args.encoder), args)
    restyler = _renderer(_open(doc.restyle_model, None), args) if doc.restyle_model else None
    if args.size is not None:
        doc.labels = resize_input(doc.labels, args.size, nearest=True)
        doc.sketch = resize_input(doc.sketch, args.size, nearest=False)
    style = None if args.style is None else images.read_rgb(args.style)
    return render_document_with(doc, renderer, restyler, seed=args.seed, style=style)


def _open(name: str, encoder: str | None) -> Model | OnnxModel:
    """The model to render with: through torch where it is installed, else its ONNX file (the lite build)."""
    if torch_available():
        return load_model(name, encoder=encoder)
    if encoder is not None:
        raise InputError("--encoder needs the full build (torch); this build renders ONNX models only")
    return load_onnx_model(name)


def _renderer(model: Model | OnnxModel, args: argparse.Namespace) -> FrameRenderer:  # type: ignore[type-arg]
    if isinstance(model, OnnxModel):
        return OnnxRenderer(model, device=args.device)
    from paintgan.render import Renderer

    return Renderer(model, device=args.device, backend=args.backend)


def _render_input(args: argparse.Namespace) -> np.ndarray:
    if not args.model:
        raise InputError("--model is required with --input; give a model name or a .safetensors/.pth file")
    model = _open(args.model, args.encoder)
    source = read_source(model, args.input, args.size)
    style = None if args.style is None else images.read_rgb(args.style)
    instance = None
    if args.instance is not None:
        instance = resize_input(images.read_instance_map(args.instance), args.size, nearest=True)
    renderer = _renderer(model, args)
    if args.tile is None:
        return renderer.render(source, style=style, seed=args.seed, instance=instance)
    tiling = renderer.tiling
    if not tiling.exact:
        print(f"paintgan render: {model.card.name} does not tile exactly ({tiling.reason}); tiles may show seams",
              file=sys.stderr)
    return renderer.render_tiled(source, tile=args.tile, style=style, seed=args.seed, instance=instance)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    check_output(out)
    picture = _render_project(args) if args.project else _render_input(args)
    images.write_image(out, picture)
    print(out)
    return 0
