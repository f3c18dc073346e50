"""PaintGAN desktop app (PySide6). All Qt lives here; the engine is `paintgan`."""

from ui.main_window import MainWindow

__all__ = ["MainWindow"]
