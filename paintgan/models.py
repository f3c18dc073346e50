"""PaintGAN's native model format, `Model` (card + generator + optional encoder) and the model registry.

A native model is one `.safetensors` file: generator weights under `generator.`, the optional SPADE style
encoder under `encoder.`, and the model card as JSON in the metadata key `paintgan.card`. safetensors holds
only tensors, so opening a model file can never run code. Upstream `.pth` checkpoints are read through
`paintgan.checkpoints` (weights-only unpickling) and get a card synthesised from what their state dict shows.

The registry looks in two folders: the bundled `weights/` beside the package (inside the PyInstaller bundle
when frozen) and the user's model folder (`$PAINTGAN_HOME/models`, else the platform's user data dir). A user
model with the same name as a bundled one is listed as a user model and wins, so a user can replace one.

Importing this module does not import torch: the app lists the models (their cards, read from the file header
with plain Python) before torch has loaded, and the lite runtime has no torch at all. What builds or runs a
network (loading, saving, placeholders) imports it when called.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs

from paintgan import __version__
from paintgan.cards import INPUT_KINDS, InputKind, LabelLayout, ModelCard
from paintgan.devices import require_torch
from paintgan.errors import CheckpointError, OutputError, PaintGANError
from paintgan.images import write_bytes_atomic
from paintgan.labels import (
    LabelSet,
    ade20k_labelset,
    cityscapes_labelset,
    coco_labelset,
    landscape_labelset,
    numbered_labelset,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

    from paintgan.families import Family

log = logging.getLogger(__name__)

CARD_KEY = "paintgan.card"
GENERATOR_PREFIX = "generator."
ENCODER_PREFIX = "encoder."
NATIVE_SUFFIX = ".safetensors"
PLACEHOLDER_DESCRIPTION = "untrained placeholder: the bundled models are not trained yet"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Upstream generator files: latest_net_G.pth, 100_net_G.pth, latest_net_G_A.pth (CycleGAN training).
_UPSTREAM_G_RE = re.compile(r"^(?P<prefix>.+)_net_G(?:_[AB])?\.pth$")
HEADER_LIMIT = 100 << 20  # safetensors refuses JSON headers larger than this


@dataclass
class Model:
    """A ready-to-run model: its card, the generator in eval mode, and the style encoder if it has one."""

    card: ModelCard
    generator: nn.Module
    encoder: nn.Module | None = None
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def family(self) -> Family:
        from paintgan.families import get_family

        return get_family(self.card.family)

    @property
    def config(self) -> Any:
        return config_from_dict(self.family.config_cls, self.card.config)


# ---------------------------------------------------------------------------------------------- cards


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """A family config from a card's JSON; a card written by another version or by hand may not fit."""
    try:
        return config_cls(**data)
    except TypeError as exc:
        raise CheckpointError(f"model card config does not fit {config_cls.__name__} ({exc})") from None


def _config_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config)))


def synthesise_card(
    family: Family,
    config: Any,
    *,
    name: str,
    encoder_config: Any | None = None,
    origin: str = "",
) -> ModelCard:
    """The card of an upstream checkpoint: everything its state dict tells, and nothing it does not."""
    label_set: LabelSet | None = None
    if family.conditional == "labels":
        input_kind: InputKind = "labels"
        layout = label_layout(config)
        label_set = _label_set_for(layout)
        input_nc = layout.channels
    else:
        input_nc = int(config.input_nc)
        input_kind = "sketch" if input_nc == 1 else "image"
    return ModelCard(
        name=name,
        family=family.name,
        config=_config_dict(config),
        input_kind=input_kind,
        input_nc=input_nc,
        size_multiple=int(family.size_multiple(config)),
        label_set=label_set,
        encoder_config=None if encoder_config is None else _config_dict(encoder_config),
        description=f"upstream {family.name} checkpoint, converted by PaintGAN {__version__}",
        training={"origin": origin, "data": "unknown: see the publisher of the checkpoint"},
        limits="not trained by PaintGAN: its training data, licence and quality are whatever its publisher says",
    )


def label_layout(config: Any, label_set: LabelSet | None = None) -> LabelLayout:
    """How a label model's input channels are laid out.

    SPADE configs say it. Light label families only know their channel count, so the label set decides: its
    max index + 1 one-hot channels, and what is left over is the dontcare channel, then the instance-edge channel
    (the order SPADE and `paintgan train` use).
    """
    if hasattr(config, "label_nc"):
        return LabelLayout(int(config.label_nc), bool(config.contain_dontcare), bool(config.instance_edges))
    channels = int(config.input_nc)
    label_nc = channels if label_set is None else label_set.max_index + 1
    extra = channels - label_nc
    if not 0 <= extra <= 2:
        raise CheckpointError(
            f"label set {label_set.name if label_set else '?'!r} has {label_nc} index values but the generator "
            f"takes {channels} input channels; expected at most 2 more (dontcare, instance edges)"
        )
    return LabelLayout(label_nc, extra >= 1, extra == 2)


def latent_dim(config: Any) -> int:
    """Length of the global latent z the generator takes (0: none). SPADE takes one only with its VAE."""
    if hasattr(config, "use_vae"):
        return int(config.z_dim) if config.use_vae else 0
    return int(getattr(config, "latent_dim", 0))


def _label_set_for(layout: LabelLayout) -> LabelSet:
    """SPADE's published presets have known label sets; any other label count gets numbered classes."""
    preset = {
        LabelLayout(150, True, False): ade20k_labelset,
        LabelLayout(182, True, True): coco_labelset,
        LabelLayout(35, False, True): cityscapes_labelset,
    }.get(layout)
    return preset() if preset is not None else numbered_labelset(layout.label_nc)


# ------------------------------------------------------------------------------------------ loading


def load_model(name_or_path: str | os.PathLike[str], encoder: str | os.PathLike[str] | None = None) -> Model:
    """Load a native `.safetensors` model, an upstream `.pth` generator (or the `latest_net_G.pth` of a run
    folder), or a registered model by name.

    For an upstream SPADE generator with a VAE, the encoder is `encoder` if given, else the `<prefix>_net_E.pth`
    beside a `<prefix>_net_G.pth`, if there is one.
    """
    require_torch(f"loading {Path(name_or_path).name}")
    path = Path(name_or_path)
    if path.is_dir():
        # Upstream users point at a run folder (checkpoints/ade20k_pretrained/); its latest generator is meant.
        if not (path / "latest_net_G.pth").is_file():
            raise CheckpointError(f"{path} is a folder without latest_net_G.pth; expected a model file")
        path = path / "latest_net_G.pth"
    if not path.is_file():
        text = str(name_or_path)
        looks_like_path = os.sep in text or "/" in text or path.suffix in (NATIVE_SUFFIX, ".pth", ".pt")
        if looks_like_path:
            raise CheckpointError(f"model file not found: {text}")
        path = find_model(text)
    if path.suffix == NATIVE_SUFFIX and CARD_KEY in _metadata(path):
        if encoder is not None:
            raise CheckpointError(
                f"{path.name} is a PaintGAN model; its encoder is inside it, so --encoder is only for .pth files"
            )
        return _load_native(path)
    return _load_upstream(path, None if encoder is None else Path(encoder))


def _eval(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _load_native(path: Path) -> Model:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from paintgan import checkpoints
    from paintgan.families import get_family
    from paintgan.families.spade import EncoderConfig, build_encoder

    card = read_card(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: cannot read its weights ({_one_line(exc)}); is it truncated?") from None
    family = get_family(card.family)
    generator = family.build(config_from_dict(family.config_cls, card.config))
    checkpoints.load_weights(generator, _strip(tensors, GENERATOR_PREFIX), f"{family.name} generator of {path.name}")
    enc: nn.Module | None = None
    if card.encoder_config is not None:
        enc = build_encoder(config_from_dict(EncoderConfig, card.encoder_config))
        checkpoints.load_weights(enc, _strip(tensors, ENCODER_PREFIX), f"style encoder of {path.name}")
    return Model(card, _eval(generator), None if enc is None else _eval(enc), path)


def _strip(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _upstream_name(path: Path) -> str:
    """`checkpoints/ade20k/latest_net_G.pth` -> "ade20k"; `my_model.pth` -> "my_model"."""
    m = _UPSTREAM_G_RE.match(path.name)
    base = path.parent.resolve().name if m else path.stem
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._-")
    return cleaned or "model"


def encoder_beside(path: Path) -> Path | None:
    """The `<prefix>_net_E.pth` that upstream SPADE saves next to `<prefix>_net_G.pth`, if present."""
    m = _UPSTREAM_G_RE.match(path.name)
    if not m:
        return None
    candidate = path.with_name(f"{m.group('prefix')}_net_E.pth")
    return candidate if candidate.is_file() else None


def _load_upstream(path: Path, encoder: Path | None) -> Model:
    from paintgan import checkpoints

    family, config, generator = checkpoints.load_generator(path)
    enc_path = encoder
    if enc_path is None and getattr(config, "use_vae", False):
        enc_path = encoder_beside(path)
    enc: nn.Module | None = None
    enc_config: Any | None = None
    if enc_path is not None:
        if not getattr(config, "use_vae", False):
            raise CheckpointError(
                f"{path.name} has no style input (no VAE), so it cannot use the encoder {enc_path.name}"
            )
        if not enc_path.is_file():
            raise CheckpointError(f"encoder file not found: {enc_path}")
        enc_config, enc = checkpoints.load_encoder(enc_path)
    card = synthesise_card(family, config, name=_upstream_name(path), encoder_config=enc_config,
                            origin=f"upstream checkpoint {path.name}")
    return Model(card, _eval(generator), None if enc is None else _eval(enc), path)


# ------------------------------------------------------------------------------------------- saving


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_target(path: Path) -> None:
    if path.suffix != NATIVE_SUFFIX:
        raise OutputError(f"cannot save a model as {path.name}; expected a file name ending in {NATIVE_SUFFIX}")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")


def save_model(model: Model, path: str | os.PathLike[str]) -> Path:
    """Write `model` as one native file; an existing file is replaced only once the new one is complete."""
    from safetensors.torch import save

    target = Path(path)
    _check_target(target)
    tensors: dict[str, Tensor] = {}
    for prefix, module in ((GENERATOR_PREFIX, model.generator), (ENCODER_PREFIX, model.encoder)):
        if module is None:
            continue
        for key, value in module.state_dict().items():
            # safetensors refuses shared storage; clone() gives every tensor its own.
            tensors[prefix + key] = value.detach().to("cpu").contiguous().clone()
    metadata = {CARD_KEY: model.card.to_json(), "format": "paintgan"}
    write_bytes_atomic(target, save(tensors, metadata=metadata))
    return target


def convert(in_pth: str | os.PathLike[str], out_safetensors: str | os.PathLike[str], name: str | None = None,
            encoder: str | os.PathLike[str] | None = None) -> ModelCard:
    """Convert an upstream checkpoint (and its encoder, found beside it or given) to one native file."""
    target = Path(out_safetensors)
    _check_target(target)
    model = load_model(Path(in_pth), encoder=encoder)
    if name is not None:
        model.card.name = check_model_name(name)
    save_model(model, target)
    return model.card


def _metadata(path: Path) -> dict[str, str]:
    """The string metadata in a safetensors header: a little-endian u64 length, then that many bytes of JSON."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = f.read(8)
            if len(start) < 8:
                raise ValueError(f"{size} bytes, shorter than the 8-byte header length")
            (length,) = struct.unpack("<Q", start)
            if length > min(size - 8, HEADER_LIMIT):
                raise ValueError(f"header length {length} does not fit a file of {size} bytes")
            header = json.loads(f.read(length))
    except (OSError, ValueError) as exc:  # JSON and UTF-8 decoding errors are ValueErrors
        raise CheckpointError(f"{path.name}: not a readable safetensors file ({_one_line(exc)})") from None
    metadata = (header.get("__metadata__") or {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path.name}: not a readable safetensors file (its header is not a JSON object "
                              "with string metadata)")
    return metadata


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card of a native model file, read from its header without loading the weights."""
    p = Path(path)
    metadata = _metadata(p)
    if CARD_KEY not in metadata:
        raise CheckpointError(f"{p.name}: safetensors file without a PaintGAN model card (metadata key {CARD_KEY!r})")
    return ModelCard.from_json(metadata[CARD_KEY])


# ----------------------------------------------------------------------------------------- registry


def bundled_models_dir() -> Path:
    """`weights/` at the repository root, or inside the PyInstaller bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "weights"


def user_models_dir() -> Path:
    home = os.environ.get("PAINTGAN_HOME")
    if home:
        return Path(home) / "models"
    return Path(platformdirs.user_data_dir("PaintGAN", appauthor=False)) / "models"


@dataclass(frozen=True)
class RegistryEntry:
    card: ModelCard
    path: Path
    origin: Literal["bundled", "user"]


def registry(
    suffix: str = NATIVE_SUFFIX, read: Callable[[Path], ModelCard] = read_card
) -> dict[str, RegistryEntry]:
    """Every readable native model by name; user models shadow bundled ones of the same name. (`suffix` and
    `read` list other model files the same way: the lite build's `.onnx` models.)"""
    entries: dict[str, RegistryEntry] = {}
    for origin, folder in (("bundled", bundled_models_dir()), ("user", user_models_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{suffix}")):
            try:
                card = read(path)
            except PaintGANError as exc:
                # One broken file must not hide the others (or stop the app from starting).
                log.warning("skipping model file %s: %s", path, exc)
                continue
            entries[card.name] = RegistryEntry(card, path, origin)  # type: ignore[arg-type]
    return entries


def list_models() -> list[ModelCard]:
    return [e.card for e in sorted(registry().values(), key=lambda e: e.card.name)]


def find_model(name: str) -> Path:
    entries = registry()
    if name in entries:
        return entries[name].path
    known = ", ".join(sorted(entries)) or "none installed"
    raise CheckpointError(f"unknown model {name!r}; known models: {known} (or give a .safetensors/.pth path)")


def check_model_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise CheckpointError(f"model name {name!r} is not usable; expected letters, digits, '_', '-', '.' (max 64)")
    return name


def import_model(path: str | os.PathLike[str], name: str | None = None) -> ModelCard:
    """Copy a native model, or convert an upstream `.pth`, into the user's model folder.

    The model is loaded in full first, so a file that would not render is refused and nothing is written.
    """
    src = Path(path)
    if not src.is_file():
        raise CheckpointError(f"model file not found: {src}")
    if src.suffix == ".onnx" and name is None:  # the lite build's model files (paintgan export-onnx)
        from paintgan.onnx_runtime import import_onnx_model

        return import_onnx_model(src)
    model = load_model(src)
    if name is not None:
        model.card.name = check_model_name(name)
    check_model_name(model.card.name)
    folder = user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the user model folder {folder}: {exc.strerror or exc}") from None
    target = folder / f"{model.card.name}{NATIVE_SUFFIX}"
    if name is None and src.suffix == NATIVE_SUFFIX and CARD_KEY in _metadata(src):
        write_bytes_atomic(target, src.read_bytes())  # byte for byte: a native file needs no rewriting
    else:
        save_model(model, target)
    return model.card


# ------------------------------------------------------------------------------------- placeholders


def placeholder_name(input_kind: str) -> str:
    return f"placeholder-{input_kind}"


def placeholder_model(input_kind: InputKind, label_set: LabelSet | None = None, seed: int = 0) -> Model:
    """An untrained light generator with seeded random weights, clearly marked as a placeholder.

    The app uses it until trained bundled weights exist, so that painting and the render loop work end to end.
    Label placeholders default to the bundled landscape label set.
    """
    import torch

    from paintgan.families import get_family
    from paintgan.families.light_spade import LightSpadeConfig
    from paintgan.families.light_unet import LightUnetConfig

    if input_kind not in INPUT_KINDS:
        raise CheckpointError(f"unknown input kind {input_kind!r}; expected one of {INPUT_KINDS}")
    config: Any
    if input_kind == "labels":
        label_set = label_set or landscape_labelset()
        family, config = get_family("light_spade"), LightSpadeConfig(input_nc=label_set.max_index + 1)
    else:
        label_set = None
        nc = 1 if input_kind == "sketch" else 3
        family, config = get_family("light_unet"), LightUnetConfig(input_nc=nc)
    with torch.random.fork_rng(devices=[]):  # seeded weights without disturbing the caller's random stream
        torch.manual_seed(seed)
        generator = family.build(config)
    card = ModelCard(
        name=placeholder_name(input_kind),
        family=family.name,
        config=_config_dict(config),
        input_kind=input_kind,
        input_nc=label_set.max_index + 1 if label_set is not None else int(config.input_nc),
        size_multiple=int(family.size_multiple(config)),
        label_set=label_set,
        description=PLACEHOLDER_DESCRIPTION,
        training={"data": "none", "steps": 0},
        limits="random weights: the picture shows only that rendering runs, not what a trained model draws",
        placeholder=True,
    )
    return Model(card, _eval(generator))
