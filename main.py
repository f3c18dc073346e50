"""Start the PaintGAN desktop app: `python main.py [painting.paintgan] [--smoke-screenshot out.png]`."""

import sys

from ui.crash import run_guarded


def start() -> int:
    from ui.app import main  # Qt, then torch and the models: a failure on the way is logged and shown

    return main()


if __name__ == "__main__":
    # A smoke run has nobody to close a dialog: it reports a failed start by its exit status and log only.
    sys.exit(run_guarded(start, interactive="--smoke-screenshot" not in sys.argv))
