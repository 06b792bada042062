"""`interlock init` on a repository as a team has it (pacts, compose, tests, no OpenAPI, no interlock.toml): init, config
check and run pass phase 1 on what init wrote, and after keygen git sees no private key. One run serves every assertion."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from interlock.statuses import GateStatus
from tests.e2e.conftest import Shop
from tests.repo_sample import make_repository


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def test_init_check_keygen_and_run_pass_phase_1_on_a_repository_init_read(tmp_path: Path) -> None:
    repo = Shop(make_repository(tmp_path / "repo"))
    git(repo.root, "init", "-q")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "the team's repository, before interlock")
    made = repo.interlock("init", "--yes")
    assert made.code == 0, made.output
    for written in ("interlock.toml", "docs/features.json", "env/baseline.toml", "pacts/VERSION", ".gitignore"):
        assert (repo.root / written).is_file(), written
    checked = repo.interlock("config", "check")
    assert checked.code == 0 and checked.stdout.startswith("OK: "), checked.output
    keyed = repo.interlock("keygen")
    assert keyed.code == 0, keyed.output
    status = git(repo.root, "status", "--porcelain", "--untracked-files=all")
    assert "signoff.key" not in status and ".interlock/keys/signoff.pub" in status, status
    assert git(repo.root, "check-ignore", ".interlock/keys/signoff.key").strip() == ".interlock/keys/signoff.key"
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "interlock init")
    ran = repo.interlock("run", "--yes", "--json", timeout=300)
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    missing = [e for e in events if e["event"] == "protocol_error" and e["kind"] == "MissingArtifacts"]
    halted = [e for e in events if e["event"] == "run_halted" and (e["step"].startswith("1.") or e["step"] == "gate-1")]
    assert not missing and not halted, (missing, halted)
    [gate_1] = [e for e in events if e["event"] == "gate_evaluated" and e["gate"] == 1]
    assert gate_1["status"] == GateStatus.PASS, gate_1["failures"]
    assert any(e["event"] == "phase_started" and e["phase"] == 2 for e in events)
    scope = json.loads((repo.artifacts / "integration-scope-matrix.json").read_text())
    assert scope["unmatched_pact_interfaces"] == [] and {i["id"] for i in scope["interfaces"]} >= {"users:GET /users/{id}", "orders:POST /orders"}
    assert git(repo.root, "status", "--porcelain", "--untracked-files=all") == "", "the run left files git would commit"


def test_init_on_a_node_system_starts_its_provider_by_npm_and_verifies_its_pact(tmp_path: Path) -> None:
    """A Node.js provider and a jest consumer with a pact, nothing in Python: init writes `npm start` in provider/ on an auto port,
    the provider's own state endpoint and the jest suite; the run starts the provider and verifies both interactions."""
    from tests.runtimes_sample import make_node_system

    repo = Shop(make_node_system(tmp_path / "repo"))
    git(repo.root, "init", "-q")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "the team's Node system, before interlock")
    made = repo.interlock("init", "--yes")
    assert made.code == 0, made.output
    assert "command that starts 'ProductService': npm start assumed (from provider/package.json)" in made.output
    assert not (repo.root / "pytest.ini").exists()
    text = (repo.root / "interlock.toml").read_text("utf-8")
    assert 'command = ["npm", "start"]\ncwd = "provider"\nport = "auto"' in text and 'state_url = "/_pact/provider-states"' in text
    assert "# The integration suite: jest in consumer (consumer/package.json)" in text and '"--reporters=jest-junit"' in text
    checked = repo.interlock("config", "check")
    assert checked.code == 0 and checked.stdout.startswith("OK: "), checked.output
    assert repo.interlock("keygen").code == 0
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "interlock init")
    ran = repo.interlock("run", "--yes", "--json", timeout=300)
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    gates = {e["gate"]: e for e in events if e["event"] == "gate_evaluated"}
    environment = json.loads((repo.artifacts / "environment-validation-report.json").read_text("utf-8"))
    failed = [(c["id"], c["reason"]) for c in environment["checks"] if c["status"] != "pass"]
    assert gates[1]["status"] == GateStatus.PASS, (gates[1].get("failures"), failed)
    assert gates[2]["status"] == GateStatus.PASS, gates[2].get("failures")
    results = json.loads((repo.artifacts / "contract-validation-results.json").read_text("utf-8"))
    assert results["summary"]["interactions"] == 2 and results["summary"]["passed"] == 2, results["summary"]
    assert (repo.artifacts / "logs").is_dir() and any("ProductService" in p.name for p in (repo.artifacts / "logs").iterdir())
