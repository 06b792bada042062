"""Paths as the evidence shows them: relative to the project root, a label for what lies outside, never this machine's own.

A bundle is read on another machine, later: `/home/ci/build/4711/shop/...`
says nothing there and tells where someone's checkout was. Inside the
project root a path is shown relative to it (the root itself as `.`); a file
outside it (a pact from a sibling repository) as `external:<folder>/<name>`;
and the places the tools themselves live (the Python environment, the
interpreter, interlock's own code) as `external:python-env/...`,
`external:python`, `external:interlock/...`. `relativize` rewrites a text the
same way: the last pass before the evidence is sealed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

EXTERNAL = "external:"
#: Where a path may start: not inside a longer path or word, but right after a URL's `scheme:///` (`sqlite:////abs/db`).
START = r"(?:(?<=:///)|(?<![\w.\-/]))"


def shown(path: Path, root: Path) -> str:
    """`path` as evidence names it: relative to `root` (`.` for the root), else `external:<parent>/<name>`."""
    for candidate, base in ((path, root), (path.resolve(), root.resolve())):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix() or "."
    return EXTERNAL + "/".join(path.parts[-2:] if len(path.parts) > 2 else path.parts[-1:])


def machine_paths(root: Path) -> list[tuple[str, str]]:
    """(absolute path, what evidence says instead), longest first: the root, then the tools' own places."""
    found: dict[str, str] = {}
    tools = ((Path(sys.executable), "external:python"), (Path(sys.prefix), "external:python-env"),
             (Path(sys.base_prefix), "external:python-base"), (Path(__file__).parent, "external:interlock"))
    for place, label in tools:
        for form in {str(place), str(place.resolve())}:
            found.setdefault(form, label)
    for form in {str(root), str(root.resolve())}:
        found[form] = "."  # the root wins over a tool that lives inside it (a venv in the project)
    return sorted(((p, label) for p, label in found.items() if len(p) > 1), key=lambda item: -len(item[0]))


def relativize(text: str, replacements: list[tuple[str, str]]) -> str:
    """`text` with each absolute path of `replacements` (from `machine_paths`) made relative or labelled.

    A path counts only as a whole path component: `/a/shop` is replaced in
    `/a/shop/x` and `/a/shop`, never in `/a/shop2` nor `/b/a/shop`.
    """
    for absolute, label in replacements:
        if absolute not in text:
            continue
        inside = "" if label == "." else label + "/"
        text = re.sub(START + re.escape(absolute) + "/", inside.replace("\\", "\\\\"), text)
        text = re.sub(START + re.escape(absolute) + r"(?![\w.\-/])", label.replace("\\", "\\\\"), text)
    return text
