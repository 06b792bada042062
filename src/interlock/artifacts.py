"""The artifact catalogue: every artifact's name, the step that writes it, its schema.

All writes are atomic (temp file in the same folder, fsync, rename), so a killed
run leaves the previous artifact whole; every JSON artifact is validated against
its schema before it is written, so nothing malformed ever reaches an auditor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from filelock import FileLock, Timeout

from interlock.errors import Problem, UsageError
from interlock.files import atomic_write as atomic_write  # re-exported: the writers import it with ArtifactDir
from interlock.schemacheck import SchemaCheck

if TYPE_CHECKING:
    from interlock.secrets import Redactor
    from interlock.shards import Shard

DEFAULT_DIR = Path(".artifacts/integration")


@dataclass(frozen=True)
class Artifact:
    """One artifact of the folder: every module names a file through one of these, never by a literal."""

    name: str
    filename: str
    step: str
    command: str
    media_type: str

    def __str__(self) -> str:
        return self.filename

    @property
    def schema_name(self) -> str | None:
        """The schema's name: of the document for JSON, of one line for JSON Lines."""
        for suffix in (".json", ".jsonl"):
            if self.filename.endswith(suffix):
                return self.filename.removesuffix(suffix)
        return None

    def shard(self, shard: Shard | str | None) -> str:
        """The file name a shard (`K/N` or a Shard) writes; the artifact's own name for a whole run (None)."""
        if shard is None:
            return self.filename
        from interlock.shards import Shard as _Shard

        return (shard if isinstance(shard, _Shard) else _Shard.parse(shard)).artifact(self.filename)

    @property
    def shard_glob(self) -> str:
        """The glob matching every shard variant (`test-execution-report.shard-*-of-*.json`)."""
        stem, _, ext = self.filename.rpartition(".")
        return f"{stem}.shard-*-of-*.{ext}"


_J, _M, _C = "application/json", "text/markdown", "text/csv"
SCOPE_MATRIX = Artifact("scope-matrix", "integration-scope-matrix.json", "1.1", "interlock scope", _J)
ENVIRONMENT_REPORT = Artifact("environment-report", "environment-validation-report.json", "1.2", "interlock env", _J)
TEST_DATA_INVENTORY = Artifact("test-data-inventory", "test-data-inventory.md", "1.3", "interlock data", _M)
TEST_PLAN = Artifact("test-plan", "integration-test-plan.md", "2.1", "interlock plan", _M)
CONTRACT_CONFIG = Artifact("contract-config", "contract-validation-config.json", "2.2", "interlock contracts", _J)
CONTRACT_RESULTS = Artifact("contract-results", "contract-validation-results.json", "2.2", "interlock contracts", _J)
OBSERVABILITY = Artifact("observability", "observability-readiness.md", "2.3", "interlock observe", _M)
#: The data of observability-readiness.md, for the steps that read it (no step parses interlock's Markdown).
OBSERVABILITY_DATA = Artifact("observability-data", "observability-readiness.json", "2.3", "interlock observe", _J)
EXECUTION_REPORT = Artifact("execution-report", "test-execution-report.json", "3.1", "interlock test", _J)
#: What the traces the OTLP receiver kept prove (interlock.otlp.evidence): evidence like the others, not a protocol name.
TRACE_EVIDENCE = Artifact("trace-evidence", "trace-evidence.json", "3.1", "interlock test", _J)
DEFECT_LOG = Artifact("defect-log", "defect-log.csv", "3.2", "interlock defects", _C)
REGRESSION_SUMMARY = Artifact("regression-summary", "regression-summary.md", "3.3", "interlock regress", _M)
#: The data of regression-summary.md, for the steps that read it.
REGRESSION_DATA = Artifact("regression-data", "regression-summary.json", "3.3", "interlock regress", _J)
RECOMMENDATIONS = Artifact("recommendations", "forward-recommendations.md", "4.3", "interlock recommend", _M)
MANIFEST = Artifact("manifest", "integration-evidence-manifest.json", "4.1", "interlock bundle", _J)
BUNDLE = Artifact("bundle", "INTEGRATION-EVIDENCE.zip", "4.1", "interlock bundle", "application/zip")
SIGNOFF = Artifact("signoff", "integration-signoff.json", "4.2", "interlock signoff", _J)
GATE_RESULTS = Artifact("gate-results", "gate-results.json", "gates", "interlock gates", _J)
RUN_LEDGER = Artifact("run-ledger", "run-ledger.jsonl", "ledger", "every step and interlock edit", "application/jsonl")
#: Views derived from the evidence after it is sealed (interlock.history): never evidence, never sealed nor ledgered.
HTML_REPORT = Artifact("html-report", "integration-report.html", "report", "interlock report", "text/html")
JUNIT_XML = Artifact("junit-xml", "junit.xml", "report", "interlock report", "application/xml")

CATALOGUE: tuple[Artifact, ...] = (
    SCOPE_MATRIX, ENVIRONMENT_REPORT, TEST_DATA_INVENTORY, TEST_PLAN, CONTRACT_CONFIG, CONTRACT_RESULTS, OBSERVABILITY,
    OBSERVABILITY_DATA, EXECUTION_REPORT, TRACE_EVIDENCE, DEFECT_LOG, REGRESSION_SUMMARY, REGRESSION_DATA, RECOMMENDATIONS, MANIFEST,
    BUNDLE, SIGNOFF, GATE_RESULTS, RUN_LEDGER,
)
#: The JSON twins of Markdown artifacts: evidence (manifest, bundle, ledger) like every artifact, not protocol names.
TWINS = {OBSERVABILITY.filename: OBSERVABILITY_DATA, REGRESSION_SUMMARY.filename: REGRESSION_DATA}
DERIVED_VIEWS: tuple[Artifact, ...] = (HTML_REPORT, JUNIT_XML)
#: Every provider-state action of pact verification (step 2.2) with what it printed or answered, redacted: a log, evidence like the others.
STATES_LOG = "logs/states.log"
#: Every span the built-in OTLP receiver took in (interlock.otlp), one JSON line each (`otlp.spans.Span`), redacted, appended.
OTLP_SPANS = "logs/otlp-spans.jsonl"
#: The OTLP receiver's counters (endpoint, requests, rejections, drops, per service), rewritten atomically while it runs.
OTLP_RECEIVER = "logs/otlp-receiver.json"
#: The engine's run state (engine.RunState) inside the folder: hidden, never evidence.
STATE_FILE = ".interlock-state.json"
#: The run ledger (interlock.ledger): one line per step and per edit, appended, never rewritten.
LEDGER = RUN_LEDGER.filename
#: Views derived from the evidence after it is sealed: never evidence themselves, so never sealed nor ledgered.
DERIVED = frozenset({GATE_RESULTS.filename, *(a.filename for a in DERIVED_VIEWS)})
BY_FILENAME = {a.filename: a for a in CATALOGUE}
#: How callers name a file of the folder: a catalogue entry, or a path relative to it (logs, shard variants).
Name = Artifact | str
#: The protocol's artifacts (DESIGN.md's names): the catalogue but the gate results, the ledger, the JSON twins and the trace evidence.
PROTOCOL_ARTIFACTS = tuple(a for a in CATALOGUE if a not in (GATE_RESULTS, RUN_LEDGER, TRACE_EVIDENCE, *TWINS.values()))


def artifact(filename: str) -> Artifact:
    """The catalogue entry of a file name (KeyError for a file that is not an artifact)."""
    return BY_FILENAME[filename]


def all_filenames() -> frozenset[str]:
    """Every catalogued file name, derived views included: what no other module may spell as a literal."""
    return frozenset(a.filename for a in (*CATALOGUE, *DERIVED_VIEWS))


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
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validation_errors(name: str, data: Any) -> list[str]:
    """Every way `data` breaks the schema, each with its JSON path (none, at compiled speed, when it fits)."""
    return [f"{e.json_path}: {e.message}" for e in sorted(_check(name).errors(data), key=lambda e: list(map(str, e.path)))]


@cache
def _check(name: str) -> SchemaCheck:
    return SchemaCheck(schema(name), formats=True)


def schema_problem(name: str, data: Any) -> str | None:
    """The first way `data` breaks schema `name` (the compiled check first, jsonschema for the message), None when it fits."""
    errors = validation_errors(name, data)
    return errors[0] if errors else None


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

    def path(self, filename: Name) -> Path:
        """Where an artifact (a catalogue entry or a file name relative to the folder) lives."""
        return self.root / str(filename)

    def exists(self, filename: Name) -> bool:
        return self.path(filename).is_file()

    def write_json(self, filename: Name, data: Any) -> Path:
        """Validate against the artifact's schema, then write atomically."""
        filename = str(filename)
        name = artifact(filename).schema_name
        assert name is not None, f"{filename} is not a JSON artifact"
        data = self.redactor.data(data) if self.redactor is not None else data
        errors = validation_errors(name, data)
        if errors:
            raise SchemaViolation(f"{filename} breaks its schema: " + "; ".join(errors[:5]))
        target = self.path(filename)
        atomic_write(target, (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8"))
        return target

    def write_text(self, filename: Name, text: str) -> Path:
        target = self.path(filename)
        atomic_write(target, (self.redactor.text(text) if self.redactor is not None else text).encode("utf-8"))
        return target

    def write_csv(self, filename: Name, header: list[str], rows: Iterable[dict[str, str]]) -> Path:
        """Stable columns, every field quoted: a CSV that survives spreadsheet round trips."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return self.write_text(filename, buffer.getvalue())

    def read_json(self, filename: Name, *, checked: bool = True) -> Any:
        """Read a JSON artifact; a corrupt one, or (`checked`) one that breaks its schema, is an input error with its path.

        Every step that reads another's artifact reads it here, so a hand-made or foreign file fails
        closed with one line instead of an internal error deep in the step.
        """
        filename = str(filename)
        path = self.path(filename)
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(Problem(str(path), f"not valid JSON at line {exc.lineno}: {exc.msg}; rerun the step that writes it", exc.lineno)) from None
        except UnicodeDecodeError:
            raise UsageError(Problem(str(path), "not UTF-8 text; rerun the step that writes it")) from None
        entry = BY_FILENAME.get(filename)
        if checked and entry is not None and entry.schema_name is not None:
            problem = schema_problem(entry.schema_name, data)
            if problem is not None:
                raise UsageError(Problem(str(path), f"not in the shape interlock writes ({problem[:300]}); rerun `{entry.command}`"))
        return data

    def read_json_or_none(self, filename: Name) -> Any | None:
        return self.read_json(filename) if self.exists(filename) else None
