"""JUnit XML of every check, validated against the Jenkins JUnit schema; the Markdown gate summary.

Validation: `xmlschema` against the schema below, then junitparser reads the file back.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped

from interlock.junit import JUNIT_NAME, junit_xml, write_junit
from tests.sample import BROKEN_ITEM, sample_test_ids, write_sample
from interlock.summary import append_step_summary, github_summary

# The Jenkins JUnit schema (xunit-plugin junit-10.xsd, itself derived from Ant's and
# Surefire's), trimmed of documentation: what Jenkins, GitLab and GitHub's test
# reporters read.
JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
  <xs:simpleType name="SUREFIRE_TIME">
    <xs:restriction base="xs:string">
      <xs:pattern value="(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\\.[0-9]{0,3})?"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:element name="failure">
    <xs:complexType mixed="true">
      <xs:attribute name="type" type="xs:string" use="optional"/>
      <xs:attribute name="message" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="error">
    <xs:complexType mixed="true">
      <xs:attribute name="type" type="xs:string" use="optional"/>
      <xs:attribute name="message" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="skipped">
    <xs:complexType mixed="true">
      <xs:attribute name="type" type="xs:string" use="optional"/>
      <xs:attribute name="message" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="properties">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="property" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="property">
    <xs:complexType>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="value" type="xs:string" use="required"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="system-err" type="xs:string"/>
  <xs:element name="system-out" type="xs:string"/>
  <xs:element name="testcase">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="skipped" minOccurs="0" maxOccurs="1"/>
        <xs:element ref="error" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element ref="failure" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element ref="system-out" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element ref="system-err" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="assertions" type="xs:string" use="optional"/>
      <xs:attribute name="time" type="SUREFIRE_TIME" use="optional"/>
      <xs:attribute name="classname" type="xs:string" use="optional"/>
      <xs:attribute name="status" type="xs:string" use="optional"/>
      <xs:attribute name="class" type="xs:string" use="optional"/>
      <xs:attribute name="file" type="xs:string" use="optional"/>
      <xs:attribute name="line" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="properties" minOccurs="0" maxOccurs="1"/>
        <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element ref="system-out" minOccurs="0" maxOccurs="1"/>
        <xs:element ref="system-err" minOccurs="0" maxOccurs="1"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:string" use="required"/>
      <xs:attribute name="failures" type="xs:string" use="optional"/>
      <xs:attribute name="errors" type="xs:string" use="optional"/>
      <xs:attribute name="time" type="SUREFIRE_TIME" use="optional"/>
      <xs:attribute name="disabled" type="xs:string" use="optional"/>
      <xs:attribute name="skipped" type="xs:string" use="optional"/>
      <xs:attribute name="timestamp" type="xs:string" use="optional"/>
      <xs:attribute name="hostname" type="xs:string" use="optional"/>
      <xs:attribute name="id" type="xs:string" use="optional"/>
      <xs:attribute name="package" type="xs:string" use="optional"/>
      <xs:attribute name="file" type="xs:string" use="optional"/>
      <xs:attribute name="log" type="xs:string" use="optional"/>
      <xs:attribute name="url" type="xs:string" use="optional"/>
      <xs:attribute name="version" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="optional"/>
      <xs:attribute name="time" type="SUREFIRE_TIME" use="optional"/>
      <xs:attribute name="tests" type="xs:string" use="optional"/>
      <xs:attribute name="failures" type="xs:string" use="optional"/>
      <xs:attribute name="disabled" type="xs:string" use="optional"/>
      <xs:attribute name="errors" type="xs:string" use="optional"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

SCHEMA = xmlschema.XMLSchema(JUNIT_XSD)


def validate(document: bytes, tmp_path: Path) -> None:
    """Validate against the schema, then read the file back as junitparser (what CI plugins use) does."""
    SCHEMA.validate(document.decode("utf-8"))
    path = tmp_path / "check.xml"
    path.write_bytes(document)
    parsed = JUnitXml.fromfile(str(path))
    suites = list(parsed)
    cases = [case for suite in suites for case in suite]
    assert int(parsed.tests) == len(cases) == sum(int(s.tests) for s in suites)
    assert int(parsed.failures) == sum(1 for c in cases for r in c.result if isinstance(r, Failure))
    assert int(parsed.errors) == sum(1 for c in cases for r in c.result if isinstance(r, Error))
    for suite in suites:
        assert int(suite.tests) == len(list(suite))
        assert int(suite.skipped) == sum(1 for c in suite for r in c.result if isinstance(r, Skipped))


def _cases(document: bytes, tmp_path: Path) -> dict[tuple[str, str], Any]:
    path = tmp_path / "cases.xml"
    path.write_bytes(document)
    return {(case.classname, case.name): case for suite in JUnitXml.fromfile(str(path)) for case in suite}


def test_the_schema_rejects_what_ci_parsers_reject() -> None:
    assert SCHEMA.is_valid('<testsuites><testsuite name="s" tests="1"><testcase name="a" time="0.5"/></testsuite></testsuites>')
    for bad in (
        '<testsuites skipped="1"/>',
        '<testsuites><testsuite tests="0"/></testsuites>',
        '<testsuites><testsuite name="s" tests="1"><testcase name="a" time="0.12345"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1"><testcase name="a"><system-out>x</system-out><failure/></testcase></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1"><testcase name="a"><skipped/><skipped/></testcase></testsuite></testsuites>',
        "<testsuites><bogus/></testsuites>",
    ):
        assert not SCHEMA.is_valid(bad), bad


def test_broken_contract_run_validates_and_shows_the_contract_failed(tmp_path: Path) -> None:
    failing = sample_test_ids(6)[1]
    folder = write_sample(tmp_path / "run", run_id="r1", tests=6, broken_contract=True, failing_tests=[failing])
    document = junit_xml(folder)
    validate(document, tmp_path)
    cases = _cases(document, tmp_path)
    broken = cases[("contracts.pact:orders->catalog", BROKEN_ITEM)]
    [failure] = broken.result
    assert isinstance(failure, Failure) and failure.type == "BodyMismatch"
    assert "price_cents" in failure.message and "expected: [\"currency\",\"id\",\"name\",\"price_cents\",\"stock\"]" in failure.text
    assert cases[("contracts.pact:orders->catalog", "orders->catalog: a request for a missing product")].is_passed
    module, name = failing.split("::")
    test_case = cases[(module.removesuffix(".py").replace("/", "."), name)]
    assert isinstance(test_case.result[0], Failure) and "AssertionError" in test_case.result[0].message
    assert "rerun: interlock test --" in (test_case.system_out or "")
    gate = cases[("gates.gate2_contract_assurance", "contracts.failed")]
    assert isinstance(gate.result[0], Failure) and BROKEN_ITEM in gate.result[0].message
    assert cases[("gates.gate1_scope_alignment", "scope.interfaces")].is_passed
    assert cases[("environment.http", "catalog.health")].is_passed
    root = ET.fromstring(document)
    assert [s.get("name") for s in root][0] == "environment" and [s.get("name") for s in root][-1] == "gates"
    assert root.get("name") == "interlock integration run r1"


def test_passing_run_has_no_failures(tmp_path: Path) -> None:
    document = junit_xml(write_sample(tmp_path / "ok", tests=4))
    validate(document, tmp_path)
    root = ET.fromstring(document)
    assert root.get("failures") == "0" and root.get("errors") == "0" and int(root.get("tests", "0")) > 4


def _with_a_pending_condition(folder: Path) -> Path:
    """A phase-end gate-results.json left published (a kill between publishing and the final evaluation): Gate 2's
    undeclared-dependencies condition pending, the document failed, every other condition as the sample has it."""
    gates = json.loads((folder / "gate-results.json").read_text())
    for condition in gates["gates"][1]["conditions"]:
        if condition["id"] == "observability.undeclared_dependencies":
            condition["status"] = "pending"
            condition["reason"] = "pending: decided after step 3.1 writes trace-evidence.json"
            break
    else:
        gates["gates"][1]["conditions"].append({**gates["gates"][1]["conditions"][0], "id": "observability.undeclared_dependencies", "status": "pending",
                                                "reason": "pending: decided after step 3.1 writes trace-evidence.json"})
    gates["status"] = "fail"
    (folder / "gate-results.json").write_text(json.dumps(gates))
    return folder


def test_a_pending_gate_condition_is_a_failed_case_never_a_pass(tmp_path: Path) -> None:
    document = junit_xml(_with_a_pending_condition(write_sample(tmp_path / "run", tests=2)))
    validate(document, tmp_path)
    pending = _cases(document, tmp_path)[("gates.gate2_contract_assurance", "observability.undeclared_dependencies")]
    assert isinstance(pending.result[0], Failure) and pending.result[0].type == "gate-condition-pending"
    assert pending.result[0].message.startswith("pending: decided after step 3.1")


def test_the_summary_lists_a_pending_condition_as_not_met(tmp_path: Path) -> None:
    text = github_summary(_with_a_pending_condition(write_sample(tmp_path / "run", tests=2)))
    assert "FAILED" in text and "observability.undeclared_dependencies" in text.split("**Conditions not met**")[0]
    assert "- ⏳ Gate 2 `observability.undeclared_dependencies`: pending: decided after step 3.1" in text


def test_a_check_that_did_not_run_is_a_failure_not_an_absence(tmp_path: Path) -> None:
    document = junit_xml(tmp_path / "nothing")
    validate(document, tmp_path)
    cases = _cases(document, tmp_path)
    assert set(cases) == {("environment", "environment-validation-report.json"), ("contracts", "contract-validation-results.json"),
                          ("tests", "test-execution-report.json"), ("gates", "gate-results.json")}
    assert all(isinstance(c.result[0], Failure) and "did not run" in c.result[0].message for c in cases.values())


def test_statuses_map_to_junit_results_and_text_is_cleaned(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "mixed", tests=4)
    report = json.loads((folder / "test-execution-report.json").read_text())
    report["tests"][0].update(outcome="skipped", call={"duration": 0.0, "outcome": "skipped", "longrepr": "('x.py', 3, 'Skipped: no db')"})
    report["tests"][1].update(outcome="error", setup={"duration": 0.01, "outcome": "failed", "crash": {"path": "x", "lineno": 1, "message": "fixture boom \x1b[31mred\x1b[0m \x00"},
                                                       "longrepr": "E   fixture boom\x07"})
    report["tests"][2]["call"]["duration"] = 0.123456789
    (folder / "test-execution-report.json").write_text(json.dumps(report))
    contracts = json.loads((folder / "contract-validation-results.json").read_text())
    contracts["contracts"][1]["interactions"][0].update(status="pending")
    contracts["contracts"][2]["interactions"][0].update(status="not_executed")
    contracts["contracts"][2]["reason"] = "provider never started"
    (folder / "contract-validation-results.json").write_text(json.dumps(contracts))
    document = junit_xml(folder)
    validate(document, tmp_path)
    assert b"\x1b" not in document and b"\x00" not in document and b"\x07" not in document
    cases = _cases(document, tmp_path)
    ids = sample_test_ids(4)
    by_name = {name: case for (_, name), case in cases.items()}
    assert isinstance(by_name[ids[0].split("::")[1]].result[0], Skipped)
    errored = by_name[ids[1].split("::")[1]].result[0]
    assert isinstance(errored, Error) and errored.message == "fixture boom red"
    assert isinstance(by_name["shipping->orders: an order created event"].result[0], Skipped)
    not_run = by_name["web->orders: create an order for product 1"].result[0]
    assert isinstance(not_run, Failure) and not_run.message == "not executed: provider never started"
    assert re.search(rb'time="0\.124"', document) or re.search(rb'time="0\.125"', document)


def test_write_junit_is_atomic_and_complete(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "run", tests=3, broken_contract=True)
    out = write_junit(folder, tmp_path / "out" / JUNIT_NAME)
    assert out.read_bytes() == junit_xml(folder) and [p.name for p in out.parent.iterdir()] == [JUNIT_NAME]


# --------------------------------------------------------------------------- Markdown summary


def test_summary_names_gates_failing_conditions_and_failures(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "run", run_id="r9", tests=5, broken_contract=True, failing_tests=[sample_test_ids(5)[0]])
    text = github_summary(folder)
    assert text.startswith("## ❌ interlock: integration validation FAILED")
    assert "| 2 · Contract Assurance | ❌ fail | contracts.failed |" in text and "| 1 · Scope Alignment | ✅ pass | — |" in text
    assert f"contract `{BROKEN_ITEM}` (orders → catalog) at `$`: Actual map is missing the following keys: price_cents" in text
    assert "| Tests | 5 | 4 | 1 |" in text and "run `r9`" in text
    ok = github_summary(write_sample(tmp_path / "ok", tests=2))
    assert ok.startswith("## ✅") and "**Failures**" not in ok


def test_summary_of_nothing_certifies_nothing(tmp_path: Path) -> None:
    text = github_summary(tmp_path / "none")
    assert "FAILED" in text and "gate-results.json` is missing" in text and "| Tests | — | — | not run |" in text


def test_append_step_summary_only_with_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_sample(tmp_path / "run", tests=2)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary(folder) is False
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert append_step_summary(folder) is True
    assert target.read_text().startswith("earlier step\n## ✅ interlock")


def test_summary_cells_cannot_break_the_table(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "run", tests=2, broken_contract=True)
    gates = json.loads((folder / "gate-results.json").read_text())
    gates["gates"][1]["name"] = "Contract | Assurance\nsecond line"
    (folder / "gate-results.json").write_text(json.dumps(gates))
    assert "| 2 · Contract \\| Assurance second line | ❌ fail |" in github_summary(folder)
