"""Defect triage: every failure becomes a tracked defect with a stable identity.

The same failure in a later run is the same defect (its id derives from a
fingerprint of where it failed, not from a counter), and the fields people edit
in `defect-log.csv` (owner, status, ticket, mitigation, waiver) survive reruns.
`triage` and `merge` are pure; reading and writing the CSV sits at the edge,
in `DefectLog`: the one owner of the file (its shard-aware name, reading,
merging failures in, writing, and carrying a human edit into a killed run's
staging copy). No other module opens or writes it.
"""

from __future__ import annotations

from interlock.statuses import RegressionVerdict

import csv
import fnmatch
import hashlib
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.artifacts import DEFECT_LOG, ArtifactDir, writer_lock
from interlock.errors import Problem, UsageError
from interlock.shards import Shard
from interlock.state import staging_folders


COLUMNS = [
    "id", "fingerprint", "source", "title", "severity", "owner", "status", "ticket", "mitigation",
    "evidence", "rerun", "first_seen", "last_seen", "last_run", "occurrences", "regression",
    "waiver_approver", "waiver_reason", "waiver_expires", "message",
]
HUMAN_FIELDS = ("owner", "status", "ticket", "mitigation", "severity", "waiver_approver", "waiver_reason", "waiver_expires")
SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("open", "mitigated", "resolved", "waived")


@dataclass(frozen=True)
class Failure:
    """A failure seen in this run, before it is a defect."""

    source: str
    key: str
    title: str
    severity: str
    evidence: str
    rerun: str
    message: str
    service: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.source, self.key)


def fingerprint(source: str, key: str) -> str:
    """A failure's stable identity: where it failed, never when (the same failure in a later run is the same defect)."""
    return hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()[:16]


def defect_id(source: str, key: str) -> str:
    """The id the defect of a failure gets (`DEF-` and its fingerprint's first 8 hex digits)."""
    return f"DEF-{fingerprint(source, key)[:8]}"


def owner_for(failure: Failure, owners: dict[str, str], service_owners: dict[str, str | None]) -> str:
    """CODEOWNERS-style: the last matching pattern wins, then the service's owner."""
    found = None
    for pattern, owner in owners.items():
        if fnmatch.fnmatch(failure.key, pattern) or fnmatch.fnmatch(failure.key, f"{pattern}*") or pattern == failure.service:
            found = owner
    return found or (service_owners.get(failure.service or "") or "unassigned")


def merge(existing: list[dict[str, str]], failures: Iterable[Failure], *, run_id: str, now: str, owners: dict[str, str], service_owners: dict[str, str | None]) -> list[dict[str, str]]:
    """The new defect log: old rows kept, seen failures updated or added, resolved ones that failed again reopened."""
    rows = {row["fingerprint"]: dict(row) for row in existing}
    order = [row["fingerprint"] for row in existing]
    for failure in failures:
        fp = failure.fingerprint
        row = rows.get(fp)
        if row is None:
            row = {c: "" for c in COLUMNS}
            row.update(
                id=defect_id(failure.source, failure.key), fingerprint=fp, source=failure.source, severity=failure.severity,
                owner=owner_for(failure, owners, service_owners), status="open", first_seen=now, occurrences="0",
            )
            rows[fp] = row
            order.append(fp)
        if row.get("last_run") != run_id:
            row["occurrences"] = str(int(row.get("occurrences") or 0) + 1)
        if row["status"] == "resolved":
            row["status"], row["regression"] = "open", RegressionVerdict.FAIL
        row.update(title=failure.title, evidence=failure.evidence, rerun=failure.rerun, last_seen=now, last_run=run_id, message=failure.message[:2000])
    return [rows[fp] for fp in order]


def unmitigated_critical(rows: list[dict[str, str]], run_id: str | None = None) -> list[dict[str, str]]:
    """Critical defects that are open with no mitigation plan: the protocol's halt condition."""
    return [
        r for r in rows
        if r["severity"] == "critical" and r["status"] == "open" and not r["mitigation"].strip()
        and (run_id is None or r["last_run"] == run_id)
    ]


def read_log(path: Path) -> list[dict[str, str]]:
    """Read the defect log; a broken human edit is an input error naming the line."""
    if not path.is_file():
        return []
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise UsageError(Problem(str(path), "not UTF-8 text; save the defect log as UTF-8 CSV")) from None
    except OSError as exc:
        raise UsageError(Problem(str(path), f"cannot read the defect log: {exc.strerror}; check its permissions")) from None
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        missing = [c for c in ("id", "fingerprint", "severity", "status") if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(Problem(str(path), f"header lacks column(s) {', '.join(missing)}; restore the header row", 1))
        for row in reader:
            line = reader.line_num
            if None in row:
                raise UsageError(Problem(str(path), "more fields than the header; quote values that contain commas", line))
            clean = {c: (row.get(c) or "") for c in COLUMNS}
            if clean["severity"] not in SEVERITIES:
                raise UsageError(Problem(str(path), f"severity {clean['severity']!r} is not one of {', '.join(SEVERITIES)}", line, "severity"))
            if clean["status"] not in STATUSES:
                raise UsageError(Problem(str(path), f"status {clean['status']!r} is not one of {', '.join(STATUSES)}", line, "status"))
            rows.append(clean)
    except csv.Error as exc:
        raise UsageError(Problem(str(path), f"malformed CSV: {exc}; fix the quoting", reader.line_num)) from None
    return rows


def find(rows: list[dict[str, str]], defect_id: str) -> dict[str, str]:
    """A defect by id (or fingerprint prefix)."""
    for row in rows:
        if row["id"] == defect_id or row["fingerprint"].startswith(defect_id.removeprefix("DEF-")):
            return row
    raise UsageError(Problem(DEFECT_LOG.filename, f"no defect {defect_id!r}; `interlock defects list` shows the ids"))


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


@dataclass(frozen=True)
class DefectLog:
    """The defect log of one artifact folder (a shard's own file when `shard` is set): every read and write goes here.

    A shard of `interlock test --shard K/N` writes `defect-log.shard-K-of-N.csv`
    so shards never overwrite the full-suite log; `interlock merge` combines them.
    """

    folder: ArtifactDir
    shard: Shard | None = None

    @classmethod
    def at(cls, root: Path, shard: Shard | None = None) -> DefectLog:
        """The log in the folder at `root` (no redactor: for commands outside a run)."""
        return cls(ArtifactDir(root), shard)

    @property
    def name(self) -> str:
        """The file name: `defect-log.csv`, or the shard's `defect-log.shard-K-of-N.csv`."""
        return DEFECT_LOG.shard(self.shard)

    @property
    def path(self) -> Path:
        return self.folder.path(self.name)

    @property
    def full(self) -> DefectLog:
        """The full-suite log of the same folder, where a shard's triage starts from (human edits carry over)."""
        return DefectLog(self.folder)

    def exists(self) -> bool:
        return self.folder.exists(self.name)

    def read(self) -> list[dict[str, str]]:
        """The rows (none when the file is missing); a broken human edit is an input error naming the line."""
        return read_log(self.path)

    def write(self, rows: Iterable[dict[str, str]]) -> Path:
        """Write the rows with the log's stable columns, atomically and through the folder's redactor."""
        return self.folder.write_csv(self.name, COLUMNS, rows)

    def record(self, failures: Iterable[Failure], *, run_id: str, now: str, owners: dict[str, str],
               service_owners: dict[str, str | None]) -> list[dict[str, str]]:
        """Merge failures into this log and write it: what a step that finds defects outside triage does."""
        rows = merge(self.read(), failures, run_id=run_id, now=now, owners=owners, service_owners=service_owners)
        self.write(rows)
        return rows

    def staged(self) -> list[DefectLog]:
        """The same log in the staging folders beside this one (of a live run, or of killed ones `--resume` continues)."""
        return [DefectLog(ArtifactDir(folder, self.folder.redactor), self.shard) for folder in staging_folders(self.folder.root)]

    def edit(self, defect_id: str, changes: Mapping[str, str],
             write: Callable[[DefectLog, list[dict[str, str]]], object] | None = None) -> dict[str, str]:
        """Record a human decision on one defect here and in every killed run's staging copy that holds it.

        `interlock run --resume` continues that copy and then publishes it, so an
        edit made only to the published log would be lost. Under the folder's
        writer lock: a live run would publish over the edit just the same.
        `write` writes one log's rows (default `DefectLog.write`; the CLI's also
        ledgers the edit). Returns the edited row as it is now in this log.
        """
        put = write or DefectLog.write
        with writer_lock(self.folder.root):
            rows = self.read()
            target = find(rows, defect_id)
            target.update(changes)
            put(self, rows)
            for copy in self.staged():
                staged = copy.read()
                same = next((row for row in staged if row["fingerprint"] == target["fingerprint"]), None)
                if same is not None:
                    same.update(changes)
                    put(copy, staged)
        return target
