"""Every gate metric reader fails closed: an artifact in a shape interlock never writes gives its
metrics no value and one line naming the artifact and what to rerun, never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock import metrics
from interlock.artifacts import ArtifactDir
from interlock.gates import Metric

#: Each JSON artifact a reader parses, and the metrics read from it.
READS = {
    "integration-scope-matrix.json": ("prerequisites_unmet", "interfaces", "uncovered_interfaces", "undeclared_pacts", "unmatched_pact_interfaces"),
    "environment-validation-report.json": ("environment_checks", "environment_failed", "environment_unprobed"),
    "contract-validation-results.json": ("contract_interactions", "contracts_not_executed", "contracts_failed", "contracts_filtered"),
    "test-execution-report.json": ("tests_ran", "tests_filtered"),
    "integration-evidence-manifest.json": ("manifest_uncovered",),
    "integration-signoff.json": ("signoff_valid",),
    "observability-readiness.json": ("traces_required_missing", "metrics_missing"),
    "trace-evidence.json": ("undeclared_dependencies",),
}
COMMANDS = {
    "integration-scope-matrix.json": "interlock scope", "environment-validation-report.json": "interlock env",
    "contract-validation-results.json": "interlock contracts", "test-execution-report.json": "interlock test",
    "integration-evidence-manifest.json": "interlock bundle", "integration-signoff.json": "interlock signoff",
    "observability-readiness.json": "interlock observe", "trace-evidence.json": "interlock test",
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _read(folder: Path, filename: str, content: bytes) -> dict[str, Metric]:
    (folder / filename).write_bytes(content)
    try:
        return metrics.read_metrics(ArtifactDir(folder), folder / "missing.pub")
    finally:
        (folder / filename).unlink()


@pytest.mark.parametrize("filename", sorted(READS))
@pytest.mark.parametrize("content", [b"[]", b"{}", b"null", b'"x"', b'{"summary": {"total": 1}, "tests": [], "exitcode": 0}',
                                     b"not json", b"\xff\xfe"])
def test_a_malformed_artifact_fails_its_metrics_with_one_line(tmp_path: Path, filename: str, content: bytes) -> None:
    read = _read(tmp_path, filename, content)
    for name in READS[filename]:
        metric = read[name]
        assert metric.value is None, (name, metric)
        assert metric.reason is not None and metric.reason.startswith(f"{filename} is not in the shape interlock writes (")
        assert metric.reason.endswith(f"): rerun `{COMMANDS[filename]}`") and "\n" not in metric.reason


def test_a_plain_pytest_json_report_is_named_not_an_internal_error(tmp_path: Path) -> None:
    plain = {"created": 1.0, "duration": 0.1, "exitcode": 0, "root": "/x", "summary": {"total": 1, "passed": 1, "collected": 1},
             "tests": [{"nodeid": "t.py::test_a", "outcome": "passed", "keywords": ["test_a"]}]}
    read = _read(tmp_path, "test-execution-report.json", json.dumps(plain).encode())
    assert read["tests_ran"].reason == ("test-execution-report.json is not in the shape interlock writes "
                                        "($: 'interlock' is a required property): rerun `interlock test`")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filename=st.sampled_from(sorted(READS)), document=JSON)
def test_no_json_document_makes_a_reader_raise(tmp_path: Path, filename: str, document: object) -> None:
    read = _read(tmp_path, filename, json.dumps(document).encode())
    for name in READS[filename]:
        assert read[name].value is None and read[name].reason


def test_a_reader_that_meets_an_unexpected_shape_names_its_artifact() -> None:
    @metrics._reader("contract-validation-results.json", "first", "second")
    def reader(artifacts: ArtifactDir, out: dict[str, Metric]) -> None:
        out["first"] = Metric(1)
        out["third"] = Metric(2)
        raise KeyError("status")

    out: dict[str, Metric] = {"other": Metric(0)}
    reader(ArtifactDir(Path("/nonexistent")), out)
    reason = "contract-validation-results.json is not in the shape interlock writes (KeyError: 'status'): rerun `interlock contracts`"
    assert out == {"other": Metric(0), "first": Metric(None, reason), "second": Metric(None, reason), "third": Metric(None, reason)}


@pytest.mark.parametrize("filename", sorted(READS))
def test_every_step_reading_an_artifact_gets_one_line_for_a_foreign_shape(tmp_path: Path, filename: str) -> None:
    from interlock.errors import UsageError

    (tmp_path / filename).write_text("[1]", "utf-8")
    with pytest.raises(UsageError) as caught:
        ArtifactDir(tmp_path).read_json(filename)
    message = str(caught.value)
    assert f"{filename}: not in the shape interlock writes ($: [1] is not of type 'object'); rerun `{COMMANDS[filename]}`" in message
    assert ArtifactDir(tmp_path).read_json(filename, checked=False) == [1]  # for readers that check each field they use
