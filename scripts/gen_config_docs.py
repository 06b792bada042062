"""Write docs/config.md, the reference of interlock.toml, from the config models (`--check`: exit 1 when it is stale).

The Markdown comes from `interlock.reference.markdown()`, the same models and
JSON Schema that `interlock config schema` prints, so the two never disagree.
Run it after changing a config model; the unit test
tests/unit/test_reference.py fails until it is run.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "config.md"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from interlock.files import atomic_write
    from interlock.reference import REGENERATE, markdown

    text = markdown()
    if "--check" in argv:
        current = TARGET.read_text("utf-8") if TARGET.is_file() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: the config models changed; run `{REGENERATE}` and commit it")
            return 1
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    atomic_write(TARGET, text.encode("utf-8"))
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
