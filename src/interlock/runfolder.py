"""One reader of a run's artifact folder: every artifact read once, checked against its schema, typed.

metrics, triage, recommendations, sign-off, history, the report, JUnit and the
step summary take a `RunFolder` instead of reading files themselves. It fails
closed, as the gate readers always did: an artifact that is not JSON, not UTF-8
or not in the shape its schema says is not handed out; reading it raises
`MalformedArtifact` with one line naming the file and the command that rewrites
it. An absent artifact reads as None. The folder is a snapshot: a step that
writes an artifact makes a new `RunFolder` to see it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from interlock.artifacts import (
    BY_FILENAME, CONTRACT_RESULTS, ENVIRONMENT_REPORT, EXECUTION_REPORT, GATE_RESULTS, MANIFEST,
    OBSERVABILITY_DATA, REGRESSION_DATA, SCOPE_MATRIX, SIGNOFF, STATE_FILE, ArtifactDir, Name, schema_problem,
)
from interlock.defects import DefectLog
from interlock.errors import Problem, UsageError
from interlock.models import (
    ContractValidationResults, EnvironmentValidationReport, GateResults, IntegrationEvidenceManifest,
    IntegrationScopeMatrix, IntegrationSignoff, ObservabilityReadiness, RegressionSummary, TestExecutionReport,
)


class MalformedArtifact(UsageError):
    """An artifact that is not in the shape interlock writes: whoever reads it gets this one line."""

    def __init__(self, filename: str, detail: str) -> None:
        command = f"`{BY_FILENAME[filename].command}`" if filename in BY_FILENAME else "the step that writes it"
        self.filename = filename
        self.reason = f"{filename} is not in the shape interlock writes ({detail[:300]}): rerun {command}"
        super().__init__(Problem(filename, self.reason))


#: What `load` reads up front: every JSON artifact a later reader takes (the sign-off too, for Gate 4).
PRELOADED = (SCOPE_MATRIX, ENVIRONMENT_REPORT, CONTRACT_RESULTS, OBSERVABILITY_DATA, EXECUTION_REPORT, REGRESSION_DATA,
             MANIFEST, SIGNOFF, GATE_RESULTS)


class RunFolder:
    """A run's artifact folder as data: `json(artifact)` for any JSON artifact, typed properties for the common ones."""

    def __init__(self, artifacts: ArtifactDir) -> None:
        self.artifacts = artifacts
        self._json: dict[str, Any] = {}  # file name -> its checked data, None when absent, or the MalformedArtifact to raise
        self._defects: list[dict[str, str]] | UsageError | None = None

    @classmethod
    def load(cls, artifacts: RunFolder | ArtifactDir | Path) -> RunFolder:
        """Read the folder once: the common JSON artifacts and the defect log (errors are kept, raised when read).

        A folder already read is handed back as it is, so every output of a run shares one reading.
        """
        if isinstance(artifacts, RunFolder):
            return artifacts
        folder = cls(artifacts if isinstance(artifacts, ArtifactDir) else ArtifactDir(artifacts))
        for artifact in PRELOADED:
            folder._load(artifact.filename)
        folder._load_defects()
        return folder

    @property
    def root(self) -> Path:
        return self.artifacts.root

    def exists(self, name: Name) -> bool:
        return self.artifacts.exists(name)

    def _load(self, filename: str) -> None:
        if not self.artifacts.exists(filename):
            self._json[filename] = None
            return
        try:
            data = self.artifacts.read_json(filename, checked=False)
        except UsageError as exc:  # its message ends in what to do, which the reason says its own way
            self._json[filename] = MalformedArtifact(filename, exc.problems[0].message.split(";")[0])
            return
        entry = BY_FILENAME.get(filename) or BY_FILENAME.get(_unsharded(filename))
        problem = schema_problem(entry.schema_name, data) if entry is not None and entry.schema_name is not None else None
        self._json[filename] = MalformedArtifact(filename, problem) if problem is not None else data

    def _load_defects(self) -> None:
        try:
            self._defects = DefectLog(self.artifacts).read()
        except UsageError as exc:
            self._defects = exc

    def json(self, name: Name) -> Any | None:
        """A JSON artifact (a shard variant too) checked against its schema, None when absent; MalformedArtifact otherwise."""
        filename = str(name)
        if filename not in self._json:
            self._load(filename)
        found = self._json[filename]
        if isinstance(found, MalformedArtifact):
            raise found
        return found

    def json_unchecked(self, name: Name) -> Any | None:
        """A JSON artifact as it is, None when absent or not JSON: for callers that check each field they use."""
        try:
            return self.artifacts.read_json(name, checked=False) if self.artifacts.exists(name) else None
        except UsageError:
            return None

    @property
    def defects(self) -> list[dict[str, str]]:
        """The defect log's rows ([] when absent; each as `models.DefectRow` describes); the log's UsageError when it cannot be read."""
        if self._defects is None:
            self._load_defects()
        if isinstance(self._defects, UsageError):
            raise self._defects
        return list(self._defects or [])

    @property
    def scope(self) -> IntegrationScopeMatrix | None:
        return cast("IntegrationScopeMatrix | None", self.json(SCOPE_MATRIX))

    @property
    def env_report(self) -> EnvironmentValidationReport | None:
        return cast("EnvironmentValidationReport | None", self.json(ENVIRONMENT_REPORT))

    @property
    def contracts(self) -> ContractValidationResults | None:
        return cast("ContractValidationResults | None", self.json(CONTRACT_RESULTS))

    @property
    def observability(self) -> ObservabilityReadiness | None:
        return cast("ObservabilityReadiness | None", self.json(OBSERVABILITY_DATA))

    @property
    def tests(self) -> TestExecutionReport | None:
        return cast("TestExecutionReport | None", self.json(EXECUTION_REPORT))

    @property
    def regression(self) -> RegressionSummary | None:
        return cast("RegressionSummary | None", self.json(REGRESSION_DATA))

    @property
    def manifest(self) -> IntegrationEvidenceManifest | None:
        return cast("IntegrationEvidenceManifest | None", self.json(MANIFEST))

    @property
    def signoff(self) -> IntegrationSignoff | None:
        return cast("IntegrationSignoff | None", self.json(SIGNOFF))

    @property
    def gates(self) -> GateResults | None:
        return cast("GateResults | None", self.json(GATE_RESULTS))

    @property
    def state(self) -> dict[str, Any]:
        """The engine's run state beside the artifacts (`models.RunStateData`; {} when absent or unreadable: a folder a single step wrote has none)."""
        try:
            data = json.loads(self.artifacts.path(STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _unsharded(filename: str) -> str:
    """`test-execution-report.shard-1-of-2.json` -> `test-execution-report.json` (the catalogue entry of a shard variant)."""
    from interlock.shards import SHARD_FILE

    match = SHARD_FILE.match(filename)
    return f"{match.group('stem')}.{match.group('ext')}" if match else filename
