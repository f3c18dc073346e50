"""Choosing where and in which precision a generator runs.

`auto` prefers CUDA, then Apple's MPS, then the CPU. GPUs run in half precision (bf16 where the CUDA card
supports it, since it cannot overflow like fp16 in SPADE's un-normalised activations; fp16 otherwise); the CPU
runs fp32 because half precision there is slower and less exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from paintgan.errors import CheckpointError, InputError

if TYPE_CHECKING:  # torch is imported when a device is chosen: the CLI's options need no torch (lite build)
    import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_NAMES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def torch_available() -> bool:
    """Whether torch can be imported here: False in the lite build (ONNX Runtime only) and where a test blocks it."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # sys.modules["torch"] = None makes find_spec raise
        return False


def require_torch(what: str) -> None:
    """A one-line refusal, in the lite build, of what only torch can do (loading a .pth or .safetensors)."""
    if not torch_available():
        raise CheckpointError(f"{what} needs the full build of PaintGAN (with torch); this build renders ONNX "
                              "models only (.onnx files made with paintgan export-onnx)")


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """The torch device for `name`; asking for a device this machine does not have is an input error."""
    import torch

    if name not in DEVICE_NAMES:
        raise InputError(f"unknown device {name!r}; expected one of {', '.join(DEVICE_NAMES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available; use --device auto or cpu")
    if name == "mps" and not _mps_available():
        raise InputError("device 'mps' was asked for but Apple MPS is not available; use --device auto or cpu")
    return torch.device(name)


def default_dtype(device: torch.device) -> torch.dtype:
    """fp32 on the CPU, half precision on a GPU."""
    import torch

    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
