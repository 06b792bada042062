"""Splitting a suite into N deterministic, balanced shards (pure: node ids in, assignment out).

Every shard machine computes the same split from the same inputs, so no
coordinator is needed: the suite's selected node ids (relative to the system's
root) and, when the previous report has them, each test's recorded duration.
With durations the split is greedy longest-processing-time (the longest test
goes to the least-loaded shard; a test without a recorded duration counts as the
median one); without them a test's shard is a stable hash of its node id. Each
shard records the suite's digest, its own selection and the partition's digest,
so `interlock merge` can prove the shards together are the whole suite, once.

Kept free of heavy imports: the pytest plugin loads it inside every worker.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any, Iterable

_SPEC = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `total`."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N` with 1 <= K <= N; ValueError with the reason otherwise."""
        match = _SPEC.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not K/N (e.g. 2/4)")
        index, total = int(match.group(1)), int(match.group(2))
        if index > total:
            raise ValueError(f"{text!r}: K must be between 1 and N")
        return cls(index, total)

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    @property
    def suffix(self) -> str:
        """The artifact name part: `shard-K-of-N`."""
        return f"shard-{self.index}-of-{self.total}"

    def artifact(self, filename: str) -> str:
        """`test-execution-report.json` -> `test-execution-report.shard-K-of-N.json`."""
        stem, dot, ext = filename.rpartition(".")
        return f"{stem}.{self.suffix}.{ext}" if dot else f"{filename}.{self.suffix}"


SHARD_FILE = re.compile(r"^(?P<stem>.+)\.shard-(?P<k>[1-9][0-9]*)-of-(?P<n>[1-9][0-9]*)\.(?P<ext>[a-z]+)$")


def digest(nodeids: Iterable[str]) -> str:
    """SHA-256 over the sorted, distinct node ids: the identity of a selection, independent of order."""
    text = "\n".join(sorted(set(nodeids)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bucket(nodeid: str, total: int) -> int:
    return int.from_bytes(hashlib.sha256(nodeid.encode("utf-8")).digest()[:8], "big") % total


def assign(nodeids: list[str], total: int, durations: dict[str, float] | None = None) -> dict[str, int]:
    """Each node id's shard (1-based): LPT over recorded durations when any apply, else a stable hash."""
    known = {n: durations[n] for n in nodeids if durations and n in durations}
    if not known:
        return {n: _bucket(n, total) + 1 for n in nodeids}
    typical = median(known.values())
    loads = [0.0] * total
    result: dict[str, int] = {}
    for nodeid in sorted(set(nodeids), key=lambda n: (-known.get(n, typical), n)):
        target = min(range(total), key=lambda i: (loads[i], i))
        loads[target] += known.get(nodeid, typical)
        result[nodeid] = target + 1
    return result


def partition_digest(suite: str, total: int, durations: dict[str, float] | None) -> str:
    """Identifies how the suite was split: shards split differently cannot be merged."""
    basis = json.dumps([suite, total, sorted((durations or {}).items())], separators=(",", ":"))
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def plan(nodeids: list[str], shard: Shard, durations: dict[str, float] | None = None) -> dict[str, Any]:
    """What a shard runs and the facts a merge checks: suite digest and size, partition, balance, selection."""
    usable = {n: d for n, d in (durations or {}).items() if n in set(nodeids)}
    owner = assign(nodeids, shard.total, usable)
    suite = digest(nodeids)
    return {
        "shard": str(shard),
        "suite": {"tests": len(set(nodeids)), "sha256": suite},
        "partition": partition_digest(suite, shard.total, usable),
        "balance": "durations" if usable else "hash",
        "selection": [n for n in nodeids if owner[n] == shard.index],
    }


def relocate(nodeid: str, report_root: Path, root: Path) -> str:
    """A node id relative to the system's root (pytest's rootdir may be a parent with its own ini file)."""
    path, sep, rest = nodeid.partition("::")
    try:
        relative = (report_root / path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return nodeid
    return ("" if relative == "." else relative) + sep + rest
