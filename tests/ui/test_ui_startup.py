"""Start-up: the window comes before torch and the models, says that they are loading, and takes paint meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from paintgan.models import placeholder_model, save_model
from ui.preview import LOADING_TEXT
from ui.settings import Settings

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.gui


@pytest.fixture
def gate():
    """Set it to let the model finish loading."""
    event = threading.Event()
    yield event
    event.set()  # never leave the worker waiting


@pytest.fixture
def window(qtbot, fake, gate):
    """The window on a model that takes until `gate` is set to load (overrides conftest's ready window)."""
    from ui import MainWindow

    def slow_factory(model, device, threads):  # noqa: ANN001, ARG001 - mirrors Renderer(model, device, threads)
        gate.wait(30)
        return fake()

    settings = Settings()
    settings.preview_resolution = 1024  # drafts at canvas size
    win = MainWindow(settings, renderer_factory=slow_factory)
    win.ask_save_changes = lambda: "discard"
    qtbot.addWidget(win)
    win.canvas.resize(600, 600)
    win.canvas.set_view(1.0, QPointF(0, 0))
    yield win
    gate.set()
    win.document.mark_clean()
    win.close()
    win.shutdown()


def test_window_says_the_models_are_loading_and_takes_paint_until_they_are_ready(window, gate, mouse, qtbot):
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.busy_label.text() == "loading models…", timeout=5000)
    assert window.preview.shown is None and window.preview.empty_text == LOADING_TEXT
    assert window.statusBar().currentMessage() == "Loading the models…"
    view = window.preview.view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(view.constBits(), np.uint8).reshape(view.height(), view.bytesPerLine())
    assert (pixels[:, : view.width() * 3] > 120).sum() > 200  # the light text on the dark empty preview

    mouse.paint("rectangle", "tree", [(0, 0), (99, 99)])
    tree = window.label_set.by_name("tree").index
    assert window.document.labels[50, 50] == tree and window.preview.shown is None

    gate.set()
    qtbot.waitUntil(lambda: window.preview.shown is not None
                    and window.preview.shown.revision == window.document.revision, timeout=10000)
    assert window.preview.empty_text != LOADING_TEXT and window.statusBar().currentMessage() == ""
    picture = window.preview.shown.base
    assert (picture[50, 50] != picture[300, 300]).any()  # the tree painted while loading is in the first picture


def test_the_window_and_its_model_list_are_built_without_importing_torch(tmp_path):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    model = placeholder_model("sketch", seed=3)
    model.card.name, model.card.placeholder = "inkwell", False
    save_model(model, home / "models" / "inkwell.safetensors")
    script = ("import json, sys\n"
              "import ui.app\n"
              "from ui.model_menu import catalog\n"
              "entries = catalog()\n"
              "print(json.dumps({'names': [e.name for e in entries], 'kinds': [e.input_kind for e in entries],\n"
              "                  'torch': 'torch' in sys.modules}))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PAINTGAN_HOME": str(home)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.splitlines()[-1])
    assert "inkwell" in out["names"]  # a user model's card was read
    assert {"labels", "sketch", "image"} <= set(out["kinds"])  # every kind offered (a placeholder where none is installed)
    assert out["torch"] is False


@pytest.mark.slow
def test_a_start_shows_the_window_first_and_imports_torch_off_the_ui_thread(tmp_path):
    """The real start (main.py, offscreen smoke run): the log orders the stages; torch comes in the worker."""
    home = tmp_path / "home"
    script = ("import builtins, json, runpy, sys, threading\n"
              "seen = {}\n"
              "plain_import = builtins.__import__\n"
              "def watch(name, *args, **kwargs):\n"
              "    if name.partition('.')[0] == 'torch' and 'torch' not in sys.modules and not seen:\n"
              "        seen['ui_thread'] = threading.current_thread() is threading.main_thread()\n"
              "    return plain_import(name, *args, **kwargs)\n"
              "builtins.__import__ = watch\n"
              f"sys.argv = ['main.py', '--smoke-screenshot', {str(tmp_path / 'shot.png')!r}]\n"
              "try:\n"
              "    runpy.run_path('main.py', run_name='__main__')\n"
              "except SystemExit as done:\n"
              "    print(json.dumps({'code': done.code, **seen}))\n")
    env = {**os.environ, "PAINTGAN_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1]) == {"code": 0, "ui_thread": False}
    stamps = {}
    for line in (home / "logs" / "paintgan.log").read_text(encoding="utf-8").splitlines():
        for stage in ("window shown", "models ready", "first picture shown"):
            if stage in line:
                stamps.setdefault(stage, datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"))
    assert stamps["window shown"] < stamps["models ready"] <= stamps["first picture shown"]
