"""ARCHITECTURE.md's layer rules, checked on the source so that the map stays true."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from interlock import gates
from tests.import_cycles import cycles, import_graph, module_name

SRC = Path(__file__).resolve().parents[2] / "src" / "interlock"
#: Modules that decide: data in, data out (rule 4). They may not reach the network, processes or files.
PURE = ("gates.py", "statuses.py", "selection.py", "otlp/evidence.py")
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


def test_no_import_cycle() -> None:
    """The issue's count: `python tests/import_cycles.py` prints 0 for src/interlock, lazy imports included."""
    assert cycles(import_graph()) == []


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


def _relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, ast.Call)]


def _called(call: ast.Call) -> str:
    """The name a call ends in: `print` for print(...), `exit` for sys.exit(...)."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def test_only_the_cli_and_the_renderers_print() -> None:
    """Rule 1: everything else speaks through events, so `--json` and the redactor see every line."""
    printers = sorted({_relative(p) for p in SRC.rglob("*.py") if any(_called(c) == "print" for c in _calls(p))})
    assert set(printers) <= {"cli.py", "render.py"}, printers


def test_only_the_cli_turns_errors_into_exit_codes() -> None:
    """Rule 5: the CLI maps errors to exit codes; a module that exits itself skips the one-line error handling (the pact worker is its own process)."""
    exits = sorted({_relative(p) for p in SRC.rglob("*.py")
                    if any(_called(c) in ("exit", "_exit") or ast.unparse(c.func) in ("typer.Exit", "SystemExit") for c in _calls(p))})
    assert set(exits) <= {"cli.py", "contracts/pact_worker.py"}, exits


def _defines(path: Path, name: str) -> bool:
    """The module defines `name` as a function, or imports it from where the step's body lives (3.1 and 3.3)."""
    body = ast.parse(path.read_text()).body
    return any((isinstance(n, ast.FunctionDef) and n.name == name)
               or (isinstance(n, ast.ImportFrom) and name in {a.asname or a.name for a in n.names}) for n in body)


def test_every_step_is_listed_once_and_names_its_code() -> None:
    """Rule 2: `engine.STEPS` is the data a run is made of; each entry names a module that defines the function it runs."""
    from interlock import engine

    ids = [entry[0] for entry in engine.STEPS]
    assert len(ids) == len(set(ids))
    for step_id, _, _, target, _ in engine.STEPS:
        module, _, function = target.partition(":")
        path = _module_file(module)
        assert path is not None and _defines(path, function), f"step {step_id}: {target} is no function"


def test_the_engine_takes_its_steps_as_a_parameter() -> None:
    """Rule 2: the step list is a parameter, and a step whose module is missing is "not implemented", never a pass."""
    import inspect

    from interlock import engine

    assert "steps" in inspect.signature(engine.Engine).parameters
    assert engine._resolve("interlock.phases.no_such_step:run", "9.9") is not None
    assert engine._resolve("interlock.phases.no_such_step:run", "9.9").__qualname__.startswith("not_implemented")


def test_only_dburl_turns_a_url_into_a_database_url() -> None:
    """Rule 4: one module turns a config URL into a SQLAlchemy URL; the history store builds its engine from what dburl returns."""
    parsers = sorted({_relative(p) for p in SRC.rglob("*.py") if any(_called(c) in ("make_url", "create") and
                      (_called(c) == "make_url" or ast.unparse(c.func).endswith("URL.create")) for c in _calls(p))})
    engines = sorted({_relative(p) for p in SRC.rglob("*.py") if any(_called(c) == "create_engine" for c in _calls(p))})
    assert parsers == ["dburl.py"]
    assert set(engines) <= {"dburl.py", "store/__init__.py"}, engines


def test_one_redactor_per_run() -> None:
    """Rule 7: the run's redactor is built once, by `runspec.build`; secrets.py's own factories are what it calls."""
    builders = sorted({_relative(p) for p in SRC.rglob("*.py") if any(_called(c) == "Redactor" for c in _calls(p))})
    assert set(builders) <= {"secrets.py", "runspec.py"}, builders


def test_only_the_engine_and_the_edit_commands_write_the_ledger() -> None:
    """Rule 8: a ledger line per step (the engine), per edit through interlock (`defects` in the CLI, `merge`, step 4.1's in-place masking)."""
    writes = {"append", "record", "line_for_step"}
    writers = sorted({_relative(p) for p in SRC.rglob("*.py") if p.name != "ledger.py" and any(
        isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", None) == "ledger" and c.func.attr in writes for c in _calls(p))})
    assert writers == ["cli.py", "engine.py", "merge.py", "phases/bundle.py"]


def _layers() -> list[set[str]]:
    """The layers of ARCHITECTURE.md, top to bottom, by top-level module or package: read from the import-linter `layers` contract, their one definition."""
    with (SRC.parents[1] / "pyproject.toml").open("rb") as handle:
        contracts = tomllib.load(handle)["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["id"] == "layers")
    return [{name.strip().strip("()") for name in re.split(r"[:|]", layer)} for layer in layers]


def test_every_module_sits_in_one_layer_and_imports_no_higher_one() -> None:
    """Rule 10: a new module must be placed in a layer, and no import (lazy ones included) reaches up."""
    layers = _layers()
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    assert sum(len(layer) for layer in layers) == len(level), "a module is in two layers"

    def top(module: str) -> str:
        return module.split(".")[1]

    graph = {m: deps - {"interlock"} for m, deps in import_graph().items() if m != "interlock"}
    assert {top(m) for m in graph} == set(level), "place every top-level module in ARCHITECTURE.md's layers"
    upward = sorted((m, d) for m, deps in graph.items() for d in deps if level[top(d)] < level[top(m)])
    assert upward == []


def test_nothing_reads_interlocks_own_markdown() -> None:
    """Rule 11: a later step reads a Markdown artifact's JSON twin; the Markdown is only written (and sealed whole by the bundle)."""
    from interlock import artifacts

    markdown = {name for name, value in vars(artifacts).items() if isinstance(value, artifacts.Artifact) and value.filename.endswith(".md")}
    reads = {"read_text", "read_bytes", "open", "readlines"}
    readers = sorted({_relative(p) for p in SRC.rglob("*.py") if any(
        _called(c) in reads and (any(n in ast.unparse(c) for n in markdown) or ".md" in ast.unparse(c)) for c in _calls(p))})
    assert readers == [], readers


def test_no_module_outside_the_registry_names_a_broker_kind() -> None:
    """Rule 13: a broker kind is one module and one registry line; nothing else spells a kind, so nothing else needs an edit."""
    from interlock import brokers

    naming = sorted({_relative(p) for p in SRC.rglob("*.py") if p.parent.name != "brokers" and _strings(p) & set(brokers.KINDS)})
    assert naming == [], naming


def test_no_module_global_carries_a_decision() -> None:
    """Rule 14: decisions travel in the RunSpec; no `global` rebinding and no context variable in the package."""
    carriers = sorted({_relative(p) for p in SRC.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
                       if isinstance(n, ast.Global) or (isinstance(n, ast.Call) and _called(n) == "ContextVar")})
    assert carriers == [], carriers


def test_no_test_fixture_ships_in_the_package() -> None:
    """Rule 16: fixtures live under tests/; only the pytest plugin (shipped for the system's suite) imports pytest."""
    fixtures = sorted(_relative(p) for p in SRC.rglob("*.py") if p.stem in ("sample", "conftest", "fixtures") or p.stem.startswith("test_"))
    users = sorted(_relative(p) for p in SRC.rglob("*.py") if {"pytest", "_pytest"} & imported(p))
    assert fixtures == []
    assert users == ["pytest_plugin.py"]


def sibling_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Child -> the siblings it imports, for the children of every package: a module stands for everything under it."""
    edges: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            a, b = source.split("."), target.split(".")
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common < len(a) and common < len(b):
                edges.setdefault(".".join(a[: common + 1]), set()).add(".".join(b[: common + 1]))
    for children in list(edges.values()):
        for child in children:
            edges.setdefault(child, set())
    return edges


def test_no_sibling_cycle() -> None:
    """Rule 10 as the `acyclic` contract states it: the children of each package import each other one way only."""
    assert cycles(sibling_graph(import_graph())) == []


def test_the_sibling_graph_sees_a_cycle_between_packages_that_no_two_modules_form() -> None:
    graph = {"p.a.x": {"p.b"}, "p.b": {"p.a.y"}, "p.a.y": set(), "p.a.z": {"p.a.x"}}
    assert cycles(sibling_graph(graph)) == [["p.a", "p.b"]]
    assert cycles(graph) == []
