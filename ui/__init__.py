"""PaintGAN desktop app (PySide6). All Qt lives here; the engine is `paintgan`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.main_window import MainWindow

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    # Lazy: importing ui.crash or ui.app stays cheap (no widgets, no engine), so the crash log is set up before
    # the window is built; torch itself is imported only by the render worker's thread.
    if name == "MainWindow":
        from ui.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
