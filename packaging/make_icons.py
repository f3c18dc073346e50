"""Render packaging/paintgan.svg into every icon a platform asks for, so all of them come from one drawing.

    python packaging/make_icons.py OUT_DIR

Writes OUT_DIR/hicolor/<N>x<N>/apps/paintgan.png for the freedesktop sizes, the same sizes for the MIME type
(application-x-paintgan.png), OUT_DIR/paintgan.png (256 px, the window icon), paintgan.ico (Windows) and
paintgan.icns (macOS). Qt's own SVG renderer draws them, so no image tool beyond the app's dependencies is needed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from PIL import Image

SVG = Path(__file__).resolve().parent / "paintgan.svg"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(svg: Path, side: int) -> Image.Image:
    """The SVG drawn at `side` x `side` pixels, antialiased, as an RGBA Pillow image."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not an SVG Qt can draw")
    image = QImage(side, side, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def _write(path: Path, data: bytes) -> None:
    # Unchanged files keep their time stamps, so PyInstaller does not redo a build for icons drawn again.
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def make_icons(out: Path, svg: Path = SVG) -> dict[int, Path]:
    """Write every icon under `out`; returns the hicolor PNG of each size."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    # A full QApplication, not a QGuiApplication: a process has one Qt application for good, and when this
    # runs inside a process that later builds widgets (the test suite, the app), a QGuiApplication would
    # make every widget abort.
    _app = QApplication.instance() or QApplication(sys.argv[:1])
    images = {side: render(svg, side) for side in sorted({*HICOLOR_SIZES, *ICO_SIZES, *ICNS_SIZES})}
    pngs: dict[int, Path] = {}
    for side in HICOLOR_SIZES:
        folder = out / "hicolor" / f"{side}x{side}"
        (folder / "apps").mkdir(parents=True, exist_ok=True)
        (folder / "mimetypes").mkdir(parents=True, exist_ok=True)
        pngs[side] = folder / "apps" / "paintgan.png"
        png = _encoded(images[side], "PNG")
        _write(pngs[side], png)
        _write(folder / "mimetypes" / "application-x-paintgan.png", png)
    scalable = out / "hicolor" / "scalable"
    for kind, name in (("apps", "paintgan.svg"), ("mimetypes", "application-x-paintgan.svg")):
        (scalable / kind).mkdir(parents=True, exist_ok=True)
        _write(scalable / kind / name, svg.read_bytes())
    _write(out / "paintgan.png", _encoded(images[256], "PNG"))
    _write(out / "paintgan.ico", _encoded(images[256], "ICO", sizes=[(s, s) for s in ICO_SIZES],
                                          append_images=[images[s] for s in ICO_SIZES]))
    _write(out / "paintgan.icns", _encoded(images[1024], "ICNS", append_images=[images[s] for s in ICNS_SIZES]))
    return pngs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    make_icons(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
