"""Helpers for the evidence tests: fixed inputs, the real sealing sequence, zip surgery."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from interlock.evidence import (
    BUNDLE_NAME,
    EVIDENCE_MANIFEST_NAME,
    SIGNOFF_NAME,
    build_manifest,
    bundle_subjects,
    envelope_bytes,
    make_statement,
    manifest_bytes,
    sign_statement,
    write_bundle,
)

META = {
    "generated_at": "2025-06-01T12:00:00Z",
    "run_id": "run-0001",
    "environment": "integration",
    "interlock_version": "0.1.0",
    "started_at": "2025-06-01T11:00:00Z",
    "finished_at": "2025-06-01T12:00:00Z",
    "tools": {"pytest": "8.3.0", "pact-python": "2.2.0"},
    "git_commit": "0" * 40,
    "git_dirty": False,
}
BAG_INFO = {"Source-Organization": "interlock tests", "External-Identifier": "run-0001"}
ARTIFACTS = {
    "test-execution-report.json": b'{"summary": {"passed": 12, "failed": 0}}\n',
    "defect-log.csv": b"id,severity,status\nD-1,critical,resolved\n",
    "logs/run.log": b"".join(b"line %d of the run log\n" % i for i in range(400)),
    # binary: STORED, where the text above is deflated (see bundle.deflates)
    "screenshots/failure.png": b"\x89PNG\r\n\x1a\n" + b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(100)),
}
PAYLOAD_FILES = sorted(ARTIFACTS) + [EVIDENCE_MANIFEST_NAME]
#: Every entry of the bundle built by `signed_bundle`, in zip order.
BUNDLE_ENTRIES = [
    "data/defect-log.csv",
    "data/integration-evidence-manifest.json",
    "data/logs/run.log",
    "data/screenshots/failure.png",
    "data/test-execution-report.json",
    "bag-info.txt",
    "bagit.txt",
    "integration-signoff.json",
    "manifest-sha256.txt",
    "tagmanifest-sha256.txt",
]


def gate_summary(number: int, **overrides: Any) -> dict[str, Any]:
    """One gate's result in the verification-summary shape the sign-off carries."""
    base = {
        "gate": number, "status": "pass",
        "verifier": {"id": "https://interlock.dev/gates", "version": {"interlock": "0.1.0"}},
        "timeVerified": "2025-06-01T12:04:00Z",
        "policy": {"uri": f"interlock.toml#gates.{number}", "digest": {"sha256": "c" * 64}},
        "verificationResult": "PASSED",
    }
    base.update(overrides)
    return base


def predicate(**overrides: Any) -> dict[str, Any]:
    base = {
        "approver": "Quality Orchestrator",
        "signed_at": "2025-06-01T12:05:00+00:00",
        "scope": "shop: orders, payments, inventory",
        "gates": [gate_summary(1), gate_summary(2)],
        "run_id": "run-0001",
        "waivers": [],
    }
    base.update(overrides)
    return base


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def fixed_keypair(directory: Path, seed: int) -> KeyPair:
    """A key from a fixed seed: Ed25519 signatures are deterministic, so bundles are too."""
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / "approver.pem", directory / "approver.pub")
    pair.private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    pair.public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return pair


def write_evidence_manifest(directory: Path) -> dict[str, Any]:
    manifest = build_manifest(directory, sorted(ARTIFACTS), meta=META)
    (directory / EVIDENCE_MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    return manifest


def seal(
    directory: Path,
    keys: KeyPair,
    *,
    pred: Mapping[str, Any] | None = None,
    files: list[str] | None = None,
    sign: Callable[[dict[str, Any], Path], dict[str, Any]] = sign_statement,
    edit_statement: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """The real step 4 sequence: bundle, sign what was sealed, re-bundle with the sign-off."""
    files = PAYLOAD_FILES if files is None else files
    zip_path = directory / BUNDLE_NAME
    write_bundle(directory, files, zip_path, bag_info=BAG_INFO)
    statement = make_statement(bundle_subjects(zip_path), predicate() if pred is None else dict(pred))
    if edit_statement:
        edit_statement(statement)
    envelope = sign(statement, keys.private)
    write_bundle(directory, files, zip_path, bag_info=BAG_INFO,
                 extra_tag_files={SIGNOFF_NAME: envelope_bytes(envelope)})
    return zip_path


def read_entries(zip_path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(zip_path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def rebuild(
    src: Path,
    dst: Path,
    *,
    replace: Mapping[str, bytes] | None = None,
    drop: Iterable[str] = (),
    add: Iterable[tuple[zipfile.ZipInfo | str, bytes]] = (),
) -> Path:
    """Write a consistent zip (valid CRCs) with some entries changed, dropped or added."""
    replace, drop = dict(replace or {}), set(drop)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in read_entries(src):
            if info.filename in drop:
                continue
            clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            clone.external_attr, clone.compress_type = info.external_attr, info.compress_type
            out.writestr(clone, replace.get(info.filename, data))
        for name, data in add:
            out.writestr(name, data)
    return dst


def flip(data: bytes, position: str) -> bytes:
    index = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[position]
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def flip_raw(zip_path: Path, name: str) -> None:
    """Flip one bit in the middle of an entry's stored (compressed) bytes, in place."""
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(zip_path.read_bytes())
    offset = info.header_offset
    name_len = int.from_bytes(raw[offset + 26:offset + 28], "little")
    extra_len = int.from_bytes(raw[offset + 28:offset + 30], "little")
    raw[offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
    zip_path.write_bytes(bytes(raw))
