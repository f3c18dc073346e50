"""Measure how fast a double-click gets an answer: process start to window, to first rendered picture.

    python packaging/startup_time.py [--runs 3] -- .venv/bin/python main.py
    python packaging/startup_time.py -- dist/PaintGAN/PaintGAN

Each run starts the command with `--smoke-screenshot` and a fresh PAINTGAN_HOME (so no recovery dialog, no
remembered state), under whatever DISPLAY / QT_QPA_PLATFORM the environment sets. The stage times come from the
app's log lines ("window shown", "models ready", "first picture shown"), stamped by the app itself; "exit" is when
the smoke run ended (it waits for the picture to settle before its screenshot). CPU time is the run's user +
system time (the app's threads together), steadier than wall time on a shared machine. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# Log line -> stage, in the order a start passes them ("splash shown": builds from before the window came first).
STAGES = {"PaintGAN ": "logging", "splash shown": "splash", "window shown": "window", "models ready": "models",
          "first picture shown": "picture"}


def _log_times(log: Path) -> dict[str, float]:
    """Wall-clock times of the log lines that mark the start-up stages."""
    times: dict[str, float] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        for needle, stage in STAGES.items():
            if needle in line and stage not in times:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                times[stage] = stamp.timestamp()
    return times


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="paintgan-start-") as tmp:
        shot = Path(tmp) / "shot.png"
        env = {**os.environ, "PAINTGAN_HOME": str(Path(tmp) / "home")}
        cpu = _children_cpu()
        started = time.time()
        run = subprocess.run([*command, "--smoke-screenshot", str(shot)], env=env, capture_output=True, text=True,
                             timeout=600)
        ended = time.time()
        if run.returncode != 0 or not shot.exists():
            raise SystemExit(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
        result = {stage: t - started for stage, t in _log_times(Path(tmp) / "home" / "logs" / "paintgan.log").items()}
        result["exit"] = ended - started
        result["cpu"] = _children_cpu() - cpu
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("command", nargs="+", help="the app to start (after --)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs = [measure(args.command) for _ in range(args.runs)]
    load_after = os.getloadavg()[0]
    print(f"{' '.join(args.command)}: {args.runs} runs, seconds from process start (median, min..max); "
          f"load average {load_before:.1f} before, {load_after:.1f} after, {os.cpu_count()} cores")
    for stage in (*STAGES.values(), "exit", "cpu"):
        values = [r[stage] for r in runs if stage in r]
        if values:
            print(f"  {stage:8s} {statistics.median(values):6.2f}   {min(values):.2f}..{max(values):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
