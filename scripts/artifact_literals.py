"""Count the source files that spell an artifact's file name as a whole string literal beyond the catalogue.

Every module names an artifact through `interlock.artifacts` (SCOPE_MATRIX.filename,
DEFECT_LOG.shard(...), ...), so renaming one is one edit. This scans every .py
under src/interlock except artifacts.py (and models.py, generated from the
schemas) with the ast module: a string constant equal to a catalogued file name,
a derived view's name, or a shard variant (`defect-log.shard-2-of-4.csv`,
`test-execution-report.shard-*-of-*.json`, `...shard-K-of-N...`) counts. Text that
merely mentions a name (a docstring, a help line) does not. Prints the offenders
and then the count; `python scripts/artifact_literals.py` exits 1 when it is not 0.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src/interlock"
EXEMPT = {PACKAGE / "artifacts.py"}


def _names() -> frozenset[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from interlock.artifacts import all_filenames

    return all_filenames()


def _shard_pattern(names: frozenset[str]) -> re.Pattern[str]:
    stems = "|".join(re.escape(n.rpartition(".")[0]) + r"\.shard-[^.]+-of-[^.]+\." + re.escape(n.rpartition(".")[2]) for n in names if "." in n)
    return re.compile(rf"^(?:{stems})$")


def offenders(package: Path = PACKAGE) -> dict[str, list[tuple[int, str]]]:
    """Each offending file (relative to the repository) with the line and literal of every hit."""
    names = _names()
    shard = _shard_pattern(names)
    found: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(package.rglob("*.py")):
        if path in EXEMPT:
            continue
        tree = ast.parse(path.read_text("utf-8"), str(path))
        parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}  # pieces of f-strings
        hits = [(node.lineno, node.value) for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts
                and (node.value in names or shard.match(node.value))]
        if hits:
            found[path.relative_to(package.parent.parent).as_posix()] = sorted(hits)
    return found


def main() -> int:
    found = offenders()
    for path, hits in found.items():
        print(f"{path}: " + ", ".join(f"{line}:{value!r}" for line, value in hits))
    print(f"{len(found)} file(s) beyond the catalogue hold an artifact file name as a literal")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
