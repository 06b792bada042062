"""The typed models (interlock.models) and the JSON Schemas agree: same verdict on real-shaped artifacts and on broken ones."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from interlock import models
from interlock.artifacts import CATALOGUE, STATE_FILE, schema
from interlock.defects import COLUMNS
from interlock.engine import RunState
from tests.sample import write_sample
from interlock.runfolder import RunFolder

ROOT = Path(__file__).resolve().parents[2]
SHA = "a" * 64
#: JSON Schema keywords pydantic's TypedDicts express too; patterns, formats and bounds stay the schema's alone.
SHARED_KEYWORDS = {"type", "enum", "const", "required", "additionalProperties"}
WRONG = ("text", 1.5, 7, True, None, [], {})


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_models", ROOT / "scripts/gen_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_models_are_generated_from_the_schemas_as_they_are() -> None:
    generator = _generator()
    assert generator.render(generator.MODELS.read_text("utf-8")) == generator.MODELS.read_text("utf-8"), "run `python scripts/gen_models.py`"


def test_every_json_artifact_has_a_model() -> None:
    assert {a.schema_name for a in CATALOGUE if a.schema_name} == set(models.BY_SCHEMA)


def _hand_made() -> dict[str, dict[str, Any]]:
    """Artifacts the demo-shaped sample run does not write, in the shape their steps write them."""
    at = "2026-11-26T12:00:00Z"
    return {
        "contract-validation-config": {"schema_version": 1, "generated_at": at, "environment": "integration",
                                       "tools": {"pact-python": "2.3.0"}, "concurrency": 2, "validators": {"pact": {"timeout": 30}, "openapi": None}},
        "observability-readiness": {"schema_version": 1, "generated_at": at, "environment": "integration", "gaps": ["orders"],
                                    "services": [{"service": "catalog", "logs": "captured: logs/service-catalog.log (3 lines)", "metrics": "12 metric families at /metrics",
                                                  "traces": "missing: no spans received from catalog", "ready": False,
                                                  "spans": 0, "traces_required": True, "metrics_missing": ["http_requests_total"]}]},
        "regression-summary": {"schema_version": 1, "generated_at": at, "run_id": "run-1", "environment": "integration", "runs": 3,
                               "pytest_runs": [{"exit_code": 0, "log": "logs/regression-1.log", "stopped_after": None, "error": None}],
                               "command": ["pytest", "tests/t.py"],
                               "reruns": [{"defect": "DEF-1", "severity": "high", "nodeid": "tests/t.py::x", "rerun": "interlock test -- 'tests/t.py::x'",
                                           "passes": 3, "verdict": "pass", "status_before": "resolved", "status_after": "resolved"}],
                               "neighbours": [{"nodeid": "tests/t.py::y", "why": "same module", "outcomes": ["passed", "failed", "passed"], "verdict": "flaky"}],
                               "not_rerun": [{"defect": "DEF-2", "source": "environment", "status": "mitigated", "rerun": "interlock env"}]},
        "integration-evidence-manifest": {"manifest_version": 1, "generated_at": at, "run_id": "run-1", "environment": "integration",
                                          "interlock_version": "0.9.0", "tools": {"pytest": "8.3.0"},
                                          "source": {"git_commit": "0" * 40, "git_dirty": False, "changes_digest": None},
                                          "artifacts": [{"path": "defect-log.csv", "sha256": SHA, "size": 10, "media_type": "text/csv",
                                                         "phase": "3.2", "command": "interlock defects"}]},
        "integration-signoff": {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"keyid": "k1", "sig": "c2ln"}]},
        "trace-evidence": {"schema_version": 1, "generated_at": at, "environment": "integration", "receiver": {"endpoint": "http://127.0.0.1:4318", "forward": None,
                                                                                               "requests": {"traces": 1}, "rejected": {"malformed": 0}, "dropped_spans": 0,
                                                                                               "forward_failures": 0, "by_service": {"orders": {"spans": 3}}},
                           "services": [{"service": "orders", "spans": 3, "by_kind": {"server": 2, "client": 1}, "by_status": {"unset": 3}, "traces_required": True}],
                           "tests": [{"nodeid": "tests/t.py::x", "trace_id": "a" * 32, "services": ["orders"], "interfaces": ["orders:POST /orders"],
                                      "calls": [{"from": "interlock-tests", "to": "orders", "kind": "http", "target": "POST /orders"}]}],
                           "pact_jobs": [{"job": "orders-catalog", "trace_id": None, "services": [], "interfaces": []}],
                           "interfaces": [{"id": "orders:POST /orders", "observed": True, "by": ["tests/t.py::x"]}],
                           "undeclared": [{"interface": "catalog:GET /admin", "from": "orders", "reason": "no contract or test declares it", "seen_in": []}],
                           "scenarios": [{"feature": "F-1", "title": "Order", "critical": True, "proven": False, "by": None, "missing": ["orders:POST /orders"]}]},
        "run-ledger": {"seq": 1, "prev": "0" * 64, "at": at, "step": "3.2", "kind": "step", "command": "interlock defects", "by": "ci",
                       "reason": "pass", "run_id": "run-1", "identity": {"commit": None, "dirty": None, "changes_digest": None},
                       "config_digest": None, "materials": {}, "products": {"defect-log.csv": SHA}, "removed": []},
    }


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every JSON artifact: the demo-shaped sample run's (through the one reader), the rest hand-made."""
    folder = RunFolder.load(write_sample(tmp_path_factory.mktemp("run"), tests=6, failing_tests=["tests/test_area000.py::test_case_00001"], broken_contract=True))
    found = {a.schema_name: folder.json(a) for a in CATALOGUE if a.schema_name and folder.exists(a)}
    return {name: data for name, data in found.items() if data is not None} | _hand_made()


def _schema_errors(name: str, data: Any) -> list[Any]:
    return list(Draft202012Validator(schema(name)).iter_errors(data))


def _mutations(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(where, broken copy) for every object in `data`: each key removed, each value replaced by each wrong type, one unknown key added."""
    if isinstance(data, list) and data:
        yield from _mutations(data[0], (*path, 0))
    if not isinstance(data, dict):
        return
    for key in data:
        yield from _mutations(data[key], (*path, key))
    yield (*path, "+unknown"), None
    for key in data:
        yield (*path, key, "-"), None
        for wrong in WRONG:
            yield (*path, key, wrong), wrong


def _apply(data: Any, where: tuple[Any, ...], value: Any) -> Any:
    broken = copy.deepcopy(data)
    *parents, last = where
    target = broken
    if last == "+unknown":
        for step in parents:
            target = target[step]
        target["unexpected_field"] = 1
        return broken
    *parents, key = parents
    for step in parents:
        target = target[step]
    if last == "-":
        del target[key]
    else:
        target[key] = value
    return broken


def test_models_and_schemas_accept_every_real_shaped_artifact(samples: dict[str, dict[str, Any]]) -> None:
    assert set(samples) == set(models.BY_SCHEMA)
    for name, data in samples.items():
        assert not _schema_errors(name, data), name
        assert models.validate(models.model_of(name), data) == [], name


def test_models_and_schemas_refuse_the_same_broken_artifacts(samples: dict[str, dict[str, Any]]) -> None:
    """Every key removed, every value of another JSON type, an unknown key: where the schema's verdict rests on what a
    TypedDict can say (type, enum, const, required, closed objects), the model's verdict is the same."""
    compared = refused = 0
    for name, data in samples.items():
        model = models.model_of(name)
        for where, value in _mutations(data):
            broken = _apply(data, where, value)
            errors = _schema_errors(name, broken)
            if any(e.validator not in SHARED_KEYWORDS for e in errors):
                continue  # a pattern, format or bound: the schema's alone
            model_errors = models.validate(model, broken)
            assert bool(errors) == bool(model_errors), (name, where, [e.message for e in errors], model_errors)
            compared += 1
            refused += bool(errors)
    assert compared > 1000 and refused > 500, (compared, refused)


def test_the_defect_row_and_the_run_state_models_match_their_writers(tmp_path: Path) -> None:
    assert list(models.DefectRow.__annotations__) == COLUMNS
    state = RunState("run-1", "integration", "2026-11-26T12:00:00Z", completed=["1.1"], ports={"catalog": 41000})
    state.save(tmp_path)
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert models.validate(models.RunStateData, saved) == []
    assert set(saved) == set(models.RunStateData.__annotations__)
    assert models.validate(models.RunStateData, {k: v for k, v in saved.items() if k != "run_id"})
