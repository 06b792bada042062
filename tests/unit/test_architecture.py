"""ARCHITECTURE.md's layer rules, checked on the source so that the map stays true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from interlock import gates
from tests.import_cycles import cycles, import_graph, module_name

SRC = Path(__file__).resolve().parents[2] / "src" / "interlock"
#: Modules that decide: data in, data out (rule 4). They may not reach the network, processes or files.
PURE = ("gates.py", "statuses.py", "selection.py")
IO_MODULES = {"subprocess", "socket", "os", "shutil", "tempfile", "psutil", "requests", "httpx", "zipfile"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", PURE)
def test_deciding_modules_do_no_io(name: str) -> None:
    assert imported(SRC / name) & IO_MODULES == set()


@pytest.mark.parametrize("path", [SRC / "engine.py", *sorted((SRC / "phases").glob("*.py"))], ids=lambda p: p.name)
def test_the_engine_and_its_steps_never_print(path: Path) -> None:
    calls = [n.lineno for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
    assert calls == [], f"{path.name} prints at lines {calls}: emit an event instead (rule 1)"


def _strings(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_code_under_test_has_one_definition() -> None:
    """Rule 8: only identity.py asks git which commit, and whether the tree is dirty."""
    def asks(path: Path) -> bool:
        words = _strings(path)
        return "rev-parse" in words or any(w.startswith("--porcelain") for w in words)

    askers = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if asks(p))
    assert askers == ["identity.py"]


def test_only_identity_decides_a_runs_commit() -> None:
    """One function decides the commit (the history, the manifest and Gate 4 agree): nothing else runs `git status` or reads CI's commit variables."""
    ci_variables = {"INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"}

    def git_asks(node: ast.Call) -> bool:
        """`run_git(...)`, or a command list holding "git" and one of its commit or tree subcommands."""
        if getattr(node.func, "id", None) == "run_git" or getattr(node.func, "attr", None) == "run_git":
            return True
        words = {n.value for a in node.args for n in ast.walk(a) if isinstance(n, ast.Constant)}
        return "git" in words and bool(words & {"status", "rev-parse", "diff", "describe"})

    def decides(path: Path) -> bool:
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        return bool(_strings(path) & ci_variables) or any(git_asks(c) for c in calls)

    deciders = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if decides(p))
    assert deciders == ["identity.py"]


def interlock_imports(path: Path) -> set[str]:
    """The interlock modules `path` imports, at the top or inside a function (a lazy import is still a dependency)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "interlock"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
            if base.split(".")[0] == "interlock":
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return SRC / "__init__.py"
    for candidate in (SRC.joinpath(*parts).with_suffix(".py"), SRC.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def reachable(start: Path) -> set[str]:
    """Every interlock module `start` imports, directly or through the modules it imports."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in interlock_imports(todo.pop()):
            path = _module_file(name)
            if path is not None and name not in seen:
                seen.add(name)
                todo.append(path)
    return seen


@pytest.mark.parametrize("path", sorted((SRC / "phases").glob("*.py")), ids=lambda p: p.name)
def test_no_step_imports_the_engine(path: Path) -> None:
    """Steps sit below the engine: neither a step nor anything it imports (lazily included) reaches interlock.engine."""
    assert "interlock.engine" not in reachable(path), f"phases/{path.name} reaches interlock.engine; use interlock.verdict or interlock.state"


#: What touches a file: an artifact folder's or a path's methods, and the functions that open one.
_FILE_OPS = {"path", "exists", "open", "read_text", "read_bytes", "write_text", "write_bytes", "write_csv", "read_json", "read_json_or_none",
             "unlink", "is_file", "stat", "replace", "rename", "artifact"}


def _touches_defect_log(path: Path) -> list[int]:
    """Lines where `path` opens, reads or writes the defect log itself instead of through `interlock.defects.DefectLog`."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            arguments = " ".join(ast.unparse(a) for a in [*node.args, *(k.value for k in node.keywords)])
            if name in ("read_log", "write_csv") or (name in _FILE_OPS and ("defect-log" in arguments or "DEFECT_LOG" in arguments)):
                lines.append(node.lineno)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and any(
                "defect-log" in ast.unparse(side) or "DEFECT_LOG" in ast.unparse(side) for side in (node.left, node.right)):
            lines.append(node.lineno)
    return lines


def test_only_the_defect_log_type_opens_or_writes_the_defect_log() -> None:
    """One owner: every reader and writer of defect-log.csv (and a shard's) goes through DefectLog."""
    touching = {p.relative_to(SRC).as_posix(): lines for p in SRC.rglob("*.py") if p.name != "defects.py" and (lines := _touches_defect_log(p))}
    assert touching == {}, f"use interlock.defects.DefectLog instead: {touching}"


def test_every_integrity_id_is_a_condition() -> None:
    """An integrity id that names no condition would protect nothing (rule 3)."""
    assert gates.INTEGRITY <= {c.id for c in gates.DEFAULT_CONDITIONS}


def _hashes_a_file_itself(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function that both reads a file or stream and feeds hashlib: its own file digest beside `files.sha256_stream`."""
    def name(call: ast.Call) -> str:
        return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")

    calls = [n for n in ast.walk(function) if isinstance(n, ast.Call)]
    digests = [c for c in calls if isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", None) == "hashlib"]
    streamed = any(not c.args for c in digests) and any(name(c) == "read" for c in calls)  # a digest fed chunk by chunk
    whole = any(isinstance(a, ast.Call) and name(a) in ("read_bytes", "read") for c in digests for a in c.args)  # a file's bytes at once
    return streamed or whole


def test_one_way_to_hash_a_file() -> None:
    """One `sha256_file` (interlock.files): every digest evidence records or compares is computed alike."""
    own = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (node.name == "sha256_file" or _hashes_a_file_itself(node)):
                own.setdefault(path.relative_to(SRC).as_posix(), []).append(node.name)
    assert {path: sorted(names) for path, names in own.items()} == {"files.py": ["sha256_file", "sha256_stream"]}


def test_only_the_verdict_records_gate_results() -> None:
    """The verdict splits into the pure `gates.evaluate` and `verdict.record`, the one writer of gate-results.json."""
    writers = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("write_json", "write_text", "atomic_write"):
                if any("gate-results" in ast.unparse(a) or "GATE_RESULTS" in ast.unparse(a) for a in node.args):
                    writers.setdefault(path.relative_to(SRC).as_posix(), []).append(node.lineno)
    assert set(writers) == {"verdict.py"}, writers


#: Import cycles that another issue-14 change removes, each with who removes it. The lead deletes
#: an entry when that change lands; from then on the cycle may not come back (the issue's count is 0).
PENDING_CYCLES = {
}


def test_no_import_cycle_beyond_the_pending_ones() -> None:
    found = {tuple(component) for component in cycles(import_graph())}
    assert found <= set(PENDING_CYCLES), f"new import cycles: {sorted(found - set(PENDING_CYCLES))}"


def test_the_cycle_counter_sees_function_level_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.sub import c\n")
    (pkg / "sub" / "c.py").write_text("from .. import a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n")
    (pkg / "e.py").write_text("import pkg.d\n")
    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_every_unit_test_file_is_named_after_the_module_it_tests() -> None:
    """`tests/unit/**/test_<module>[_<aspect>].py`, the module's dotted path with `_` for `.`: a reader finds a module's tests by name."""
    modules = {module_name(p).removeprefix("interlock.").replace(".", "_") for p in SRC.rglob("*.py")} - {"interlock"}
    unit = Path(__file__).resolve().parent
    unnamed = sorted(p.relative_to(unit).as_posix() for p in unit.rglob("test_*.py")
                     if p.name != "test_architecture.py"
                     and not any(p.stem == f"test_{m}" or p.stem.startswith(f"test_{m}_") for m in modules))
    assert unnamed == [], f"name these after the module they test: {unnamed}"


def test_the_run_context_and_the_supervisor_do_not_import_execution() -> None:
    """runtime.py of old split into the run context and the process supervisor; neither reaches back into execution."""
    graph = import_graph()
    assert "interlock.runtime" not in graph
    assert "interlock.execution" not in graph["interlock.supervisor"] and "interlock.execution" not in graph["interlock.context"]
