"""`paintgan bench`: how fast each model renders, against a plain reference timed in the same run."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from paintgan.devices import DEVICE_NAMES
from paintgan.errors import InputError
from paintgan.images import write_bytes_atomic
from paintgan.render_core import BACKENDS

DEFAULT_OUT = os.path.join("build", "bench", "bench.json")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "bench",
        help="measure rendering speed (fast path vs plain reference)",
        description="Time every model (bundled, and each upstream family at its published width) at 256, 512 and "
        "1024 px on every device present, each against a plain reference with the same weights; write a JSON "
        "file and print a table. With --model and --size, measure one case only.",
    )
    p.add_argument("--model", help="one model: a bundled/registered name, a file, or an upstream family "
                   "(pix2pix-unet256, cyclegan-resnet9, ganilla, spade-coco)")
    p.add_argument("--size", type=int, action="append", help="square size in px (repeatable; default 256 512 1024, "
                   "the slowest upstream families skip the big sizes unless --all-sizes)")
    p.add_argument("--device", choices=DEVICE_NAMES, help="default: every device present (one case: cpu)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="what runs the measured side: torch's fast path (default; ONNX Runtime is then timed beside "
                   "it on the CPU when the onnx extra is installed), onnx, or auto (what the app uses)")
    p.add_argument("--repeats", type=int, default=10, help="timed rounds per case at most (default 10)")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timed rounds per case (at least 3 rounds)")
    p.add_argument("--all-sizes", action="store_true", help="every size for every model (slow on a CPU)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of a table")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON file of a full run (default {DEFAULT_OUT})")
    p.add_argument("--live", metavar="LIVE.json", help="results of `python -m ui.bench_live` to add to the report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paintgan import bench

    if args.threads < 1 or args.repeats < 1 or args.budget <= 0:
        raise InputError("--threads and --repeats must be >= 1 and --budget > 0")
    if args.model and args.size and len(args.size) == 1:
        result = bench.measure_case(args.model, args.size[0], args.device or "cpu", args.threads,
                                    repeats=args.repeats, budget_s=args.budget, backend=args.backend)
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print("\n".join(bench.table([result])))
        return 0
    live = _read_live(args.live)
    names = [args.model] if args.model else bench.model_names()
    devices = [args.device] if args.device else bench.present_devices()
    started = time.time()

    def progress(result: dict[str, Any]) -> None:
        if not args.json:
            print("\n".join(bench.table([result])[2:]), flush=True)

    if not args.json:
        print("\n".join(bench.table([])), flush=True)
    results = bench.run_all(names, devices, args.threads, all_sizes=args.all_sizes, sizes=args.size,
                            repeats=args.repeats, budget_s=args.budget, progress=progress, backend=args.backend)
    report = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "results": results,
        "live": live,
        "targets": [vars(t) for t in bench.targets(results, live)],
    }
    text = json.dumps(report, indent=1) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out, text.encode())
    if args.json:
        print(text, end="")
        return 0
    print()
    for t in report["targets"]:
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        print(f"{mark:>12}  {t['what']}: {t['measured']} (target {t['goal']})")
    print(f"\nwrote {args.out} ({report['seconds']:.0f} s, load average {report['load_average']})")
    return 0


def _read_live(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"--live {path}: cannot read it ({exc}); expected the JSON of ui.bench_live") from None
    if not isinstance(data, dict) or "latency_p95_ms" not in data:
        raise InputError(f"--live {path} has no latency_p95_ms; expected the JSON of python -m ui.bench_live") from None
    return data
