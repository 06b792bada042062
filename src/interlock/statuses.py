"""The statuses artifacts record, as enums validated when an artifact is read.

A gate that finds failures by listing bad strings passes anything it does not
know (`FAIL`, `skipped`, a missing key). Here every status is parsed into an
enum first: a value outside it makes the reading fail with the artifact, the
JSON path and the value, so the gate that needed it fails too. Each enum is
split into explicit verdict sets that together cover every member (a unit test
holds them to it), so a new member cannot silently count as a pass.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar


class ContractStatus(StrEnum):
    """One contract interaction's verdict in contract-validation-results.json."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    PENDING = "pending"
    NOT_EXECUTED = "not_executed"


class TestOutcome(StrEnum):
    """One test's outcome in test-execution-report.json (pytest-json-report's values)."""

    __test__ = False  # not a pytest test class

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"


class StepStatus(StrEnum):
    """What a protocol step returned (protocol.Outcome); `done` is a step resumed from a previous run."""

    PASS = "pass"
    FAIL = "fail"
    NOT_IMPLEMENTED = "not_implemented"
    DONE = "done"


class GateStatus(StrEnum):
    """A gate's or a gate condition's status in gate-results.json; `warn` is a failing non-blocking condition.

    `not_run` is a gate a halted run never reached: only the result line, the
    console and the report say it (gate-results.json keeps its schema's pass or
    fail, and a gate without its evidence fails there). `pending` is a condition
    of a phase-end evaluation whose artifact a later phase writes: it decides
    nothing yet and is never a pass (gates.evaluate's `decided_through`).
    """

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    NOT_RUN = "not_run"
    PENDING = "pending"


class CheckStatus(StrEnum):
    """One environment/data check's status (checks.Check) and the environment report's overall status."""

    PASS = "pass"
    FAIL = "fail"


class RegressionVerdict(StrEnum):
    """A rerun defect's or neighbour test's verdict over the regression runs, and the defect log's regression column."""

    PASS = "pass"
    FAIL = "fail"
    FLAKY = "flaky"


class JUnitResult(StrEnum):
    """A JUnit test case's result element (none for a pass), as junit.py writes it."""

    PASS = "pass"
    FAILURE = "failure"
    ERROR = "error"
    SKIPPED = "skipped"


class HistoryOutcome(StrEnum):
    """A check's normalised outcome in the history store; `not_run` counts as a failure in pass rates."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    PENDING = "pending"
    NOT_RUN = "not_run"


class SpanKind(StrEnum):
    """An OTLP span's kind as logs/otlp-spans.jsonl records it (the proto's SPAN_KIND_* without the prefix, lower case)."""

    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"
    UNSPECIFIED = "unspecified"


class SpanStatus(StrEnum):
    """An OTLP span's status code as logs/otlp-spans.jsonl records it (STATUS_CODE_* without the prefix, lower case)."""

    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


class TrafficStatus(StrEnum):
    """Whether real traffic crossed a scope-matrix interface (`interfaces[].traffic.status`), copied from trace-evidence.json.

    `pending` until step 3.1 recorded the traces (or for an interface added to the scope since); `unknown` when no
    receiver recorded them: neither is ever read as "not observed".
    """

    OBSERVED = "observed"
    NOT_OBSERVED = "not_observed"
    PENDING = "pending"
    UNKNOWN = "unknown"


#: A gate condition that counts as not met where conditions are listed (JUnit cases, the CI step summary): a failed
#: one, and a pending one (a phase-end document left published: undecided is never a pass).
CONDITION_NOT_MET = frozenset({GateStatus.FAIL, GateStatus.PENDING})
#: The only contract status that is a pass.
CONTRACT_PASSED = frozenset({ContractStatus.PASS})
#: Executed but not a pass: a failure, a transport/setup error, or a pending pact (pending is never a pass).
CONTRACT_NOT_PASSED = frozenset({ContractStatus.FAIL, ContractStatus.ERROR, ContractStatus.PENDING})
#: Never executed: counted by `contracts.not_executed`.
CONTRACT_NOT_RUN = frozenset({ContractStatus.NOT_EXECUTED})

#: Outcomes that are a red test: Gate 3 holds each one until its defect is resolved or waived.
TEST_RED = frozenset({TestOutcome.FAILED, TestOutcome.ERROR})
#: Outcomes that ran and were not red (an xfail is the expected failure of a known bug; an xpass is not strict).
TEST_GREEN = frozenset({TestOutcome.PASSED, TestOutcome.XFAILED, TestOutcome.XPASSED})
#: Outcomes of a test that did not run.
TEST_NOT_RUN = frozenset({TestOutcome.SKIPPED})

E = TypeVar("E", ContractStatus, TestOutcome)


class StatusError(ValueError):
    """A status outside its enum, or missing: the artifact is unreadable for the gates."""


def parse(enum: type[E], value: Any, where: str) -> E:
    """`value` as a member of `enum`, or StatusError naming where it was found and what is allowed."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        shown = "missing" if value is None else repr(value)
        raise StatusError(f"{where}: status {shown} is not one of {allowed}") from None


def contract_statuses(results: Any, filename: str) -> list[tuple[str, ContractStatus]]:
    """(interaction id, status) of every interaction in a contract results document, each status validated."""
    if not isinstance(results, dict) or not isinstance(results.get("contracts"), list):
        raise StatusError(f"{filename}: $.contracts is not a list; rerun `interlock contracts`")
    found = []
    for c, contract in enumerate(results["contracts"]):
        interactions = contract.get("interactions") if isinstance(contract, dict) else None
        if not isinstance(interactions, list):
            raise StatusError(f"{filename}: $.contracts[{c}].interactions is not a list; rerun `interlock contracts`")
        for i, item in enumerate(interactions):
            item = item if isinstance(item, dict) else {}
            path = f"{filename}: $.contracts[{c}].interactions[{i}]"
            found.append((str(item.get("id", path)), parse(ContractStatus, item.get("status"), path)))
    return found


def recorded_outcomes(report: Any, filename: str) -> list[tuple[str, TestOutcome]]:
    """(node id, outcome) of every test pytest recorded in the execution report, each outcome validated."""
    tests = report.get("tests") if isinstance(report, dict) else None
    if not isinstance(tests, list):
        raise StatusError(f"{filename}: $.tests is not a list of pytest's per-test records; rerun `interlock test`")
    found = []
    for n, test in enumerate(tests):
        test = test if isinstance(test, dict) else {}
        path = f"{filename}: $.tests[{n}]"
        nodeid = test.get("nodeid")
        if not isinstance(nodeid, str) or not nodeid:
            raise StatusError(f"{path}: no node id; rerun `interlock test`")
        found.append((nodeid, parse(TestOutcome, test.get("outcome"), f"{path} ({nodeid})")))
    return found

