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
DEFAULT_ONNX_CACHE = os.path.join("build", "bench", "onnx")


# Defaults of the budget options are paintgan.bench's constants, filled in by `run` (importing paintgan.bench
# here would import torch for every subcommand, and the lite build has none).
def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "bench",
        help="measure rendering speed (fast path vs plain reference)",
        description="Time every model (bundled at 256, 512 and 1024 px; each upstream family at its published "
        "width at 256 and 512 px, 1024 px with --all-sizes) on every device present, each against a plain "
        "reference with the same weights, within a total time budget; write a JSON file and print a table. "
        "With --model and one --size, measure one case only.",
    )
    p.add_argument("--model", help="one model: a bundled/registered name, a file, or an upstream family "
                   "(pix2pix-unet256, cyclegan-resnet9, ganilla, spade-coco)")
    p.add_argument("--size", type=int, action="append", help="square size in px (repeatable; default 256 512 1024 "
                   "for bundled models, 256 512 for the upstream families unless --all-sizes)")
    p.add_argument("--device", choices=DEVICE_NAMES, help="default: every device present (one case: cpu)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="what runs the measured side: torch's fast path (default; ONNX Runtime is then timed beside "
                   "it on the CPU for the families where backend auto would pick it), onnx, or auto (what the app "
                   "uses)")
    p.add_argument("--total-budget", type=float, metavar="S",
                   help="seconds for a whole run, shared out among its cases as it goes (default: what keeps "
                   "`make bench` under 10 minutes on a 2-core CPU); cases still take at least --min-rounds rounds")
    p.add_argument("--budget", type=float, metavar="S", help="seconds of timed rounds per case (default: 10 for "
                   "one case; in a whole run, each case's share of --total-budget)")
    p.add_argument("--min-rounds", type=int, help="timed rounds per case at least, however long they take "
                   "(default 3)")
    p.add_argument("--max-rounds", "--repeats", dest="max_rounds", type=int,
                   help="timed rounds per case at most (default 30)")
    p.add_argument("--all-sizes", action="store_true", help="every size for every model (slow on a CPU)")
    p.add_argument("--onnx-cache", default=DEFAULT_ONNX_CACHE, metavar="DIR",
                   help=f"ONNX exports kept for the next run, keyed by a hash of the weights (default "
                   f"{DEFAULT_ONNX_CACHE}; '' exports afresh and keeps nothing)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of a table")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON file of a full run (default {DEFAULT_OUT})")
    p.add_argument("--live", metavar="LIVE.json", help="results of `python -m ui.bench_live` to add to the report")
    # When the command started (its parser is built first): the total budget counts from here, so that importing
    # torch and starting the case server on a loaded machine are spent from it, not added to it.
    p.set_defaults(func=run, started=time.monotonic())


def run(args: argparse.Namespace) -> int:
    from paintgan import bench

    total = bench.TOTAL_BUDGET_S if args.total_budget is None else args.total_budget
    min_rounds = bench.MIN_ROUNDS if args.min_rounds is None else args.min_rounds
    max_rounds = bench.MAX_ROUNDS if args.max_rounds is None else args.max_rounds
    if args.threads < 1 or total <= 0:
        raise InputError(f"--threads {args.threads} --total-budget {total}: expected threads >= 1 and a budget > 0 s")
    # bad round bounds or --budget: one line, before any case runs
    bench.Rounds(bench.CASE_BUDGET_S if args.budget is None else args.budget, min_rounds, max_rounds)
    cache = Path(args.onnx_cache) if args.onnx_cache else None
    if args.model and args.size and len(args.size) == 1:
        rounds = bench.Rounds(bench.CASE_BUDGET_S if args.budget is None else args.budget, min_rounds, max_rounds)
        result = bench.measure_case(args.model, args.size[0], args.device or "cpu", args.threads,
                                    rounds=rounds, backend=args.backend, onnx_cache=cache)
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print("\n".join(bench.table([result])))
        return 0
    live = _read_live(args.live)
    names = [args.model] if args.model else bench.model_names()
    devices = [args.device] if args.device else bench.present_devices()
    cases = bench.plan(names, devices, all_sizes=args.all_sizes, sizes=args.size)
    started = time.time() - (time.monotonic() - args.started)

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    share = "fixed" if args.budget is not None else "its share of the total"
    say(f"{len(cases)} cases, budget {total:.0f} s in all ({share} per case, {min_rounds}-{max_rounds} timed "
        f"rounds each); load average {_load()}")
    if not args.all_sizes and not args.size:
        say(f"upstream families at {', '.join(map(str, bench.UPSTREAM_SIZES))} px only (--all-sizes adds "
            f"{', '.join(str(s) for s in bench.SIZES if s not in bench.UPSTREAM_SIZES)} px)")
    say("\n".join(bench.table([])))
    results = bench.run_all(cases, args.threads, total_budget_s=total - (time.monotonic() - args.started),
                            case_budget_s=args.budget,
                            min_rounds=min_rounds, max_rounds=max_rounds, backend=args.backend,
                            onnx_cache=cache, progress=lambda r: say("\n".join(bench.table([r])[2:])))
    seconds = time.monotonic() - args.started  # from the start of the command: imports included
    report = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(seconds, 1),
        "budget_s": total,
        "load_average": _load(),
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
    left_out = [r for r in results if "skipped" in r]
    if left_out:
        print("\nskipped to stay within the budget: " + "; ".join(
            f"{r['model']} {r['size']} px ({r['skipped']})" for r in left_out))
    over = " (OVER the budget)" if seconds > total else ""
    print(f"\nwrote {args.out}: {seconds:.0f} s of a {total:.0f} s budget{over}, "
          f"load average {report['load_average']}")
    return 0


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


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
