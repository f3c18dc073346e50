"""Start the PaintGAN desktop app: `python main.py [painting.paintgan] [--smoke-screenshot out.png]`."""

import os
import sys

# Idle torch worker threads must sleep, not spin: spinning ones take the core the brush needs.
# Set before anything imports torch, since OpenMP reads it once.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ui.crash import run_guarded  # noqa: E402


def start() -> int:
    # Qt and the window; torch comes later, in the render worker. A failure on the way is logged and shown.
    from ui.app import main

    return main()


if __name__ == "__main__":
    # A smoke run has nobody to close a dialog: it reports a failed start by its exit status and log only.
    sys.exit(run_guarded(start, interactive="--smoke-screenshot" not in sys.argv))
