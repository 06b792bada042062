"""The second example, adopted the way README's "Quick start in your own repository" says, on a copy without interlock.toml.

examples/clinic is a system as its team had it before interlock: providers with
their own Pact state-change endpoints, consumer-generated pacts with
parameterised states, no OpenAPI, a text/plain note on Redis pub/sub. On a
git-init copy with its interlock.toml removed: `interlock init`, then the hand
edits below (each only where init left the thing out, each with why), then
`interlock config check`, `interlock keygen`, `interlock run --yes` and
`interlock verify`. One green run; then one broken provider field, verified
again through `interlock contracts`, fails exactly the interaction that reads it.

Hand edits (HAND_EDITS), where init cannot know:
1. each service's `command` and free port: the team runs them as containers
   (docker-compose.yml), which nothing here runs; from source they are
   `python -m clinic.<name>` on `port = "auto"` (and declared under
   `[services]` if init did not make the consumers services);
2. the Redis broker reads pub/sub (`mode = "pubsub"`): appointments PUBLISHes,
   which nothing in the repository declares (the code says it);
3. how the reminder note is produced (`[contracts.pact.messages]`): confirming
   appointment 7, the id of the pact's state parameters;
4. `state_url` for the two providers, where init did not find their endpoint;
5. `PYTHONPATH` and the providers' URLs for the suite, as the clinic's Makefile
   gives them, so its tests import `clinic` and talk to the services interlock started;
6. the sign-off approver's name, which only a person can give.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import INTERLOCK, REPO, require_server
from tests.support import Result

CLINIC = REPO / "examples" / "clinic"
SERVICES = ("patients", "appointments", "frontdesk", "reminders")
STATE_URL = "/_pact/provider-states"
MESSAGE = "an appointment confirmed note"
REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"

pytestmark = pytest.mark.e2e


def run(root: Path, *args: str, timeout: float = 400) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([*INTERLOCK, *args], cwd=root, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=clinic", "-c", "user.email=clinic@example.org", *args], cwd=root, check=True,
                          capture_output=True, text=True, timeout=60).stdout


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def toml_dump(data: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """The config back as TOML: plain values first, then each sub-table (init's comments are lost, the keys are not)."""
    def is_table(v: Any) -> bool:
        return isinstance(v, dict)

    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(i, dict) for i in v)

    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in data.items() if not is_table(v) and not is_table_array(v)]
    out = (f"\n[{'.'.join(json.dumps(p) for p in path)}]\n" if path and (lines or not data) else "") + "".join(f"{line}\n" for line in lines)
    for key, value in data.items():
        if is_table(value):
            out += toml_dump(value, (*path, key))
        elif is_table_array(value):
            for item in value:
                inner = toml_dump(item, ())
                out += f"\n[[{'.'.join(json.dumps(p) for p in (*path, key))}]]\n" + inner
    return out


def hand_edits(config: dict[str, Any]) -> list[str]:
    """The edits of the module docstring, each applied only where init left the thing out; the ones applied, by number."""
    applied: list[str] = []

    def edit(number: str, missing: bool, change: Callable[[], None]) -> None:
        if missing:
            change()
            applied.append(number)

    environments = config.setdefault("environments", {})
    if not environments:
        environments["local"] = {}
    env = next(iter(environments.values()))
    runtimes = env.setdefault("services", {})
    services = config.setdefault("services", {})
    for name in SERVICES:
        runtime = runtimes.setdefault(name, {})
        wanted = {"command": ["{python}", "-m", f"clinic.{name}"], "port": "auto", "url": f"http://127.0.0.1:{{port:{name}}}",
                  "health": f"{{url:{name}}}/health"}

        def run_from_source(runtime: dict[str, Any] = runtime, name: str = name, wanted: dict[str, Any] = wanted) -> None:
            services.setdefault(name, {})
            runtime.update(wanted)
            runtime["env"] = {**runtime.get("env", {}), "PORT": f"{{port:{name}}}", "REDIS_URL": REDIS_URL, "PATIENTS_URL": "{url:patients}"}

        edit("1", name not in services or runtime.get("command") != wanted["command"] or runtime.get("port") != "auto", run_from_source)
    brokers = env.setdefault("brokers", {})
    redis = [b for b in brokers.values() if b.get("kind") == "redis"]
    broker_name = next((n for n, b in brokers.items() if b.get("kind") == "redis"), "redis")
    edit("2", not redis or redis[0].get("mode") != "pubsub",
         lambda: brokers.setdefault(broker_name, {"kind": "redis", "url": REDIS_URL}).update(mode="pubsub"))
    pact = config.setdefault("contracts", {}).setdefault("pact", {})
    edit("3", MESSAGE not in pact.get("messages", {}), lambda: pact.setdefault("messages", {}).update({MESSAGE: {
        "broker": broker_name, "topic": "clinic.appointments.confirmed", "timeout": 5,
        "trigger": {"http": {"method": "POST", "url": "{url:appointments}/appointments/7/confirm"}}}}))
    for name in ("patients", "appointments"):
        edit("4", services.setdefault(name, {}).get("state_url") != STATE_URL, lambda name=name: services[name].update(state_url=STATE_URL))
    variables = env.setdefault("vars", {})
    wanted_vars = {"PYTHONPATH": "{root}", "PATIENTS_URL": "{url:patients}", "APPOINTMENTS_URL": "{url:appointments}", "REDIS_URL": REDIS_URL}
    edit("5", any(variables.get(k) != v for k, v in wanted_vars.items()), lambda: variables.update(wanted_vars))
    signoff = config.setdefault("signoff", {})
    edit("6", not signoff.get("approver"), lambda: signoff.update(approver="Clinic Quality Lead"))
    return sorted(set(applied))


def interactions(root: Path) -> dict[str, str]:
    results = json.loads((root / ".artifacts" / "integration" / "contract-validation-results.json").read_text("utf-8"))
    return {str(i["id"]): str(i["status"]) for record in results["contracts"] for i in record["interactions"]}


@pytest.mark.first
def test_the_clinic_adopts_interlock_by_the_quick_start(tmp_path: Path) -> None:
    require_server("127.0.0.1", 6379, "Redis")
    root = tmp_path / "clinic"
    shutil.copytree(CLINIC, root, ignore=shutil.ignore_patterns(".artifacts", ".interlock", "__pycache__", ".pytest_cache"))
    (root / "interlock.toml").unlink()
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the clinic before interlock")

    init = run(root, "init")
    assert init.code == 0, init.output
    config_path = root / "interlock.toml"
    config = tomllib.loads(config_path.read_text("utf-8"))
    applied = hand_edits(config)
    schema = [line for line in config_path.read_text("utf-8").splitlines() if line.startswith("#:schema")]
    config_path.write_text("\n".join(schema) + "\n" + toml_dump(config), "utf-8")
    print("hand edits applied:", applied)

    check = run(root, "config", "check")
    assert check.code == 0 and check.stdout.startswith("OK"), check.output
    keygen = run(root, "keygen")
    assert keygen.code == 0, keygen.output
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    assert ".key" not in status, f"git status lists the private key:\n{status}"

    env_name = next(iter(config["environments"]))
    green = run(root, "run", "--env", env_name, "--yes", timeout=600)
    assert green.code == 0, green.output
    assert "Gate 1: PASS  Gate 2: PASS  Gate 3: PASS  Gate 4: PASS" in green.output, green.output
    assert interactions(root) == {
        "frontdesk->patients: a request for patient 42": "pass",
        "frontdesk->patients: a request for an unknown patient": "pass",
        "frontdesk->appointments: a request for appointment 7": "pass",
        f"reminders->appointments: {MESSAGE}": "pass",
    }
    verify = run(root, "verify", ".artifacts/integration/INTEGRATION-EVIDENCE.zip")
    assert verify.code == 0, verify.output

    patients = root / "clinic" / "patients.py"
    patients.write_text(patients.read_text("utf-8").replace('"born": born}', '"birth_date": born}'), "utf-8")
    broken = run(root, "contracts", "--env", env_name)
    assert broken.code == 1, broken.output
    assert interactions(root) == {
        "frontdesk->patients: a request for patient 42": "fail",
        "frontdesk->patients: a request for an unknown patient": "pass",
        "frontdesk->appointments: a request for appointment 7": "pass",
        f"reminders->appointments: {MESSAGE}": "pass",
    }
    assert "a request for patient 42: $ Actual map is missing the following keys: born" in broken.output, broken.output


def test_the_committed_pacts_are_what_the_consumers_tests_write(tmp_path: Path) -> None:
    """`make pacts` regenerates pacts/*.json from the consumers' own pact-python tests, byte for byte."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "PACT_DIR": str(tmp_path), "PYTHONPATH": str(CLINIC),
           "PACT_DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "consumer_tests"], cwd=CLINIC, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    written = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in (CLINIC / "pacts").glob("*.json")}
    assert written == committed and len(committed) == 3
