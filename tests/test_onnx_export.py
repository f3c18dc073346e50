"""ONNX export and the ONNX Runtime renderer: every family draws torch's picture within 1e-3, at the traced size
and at another one, and the `onnx` backend of `Renderer` does the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from paintgan.errors import CheckpointError, InputError
from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.families.ganilla import GanillaConfig
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.families.light_unet import LightUnetConfig
from paintgan.families.pix2pix import UnetConfig
from paintgan.families.spade import SpadeConfig
from paintgan.models import Model, synthesise_card
from paintgan.onnx_export import export_onnx
from paintgan.onnx_runtime import (
    OnnxRenderer,
    list_onnx_models,
    load_onnx_model,
    read_metadata,
    read_onnx_card,
)
from paintgan.render import Box, Renderer
from paintgan.render_core import torch_randn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TOLERANCE = 1e-3

# Small widths keep each export under a second; the layer structure is the family's own.
CASES = {
    "pix2pix": UnetConfig(ngf=8, num_downs=6),
    "cyclegan": ResnetConfig(ngf=8, n_blocks=2),
    "ganilla": GanillaConfig(ngf=8, layers=(1, 1, 1, 1), widths=(8, 16, 16, 32), fpn_size=16),
    "spade": SpadeConfig(label_nc=5, contain_dontcare=True, instance_edges=True, ngf=4),
    "light_spade": LightSpadeConfig(input_nc=7, ngf=8, hidden=8),
    "light_unet": LightUnetConfig(input_nc=1, ngf=8),
}


def built(family: str, config: object, seed: int = 0) -> Model:
    fam = get_family(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fam.build(config).eval()
        for m in net.modules():  # trained-looking BatchNorm statistics, so folding them is not trivial
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return Model(synthesise_card(fam, config, name=f"tiny-{family}"), net)


def source_for(model: Model, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    card = model.card
    if card.input_kind == "labels":
        assert card.label_set is not None
        indices = np.array([label.index for label in card.label_set.labels])
        grid = rng.choice(indices, (-(-h // 16), -(-w // 16)))
        return np.kron(grid, np.ones((16, 16), int))[:h, :w].astype(np.uint8)
    if card.input_kind == "sketch":
        return np.where(rng.random((h, w)) < 0.1, 255, 0).astype(np.uint8)
    return rng.integers(0, 256, (h, w, card.input_nc), dtype=np.uint8)


@pytest.mark.parametrize("family", list(CASES))
def test_every_family_renders_the_torch_picture_through_onnx_runtime(family: str, tmp_path: Path) -> None:
    model = built(family, CASES[family])
    path = export_onnx(model, tmp_path / "m.onnx")
    lite = OnnxRenderer(load_onnx_model(path), threads=1)
    torch_ref = Renderer(model, device="cpu", fast=False)
    assert lite.fast_steps == ("onnxruntime",)
    m = model.card.size_multiple
    for h, w in ((64, 64), (max(64, m), 2 * max(64, m) + 8)):  # the traced size, then a non-square padded one
        source = source_for(model, h, w)
        got, want = lite.render_tensor(source), torch_ref.render_tensor(source).numpy()
        assert got.shape == want.shape == (1, 3, h, w)
        assert float(np.abs(got - want).max()) <= TOLERANCE, (family, h, w)
        assert np.abs(lite.render(source).astype(int) - torch_ref.render(source).astype(int)).max() <= 1


def test_light_spade_reflections_and_edge_padding_hold_at_every_size_through_onnx(tmp_path: Path) -> None:
    model = built("light_spade", LightSpadeConfig(input_nc=7, ngf=8, hidden=8, reflect=(3,), padding="replicate"))
    lite = OnnxRenderer(load_onnx_model(export_onnx(model, tmp_path / "m.onnx")), threads=1)
    ref = Renderer(model, device="cpu", fast=False)
    for h, w in ((64, 64), (200, 136)):  # the traced size, then a taller one: the shore search is not unrolled
        source = source_for(model, h, w)
        source[h // 2 :] = 3  # a lake under whatever the top half holds
        got, want = lite.render_tensor(source), ref.render_tensor(source).numpy()
        assert float(np.abs(got - want).max()) <= TOLERANCE, (h, w)


def test_spade_with_a_vae_is_exported_for_one_size_and_draws_torchs_z_for_a_seed(tmp_path: Path) -> None:
    config = SpadeConfig(label_nc=5, contain_dontcare=True, instance_edges=False, ngf=4, use_vae=True, z_dim=32,
                         crop_size=128)
    model = built("spade", config)
    path = export_onnx(model, tmp_path / "vae.onnx", size=(128, 128))
    onnx_model = load_onnx_model(path)
    assert not onnx_model.info.dynamic and onnx_model.info.size == (128, 128) and onnx_model.info.z_dim == 32
    lite, ref = OnnxRenderer(onnx_model, threads=1), Renderer(model, device="cpu", fast=False)
    source = source_for(model, 128, 128)
    for seed in (0, 7):
        assert np.abs(lite.render_tensor(source, seed=seed) - ref.render_tensor(source, seed=seed).numpy()).max() \
            <= TOLERANCE
    z = np.linspace(-1, 1, 32, dtype=np.float32)
    assert np.abs(lite.render_tensor(source, z=z) - ref.render_tensor(source, z=z).numpy()).max() <= TOLERANCE
    with pytest.raises(InputError, match="exported for 128x128 px only"):
        lite.render(source_for(model, 64, 64))
    with pytest.raises(InputError, match="needs the full build"):
        lite.render(source, style=np.zeros((64, 64, 3), np.uint8))


def test_seeded_z_is_torchs_randn() -> None:
    for n in (1, 3, 8, 15, 16, 17, 64, 100, 256):
        for seed in (0, 1, 1234, 2**32 - 1):
            want = torch.randn(1, n, generator=torch.Generator().manual_seed(seed)).numpy().ravel()
            assert np.abs(torch_randn(seed, n) - want).max() < 1e-6, (n, seed)


def test_tiles_and_regions_match_the_torch_renderer(tmp_path: Path) -> None:
    model = built("light_spade", CASES["light_spade"])
    lite = OnnxRenderer(load_onnx_model(export_onnx(model, tmp_path / "m.onnx")), threads=1)
    ref = Renderer(model, device="cpu", fast=False)
    source = source_for(model, 192, 256)
    tiled = lite.render_tiled(source, tile=128, overlap=64)
    assert np.abs(tiled.astype(int) - ref.render_tiled(source, tile=128, overlap=64).astype(int)).max() <= 1
    box = Box(40, 30, 140, 100)
    region = lite.render_region(source, box, overlap=64)
    assert region.shape == (70, 100, 3)
    assert np.abs(region.astype(int) - ref.render_region(source, box, overlap=64).astype(int)).max() <= 1


def test_the_file_carries_its_card_and_is_listed_by_name(tmp_path: Path) -> None:
    from paintgan.models import user_models_dir

    model = built("light_unet", CASES["light_unet"])
    folder = user_models_dir()
    folder.mkdir(parents=True)
    export_onnx(model, folder / "mine.onnx")
    (folder / "broken.onnx").write_bytes(b"\x0a\xff\xff\xff\xff\x0f not an onnx file")
    card = read_onnx_card(folder / "mine.onnx")
    assert card.to_dict() == model.card.to_dict()
    assert [c.name for c in list_onnx_models()] == ["tiny-light_unet"]  # the broken file is skipped
    assert load_onnx_model("tiny-light_unet").card.input_kind == "sketch"
    assert "paintgan.onnx" in read_metadata(folder / "mine.onnx")
    with pytest.raises(CheckpointError, match="not a readable ONNX file"):
        read_metadata(folder / "broken.onnx")
    with pytest.raises(CheckpointError, match="unknown model 'nope'"):
        load_onnx_model("nope")
    data = (folder / "mine.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.onnx"):
        read_onnx_card(tmp_path / "cut.onnx")


def test_renderer_backend_choice() -> None:
    pix = built("pix2pix", CASES["pix2pix"])
    fast = Renderer(pix, device="cpu", backend="onnx")
    assert fast.backend == "onnx" and fast.fast_steps == ("onnxruntime",)
    plain = Renderer(pix, device="cpu", fast=False)
    source = source_for(pix, 64, 128)
    assert float((fast.render_tensor(source) - plain.render_tensor(source)).abs().max()) <= TOLERANCE
    assert Renderer(pix, device="cpu", backend="auto").backend == "onnx"
    light = built("light_spade", CASES["light_spade"])
    assert Renderer(light, device="cpu", backend="auto").backend == "torch"  # a tie there: torch needs no export
    assert Renderer(built("light_unet", CASES["light_unet"]), device="cpu", backend="auto").backend == "onnx"
    with pytest.raises(InputError, match="unknown backend 'tpu'"):
        Renderer(pix, device="cpu", backend="tpu")
    with pytest.raises(InputError, match="fp32 on the CPU only"):
        Renderer(pix, device="cpu", dtype=torch.bfloat16, backend="onnx")


def test_export_refuses_a_wrong_file_name(tmp_path: Path) -> None:
    from paintgan.errors import OutputError

    with pytest.raises(OutputError, match="ending in .onnx"):
        export_onnx(built("cyclegan", CASES["cyclegan"]), tmp_path / "m.safetensors")


def test_bench_times_onnx_runtime_against_the_same_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from paintgan import bench

    monkeypatch.setattr(bench, "UPSTREAM", {"pix2pix-tiny": bench.Upstream("pix2pix", CASES["pix2pix"], (64,))})
    result = bench.measure_case("pix2pix-tiny", 64, "cpu", threads=1, rounds=bench.Rounds(0.1, max_rounds=3))
    ort = result["onnx"]
    assert ort["max_abs_diff"] <= TOLERANCE and ort["median_ms"] > 0 and ort["threads"] == 1
    assert ort["speedup"] == pytest.approx(result["reference_median_ms"] / ort["median_ms"])
    assert result["auto_backend"] == "onnx"
    row = bench.table([result])[2]
    assert row.endswith(f"| {ort['median_ms']:.1f} | {ort['speedup']:.2f}x | {ort['cpu_speedup']:.2f}x "
                        f"| {ort['max_abs_diff']:.1e} |")
    slow = {**result, "speedup": 1.1, "onnx": {**ort, "speedup": 1.6}}
    met = {t.what: t for t in bench.targets([slow])}["pix2pix-tiny 64 px speed-up vs reference"]
    assert met.met is True and "1.60x ONNX Runtime" in met.measured


def test_auto_renders_through_torch_when_the_export_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from paintgan import onnx_export

    def fail(model: Model, threads: int | None = None) -> None:
        raise CheckpointError("its ONNX graph differs from torch by 0.5")

    monkeypatch.setattr(onnx_export, "export_session", fail)
    pix = built("pix2pix", CASES["pix2pix"])
    renderer = Renderer(pix, device="cpu", backend="auto")
    assert renderer.backend == "torch" and "fold BatchNorm into convs" in renderer.fast_steps
    assert renderer.render(source_for(pix, 64, 64)).shape == (64, 64, 3)
    with pytest.raises(CheckpointError, match="differs from torch"):
        Renderer(pix, device="cpu", backend="onnx")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pix2pix_unet256", "cyclegan_resnet9", "ganilla", "spade_cityscapes",
                                  "spade_ade20k_vae"])
def test_upstream_fixtures_reproduce_through_onnx_runtime(name: str, tmp_path: Path) -> None:
    """Real upstream checkpoints, exported and rendered without torch, against upstream's own outputs."""
    from PIL import Image

    from paintgan.models import load_model
    from shared_paths import FIXTURES

    folder = FIXTURES / name
    if not folder.exists():
        pytest.skip(f"shared fixture not found: {folder}")
    model = load_model(folder / "latest_net_G.pth")
    lite = OnnxRenderer(load_onnx_model(export_onnx(model, tmp_path / "m.onnx")), threads=2)
    if name.startswith("spade"):
        source = np.asarray(Image.open(folder / "label.png"))
        options: dict[str, object] = {}
        expected = np.load(folder / "output.npy")
        if name == "spade_cityscapes":
            options["instance"] = np.asarray(Image.open(folder / "instance.png"))
        else:  # upstream drew z with torch.manual_seed(1234); the lite build draws the same z from the seed
            options["seed"] = 1234
            expected = np.load(folder / "output_randz.npy")
    else:
        source, options, expected = np.asarray(Image.open(folder / "input.png")), {}, np.load(folder / "output.npy")
    assert np.abs(lite.render_tensor(source, **options) - expected).max() <= TOLERANCE


def test_bench_measures_the_backend_it_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from paintgan.cli import main

    argv = ["bench", "--model", "placeholder-sketch", "--size", "64", "--device", "cpu", "--threads", "1",
            "--repeats", "3", "--budget", "0.1", "--backend", "onnx", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "onnx" and result["fast_path"] == ["onnxruntime"] and "onnx" not in result
    assert result["max_abs_diff"] <= TOLERANCE
