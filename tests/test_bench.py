"""`paintgan bench` produces well-formed figures for a case, a report with targets, and a table (no timing asserts)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from paintgan import bench
from paintgan.cli import main
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SpadeConfig
from paintgan.models import placeholder_model

CASE_FIELDS = {
    "model": str, "family": str, "origin": str, "size": int, "device": str, "dtype": str, "threads": int,
    "fast_path": list, "median_ms": float, "p95_ms": float, "fps": float, "runs": int,
    "reference_median_ms": float, "reference_p95_ms": float, "speedup": float, "max_abs_diff": float,
    "cpu_median_ms": float, "reference_cpu_median_ms": float, "cpu_speedup": float,
    "gflop": float, "gflop_per_s": float, "peak_rss_mb": float,
}


@pytest.fixture
def tiny_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Narrow stand-ins for the upstream families, built the same way (random statistics, spectral norm)."""
    monkeypatch.setattr(bench, "UPSTREAM", {
        "pix2pix-tiny": bench.Upstream("pix2pix", UnetConfig(ngf=4, num_downs=6), (64,)),
        "spade-tiny": bench.Upstream("spade", SpadeConfig(label_nc=12, ngf=2), (64,)),
    })


def check_case(result: dict[str, Any], name: str, size: int) -> None:
    for field, kind in CASE_FIELDS.items():
        assert isinstance(result[field], kind), field
    assert result["model"] == name and result["size"] == size and result["device"] == "cpu"
    assert 0 < result["median_ms"] <= result["p95_ms"]
    assert result["runs"] >= 3
    assert math.isclose(result["speedup"], result["reference_median_ms"] / result["median_ms"])
    assert result["max_abs_diff"] <= 1e-3
    assert result["gflop"] > 0 and result["peak_rss_mb"] > 10


@pytest.mark.parametrize("name", ["pix2pix-tiny", "spade-tiny"])
def test_a_case_reports_speed_memory_flops_and_the_difference_to_the_reference(tiny_upstream: None, name: str) -> None:
    result = bench.measure_case(name, 64, "cpu", threads=1, rounds=bench.Rounds(0.1), onnx_cache=None)
    check_case(result, name, 64)
    assert result["origin"] == "upstream" and result["fast_path"]
    assert json.loads(json.dumps(result)) == result  # plain JSON types only


def test_flops_per_frame_grow_with_the_pixel_count() -> None:
    model = placeholder_model("sketch")
    small, big = bench.frame_flops(model, 128), bench.frame_flops(model, 256)
    assert small > 1e6 and big == pytest.approx(4 * small, rel=0.01)


def test_sample_inputs_are_paintings_of_several_labels_lines_and_pictures() -> None:
    labels = bench.sample_input(placeholder_model("labels"), 256)
    assert labels.shape == (256, 256) and len(np.unique(labels)) >= 5
    sketch = bench.sample_input(placeholder_model("sketch"), 128)
    assert sketch.dtype == np.uint8 and 0.02 < (sketch > 0).mean() < 0.5
    assert bench.sample_input(placeholder_model("image"), 64).shape == (64, 64, 3)


def test_tiles_of_a_light_model_meet_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    from paintgan.render import Renderer

    monkeypatch.setattr(bench, "TILE", 128)
    monkeypatch.setattr(bench, "STROKE_BOX", 32)
    model = placeholder_model("labels")
    tiles = bench.tile_seams(Renderer(model, device="cpu"), bench.sample_input(model, 256), lambda: None,
                             bench.Rounds(0.1))
    assert tiles["tile"] == 128 and tiles["max_seam_diff"] == 0 and tiles["max_diff"] == 0
    assert tiles["stroke_region_median_ms"] > 0 and tiles["full_median_ms"] > 0 and tiles["runs"] >= 3


def test_cli_prints_one_case_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--model", "placeholder-sketch", "--size", "64", "--device", "cpu", "--threads", "1",
            "--repeats", "3", "--budget", "0.1", "--onnx-cache", "", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    check_case(result, "placeholder-sketch", 64)
    assert result["origin"] == "bundled" and result["placeholder"] is True


def test_cli_refuses_a_bad_size_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", "placeholder-sketch", "--size", "100", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "size 100" in err and "multiple of 64" in err


def test_targets_say_what_was_met() -> None:
    pix = {"model": "pix2pix-unet256", "origin": "upstream", "size": 256, "device": "cpu", "dtype": "float32",
           "median_ms": 100.0, "reference_median_ms": 150.0, "speedup": 1.5, "max_abs_diff": 2e-6, "runs": 4}
    land = {"model": "landscape", "origin": "bundled", "input_kind": "labels", "size": 256, "device": "cpu",
            "dtype": "float32", "median_ms": 50.0, "reference_median_ms": 60.0, "speedup": 1.2, "max_abs_diff": 0.0,
            "runs": 30}
    live = {"latency_p95_ms": 90.0, "ui_longest_stall_ms": 20.0, "rss_start_mb": 500.0, "rss_end_mb": 505.0}
    met = {t.what: t.met for t in bench.targets([pix, land], live)}
    assert met["landscape 256 px median"] is False  # 50 ms > 40 ms
    assert met["landscape vs plain pix2pix U-Net-256"] is False  # 50 / 150 > 0.3
    assert met["pix2pix-unet256 256 px speed-up vs reference"] is True
    assert met["fp32 fast path vs reference, largest output difference"] is True
    assert met["live loop 256 px stroke-to-preview p95"] is True
    assert met["live loop longest UI-thread stall"] is False
    assert met["live loop memory over 10 s"] is True
    measured = {t.what: t.measured for t in bench.targets([pix, land], live)}
    assert "(30 runs)" in measured["landscape 256 px median"]  # what each figure rests on


def test_a_bundled_target_counts_the_backend_the_app_renders_with() -> None:
    sketch = {"model": "sketch", "origin": "bundled", "input_kind": "sketch", "size": 256, "device": "cpu",
              "dtype": "float32", "median_ms": 50.0, "reference_median_ms": 50.0, "speedup": 1.0,
              "max_abs_diff": 0.0, "runs": 30, "auto_backend": "onnx",
              "onnx": {"median_ms": 20.0, "speedup": 2.5, "max_abs_diff": 1e-6}}
    targets = {t.what: t for t in bench.targets([sketch])}
    assert targets["sketch 256 px median"].met is True  # torch's 50 ms > 40, but the app runs ONNX Runtime: 20 ms
    assert "20.0 ms ONNX Runtime" in targets["sketch 256 px median"].measured
    assert targets["sketch vs plain pix2pix U-Net-256"].met is None  # pix2pix not in this run
    sketch["auto_backend"] = "torch"
    assert {t.what: t.met for t in bench.targets([sketch])}["sketch 256 px median"] is False


@pytest.mark.slow
def test_a_full_run_writes_json_with_every_case_and_prints_a_table(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--model", "placeholder-image", "--size", "64", "--size", "128", "--device", "cpu",
            "--threads", "1", "--max-rounds", "3", "--total-budget", "120", "--onnx-cache", str(tmp_path / "onnx"),
            "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| placeholder-image | 64 | cpu | 3 |" in printed and "| placeholder-image | 128 | cpu | 3 |" in printed
    assert "budget 120 s in all" in printed and "s of a 120 s budget" in printed and "skipped" not in printed
    report = json.loads(out.read_text())
    assert [r["size"] for r in report["results"]] == [64, 128]
    for r in report["results"]:
        check_case(r, "placeholder-image", r["size"])
    assert report["threads"] == 1 and isinstance(report["targets"], list) and report["budget_s"] == 120
    assert report["seconds"] < 120
    # light_unet is a family ONNX Runtime wins on: timed beside torch, its export kept for the next run
    assert all(r["onnx"]["runs"] == r["runs"] for r in report["results"])
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1


class FakeClock:
    """Time that moves only when a fake render says it took some: the budget logic, tested without timing."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def render(self, seconds: float) -> Any:
        def run() -> None:
            self.now += seconds
        return run


@pytest.mark.parametrize(("budget", "rounds"), [(0.0, 3), (7.0, 3), (11.0, 5), (1000.0, 30)])
def test_rounds_stop_when_the_budget_is_spent_but_not_before_the_minimum(budget: float, rounds: int) -> None:
    clock = FakeClock()
    # each round: 0.5 s + 1.5 s; a round that would end past the budget is not started
    timed = bench.time_alternating([clock.render(0.5), clock.render(1.5)], lambda: None, bench.Rounds(budget),
                                   warm_up=False, clock=clock)
    assert timed.rounds == rounds and timed.seconds == 2.0 * rounds
    assert [t.runs for t in timed.timings] == [rounds, rounds]
    assert [t.median_ms for t in timed.timings] == [500.0, 1500.0]
    assert timed.seconds <= budget or rounds == 3


def test_a_case_stops_after_its_budget_with_the_minimum_rounds_and_says_so(tiny_upstream: None, tmp_path: Any) -> None:
    cache = tmp_path / "onnx"
    rounds = bench.Rounds(budget_s=0.0, min_rounds=4, max_rounds=50)
    first = bench.measure_case("pix2pix-tiny", 64, "cpu", threads=1, rounds=rounds, onnx_cache=cache)
    assert first["runs"] == 4 and first["min_runs"] == 4 and first["budget_s"] == 0.0
    assert first["onnx"]["runs"] == 4  # ONNX Runtime took its turn in the same rounds
    exports = list(cache.glob("*.onnx"))
    assert len(exports) == 1
    again = bench.measure_case("pix2pix-tiny", 128, "cpu", threads=1, rounds=rounds, onnx_cache=cache)
    assert list(cache.glob("*.onnx")) == exports  # the same weights: the export is reused, at another size too
    assert again["onnx"]["max_abs_diff"] <= 1e-3


def test_onnx_runtime_is_timed_only_where_auto_would_pick_it(tiny_upstream: None) -> None:
    result = bench.measure_case("spade-tiny", 64, "cpu", threads=1, rounds=bench.Rounds(0.0), onnx_cache=None)
    assert result["auto_backend"] == "torch" and "onnx" not in result


def test_each_case_gets_a_share_of_what_is_left_within_the_floor_and_ceiling() -> None:
    assert bench.case_budget(100.0, 0.0, 10, overhead_s=2.0) == 8.0
    assert bench.case_budget(100.0, 0.0, 2, overhead_s=2.0, ceiling_s=20.0) == 20.0  # few cases: the run ends early
    assert bench.case_budget(100.0, 60.0, 4, overhead_s=2.0) == 8.0  # early cases finished under their share
    assert bench.case_budget(100.0, 99.0, 4, overhead_s=2.0, floor_s=1.5) == 1.5  # the total is spent
    assert bench.case_budget(100.0, 130.0, 1, overhead_s=2.0, floor_s=1.5) == 1.5


def test_a_run_plans_every_size_of_bundled_models_and_leaves_1024_of_upstream_to_all_sizes() -> None:
    cases = bench.plan(["landscape", "spade-coco"], ["cpu"])
    assert [(c.name, c.size) for c in cases] == [("landscape", 256), ("landscape", 512), ("landscape", 1024),
                                                 ("spade-coco", 256), ("spade-coco", 512)]
    assert ("spade-coco", 1024) in [(c.name, c.size) for c in bench.plan(["spade-coco"], ["cpu"], all_sizes=True)]


def test_cli_refuses_bad_round_bounds_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--min-rounds", "5", "--max-rounds", "2", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "min 5, max 2" in err


@pytest.mark.slow
def test_cases_run_in_processes_that_see_the_callers_environment_and_folder(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paintgan.models import save_model

    save_model(placeholder_model("image"), tmp_path / "mine.safetensors")
    monkeypatch.chdir(tmp_path)
    cases = [bench.Case("mine.safetensors", 64, "cpu"), bench.Case("no-such-model", 64, "cpu")]
    first, missing = bench.run_all(cases, 1, case_budget_s=0.0, onnx_cache=None)
    assert first["model"] == "mine.safetensors" and first["runs"] == 3 and first["case_s"] > 0
    assert "no-such-model" in missing["error"] and "\n" not in missing["error"]  # reported, and the run went on


# ------------------------------------------------------------------------- the total budget is a hard bound


def test_a_deadline_stops_rounds_even_below_the_minimum_and_starts_none_that_cannot_fit() -> None:
    clock = FakeClock()
    rounds = bench.Rounds(0.0, min_rounds=3, deadline=bench.Deadline(5.0, clock))
    timed = bench.time_alternating([clock.render(0.5), clock.render(1.5)], lambda: None, rounds, warm_up=False,
                                   clock=clock, first_round_s=2.0)
    assert timed.rounds == 2 and clock.now == 4.0  # a third round would end at 6 s, past the deadline
    late = bench.Rounds(0.0, deadline=bench.Deadline(clock.now + 1.5, clock))
    none = bench.time_alternating([clock.render(2.0)], lambda: None, late, warm_up=False, clock=clock,
                                  first_round_s=2.0)
    assert none.rounds == 0 and none.timings == [] and clock.now == 4.0  # the warm-up said 2 s: not started


def finished(name: str, size: int, case_s: float, timed_s: float, runs: int) -> dict[str, Any]:
    return {"model": name, "size": size, "device": "cpu", "runs": runs, "case_s": case_s, "timed_s": timed_s,
            "round_s": timed_s / runs}


def test_a_bigger_case_is_predicted_from_the_same_model_at_a_smaller_size() -> None:
    done = [finished("landscape", 256, case_s=5.0, timed_s=3.0, runs=3)]  # 1 s a round, 1 s start + 1 s warm-up
    need, basis = bench.minimum_case_s(bench.Case("landscape", 1024, "cpu"), done, overhead_s=3.0)
    assert need == pytest.approx(1.0 + 2 * 1.0 * 16) and "256 px" in basis  # start + warm-up and a round, x16
    need, basis = bench.minimum_case_s(bench.Case("monet", 512, "cpu"), done, overhead_s=3.0)
    assert need == 3.0 and "start-up" in basis  # nothing known of monet yet


def test_a_run_ends_within_its_total_budget_skipping_and_stopping_what_cannot_fit() -> None:
    clock = FakeClock()
    # (start, one round) in seconds of each case if let run; ganilla at 512 px would run far past any limit
    cost = {("landscape", 256): (1.0, 1.0), ("landscape", 512): (1.0, 4.0), ("landscape", 1024): (1.0, 16.0),
            ("ganilla", 256): (2.0, 5.0), ("ganilla", 512): (2.0, 1000.0)}
    limits: dict[tuple[str, int], float] = {}

    def runner(case: bench.Case, rounds: bench.Rounds, limit_s: float) -> dict[str, Any] | None:
        limits[(case.name, case.size)] = limit_s
        start_s, round_s = cost[(case.name, case.size)]
        if start_s + 3 * round_s > limit_s:  # what the child's own deadline and then the kill come to
            clock.now += limit_s + bench.KILL_GRACE_S
            return None
        clock.now += start_s + 3 * round_s
        return finished(case.name, case.size, 0.0, 3 * round_s, 3)

    cases = [bench.Case(name, size, "cpu") for name, size in cost]
    order: list[tuple[str, int]] = []
    results = bench.run_all(cases, 1, total_budget_s=100.0, clock=clock, runner=runner,
                            progress=lambda r: order.append((r["model"], r["size"])))
    assert clock.now <= 100.0  # the bound holds, whatever the cases would have taken
    # small sizes first, the bundled model first within a size; every case is reported
    assert order == [("landscape", 256), ("ganilla", 256), ("landscape", 512), ("ganilla", 512), ("landscape", 1024)]
    assert limits[("landscape", 256)] == 100.0 - bench.END_MARGIN_S - bench.KILL_GRACE_S  # all that is left
    by = {(r["model"], r["size"]): r for r in results}
    assert [r["model"] for r in results] == [name for name, _ in cost]  # in the order asked for
    assert "stopped" in by[("ganilla", 512)]["skipped"]  # ran past its limit: stopped, and says so
    assert by[("landscape", 512)]["runs"] == 3 and "skipped" not in by[("landscape", 512)]
    # nothing was left for landscape at 1024 px (predicted from its 512 px case): not started
    assert ("landscape", 1024) not in limits and "from its 512 px case" in by[("landscape", 1024)]["skipped"]
    assert "| landscape | 1024 | cpu | skipped: needs about" in bench.table([by[("landscape", 1024)]])[2]


def test_a_tiny_budget_starts_no_case_and_the_cli_says_which_were_skipped(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--model", "placeholder-image", "--size", "64", "--size", "128", "--device", "cpu",
            "--threads", "1", "--total-budget", "1", "--onnx-cache", "", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| placeholder-image | 64 | cpu | skipped: needs about 3 s" in printed
    assert "skipped to stay within the budget: placeholder-image 64 px" in printed
    report = json.loads(out.read_text())
    assert all("skipped" in r for r in report["results"]) and report["seconds"] < 5
