"""The consumers' pact tests write their pacts to $PACT_DIR (default: the repository's pacts/ folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pact_dir() -> Path:
    return Path(os.environ.get("PACT_DIR") or ROOT / "pacts")
