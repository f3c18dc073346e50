"""The app's settings: one typed wrapper over QSettings, stored as an INI file.

`PAINTGAN_HOME` (tests, portable installs) moves the file under that folder so nothing touches the real user's
configuration; otherwise Qt's per-user location for "PaintGAN" is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

DEVICES = ("auto", "cpu", "cuda", "mps")
PREVIEW_SIZES = (256, 384, 512, 768, 1024)
RECENT_MAX = 8


def settings_path() -> Path | None:
    """The INI file used when PAINTGAN_HOME is set, else None (Qt's own per-user location)."""
    home = os.environ.get("PAINTGAN_HOME")
    return Path(home) / "settings.ini" if home else None


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

    # --- typed helpers -------------------------------------------------------------------------------------------
    def _int(self, key: str, default: int, lo: int, hi: int) -> int:
        try:
            value = int(self._q.value(key, default))
        except (TypeError, ValueError):
            return default
        return min(max(value, lo), hi)

    def _str(self, key: str, default: str) -> str:
        value = self._q.value(key, default)
        return value if isinstance(value, str) else default

    def _bool(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    # --- rendering -----------------------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        value = self._str("render/device", "auto")
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self._q.setValue("render/device", value if value in DEVICES else "auto")

    @property
    def threads(self) -> int:
        """CPU threads for the model; 0 lets the engine choose."""
        return self._int("render/threads", 0, 0, 256)

    @threads.setter
    def threads(self, value: int) -> None:
        self._q.setValue("render/threads", int(value))

    @property
    def preview_resolution(self) -> int:
        """Longest side of the live (draft) render; the final render after idle uses the full canvas.

        256 keeps a CPU-only laptop near a third of a second per picture while painting."""
        return self._int("render/preview_resolution", 256, 64, 4096)

    @preview_resolution.setter
    def preview_resolution(self, value: int) -> None:
        self._q.setValue("render/preview_resolution", int(value))

    @property
    def refine_idle_ms(self) -> int:
        return self._int("render/refine_idle_ms", 700, 50, 10000)

    @refine_idle_ms.setter
    def refine_idle_ms(self, value: int) -> None:
        self._q.setValue("render/refine_idle_ms", int(value))

    @property
    def live(self) -> bool:
        return self._bool("render/live", True)

    @live.setter
    def live(self, value: bool) -> None:
        self._q.setValue("render/live", bool(value))

    def model_choice(self, role: str) -> str:
        """The model name last picked for a role: "render", "refine" or "restyle" ("" = default / none)."""
        return self._str(f"models/{role}", "")

    def set_model_choice(self, role: str, name: str) -> None:
        self._q.setValue(f"models/{role}", name)

    # --- documents -----------------------------------------------------------------------------------------------
    @property
    def autosave_minutes(self) -> int:
        """0 turns autosave off."""
        return self._int("documents/autosave_minutes", 5, 0, 120)

    @autosave_minutes.setter
    def autosave_minutes(self, value: int) -> None:
        self._q.setValue("documents/autosave_minutes", int(value))

    @property
    def undo_megabytes(self) -> int:
        return self._int("documents/undo_megabytes", 256, 1, 8192)

    @undo_megabytes.setter
    def undo_megabytes(self, value: int) -> None:
        self._q.setValue("documents/undo_megabytes", int(value))

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

    @property
    def last_folder(self) -> str:
        return self._str("documents/last_folder", "")

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._q.setValue("documents/last_folder", value)

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
