"""Pack the PyInstaller bundle with its Linux desktop integration into a release tarball.

    python packaging/linux/make_tarball.py dist/PaintGAN dist

Makes dist/PaintGAN-<version>-linux-x86_64.tar.gz holding one folder: the bundle (PaintGAN/), install.sh,
uninstall.sh and share/ (desktop entry, AppStream metainfo, shared-mime-info type, hicolor icons rendered from
packaging/paintgan.svg). The archive is written beside its final name and renamed, like every file PaintGAN writes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from make_icons import make_icons  # noqa: E402

APP_ID = "org.paintgan.PaintGAN"


def version() -> str:
    init = HERE.parent.parent / "paintgan" / "__init__.py"
    for line in init.read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit(f"no __version__ in {init}")


def stage(bundle: Path, folder: Path) -> Path:
    """Lay out the release folder `folder` (replaced if present) around a copy of `bundle`."""
    if not (bundle / "PaintGAN").is_file():
        raise SystemExit(f"{bundle} is not a PaintGAN bundle (no PaintGAN executable); run pyinstaller first")
    shutil.rmtree(folder, ignore_errors=True)
    share = folder / "share"
    shutil.copytree(bundle, folder / "PaintGAN", symlinks=True)
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(HERE / script, folder / script)
        (folder / script).chmod(0o755)
    for kind, source, name in (("applications", ".desktop", ".desktop"), ("metainfo", ".metainfo.xml", ".metainfo.xml"),
                               ("mime/packages", ".mime.xml", ".xml")):
        (share / kind).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / f"{APP_ID}{source}", share / kind / f"{APP_ID}{name}")
    make_icons(share / "icons")
    for extra in ("paintgan.png", "paintgan.ico", "paintgan.icns"):  # the other platforms' icons stay out
        (share / "icons" / extra).unlink()
    return folder


def _newest(*folders: Path) -> float:
    return max(p.lstat().st_mtime for folder in folders for p in [folder, *folder.rglob("*")])


def make_tarball(bundle: Path, out: Path) -> Path:
    """The tarball of `bundle`, rebuilt only when the bundle or the integration files changed since the last."""
    name = f"PaintGAN-{version()}-linux-{platform.machine()}"
    target = out / f"{name}.tar.gz"
    if target.exists() and target.stat().st_mtime > _newest(bundle, HERE, HERE.parent / "paintgan.svg"):
        return target
    folder = stage(bundle, out / name)
    tmp = out / f".{target.name}.tmp"
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            tar.add(folder, arcname=name)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="the PyInstaller one-folder bundle (dist/PaintGAN)")
    parser.add_argument("out", type=Path, help="folder for the tarball")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("make_tarball: the tarball and its install script are for Linux; nothing to do here")
        return 0
    print(make_tarball(args.bundle, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
