"""Statuses are enum members in code: a bare status literal is a typo nobody's type checker catches."""

from __future__ import annotations

import ast
from pathlib import Path

import interlock

SRC = Path(interlock.__file__).parent
LITERALS = frozenset({"pass", "fail", "error", "pending", "not_executed", "not_implemented", "skip", "passed", "failed", "skipped"})
KEYS = frozenset({"status", "outcome", "verdict"})
CALLS = frozenset({"Outcome", "Check"})

#: Files still holding status literals, each with the reason; shrink this list, never grow it.
ALLOWED: dict[str, str] = {
    'cli.py': 'step/contract-document status compared as literal; cli.py import lines are being edited by helper speed2 at the same time',
    'contracts/asyncapi/capture_run.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/asyncapi/records.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/openapi/kind.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/openapi/run.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/openapi/schemathesis_run.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/pact/records.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'contracts/pact_worker.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through); the worker runs in a subprocess',
    'contracts/schema/records.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'phases/contracts.py': 'contract kinds still write interaction/record statuses as literals (ContractStatus not yet threaded through)',
    'events.py': 'StepFinished.status compared as literal; not yet converted',
    'execution.py': 'pytest outcomes (TestOutcome) compared as literals; not yet converted',
    'junit.py': 'reads artifact statuses to render them; not yet converted (JUnit kinds mix pass/failure/skipped with history outcomes)',
    'merge.py': 'shard merge compares statuses as literals; not yet converted',
    'phases/recommendations.py': 'recommendation templates keyed by contract status; not yet converted',
    'render.py': 'reads artifact statuses to render them; not yet converted',
    'report/model.py': 'reads artifact statuses to render them; not yet converted (history outcomes, contract and gate statuses)',
    'report/svg.py': 'reads artifact statuses to render them; not yet converted',
    'store/records.py': "maps artifact values onto HistoryOutcome; the literal keys are the artifacts' values",
    'store/schema.py': 'SQL partial-index predicate on the stored outcome value, store/ schema owned by another helper',
    'summary.py': 'reads artifact statuses to render them; not yet converted',
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


def test_no_status_literal_outside_statuses() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name == "statuses.py" or name in ALLOWED:
            continue
        offenders += [f"{name}:{line}: {what}" for line, what in _offences(ast.parse(path.read_text(encoding="utf-8")))]
    assert not offenders, "status literals outside interlock/statuses.py:\n" + "\n".join(offenders)


def test_allowed_files_still_need_it() -> None:
    stale = [name for name in ALLOWED if not _offences(ast.parse((SRC / name).read_text(encoding="utf-8")))]
    assert not stale, f"remove from ALLOWED, they hold no status literal any more: {stale}"
