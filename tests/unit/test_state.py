"""The run state's rule for gates a halted run never reached (the result line, console and report say NOT RUN)."""

from __future__ import annotations

from interlock.state import gates_not_run


def test_gates_from_the_halted_phase_on_never_ran() -> None:
    assert gates_not_run(None) == frozenset()
    assert gates_not_run("1.1") == {1, 2, 3, 4}
    assert gates_not_run("3.2") == {3, 4}
    assert gates_not_run("4.2") == {4}
    assert gates_not_run("gate-1") == {2, 3, 4}  # Gate 1 itself ran and failed
    assert gates_not_run("somewhere") == frozenset()  # a halt it does not know: no gate is claimed not run
