"""Names, limits and small helpers shared by the evidence modules.

Private on purpose: the public names are re-exported by `interlock.evidence`.
Everything that turns a caller's path into a bag entry goes through
`normalize_relpath` and `open_artifact`, so the writer and the verifier agree
on what a safe name is.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from interlock.artifacts import BUNDLE, MANIFEST, SIGNOFF
from interlock.files import sha256_stream

CHUNK_SIZE = 1 << 20  # 1 MiB: bounded memory whatever the file size
#: Chunks smaller than this are hashed on the caller's thread: a hand-off would cost more than it saves.
PIPELINE_MIN_CHUNK = 256 << 10

BUNDLE_NAME = BUNDLE.filename
EVIDENCE_MANIFEST_NAME = MANIFEST.filename
SIGNOFF_NAME = SIGNOFF.filename

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://interlock.dev/signoff/v1"

BAGIT_TXT = "bagit.txt"
BAG_INFO_TXT = "bag-info.txt"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
BAGIT_TXT_CONTENT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
DATA_PREFIX = "data/"
#: Bag entry names of the things a sign-off must bind: the bag's payload
#: manifest and tag manifest (so every payload file and bag-info.txt), and the
#: evidence manifest (what each artifact is and where it came from).
EVIDENCE_MANIFEST_ENTRY = DATA_PREFIX + EVIDENCE_MANIFEST_NAME
REQUIRED_SUBJECTS = (PAYLOAD_MANIFEST, TAG_MANIFEST, EVIDENCE_MANIFEST_ENTRY)

GiB = 1 << 30
#: The most one entry and all entries of a bundle may hold. `verify_bundle`
#: refuses bigger ones (a zip bomb declares or inflates to more), so
#: `write_bundle` refuses to seal what could then never be verified.
MAX_ENTRY_BYTES = 4 * GiB
MAX_TOTAL_BYTES = 64 * GiB
#: The most entries, and central-directory bytes, a bundle may have. zipfile
#: builds one object per entry from the central directory before anything can
#: be checked, so `verify_bundle` refuses a zip beyond these from its end
#: record alone (memory stays bounded), and `write_bundle` refuses to seal one.
#: 10,000 evidence files with ~150-byte names fit with room to spare.
MAX_ENTRIES = 10_000
MAX_CENTRAL_DIRECTORY_BYTES = 4 << 20
#: The most values (numbers, strings, objects...) one JSON document read from
#: a bundle may hold: far above an evidence manifest of MAX_ENTRIES artifacts,
#: far below what would take verification's memory past its bound.
MAX_JSON_VALUES = 200_000

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def is_sha256_hex(value: object) -> bool:
    """True for a lowercase 64-digit hex string (the only form we write)."""
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


def name_problem(name: str) -> str | None:
    """Why `name` is not a safe relative POSIX path, or None if it is.

    Used for both the caller's file list and the zip's entry names: anything
    that could land outside the extraction folder, or mean different files on
    different systems, is refused.
    """
    if not name:
        return "empty name"
    if name.startswith("/") or _DRIVE_RE.match(name):
        return "absolute path"
    if "\\" in name:
        return "contains a backslash"
    if any(c in name for c in "\r\n\x00"):
        return "contains a control character (CR, LF or NUL)"
    parts = name.split("/")
    if ".." in parts:
        return "contains a '..' component"
    if any(p in ("", ".") for p in parts):
        return "contains an empty or '.' component"
    return None


def normalize_relpath(rel: str | os.PathLike[str]) -> str:
    """Return `rel` as a relative POSIX path string, or raise ValueError."""
    text = os.fspath(rel)
    if os.sep != "/":  # pragma: no cover - Windows callers
        text = text.replace(os.sep, "/")
    problem = name_problem(text)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return text


def open_artifact(artifacts_dir: Path, rel: str) -> io.BufferedReader:
    """Open artifacts_dir/rel for reading, refusing symlinks and non-files.

    Evidence must be the file that sits in the artifacts folder, not whatever
    a link points at, so the last component is opened with O_NOFOLLOW and the
    resolved parent must stay inside the artifacts folder.
    """
    root = artifacts_dir.resolve()
    path = artifacts_dir / rel
    parent = path.parent.resolve()
    if parent != root and root not in parent.parents:
        raise ValueError(f"{rel}: resolves outside {artifacts_dir}")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise ValueError(f"{rel}: is a symlink; evidence must be a regular file") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{rel}: not a regular file")
    return os.fdopen(fd, "rb")


class PipelinedSha256:
    """SHA-256 of a stream of chunks, computed on a worker thread one chunk behind the caller.

    hashlib releases the GIL while it hashes a large buffer, as zlib's CRC-32
    and file I/O do, so while the worker hashes chunk n the caller can store
    or CRC-check chunk n and read chunk n+1: the copy costs about as much as
    hashing alone. At most one chunk is in flight (memory stays bounded), and
    updates stay in order. A chunk (bytes, or a view of a buffer the caller
    reuses) must stay unchanged until the next `update` or `hexdigest` call
    on the same digest returns: that call waits for it to be hashed.
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._digest = hashlib.sha256()
        self._pending: Future[None] | None = None

    @staticmethod
    @contextmanager
    def worker() -> Iterator[ThreadPoolExecutor]:
        """The one hashing thread, shared by every digest of a bundle and joined on exit."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlock-sha256") as pool:
            yield pool

    def update(self, chunk: bytes | memoryview) -> None:
        self._wait()
        if len(chunk) < PIPELINE_MIN_CHUNK:  # memoryviews here are 1-D bytes: len is the byte count
            self._digest.update(chunk)
        else:
            self._pending = self._pool.submit(self._digest.update, chunk)

    def hexdigest(self) -> str:
        self._wait()
        return self._digest.hexdigest()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


def artifact_sha256(artifacts_dir: Path, rel: str, limit: int | None = None) -> tuple[str, int]:
    """One artifact (only its first `limit` bytes when given), opened safely, through `files.sha256_stream`; returns (hex digest, size)."""
    with open_artifact(artifacts_dir, rel) as fp:
        digest, size = sha256_stream(fp, limit)
    if limit is not None and size < limit:
        raise ValueError(f"{rel}: {size} bytes, shorter than the {limit} bytes to seal")
    return digest, size


def encode_manifest_path(path: str) -> str:
    """Percent-encode a file path for a BagIt manifest line (RFC 8493 §2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(path: str) -> str:
    """Inverse of `encode_manifest_path` (case-insensitive hex, per the RFC)."""
    table = {"%25": "%", "%0d": "\r", "%0a": "\n"}
    return re.sub(r"%(25|0[dDaA])", lambda m: table[m.group(0).lower()], path)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # counted in linear time: an object may have many keys
        dupes = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ValueError(f"duplicate JSON key(s): {', '.join(dupes)[:200]}")
    return result


#: A JSON string (escapes included), matched without backtracking.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_value_bound(data: bytes) -> int:
    """An upper bound on the number of values in the JSON text `data`, counted without parsing it.

    Outside strings every value but the first of a container follows a comma,
    and every container opens with a bracket; so commas + brackets + 1 bounds
    the values (an object has as many keys as values). A parse would build
    them all in memory first.
    """
    bare = _JSON_STRING.sub(b"", data)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1


def loads_strict(data: bytes, max_values: int = MAX_JSON_VALUES) -> Any:
    """Parse UTF-8 JSON, refusing duplicate keys and more than `max_values` values.

    Two parsers may pick different values for a duplicated key; for signed or
    hashed evidence that ambiguity is itself a defect. A document of millions
    of tiny values is refused before parsing: as Python objects it would take
    tens of times its size in memory.
    """
    values = json_value_bound(data)
    if values > max_values:
        raise ValueError(f"holds about {values} JSON values, more than the {max_values} an interlock document may hold")
    return json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
