"""The jsonschema-rs check agrees with jsonschema on every schema interlock checks, and leaves the words to jsonschema."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from interlock import ledger
from interlock.artifacts import schema, validation_errors
from interlock.execution import REPORT_SCHEMA
from interlock.identity import Identity
from interlock.schemacheck import SchemaCheck
from interlock.selection import RECORD_SCHEMA

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


def agree(schema_: dict[str, Any], instance: Any, *, formats: bool = False, exact: bool = True) -> None:
    """The same errors as jsonschema; `fits` says exactly what jsonschema says (`exact`) or at least never yes where it says no."""
    check = SchemaCheck(schema_, formats=formats)
    slow = list(Draft202012Validator(schema_, format_checker=FormatChecker() if formats else None).iter_errors(instance))
    assert [(e.json_path, e.message) for e in check.errors(instance)] == [(e.json_path, e.message) for e in slow]
    if exact:
        assert check.fits(instance) is (not slow), json.dumps(instance)[:400]
    elif slow:
        assert check.fits(instance) is False


def test_valid_report_passes_both_schemas() -> None:
    agree(REPORT_SCHEMA, VALID)
    agree(ARTIFACT, VALID, formats=True)
    assert SchemaCheck(ARTIFACT, formats=True).fits(VALID) is True
    assert validation_errors("test-execution-report", VALID) == []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_mutation_is_judged_like_jsonschema(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(paths(VALID)))
    action = data.draw(st.sampled_from(["delete", "replace", "add"])) if path else "replace"
    instance = mutate(VALID, path, action, data.draw(st.sampled_from(ODD)))
    agree(REPORT_SCHEMA, instance)
    agree(ARTIFACT, instance, formats=True)


RECORD: dict[str, Any] = {
    "version": 1, "pytest": "8.3", "rootdir": "/sut", "invocation_dir": "/sut", "argv": ["-m", "integration"],
    "ini": {"path": None, "addopts": []}, "environment": {"PYTEST_ADDOPTS": "-q"}, "suite_marker": "integration",
    "markexpr": "integration", "keyword": "", "targets": ["tests"], "ignore": [], "ignore_glob": [], "deselect": [],
    "last_failed": False, "stepwise": False, "maxfail": 0, "bodies_skipped": [], "shard": "1/2", "collections": 1,
    "collection": {"collected": ["t.py::a", "t.py::b"], "suite": None, "critical": ["t.py::a"], "selected": ["t.py::a"],
                   "deselected": {"t.py::b": "pytest"}},
    "collections_agree": True, "ran": ["t.py::a"], "exitstatus": 0,
}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_selection_records_are_judged_like_jsonschema(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(paths(RECORD)))
    action = data.draw(st.sampled_from(["delete", "replace", "add"])) if path else "replace"
    agree(RECORD_SCHEMA, mutate(RECORD, path, action, data.draw(st.sampled_from(ODD))))


def ledger_line(root: Path) -> dict[str, Any]:
    return ledger.append(root, step="3.1", kind="step", command="interlock test", by="ci", reason="", run_id="r1",
                         identity=Identity(None, None, None), config=None, materials={}, products={"a.json": "f" * 64})


@pytest.mark.parametrize("at", ["2026-01-02T03:04:05Z", "2026-06-30T23:59:60Z", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "yesterday"])
def test_formats_are_jsonschemas_own(at: str, tmp_path: Path) -> None:
    """jsonschema-rs's own date-time takes a leap second and year 0; the check asks jsonschema's format functions instead."""
    agree(schema("run-ledger"), ledger_line(tmp_path), formats=True)
    agree(schema("run-ledger"), {**ledger_line(tmp_path / "again"), "at": at}, formats=True)
    assert not SchemaCheck(schema("run-ledger"), formats=True).fits({**ledger_line(tmp_path / "leap"), "at": "2026-06-30T23:59:60Z"})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1: "a"}, b"bytes", {"a"}])
def test_values_jsonschema_rs_cannot_read_go_to_jsonschema(value: Any) -> None:
    for where in (("exitcode",), ("tests", 0, "nodeid"), ("summary",), ("tests", 0, "metadata")):
        agree(REPORT_SCHEMA, mutate(VALID, where, "replace", value), exact=False)


def test_pattern_newline_is_judged_like_jsonschema() -> None:
    """Python's `$` matches before a final newline, ECMA-262's does not: the fast no is checked by jsonschema."""
    agree({"type": "string", "pattern": "^[0-9a-f]{4}$"}, "abcd\n", exact=False)
    agree({"type": "string", "pattern": "^[0-9a-f]{4}$"}, "abcd")


def test_data_that_fits_never_imports_jsonschema() -> None:
    """The import is paid only for data that breaks a schema (checked in a fresh interpreter)."""
    code = ("import sys, json; from interlock.schemacheck import SchemaCheck; from interlock.execution import REPORT_SCHEMA; "
            f"assert SchemaCheck(REPORT_SCHEMA).fits(json.loads({json.dumps(json.dumps(VALID))})); "
            "assert 'jsonschema' not in sys.modules, 'jsonschema imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789-:TtZz.+ ", max_size=30), st.datetimes().map(lambda d: d.isoformat() + "Z"), st.integers(), st.none()))
def test_date_time_is_jsonschemas_own(value: Any) -> None:
    """The date-time check that skips importing jsonschema answers as jsonschema's FormatChecker does."""
    from interlock.schemacheck import _format_function

    assert _format_function("date-time")(value) == FormatChecker().conforms(value, "date-time")


def test_formatted_data_that_fits_never_imports_jsonschema(tmp_path: Path) -> None:
    """A ledger line (date-time formats asserted) that fits is checked without importing jsonschema (fresh interpreter)."""
    line = ledger_line(tmp_path)
    code = ("import sys, json; from interlock.schemacheck import SchemaCheck; from interlock.artifacts import schema; "
            f"assert SchemaCheck(schema('run-ledger'), formats=True).fits(json.loads({json.dumps(json.dumps(line))})); "
            "assert 'jsonschema' not in sys.modules, 'jsonschema imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
