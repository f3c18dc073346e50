"""Start the PaintGAN desktop app: `python main.py [painting.paintgan] [--smoke-screenshot out.png]`."""

import sys

from ui.app import main

if __name__ == "__main__":
    sys.exit(main())
