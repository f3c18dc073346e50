"""Checkpoint files: upstream quirks load exactly, and every kind of bad file gets a one-line CheckpointError."""

from __future__ import annotations

import builtins
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from paintgan import checkpoints
from paintgan.errors import CheckpointError
from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import EncoderConfig, SpadeConfig, build_encoder
from test_families import fixed_z, forward, one_thread, randomize, sample_input  # noqa: F401 (autouse fixture)


def built(name: str, config: Any, seed: int = 0) -> nn.Module:
    return randomize(get_family(name).build(config), seed)


def save(tmp_path: Path, obj: Any, name: str = "latest_net_G.pth") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def assert_same_output(path_or_sd: Any, name: str, config: Any, reference: nn.Module, atol: float = 0.0) -> None:
    family, detected, net = checkpoints.load_generator(path_or_sd)
    assert family.name == name and detected == config
    assert not net.training
    x = sample_input(name, config, (32, 32) if name != "pix2pix" else (2 ** config.num_downs,) * 2)
    expected, got = forward(reference, x, fixed_z(config)), forward(net, x, fixed_z(config))
    if atol:
        torch.testing.assert_close(got, expected, atol=atol, rtol=0)
    else:
        assert torch.equal(got, expected)


def one_line_error(excinfo: pytest.ExceptionInfo[CheckpointError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


QUIRK_CASES = [
    ("pix2pix", UnetConfig(3, 3, 6, 4, "batch")),
    ("cyclegan", ResnetConfig(3, 3, 4, 2, "instance")),
    ("ganilla", GanillaConfig(3, 3, 8, (1, 1, 1, 1), (8, 8, 16, 16), 8)),
    ("spade", SpadeConfig(7, False, False, 2, "normal", True, 8, crop_size=64)),
    ("light_spade", LightSpadeConfig(6, 4, 2, 1, 4, 4)),
]


@pytest.mark.parametrize(("name", "config"), QUIRK_CASES)
def test_saved_state_dict_loads_exactly(tmp_path: Path, name: str, config: Any) -> None:
    net = built(name, config)
    assert_same_output(save(tmp_path, net.state_dict()), name, config, net)


@pytest.mark.parametrize(("name", "config"), QUIRK_CASES)
def test_dataparallel_prefix_is_stripped(tmp_path: Path, name: str, config: Any) -> None:
    net = built(name, config)
    wrapped = OrderedDict(("module." + k, v) for k, v in net.state_dict().items())
    assert_same_output(save(tmp_path, wrapped), name, config, net)


def test_wrapped_training_checkpoint_and_safetensors(tmp_path: Path) -> None:
    config = ResnetConfig(3, 3, 4, 2, "batch")
    net = built("cyclegan", config)
    sd = net.state_dict()
    assert_same_output(save(tmp_path, {"netG": sd, "epoch": 12, "lr": 2e-4}), "cyclegan", config, net)
    lightning = {"state_dict": {f"netG.module.{k}": v for k, v in sd.items()}, "global_step": 100}
    assert_same_output(save(tmp_path, lightning), "cyclegan", config, net)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "g.safetensors"))
    assert_same_output(tmp_path / "g.safetensors", "cyclegan", config, net)


@pytest.mark.parametrize(("name", "config"), [QUIRK_CASES[1], ("pix2pix", UnetConfig(1, 3, 5, 3, "instance"))])
@pytest.mark.parametrize("with_counter", [False, True])
def test_old_release_instance_norm_stats_are_dropped(tmp_path: Path, name: str, config: Any, with_counter: bool) -> None:
    net = built(name, config)
    sd = OrderedDict(net.state_dict())
    norms = [n for n, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms
    for n in norms:  # what PyTorch 0.3 saved for InstanceNorm2d(affine=False)
        sd[f"{n}.running_mean"] = torch.zeros(1)
        sd[f"{n}.running_var"] = torch.ones(1)
        if with_counter:
            sd[f"{n}.num_batches_tracked"] = torch.tensor(0)
    assert_same_output(save(tmp_path, sd), name, config, net)


def test_batchnorm_from_before_the_batch_counter_loads(tmp_path: Path) -> None:
    config = UnetConfig(3, 3, 5, 4, "batch")
    net = built("pix2pix", config)
    sd = OrderedDict((k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert_same_output(save(tmp_path, sd), "pix2pix", config, net)


def spectralize(net: nn.Module, parametrized: bool) -> nn.Module:
    """Wrap every conv/linear weight in spectral norm and run power iterations, as upstream training leaves it."""
    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not (
            isinstance(module, nn.Conv2d) and module.groups > 1
        ):
            if parametrized:
                nn.utils.parametrizations.spectral_norm(module)
            else:
                nn.utils.spectral_norm(module)
    net.train()
    return net


@pytest.mark.parametrize("parametrized", [False, True], ids=["weight_orig", "parametrizations"])
@pytest.mark.parametrize(("name", "config"), [QUIRK_CASES[1], QUIRK_CASES[3]])
def test_spectral_norm_is_folded_with_the_stored_vectors(tmp_path: Path, name: str, config: Any, parametrized: bool) -> None:
    net = spectralize(built(name, config), parametrized)
    x = sample_input(name, config, (32, 32)).repeat(2, 1, 1, 1)  # train-mode BatchNorm needs > 1 value
    z = fixed_z(config)
    with torch.no_grad():
        for _ in range(2):  # power iterations move u and v away from their initial values
            net(x) if z is None else net(x, z.repeat(2, 1))
    net.eval()
    sd = net.state_dict()
    marker = "parametrizations.weight.original" if parametrized else "weight_orig"
    assert any(k.endswith(marker) for k in sd)
    # Folding is exact up to float rounding of one division per weight.
    assert_same_output(save(tmp_path, sd), name, config, net, atol=1e-5)


def test_normalize_is_idempotent_on_nested_wrappers() -> None:
    sd = {"netG.module.model.1.weight": torch.zeros(1), "netG.module.model.1.bias": torch.zeros(1)}
    once = checkpoints.normalize(sd)
    assert list(once) == ["model.1.weight", "model.1.bias"] and checkpoints.normalize(once) == once


def test_spade_param_free_batchnorm_keeps_its_stats() -> None:
    sd = built("spade", QUIRK_CASES[3][1]).state_dict()
    normalized = checkpoints.normalize(sd)
    assert "head_0.norm_0.param_free_norm.running_var" in normalized
    assert normalized.keys() == sd.keys()


def test_encoder_file_loads_and_is_rejected_as_generator(tmp_path: Path) -> None:
    config = EncoderConfig(2, 6, "instance", 16)
    enc = randomize(build_encoder(config))
    net = spectralize(enc, parametrized=False)
    with torch.no_grad():
        net(torch.rand(2, 3, 256, 256))
    path = save(tmp_path, net.eval().state_dict(), "latest_net_E.pth")
    detected, loaded = checkpoints.load_encoder(path)
    assert detected == config
    style = torch.rand(1, 3, 256, 256) * 2 - 1
    torch.testing.assert_close(forward(loaded, style)[0], forward(net, style)[0], atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.load_generator(path)
    assert "SPADE style encoder" in one_line_error(excinfo)


def test_generator_is_rejected_as_encoder(tmp_path: Path) -> None:
    path = save(tmp_path, built("cyclegan", QUIRK_CASES[1][1]).state_dict())
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.load_encoder(path)
    assert "not a SPADE style encoder" in one_line_error(excinfo)


# ---- bad files -------------------------------------------------------------------------------------------------


class RunsCode:
    """A pickle payload that would create `marker` if anything unpickled it unsafely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
def test_pickle_that_would_run_code_is_refused(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned"
    payload = {"model.1.weight": torch.zeros(1), "evil": RunsCode(marker)}
    path = tmp_path / "latest_net_G.pth"
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps({"evil": RunsCode(marker)}, protocol=2))
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.read_state_dict(path)
    message = one_line_error(excinfo)
    assert "refused: its pickle wants to run code" in message and "exec)" in message
    assert not marker.exists()


def test_truncated_file(tmp_path: Path) -> None:
    good = save(tmp_path, built("cyclegan", QUIRK_CASES[1][1]).state_dict())
    data = good.read_bytes()
    bad = tmp_path / "cut.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.read_state_dict(bad)
    assert "cut.pth is truncated or corrupt" in one_line_error(excinfo)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_random_bytes(tmp_path: Path, suffix: str) -> None:
    bad = tmp_path / f"noise{suffix}"
    bad.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).byte().numpy().tobytes())
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.read_state_dict(bad)
    assert f"noise{suffix}" in one_line_error(excinfo)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"model.1.weight": "a string"}, "non-tensor entries (e.g. 'model.1.weight': str)"),
        ([torch.zeros(2)], "holds a list; expected a state dict"),
        (torch.zeros(2), "holds a Tensor; expected a state dict"),
        ({}, "empty dict"),
    ],
)
def test_not_a_state_dict(tmp_path: Path, content: Any, expected: str) -> None:
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.read_state_dict(save(tmp_path, content))
    assert expected in one_line_error(excinfo)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="model file not found"):
        checkpoints.read_state_dict(tmp_path / "nope.pth")


def test_unknown_layout_says_what_was_found_and_expected(tmp_path: Path) -> None:
    resnet_like = {"features.0.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 64)}
    with pytest.raises(CheckpointError) as excinfo:
        checkpoints.load_generator(save(tmp_path, resnet_like))
    message = one_line_error(excinfo)
    assert "unknown checkpoint layout (2 keys, starting features.0.weight, fc.weight)" in message
    assert "pix2pix" in message and "spade" in message and "light_unet" in message


def test_known_family_with_a_missing_key_is_unknown(tmp_path: Path) -> None:
    sd = built("cyclegan", QUIRK_CASES[1][1]).state_dict()
    del sd["model.4.bias"]
    with pytest.raises(CheckpointError, match="unknown checkpoint layout"):
        checkpoints.load_generator(save(tmp_path, sd))


def test_spectral_weight_without_vectors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="weight_orig' has no weight_u/weight_v"):
        checkpoints.normalize({"conv.weight_orig": torch.zeros(2, 2, 3, 3)})
