"""The artifact catalogue: every artifact's name, the step that writes it, its schema.

All writes are atomic (temp file in the same folder, fsync, rename), so a killed
run leaves the previous artifact whole; every JSON artifact is validated against
its schema before it is written, so nothing malformed ever reaches an auditor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from filelock import FileLock, Timeout

from interlock.errors import Problem, UsageError
from interlock.files import atomic_write
from interlock.schemacheck import SchemaCheck

if TYPE_CHECKING:
    from interlock.secrets import Redactor

DEFAULT_DIR = Path(".artifacts/integration")


@dataclass(frozen=True)
class Artifact:
    """One protocol artifact."""

    name: str
    filename: str
    step: str
    command: str
    media_type: str

    @property
    def schema_name(self) -> str | None:
        """The schema's name: of the document for JSON, of one line for JSON Lines."""
        for suffix in (".json", ".jsonl"):
            if self.filename.endswith(suffix):
                return self.filename.removesuffix(suffix)
        return None


_J, _M, _C = "application/json", "text/markdown", "text/csv"
CATALOGUE: tuple[Artifact, ...] = (
    Artifact("scope-matrix", "integration-scope-matrix.json", "1.1", "interlock scope", _J),
    Artifact("environment-report", "environment-validation-report.json", "1.2", "interlock env", _J),
    Artifact("test-data-inventory", "test-data-inventory.md", "1.3", "interlock data", _M),
    Artifact("test-plan", "integration-test-plan.md", "2.1", "interlock plan", _M),
    Artifact("contract-config", "contract-validation-config.json", "2.2", "interlock contracts", _J),
    Artifact("contract-results", "contract-validation-results.json", "2.2", "interlock contracts", _J),
    Artifact("observability", "observability-readiness.md", "2.3", "interlock observe", _M),
    Artifact("execution-report", "test-execution-report.json", "3.1", "interlock test", _J),
    Artifact("defect-log", "defect-log.csv", "3.2", "interlock defects", _C),
    Artifact("regression-summary", "regression-summary.md", "3.3", "interlock regress", _M),
    Artifact("recommendations", "forward-recommendations.md", "4.3", "interlock recommend", _M),
    Artifact("manifest", "integration-evidence-manifest.json", "4.1", "interlock bundle", _J),
    Artifact("bundle", "INTEGRATION-EVIDENCE.zip", "4.1", "interlock bundle", "application/zip"),
    Artifact("signoff", "integration-signoff.json", "4.2", "interlock signoff", _J),
    Artifact("gate-results", "gate-results.json", "gates", "interlock gates", _J),
    Artifact("run-ledger", "run-ledger.jsonl", "ledger", "every step and interlock edit", "application/jsonl"),
)
#: The run ledger (interlock.ledger): one line per step and per edit, appended, never rewritten.
LEDGER = "run-ledger.jsonl"
#: Views derived from the evidence after it is sealed: never evidence themselves, so never sealed nor ledgered.
DERIVED = frozenset({"gate-results.json", "integration-report.html", "junit.xml"})
BY_FILENAME = {a.filename: a for a in CATALOGUE}
PROTOCOL_ARTIFACTS = tuple(a for a in CATALOGUE if a.name not in ("gate-results", "run-ledger"))


def artifact(filename: str) -> Artifact:
    return BY_FILENAME[filename]


def schema_names() -> list[str]:
    """Names accepted by `interlock schema NAME`."""
    return sorted(a.schema_name for a in CATALOGUE if a.schema_name)


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a JSON artifact, by name with or without `.json`."""
    name = name.removesuffix(".json")
    if name not in schema_names():
        raise UsageError(Problem("interlock schema", f"no schema named {name!r}; known: {', '.join(schema_names())}"))
    text = resources.files("interlock.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def validation_errors(name: str, data: Any) -> list[str]:
    """Every way `data` breaks the schema, each with its JSON path (none, at compiled speed, when it fits)."""
    return [f"{e.json_path}: {e.message}" for e in sorted(_check(name).errors(data), key=lambda e: list(map(str, e.path)))]


@cache
def _check(name: str) -> SchemaCheck:
    return SchemaCheck(schema(name), formats=True)


def _shape_check(name: str) -> Callable[[Any], bool] | None:
    """The compiled yes/no check of a schema (jsonschema-rs): a no goes to `validation_errors` for the words."""
    return _check(name).fits


class SchemaViolation(Exception):
    """interlock built an artifact that breaks its own schema: an internal error."""


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """One writer per artifact folder (runs, step commands, merges, defect edits).

    The lock file sits beside the folder, which a run replaces by rename. The OS
    drops the lock of a dead process, so a stale lock never blocks.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder.parent / f".{folder.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(Problem(str(folder), "another interlock run is writing this artifact folder; wait for it to finish")) from None
    try:
        yield
    finally:
        lock.release()


class ArtifactDir:
    """The artifact folder of one system under test."""

    def __init__(self, root: Path, redactor: Redactor | None = None) -> None:
        self.root = root
        self.redactor = redactor  # a run's known secrets: masked in everything written through this folder

    def path(self, filename: str) -> Path:
        return self.root / filename

    def exists(self, filename: str) -> bool:
        return self.path(filename).is_file()

    def write_json(self, filename: str, data: Any) -> Path:
        """Validate against the artifact's schema, then write atomically."""
        name = artifact(filename).schema_name
        assert name is not None, f"{filename} is not a JSON artifact"
        data = self.redactor.data(data) if self.redactor is not None else data
        errors = validation_errors(name, data)
        if errors:
            raise SchemaViolation(f"{filename} breaks its schema: " + "; ".join(errors[:5]))
        target = self.path(filename)
        atomic_write(target, (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8"))
        return target

    def write_text(self, filename: str, text: str) -> Path:
        target = self.path(filename)
        atomic_write(target, (self.redactor.text(text) if self.redactor is not None else text).encode("utf-8"))
        return target

    def write_csv(self, filename: str, header: list[str], rows: Iterable[dict[str, str]]) -> Path:
        """Stable columns, every field quoted: a CSV that survives spreadsheet round trips."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return self.write_text(filename, buffer.getvalue())

    def read_json(self, filename: str, *, checked: bool = True) -> Any:
        """Read a JSON artifact; a corrupt one, or (`checked`) one that breaks its schema, is an input error with its path.

        Every step that reads another's artifact reads it here, so a hand-made or foreign file fails
        closed with one line instead of an internal error deep in the step.
        """
        path = self.path(filename)
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(Problem(str(path), f"not valid JSON at line {exc.lineno}: {exc.msg}; rerun the step that writes it", exc.lineno)) from None
        except UnicodeDecodeError:
            raise UsageError(Problem(str(path), "not UTF-8 text; rerun the step that writes it")) from None
        entry = BY_FILENAME.get(filename)
        if checked and entry is not None and entry.schema_name is not None:
            check = _shape_check(entry.schema_name)
            errors = [] if check is not None and check(data) else validation_errors(entry.schema_name, data)
            if errors:
                raise UsageError(Problem(str(path), f"not in the shape interlock writes ({errors[0][:300]}); rerun `{entry.command}`"))
        return data

    def read_json_or_none(self, filename: str) -> Any | None:
        return self.read_json(filename) if self.exists(filename) else None
