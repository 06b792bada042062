"""The evidence manifest (protocol step 4.1): every artifact with its digest.

`integration-evidence-manifest.json` is what the approver's signature binds
(through the bag's `manifest-sha256.txt` and this file's own digest), so it is
built only from the caller's metadata and the files' bytes: no clock, no
machine-specific MIME database, artifacts sorted by path. The same artifacts
and metadata always give the same manifest.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from interlock.evidence._common import (
    BUNDLE_NAME,
    EVIDENCE_MANIFEST_NAME,
    SIGNOFF_NAME,
    artifact_sha256,
    normalize_relpath,
)

MANIFEST_VERSION = 1

#: Files that can never be listed: they are made from the manifest itself.
NOT_LISTED = frozenset({EVIDENCE_MANIFEST_NAME, SIGNOFF_NAME, BUNDLE_NAME})

_REQUIRED_META = ("generated_at", "run_id", "environment", "interlock_version")

# Fixed table first: the system's mime.types differs between machines and
# would make the manifest (and so the signed digest) machine-dependent.
_MEDIA_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
}
# A private MimeTypes() uses only Python's built-in table, never /etc/mime.types.
_BUILTIN_TYPES = mimetypes.MimeTypes()


def media_type(relpath: str) -> str:
    """The media type recorded for an artifact, from its suffix only."""
    suffix = PurePosixPath(relpath).suffix.lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = _BUILTIN_TYPES.guess_type(relpath, strict=True)
    return guessed or "application/octet-stream"


def build_manifest(
    artifacts_dir: Path,
    files: Sequence[str],
    *,
    meta: Mapping[str, Any],
    provenance: Mapping[str, Mapping[str, str | None]] | None = None,
    prefixes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Build the content of `integration-evidence-manifest.json`.

    `files` are paths relative to `artifacts_dir`. The manifest itself, the
    sign-off and the zip are skipped if present: each is made from the
    manifest, so it cannot be listed in it.

    `meta` must hold `generated_at`, `run_id`, `environment`,
    `interlock_version`; it may hold `started_at`, `finished_at`, `tools`
    (name -> version), `git_commit`, `git_dirty` and `changes_digest` (see `interlock.identity`).

    `provenance` maps a relative path to `{"phase": ..., "command": ...}`;
    paths without an entry get None for both. `prefixes` lists append-only
    files (the run ledger) with the size to seal: their digest and size are
    of that prefix.

    Raises ValueError for missing metadata, unsafe or duplicate paths,
    symlinks, and OSError for unreadable files.
    """
    missing = [k for k in _REQUIRED_META if meta.get(k) in (None, "")]
    if missing:
        raise ValueError(f"manifest metadata is missing: {', '.join(missing)}")
    tools = dict(meta.get("tools") or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tools.items()):
        raise ValueError("manifest metadata 'tools' must map names to version strings")
    provenance = provenance or {}
    unknown = set(provenance) - {normalize_relpath(f) for f in files}
    if unknown:
        raise ValueError(f"provenance given for files not listed: {', '.join(sorted(unknown))}")

    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "generated_at": meta["generated_at"],
        "run_id": meta["run_id"],
        "environment": meta["environment"],
        "interlock_version": meta["interlock_version"],
        "tools": dict(sorted(tools.items())),
        "source": {"git_commit": meta.get("git_commit"), "git_dirty": meta.get("git_dirty"), "changes_digest": meta.get("changes_digest")},
    }
    for key in ("started_at", "finished_at"):
        if meta.get(key) is not None:
            manifest[key] = meta[key]
    manifest["artifacts"] = [
        _artifact_entry(artifacts_dir, rel, provenance.get(rel, {}), (prefixes or {}).get(rel))
        for rel in _listed_paths(files)
    ]
    return manifest


def _listed_paths(files: Sequence[str]) -> list[str]:
    """Normalized, sorted, duplicate-free paths, minus the never-listed ones."""
    seen: set[str] = set()
    for f in files:
        rel = normalize_relpath(f)
        if rel in seen:
            raise ValueError(f"{rel!r}: listed twice")
        seen.add(rel)
    return sorted(seen - NOT_LISTED)


def _artifact_entry(artifacts_dir: Path, rel: str, origin: Mapping[str, str | None], limit: int | None = None) -> dict[str, Any]:
    digest, size = artifact_sha256(artifacts_dir, rel, limit)
    return {
        "path": rel,
        "sha256": digest,
        "size": size,
        "media_type": media_type(rel),
        "phase": origin.get("phase"),
        "command": origin.get("command"),
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Serialize a manifest the one way interlock writes it (stable bytes)."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
