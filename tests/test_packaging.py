"""Packaging: icons from one SVG, the Linux desktop integration (install, MIME type, uninstall), and the bundle.

The install tests run install.sh against a stand-in bundle in a private HOME; the slow test builds the real
bundle with `make package` and starts it under Xvfb.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paintgan.documents import Document, save_document
from paintgan.labels import landscape_labelset

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
sys.path.insert(0, str(PACKAGING))
sys.path.insert(0, str(PACKAGING / "linux"))

from make_icons import HICOLOR_SIZES, make_icons  # noqa: E402
from make_tarball import stage  # noqa: E402

APP_ID = "org.paintgan.PaintGAN"


def needs(tool: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")


@pytest.fixture(scope="module")
def icons(tmp_path_factory):
    out = tmp_path_factory.mktemp("icons")
    make_icons(out)
    return out


def test_every_icon_is_rendered_from_the_one_svg(icons):
    big = np.asarray(Image.open(icons / "hicolor" / "512x512" / "apps" / "paintgan.png").convert("RGBA"))
    for side in HICOLOR_SIZES:
        png = Image.open(icons / "hicolor" / f"{side}x{side}" / "apps" / "paintgan.png")
        assert png.size == (side, side) and png.mode == "RGBA"
        rgba = np.asarray(png)
        assert rgba[..., 3].max() == 255 and rgba[0, 0, 3] == 0  # drawn, with transparent rounded corners
        # The same drawing at every size: a downscale of the 512 px icon, not another picture.
        small = np.asarray(Image.fromarray(big).resize((side, side), Image.Resampling.BOX)).astype(float)
        assert np.abs(small[..., :3] - rgba[..., :3]).mean() < 12
    assert (icons / "hicolor" / "scalable" / "apps" / "paintgan.svg").read_bytes() == \
        (PACKAGING / "paintgan.svg").read_bytes()
    ico = Image.open(icons / "paintgan.ico")
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    icns = Image.open(icons / "paintgan.icns")
    assert icns.format == "ICNS" and (512, 512, 2) in icns.info["sizes"]


def test_macos_info_plist_declares_the_painting_document_type():
    info = plistlib.loads((PACKAGING / "macos" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "PaintGAN" and info["CFBundleIconFile"] == "paintgan.icns"
    (doc_type,) = info["CFBundleDocumentTypes"]
    (uti,) = info["UTExportedTypeDeclarations"]
    assert doc_type["LSItemContentTypes"] == [uti["UTTypeIdentifier"]]
    assert uti["UTTypeTagSpecification"]["public.filename-extension"] == ["paintgan"]
    assert uti["UTTypeTagSpecification"]["public.mime-type"] == "application/x-paintgan"


@needs("appstreamcli")
def test_appstream_metainfo_validates():
    run = subprocess.run(["appstreamcli", "validate", "--no-net",
                          str(PACKAGING / "linux" / f"{APP_ID}.metainfo.xml")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _painting(path: Path) -> Path:
    save_document(Document.new(32, 32, landscape_labelset()), path)
    return path


@pytest.fixture
def release(tmp_path, icons):
    """The unpacked release folder around a stand-in bundle (a script that records how it was started)."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "PaintGAN").write_text('#!/bin/sh\necho "$@" > "$HOME/started-with"\n')
    (bundle / "PaintGAN").chmod(0o755)
    return stage(bundle, tmp_path / "PaintGAN-0.1.0-linux-x86_64")


def _user_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_DIRS": "/usr/local/share:/usr/share"}


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() or p.is_symlink()}


@needs("update-mime-database")
def test_install_registers_the_app_and_the_painting_type_per_user_and_uninstall_removes_them(release, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "my-painting.paintgan").write_bytes(b"belongs to the user")
    before = _files(home)
    env = _user_env(home)
    run = subprocess.run([str(release / "install.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    data = home / ".local" / "share"
    app = home / ".local" / "opt" / "PaintGAN"
    desktop = data / "applications" / f"{APP_ID}.desktop"
    entry = desktop.read_text()
    assert f'Exec="{app}/PaintGAN" %f' in entry and "MimeType=application/x-paintgan;" in entry
    for side in HICOLOR_SIZES:
        assert (data / "icons" / "hicolor" / f"{side}x{side}" / "apps" / "paintgan.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "paintgan.svg").is_file()
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert os.readlink(home / ".local" / "bin" / "paintgan-app") == str(app / "PaintGAN")
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout
    if shutil.which("xdg-mime"):
        def query(*args: str) -> str:
            return subprocess.run(["xdg-mime", "query", *args], env=env, capture_output=True, text=True).stdout.strip()

        assert query("default", "application/x-paintgan") == f"{APP_ID}.desktop"
        painting = _painting(tmp_path / "valley.paintgan")
        assert query("filetype", str(painting)) == "application/x-paintgan"
        renamed = tmp_path / "valley-without-suffix"
        shutil.copyfile(painting, renamed)
        assert query("filetype", str(renamed)) == "application/x-paintgan"  # by its bytes, as OpenRaster is

    # The installed copy of uninstall.sh, as a user would run it after deleting the download.
    run = subprocess.run([str(app / "uninstall.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    left = _files(home) - before
    assert left <= {".config/mimeapps.list"}, left
    if left:
        assert "paintgan" not in (home / ".config" / "mimeapps.list").read_text()
    assert (home / "my-painting.paintgan").read_bytes() == b"belongs to the user"


def test_install_refuses_a_folder_without_the_app(release, tmp_path):
    shutil.rmtree(release / "PaintGAN")
    home = tmp_path / "home"
    home.mkdir()
    run = subprocess.run([str(release / "install.sh")], env=_user_env(home), capture_output=True, text=True)
    assert run.returncode == 1 and "PaintGAN/PaintGAN is missing" in run.stderr
    assert _files(home) == set()


# ------------------------------------------------------------------------------------------------ the bundle


CUDA_LIBS = ("cudart", "cudnn", "cublas", "cufft", "nccl", "torch_cuda", "c10_cuda", "nvrtc")
UNUSED_LIBS = ("Qt6Network", "Qt6Qml", "Qt6Quick", "Qt6Pdf", "Qt6WebEngine", "Qt6Sql", "torchbind_test")
UNUSED_PACKAGES = {"torchvision", "triton", "nvidia", "tensorboard", "pytest", "sympy", "tkinter"}


@pytest.mark.slow
@pytest.mark.xvfb
def test_make_package_builds_a_bundle_that_opens_a_painting_and_renders(xserver, tmp_path):
    build = subprocess.run(["make", "package"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    bundle = REPO / "dist" / "PaintGAN"
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    libraries = [p.name for p in files if ".so" in p.name]
    assert not [n for n in libraries if any(lib in n for lib in CUDA_LIBS + UNUSED_LIBS)]
    assert not UNUSED_PACKAGES & {p.name for p in (bundle / "_internal").iterdir()}
    # Modules inside the archive: none of training, data generation or the CLI.
    archived = (REPO / "build" / "pyinstaller" / "paintgan" / "PYZ-00.toc").read_text()
    assert "'paintgan.models'" in archived
    assert not [m for m in ("'paintgan.train", "'paintgan.datagen", "'paintgan.cli", "'torchvision") if m in archived]
    assert sum(p.stat().st_size for p in files) < 1_000_000_000  # 0.9 GB with torch's CPU library at 415 MB
    tarballs = sorted((REPO / "dist").glob("PaintGAN-*-linux-*.tar.gz"))
    assert tarballs
    with tarfile.open(tarballs[-1]) as tar:
        members = set(tar.getnames())
    top = tarballs[-1].name.removesuffix(".tar.gz")
    assert {f"{top}/install.sh", f"{top}/uninstall.sh", f"{top}/PaintGAN/PaintGAN",
            f"{top}/share/mime/packages/{APP_ID}.xml"} <= members

    home = tmp_path / "home"
    painting = _painting(tmp_path / "opened by double-click.paintgan")
    shot = tmp_path / "bundle.png"
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb", "PAINTGAN_HOME": str(home)}
    run = subprocess.run([str(bundle / "PaintGAN"), str(painting), "--smoke-screenshot", str(shot),
                          "--size", "1280x800"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    rgb = np.asarray(Image.open(shot).convert("RGB"))
    assert rgb.shape[:2] == (800, 1280) and rgb.std() > 20
    assert len(np.unique(rgb.reshape(-1, 3)[::17], axis=0)) > 50
    log = (home / "logs" / "paintgan.log").read_text()
    assert "frozen=True" in log and f"opened {painting} given at start" in log
