"""Start the desktop app: `main()` makes the QApplication, the settings and the window.

The window is up within about a second of a double-click: nothing on the way to it imports torch. The render
worker imports it and loads the models while the window shows that they are loading.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QColor, QFileOpenEvent, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from ui.autosave import open_at_start
from ui.crash import install_exception_hook
from ui.main_window import MainWindow
from ui.settings import Settings

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


def app_icon() -> QIcon:
    """The icon rendered from packaging/paintgan.svg: the bundle carries a PNG, a checkout the SVG itself."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return QIcon(str(Path(frozen) / "icons" / "paintgan.png"))
    return QIcon(str(Path(__file__).resolve().parent.parent / "packaging" / "paintgan.svg"))


class FileOpenHandler(QObject):
    """macOS gives a painting double-clicked in Finder to the app as a FileOpen event, not on the command line."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent) and event.file():
            self.window.open_document(event.file())
            return True
        return super().eventFilter(watched, event)


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

    settle = QTimer(window)
    settle.setSingleShot(True)
    settle.timeout.connect(shoot)

    def result_arrived(result: object) -> None:
        # The picture of the painting on screen (an opened document replaces the blank one first); each new one
        # (the full-size final pass follows the draft) restarts the wait, so the shot shows the settled window.
        if getattr(result, "revision", -1) >= window.document.revision:
            settle.start(max(window.worker.idle_ms, 0) + 1500)

    window.worker.resultReady.connect(result_arrived)
    QTimer.singleShot(SMOKE_TIMEOUT_MS, shoot)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("PaintGAN")
    app.setOrganizationName("PaintGAN")
    apply_theme(app)
    app.setWindowIcon(app_icon())
    install_exception_hook(app)
    window = MainWindow(Settings())
    QTimer.singleShot(0, lambda: open_at_start(window, args.document, offer=not args.smoke_screenshot))
    if args.smoke_screenshot:
        width, _, height = args.size.partition("x")
        window.resize(int(width), int(height))
        _smoke(window, Path(args.smoke_screenshot), app)
    window.show()
    app.installEventFilter(FileOpenHandler(window))
    return int(app.exec())
