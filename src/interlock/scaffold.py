"""`interlock init`: a starting interlock.toml and the protocol's automation hooks.

The protocol names three scripts (`scripts/validate_environment.py`,
`scripts/run_contract_tests.py`, `scripts/generate_artifact_manifest.py`);
they are thin shims over the CLI taking the protocol's flags, so a team that
follows the protocol's wording and one that calls `interlock` get one behaviour.
"""

from __future__ import annotations

from pathlib import Path

from interlock.errors import Problem, UsageError
from interlock.events import Emit, FileWritten
from interlock.files import atomic_write
from interlock.reference import SCHEMA_FILE, schema_text

SHIM = '''#!/usr/bin/env python3
"""PROTOCOL-9 automation hook: `python scripts/{name} {usage}`.

A thin shim over `interlock {command}`, written by `interlock init`.
"""

import sys

from interlock.cli import main

sys.argv = ["interlock", "{command}", *sys.argv[1:]]
main()
'''

SHIMS = {
    "validate_environment.py": ("env", "--env integration --output .artifacts/integration/environment-validation-report.json"),
    "run_contract_tests.py": ("contracts", "--env integration --output .artifacts/integration/contract-validation-results.json"),
    "generate_artifact_manifest.py": ("bundle", "--env integration"),
}

CONFIG = '''#:schema ./{schema}
# interlock: how to validate this system's integration (PROTOCOL-9).
# `interlock config check` reports every problem with its line.

[project]
name = "{name}"
version = "0.1.0"

# Inputs of protocols 3, 6 and 7, pinned by version or sha256.
[prerequisites.feature_list]
path = "docs/features.json"
version = "0.1.0"

[prerequisites.architecture_contracts]
path = "contracts"
version = "0.1.0"

[prerequisites.environment_baseline]
path = "env/baseline.toml"
version = "0.1.0"

[services.api]
description = "The service under test"
owner = "team-api"
openapi = "contracts/openapi/api.yaml"

[environments.integration]
setup = []

[environments.integration.services.api]
command = ["{{python}}", "-m", "api"]
port = "auto"  # a free port for each run, passed on as {{port:api}} and {{url:api}}
url = "http://127.0.0.1:{{port:api}}"
health = "{{url:api}}/health"
env = {{ PORT = "{{port:api}}" }}

[contracts.pact]
sources = ["contracts/pacts"]

[suite]
path = "tests"
marker = "integration"
timeout = 300

[signoff]
approver = "Quality Orchestrator"
key = ".interlock/keys/signoff.key"
pubkey = ".interlock/keys/signoff.pub"
'''

PYTEST_INI = """[pytest]
markers =
    integration: integration test, run by `pytest -m integration` (PROTOCOL-9 step 3.1)
    critical: a failure here is a critical defect and halts the protocol until mitigated
    interface(*ids): interface ids this test covers, e.g. "catalog:GET /products/{id}"
"""


def _has_pytest_config(root: Path) -> bool:
    if (root / "pytest.ini").is_file():
        return True
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        path = root / name
        if path.is_file() and marker in path.read_text("utf-8", errors="replace"):
            return True
    return False


def scaffold(root: Path, emit: Emit, *, force: bool = False) -> list[Path]:
    """Write the config, the three shims and (when no pytest config exists) the markers, saying each through `emit`; return what was written."""
    # The schema beside the config, named by a relative `#:schema` line: every clone and editor (taplo, Even Better
    # TOML) finds it offline, it matches the installed interlock, and no machine path enters the config.
    targets: dict[Path, str] = {root / "interlock.toml": CONFIG.format(name=root.resolve().name, schema=SCHEMA_FILE),
                                root / SCHEMA_FILE: schema_text()}
    for script, (command, usage) in SHIMS.items():
        targets[root / "scripts" / script] = SHIM.format(name=script, command=command, usage=usage)
    if not _has_pytest_config(root):
        targets[root / "pytest.ini"] = PYTEST_INI
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise UsageError(Problem(str(existing[0]), "already exists; pass --force to overwrite"))
    for path, text in targets.items():
        atomic_write(path, text.encode("utf-8"))
        if path.suffix == ".py":
            path.chmod(0o755)
        emit(FileWritten("init", str(path)))
    return list(targets)
