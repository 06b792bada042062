"""Reading an untrusted zip for verification: safe names, bounded sizes, streamed hashes.

Split from `verify` so the rules about what may be read at all (and how much)
live in one place: names are checked before anything is read, declared sizes
before decompressing, and actual sizes while decompressing. Only the few
entries the verifier parses are kept in memory, bounded by PARSED_ENTRY_LIMIT.
"""

from __future__ import annotations

import stat
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from interlock.evidence._common import CHUNK_SIZE, PipelinedSha256, name_problem

#: Tag files and the evidence manifest are parsed in memory; this bounds them.
PARSED_ENTRY_LIMIT = 64 << 20


@dataclass(frozen=True)
class ScannedEntry:
    """An entry read completely and safely."""

    sha256: str
    size: int
    content: bytes | None  # kept only for the entries named in `parsed`


@dataclass
class ZipScan:
    """Reads every file entry of one zip once; problems go to `add(entry, message)`."""

    bundle: str
    max_entry: int
    max_total: int
    parsed: frozenset[str]
    add: Callable[[str, str], None]
    present: set[str] = field(default_factory=set)  # every file entry, read or not
    declared: dict[str, int] = field(default_factory=dict)
    entries: dict[str, ScannedEntry] = field(default_factory=dict)
    total_read: int = 0
    stopped: bool = False

    def scan(self, zf: zipfile.ZipFile) -> None:
        infos = zf.infolist()
        counts = Counter(i.filename for i in infos)
        if zf.comment:
            self.add(self.bundle, "has an archive comment; interlock bundles never carry one")
        folded: dict[str, str] = {}
        seen: set[str] = set()
        readable: list[zipfile.ZipInfo] = []
        for info in infos:
            name = info.filename
            if name in seen:
                continue
            seen.add(name)
            if name.endswith("/"):
                problem = name_problem(name.rstrip("/"))
                if problem:
                    self.add(name, f"unsafe name: {problem}")
                elif info.file_size:
                    self.add(name, "directory entry with content")
                continue
            self.present.add(name)
            self.declared[name] = info.file_size
            refusal = self._refusal(info, counts[name], folded)
            if refusal:
                self.add(name, refusal)
            else:
                readable.append(info)
        declared_total = sum(i.file_size for i in readable)
        if declared_total > self.max_total:
            self.add(self.bundle, f"declared total size {declared_total} bytes exceeds the limit of "
                     f"{self.max_total} bytes (possible zip bomb); no entry was read")
            return
        with PipelinedSha256.worker() as pool:
            for info in readable:
                if self.stopped:
                    return
                self._read(zf, info, pool)

    def _refusal(self, info: zipfile.ZipInfo, count: int, folded: dict[str, str]) -> str | None:
        """Why an entry must not be read at all, or None."""
        name = info.filename
        problem = name_problem(name)
        if problem:
            return f"unsafe name: {problem}"
        if count > 1:
            return f"duplicate entry name ({count} entries)"
        other = folded.setdefault(unicodedata.normalize("NFC", name).casefold(), name)
        if other != name:
            return f"name collides with {other!r} when case and Unicode normalisation are ignored"
        file_type = stat.S_IFMT(info.external_attr >> 16)
        if file_type == stat.S_IFLNK:
            return "symlink entry: a bundle holds regular files only"
        if file_type not in (0, stat.S_IFREG):
            return "not a regular file"
        if info.flag_bits & 0x1:
            return "encrypted entry"
        if info.file_size > self.max_entry:
            return (f"declared size {info.file_size} bytes exceeds the per-entry limit of "
                    f"{self.max_entry} bytes (possible zip bomb); not read")
        return None

    def _read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, pool: ThreadPoolExecutor) -> None:
        """Stream one entry through sha256 (on the worker, overlapping the read and CRC check) with running size limits."""
        name = info.filename
        keep_limit = min(PARSED_ENTRY_LIMIT, self.max_entry)
        buf: bytearray | None = bytearray() if name in self.parsed else None
        digest, size = PipelinedSha256(pool), 0
        try:
            with zf.open(info) as fp:
                while chunk := fp.read(CHUNK_SIZE):
                    size += len(chunk)
                    self.total_read += len(chunk)
                    if size > self.max_entry:
                        self.add(name, f"stopped reading: decompressed size exceeds the per-entry "
                                 f"limit of {self.max_entry} bytes")
                        return
                    if self.total_read > self.max_total:
                        self.add(self.bundle, f"stopped reading at {name}: total decompressed size "
                                 f"exceeds the limit of {self.max_total} bytes")
                        self.stopped = True
                        return
                    digest.update(chunk)
                    if buf is not None:
                        if len(buf) + len(chunk) > keep_limit:
                            self.add(name, f"larger than {keep_limit} bytes, too large to parse")
                            buf = None
                        else:
                            buf += chunk
        except Exception as exc:  # corrupt data (CRC, zlib), unsupported method...: not intact
            self.add(name, f"unreadable: {type(exc).__name__}: {exc}")
            return
        if size != info.file_size:
            self.add(name, f"decompressed size {size} bytes differs from the declared {info.file_size} bytes")
            return
        self.entries[name] = ScannedEntry(digest.hexdigest(), size, bytes(buf) if buf is not None else None)
