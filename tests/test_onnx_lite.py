"""The lite build's engine: with torch blocked in a child process, ONNX models render (API and `paintgan render`)
the picture torch draws, and what needs torch says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from paintgan.families import get_family
from paintgan.families.light_spade import LightSpadeConfig
from paintgan.labels import colourize
from paintgan.models import Model, synthesise_card
from paintgan.onnx_export import export_onnx
from paintgan.render import Renderer

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parent.parent
# What the child runs first: `import torch` (and any torch submodule) raises ImportError from then on.
BLOCK_TORCH = "import sys; sys.modules['torch'] = None\n"


def run_without_torch(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def cli_without_torch(*args: str) -> subprocess.CompletedProcess[str]:
    return run_without_torch("from paintgan.cli import main\nraise SystemExit(main(sys.argv[1:]))", *args)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    config = LightSpadeConfig(input_nc=7, ngf=8, hidden=8)
    fam = get_family("light_spade")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = fam.build(config).eval()
    model = Model(synthesise_card(fam, config, name="tiny-lite"), net)
    return model, export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny-lite.onnx")


def labels_for(model: Model) -> np.ndarray:
    yy, xx = np.mgrid[0:96, 0:128]
    return ((xx // 24 + yy // 32) % 7).astype(np.uint8)


def test_the_lite_engine_imports_and_renders_without_torch(exported: tuple[Model, Path], tmp_path: Path) -> None:
    model, path = exported
    labels = labels_for(model)
    np.save(tmp_path / "labels.npy", labels)
    proc = run_without_torch(
        """
        import numpy as np
        from paintgan.onnx_runtime import OnnxRenderer, load_onnx_model
        renderer = OnnxRenderer(load_onnx_model(sys.argv[1]), threads=1)
        np.save(sys.argv[2], renderer.render_tensor(np.load(sys.argv[3])))
        assert not [m for m in sys.modules if m.split(".")[0] == "torch" and sys.modules[m] is not None]
        """,
        str(path), str(tmp_path / "out.npy"), str(tmp_path / "labels.npy"),
    )
    assert proc.returncode == 0, proc.stderr
    want = Renderer(model, device="cpu", fast=False).render_tensor(labels).numpy()
    assert np.abs(np.load(tmp_path / "out.npy") - want).max() <= 1e-3


def test_paintgan_render_without_torch_draws_the_torch_picture(exported: tuple[Model, Path], tmp_path: Path) -> None:
    model, path = exported
    labels = labels_for(model)
    assert model.card.label_set is not None
    Image.fromarray(colourize(labels, model.card.label_set)).save(tmp_path / "map.png")
    proc = cli_without_torch("render", "--model", str(path), "--input", str(tmp_path / "map.png"),
                             "--output", str(tmp_path / "out.png"))
    assert proc.returncode == 0, proc.stderr
    got = np.asarray(Image.open(tmp_path / "out.png")).astype(int)
    want = Renderer(model, device="cpu").render(labels).astype(int)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1


def test_what_needs_torch_says_so_in_one_line(tmp_path: Path) -> None:
    checkpoint = tmp_path / "latest_net_G.pth"
    checkpoint.write_bytes(b"not read: the suffix decides")
    proc = cli_without_torch("render", "--model", str(checkpoint), "--input", str(tmp_path / "x.png"),
                             "--output", str(tmp_path / "out.png"))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and not (tmp_path / "out.png").exists()
    assert lines[0].startswith("paintgan: error: latest_net_G.pth is a torch model file; it needs the full build")
    proc = cli_without_torch("train", "--steps", "3")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "paintgan: error: `paintgan train` needs the full build of PaintGAN (with torch); this build renders "
        "ONNX models only"]


def test_importing_an_upstream_checkpoint_says_it_needs_the_full_build(tmp_path: Path) -> None:
    checkpoint = tmp_path / "latest_net_G.pth"
    checkpoint.write_bytes(b"never unpickled")
    proc = run_without_torch(
        """
        from paintgan.errors import CheckpointError
        from paintgan.models import import_model
        try:
            import_model(sys.argv[1])
        except CheckpointError as exc:
            print(exc)
        """,
        str(checkpoint),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("loading latest_net_G.pth needs the full build of PaintGAN (with torch); this "
                                   "build renders ONNX models only (.onnx files made with paintgan export-onnx)")


def test_an_onnx_file_imports_into_the_user_folder_without_torch(exported: tuple[Model, Path]) -> None:
    from paintgan.models import user_models_dir

    _, path = exported
    proc = run_without_torch(
        """
        from paintgan.models import import_model
        from paintgan.onnx_runtime import list_onnx_models
        print(import_model(sys.argv[1]).name, [c.name for c in list_onnx_models()])
        """,
        str(path),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tiny-lite", "['tiny-lite']"]
    assert (user_models_dir() / "tiny-lite.onnx").read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_the_app_starts_and_renders_an_onnx_model_without_torch(exported: tuple[Model, Path], tmp_path: Path) -> None:
    import shutil

    from paintgan.models import user_models_dir

    _, path = exported
    user_models_dir().mkdir(parents=True)
    shutil.copy(path, user_models_dir())
    shot = tmp_path / "shot.png"
    proc = run_without_torch(
        """
        import runpy
        sys.argv = ["main.py", "--smoke-screenshot", sys.argv[1], "--size", "900x600"]
        runpy.run_path("main.py", run_name="__main__")
        """,
        str(shot),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.asarray(Image.open(shot)).shape[:2] == (600, 900)
    log = (Path(os.environ["PAINTGAN_HOME"]) / "logs" / "paintgan.log").read_text()
    assert "models ready (draft tiny-lite on cpu)" in log and "first picture shown" in log and "by tiny-lite" in log


@pytest.mark.slow
@pytest.mark.xvfb
def test_make_package_lite_builds_a_bundle_without_torch_that_renders(xserver: str, tmp_path: Path) -> None:
    build = subprocess.run(["make", "package-lite"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                           check=False)
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    bundle = ROOT / "dist" / "PaintGAN-lite"
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    assert not [p for p in files if "torch" in p.name.lower()]  # no libtorch, no torch package
    assert sorted(p.stem for p in (bundle / "_internal" / "weights").glob("*.onnx")) == sorted(
        p.stem for p in (ROOT / "weights").glob("*.safetensors"))
    home = tmp_path / "home"
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb", "PAINTGAN_HOME": str(home)}
    shot = tmp_path / "lite.png"
    run = subprocess.run([str(bundle / "PaintGAN-lite"), "--smoke-screenshot", str(shot), "--size", "1024x700"],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert np.asarray(Image.open(shot)).shape[:2] == (700, 1024)
    log = (home / "logs" / "paintgan.log").read_text()
    assert "frozen=True" in log and "first picture shown" in log


def test_a_saved_painting_renders_without_torch_and_the_onnx_models_are_listed(
    exported: tuple[Model, Path], tmp_path: Path
) -> None:
    import shutil

    from paintgan.documents import Document, save_document
    from paintgan.models import user_models_dir
    from paintgan.render import render_document

    model, path = exported
    user_models_dir().mkdir(parents=True)
    shutil.copy(path, user_models_dir())
    assert model.card.label_set is not None
    doc = Document(labels=labels_for(model), sketch=np.zeros((96, 128), np.uint8), label_set=model.card.label_set,
                   render_model="tiny-lite", seed=5)
    save_document(doc, tmp_path / "p.paintgan")
    proc = cli_without_torch("render", "--project", str(tmp_path / "p.paintgan"), "--output", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    got = np.asarray(Image.open(tmp_path / "p.png")).astype(int)
    assert np.abs(got - render_document(doc, model, device="cpu").astype(int)).max() <= 1
    listed = cli_without_torch("models")
    assert listed.returncode == 0 and "tiny-lite" in listed.stdout and "light_spade" in listed.stdout
