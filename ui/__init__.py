"""PaintGAN desktop app (PySide6). All Qt lives here; the engine is `paintgan`."""
