"""What a double-click user sees when something breaks: a log file, and a dialog instead of a silent exit.

* `setup_logging()` sends every log record of the app and the engine to a rotating file in the user log
  folder (`$PAINTGAN_HOME/logs` when set, else platformdirs' per-user log dir), plus Qt's own warnings and,
  for hard crashes in native code, faulthandler's Python stacks;
* `install_exception_hook(app)` turns an exception nobody caught (in a slot, or in a Python thread) into a
  log entry and a non-blocking dialog that says what happened and where the log is; the app keeps running;
* `run_guarded(start)` wraps the whole start-up: if the app cannot even start (a missing library in a bundle,
  a broken install), the user gets a modal dialog with the log's path instead of nothing at all.

This module imports only Qt and the standard library, so main.py can set it up before torch loads.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import IO

from PySide6.QtCore import QObject, Qt, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

LOG_NAME = "paintgan.log"
FAULTS_NAME = "faults.log"
MAX_LOG_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"

log = logging.getLogger("paintgan.crash")
_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
_state: dict[str, object] = {}  # the installed handler, fault file and reporter, so a second call replaces them


def log_dir() -> Path:
    home = os.environ.get("PAINTGAN_HOME")
    if home:
        return Path(home) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir("PaintGAN", appauthor=False))


def log_path() -> Path:
    """The current log file (where `setup_logging` writes, or would)."""
    handler = _state.get("handler")
    return Path(handler.baseFilename) if isinstance(handler, RotatingFileHandler) else log_dir() / LOG_NAME


def _qt_message(kind: QtMsgType, context: object, message: str) -> None:
    logging.getLogger("qt").log(_QT_LEVELS.get(kind, logging.WARNING), "%s", message)


def setup_logging(folder: Path | None = None, level: int = logging.INFO) -> Path:
    """Log to `folder/paintgan.log` (rotated at 2 MB, 3 old files kept); returns the log's path.

    Safe to call again (tests, a second window): the previous file handler is replaced, not doubled.
    """
    folder = folder or log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    old = _state.pop("handler", None)
    if isinstance(old, logging.Handler):
        root.removeHandler(old)
        old.close()
    handler = RotatingFileHandler(folder / LOG_NAME, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    _state["handler"] = handler
    logging.captureWarnings(True)
    qInstallMessageHandler(_qt_message)
    # A segfault in native code (a driver, a broken wheel) runs no Python: faulthandler still writes the stacks.
    old_faults = _state.pop("faults", None)
    faults: IO[str] = open(folder / FAULTS_NAME, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the app
    faulthandler.enable(faults, all_threads=True)
    if hasattr(old_faults, "close"):
        old_faults.close()  # type: ignore[union-attr]
    _state["faults"] = faults
    from paintgan import __version__

    log.info("PaintGAN %s, Python %s, %s, frozen=%s", __version__, platform.python_version(), platform.platform(),
             bool(getattr(sys, "frozen", False)))
    return Path(handler.baseFilename)


def describe(kind: type[BaseException], exc: BaseException) -> str:
    """One line a painter can read: the exception's type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{kind.__name__}: {text}" if text else kind.__name__


class CrashReporter(QObject):
    """Logs uncaught exceptions and shows them in a dialog on the UI thread, whichever thread raised them."""

    _report = Signal(str, str)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.boxes: list[QMessageBox] = []  # the dialogs shown, newest last (tests read them)
        self._report.connect(self._show)

    def excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self._handle(kind, exc, tb, threading.current_thread().name)

    def threading_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self._handle(args.exc_type, args.exc_value, args.exc_traceback,
                     args.thread.name if args.thread else "thread")

    def _handle(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str) -> None:
        details = "".join(traceback.format_exception(kind, exc, tb))
        log.critical("unhandled exception in %s\n%s", where, details)
        if sys.stderr is not None:  # a windowed bundle on Windows has no stderr
            print(details, file=sys.stderr)
        # A signal, so a worker thread's exception is shown by the UI thread (widgets live only there).
        self._report.emit(describe(kind, exc), details)

    def _show(self, summary: str, details: str) -> None:
        # Over the painting's window when there is one, so the dialog is seen where the work is.
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
        parent = QApplication.activeWindow() or (windows[0] if windows else None)
        box = QMessageBox(QMessageBox.Icon.Critical, "PaintGAN: unexpected error",
                          f"Something went wrong inside PaintGAN:\n\n{summary}\n\n"
                          "Your painting is still open; save it (perhaps under a new name) to be safe. "
                          f"The details are in the log file:\n{log_path()}",
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("errorBox")
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # Without a parent nothing else would keep the dialog alive (and on screen).
        box.finished.connect(lambda _result, b=box: self.boxes.remove(b) if b in self.boxes else None)
        self.boxes.append(box)
        box.open()  # not exec(): the app, and the painting in it, keep running behind the dialog


def install_exception_hook(app: QApplication) -> CrashReporter:
    """Route uncaught exceptions of the UI thread and of Python threads to the log and a dialog."""
    reporter = CrashReporter(app)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.threading_hook
    _state["reporter"] = reporter
    return reporter


def show_fatal(summary: str, details: str) -> None:
    """A modal dialog for an error that ends the app (it has no window to go back to)."""
    _app = QApplication.instance() or QApplication(sys.argv[:1])  # held while the dialog runs
    box = QMessageBox(QMessageBox.Icon.Critical, "PaintGAN could not start",
                      f"PaintGAN could not start:\n\n{summary}\n\nThe details are in the log file:\n{log_path()}",
                      QMessageBox.StandardButton.Ok)
    box.setObjectName("fatalDialog")
    box.setDetailedText(details)
    box.exec()


def run_guarded(start: Callable[[], int], interactive: bool = True) -> int:
    """Set up logging, then run `start` (which imports and runs the app); a failure is logged and, when a person
    is there to read it (`interactive`), shown."""
    try:
        setup_logging()
    except OSError as exc:  # an unwritable home must not stop the app; the log then goes nowhere
        if sys.stderr is not None:
            print(f"PaintGAN: cannot write a log file in {log_dir()}: {exc}", file=sys.stderr)
    try:
        return start()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the last line of defence: anything is shown, then we exit 1
        details = traceback.format_exc()
        log.critical("PaintGAN failed to start or stopped on an error\n%s", details)
        if sys.stderr is not None:
            print(details, file=sys.stderr)
        if interactive and not isinstance(exc, KeyboardInterrupt):
            show_fatal(describe(type(exc), exc), details)
        return 1
