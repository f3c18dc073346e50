"""Failures a double-click user can see: a rotating log file, a dialog for a bug, a dialog for a failed start."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from ui import crash

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.gui


@pytest.fixture
def hooks(monkeypatch):
    """Restore Python's hooks and the root logger after the test installs PaintGAN's."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _error_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.allWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "errorBox" and w.isVisible()]


def test_log_goes_to_paintgan_home_and_rotates(hooks):
    path = crash.setup_logging()
    assert path == Path(os.environ["PAINTGAN_HOME"]) / "logs" / "paintgan.log"
    logging.getLogger("paintgan.test").warning("x" * 1000)
    assert "x" * 1000 in path.read_text()
    for _ in range(3 * crash.MAX_LOG_BYTES // 1000):
        logging.getLogger("paintgan.test").info("y" * 1000)
    assert path.stat().st_size <= crash.MAX_LOG_BYTES
    assert (path.parent / "paintgan.log.1").exists() and not (path.parent / "paintgan.log.4").exists()
    crash.setup_logging()  # a second call replaces the handler instead of writing every line twice
    logging.getLogger("paintgan.test").warning("once")
    assert path.read_text().count("once") == 1


@pytest.mark.qt_no_exception_capture  # the app's own hook is what is tested
def test_a_bug_in_a_slot_is_logged_and_shown_with_the_log_path(window, qtbot, hooks):
    window.show()
    log_file = crash.setup_logging()
    crash.install_exception_hook(QApplication.instance())

    def buggy_slot():
        raise ValueError("a bug in a slot")

    window.render_action.triggered.connect(buggy_slot)  # a real slot, raising inside Qt's event loop
    window.render_action.trigger()
    qtbot.waitUntil(lambda: bool(_error_boxes()), timeout=5000)
    box = _error_boxes()[-1]
    try:
        assert "ValueError: a bug in a slot" in box.text() and str(log_file) in box.text()
        assert "buggy_slot" in box.detailedText()
        assert "a bug in a slot" in log_file.read_text() and "buggy_slot" in log_file.read_text()
        assert window.isVisible()  # the painting is still there
    finally:
        box.close()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_python_thread_is_shown_by_the_ui_thread(window, qtbot, hooks):
    crash.setup_logging()
    crash.install_exception_hook(QApplication.instance())
    thread = threading.Thread(target=lambda: 1 / 0, name="loader")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(_error_boxes()), timeout=5000)
    box = _error_boxes()[-1]
    try:
        assert "ZeroDivisionError" in box.text()
        assert "unhandled exception in loader" in crash.log_path().read_text()
    finally:
        box.close()


@pytest.mark.slow
def test_an_app_that_cannot_start_shows_why_instead_of_vanishing(tmp_path):
    # The start-up of main.py with a broken engine: the modal dialog is read and closed by a timer.
    script = tmp_path / "broken_start.py"
    script.write_text(textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from ui.crash import run_guarded

        def read_and_close():
            box = QApplication.activeModalWidget()
            print("DIALOG", box.objectName(), repr(box.text()), flush=True)
            box.close()

        def start():
            app = QApplication([])
            QTimer.singleShot(300, read_and_close)
            raise ImportError("libtorch_cpu.so: cannot open shared object file")

        sys.exit(run_guarded(start))
    """))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "DIALOG fatalDialog" in run.stdout and "libtorch_cpu.so" in run.stdout
    log_file = Path(env["PAINTGAN_HOME"]) / "logs" / "paintgan.log"
    assert str(log_file) in run.stdout
    assert "ImportError: libtorch_cpu.so" in log_file.read_text()
