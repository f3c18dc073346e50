"""Training options: one flat dataclass, filled from defaults, the family's paper settings, a TOML file and the CLI.

Every option has the same name in the TOML file (`lambda_l1 = 100`) and on the command line (`--lambda-l1 100`);
generator hyperparameters go in a `[model]` table or `--model-option KEY=VALUE`. Later sources win: dataclass
defaults < family preset < the run's recorded config (on --resume) < TOML file < command line. The run directory
records the resolved result as `config.toml`, which is itself a valid `--config` file.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from paintgan.errors import PaintGANError

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")
INPUT_KINDS = ("auto", "labels", "edges", "sketch", "image")
EDGE_METHODS = ("canny", "xdog", "mixed")
D_NORMS = ("batch", "instance", "none")
DIRECTIONS = ("AtoB", "BtoA")
TARGETS = ("image", "labels")
DIFFAUG_POLICIES = ("color", "translation", "cutout")


class ConfigError(PaintGANError):
    """A training option that is unknown, of the wrong type or out of range."""


@dataclass
class TrainConfig:
    family: str = ""
    data: str = ""
    out: str = ""
    steps: int = 10000
    size: int = 256
    batch: int = 1
    # what the generator sees: label maps, derived edges, given sketches or pictures ("auto" reads the folder)
    input: str = "auto"
    edges: str = "mixed"
    # what the generator learns to give: pictures, or (sketch in) a label map for a `staged` sketch model
    target: str = "image"
    outline_share: float = 0.5
    labels: str = ""
    dontcare: bool = False
    direction: str = "AtoB"
    # augmentation: random scale up to load_scale x size before the crop (pix2pix: 286/256), flips
    load_scale: float = 1.12
    flip: bool = True
    diffaug: str = ""
    workers: int = -1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    # objective
    gan_mode: str = "vanilla"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_from: float = 0.5
    lambda_l1: float = 100.0
    lambda_fm: float = 0.0
    lambda_perceptual: float = 0.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 1
    d_norm: str = "batch"
    spectral_norm: bool = False
    g_spectral_norm: bool = False
    ema: float = 0.999
    pool_size: int = 50
    feature_net: str = "auto"
    # distillation
    teacher: str = ""
    teacher_variants: int = 4
    # fine-tuning
    init: str = ""
    # run directory
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 2
    name: str = ""
    description: str = ""
    data_licence: str = ""
    model: dict[str, Any] = field(default_factory=dict)


HELP = {
    "family": "generator family (pix2pix, spade, cyclegan, ganilla or a light family)",
    "data": "training data folder",
    "out": "run directory (created; holds config, checkpoints, samples, metrics)",
    "steps": "total optimisation steps",
    "size": "training crop size in pixels",
    "batch": "images per step and process",
    "input": "generator input: auto (from the folder), labels, edges (derived from images/), sketch, image",
    "edges": "line filter for --input edges: canny, xdog or mixed",
    "target": "what the generator learns to give: image (a picture) or labels (a label map read from a sketch, "
              "for a staged sketch model; needs sketches/ or images/ beside labels/)",
    "outline_share": "with --target labels: share of sketches drawn as outlines of the label map instead of read "
                     "from sketches/",
    "labels": "label set JSON naming the classes (default DIR/labels.json if present; colour label maps need one)",
    "dontcare": "add a dontcare channel (label 255) to the one-hot input",
    "direction": "for side-by-side AB pictures: AtoB or BtoA",
    "load_scale": "random scale before cropping, as a multiple of --size (1 = no scaling)",
    "flip": "random horizontal flips",
    "diffaug": "DiffAugment policies for the discriminator, comma-separated: color,translation,cutout",
    "workers": "data loader processes (-1 = pick from the CPU count)",
    "seed": "random seed of weights, data order and augmentation",
    "device": "auto, cpu, cuda or mps",
    "amp": "mixed precision on CUDA GPUs",
    "gan_mode": "adversarial loss: vanilla, lsgan, hinge, wgangp",
    "lr_g": "generator learning rate",
    "lr_d": "discriminator learning rate (TTUR: higher than lr_g)",
    "beta1": "Adam beta1",
    "beta2": "Adam beta2",
    "decay_from": "fraction of the steps after which learning rates decay linearly to zero",
    "lambda_l1": "weight of the L1 loss to the target picture (paired data, distillation)",
    "lambda_fm": "weight of discriminator feature matching",
    "lambda_perceptual": "weight of the perceptual loss on the feature network",
    "lambda_cycle": "weight of the cycle loss (unpaired data)",
    "lambda_identity": "weight of the identity loss, relative to the cycle loss (unpaired data)",
    "lambda_gp": "gradient penalty weight for wgangp",
    "ndf": "discriminator width",
    "d_layers": "PatchGAN stride-2 layers (3 = 70x70 patches)",
    "d_scales": "discriminators at halved resolutions (multi-scale when > 1)",
    "d_norm": "discriminator norm: batch, instance, none",
    "spectral_norm": "spectral norm on discriminator convolutions",
    "g_spectral_norm": "spectral norm on generator layers (folded into plain weights at export)",
    "ema": "decay of the generator weight average exported instead of the raw weights (0 = off)",
    "pool_size": "history of generated pictures shown to the discriminators (unpaired data)",
    "feature_net": "perceptual/eval feature network: auto, random, or a torchvision VGG19 .pth file",
    "teacher": "distil this model (.safetensors, upstream .pth, or module:callable) into the student",
    "teacher_variants": "augmented copies of each data item whose teacher outputs are cached",
    "init": "start the networks from this run directory's newest checkpoint (fine-tuning; a generator input "
            "grown by new channels starts them at zero)",
    "save_every": "steps between checkpoints",
    "sample_every": "steps between sample grids",
    "log_every": "steps between metric rows",
    "keep_checkpoints": "checkpoints kept in the run directory",
    "name": "model name written into the exported card",
    "description": "description of the data for the model card",
    "data_licence": "licence of the training data for the model card",
}

# The papers' settings. pix2pix: vanilla GAN + 100 L1, 70x70 PatchGAN with BatchNorm, Adam(2e-4, 0.5). CycleGAN
# and GANILLA: LSGAN, cycle 10, identity 0.5, InstanceNorm D, image pool 50. SPADE: hinge, TTUR (G 1e-4,
# D 4e-4, Adam(0, 0.9)), feature matching 10, perceptual 10, two spectral-norm PatchGANs of 4 layers.
IMAGE_PRESET: dict[str, Any] = {}
UNPAIRED_PRESET: dict[str, Any] = {"gan_mode": "lsgan", "d_norm": "instance"}
LABEL_PRESET: dict[str, Any] = {
    "gan_mode": "hinge",
    "lr_g": 1e-4,
    "lr_d": 4e-4,
    "beta1": 0.0,
    "beta2": 0.9,
    "lambda_l1": 0.0,
    "lambda_fm": 10.0,
    "lambda_perceptual": 10.0,
    "d_layers": 4,
    "d_scales": 2,
    "d_norm": "instance",
    "spectral_norm": True,
    "g_spectral_norm": True,
}
DISTILL_L1 = 10.0
PRESETS: dict[str, dict[str, Any]] = {
    "pix2pix": IMAGE_PRESET,
    "cyclegan": UNPAIRED_PRESET,
    "ganilla": UNPAIRED_PRESET,
    "spade": LABEL_PRESET,
}


def family_preset(family: str) -> dict[str, Any]:
    """The paper settings of `family`; light families take those of their kind (label or image input)."""
    if family in PRESETS:
        return dict(PRESETS[family])
    from paintgan.families import get_family

    if get_family(family).conditional == "labels":
        # Spectral norm on a light generator's depthwise layers only slows it; its norms keep it stable.
        return {**LABEL_PRESET, "g_spectral_norm": False}
    return dict(IMAGE_PRESET)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_DEFAULTS = TrainConfig()


def _field_type(name: str) -> type:
    return type(getattr(_DEFAULTS, name))


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELDS:
        raise ConfigError(f"unknown training option {name!r}; expected one of: {', '.join(sorted(_FIELDS))}")
    kind = _field_type(name)
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"option {name!r} must be a table of generator settings, got {value!r}")
        return dict(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"option {name!r} must be true or false, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and kind is not str:
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(f"option {name!r} must be a {kind.__name__}, got {value!r}") from None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"option {name!r} must be a {kind.__name__}, got {value!r}")
    return value


def _normalise_keys(table: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("-", "_"): value for key, value in table.items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Options from a TOML file: top-level keys (or a `[train]` table) plus an optional `[model]` table."""
    p = Path(path)
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist; expected a TOML file of training options") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML ({exc}); expected `option = value` lines") from None
    if isinstance(table.get("train"), dict):
        table = {**table.pop("train"), **table}
    return _normalise_keys(table)


def parse_model_options(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings into generator settings; values are read as TOML literals, else kept as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--model-option {item!r} is not KEY=VALUE; expected e.g. ngf=32")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key.strip()] = value
    return out


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(c: TrainConfig) -> TrainConfig:
    _check(bool(c.family), "no generator family given; expected --family NAME")
    _check(bool(c.data), "no data folder given; expected --data DIR")
    _check(bool(c.out), "no run directory given; expected --out RUN_DIR")
    _check(c.steps >= 1, f"steps must be >= 1, got {c.steps}")
    _check(c.size >= 16 and c.size % 4 == 0, f"size must be a multiple of 4 and >= 16, got {c.size}")
    _check(c.batch >= 1, f"batch must be >= 1, got {c.batch}")
    _check(c.input in INPUT_KINDS, f"input must be one of {', '.join(INPUT_KINDS)}, got {c.input!r}")
    _check(c.edges in EDGE_METHODS, f"edges must be one of {', '.join(EDGE_METHODS)}, got {c.edges!r}")
    _check(c.target in TARGETS, f"target must be one of {', '.join(TARGETS)}, got {c.target!r}")
    _check(0.0 <= c.outline_share <= 1.0, f"outline_share must be in [0, 1], got {c.outline_share}")
    _check(c.direction in DIRECTIONS, f"direction must be AtoB or BtoA, got {c.direction!r}")
    _check(c.gan_mode in GAN_MODES, f"gan_mode must be one of {', '.join(GAN_MODES)}, got {c.gan_mode!r}")
    _check(c.d_norm in D_NORMS, f"d_norm must be one of {', '.join(D_NORMS)}, got {c.d_norm!r}")
    _check(c.load_scale >= 1.0, f"load_scale must be >= 1, got {c.load_scale}")
    _check(0.0 <= c.ema < 1.0, f"ema must be in [0, 1), got {c.ema}")
    _check(0.0 <= c.decay_from <= 1.0, f"decay_from must be in [0, 1], got {c.decay_from}")
    _check(c.lr_g > 0 and c.lr_d > 0, "learning rates must be > 0")
    _check(c.d_layers >= 1 and c.d_scales >= 1 and c.ndf >= 1, "ndf, d_layers and d_scales must be >= 1")
    for every in ("save_every", "sample_every", "log_every"):
        _check(getattr(c, every) >= 1, f"{every} must be >= 1, got {getattr(c, every)}")
    _check(c.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {c.keep_checkpoints}")
    _check(c.teacher_variants >= 1, f"teacher_variants must be >= 1, got {c.teacher_variants}")
    for policy in filter(None, c.diffaug.split(",")):
        _check(policy in DIFFAUG_POLICIES, f"unknown diffaug policy {policy!r}; expected {DIFFAUG_POLICIES}")
    return c


def resolve_config(
    cli: dict[str, Any], toml_path: str | Path | None = None, recorded: dict[str, Any] | None = None
) -> TrainConfig:
    """Merge the sources in order of precedence and check the result."""
    toml = read_toml(toml_path) if toml_path else {}
    given = {k: v for k, v in cli.items() if v is not None}
    family = given.get("family") or toml.get("family") or (recorded or {}).get("family") or ""
    merged: dict[str, Any] = family_preset(family) if family else {}
    if given.get("teacher") or toml.get("teacher") or (recorded or {}).get("teacher"):
        # A teacher's picture is the exact answer for its input, so distillation leans on the pixel loss.
        merged["lambda_l1"] = max(float(merged.get("lambda_l1", TrainConfig.lambda_l1)), DISTILL_L1)
    model: dict[str, Any] = {}
    for source in (recorded or {}, toml, given):
        source = dict(source)
        model.update(source.pop("model", {}) or {})
        merged.update(source)
    values = {name: _coerce(name, value) for name, value in merged.items()}
    values["model"] = _coerce("model", model)
    return validate(TrainConfig(**values))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML; expected a number, string, boolean or list")


def to_toml(config: TrainConfig) -> str:
    data = asdict(config)
    model = data.pop("model")
    lines = ["# Resolved training options of this run; usable as `paintgan train --config`."]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    lines += ["", "[model]"] + [f"{key} = {_toml_value(value)}" for key, value in sorted(model.items())]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--option` per config field, defaulting to None so only what the user typed overrides the rest."""
    for name in _FIELDS:
        if name == "model":  # set through --model-option
            continue
        flag = "--" + name.replace("_", "-")
        kind = _field_type(name)
        if kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=HELP[name])
        else:
            parser.add_argument(flag, dest=name, type=kind, default=None, help=HELP[name], metavar=name.upper())
    parser.add_argument(
        "--model-option",
        dest="model_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator hyperparameter, e.g. ngf=32 (repeatable)",
    )
