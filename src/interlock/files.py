"""Writing a file so that readers see the old one or the new one, never half of either.

Every file interlock publishes goes through `atomic_write`: a temporary file in
the same folder, fsync, rename. mkstemp creates that file 0600, so a rename
would publish evidence only its writer can read; artifacts and bundles are for
auditors and CI uploads, so by default they get what open() would give under
the process umask. Free of interlock's other imports: the evidence package
uses it and must stay light.

`sha256_stream` is the one way interlock hashes a file's bytes (a whole file,
a sealed prefix, a zip entry), so every digest that evidence records or
compares is computed alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

#: Read size when hashing: bounded memory whatever the file size.
CHUNK_SIZE = 1 << 20


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write bytes so that readers see the old file or the new one, never half of either.

    A write that fails (a full disk, a file size limit, a read-only folder)
    leaves the old file as it was and no temporary file behind, and raises an
    OSError that names `path` itself, so the user is told which artifact it was.
    `mode` is set before any byte is written: a private key is never readable
    by others, not even briefly.
    """
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write: {exc.strerror or exc}", str(path)) from exc
        raise


def sha256_stream(handle: IO[bytes], limit: int | None = None) -> tuple[str, int]:
    """The SHA-256 of what `handle` reads (its first `limit` bytes when given) and how many bytes that was, in CHUNK_SIZE reads."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - size)):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in chunks so evidence of any size costs little memory."""
    with path.open("rb") as handle:
        return sha256_stream(handle)[0]
