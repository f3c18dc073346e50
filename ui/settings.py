"""The app's settings: one typed wrapper over QSettings, stored as an INI file.

`PAINTGAN_HOME` (tests, portable installs) moves the file under that folder so nothing touches the real user's
configuration; otherwise Qt's per-user location for "PaintGAN" is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

DEVICES = ("auto", "cpu", "cuda", "mps")
PREVIEW_SIZES = (256, 384, 512, 768, 1024)
RECENT_MAX = 8


def settings_path() -> Path | None:
    """The INI file used when PAINTGAN_HOME is set, else None (Qt's own per-user location)."""
    home = os.environ.get("PAINTGAN_HOME")
    return Path(home) / "settings.ini" if home else None


class _Setting:
    """One typed value stored under `key`; reading a missing or malformed value gives the default."""

    def __init__(self, key: str, default: Any) -> None:
        self.key, self.default = key, default

    def __get__(self, settings: Settings | None, owner: type) -> Any:
        if settings is None:
            return self
        return self.parse(settings._q.value(self.key, self.default))

    def __set__(self, settings: Settings, value: Any) -> None:
        settings._q.setValue(self.key, self.parse(value))

    def parse(self, value: Any) -> Any:
        raise NotImplementedError


class _Int(_Setting):
    def __init__(self, key: str, default: int, lo: int, hi: int) -> None:
        super().__init__(key, default)
        self.lo, self.hi = lo, hi

    def parse(self, value: Any) -> int:
        try:
            return min(max(int(value), self.lo), self.hi)
        except (TypeError, ValueError):
            return int(self.default)


class _Bool(_Setting):
    def parse(self, value: Any) -> bool:
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)


class _Str(_Setting):
    def parse(self, value: Any) -> str:
        return value if isinstance(value, str) else str(self.default)


class _Choice(_Str):
    def __init__(self, key: str, default: str, choices: tuple[str, ...]) -> None:
        super().__init__(key, default)
        self.choices = choices

    def parse(self, value: Any) -> str:
        value = super().parse(value)
        return value if value in self.choices else str(self.default)


class Settings:
    """Typed access to the persistent settings; every getter has a sensible default."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        path = path or settings_path()
        if path is not None:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "PaintGAN", "PaintGAN")

    @property
    def file_name(self) -> str:
        return self._q.fileName()

    def sync(self) -> None:
        self._q.sync()

    # --- rendering -----------------------------------------------------------------------------------------------
    device = _Choice("render/device", "auto", DEVICES)
    threads = _Int("render/threads", 0, 0, 256)  # CPU threads for the model; 0 lets the app choose
    # Longest side of the live (draft) render; the final render after idle uses the full canvas. 256 keeps a
    # CPU-only laptop near a third of a second per picture while painting.
    preview_resolution = _Int("render/preview_resolution", 256, 64, 4096)
    refine_idle_ms = _Int("render/refine_idle_ms", 700, 50, 10000)
    live = _Bool("render/live", True)

    def model_choice(self, role: str) -> str:
        """The model name last picked for a role: "render", "refine" or "restyle" ("" = default / none)."""
        value = self._q.value(f"models/{role}", "")
        return value if isinstance(value, str) else ""

    def set_model_choice(self, role: str, name: str) -> None:
        self._q.setValue(f"models/{role}", name)

    # --- documents -----------------------------------------------------------------------------------------------
    autosave_seconds = _Int("documents/autosave_seconds", 60, 0, 3600)  # 0 turns autosave off (ui/autosave.py)
    undo_megabytes = _Int("documents/undo_megabytes", 256, 1, 8192)
    last_folder = _Str("documents/last_folder", "")

    @property
    def recent_files(self) -> list[str]:
        value = self._q.value("documents/recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)][:RECENT_MAX]

    def add_recent_file(self, path: str) -> None:
        path = str(Path(path).resolve())
        files = [path] + [p for p in self.recent_files if p != path]
        self._q.setValue("documents/recent", files[:RECENT_MAX])

    def remove_recent_file(self, path: str) -> None:
        self._q.setValue("documents/recent", [p for p in self.recent_files if p != path])

    # --- window --------------------------------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self._q.value("window/geometry")
        state = self._q.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    def splitter_state(self) -> QByteArray | None:
        value = self._q.value("window/splitter")
        return value if isinstance(value, QByteArray) else None

    def set_splitter_state(self, value: QByteArray) -> None:
        self._q.setValue("window/splitter", value)
