"""Shared test set-up: offscreen Qt, a private user data dir, a private X server (paths: `shared_paths`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Spinning OpenMP workers make every torch test several times slower on a busy 2-core machine;
# this must be set before the first test module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's model folder, settings and logs."""
    home = tmp_path_factory.mktemp("paintgan_home")
    monkeypatch.setenv("PAINTGAN_HOME", str(home))


def _free_display() -> int:
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    pytest.skip("no free X display number")


@pytest.fixture
def xserver():
    """A private Xvfb display for tests of the real app (skips where Xvfb is missing), e.g. ":91"."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    number = _free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.skip("Xvfb did not start")
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(10)
