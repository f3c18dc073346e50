"""Paths to the repository and to the read-only shared material, for tests to import.

A module of its own rather than `conftest`: two conftest files (tests/ and tests/ui/) share that module name,
so `from shared_paths import ...` picks whichever pytest loaded first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "official"
DATA = SHARED / "data"


def needs_shared(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"shared material not found: {path}")
