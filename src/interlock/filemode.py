"""The mode of files interlock writes through a temporary file.

mkstemp creates its file 0600, so a rename would publish evidence that only its
writer can read; artifacts and bundles are for auditors and CI uploads, so they
get what open() would give under the process umask. Free of other imports:
the evidence package uses it too and must stay light.
"""

from __future__ import annotations

import os


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
