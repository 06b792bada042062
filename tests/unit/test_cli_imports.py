"""What `interlock` imports before a command runs: the heavy modules only the commands that use them may load.

Every command pays for the CLI's imports (the bench: `interlock test` against a
plain pytest run); a module-level import of one of these brings its cost back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "interlock.toml"
#: Loaded only by the step, kind or output that needs it.
LAZY = ("asyncio", "yaml", "psutil", "rich.progress", "packaging", "sqlalchemy", "alembic",
        "interlock.probes", "interlock.brokers.amqp", "interlock.brokers.embedded_log")


def test_the_cli_and_a_config_with_brokers_load_without_the_heavy_modules() -> None:
    code = (f"import sys, interlock.cli, interlock.execution, interlock.config as c; from pathlib import Path; loaded = c.load(Path({str(SHOP)!r}))\n"
            "assert {'amqp', 'embedded-log'} <= {b.kind for e in loaded.config.environments.values() for b in e.brokers.values()}\n"
            f"print(' '.join(m for m in {LAZY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_a_broker_kind_loads_its_module_when_used() -> None:
    code = ("import sys, interlock.brokers as b; assert 'interlock.brokers.amqp' not in sys.modules\n"
            "assert 'amqp' in b.KINDS and 'interlock.brokers.amqp' not in sys.modules\n"
            "kind = b.KINDS['amqp']; assert kind.name == 'amqp' and 'interlock.brokers.amqp' in sys.modules and b.KINDS['amqp'] is kind")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
