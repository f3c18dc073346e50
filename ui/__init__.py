"""PaintGAN desktop app (PySide6). All Qt lives here; the engine is `paintgan`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.main_window import MainWindow

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    # Lazy: importing ui.crash or ui.app must not import torch (main_window does, through the engine), so the
    # crash log and the splash are up before the slow part of a start.
    if name == "MainWindow":
        from ui.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
