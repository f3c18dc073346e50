"""The app's live loop for `make bench`: `ui.latency`'s scripted painting session, plus rate and memory figures.

    QT_QPA_PLATFORM=offscreen python -m ui.bench_live [--seconds 10] [--preview 256] [--json OUT.json]

`ui.latency.measure` paints with real mouse events at 60 Hz and measures stroke-to-preview latency and the longest
UI-thread stall. Around it this adds what the benchmark reports besides: renders per second, the edits the render
worker never rendered because a newer one replaced them while it was busy (latest wins: these are the dropped stale
renders), and resident memory sampled every 100 ms (start, end, largest). Writes JSON for `paintgan bench --live`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from paintgan.bench import current_rss_mb
from paintgan.images import write_bytes_atomic
from ui.latency import measure


class _FirstPress(QObject):
    """Notes when the scripted painting starts (its first mouse press): memory is compared from there on, not
    from before the window (and its models) existed."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802  (Qt's name)
        if self.at is None and event.type() == QEvent.Type.MouseButtonPress:
            self.at = time.perf_counter()
        return False


def live_loop(seconds: float, preview: int) -> dict[str, float]:
    app = QApplication.instance()
    assert app is not None
    samples: list[tuple[float, float]] = []
    sampler = QTimer()
    sampler.timeout.connect(lambda: samples.append((time.perf_counter(), current_rss_mb())))
    sampler.start(100)  # runs inside measure()'s event loops
    first = _FirstPress()
    app.installEventFilter(first)
    figures = measure(seconds, preview)
    app.removeEventFilter(first)
    sampler.stop()
    end = current_rss_mb()
    painting = [rss for t, rss in samples if first.at is not None and t >= first.at] or [end]
    return {
        **figures,
        "seconds": seconds,
        "preview": float(preview),
        "renders_per_s": figures["renders"] / seconds,
        "dropped_stale": max(0.0, figures["edits"] - figures["renders"]),
        "rss_start_mb": painting[0],
        "rss_end_mb": end,
        "rss_max_mb": max(painting),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--preview", type=int, default=256, help="live preview resolution (longest side)")
    parser.add_argument("--json", metavar="OUT.json", help="write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("PAINTGAN_HOME", tempfile.mkdtemp(prefix="paintgan-bench-live-"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    figures = live_loop(args.seconds, args.preview)
    for name, value in figures.items():
        print(f"{name:>22}: {value:.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.json, (json.dumps(figures, indent=1) + "\n").encode())
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
