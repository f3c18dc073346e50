"""Rendering through ONNX Runtime, without torch: the engine of the lite build.

A PaintGAN ONNX file (`paintgan export-onnx`, or `paintgan.onnx_export`) is one generator graph with the model
card in its metadata (`paintgan.card`, the same JSON as in a `.safetensors` model) and what rendering needs that
the card alone does not say (`paintgan.onnx`: the label layout, the length of z, whether H and W are free).
`OnnxRenderer` has the API of `paintgan.render.Renderer` that the app and `paintgan render` use (`render`,
`render_tensor`, `latent`, `render_region`, `render_tiled`), and shares its numpy pre- and post-processing
(`paintgan.render_core`), so the same input gives the same picture within float rounding.

Importing this module imports neither torch nor onnxruntime; a session imports onnxruntime when it is made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from paintgan.cards import LabelLayout, ModelCard
from paintgan.errors import CheckpointError, InputError, OutputError, PaintGANError
from paintgan.models import CARD_KEY, RegistryEntry, registry, user_models_dir
from paintgan.render_core import NOT_STATED, FrameRenderer, Tiling, array_to_uint8, inexact, one_hot, torch_randn

ONNX_SUFFIX = ".onnx"
ONNX_META_KEY = "paintgan.onnx"
ONNX_FORMAT = 1
INPUT_NAME, LATENT_NAME, OUTPUT_NAME = "x", "z", "y"
_METADATA_LIMIT = 64 << 20  # a card is kilobytes; anything this big is not one


@dataclass(frozen=True)
class OnnxInfo:
    """What rendering needs beyond the card: stored as JSON under `paintgan.onnx` by the exporter."""

    z_dim: int
    layout: LabelLayout | None
    dynamic: bool  # True: any H, W that are multiples of the card's size_multiple; else only `size`
    size: tuple[int, int]  # H, W the graph was traced at
    # What the family stated at export (the lite build has no families to ask); files without it never tile.
    tiling: Tiling = NOT_STATED

    def to_json(self) -> str:
        layout = None if self.layout is None else {
            "label_nc": self.layout.label_nc, "dontcare": self.layout.dontcare,
            "instance_edges": self.layout.instance_edges}
        return json.dumps({"format": ONNX_FORMAT, "z_dim": self.z_dim, "layout": layout, "dynamic": self.dynamic,
                           "size": list(self.size), "tiling": self.tiling.to_json()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, name: str) -> OnnxInfo:
        try:
            data = json.loads(text)
            if int(data["format"]) > ONNX_FORMAT:
                raise CheckpointError(f"{name} was exported by a newer PaintGAN (ONNX format {data['format']}); "
                                      f"this version reads format {ONNX_FORMAT}")
            lay = data["layout"]
            layout = None if lay is None else LabelLayout(int(lay["label_nc"]), bool(lay["dontcare"]),
                                                          bool(lay["instance_edges"]))
            h, w = (int(v) for v in data["size"])
            return cls(int(data["z_dim"]), layout, bool(data["dynamic"]), (h, w), Tiling.from_json(data.get("tiling")))
        except PaintGANError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{name}: its {ONNX_META_KEY} metadata is malformed ({exc}); "
                                  "expected a file written by paintgan export-onnx") from None


# ------------------------------------------------------------------------------------------ file header


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    """The (field number, wire type, value) of one protobuf message, values undecoded."""
    out: list[tuple[int, int, bytes | int]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, wire, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            out.append((number, wire, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unknown wire type {wire}")
    return out


def _read_varint(f: BinaryIO) -> int:
    start = f.tell()
    value, used = _varint(f.read(10), 0)
    f.seek(start + used)
    return value


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata_props of an ONNX file, read from its protobuf fields without loading the graph: ModelProto
    field 7 (the graph, nearly all of the file) is skipped by its length, field 14 holds key/value entries."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            props: dict[str, str] = {}
            size = os.fstat(f.fileno()).st_size
            while f.tell() < size:
                key = _read_varint(f)
                number, wire = key >> 3, key & 7
                if wire == 0:
                    _read_varint(f)
                    continue
                if wire != 2:
                    raise ValueError(f"wire type {wire} at the top level of a model")
                length = _read_varint(f)
                if number != 14:
                    f.seek(length, os.SEEK_CUR)
                    continue
                if length > _METADATA_LIMIT:
                    raise ValueError(f"a metadata entry of {length} bytes")
                entry = dict((n, v) for n, _w, v in _fields(f.read(length)) if isinstance(v, bytes))
                props[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
            if f.tell() != size:
                raise ValueError("a field runs past the end of the file")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{p.name}: not a readable ONNX file ({exc})") from None
    return props


def read_onnx_card(path: str | os.PathLike[str]) -> ModelCard:
    """The model card of a PaintGAN ONNX file, without loading its graph."""
    props = read_metadata(path)
    if CARD_KEY not in props or ONNX_META_KEY not in props:
        raise CheckpointError(f"{Path(path).name}: ONNX file without a PaintGAN model card; "
                              "expected a file written by paintgan export-onnx")
    return ModelCard.from_json(props[CARD_KEY])


# ------------------------------------------------------------------------------------------ sessions


class OnnxSession:
    """One ONNX Runtime CPU session: all graph optimisations, `threads` intra-op threads that sleep rather than
    spin between calls (spinning threads would take the cores from the UI and from other processes)."""

    def __init__(self, graph: bytes | str | os.PathLike[str], threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError("rendering through ONNX Runtime needs the onnxruntime package "
                             "(pip install onnxruntime)") from None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, int(threads)) if threads else min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise to a painter
        source = graph if isinstance(graph, bytes) else str(graph)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            what = "the exported graph" if isinstance(graph, bytes) else Path(graph).name
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{what}: ONNX Runtime cannot load it ({first})") from None
        self.threads = options.intra_op_num_threads
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.takes_z = any(i.name == LATENT_NAME for i in self.session.get_inputs())

    def info(self, name: str) -> OnnxInfo:
        """What the exporter wrote beside the graph (`name` names the model in errors)."""
        if ONNX_META_KEY not in self.metadata:
            raise CheckpointError(f"{name}: ONNX graph without {ONNX_META_KEY} metadata; "
                                  "expected a file written by paintgan export-onnx")
        return OnnxInfo.from_json(self.metadata[ONNX_META_KEY], name)

    def run(self, x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        feed = {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)}
        if self.takes_z:
            assert z is not None
            feed[LATENT_NAME] = np.ascontiguousarray(z, dtype=np.float32).reshape(1, -1)
        return np.asarray(self.session.run([OUTPUT_NAME], feed)[0])


# ------------------------------------------------------------------------------------------ models


@dataclass
class OnnxModel:
    """A PaintGAN ONNX file, opened: its card, what rendering needs, and its path (the session is the renderer's)."""

    card: ModelCard
    info: OnnxInfo
    path: Path

    @property
    def name(self) -> str:
        return self.card.name


def onnx_registry() -> dict[str, RegistryEntry]:
    """Every readable PaintGAN ONNX file in the bundled and the user model folders by name (user files win)."""
    return registry(ONNX_SUFFIX, read_onnx_card)


def list_onnx_models() -> list[ModelCard]:
    return [e.card for e in sorted(onnx_registry().values(), key=lambda e: e.card.name)]


def load_onnx_model(name_or_path: str | os.PathLike[str]) -> OnnxModel:
    """A PaintGAN ONNX file by path, or an installed one by name. Upstream `.pth` checkpoints and `.safetensors`
    models are refused with a message: making their graph needs torch (the full build, `paintgan export-onnx`)."""
    path = Path(name_or_path)
    text = str(name_or_path)
    if path.suffix in (".pth", ".pt", ".safetensors") or path.is_dir():
        raise CheckpointError(f"{path.name} is a torch model file; it needs the full build of PaintGAN (with torch), "
                              "or an ONNX copy made there with paintgan export-onnx")
    if not path.is_file():
        if os.sep in text or "/" in text or path.suffix == ONNX_SUFFIX:
            raise CheckpointError(f"model file not found: {text}")
        entries = onnx_registry()
        if text not in entries:
            known = ", ".join(sorted(entries)) or "none installed"
            raise CheckpointError(f"unknown model {text!r}; known models: {known} (or give a .onnx path)")
        path = entries[text].path
    props = read_metadata(path)
    if CARD_KEY not in props or ONNX_META_KEY not in props:
        raise CheckpointError(f"{path.name}: ONNX file without a PaintGAN model card; "
                              "expected a file written by paintgan export-onnx")
    return OnnxModel(ModelCard.from_json(props[CARD_KEY]), OnnxInfo.from_json(props[ONNX_META_KEY], path.name), path)


def import_onnx_model(path: str | os.PathLike[str]) -> ModelCard:
    """Copy a PaintGAN ONNX file into the user's model folder, once ONNX Runtime has loaded it (a file that would
    not render is refused and nothing is written). Its name is the one in its card."""
    from paintgan.images import write_bytes_atomic
    from paintgan.models import check_model_name

    model = load_onnx_model(path)
    check_model_name(model.card.name)
    OnnxSession(model.path, threads=1)
    folder = user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the user model folder {folder}: {exc.strerror or exc}") from None
    write_bytes_atomic(folder / f"{model.card.name}{ONNX_SUFFIX}", model.path.read_bytes())
    return model.card


# ------------------------------------------------------------------------------------------ rendering


class OnnxRenderer(FrameRenderer[np.ndarray, np.ndarray]):
    """`paintgan.render.Renderer` for an `OnnxModel`, on the CPU through ONNX Runtime. `render_tensor` returns a
    numpy array (1x3xHxW float32 in [-1, 1]); z is a numpy array; a seed draws the z torch would."""

    def __init__(self, model: OnnxModel, device: str = "auto", threads: int | None = None) -> None:
        if device not in ("auto", "cpu"):
            raise InputError(f"device {device!r} needs the full build (torch); this build renders on the CPU")
        self.model = model
        self.device = "cpu"
        self.backend = "onnx"
        info = model.info
        tiling = info.tiling if info.dynamic else inexact(f"exported for {info.size[1]}x{info.size[0]} px only")
        self._setup_frame(model.card, info.layout, info.z_dim, tiling)
        self.session = OnnxSession(model.path, threads)
        self.fast_steps: tuple[str, ...] = ("onnxruntime",)

    def _forward(self, x: np.ndarray | None, labels: np.ndarray | None, edges: np.ndarray | None,
                 latent: np.ndarray | None) -> np.ndarray:
        if x is None:
            assert labels is not None and self.layout is not None
            x = one_hot(labels, self.layout, edges)
        info = self.model.info
        if not info.dynamic and tuple(x.shape[2:]) != info.size:
            (h, w), (eh, ew) = x.shape[2:], info.size
            raise InputError(f"model {self.card.name!r} was exported for {ew}x{eh} px only; got {w}x{h} "
                             "(export it again at this size)")
        return self.session.run(x, latent)

    def _quantise(self, y: np.ndarray) -> np.ndarray:
        return array_to_uint8(y)

    def _latent_from_z(self, z: Any) -> np.ndarray:
        arr = np.asarray(z, dtype=np.float32)
        self.check_z(arr.size)
        return arr.reshape(1, self.z_dim)

    def _latent_from_seed(self, seed: int) -> np.ndarray:
        return torch_randn(seed, self.z_dim).reshape(1, self.z_dim)

    def _encode_style(self, style: np.ndarray) -> np.ndarray:
        raise InputError(f"model {self.card.name!r}: a style image needs the full build (its encoder runs in "
                         "torch); give a seed instead")
