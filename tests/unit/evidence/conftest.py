"""Fixtures for the evidence tests: key pairs, an artifacts folder, a real signed bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._support import ARTIFACTS, KeyPair, fixed_keypair, seal, write_evidence_manifest


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return fixed_keypair(tmp_path / "keys", 1)


@pytest.fixture
def other_keys(tmp_path: Path) -> KeyPair:
    return fixed_keypair(tmp_path / "other-keys", 2)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """An artifacts folder with a few artifacts and their evidence manifest."""
    directory = tmp_path / "artifacts"
    for rel, content in ARTIFACTS.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(content)
    write_evidence_manifest(directory)
    return directory


@pytest.fixture
def signed_bundle(artifacts: Path, keys: KeyPair) -> Path:
    return seal(artifacts, keys)
