"""A model card and the input layout of label models: what the app and the command line need to know about a
model without loading it, so this module imports neither torch nor a generator family (the ONNX Runtime build
has no torch)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from paintgan.errors import CheckpointError, PaintGANError
from paintgan.labels import LabelSet

InputKind = Literal["labels", "sketch", "image"]
INPUT_KINDS: tuple[str, ...] = ("labels", "sketch", "image")
FORMAT_VERSION = 1


@dataclass
class ModelCard:
    """What a user (and the app) needs to know about a model; stored as JSON inside the model file."""

    name: str
    family: str
    config: dict[str, Any]
    input_kind: InputKind
    input_nc: int
    size_multiple: int
    label_set: LabelSet | None = None
    encoder_config: dict[str, Any] | None = None
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # data, licence, steps, hardware, hours
    metrics: dict[str, Any] = field(default_factory=dict)
    limits: str = ""
    version: str = "1"
    placeholder: bool = False
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        # Cards come from files, so their JSON types are checked, not trusted.
        expected = {"name": str, "family": str, "config": dict, "input_nc": int, "size_multiple": int,
                    "training": dict, "metrics": dict, "format_version": int}
        for key, kind in expected.items():
            value = getattr(self, key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise CheckpointError(f"model card field {key!r} is {value!r}; expected type {kind.__name__}")
        if self.input_nc < 1 or self.size_multiple < 1:
            raise CheckpointError(f"model card {self.name!r} has input_nc/size_multiple below 1")
        if self.format_version > FORMAT_VERSION:
            raise CheckpointError(
                f"model {self.name!r} was written by a newer PaintGAN (format {self.format_version}); "
                f"this version reads format {FORMAT_VERSION}"
            )
        if self.input_kind not in INPUT_KINDS:
            raise CheckpointError(f"model card has input kind {self.input_kind!r}; expected one of {INPUT_KINDS}")
        if self.input_kind == "labels" and self.label_set is None:
            raise CheckpointError(f"model card {self.name!r} takes label maps but names no label set")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["label_set"] = None if self.label_set is None else self.label_set.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in known}
            if values.get("label_set") is not None:
                values["label_set"] = LabelSet.from_dict(values["label_set"])
            return cls(**values)
        except PaintGANError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"model card is malformed ({exc}); expected a PaintGAN model card") from None

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"model card is not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise CheckpointError("model card is not a JSON object; expected a PaintGAN model card")
        return cls.from_dict(data)



@dataclass(frozen=True)
class LabelLayout:
    """How a label-conditioned generator's input channels are laid out: one-hot labels, then the optional
    dontcare channel (which upstream value 255 also reaches), then the optional instance-edge channel."""

    label_nc: int
    dontcare: bool = False
    instance_edges: bool = False

    @property
    def channels(self) -> int:
        return self.label_nc + self.dontcare + self.instance_edges
