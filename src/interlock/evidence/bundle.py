"""`INTEGRATION-EVIDENCE.zip`: a BagIt bag (RFC 8493) in one deterministic zip.

The zip is written by hand rather than by zipping a bag folder made with the
`bagit` library, because it must be streamed (artifacts may be large) and
byte-for-byte reproducible: the same inputs give the same zip, so a bundle can
be rebuilt and compared, and a sign-off made over one build holds for the next.

Layout (entries in this order):
    data/<relpath>             every artifact, sorted by path
    bag-info.txt               the caller's fields + Payload-Oxum, sorted
    bagit.txt                  BagIt-Version 1.0, UTF-8
    <extra tag files>          e.g. integration-signoff.json (NOT in the tagmanifest)
    manifest-sha256.txt        sha256 of every data/ entry
    tagmanifest-sha256.txt     sha256 of bagit.txt, bag-info.txt, manifest-sha256.txt
(root tag files are sorted by name). Payload entries come first so that each
file is read exactly once, hashing while it is stored: the digests in the
manifests are always those of the bytes actually stored, even if a file
changes while the bundle is written.

Compression (measured by bench/bench_bundle.py; see docs/decisions.md): deflate
runs at 15–120 MB/s here against SHA-256's ~1 GB/s, so only small text is
deflated: a textual entry (by media type) of at most DEFLATE_MAX_ENTRY bytes,
while the entries deflated so far total at most DEFLATE_BUDGET bytes (entries
in sorted order, sizes as found when opened). Everything else, logs of any
size and binary or already-compressed files, is STORED. The choice depends
only on names and sizes, so it is as deterministic as the rest; a STORED
entry's bytes do not even depend on the zlib build. SHA-256 runs on a worker
thread one chunk behind the copy (`PipelinedSha256`), so hashing overlaps
reading, CRC-32 and writing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from interlock.evidence._common import (
    BAG_INFO_TXT,
    BAGIT_TXT,
    BAGIT_TXT_CONTENT,
    CHUNK_SIZE,
    DATA_PREFIX,
    MAX_ENTRIES,
    MAX_ENTRY_BYTES,
    MAX_TOTAL_BYTES,
    PAYLOAD_MANIFEST,
    REQUIRED_SUBJECTS,
    TAG_MANIFEST,
    PipelinedSha256,
    encode_manifest_path,
    name_problem,
    normalize_relpath,
    open_artifact,
)
from interlock.evidence.manifest import media_type
from interlock.files import FILE_MODE, sha256_stream

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
COMPRESS_LEVEL = 6  # zlib's default: for the small text entries only, where it costs milliseconds
#: Textual entries up to this size are deflated (while the budget lasts); larger ones are STORED.
DEFLATE_MAX_ENTRY = 1 << 20
#: Bytes deflated per bundle at most: bounds the time deflate can add, whatever the number of small files.
DEFLATE_BUDGET = 8 << 20
#: Start writing the zip out every this many bytes (see `_Copier`).
WRITEBACK_STEP = 32 << 20
_TEXTUAL_TYPES = frozenset({
    "application/json", "application/jsonl", "application/xml", "application/yaml", "application/toml",
    "application/javascript", "image/svg+xml",
})
# Above this, the entry is written as ZIP64 (the local header then carries the
# ZIP64 extra field; smaller entries carry no extra field at all).
ZIP64_THRESHOLD = 1 << 30


def write_bundle(
    artifacts_dir: Path,
    files: Sequence[str],
    zip_path: Path,
    *,
    bag_info: Mapping[str, str],
    extra_tag_files: Mapping[str, bytes] | None = None,
    prefixes: Mapping[str, int] | None = None,
) -> None:
    """Write `zip_path` atomically as a BagIt bag of `files` (relative to `artifacts_dir`).

    `prefixes` seals only the first N bytes of an append-only file (the run
    ledger, as it was when the manifest was made; lines appended since are
    not part of that evidence).

    `bag_info` fields go into bag-info.txt as given (no Bagging-Date unless
    passed); Payload-Oxum is computed. `extra_tag_files` are written at the
    bag root but left out of the tagmanifest: the sign-off signs the
    manifests, so it cannot be covered by them.

    Raises ValueError for unsafe, duplicate or reserved names, bad bag-info
    fields and files beyond the limits `verify_bundle` enforces
    (MAX_ENTRY_BYTES each, MAX_TOTAL_BYTES in all, MAX_ENTRIES entries), OSError for unreadable
    files; the previous zip (if any) is left untouched on any error.
    """
    rels = _payload_paths(files)
    extras = _check_extra_tag_files(extra_tag_files or {})
    fields = _check_bag_info(bag_info)
    entries = len(rels) + len(extras) + 4  # the payload, the extra tag files, bagit.txt, bag-info.txt and both manifests
    if entries > MAX_ENTRIES:
        raise ValueError(f"{len(rels)} files make a bundle of {entries} entries, more than the {MAX_ENTRIES} "
                         "`interlock verify` reads; bundle fewer, larger files (an archive of the logs)")
    zip_resolved = zip_path.resolve()
    for rel in rels:
        if (artifacts_dir / rel).resolve() == zip_resolved:
            raise ValueError(f"{rel!r}: the bundle cannot contain itself")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{zip_path.name}.", suffix=".tmp", dir=zip_path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w+b") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as zf, PipelinedSha256.worker() as pool:
                copier = _Copier(zf, raw, pool)
                manifest_lines = []
                total_bytes = 0
                for rel in rels:
                    digest, size = copier.add(artifacts_dir, rel, (prefixes or {}).get(rel))
                    manifest_lines.append(f"{digest}  {encode_manifest_path(DATA_PREFIX + rel)}\n")
                    total_bytes += size
                tags = {
                    BAGIT_TXT: BAGIT_TXT_CONTENT,
                    BAG_INFO_TXT: _bag_info_bytes({**fields, "Payload-Oxum": f"{total_bytes}.{len(rels)}"}),
                    PAYLOAD_MANIFEST: "".join(manifest_lines).encode("utf-8"),
                }
                tags[TAG_MANIFEST] = "".join(
                    f"{hashlib.sha256(tags[name]).hexdigest()}  {name}\n" for name in sorted(tags)
                ).encode("utf-8")
                tags.update(extras)
                for name in sorted(tags):
                    with zf.open(_zipinfo(name, len(tags[name])), "w") as out:
                        out.write(tags[name])
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, zip_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def textual(rel: str) -> bool:
    """Whether an entry is text by its media type (suffix only): such entries may be deflated, and are redacted before sealing."""
    kind = media_type(rel)
    return kind.startswith("text/") or kind in _TEXTUAL_TYPES


def deflates(rel: str, size: int, budget_left: int) -> bool:
    """Whether the payload entry `rel` of `size` bytes is deflated (else STORED); see the module doc."""
    return textual(rel) and size <= DEFLATE_MAX_ENTRY and size <= budget_left


def _zipinfo(name: str, size: int, *, deflate: bool = True) -> zipfile.ZipInfo:
    """A ZipInfo with every field that could vary between runs pinned."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    if deflate:
        if hasattr(zipfile.ZipInfo, "compress_level"):  # Python >= 3.13
            info.compress_level = COMPRESS_LEVEL  # type: ignore[attr-defined]
        else:
            info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]
    info.create_system = 3  # Unix, so the mode bits mean the same everywhere
    info.external_attr = ZIP_FILE_MODE << 16
    info.file_size = size  # lets zipfile pick ZIP64 from the size, not from the clock
    return info


class _Copier:
    """Copies artifacts into data/ entries: read once, hashed (on the worker) and stored from the same buffer.

    Two reusable buffers alternate, so the worker can hash chunk n while
    this thread reads chunk n+1 into the other; `PipelinedSha256.update`
    returns only once chunk n-1 is hashed, so a buffer is never refilled
    while it is being hashed. Every WRITEBACK_STEP bytes, the kernel is asked
    to start writing the zip out (`posix_fadvise(DONTNEED)` starts writeback
    of dirty pages without waiting for it), so the final fsync waits for the
    last few MiB instead of the whole bundle.
    """

    def __init__(self, zf: zipfile.ZipFile, raw: BinaryIO, pool: ThreadPoolExecutor) -> None:
        self.zf, self.raw, self.pool = zf, raw, pool
        self.buffers = (bytearray(CHUNK_SIZE), bytearray(CHUNK_SIZE))
        self.turn = 0
        self.deflate_left = DEFLATE_BUDGET
        self.written_back = 0
        self.total = 0

    def add(self, artifacts_dir: Path, rel: str, limit: int | None = None) -> tuple[str, int]:
        """Store one artifact (only its first `limit` bytes when given); returns (sha256 hex, size) of the very bytes stored."""
        digest = PipelinedSha256(self.pool)
        size = 0
        with open_artifact(artifacts_dir, rel) as src:
            expected = os.fstat(src.fileno()).st_size
            if limit is not None:
                if limit > expected:
                    raise ValueError(f"{rel}: {expected} bytes, shorter than the {limit} bytes sealed before: it was cut since")
                expected = limit
            self._check_limits(rel, expected)
            deflate = deflates(rel, expected, self.deflate_left)
            if deflate:
                self.deflate_left -= expected
            info = _zipinfo(DATA_PREFIX + rel, expected, deflate=deflate)
            with self.zf.open(info, "w", force_zip64=expected >= ZIP64_THRESHOLD) as out:
                while True:
                    buffer = self.buffers[self.turn]
                    self.turn ^= 1
                    want = len(buffer) if limit is None else min(len(buffer), limit - size)
                    n = src.readinto(memoryview(buffer)[:want]) if want else 0
                    if not n:
                        break
                    chunk = memoryview(buffer)[:n]
                    digest.update(chunk)  # hashed on the worker while this thread CRCs and writes it
                    out.write(chunk)
                    size += n
                    if size > expected:  # grew while being copied: check again
                        self._check_limits(rel, size)
                    self._write_back()
        self.total += size
        return digest.hexdigest(), size

    def _check_limits(self, rel: str, size: int) -> None:
        if size > MAX_ENTRY_BYTES:
            raise ValueError(f"{rel}: {size} bytes is more than the {MAX_ENTRY_BYTES} bytes a bundle entry may hold "
                             "(interlock verify would refuse it)")
        if self.total + size > MAX_TOTAL_BYTES:
            raise ValueError(f"{rel}: the bundle would hold more than {MAX_TOTAL_BYTES} bytes in all "
                             "(interlock verify would refuse it)")

    def _write_back(self) -> None:
        position = self.raw.tell()
        if position - self.written_back < WRITEBACK_STEP or not hasattr(os, "posix_fadvise"):
            return
        try:
            os.posix_fadvise(self.raw.fileno(), self.written_back, position - self.written_back, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass  # only a hint: the final fsync writes whatever is left
        self.written_back = position


def _payload_paths(files: Sequence[str]) -> list[str]:
    rels = [normalize_relpath(f) for f in files]
    dupes = sorted({r for r in rels if rels.count(r) > 1})
    if dupes:
        raise ValueError(f"listed twice: {', '.join(dupes)}")
    return sorted(rels)


_RESERVED_PREFIXES = ("manifest-", "tagmanifest-")


def _check_extra_tag_files(extra: Mapping[str, bytes]) -> dict[str, bytes]:
    """Extra tag files must be plain root names that cannot shadow bag files."""
    for name, content in extra.items():
        problem = name_problem(name)
        if problem:
            raise ValueError(f"extra tag file {name!r}: {problem}")
        if "/" in name:
            raise ValueError(f"extra tag file {name!r}: must be at the bag root")
        if name in (BAGIT_TXT, BAG_INFO_TXT, "data") or name.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"extra tag file {name!r}: reserved BagIt name")
        if not isinstance(content, bytes):
            raise ValueError(f"extra tag file {name!r}: content must be bytes")
    return dict(extra)


def _check_bag_info(bag_info: Mapping[str, str]) -> dict[str, str]:
    """Refuse labels/values that would change meaning once written as tag lines."""
    for label, value in bag_info.items():
        if not isinstance(label, str) or not label or label != label.strip() or ":" in label:
            raise ValueError(f"bag-info label {label!r}: must be non-empty, without ':' or edge spaces")
        if any(c in label for c in "\r\n"):
            raise ValueError(f"bag-info label {label!r}: contains a line break")
        if label.lower() == "payload-oxum":
            raise ValueError("bag-info Payload-Oxum is computed, do not pass it")
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            raise ValueError(f"bag-info {label}: value must be a single-line string")
    return dict(bag_info)


def _bag_info_bytes(fields: Mapping[str, str]) -> bytes:
    return "".join(f"{label}: {fields[label]}\n" for label in sorted(fields)).encode("utf-8")


def bundle_subjects(zip_path: Path, *, max_entry_bytes: int = 1 << 30) -> dict[str, str]:
    """sha256 of the entries a sign-off must bind, read from a written bundle.

    Returns {"manifest-sha256.txt": hex, "tagmanifest-sha256.txt": hex,
    "data/integration-evidence-manifest.json": hex}, ready for `make_statement`. Signing what is actually in the zip (rather
    than recomputing it) means the signer approves exactly what was sealed.
    Raises ValueError if an entry is missing or larger than `max_entry_bytes`.
    """
    subjects: dict[str, str] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in REQUIRED_SUBJECTS:
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise ValueError(f"{zip_path.name}: has no {name}") from None
            if info.file_size > max_entry_bytes:
                raise ValueError(f"{zip_path.name}: {name} is larger than {max_entry_bytes} bytes")
            with zf.open(info) as fp:
                subjects[name] = sha256_stream(fp)[0]
    return subjects


def sealed_run_id(zip_path: Path) -> str | None:
    """The run a bundle sealed (its bag-info External-Identifier); None when the zip cannot say (unverified: for display)."""
    try:
        with zipfile.ZipFile(zip_path) as bundle:
            text = bundle.read(BAG_INFO_TXT)[:65536].decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    found = next((line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("External-Identifier:")), "")
    return found or None
