"""Forward recommendations from the trace evidence (issue 16): undeclared dependencies with their caller and where
they were seen, and critical feature scenarios no test's trace proved, by name; a missing or receiver-less
trace evidence is "not checked", never "nothing found"."""

from __future__ import annotations

from typing import Any

from interlock.artifacts import TRACE_EVIDENCE
from interlock.phases import recommendations
from tests.unit.test_phases_phase4 import evidence, section, trace_evidence

TRACES = TRACE_EVIDENCE.filename
UNDECLARED, UNPROVEN = "Undeclared dependencies seen in traces", "Unproven critical scenarios"


def _scenario(feature: str, critical: bool, proven: bool, missing: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"feature": feature, "title": f"{feature} works", "critical": critical, "proven": proven,
            "by": "tests/test_shop.py::test_place_order" if proven else None, "missing": list(missing)}


def _text(traces: dict[str, Any] | None) -> str:
    return recommendations.recommendations(evidence({TRACES: traces}))


def test_clean_traces_say_what_was_checked() -> None:
    found = trace_evidence()
    found["scenarios"] = [_scenario("F-1", True, True)]
    text = _text(found)
    assert section(text, UNDECLARED) == [f"- Checked the calls of 1 tests' and 0 pact jobs' traces (1 interfaces observed) for one no contract "
                                         f"or test declares: nothing found. (source: `{TRACES}`)"]
    assert section(text, UNPROVEN) == [f"- Checked the 1 critical of 1 feature scenarios for one no test's trace proved: nothing found. (source: `{TRACES}`)"]


def test_an_undeclared_dependency_names_interface_caller_and_where_seen() -> None:
    items = section(_text(trace_evidence(("catalog:GET /admin/stats", "orders"), ("shopdb:table audit", None))), UNDECLARED)
    assert items[0] == ("- `catalog:GET /admin/stats` is called by `orders` (no contract or test declares it), seen in "
                        "`tests/test_shop.py::test_list_products`; add a contract or a test marked "
                        "`@pytest.mark.interface(\"catalog:GET /admin/stats\")`, or remove the call. (source: `trace-evidence.json`)")
    assert items[1].startswith("- `shopdb:table audit` is called by an unknown caller")
    assert len(items) == 2


def test_unproven_critical_scenarios_are_named_and_others_are_not() -> None:
    found = trace_evidence()
    found["scenarios"] = [_scenario("F-1", True, False, ("shipping:publish order.created",)), _scenario("F-2", False, False),
                          _scenario("F-3", True, True), _scenario("F-4", True, False)]
    items = section(_text(found), UNPROVEN)
    assert len(items) == 2
    assert items[0].startswith("- Critical scenario `F-1` (F-1 works) is not proven by a trace: missing `shipping:publish order.created`;")
    assert items[1].startswith("- Critical scenario `F-4` (F-4 works) is not proven by a trace: missing every interface")


def test_missing_trace_evidence_is_not_checked() -> None:
    text = _text(None)
    for title in (UNDECLARED, UNPROVEN):
        [item] = section(text, title)
        assert item.startswith(f"- **Not checked**: `{TRACES}` is missing") and "`interlock test` (step 3.1)" in item


def test_no_receiver_is_not_checked_for_undeclared_dependencies() -> None:
    [item] = section(_text(trace_evidence(receiver=False)), UNDECLARED)
    assert item.startswith("- **Not checked**: no trace was received")


def test_gather_records_a_garbage_trace_evidence_as_not_checked(tmp_path: Any) -> None:
    from tests.unit.test_phases_phase4 import System

    system = System(tmp_path)
    system.folder.path(TRACE_EVIDENCE).write_text("{}")
    gathered = recommendations.gather(system.ctx())
    assert gathered["artifacts"][TRACES] is None and TRACES in gathered["errors"]
    [item] = section(recommendations.recommendations(gathered), UNDECLARED)
    assert item.startswith(f"- **Not checked**: `{TRACES}` could not be read (")
