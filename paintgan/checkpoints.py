"""Reading upstream generator checkpoints safely, repairing their known quirks, and detecting their family.

`read_state_dict` never unpickles arbitrary objects (`torch.load(weights_only=True)`, or safetensors).
`normalize` repairs what upstream users trip over: DataParallel `module.` prefixes (and a `netG.`/`generator.`
prefix shared by every key, from saves of a whole GAN module), InstanceNorm running stats
saved by old PyTorch releases, BatchNorm files from before `num_batches_tracked`, and spectral norm
(`weight_orig/weight_u/weight_v`, or the newer parametrization keys), folded into plain weights with the stored
vectors: W = W_orig / sigma, sigma = u . (W_mat v). That is exactly what the spectral-norm module computes in eval
mode, so no further power iteration is run.
`detect` asks every registered family to recognise the state dict and returns the first match.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from paintgan.errors import CheckpointError
from paintgan.families import Family, all_families
from paintgan.families.spade import EncoderConfig, Encoder, build_encoder, detect_encoder

StateDict = dict[str, Tensor]

# Training scripts often save {"netG": sd, "optimizer": ..., "epoch": ...}; these keys hold the generator.
WRAPPER_KEYS = ("state_dict", "model", "netG", "generator", "G", "params")
# Saves of a whole GAN module (Lightning, training wrappers) put the generator's attribute name before every key.
SHARED_PREFIXES = ("netG.", "netG_A.", "generator.")
# SPADE's affine-free BatchNorm keeps running stats on purpose; every other weightless norm with stats is a
# legacy InstanceNorm.
_STATEFUL_PARAM_FREE = "param_free_norm"


def read_state_dict(path: str | Path) -> StateDict:
    """Load a state dict of tensors from a `.pth`/`.pt`/`.ckpt` (pickle, weights only) or `.safetensors` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}; expected a .pth or .safetensors state dict")
    if path.suffix == ".safetensors":
        loaded: Any = _read_safetensors(path)
    else:
        loaded = _read_pickle(path)
    return _tensors_only(_unwrap(loaded), path)


def _read_safetensors(path: Path) -> StateDict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path.name} is not a readable safetensors file ({_first_line(exc)}); expected a safetensors state dict"
        ) from None


def _read_pickle(path: Path) -> Any:
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the error says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = _GLOBAL.search(str(exc))
        if wanted:
            raise CheckpointError(
                f"{path.name} refused: its pickle wants to run code ({wanted.group(1)}); "
                "expected a plain state dict of tensors"
            ) from None
        opcode = _OPCODE.search(str(exc))
        detail = f"unreadable pickle: {opcode.group(0)}" if opcode else _first_line(exc)
        raise CheckpointError(
            f"{path.name} is corrupt or not a PyTorch file ({detail}); expected a PyTorch state dict"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, UnicodeDecodeError, KeyError) as exc:
        raise CheckpointError(
            f"{path.name} is truncated or corrupt ({_first_line(exc)}); expected a PyTorch state dict"
        ) from None


# torch's weights-only unpickler names the callable a malicious pickle asked for: "GLOBAL posix.system".
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_OPCODE = re.compile(r"Unsupported operand \d+")


def _first_line(exc: BaseException) -> str:
    """The gist of a library error: its first sentence, without the advice torch appends."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"^[\w ]*error: ", "", lines[0], flags=re.IGNORECASE) if lines else type(exc).__name__
    return text.split(". ")[0].rstrip(".")[:120]


def _unwrap(loaded: Any) -> Any:
    if isinstance(loaded, Mapping) and not all(isinstance(v, Tensor) for v in loaded.values()):
        for key in WRAPPER_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                return inner
    return loaded


def _tensors_only(loaded: Any, path: Path) -> StateDict:
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path.name} holds a {type(loaded).__name__}; expected a state dict (name -> tensor)")
    bad = [(k, v) for k, v in loaded.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        key, value = bad[0]
        raise CheckpointError(
            f"{path.name} holds {len(bad)} non-tensor entries (e.g. {key!r}: {type(value).__name__}); "
            "expected a state dict of tensors only"
        )
    if not loaded:
        raise CheckpointError(f"{path.name} holds an empty dict; expected a generator state dict")
    return dict(loaded)


def normalize(sd: Mapping[str, Tensor]) -> StateDict:
    """Repair the known quirks of upstream state dicts (idempotent; returns a new dict, tensors shared)."""
    out: StateDict = {k: v for k, v in sd.items() if k != "_metadata"}
    stripped = True
    while stripped:  # wrappers nest: netG.module.model.1.weight
        stripped = False
        for prefix in ("module.", *SHARED_PREFIXES):
            if out and all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                stripped = True
    _fold_spectral_norm(out)
    _fold_spectral_parametrizations(out)
    _drop_instance_norm_stats(out)
    _add_batch_counters(out)
    return out


def _spectral_weight(weight: Tensor, u: Tensor, v: Tensor, key: str) -> Tensor:
    """W / sigma with the stored singular vectors, in the layout torch's spectral norm used (dim 0 or 1)."""
    if u.numel() == weight.shape[0] and v.numel() * weight.shape[0] == weight.numel():
        matrix = weight.reshape(weight.shape[0], -1)
    elif weight.dim() > 1 and u.numel() == weight.shape[1] and v.numel() * weight.shape[1] == weight.numel():
        matrix = weight.transpose(0, 1).reshape(weight.shape[1], -1)  # ConvTranspose: torch normalises dim 1
    else:
        raise CheckpointError(
            f"spectral norm vectors of {key!r} have sizes {u.numel()}/{v.numel()}, which do not fit weight "
            f"{tuple(weight.shape)}; expected u, v from torch's spectral_norm"
        )
    sigma = torch.dot(u, torch.mv(matrix, v))
    return weight / sigma


def _fold_spectral_norm(sd: StateDict) -> None:
    for key in [k for k in sd if k.endswith(".weight_orig") or k == "weight_orig"]:
        base = key[: -len("weight_orig")]
        u, v = sd.get(base + "weight_u"), sd.get(base + "weight_v")
        if u is None or v is None:
            raise CheckpointError(f"{key!r} has no weight_u/weight_v beside it; expected all three spectral-norm keys")
        del sd[base + "weight_u"], sd[base + "weight_v"]
        sd[base + "weight"] = _spectral_weight(sd.pop(key), u, v, key)


def _fold_spectral_parametrizations(sd: StateDict) -> None:
    """`torch.nn.utils.parametrizations.spectral_norm` keys: X.parametrizations.weight.{original,0._u,0._v}."""
    marker = "parametrizations.weight.original"
    for key in [k for k in sd if k.endswith(marker)]:
        base = key[: -len(marker)]
        u, v = sd.get(base + "parametrizations.weight.0._u"), sd.get(base + "parametrizations.weight.0._v")
        if u is None or v is None:
            raise CheckpointError(f"{key!r} is a parametrized weight PaintGAN cannot fold; expected spectral norm")
        del sd[base + "parametrizations.weight.0._u"], sd[base + "parametrizations.weight.0._v"]
        sd[base + "weight"] = _spectral_weight(sd.pop(key), u, v, key)


def _norm_prefixes(sd: StateDict) -> set[str]:
    return {k[: -len("running_mean")] for k in sd if k.endswith("running_mean")}


def _drop_instance_norm_stats(sd: StateDict) -> None:
    for prefix in _norm_prefixes(sd):
        if prefix + "weight" in sd or prefix.rstrip(".").endswith(_STATEFUL_PARAM_FREE):
            continue
        for stat in ("running_mean", "running_var", "num_batches_tracked"):
            sd.pop(prefix + stat, None)


def _add_batch_counters(sd: StateDict) -> None:
    # BatchNorm files saved before PyTorch 0.4.1 lack the counter; its value never affects eval output.
    for prefix in _norm_prefixes(sd):
        if prefix + "running_var" in sd and prefix + "num_batches_tracked" not in sd:
            sd[prefix + "num_batches_tracked"] = torch.tensor(0, dtype=torch.long)


def detect(sd: Mapping[str, Tensor]) -> tuple[Family, Any]:
    """The family and config that rebuild `sd` exactly; CheckpointError if no registered family does."""
    sd = normalize(sd)
    for family in all_families():
        config = family.detect(sd)
        if config is not None:
            return family, config
    if detect_encoder(sd) is not None:
        raise CheckpointError(
            "this file holds a SPADE style encoder (fc_mu/fc_var), not a generator; "
            "expected a generator file, with the encoder passed separately (--encoder)"
        )
    known = ", ".join(f.name for f in all_families())
    first = ", ".join(list(sd)[:3])
    raise CheckpointError(
        f"unknown checkpoint layout ({len(sd)} keys, starting {first}); expected a generator of: {known}"
    )


def load_weights(module: nn.Module, sd: Mapping[str, Tensor], what: str) -> None:
    try:
        module.load_state_dict(dict(sd), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the {what} ({_first_line(exc)})") from None


def instantiate(family: Family, config: Any, sd: Mapping[str, Tensor]) -> nn.Module:
    """Build `family` at `config`, load `sd` (normalized here) strictly, and switch to eval mode."""
    net = family.build(config)
    load_weights(net, normalize(sd), f"{family.name} generator {config}")
    return net.eval()


def load_generator(source: str | Path | Mapping[str, Tensor]) -> tuple[Family, Any, nn.Module]:
    """A generator file or state dict -> (family, config, generator in eval mode)."""
    sd = normalize(source if isinstance(source, Mapping) else read_state_dict(source))
    family, config = detect(sd)
    return family, config, instantiate(family, config, sd)


def load_encoder(source: str | Path | Mapping[str, Tensor]) -> tuple[EncoderConfig, Encoder]:
    """A SPADE style-encoder file (`latest_net_E.pth`) or state dict -> (config, encoder in eval mode)."""
    sd = normalize(source if isinstance(source, Mapping) else read_state_dict(source))
    config = detect_encoder(sd)
    if config is None:
        first = ", ".join(list(sd)[:3])
        raise CheckpointError(
            f"not a SPADE style encoder ({len(sd)} keys, starting {first}); expected layer1..layer6 and fc_mu/fc_var"
        )
    encoder = build_encoder(config)
    load_weights(encoder, sd, f"SPADE encoder {config}")
    return config, encoder.eval()
