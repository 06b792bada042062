"""No new import cycle in src/interlock (tests/import_cycles.py); the run context, the supervisor and execution are free of one."""

from __future__ import annotations

from tests.import_cycles import cycles, import_graph

#: Cycles other parts of issue 14 remove (config/gates: the verdict; store/db: the one DB-URL module; the openapi
#: split: the contract kinds). Each entry goes when its owner's branch lands; the count must reach 0.
KNOWN = [
    ["interlock.config", "interlock.gates"],
    ["interlock.contracts.openapi", "interlock.contracts.openapi_check", "interlock.contracts.openapi_schemathesis"],
    ["interlock.store", "interlock.store.db"],
]


def test_the_tarjan_search_finds_every_cycle_once() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": set()}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"]]


def test_no_import_cycle_beyond_the_known_ones() -> None:
    found = cycles(import_graph())
    assert [c for c in found if c not in KNOWN] == []
    assert not any(m in c for c in found for m in ("interlock.context", "interlock.supervisor", "interlock.execution", "interlock.runspec",
                                                   "interlock.secrets", "interlock.baseline"))


def test_steps_and_the_context_do_not_import_the_runtime_of_old() -> None:
    graph = import_graph()
    assert "interlock.runtime" not in graph
    assert "interlock.execution" not in graph["interlock.supervisor"] and "interlock.execution" not in graph["interlock.context"]
