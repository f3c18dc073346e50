"""Autosave and crash recovery: a crash or a kill never costs more than the last few seconds of painting.

Each running window is one session with an id. `N` seconds (setting `autosave_seconds`, default 60, 0 = off)
after the first unsaved change since its last autosave, the session writes the open painting to
`<autosave dir>/<id>.paintgan` with `paintgan.documents.save_document` (temporary file, fsync, rename: never a
truncated file) and, beside it, `<id>.json` naming the file the painting belongs to. A Qt lock file `<id>.lock`
marks the session as alive. Closing the window (saved or discarded) deletes all three.

What is left behind with a lock nobody holds any more (its process is gone) is an orphan: the next start offers
to recover it (`open_at_start`), as unsaved changes to the file it came from. Temporary files of killed saves
(`.<name>.XXXX.tmp`, see `paintgan.images.open_atomic`) are removed once no live save can own them.

The autosave dir is `$PAINTGAN_HOME/autosave` when set, else `autosave/` in platformdirs' user data dir.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QLockFile, QObject, QRect, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from paintgan.documents import SUFFIX, save_document
from paintgan.errors import PaintGANError
from paintgan.images import write_bytes_atomic

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger("paintgan.autosave")
META_FORMAT = "paintgan-autosave"
# A save writes its temporary file for well under a second; one this old beside a document is a killed save's.
STALE_TEMP_S = 60.0
Answer = Literal["recover", "discard", "later"]


def autosave_dir() -> Path:
    home = os.environ.get("PAINTGAN_HOME")
    if home:
        return Path(home) / "autosave"
    import platformdirs

    return Path(platformdirs.user_data_dir("PaintGAN", appauthor=False)) / "autosave"


def _lock(folder: Path, session: str) -> QLockFile:
    lock = QLockFile(str(folder / f"{session}.lock"))
    lock.setStaleLockTime(0)  # stale only when its process is gone, however long a painting session lasts
    return lock


def _temp_owner(name: str) -> str | None:
    """`.<target name>.<random>.tmp` -> the target's name; None for anything else."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    target, _, _random = name[1:-4].rpartition(".")
    return target or None


def remove_stale_temp_files(folder: Path, target: str | None = None, min_age_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete killed saves' temporary files in `folder` (only those of `target` when given) older than
    `min_age_s`; returns what was deleted. Younger ones may belong to a save still running elsewhere."""
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = list(folder.iterdir())
    except OSError:
        return removed
    for path in candidates:
        owner = _temp_owner(path.name)
        if owner is None or (target is not None and owner != target):
            continue
        try:
            if now - path.stat().st_mtime >= min_age_s and path.is_file():
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary file(s) of interrupted saves in %s", len(removed), folder)
    return removed


@dataclass
class Orphan:
    """A painting autosaved by a session that ended without closing (crash, kill, power cut).

    Holds the dead session's lock, so two PaintGANs starting at once do not both offer it.
    """

    document: Path
    source: Path | None  # the file the painting belongs to; None for an untitled painting
    saved_at: float
    lock: QLockFile

    @property
    def title(self) -> str:
        return f"“{self.source.name}”" if self.source else "an untitled painting"

    def release(self) -> None:
        """Keep the files for a later start."""
        self.lock.unlock()

    def discard(self) -> None:
        for path in (self.document, self.document.with_suffix(".json")):
            path.unlink(missing_ok=True)
        self.lock.unlock()  # also deletes the lock file


def _read_meta(path: Path) -> dict[str, object]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("format") == META_FORMAT else {}


def find_orphans(folder: Path | None = None) -> list[Orphan]:
    """Autosaves whose session is gone, newest first; each comes with its lock taken (release or discard it).

    Also removes the temporary files of those sessions' interrupted autosaves.
    """
    folder = folder or autosave_dir()
    if not folder.is_dir():
        return []
    _remove_dead_sessions_temps(folder)
    orphans: list[Orphan] = []
    for document in folder.glob(f"*{SUFFIX}"):
        session = document.stem
        lock = _lock(folder, session)
        if not lock.tryLock(0):
            continue  # its PaintGAN is still running
        meta = _read_meta(document.with_suffix(".json"))
        source = meta.get("source")
        saved_at = meta.get("saved_at")
        orphans.append(Orphan(
            document=document,
            source=Path(source) if isinstance(source, str) and source else None,
            saved_at=float(saved_at) if isinstance(saved_at, int | float) else document.stat().st_mtime,
            lock=lock,
        ))
    return sorted(orphans, key=lambda o: o.saved_at, reverse=True)


def _remove_dead_sessions_temps(folder: Path) -> None:
    """Temporary files of autosaves whose session is gone (killed mid-save) can go at once, whatever their age."""
    for path in folder.glob(".*.tmp"):
        owner = _temp_owner(path.name)
        if owner is None:
            continue
        lock = _lock(folder, Path(owner).stem)
        if lock.tryLock(0):  # nobody is saving under this session any more
            path.unlink(missing_ok=True)
            lock.unlock()


class Autosaver(QObject):
    """Autosaves one window's painting; `close()` when the window closes for good."""

    saved = Signal(Path)  # the autosave file, after each successful autosave

    def __init__(self, window: MainWindow, folder: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.folder = folder or autosave_dir()
        self.session = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = self.folder / f"{self.session}{SUFFIX}"
        self._failed = False
        self._tidied: set[Path] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.save_now)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("autosave is off: cannot create %s: %s", self.folder, exc)
        self._lock = _lock(self.folder, self.session)
        if not self._lock.tryLock(0):
            log.warning("autosave lock %s could not be taken (error %s)", self.session, self._lock.error())
        window.document.changed.connect(self._changed)
        window.document.dirtyChanged.connect(self._dirty_changed)

    @property
    def interval_s(self) -> int:
        return int(self.window.settings.autosave_seconds)

    def _changed(self, _rect: QRect | None = None) -> None:
        # N seconds after the first change since the last autosave: steady painting is saved every N seconds,
        # not postponed for as long as the brush keeps moving.
        if self.interval_s > 0 and not self._timer.isActive():
            self._timer.start(self.interval_s * 1000)

    def _dirty_changed(self, dirty: bool) -> None:
        if self.window.path is not None:  # the first edit after an open, or a save
            self.tidy_folder_of(self.window.path)
        if dirty:
            self._changed()
            return
        # Saved (or opened): the file on disk holds the painting, so the autosave is no longer needed.
        self._timer.stop()
        self._remove_files()

    def restart(self) -> None:
        """Apply a changed interval (0 stops autosaving)."""
        self._timer.stop()
        if self.window.document.dirty:
            self._changed()

    def save_now(self) -> bool:
        """Autosave the painting if it has unsaved changes; True when a file was written."""
        self._timer.stop()
        if not self.window.document.dirty:
            return False
        revision = self.window.document.revision
        source = self.window.path
        meta = {"format": META_FORMAT, "version": 1, "source": str(source.resolve()) if source else None,
                "saved_at": time.time(), "revision": revision}
        try:
            save_document(self.window.to_document(), self.path)
            write_bytes_atomic(self.path.with_suffix(".json"), json.dumps(meta).encode())
        except (PaintGANError, OSError) as exc:
            if not self._failed:  # say it once, not every N seconds
                self.window.status(f"Autosave failed: {exc}")
                log.warning("autosave to %s failed: %s", self.path, exc)
            self._failed = True
            self._changed()  # try again in N seconds
            return False
        self._failed = False
        log.info("autosaved revision %d to %s", revision, self.path)
        self.saved.emit(self.path)
        return True

    def tidy_folder_of(self, document: Path) -> None:
        """Remove killed saves' temporary files beside `document` (once per folder and name a session)."""
        document = document.resolve()
        if document not in self._tidied:
            self._tidied.add(document)
            remove_stale_temp_files(document.parent, document.name)

    def _remove_files(self) -> None:
        for path in (self.path, self.path.with_suffix(".json")):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """The window closes for good: its painting was saved or discarded, so the autosave goes too."""
        self._timer.stop()
        self._remove_files()
        self._lock.unlock()


def ask_recovery(window: MainWindow, orphan: Orphan) -> Answer:
    """The dialog a person sees at start-up (tests pass their own `ask` to `offer_recovery`)."""
    when = time.strftime("%H:%M on %d %b %Y", time.localtime(orphan.saved_at))
    box = QMessageBox(QMessageBox.Icon.Question, "Recover painting?",
                      f"PaintGAN did not close properly last time. An autosaved copy of {orphan.title} "
                      f"from {when} is available.", QMessageBox.StandardButton.NoButton, window)
    box.setObjectName("recoveryDialog")
    box.setInformativeText("Recover opens it as unsaved changes. Discard deletes the copy; "
                           "Later keeps it for the next start.")
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(recover)
    box.exec()
    clicked = box.clickedButton()
    return "recover" if clicked is recover else "discard" if clicked is discard else "later"


Ask = Callable[["MainWindow", Orphan], Answer]


def recover(window: MainWindow, orphan: Orphan) -> bool:
    """Open an orphan as unsaved changes to the file it came from; the orphan is deleted once safe again."""
    last_folder = window.settings.last_folder
    if not window.open_document(orphan.document):  # it says why; keep the copy aside rather than offer it again
        orphan.document.replace(orphan.document.with_suffix(".broken"))
        orphan.discard()
        return False
    # The window took the autosave for an ordinary file: it is not one to remember or to save over.
    window.settings.remove_recent_file(str(orphan.document.resolve()))
    window.settings.last_folder = last_folder
    window._refresh_recent()  # noqa: SLF001
    window.path = orphan.source
    window.document.mark_dirty()
    autosaver: Autosaver | None = getattr(window, "autosaver", None)
    if autosaver is not None:
        autosaver.save_now()  # this session protects it now, before the old copy goes
        if orphan.source is not None:
            autosaver.tidy_folder_of(orphan.source)
    orphan.discard()
    window.status(f"Recovered {orphan.title.strip('“”')} from its autosave; save it to keep it")
    log.info("recovered %s (autosaved %s) for %s", orphan.document, time.ctime(orphan.saved_at), orphan.source)
    return True


def offer_recovery(window: MainWindow, ask: Ask = ask_recovery, folder: Path | None = None) -> bool:
    """Offer the orphans, newest first, until one is recovered; True when one was."""
    orphans = find_orphans(folder)
    for index, orphan in enumerate(orphans):
        answer = ask(window, orphan)
        if answer == "recover" and recover(window, orphan):
            for rest in orphans[index + 1:]:
                rest.release()  # offered again at the next start
            return True
        if answer == "discard":
            orphan.discard()
        else:
            orphan.release()
    return False


def open_at_start(window: MainWindow, document: str | None, offer: bool = True, ask: Ask = ask_recovery) -> None:
    """What a start does once the window is up: offer recovery, then open the painting given on the command
    line (unless a recovered one took its place: opening it would ask to throw the recovered work away)."""
    log.info("window shown")
    if offer and offer_recovery(window, ask):
        if document:
            window.status(f"Recovered an autosaved painting; {Path(document).name} was not opened")
        return
    if document and window.open_document(document):
        log.info("opened %s given at start", document)
