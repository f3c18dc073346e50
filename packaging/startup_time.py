"""Measure how fast a double-click gets an answer: process start to splash, to window, to first rendered picture.

    python packaging/startup_time.py [--runs 3] -- .venv/bin/python main.py
    python packaging/startup_time.py -- dist/PaintGAN/PaintGAN

Each run starts the command with `--smoke-screenshot` and a fresh PAINTGAN_HOME (so no recovery dialog, no
remembered state), under whatever DISPLAY / QT_QPA_PLATFORM the environment sets. The splash and window times come
from the app's log ("splash shown", "window shown"); the first picture is when the screenshot file appeared minus
the smoke mode's fixed settle delay (ui/app.py waits SETTLE_S after the first picture before it grabs the screen).
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

SETTLE_S = 0.8


def _log_times(log: Path) -> dict[str, float]:
    """Wall-clock times of the log lines that mark the start-up stages."""
    stages = {"PaintGAN ": "logging", "splash shown": "splash", "window shown": "window"}
    times: dict[str, float] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        for needle, stage in stages.items():
            if needle in line and stage not in times:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                times[stage] = stamp.timestamp()
    return times


def measure(command: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="paintgan-start-") as tmp:
        shot = Path(tmp) / "shot.png"
        env = {**os.environ, "PAINTGAN_HOME": str(Path(tmp) / "home")}
        started = time.time()
        run = subprocess.run([*command, "--smoke-screenshot", str(shot)], env=env, capture_output=True, text=True,
                             timeout=600)
        ended = time.time()
        if run.returncode != 0 or not shot.exists():
            raise SystemExit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
        result = {stage: t - started for stage, t in _log_times(Path(tmp) / "home" / "logs" / "paintgan.log").items()}
        result["picture"] = shot.stat().st_mtime - SETTLE_S - started
        result["exit"] = ended - started
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("command", nargs="+", help="the app to start (after --)")
    args = parser.parse_args()
    runs = [measure(args.command) for _ in range(args.runs)]
    print(f"{' '.join(args.command)}: {args.runs} runs, seconds from process start (median, min..max)")
    for stage in ("logging", "splash", "window", "picture", "exit"):
        values = [r[stage] for r in runs if stage in r]
        if values:
            print(f"  {stage:8s} {statistics.median(values):6.2f}   {min(values):.2f}..{max(values):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
