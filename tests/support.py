"""What many tests' throwaway systems share: the head of a minimal interlock.toml."""

from __future__ import annotations

#: The three inputs every config must pin (the protocol's prerequisites from protocols 3, 6 and 7).
PREREQUISITES = """[prerequisites.feature_list]
path = "features.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts"
version = "1"
[prerequisites.environment_baseline]
path = "baseline.toml"
version = "1"
"""


def config_head(name: str = "t", version: str | None = None) -> str:
    """`[project]` and the prerequisites: what a config needs before its services and environments."""
    pinned = f'version = "{version}"\n' if version else ""
    return f'\n[project]\nname = "{name}"\n{pinned}\n{PREREQUISITES}\n'
