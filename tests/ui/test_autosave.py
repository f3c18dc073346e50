"""Autosave and crash recovery: what a painter loses when PaintGAN is killed is at most the last N seconds.

The window tests use the stand-in renderer of conftest.py; the kill tests run a real app (offscreen) in a
subprocess, paint into it, kill it with SIGKILL and recover in this process, the way the next start would.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from paintgan.documents import Document, load_document, save_document
from paintgan.labels import landscape_labelset
from ui.autosave import autosave_dir, find_orphans, offer_recovery, open_at_start, remove_stale_temp_files

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.gui


def digest(labels: np.ndarray, sketch: np.ndarray) -> str:
    return hashlib.sha256(labels.tobytes() + sketch.tobytes()).hexdigest()


def paint(window, mouse, label: str = "tree", points=((10, 10), (120, 90))) -> None:  # noqa: ANN001
    window.set_tool("brush")
    window.palette.select_index(window.label_set.by_name(label).index)
    mouse.drag(list(points))


def painting(side: int = 96, seed: int = 0) -> Document:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=(side, side), dtype=np.uint8)
    sketch = (rng.random((side, side)) > 0.8).astype(np.uint8) * 255
    return Document(labels=labels, sketch=sketch, label_set=landscape_labelset(), seed=seed)


def plant_orphan(doc: Document, source: Path | None, session: str = "4242-deadbeef") -> Path:
    """The files a killed session leaves: its autosave and metadata, and no lock anybody holds."""
    folder = autosave_dir()
    folder.mkdir(parents=True, exist_ok=True)
    save_document(doc, folder / f"{session}.paintgan")
    meta = {"format": "paintgan-autosave", "version": 1, "source": str(source) if source else None,
            "saved_at": time.time() - 30, "revision": 7}
    (folder / f"{session}.json").write_text(json.dumps(meta))
    return folder / f"{session}.paintgan"


# --------------------------------------------------------------------------------------------- in one process


def test_unsaved_change_is_autosaved_after_the_interval_and_a_save_removes_it(window, mouse, qtbot, tmp_path):
    autosaver = window.autosaver
    window.settings.autosave_seconds = 1
    autosaver.restart()
    assert not autosaver.path.exists()  # nothing to keep before the first change
    paint(window, mouse)
    started = time.monotonic()
    with qtbot.waitSignal(autosaver.saved, timeout=5000):
        pass
    assert 0.5 < time.monotonic() - started < 4
    saved = load_document(autosaver.path)
    assert np.array_equal(saved.labels, window.document.labels)
    assert np.array_equal(saved.sketch, window.document.sketch)
    assert window.document.dirty  # an autosave is not a save
    assert window.save_to(tmp_path / "valley.paintgan")
    assert not autosaver.path.exists() and not autosaver.path.with_suffix(".json").exists()


def test_autosave_waits_for_a_change_and_zero_turns_it_off(window, mouse, qtbot):
    window.settings.autosave_seconds = 0
    window.autosaver.restart()
    paint(window, mouse)
    qtbot.wait(1500)
    assert not window.autosaver.path.exists()
    window.settings.autosave_seconds = 1
    window.autosaver.restart()  # the dialog's OK: a dirty painting is saved one interval later
    with qtbot.waitSignal(window.autosaver.saved, timeout=5000):
        pass
    assert window.autosaver.path.exists()


def test_closing_the_window_leaves_nothing_to_recover(window, mouse):
    paint(window, mouse)
    assert window.autosaver.save_now()
    lock = window.autosaver.path.with_suffix(".lock")
    assert lock.exists()
    window.close()  # the fixture answers "discard"
    assert not window.autosaver.path.exists() and not lock.exists()
    assert find_orphans() == []


def test_a_running_session_is_not_offered_as_a_crash(window, mouse, qtbot, factory):
    from ui import MainWindow
    from ui.settings import Settings

    paint(window, mouse)
    assert window.autosaver.save_now()
    other = MainWindow(Settings(), renderer_factory=factory)  # a second PaintGAN starting meanwhile
    qtbot.addWidget(other)
    try:
        assert find_orphans() == []
    finally:
        other.shutdown()


def test_recover_opens_the_autosave_as_unsaved_changes_to_its_file(window, tmp_path):
    doc = painting()
    source = tmp_path / "valley.paintgan"
    save_document(painting(seed=1), source)  # the last real save, older than the autosave
    orphan_file = plant_orphan(doc, source)
    asked = []
    assert offer_recovery(window, ask=lambda w, orphan: asked.append(orphan) or "recover")
    assert [o.source for o in asked] == [source] and asked[0].document == orphan_file
    assert np.array_equal(window.document.labels, doc.labels) and np.array_equal(window.document.sketch, doc.sketch)
    assert window.path == source and window.document.dirty
    assert str(orphan_file.resolve()) not in window.settings.recent_files
    assert not orphan_file.exists()
    assert window.autosaver.path.exists()  # protected again by this session before the old copy went
    assert load_document(source).seed == 1  # the file itself is untouched until the painter saves


def test_later_keeps_the_copy_and_discard_deletes_it(window):
    orphan_file = plant_orphan(painting(), None)
    labels = window.document.labels.copy()
    assert not offer_recovery(window, ask=lambda w, o: "later")
    assert orphan_file.exists() and np.array_equal(window.document.labels, labels)
    assert not offer_recovery(window, ask=lambda w, o: "discard")
    assert not orphan_file.exists() and find_orphans() == []


def test_a_recovered_painting_takes_the_place_of_the_file_on_the_command_line(window, tmp_path):
    doc = painting()
    plant_orphan(doc, None)
    given = tmp_path / "given.paintgan"
    save_document(painting(seed=3), given)
    open_at_start(window, str(given), ask=lambda w, o: "recover")
    assert window.path is None and np.array_equal(window.document.labels, doc.labels)
    window.document.mark_clean()
    open_at_start(window, str(given), ask=lambda w, o: "recover")  # nothing left to recover: the file opens
    assert window.path == given and np.array_equal(window.document.labels, painting(seed=3).labels)


def test_stale_temporary_files_of_killed_saves_are_removed_young_ones_kept(tmp_path):
    old = tmp_path / ".valley.paintgan.k2j3h4.tmp"
    young = tmp_path / ".valley.paintgan.x9y8z7.tmp"
    other = tmp_path / ".notes.paintgan.aaaaaa.tmp"
    keep = tmp_path / "valley.paintgan"
    for path in (old, young, other, keep):
        path.write_bytes(b"PK\x03\x04 truncated")
    hour_ago = time.time() - 3600
    for path in (old, other):
        os.utime(path, (hour_ago, hour_ago))
    assert remove_stale_temp_files(tmp_path, "valley.paintgan") == [old]
    assert young.exists() and other.exists() and keep.exists()


def test_an_interrupted_autosave_of_a_dead_session_is_cleaned_at_the_next_start(window):
    folder = autosave_dir()
    dead = folder / ".4242-deadbeef.paintgan.q1w2e3.tmp"
    dead.write_bytes(b"PK\x03\x04 half an autosave")
    alive = folder / f".{window.autosaver.path.name}.r4t5y6.tmp"  # this session may be saving right now
    alive.write_bytes(b"PK\x03\x04")
    assert find_orphans() == []
    assert not dead.exists() and alive.exists()


# ------------------------------------------------------------------------------------------ killed processes

CHILD_PAINTER = """
import hashlib, os, sys
import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
from ui import MainWindow
from ui.settings import Settings


class Flat:
    def render(self, source, *, style=None, seed=None):
        return np.zeros(source.shape[:2] + (3,), np.uint8)


window = MainWindow(Settings(), renderer_factory=lambda model, device, threads: Flat())
window.settings.autosave_seconds = 1
window.new_document(160, 120)
assert window.save_to(sys.argv[1])
rng = np.random.default_rng(5)


def report(path):
    doc = window.document
    print("AUTOSAVED", hashlib.sha256(doc.labels.tobytes() + doc.sketch.tobytes()).hexdigest(), flush=True)


def stroke():
    doc = window.document
    layer = "labels" if rng.random() < 0.7 else "sketch"
    x, y = int(rng.integers(0, 150)), int(rng.integers(0, 110))
    value = int(rng.integers(0, 10)) if layer == "labels" else 255
    s = doc.begin_stroke(layer)
    s.write(x, y, np.ones((10, 10), bool), value)
    s.finish("paint")


window.autosaver.saved.connect(report)
timer = QTimer()
timer.timeout.connect(stroke)
timer.start(15)
print("PAINTING", flush=True)
app.exec()
"""


class Child:
    """A Python script in a subprocess whose output lines can be awaited with a time limit."""

    def __init__(self, tmp_path: Path, script: str, *args: str) -> None:
        path = tmp_path / "child.py"
        path.write_text(textwrap.dedent(script))
        self.errors = tmp_path / "child-stderr.txt"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
        with self.errors.open("w") as stderr:
            self.process = subprocess.Popen([sys.executable, str(path), *args], stdout=subprocess.PIPE,
                                            stderr=stderr, text=True, env=env, cwd=tmp_path)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output in {timeout} s: {self.errors.read_text()[-2000:]}") from None

    def kill(self) -> int:
        self.process.kill()
        return self.process.wait(30)  # reaped, as a desktop does: the lock's process is gone


@pytest.mark.slow
def test_killed_while_painting_the_next_start_recovers_the_last_autosave_exactly(window, tmp_path):
    source = tmp_path / "valley.paintgan"
    child = Child(tmp_path, CHILD_PAINTER, str(source))
    autosaves: list[str] = []
    try:
        while len(autosaves) < 2:
            line = child.line(timeout=120)
            if line.startswith("AUTOSAVED"):
                autosaves.append(line.split()[1])
    finally:
        code = child.kill()  # strokes keep coming every 15 ms: killed in the middle of painting
    assert code == -signal.SIGKILL
    assert len(set(autosaves)) == 2  # it was painting between the two autosaves

    orphans = find_orphans()
    assert len(orphans) == 1 and orphans[0].source == source.resolve()
    for orphan in orphans:
        orphan.release()
    assert offer_recovery(window, ask=lambda w, o: "recover")
    assert digest(window.document.labels, window.document.sketch) == autosaves[-1]
    assert window.path == source.resolve() and window.document.dirty
    assert list(autosave_dir().glob(".*.tmp")) == []


CHILD_SAVER = """
import sys
import numpy as np
from paintgan.documents import Document, save_document
from paintgan.labels import landscape_labelset

docs = []
for seed in (1, 2):
    r = np.random.default_rng(seed)
    docs.append(Document(labels=r.integers(0, 10, (1024, 1024), dtype=np.uint8),
                         sketch=r.integers(0, 256, (1024, 1024), dtype=np.uint8), label_set=landscape_labelset()))
print("SAVING", flush=True)
while True:
    for doc in docs:
        save_document(doc, sys.argv[1])
"""


@pytest.mark.slow
def test_killed_in_the_middle_of_a_save_the_file_is_whole_and_the_leftover_is_cleaned(window, mouse, tmp_path):
    target = tmp_path / "big.paintgan"
    versions = set()  # the two paintings the child saves in turn, drawn the same way
    for seed in (1, 2):
        r = np.random.default_rng(seed)
        labels = r.integers(0, 10, (1024, 1024), dtype=np.uint8)
        versions.add(digest(labels, r.integers(0, 256, (1024, 1024), dtype=np.uint8)))
    leftovers: list[Path] = []
    for _attempt in range(8):
        child = Child(tmp_path, CHILD_SAVER, str(target))
        try:
            assert child.line(timeout=120).startswith("SAVING")
            deadline = time.monotonic() + 60
            while not target.exists() or not list(tmp_path.glob(".big.paintgan.*.tmp")):
                assert time.monotonic() < deadline and child.process.poll() is None, "the saver never wrote"
        finally:
            child.kill()  # SIGKILL while a temporary file exists: the save is under way
        saved = load_document(target)  # never a truncated zip, whenever the kill came
        assert digest(saved.labels, saved.sketch) in versions
        leftovers = list(tmp_path.glob(".big.paintgan.*.tmp"))
        if leftovers:
            break
    assert leftovers, "no kill landed inside a save in 8 tries"

    hour_ago = time.time() - 3600
    for path in leftovers:
        os.utime(path, (hour_ago, hour_ago))
    assert window.open_document(target)
    paint(window, mouse)  # the first edit after opening tidies the folder
    assert list(tmp_path.glob(".big.paintgan.*.tmp")) == []


def test_a_painting_handed_over_by_finder_is_opened(window, tmp_path):
    from PySide6.QtGui import QFileOpenEvent
    from PySide6.QtWidgets import QApplication

    from ui.app import FileOpenHandler

    app = QApplication.instance()
    handler = FileOpenHandler(window)
    app.installEventFilter(handler)
    try:
        path = tmp_path / "from finder.paintgan"
        save_document(painting(seed=4), path)
        QApplication.sendEvent(app, QFileOpenEvent(str(path)))
        assert window.path == path and np.array_equal(window.document.labels, painting(seed=4).labels)
    finally:
        app.removeEventFilter(handler)
