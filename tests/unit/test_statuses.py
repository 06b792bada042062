"""Statuses are enum members in code: a bare status literal is a typo nobody's type checker catches."""

from __future__ import annotations

import ast
from pathlib import Path

import interlock

SRC = Path(interlock.__file__).parent
LITERALS = frozenset({"pass", "fail", "error", "pending", "not_executed", "not_implemented", "skip", "passed", "failed", "skipped"})
KEYS = frozenset({"status", "outcome", "verdict"})
CALLS = frozenset({"Outcome", "Check"})

#: Lines whose literal is no status but another format's value, each as (file, exact text of the line, stripped) and why.
#: Only these exact lines are exempt; the rest of their file is checked like every other.
FOREIGN: dict[tuple[str, str], str] = {
    ("contracts/pact/records.py", 'if mismatch.get("type") == "error":'):
        "the pact verifier's own mismatch type in its JSON results, not a status",
    ("contracts/pact/records.py", 'status = ContractStatus.ERROR if found and found[0]["type"] == "error" and not failed_states else ContractStatus.FAIL'):
        "a mismatch's type (the verifier's `error` kind, copied above), not a status",
}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in LITERALS else None


def _offences(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.Set, ast.List)) else [operand]
                found += [(node.lineno, f"compared with {v!r}") for v in map(_literal, values) if v]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in KEYS:
                    found += [(node.lineno, f"{key.value!r}: {v!r}") for v in map(_literal, _branches(value)) if v]
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name in CALLS and node.args:
                found += [(node.lineno, f"{name}({v!r}, ...)") for v in map(_literal, _branches(node.args[0])) if v]
            found += [(node.lineno, f"{k.arg}={v!r}") for k in node.keywords if k.arg in KEYS for v in map(_literal, _branches(k.value)) if v]
    return found


def _branches(node: ast.AST) -> list[ast.AST]:
    """The values an expression can take through conditional expressions (`"pass" if ok else "fail"`)."""
    return [*_branches(node.body), *_branches(node.orelse)] if isinstance(node, ast.IfExp) else [node]


def _unexempted(name: str, text: str) -> tuple[list[str], set[tuple[str, str]]]:
    """The offences of one file not on a FOREIGN line, and the FOREIGN entries that exempted one."""
    lines = text.splitlines()
    found, used = [], set()
    for line, what in _offences(ast.parse(text)):
        key = (name, lines[line - 1].strip())
        if key in FOREIGN:
            used.add(key)
        else:
            found.append(f"{name}:{line}: {what}")
    return found, used


def test_no_status_literal_outside_statuses() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name != "statuses.py":
            offenders += _unexempted(name, path.read_text(encoding="utf-8"))[0]
    assert not offenders, "status literals outside interlock/statuses.py:\n" + "\n".join(offenders)


def test_foreign_lines_still_need_it() -> None:
    used: set[tuple[str, str]] = set()
    for name in {name for name, _ in FOREIGN}:
        used |= _unexempted(name, (SRC / name).read_text(encoding="utf-8"))[1]
    assert not set(FOREIGN) - used, f"remove from FOREIGN, these lines hold no status-like literal any more: {sorted(set(FOREIGN) - used)}"


def test_an_unlisted_line_of_a_foreign_file_is_still_caught() -> None:
    """The exemption is the exact line: the same literal one line further in that file is an offence."""
    text = 'def f(mismatch, status):\n    if mismatch.get("type") == "error":\n        return status == "fail"\n'
    found, used = _unexempted("contracts/pact/records.py", text)
    assert found == ["contracts/pact/records.py:3: compared with 'fail'"]
    assert used == {("contracts/pact/records.py", 'if mismatch.get("type") == "error":')}
