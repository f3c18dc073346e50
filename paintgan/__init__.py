"""PaintGAN engine: generator families, checkpoints, labels, rendering, documents and training.

This package never imports Qt; the desktop app lives in `ui/`.
"""

__version__ = "0.1.0"
