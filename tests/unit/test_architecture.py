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


def test_the_code_under_test_has_one_definition() -> None:
    """Rule 8: only identity.py asks git which commit, and whether the tree is dirty."""
    def asks(path: Path) -> bool:
        words = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        return "rev-parse" in words or any(w.startswith("--porcelain") for w in words)

    askers = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if asks(p))
    assert askers == ["identity.py"]


def test_every_integrity_id_is_a_condition() -> None:
    """An integrity id that names no condition would protect nothing (rule 3)."""
    assert gates.INTEGRITY <= {c.id for c in gates.DEFAULT_CONDITIONS}


#: Import cycles that another issue-14 change removes, each with who removes it. The lead deletes
#: an entry when that change lands; from then on the cycle may not come back (the issue's count is 0).
PENDING_CYCLES = {
    ("interlock.execution", "interlock.runtime"): "runspec: runtime splits into run context + process supervisor",
    ("interlock.baseline", "interlock.secrets"): "brokers: the baseline component moves into the broker registry",
    ("interlock.config", "interlock.gates"): "unassigned: config.check imports gates.policy_problems at call time",
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
