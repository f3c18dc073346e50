"""`paintgan sheet`: a contact sheet of a model's pictures, each input beside what the model makes of it.

The sheets in docs/models/ are made with it, so anyone can remake them and look at a model the way the card
describes it. Inputs go through the same reading as `paintgan render --input` (label maps snapped to the model's
palette, sketches as black lines on white, pictures as RGB); each is centre-cropped to a square and brought to
`--size` first, so sheets of different inputs line up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from paintgan import images
from paintgan.cli.render import check_output, read_source, resize_input
from paintgan.devices import DEVICE_NAMES
from paintgan.errors import InputError
from paintgan.models import Model, load_model
from paintgan.render import Renderer
from paintgan.render_core import MIN_SIDE

GAP = 4
BACKGROUND = 255
MAX_INPUTS = 64


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sheet",
        help="contact sheet: each input beside the model's picture",
        description="Render every IN file with the model and write one PNG of input|output pairs, "
        "COLUMNS pairs a row.",
    )
    p.add_argument("--model", required=True, help="model name (see `paintgan models`) or a model file")
    p.add_argument("--input", nargs="+", required=True, metavar="IN", help="label maps, sketches or pictures")
    p.add_argument("--output", required=True, metavar="SHEET.png", help="sheet to write (.png or .jpg)")
    p.add_argument("--size", type=int, default=256, help="side of each square cell in pixels (default 256)")
    p.add_argument("--columns", type=int, default=3, help="input|output pairs per row (default 3)")
    p.add_argument("--device", choices=DEVICE_NAMES, default="auto", help="where to run (default: auto)")
    p.set_defaults(func=run)


def _square(arr: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    h, w = arr.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize_input(arr[top : top + side, left : left + side], (size, size), nearest)


def shown_input(model: Model, source: np.ndarray) -> np.ndarray:
    """The input as a person sees it: label colours, dark lines on white paper, or the picture itself."""
    card = model.card
    if card.input_kind == "labels":
        assert card.label_set is not None
        return card.label_set.palette()[source]
    if source.ndim == 2:
        paper = 255 - source if card.input_kind == "sketch" else source
        return np.repeat(paper[..., None], 3, axis=2)
    return source


def contact_sheet(model: Model, paths: list[str], *, size: int = 256, columns: int = 3,
                  device: str = "auto") -> np.ndarray:
    """Input|output cells for every path, `columns` pairs a row, on white with a small gap."""
    if not 1 <= len(paths) <= MAX_INPUTS:
        raise InputError(f"{len(paths)} inputs given; expected 1 to {MAX_INPUTS}")
    if not (MIN_SIDE <= size <= 1024 and columns >= 1):
        raise InputError(f"--size {size} / --columns {columns} out of range; expected {MIN_SIDE}..1024 and >= 1")
    renderer = Renderer(model, device=device)
    cells = []
    for path in paths:
        source = _square(read_source(model, path, None), size, nearest=model.card.input_kind == "labels")
        cells.append((shown_input(model, source), renderer.render(source)))
    rows = -(-len(cells) // columns)
    pair_w = 2 * size + GAP
    sheet = np.full((rows * (size + GAP) - GAP, columns * (pair_w + 2 * GAP) - 2 * GAP, 3), BACKGROUND, np.uint8)
    for i, (shown, picture) in enumerate(cells):
        y, x = (i // columns) * (size + GAP), (i % columns) * (pair_w + 2 * GAP)
        sheet[y : y + size, x : x + size] = shown
        sheet[y : y + size, x + size + GAP : x + pair_w] = picture
    return sheet


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    check_output(out)
    sheet = contact_sheet(load_model(args.model), args.input, size=args.size, columns=args.columns,
                          device=args.device)
    print(images.write_image(out, sheet))
    return 0
