"""Start the desktop app: `main()` makes the QApplication, the settings and the window."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from ui.main_window import MainWindow
from ui.settings import Settings

log = logging.getLogger("paintgan.app")
_alive: set[QMessageBox] = set()
SMOKE_TIMEOUT_MS = 60_000


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="paintgan-app", description="PaintGAN: paint a map, get a picture.")
    parser.add_argument("document", nargs="?", help="a .paintgan painting to open")
    parser.add_argument("--smoke-screenshot", metavar="PNG",
                        help="open, wait for the first rendered picture, save a screenshot of the window, quit")
    parser.add_argument("--size", metavar="WxH", default="1440x880", help="window size for --smoke-screenshot")
    return parser.parse_args(argv)


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme: colours of the painting read truer against neutral dark grey, as in Krita."""
    app.setStyle("Fusion")
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    palette = QPalette()
    for r, rgb in (
        (role.Window, (50, 52, 56)), (role.WindowText, (222, 224, 228)), (role.Base, (36, 38, 41)),
        (role.AlternateBase, (46, 48, 52)), (role.ToolTipBase, (30, 31, 34)), (role.ToolTipText, (230, 230, 230)),
        (role.Text, (222, 224, 228)), (role.Button, (60, 63, 68)), (role.ButtonText, (222, 224, 228)),
        (role.BrightText, (255, 90, 90)), (role.Highlight, (54, 124, 214)), (role.HighlightedText, (255, 255, 255)),
        (role.Link, (110, 170, 255)), (role.PlaceholderText, (140, 142, 148)), (role.Mid, (140, 142, 148)),
    ):
        palette.setColor(r, QColor(*rgb))
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, r, QColor(120, 122, 128))
    app.setPalette(palette)


def install_exception_hook(app: QApplication) -> None:
    """A bug in a slot shows a dialog and is logged, instead of killing the app with the painting in it."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("unhandled exception\n%s", text)
        print(text, file=sys.stderr)
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        parent = app.activeWindow() or (windows[0] if windows else None)
        box = QMessageBox(QMessageBox.Icon.Critical, "PaintGAN: unexpected error",
                          f"{kind.__name__}: {exc}\n\nYour painting is still open; please save it.", parent=parent)
        box.setObjectName("errorBox")
        box.setDetailedText(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        _alive.add(box)  # without a parent nothing else would keep it on screen
        box.finished.connect(lambda _result: _alive.discard(box))
        box.open()

    sys.excepthook = hook


def _smoke(window: MainWindow, path: Path, app: QApplication) -> None:
    """Save a screenshot once a picture arrived (or at the time limit) and quit with 0 if the PNG was written."""
    done = {"saved": False}

    def shoot() -> None:
        if done["saved"]:
            return
        done["saved"] = True
        app.processEvents()
        screen = window.screen() or QGuiApplication.primaryScreen()
        # Grab from the screen, so the picture is what the X server shows, not what Qt believes it drew.
        pixmap = screen.grabWindow(0, window.x(), window.y(), window.width(), window.height())
        if pixmap.isNull() or pixmap.toImage().allGray():
            pixmap = window.grab()
        ok = pixmap.save(str(path), "PNG")
        window.document.mark_clean()
        window.close()
        app.exit(0 if ok else 1)

    def result_arrived(result: object) -> None:
        # The picture of the painting on screen (an opened document replaces the blank one first).
        if getattr(result, "revision", -1) >= window.document.revision:
            QTimer.singleShot(800, shoot)  # let the status bar, thumbnails and docks repaint

    window.worker.resultReady.connect(result_arrived)
    QTimer.singleShot(SMOKE_TIMEOUT_MS, shoot)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("PaintGAN")
    app.setOrganizationName("PaintGAN")
    apply_theme(app)
    install_exception_hook(app)
    window = MainWindow(Settings())
    if args.document:
        QTimer.singleShot(0, lambda: window.open_document(args.document))
    if args.smoke_screenshot:
        width, _, height = args.size.partition("x")
        window.resize(int(width), int(height))
        _smoke(window, Path(args.smoke_screenshot), app)
    window.show()
    return int(app.exec())
