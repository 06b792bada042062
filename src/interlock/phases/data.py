"""Step 1.3: the test data inventory: every dataset's source, digest, size, freshness and presence.

A dataset is only trusted when its file is the one declared (SHA-256), it was
refreshed within its cadence, and the environment step saw it seeded in its
store (and, where `checksum = true`, saw the table's content equal the file's);
the inventory says which of these held. The last refresh is the file's
last commit (what reviewers can trace), its mtime only outside git.
"""

from __future__ import annotations

from interlock.paths import shown
from interlock.statuses import CheckStatus

import csv
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from interlock.artifacts import ENVIRONMENT_REPORT, TEST_DATA_INVENTORY
from interlock.config import Dataset
from interlock.documents import load_pact, pact_files
from interlock.errors import UsageError
from interlock.events import ArtifactWritten
from interlock.files import sha256_file
from interlock.statuses import StepStatus
from interlock.protocol import Outcome
from interlock.probes.sql import TableContent
from interlock.context import RunContext, utc_now

INVENTORY = TEST_DATA_INVENTORY.filename
ENV_REPORT = ENVIRONMENT_REPORT.filename
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
HEADER = ("Dataset", "Source", "File", "SHA-256", "Rows", "Store/table", "Present in store", "Content checksum", "Refresh cadence", "Last refresh",
          "Status")


def cadence(text: str) -> timedelta:
    """`12h`, `7d`, `2w` as a timedelta (the config has already checked the form)."""
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def data_rows(path: Path) -> int | None:
    """Data rows of a CSV file (header and blank lines excluded); None for other or unreadable files."""
    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return max(0, sum(1 for row in csv.reader(handle) if any(cell.strip() for cell in row)) - 1)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def csv_content(path: Path, source: str) -> TableContent:
    """A CSV dataset as the content its table must hold: the header names the columns, blank lines are skipped.

    Raises ValueError naming the line when the file cannot be read or a row has
    another number of cells than the header.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header: list[str] | None = None
            rows: list[list[str]] = []
            origins: list[str] = []
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if header is None:
                    header = [cell.strip() for cell in cells]
                    continue
                if len(cells) != len(header):
                    raise ValueError(f"{source} line {reader.line_num}: {len(cells)} cells where the header names {len(header)} columns")
                rows.append(cells)
                origins.append(f"line {reader.line_num}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {source}: {exc}") from exc
    if not header or not all(header):
        raise ValueError(f"{source} has no header row naming every column")
    return TableContent.of(header, rows, origins, source)


def last_refresh(root: Path, path: Path) -> tuple[datetime, str]:
    """When the file last changed, in UTC, and how that is known ("git" or "mtime")."""
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%cI", "--", str(path)], cwd=root, capture_output=True, text=True, timeout=10)
        if done.returncode == 0 and done.stdout.strip():
            return datetime.fromisoformat(done.stdout.strip()).astimezone(timezone.utc), "git"
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), "mtime"


@dataclass
class Entry:
    """One dataset's inventory row and what is wrong with it."""

    name: str
    dataset: Dataset
    sha256: str | None = None
    rows: int | None = None
    present: str = "not verified"
    checksum: str = "not asked"
    refreshed: str = "—"
    problems: list[str] = field(default_factory=list)


def _presence(ctx: RunContext) -> dict[str, dict[str, Any]] | None:
    """The environment report's checks by id, or None when step 1.2 left no readable report for this environment."""
    try:
        report = ctx.artifacts.read_json_or_none(ENV_REPORT)
    except UsageError:
        return None
    if not isinstance(report, dict) or report.get("environment") != ctx.env_name:
        return None
    return {c["id"]: c for c in report["checks"]}


def inspect(ctx: RunContext, name: str, dataset: Dataset, checks: dict[str, dict[str, Any]] | None, now: datetime) -> Entry:
    """Everything the inventory says about one dataset."""
    entry = Entry(name, dataset)
    path = ctx.loaded.resolve(dataset.path)
    if not path.is_file():
        entry.problems.append(f"file {dataset.path} is missing")
    else:
        entry.sha256, entry.rows = sha256_file(path), data_rows(path)
        if dataset.sha256 and entry.sha256 != dataset.sha256:
            entry.problems.append(f"sha256 {entry.sha256[:12]}… where {dataset.sha256[:12]}… is declared")
        when, how = last_refresh(ctx.loaded.root, path)
        age = now - when
        entry.refreshed = f"{when.isoformat(timespec='seconds').replace('+00:00', 'Z')} ({how})"
        if age > cadence(dataset.refresh):
            entry.problems.append(f"stale: last refreshed {age.days}d {age.seconds // 3600}h ago, cadence {dataset.refresh}")
    check = (checks or {}).get(f"{dataset.store}.table.{dataset.table}")
    if check is not None and check["status"] == CheckStatus.PASS:
        rows = (check.get("details") or {}).get("rows")
        entry.present = "yes" if rows is None else f"yes ({rows} rows)"
    elif check is not None:
        entry.present = f"no: {check['reason']}"
        entry.problems.append(f"not as seeded in {dataset.store}.{dataset.table}: {check['reason']}")
    elif checks is not None:
        entry.present = "no: step 1.2 did not check it"
        entry.problems.append(f"presence in {dataset.store}.{dataset.table} was not checked by step 1.2")
    if dataset.checksum:
        _checksum_verdict(entry, (checks or {}).get(f"{dataset.store}.checksum.{dataset.table}"), checks is not None)
    return entry


def _checksum_verdict(entry: Entry, check: dict[str, Any] | None, verified: bool) -> None:
    """What step 1.2's content checksum said; a checksum asked for and never computed fails."""
    where = f"{entry.dataset.store}.{entry.dataset.table}"
    if check is None:
        entry.checksum = "not verified"
        if verified:
            entry.checksum = "no: step 1.2 did not compute it"
            entry.problems.append(f"content checksum of {where} was asked for but not computed by step 1.2")
        return
    digest = (check.get("details") or {}).get("sha256")
    if check["status"] == CheckStatus.PASS:
        entry.checksum = f"matches (`{digest[:12]}…`)" if digest else "matches"
    else:
        entry.checksum = f"differs: {check['reason']}"
        entry.problems.append(f"content checksum of {where} failed: {check['reason']}")


def documents(ctx: RunContext) -> list[tuple[str, str, str, str]]:
    """(kind, path, used by, SHA-256 or why not) of every pact source and OpenAPI/AsyncAPI document."""
    root = ctx.loaded.root
    rows: list[tuple[str, str, str, str]] = []
    pact = ctx.config.contracts.pact
    for source in pact.sources if pact else []:
        try:
            files = pact_files(root, [source])
        except UsageError:
            rows.append(("Pact", source, "—", "missing"))
            continue
        for path in files:
            try:
                parsed = load_pact(path)
                used_by = f"{parsed.consumer} → {parsed.provider}"
            except UsageError as exc:
                used_by = f"unreadable: {exc.problems[0].message}"
            rows.append(("Pact", shown(path, root), used_by, sha256_file(path)))
    for name, service in ctx.config.services.items():
        for kind, rel in (("OpenAPI", service.openapi), ("AsyncAPI", service.asyncapi)):
            if rel:
                path = ctx.loaded.resolve(rel)
                rows.append((kind, rel, name, sha256_file(path) if path.is_file() else "missing"))
    return rows


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(cells: tuple[object, ...]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render(ctx: RunContext, entries: list[Entry], docs: list[tuple[str, str, str, str]], verified: bool) -> str:
    """The inventory as Markdown: datasets, then the fixtures and contract schemas."""
    lines = ["# Test data inventory", "", f"Environment `{ctx.env_name}` · run `{ctx.run_id}` · generated {utc_now()}", "", "## Datasets", ""]
    if not entries:
        lines.append("No datasets declared: add `[datasets.NAME]` to interlock.toml to inventory seeded data.")
    else:
        lines += [_row(HEADER), _row(tuple("---" for _ in HEADER))]
        for e in entries:
            ds = e.dataset
            status = "ok" if not e.problems else "FAIL: " + "; ".join(e.problems)
            lines.append(_row((e.name, ds.source, f"`{ds.path}`", f"`{e.sha256}`" if e.sha256 else "missing", "—" if e.rows is None else e.rows,
                               f"{ds.store}/{ds.table}", e.present, e.checksum, ds.refresh, e.refreshed, status)))
        if not verified:
            lines += ["", f"Presence in the stores is not verified: no {ENV_REPORT} for environment `{ctx.env_name}`; run step 1.2 (`interlock env`) first."]
    lines += ["", "## API fixtures and contract schemas", ""]
    if docs:
        lines += [_row(("Kind", "Document", "Used by", "SHA-256")), _row(("---",) * 4)]
        lines += [_row((kind, f"`{path}`", used_by, digest if digest == "missing" else f"`{digest}`")) for kind, path, used_by, digest in docs]
    else:
        lines.append("No pact sources or OpenAPI/AsyncAPI documents declared.")
    return "\n".join(lines) + "\n"


def run(ctx: RunContext) -> Outcome:
    """Write test-data-inventory.md; fail when a dataset is missing, altered, stale or not seeded."""
    checks = _presence(ctx)
    now = datetime.now(timezone.utc)
    entries = [inspect(ctx, name, dataset, checks, now) for name, dataset in ctx.config.datasets.items()]
    path = ctx.artifacts.write_text(INVENTORY, render(ctx, entries, documents(ctx), checks is not None))
    ctx.emit(ArtifactWritten(str(path)))
    if not entries:
        return Outcome(StepStatus.PASS, "no datasets declared")
    bad = [f"{e.name}: {'; '.join(e.problems)}" for e in entries if e.problems]
    if bad:
        return Outcome(StepStatus.FAIL, " | ".join(bad))
    return Outcome(StepStatus.PASS, f"{len(entries)} dataset{'' if len(entries) == 1 else 's'} current" + ("" if checks is not None else "; presence in stores not verified"))
