"""Turn a run directory into one native model file that `paintgan render` and the app open at once.

The exported generator is the EMA copy when the run kept one (cleaner pictures), else the live weights;
spectral norm used in training is folded into plain weights, so the file has the family's upstream key layout.
A segmenter run (`--target labels`) is not a model on its own: it is exported joined to a label painter as a
`staged` sketch model (`painter=`), whose card tells both halves' training.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from paintgan.errors import CheckpointError
from paintgan.families import get_family
from paintgan.labels import LabelSet
from paintgan.models import Model, ModelCard, load_model, save_model
from paintgan.train.config import read_toml
from paintgan.train.nets import InputSpec, build_generator, fold_spectral_norm
from paintgan.train.rundir import RunDir


def _model_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:64]
    return cleaned or "model"


NOTE_KEYS = ("description", "limits", "training")


def _metric_rows(run: RunDir) -> list[dict[str, str]]:
    if not run.metrics_path.is_file():
        return []
    with run.metrics_path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def last_metrics(run: RunDir) -> dict[str, float]:
    rows = _metric_rows(run)
    if not rows:
        return {}
    return {k: float(v) for k, v in rows[-1].items() if k not in ("step", "elapsed_s", "it_per_s") and v}


# Hours to a few milliseconds: a few-step run (a test, a smoke fine-tune) still records its time.
HOURS_DIGITS = 6


def training_hours(run: RunDir, upto: int | None = None) -> float:
    """Wall-clock hours spent on optimisation steps (up to step `upto`), summed over every (resumed) process.

    Each metrics row covers the steps since the previous one at its logged rate; elapsed_s alone restarts at
    every resume, so it cannot be summed.
    """
    seconds, previous = 0.0, 0
    for row in _metric_rows(run):
        step, rate = int(row["step"]), float(row.get("it_per_s") or 0)
        if upto is not None and step > upto:
            break
        if rate > 0 and step > previous:
            seconds += (step - previous) / rate
        previous = step
    return round(seconds / 3600, HOURS_DIGITS)


def read_card_notes(path: str | Path) -> dict[str, Any]:
    """What a person writes about a model (description, limits, training facts such as hardware) as TOML."""
    try:
        notes = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CheckpointError(f"cannot read card notes {path} ({exc}); expected a TOML file") from None
    unknown = sorted(set(notes) - set(NOTE_KEYS))
    if unknown:
        raise CheckpointError(f"{path} sets {', '.join(unknown)}; a card notes file sets only {', '.join(NOTE_KEYS)}")
    if not isinstance(notes.get("training", {}), dict):
        raise CheckpointError(f"{path}: training must be a table ([training]) of facts such as hardware = \"...\"")
    return notes


def read_eval_report(path: str | Path) -> dict[str, Any]:
    """A `paintgan eval --json` report, whose metrics go into the card in place of the last training losses."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read eval report {path} ({type(exc).__name__}); expected paintgan eval --json output") from None
    if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict):
        raise CheckpointError(f"{path} has no metrics table; expected the JSON written by paintgan eval --json")
    return report


def ancestry(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs a fine-tuned run started from (`--init`), nearest first: run folder name, step and hours each.
    A parent folder that is gone still counts its recorded step, with no hours."""
    chain: list[dict[str, Any]] = []
    origin = info.get("init")
    while origin and len(chain) < 16:
        parent = RunDir(origin["run"])
        hours = training_hours(parent, upto=int(origin["step"])) if parent.root.is_dir() else 0.0
        chain.append({"run": parent.root.name, "step": int(origin["step"]), "hours": hours})
        origin = parent.read_info().get("init") if parent.info_path.is_file() else None
    return chain


def run_generator(run_dir: str | Path, which: str = "A", raw: bool = False) -> tuple[Model, dict[str, Any]]:
    """The trained generator of a run as a `Model` (card included) and the run's recorded info.

    `which` picks the direction of an unpaired run: "A" is A -> B, "B" is B -> A.
    """
    run = RunDir(run_dir)
    info = run.read_info()
    options = read_toml(run.config_path) if run.config_path.is_file() else {}
    path = run.latest_checkpoint()
    state = RunDir.load_checkpoint(path)
    if which not in ("A", "B"):
        raise CheckpointError(f"unknown generator {which!r}; expected A (A -> B) or B (B -> A)")
    if info["paired"] and which == "B":
        raise CheckpointError(f"{run.root} is a paired run with one generator; only --generator A exists")
    key = "G" if info["paired"] else f"G_{which}"
    source = state["ema"] if key in state["ema"] and not raw else state["nets"]
    family = get_family(info["family"])
    config = family.config_cls(**info["generator"])
    net = build_generator(family, config, bool(options.get("g_spectral_norm", False)))
    try:
        net.load_state_dict(source[key], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name} does not fit the generator recorded in run.json ({type(exc).__name__})") from None
    net = fold_spectral_norm(net).eval()
    inputs = InputSpec.from_dict(info["inputs"])
    step = int(state["step"])
    card = _card(run, info, options, family.name, config, inputs, step, which)
    return Model(card, net.requires_grad_(False)), info


def _card(run: RunDir, info: dict[str, Any], options: dict[str, Any], family: str, config: Any,
          inputs: InputSpec, step: int, which: str) -> ModelCard:
    direction = "" if info["paired"] else (" (A to B)" if which == "A" else " (B to A)")
    name = options.get("name") or run.root.resolve().name + ("" if info["paired"] or which == "A" else "_BtoA")
    description = options.get("description") or f"{family} trained by paintgan train on {info['data']}{direction}"
    training = {
        "trained_by": f"paintgan train {info.get('paintgan', '')}".strip(),
        "data": info["data"],
        "data_licence": info.get("data_licence") or "not stated",
        "steps": step,
        "size": info["size"],
        "batch": info["batch"],
        "processes": info["world"],
        "teacher": info.get("teacher") or None,
        "feature_net": info.get("feature_net"),
        "objective": {k: options[k] for k in ("gan_mode", "lambda_l1", "lambda_fm", "lambda_perceptual",
                                               "lambda_cycle", "lambda_identity", "ema") if k in options},
        "hours": training_hours(run),
    }
    parents = ancestry(info)
    if parents:
        # A fine-tuned model's training is its own steps on top of every run it started from.
        training["fine_tuned_from"] = parents
        training["steps"] = step + sum(p["step"] for p in parents)
        training["hours"] = round(training["hours"] + sum(p["hours"] for p in parents), HOURS_DIGITS)
    family_obj = get_family(family)
    return ModelCard(
        name=_model_name(str(name)),
        family=family,
        config=json.loads(json.dumps(asdict(config))),
        input_kind=inputs.kind,  # type: ignore[arg-type]
        input_nc=inputs.channels,
        size_multiple=int(family_obj.size_multiple(config)),
        label_set=inputs.label_set,
        description=description,
        training=training,
        metrics=last_metrics(run),
        limits=f"trained at {info['size']} px for {step} steps on {info['data']}; expect its quality on pictures like those",
    )


def _classes(label_set: LabelSet | None) -> list[tuple[int, str]]:
    return [] if label_set is None else [(label.index, label.name) for label in label_set]


def join_painter(segmenter: Model, painter_source: str | Path, read_side: int = 0) -> Model:
    """A `staged` sketch model: the run's segmenter reads lines as the label map `painter_source` paints, at most
    `read_side` px a side (its training size: see `families.staged`)."""
    from paintgan.families.staged import compose

    painter = load_model(painter_source)
    if painter.card.input_kind != "labels":
        raise CheckpointError(f"{painter_source} takes {painter.card.input_kind} input; the painter of a staged "
                              "sketch model must be a label model such as landscape")
    if _classes(painter.card.label_set) != _classes(segmenter.card.label_set):
        raise CheckpointError(f"{painter_source} paints the classes {_classes(painter.card.label_set)} but the "
                              f"segmenter gives {_classes(segmenter.card.label_set)}; expected the same label set")
    config, net = compose(segmenter.generator, segmenter.config, painter.generator, painter.card.family,
                          painter.config, read_side)
    family = get_family("staged")
    card = segmenter.card
    card.family, card.config = family.name, json.loads(json.dumps(asdict(config)))
    card.size_multiple, card.label_set = int(family.size_multiple(config)), None
    painter_training = painter.card.training
    card.training["painter"] = {"name": painter.card.name, "family": painter.card.family,
                                **{k: painter_training[k] for k in ("steps", "hours", "data") if k in painter_training}}
    return Model(card, net.requires_grad_(False))


def export_run(run_dir: str | Path, output: str | Path, *, which: str = "A", raw: bool = False,
               name: str | None = None, notes: dict[str, Any] | None = None,
               evaluation: dict[str, Any] | None = None, painter: str | Path | None = None) -> ModelCard:
    """Write the run's generator; `notes` (see `read_card_notes`) and an eval report complete its card.

    `painter` (a label model's name or file) is required for a segmenter run and refused for any other.
    """
    model, info = run_generator(run_dir, which, raw)
    segmenter = info.get("target") == "labels"
    if segmenter and painter is None:
        raise CheckpointError(f"{run_dir} trained a segmenter (--target labels); pass --painter MODEL (a label "
                              "model such as landscape) to export it as a staged sketch model")
    if painter is not None:
        if not segmenter:
            raise CheckpointError(f"{run_dir} trained a picture generator; --painter is only for segmenter runs "
                                  "(paintgan train --target labels)")
        model = join_painter(model, painter, int(info["size"]))
    card = model.card
    if name:
        card.name = _model_name(name)
    notes = notes or {}
    card.description = notes.get("description", card.description)
    card.limits = notes.get("limits", card.limits)
    card.training.update(notes.get("training", {}))
    if evaluation is not None:
        card.metrics = {**evaluation["metrics"], "eval_data": str(evaluation.get("data", "")),
                        "eval_items": evaluation.get("items"), "feature_net": evaluation.get("feature_net")}
    save_model(model, output)
    return card
