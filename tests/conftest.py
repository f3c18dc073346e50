"""Shared test set-up: offscreen Qt, a private user data dir, and paths to the read-only shared material."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "official"
DATA = SHARED / "data"


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's model folder, settings and logs."""
    home = tmp_path_factory.mktemp("paintgan_home")
    monkeypatch.setenv("PAINTGAN_HOME", str(home))


def needs_shared(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"shared material not found: {path}")
