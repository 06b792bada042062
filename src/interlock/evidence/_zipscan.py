"""Reading an untrusted zip for verification: safe names, bounded sizes, streamed hashes.

Split from `verify` so the rules about what may be read at all (and how much)
live in one place: names are checked before anything is read, declared sizes
before decompressing, and actual sizes while decompressing. Only the few
entries the verifier parses are kept in memory, each bounded by its own limit
(PARSED_ENTRY_LIMIT, or TAG_FILE_LIMIT for the small tag files).
"""

from __future__ import annotations

import os
import stat
import struct
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from interlock.evidence._common import (
    CHUNK_SIZE,
    MAX_CENTRAL_DIRECTORY_BYTES,
    MAX_ENTRIES,
    PipelinedSha256,
    name_problem,
)

#: Tag files and the evidence manifest are parsed in memory; this bounds each
#: of them. Parsed, a manifest takes several times its size (a string, a dict
#: slot and a digest per line), and six such entries must stay well inside
#: verification's 150 MiB; 4 MiB still holds a payload manifest of MAX_ENTRIES
#: files with 300-byte names.
PARSED_ENTRY_LIMIT = 4 << 20
#: bagit.txt, bag-info.txt and the tag manifest hold a few short lines in any
#: bundle interlock writes; parsed, a tag line costs far more than its bytes.
TAG_FILE_LIMIT = 64 << 10

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_EOCD_SEARCH = _EOCD.size + 0xFFFF  # the record, then at most a 64 KiB comment


def central_directory_refusal(raw: BinaryIO, max_entries: int = MAX_ENTRIES,
                              max_bytes: int = MAX_CENTRAL_DIRECTORY_BYTES) -> str | None:
    """Why a zip's central directory is too large to read, from its end record alone; None if it is not.

    zipfile reads the whole central directory and builds an object per entry
    before any entry can be looked at, so a zip of a million tiny entries
    would cost gigabytes of memory; this reads a few bytes first. A zip whose
    end record cannot be found is left to zipfile, which then refuses it.
    """
    size = raw.seek(0, os.SEEK_END)
    start = max(0, size - _EOCD_SEARCH)
    raw.seek(start)
    tail = raw.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        return None
    _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and at >= _ZIP64_LOCATOR.size:
        sig, _, offset, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if sig == b"PK\x06\x07" and offset + _ZIP64_EOCD.size <= size:
            raw.seek(offset)
            record = raw.read(_ZIP64_EOCD.size)
            if record[:4] == b"PK\x06\x06":
                fields = _ZIP64_EOCD.unpack(record)
                entries, cd_size = fields[7], fields[8]
    raw.seek(0)
    if entries > max_entries:
        return f"declares {entries} entries, more than the {max_entries} a bundle may hold; not read"
    if cd_size > max_bytes:
        return f"central directory of {cd_size} bytes, more than the {max_bytes} a bundle may have; not read"
    return None


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
    parsed: Mapping[str, int]  # entry name -> the most bytes of it kept for parsing
    add: Callable[[str, str], None]
    present: set[str] = field(default_factory=set)  # every file entry, read or not
    declared: dict[str, int] = field(default_factory=dict)
    entries: dict[str, ScannedEntry] = field(default_factory=dict)
    total_read: int = 0
    stopped: bool = False

    def scan(self, zf: zipfile.ZipFile) -> None:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:  # the end record understated them
            self.add(self.bundle, f"has {len(infos)} entries, more than the {MAX_ENTRIES} a bundle may hold; no entry was read")
            return
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
        keep_limit = min(self.parsed.get(name, 0), self.max_entry)
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
