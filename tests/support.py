"""What many tests share: the head of a minimal interlock.toml, the result of a CLI call."""

from __future__ import annotations

import json
from dataclasses import dataclass

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


def orders_on_a_broker(document: str, kind: str, url: str) -> str:
    """A config (head included) whose one service, orders, publishes what AsyncAPI `document` says on broker `bus`."""
    return config_head("t") + f"""
[services.orders]
asyncapi = "{document}"
[environments.test.services.orders]
url = "http://127.0.0.1:9"
[environments.test.brokers.bus]
kind = "{kind}"
url = {json.dumps(url)}
"""


@dataclass
class Result:
    """What one `interlock` subprocess gave back."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr
