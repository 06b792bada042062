"""The compiled report check agrees with jsonschema, and refuses to compile what it does not understand."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from interlock.artifacts import schema
from interlock.execution import REPORT_SCHEMA, dumps_report
from interlock.fastschema import compile_schema

ARTIFACT = schema("test-execution-report")
TEST = {"nodeid": "tests/t.py::test_a", "outcome": "failed", "keywords": ["critical", "integration"],
        "setup": {"outcome": "passed", "duration": 0.01},
        "call": {"outcome": "failed", "duration": 0.5, "longrepr": "E assert 1 == 2", "crash": {"message": "assert 1 == 2"}},
        "metadata": {"interfaces": ["catalog:GET /x"]}}
VALID: dict[str, Any] = {
    "created": 1.5, "duration": 2.0, "exitcode": 1, "root": "/sut",
    "summary": {"total": 2, "collected": 3, "deselected": 1, "failed": 1, "passed": 1},
    "collectors": [{"nodeid": "tests/t.py", "outcome": "passed"}],
    "tests": [TEST, {**TEST, "nodeid": "tests/t.py::test_b", "outcome": "passed"}],
    "interlock": {"command": ["pytest"], "exit_code": 1, "log": "logs/pytest.log", "environment": "integration",
                  "summary": {"collected": 3, "total": 2, "passed": 1, "failed": 1, "skipped": 0, "errors": 0, "deselected": 1},
                  "failures": [{"nodeid": "tests/t.py::test_a", "outcome": "failed", "message": "m", "critical": True, "interfaces": [],
                                "rerun": "interlock test -- 'tests/t.py::test_a'"}],
                  "filtered": False, "shard": "1/2", "suite": {"tests": 3, "sha256": "ab"}, "balance": "hash", "commit": None},
}
ODD = [None, True, 0, -1, 2.5, "x", "1/0", [], {}, [1], {"a": 1}]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate(document: Any, path: tuple[Any, ...], action: str, replacement: Any) -> Any:
    document = copy.deepcopy(document)
    if not path:
        return replacement
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[f"extra_{path[-1]}"] = replacement
    else:
        parent[path[-1]] = replacement
    return document


def agree(schema_: dict[str, Any], instance: Any) -> None:
    fast = compile_schema(schema_)
    assert fast is not None
    slow = not list(Draft202012Validator(schema_).iter_errors(instance))
    assert fast(instance) is slow, json.dumps(instance)[:400]


def test_valid_report_passes_both_schemas() -> None:
    agree(REPORT_SCHEMA, VALID)
    agree(ARTIFACT, VALID)
    assert compile_schema(ARTIFACT)(VALID) is True  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_mutation_is_judged_like_jsonschema(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(paths(VALID)))
    action = data.draw(st.sampled_from(["delete", "replace", "add"])) if path else "replace"
    instance = mutate(VALID, path, action, data.draw(st.sampled_from(ODD)))
    agree(REPORT_SCHEMA, instance)
    agree(ARTIFACT, instance)


def test_unknown_keywords_do_not_compile() -> None:
    assert compile_schema({"type": "string", "format": "date-time"}) is None
    assert compile_schema({"properties": {"a": {"anyOf": [{"type": "string"}]}}}) is None
    assert compile_schema({"enum": [1, True]}) is None
    assert compile_schema({"type": "object", "properties": {"a": {"minimum": 0}}}) is not None


def test_report_text_is_json_with_a_line_per_test() -> None:
    text = dumps_report(VALID)
    assert json.loads(text) == VALID
    assert sum(line.strip().startswith('{"nodeid": "tests/t.py::test_') for line in text.splitlines()) == 2
    assert sum(line.strip().startswith('{"nodeid"') for line in text.splitlines()) == 3  # and the collector
    assert json.loads(dumps_report({**VALID, "tests": []}))["tests"] == []
