"""Paths as evidence shows them: relative to the project root, labelled outside it, never this machine's."""

from __future__ import annotations

import sys
from pathlib import Path

from interlock.paths import machine_paths, relativize, shown


def test_inside_the_root_relative_outside_a_label(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    assert shown(root / "contracts" / "pacts" / "a.json", root) == "contracts/pacts/a.json"
    assert shown(root, root) == "."
    assert shown(tmp_path / "team-b" / "pacts" / "orders-catalog.json", root) == "external:pacts/orders-catalog.json"
    assert str(tmp_path) not in shown(tmp_path / "x.json", root)


def test_relativize_rewrites_whole_paths_only(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    table = machine_paths(root)
    text = (f'{{"root": "{root}", "db": "sqlite:///{root}/.interlock/shop.db", "cmd": "{sys.executable} -m pytest", '
            f'"other": "{root}2/x", "deeper": "/elsewhere{root}/y", "lib": "{Path(sys.prefix)}/lib/site.py"}}')
    fixed = relativize(text, table)
    assert fixed == ('{"root": ".", "db": "sqlite:///.interlock/shop.db", "cmd": "external:python -m pytest", '
                     f'"other": "{root}2/x", "deeper": "/elsewhere{root}/y", "lib": "external:python-env/lib/site.py"}}')
    assert relativize(fixed, table) == fixed  # idempotent: sealing twice changes nothing
