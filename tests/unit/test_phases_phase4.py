"""Steps 4.3, 4.1 and 4.2 on a hand-made artifact folder that passes Gates 1-3: no servers."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock import config, identity, ledger
from interlock.artifacts import LEDGER
from interlock.artifacts import ArtifactDir
from interlock.defects import COLUMNS
from interlock.engine import gate_results
from interlock.errors import ConfigError
from interlock.events import Event, PromptRequired
from interlock.evidence import generate_keypair, verify_bundle
from interlock.protocol import HaltRun, Outcome
from interlock.statuses import TrafficStatus
from interlock.phases import bundle, recommendations, signoff
from interlock.context import RunContext
from tests.support import config_head, whole_suite_selection

TOML = config_head("shop", "1.4.0") + """
[services.catalog]

[environments.integration.services.catalog]
url = "http://127.0.0.1:9/"
"""
#: The hand-made system is in no git work tree: its evidence is signed as of no commit, by the config's choice.
SIGNOFF = '[signoff]\napprover = "Q. Orchestrator"\nkey = "keys/signoff.key"\npubkey = "keys/signoff.pub"\nallow_no_commit = true\n'
INTERFACE = "catalog:GET /products/{id}"
PACT_ID = "web->catalog: a product"
MANIFEST, ZIP, SIGNED = "integration-evidence-manifest.json", "INTEGRATION-EVIDENCE.zip", "integration-signoff.json"


def waiver(target: str, expires: datetime) -> dict[str, Any]:
    return {"target": target, "justification": "known gap", "approver": "QA lead", "ticket": "QA-7", "expires": expires}


def scope_matrix(uncovered: tuple[str, ...] = ()) -> dict[str, Any]:
    prereqs = [{"name": n, "path": p, "expected_version": "1", "actual_version": "1", "expected_sha256": None,
                "actual_sha256": "0" * 64, "status": "ok", "reason": None}
               for n, p in (("feature_list", "features.json"), ("architecture_contracts", "contracts"), ("environment_baseline", "baseline.toml"))]
    interfaces = [{"id": INTERFACE, "service": "catalog", "kind": "http", "operation": "GET /products/{id}", "source": "catalog.yaml",
                   "features": [], "checks": [{"kind": "pact", "ref": PACT_ID}], "traffic": {"status": TrafficStatus.PENDING, "by": []}}]
    interfaces += [{"id": i, "service": "catalog", "kind": "http", "operation": i.split(":", 1)[1], "source": "catalog.yaml",
                    "features": [], "checks": [], "traffic": {"status": TrafficStatus.PENDING, "by": []}} for i in uncovered]
    return {"schema_version": 1, "generated_at": "2025-06-01T12:00:00Z", "project": {"name": "shop", "version": "1.4.0"},
            "environment": "integration", "prerequisites": prereqs,
            "services": [{"name": "catalog", "kind": "http", "owner": "team-catalog", "openapi": "catalog.yaml", "asyncapi": None}],
            "interfaces": interfaces, "dependencies": [{"consumer": "web", "provider": "catalog", "via": "pact", "interfaces": [INTERFACE]}],
            "features": [], "uncovered": list(uncovered), "undeclared_pacts": [], "unmatched_pact_interfaces": []}


def check(id: str, kind: str, status: str = "pass", ms: float = 12.5, reason: str | None = None) -> dict[str, Any]:
    return {"id": id, "kind": kind, "target": "http://127.0.0.1:9/health", "status": status, "reason": reason, "duration_ms": ms, "details": {}}


def environment_report(*checks: dict[str, Any]) -> dict[str, Any]:
    checks = checks or (check("catalog", "http"),)
    failed = sum(c["status"] != "pass" for c in checks)
    return {"schema_version": 1, "generated_at": "2025-06-01T12:00:00Z", "environment": "integration", "status": "fail" if failed else "pass",
            "started_at": "2025-06-01T11:59:00Z", "finished_at": "2025-06-01T12:00:00Z",
            "declared": [{"name": "catalog", "role": "service", "kind": "http", "check": "catalog"}], "checks": list(checks),
            "summary": {"total": len(checks), "passed": len(checks) - failed, "failed": failed}}


def contract_results(status: str = "pass", mismatch: str | None = None) -> dict[str, Any]:
    interaction = {"id": PACT_ID, "description": "a product", "provider_states": [], "status": status, "duration_ms": 3.0,
                   "mismatches": [{"type": "body", "path": "$.price", "message": mismatch}] if mismatch else []}
    return {"schema_version": 1, "generated_at": "2025-06-01T12:00:00Z", "environment": "integration", "status": "pass" if status == "pass" else "fail",
            "contracts": [{"id": "web->catalog", "kind": "pact-http", "consumer": "web", "provider": "catalog", "source": "pacts/web-catalog.json",
                           "specification": "4.0", "status": "pass" if status == "pass" else "fail", "duration_ms": 3.0, "reason": None,
                           "interactions": [interaction]}],
            "summary": {"contracts": 1, "interactions": 1, "passed": int(status == "pass"), "failed": int(status == "fail"),
                        "errors": 0, "pending": int(status == "pending"), "not_executed": 0}}


def execution_report(passed: int = 1, failures: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    summary = {"collected": passed + len(failures), "total": passed + len(failures), "passed": passed, "failed": len(failures),
               "skipped": 0, "errors": 0, "deselected": 0}
    tests = [{"nodeid": f"tests/test_catalog.py::test_{i}", "outcome": "passed", "keywords": ["integration"]} for i in range(passed)]
    tests += [{"nodeid": f["nodeid"], "outcome": "failed", "keywords": ["integration"]} for f in failures]
    return {"created": 1.0, "duration": 0.5, "exitcode": 0 if passed and not failures else 1, "root": "/sut",
            "summary": {"total": summary["total"], "collected": summary["collected"]}, "tests": tests,
            "interlock": {"command": ["pytest", "-m", "integration"], "exit_code": 0, "log": "logs/pytest.log",
                          "environment": "integration", "summary": summary, "failures": list(failures), "filtered": False,
                          "pytest_selection": whole_suite_selection([t["nodeid"] for t in tests])}}


READINESS = "# Observability readiness\n\n| Service | Logs | Metrics | Traces | Ready |\n|---|---|---|---|---|\n" \
            "| `catalog` | captured: logs/service-catalog.log (3 lines) | 12 metric families at /metrics | OTLP spans received | yes |\n"


def readiness_data(service: str = "catalog", metrics: str = "12 metric families at /metrics") -> dict[str, Any]:
    """observability-readiness.json of READINESS: what step 2.3 writes beside its Markdown."""
    row = {"service": service, "logs": "captured: logs/service-catalog.log (3 lines)", "metrics": metrics, "traces": "OTLP spans received",
           "ready": not metrics.startswith("missing"), "spans": 3, "traces_required": False, "metrics_missing": []}
    return {"schema_version": 1, "generated_at": "2025-06-01T12:00:00Z", "environment": "integration", "services": [row],
            "gaps": [] if row["ready"] else [service]}


def trace_evidence(*undeclared: tuple[str, str | None], receiver: bool = True) -> dict[str, Any]:
    """trace-evidence.json as step 3.1 writes it (issue 16), with the given (interface, caller) undeclared dependencies."""
    counters = {"endpoint": "http://127.0.0.1:4318", "forward": None, "requests": {"traces": 3, "metrics": 0, "logs": 0},
                "rejected": {"malformed": 0, "too_large": 0}, "dropped_spans": 0, "forward_failures": 0,
                "by_service": {"catalog": {"spans": 3, "metrics": 0, "logs": 0, "dropped": 0}}}
    nodeid = "tests/test_shop.py::test_list_products"
    return {
        "schema_version": 1, "generated_at": "2026-06-01T00:00:00Z", "environment": "integration",
        "receiver": counters if receiver else None,
        "services": [{"service": "catalog", "spans": 3, "by_kind": {"server": 3}, "by_status": {"unset": 3}, "traces_required": False}],
        "tests": [{"nodeid": nodeid, "trace_id": "ab" * 16, "services": ["catalog"], "interfaces": ["catalog:GET /products"],
                   "calls": [{"from": "interlock-tests", "to": "catalog", "kind": "http", "target": "GET /products"}]}],
        "pact_jobs": [],
        "interfaces": [{"id": "catalog:GET /products", "observed": True, "by": [nodeid]}],
        "undeclared": [{"interface": i, "from": caller, "reason": "no contract or test declares it", "seen_in": [nodeid]} for i, caller in undeclared],
        "scenarios": [],
    }


def regression_data(*neighbours: dict[str, Any]) -> dict[str, Any]:
    """regression-summary.json of a run that reran nothing (but the given neighbours)."""
    return {"schema_version": 1, "generated_at": "2025-06-01T12:00:00Z", "run_id": "run-1", "environment": "integration", "runs": 3,
            "pytest_runs": [], "command": None, "reruns": [], "neighbours": list(neighbours), "not_rerun": []}


STEP_OF = {recommendations: "4.3", bundle: "4.1", signoff: "4.2"}


def record_evidence(root: Path, loaded: config.Loaded, on: identity.Identity) -> None:
    """One ledger line producing every file of a hand-made folder: it stands for the steps that would have written them."""
    ledger.append(root, step="3.3", kind="step", command="tests: hand-made evidence", by="test", reason="stands for steps 1.1-3.3",
                  run_id="run-1", identity=on, config=ledger.config_digest(loaded.path), materials={}, products=ledger.tracked(root))


class System:
    """A system under test: config, key pair and an artifact folder that passes Gates 1-3."""

    def __init__(self, root: Path, extra_toml: str = "", signoff_toml: str = SIGNOFF, toml: str = TOML) -> None:
        self.root = root
        (root / "keys").mkdir(parents=True)
        generate_keypair(root / "keys/signoff.key", root / "keys/signoff.pub")
        generate_keypair(root / "keys/other.key", root / "keys/other.pub")
        (root / "interlock.toml").write_text(toml + signoff_toml + extra_toml)
        self.loaded = config.load(root / "interlock.toml")
        self.folder = ArtifactDir(root / ".artifacts/integration")
        self.events: list[Event] = []
        self.answer = True
        self.published: Path | None = None
        self.decided: dict[str, Any] = {}  # the command's options in the run spec (`interlock signoff --approver --key`)
        f = self.folder
        f.write_json("integration-scope-matrix.json", scope_matrix())
        f.write_json("environment-validation-report.json", environment_report())
        f.write_json("contract-validation-results.json", contract_results())
        f.write_json("test-execution-report.json", execution_report())
        f.write_csv("defect-log.csv", COLUMNS, [])
        f.write_text("observability-readiness.md", READINESS)
        f.write_json("observability-readiness.json", readiness_data())
        f.write_json("trace-evidence.json", trace_evidence())
        f.write_json("regression-summary.json", regression_data())
        for name in ("test-data-inventory.md", "integration-test-plan.md", "regression-summary.md"):
            f.write_text(name, f"# {name}\n\nRecorded by hand for the test.\n")
        f.write_text("logs/pytest.log", "1 passed in 0.5s\n")
        f.write_text("logs/service-catalog.log", "listening on 9\n")
        f.write_text("logs/pact-catalog-http.log", "verifying web->catalog\n")

    def ctx(self, started_at: str = "2025-06-01T12:00:00Z") -> RunContext:
        return RunContext(runspec.build(self.loaded, "integration", **self.decided), self.folder, self.events.append, lambda kind: (self.answer, "test"),
                          "run-1", started_at=started_at, published=self.published)

    def record(self) -> None:
        """Ledger the hand-made evidence as the steps before 4.3 would have: every file, on the tree's identity now."""
        record_evidence(self.folder.root, self.loaded, self.loaded.identity(self.published or self.folder.root))

    def step(self, module: Any, started_at: str = "2025-06-01T12:00:00Z") -> Outcome:
        """Run one of 4.3, 4.1, 4.2 as the engine does: with its run-ledger line (the hand-made evidence recorded first)."""
        if not self.folder.exists(LEDGER):
            self.record()
        ctx = self.ctx(started_at)
        before = ledger.tracked(self.folder.root)
        outcome = module.run(ctx)
        ledger.line_for_step(ctx, STEP_OF[module], "step", outcome.reason or outcome.status, before, *ledger.changes(before, ledger.tracked(self.folder.root)))
        return outcome

    def seal(self) -> list[Outcome]:
        """4.3, 4.1 and 4.2 in the engine's order."""
        return [self.step(module) for module in (recommendations, bundle, signoff)]

    def gate(self, number: int) -> dict[str, Any]:
        return gate_results(self.folder, self.loaded, (number,))["gates"][0]

    def condition(self, number: int, condition_id: str) -> dict[str, Any]:
        return next(c for c in self.gate(number)["conditions"] if c["id"] == condition_id)

    def statement(self) -> dict[str, Any]:
        return json.loads(base64.b64decode(json.loads(self.folder.path(SIGNED).read_text())["payload"]))


@pytest.fixture
def system(tmp_path: Path) -> System:
    return System(tmp_path)


def test_sealed_bundle_verifies_and_passes_every_gate(system: System) -> None:
    outcomes = system.seal()
    assert [o.status for o in outcomes] == ["pass", "pass", "pass"], outcomes
    assert outcomes[2].reason.startswith("signed by Q. Orchestrator (keyid ")
    report = verify_bundle(system.folder.path(ZIP), system.root / "keys/signoff.pub")
    assert report.ok, report.problems
    assert gate_results(system.folder, system.loaded)["status"] == "pass"
    predicate = system.statement()["predicate"]
    assert predicate["approver"] == "Q. Orchestrator" and predicate["signed_at"].endswith("Z")
    assert predicate["scope"]["project"] == "shop" and predicate["scope"]["environment"] == "integration"
    assert [(g["gate"], g["status"], g["conditions_failed"]) for g in predicate["gates"]] == [(1, "pass", []), (2, "pass", []), (3, "pass", [])]
    assert predicate["waivers"] == []
    with zipfile.ZipFile(system.folder.path(ZIP)) as zf:
        assert zf.read(SIGNED) == system.folder.path(SIGNED).read_bytes()
        assert "data/forward-recommendations.md" in zf.namelist()
        bound = {name: hashlib.sha256(zf.read(name)).hexdigest()
                 for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt", "data/integration-evidence-manifest.json")}
    assert {s["name"]: s["digest"]["sha256"] for s in system.statement()["subject"]} == bound


def test_each_gate_is_signed_as_a_verification_summary(system: System) -> None:
    system.seal()
    manifest = {a["path"]: a["sha256"] for a in system.folder.read_json(MANIFEST)["artifacts"]}
    gates = {g["gate"]: g for g in system.statement()["predicate"]["gates"]}
    assert set(gates) == {1, 2, 3}
    for number, gate in gates.items():
        assert gate["verificationResult"] == "PASSED" and gate["verifier"]["id"] == signoff.VERIFIER_ID
        assert gate["policy"]["uri"] == f"interlock.toml#gates.{number}" and len(gate["policy"]["digest"]["sha256"]) == 64
        assert datetime.fromisoformat(gate["timeVerified"]).tzinfo is not None
        assert gate["resourceUri"] == "data/" + MANIFEST
        for attestation in gate["inputAttestations"]:  # the artifacts the gate read, as the manifest records them
            assert attestation["digest"]["sha256"] == manifest[attestation["uri"]]
    assert {a["uri"] for a in gates[3]["inputAttestations"]} == {"test-execution-report.json", "defect-log.csv", "regression-summary.md"}
    policies = {g["policy"]["digest"]["sha256"] for g in gates.values()}
    assert len(policies) == 3  # each gate's own conditions


def test_a_stricter_condition_changes_the_signed_policy(tmp_path: Path) -> None:
    # Making a warning blocking tightens the policy: no approval needed, and the signed policy says so.
    first, second = System(tmp_path / "a"), System(tmp_path / "b", '\n[gates.conditions."regression.summary"]\nblocking = true\n')
    for system in (first, second):
        assert [o.status for o in system.seal()] == ["pass"] * 3
    digest = [{g["gate"]: g["policy"]["digest"]["sha256"] for g in s.statement()["predicate"]["gates"]} for s in (first, second)]
    assert digest[0][1] == digest[1][1] and digest[0][3] != digest[1][3]


def _defect(id: str, severity: str, status: str, expires: str = "") -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(id=id, fingerprint=id, source="test", title=f"{id} fails", severity=severity, status=status, occurrences="1",
               first_seen="2025-06-01T12:00:00Z", last_seen="2025-06-01T12:00:00Z", last_run="run-1")
    if status == "waived":
        row.update(waiver_approver="QA lead", waiver_reason="vendor fix due", waiver_expires=expires, ticket="QA-9")
    return row


def test_the_signoff_lists_the_defect_waivers_that_cover_failures(system: System) -> None:
    environment = {**_defect("DEF-00000003", "high", "waived", "2099-01-01T00:00:00Z"), "source": "environment"}  # relieves no condition
    system.folder.write_csv("defect-log.csv", COLUMNS, [_defect("DEF-00000001", "critical", "waived", "2099-01-01T00:00:00Z"),
                                                        _defect("DEF-00000002", "low", "open"), environment])
    assert [o.status for o in system.seal()] == ["pass"] * 3
    waivers = system.statement()["predicate"]["waivers"]
    assert waivers == [{"condition": "tests.unresolved_failures", "item": "DEF-00000001", "justification": "vendor fix due", "approver": "QA lead",
                        "ticket": "QA-9", "expires": "2099-01-01T00:00:00Z", "source": "defect-log.csv", "severity": "critical"}]
    assert verify_bundle(system.folder.path(ZIP), system.root / "keys/signoff.pub").ok


def test_an_expired_defect_waiver_covers_nothing(system: System) -> None:
    system.folder.write_csv("defect-log.csv", COLUMNS, [_defect("DEF-00000001", "critical", "waived", "2020-01-01T00:00:00Z")])
    outcome = system.seal()[2]
    assert outcome.status == "fail" and "DEF-00000001" in outcome.reason
    assert not system.folder.exists(SIGNED)


WHOLE_CONDITION_WAIVER = ('\n[[waivers]]\ncondition = "regression.unverified"\njustification = "rerun rig down"\napprover = "QA lead"\n'
                          'ticket = "QA-7"\nexpires = 2099-01-01T00:00:00Z\n')


def test_config_waivers_are_listed_with_their_source(tmp_path: Path) -> None:
    system = System(tmp_path, WHOLE_CONDITION_WAIVER)
    system.folder.write_csv("defect-log.csv", COLUMNS, [_defect("DEF-00000003", "high", "resolved")])
    system.seal()
    predicate = system.statement()["predicate"]
    gate3 = predicate["gates"][2]
    assert (gate3["verificationResult"], gate3["conditions_failed"], gate3["waived"]) == ("PASSED", ["regression.unverified"], ["regression.unverified"])
    record = {"condition": "regression.unverified", "justification": "rerun rig down", "approver": "QA lead", "ticket": "QA-7", "expires": "2099-01-01T00:00:00Z"}
    assert predicate["waivers"] == [{**record, "item": None, "source": "interlock.toml"}]
    # A waiver of a whole condition is a relaxation of the policy: the signed predicate says so.
    assert predicate["policy_relaxed"] == [{**record, "change": "waived (the whole condition)"}]


def test_manifest_lists_every_file_with_the_step_that_wrote_it(system: System) -> None:
    system.folder.write_text(".interlock-state.json", "{}")
    system.folder.write_text("gate-results.json", "{}")
    system.step(recommendations)
    assert system.step(bundle).status == "pass"
    manifest = system.folder.read_json(MANIFEST)
    entries = {a["path"]: (a["phase"], a["command"]) for a in manifest["artifacts"]}
    assert sorted(entries) == sorted(["integration-scope-matrix.json", "environment-validation-report.json", "contract-validation-results.json",
                                      "test-execution-report.json", "defect-log.csv", "observability-readiness.md", "test-data-inventory.md",
                                      "integration-test-plan.md", "regression-summary.md", "forward-recommendations.md",
                                      "observability-readiness.json", "regression-summary.json", "trace-evidence.json",
                                      "logs/pact-catalog-http.log", "logs/pytest.log", "logs/service-catalog.log", "run-ledger.jsonl"])
    assert entries["logs/pytest.log"] == ("3.1", "interlock test")
    assert entries["logs/pact-catalog-http.log"] == ("2.2", "interlock contracts")
    assert entries["logs/service-catalog.log"] == (None, None)  # no command in this environment: someone else runs the service
    assert entries["forward-recommendations.md"] == ("4.3", "interlock recommend")
    assert {"interlock", "pytest", "securesystemslib", "python"} <= set(manifest["tools"])
    assert (manifest["run_id"], manifest["environment"], manifest["started_at"]) == ("run-1", "integration", "2025-06-01T12:00:00Z")
    with zipfile.ZipFile(system.folder.path(ZIP)) as zf:
        info = zf.read("bag-info.txt").decode()
    assert "Source-Organization: shop\n" in info and "External-Identifier: run-1\n" in info and "Interlock-Environment: integration\n" in info


def test_environment_logs_name_the_command_that_wrote_them(tmp_path: Path) -> None:
    toml = TOML.replace('[environments.integration.services.catalog]\nurl = "http://127.0.0.1:9/"\n',
                        '[environments.integration]\nsetup = [["{python}", "seed.py", "--db", "${DB_URL}"], ["true"]]\n'
                        '[environments.integration.services.catalog]\nurl = "http://127.0.0.1:9/"\n'
                        'command = ["{python}", "-m", "shop.catalog", "--port", "9"]\n')
    system = System(tmp_path, toml=toml)
    system.folder.write_text("logs/setup.log", "seeded\n")
    system.folder.write_text("logs/pytest.shard-1-of-2.log", "1 passed\n")
    system.folder.write_text("logs/pacts/web-catalog.json", "{}\n")
    system.folder.write_text("notes/by-hand.txt", "not interlock's\n")
    system.step(recommendations)
    assert system.step(bundle).status == "pass"
    entries = {a["path"]: (a["phase"], a["command"]) for a in system.folder.read_json(MANIFEST)["artifacts"]}
    assert entries["logs/service-catalog.log"] == ("1.2", "'{python}' -m shop.catalog --port 9")  # as configured: unexpanded
    assert entries["logs/setup.log"] == ("1.2", "'{python}' seed.py --db '${DB_URL}' && true")
    assert entries["logs/pytest.shard-1-of-2.log"] == ("3.1", "interlock test")
    assert entries["logs/pacts/web-catalog.json"] == ("2.2", "interlock contracts")
    assert entries["notes/by-hand.txt"] == (None, None)  # interlock does not know who wrote it, and says so
    assert [p for p, origin in entries.items() if None in origin] == ["notes/by-hand.txt"]


def test_interlocks_own_folders_do_not_make_the_source_dirty(system: System) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(system.root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "interlock.toml", "keys")
    git("commit", "-qm", "sut")
    staging = ArtifactDir(system.root / ".artifacts/.integration.run-run-1")  # the engine's staging folder of run-1
    shutil.copytree(system.folder.root, staging.root)
    system.published, system.folder = system.folder.root, staging
    system.step(recommendations)
    system.step(bundle)
    assert staging.read_json(MANIFEST)["source"]["git_dirty"] is False  # the published folder is untracked, yet not a change
    (system.root / "interlock.toml").write_text(TOML + SIGNOFF + "# edited\n")
    outcome = system.step(bundle)  # the evidence is of the clean tree: the edited one may not seal it
    assert outcome.status == "fail" and "the work tree is now commit" in outcome.reason and "+ uncommitted changes" in outcome.reason
    system.record()  # the steps rerun on the edited tree
    assert system.step(bundle).status == "pass"
    source = staging.read_json(MANIFEST)["source"]
    assert source["git_dirty"] is True and len(source["changes_digest"]) == 64


def test_rebundling_unchanged_evidence_gives_identical_bytes(system: System) -> None:
    system.step(recommendations)
    system.step(bundle)
    first = system.folder.path(ZIP).read_bytes()
    assert system.step(bundle, started_at="2025-06-02T08:00:00Z").status == "pass"  # a later invocation
    assert system.folder.path(ZIP).read_bytes() == first


def test_editing_an_artifact_after_the_manifest_fails_gate_4(system: System) -> None:
    assert [o.status for o in system.seal()] == ["pass"] * 3
    system.folder.write_text("regression-summary.md", "# edited after the bundle\n")
    cond = system.condition(4, "manifest.uncovered")
    assert cond["status"] == "fail"
    assert "regression-summary.md changed after the manifest" in cond["reason"]


def test_rebundling_changed_evidence_drops_the_stale_signoff(system: System) -> None:
    system.seal()
    system.folder.write_text("logs/pytest.log", "2 passed in 0.7s\n")
    system.record()  # the suite ran again
    assert system.step(bundle).status == "pass"
    assert not system.folder.exists(SIGNED)
    with zipfile.ZipFile(system.folder.path(ZIP)) as zf:
        assert SIGNED not in zf.namelist()
    assert system.condition(4, "signoff.valid")["status"] == "fail"


def test_signoff_is_refused_while_gate_3_fails(system: System) -> None:
    system.folder.write_json("test-execution-report.json", execution_report(passed=0))
    outcomes = system.seal()
    assert outcomes[2].status == "fail"
    assert "tests.ran" in outcomes[2].reason and "no test ran" in outcomes[2].reason
    assert not system.folder.exists(SIGNED)
    assert not any(isinstance(e, PromptRequired) for e in system.events)


def test_the_predicate_lists_every_gates_relaxations_gate_4_included(tmp_path: Path) -> None:
    system = System(tmp_path, '\n[gates.conditions."recommendations.written"]\nblocking = false\njustification = "written after the audit"\n'
                              'approver = "QA lead"\nticket = "QA-8"\nexpires = 2099-01-01T00:00:00Z\n')
    assert [o.status for o in system.seal()] == ["pass"] * 3
    assert system.statement()["predicate"]["policy_relaxed"] == [
        {"condition": "recommendations.written", "change": "blocking = false", "justification": "written after the audit", "approver": "QA lead",
         "ticket": "QA-8", "expires": "2099-01-01T00:00:00Z"}]


def test_a_waiver_covering_the_failed_condition_allows_signoff(tmp_path: Path) -> None:
    system = System(tmp_path, WHOLE_CONDITION_WAIVER)
    system.folder.write_csv("defect-log.csv", COLUMNS, [_defect("DEF-00000003", "high", "resolved")])
    assert [o.status for o in system.seal()] == ["pass"] * 3
    predicate = system.statement()["predicate"]
    assert predicate["gates"][2]["conditions_failed"] == ["regression.unverified"]
    assert [w["condition"] for w in predicate["waivers"]] == ["regression.unverified"]


def test_a_waiver_on_an_integrity_condition_is_refused_and_never_signs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        System(tmp_path / "a", '\n[[waivers]]\ncondition = "tests.ran"\njustification = "suite moved"\napprover = "QA lead"\n'
                               'ticket = "QA-7"\nexpires = 2099-01-01T00:00:00Z\n')
    assert [p.key for p in refused.value.problems] == ["waivers.0.condition"] and "integrity condition" in refused.value.problems[0].message
    # Built around the config check, the waiver still covers nothing: nothing is signed.
    system = System(tmp_path / "b")
    waiver = config.Waiver(condition="tests.ran", justification="suite moved", approver="QA lead", ticket="QA-7", expires="2099-01-01T00:00:00Z")
    system.loaded = system.loaded.model_copy(update={"config": system.loaded.config.model_copy(update={"waivers": [waiver]})})
    system.folder.write_json("test-execution-report.json", execution_report(passed=0))
    outcome = system.seal()[2]
    assert outcome.status == "fail" and "tests.ran" in outcome.reason and not system.folder.exists(SIGNED)


def test_a_declined_prompt_halts_without_signing(system: System) -> None:
    system.step(recommendations)
    system.step(bundle)
    system.answer = False
    with pytest.raises(HaltRun) as halt:
        system.step(signoff)
    assert halt.value.step == "4.2" and "declined" in halt.value.reason
    assert not system.folder.exists(SIGNED)


def test_a_signoff_with_another_key_fails_gate_4(system: System) -> None:
    system.decided.update(approver="Mallory", key=system.root / "keys/other.key")
    outcomes = system.seal()
    assert outcomes[2].status == "fail" and "does not verify" in outcomes[2].reason
    cond = system.condition(4, "signoff.valid")
    assert cond["status"] == "fail" and "signature does not verify" in cond["reason"]


def test_a_missing_key_says_how_to_make_one(tmp_path: Path) -> None:
    system = System(tmp_path, signoff_toml='[signoff]\napprover = "Q. Orchestrator"\nallow_no_commit = true\n')
    outcome = system.seal()[2]
    assert outcome.status == "fail" and "interlock keygen" in outcome.reason
    assert not system.folder.exists(SIGNED)


def test_signoff_refuses_evidence_changed_after_the_bundle(system: System) -> None:
    system.step(recommendations)
    system.step(bundle)
    system.folder.write_text("integration-test-plan.md", "# rewritten\n")
    outcome = system.step(signoff)  # by hand: no step wrote it
    assert outcome.status == "fail" and outcome.reason.startswith("sign-off refused: integration-test-plan.md: changed after step 3.3 wrote it")
    system.record()  # by a step: it is evidence, but not the bundle's
    outcome = system.step(signoff)
    assert outcome.status == "fail" and "integration-test-plan.md" in outcome.reason and "interlock bundle" in outcome.reason
    assert not system.folder.exists(SIGNED)


# -- forward recommendations: a pure function of the evidence ----------------

NOW = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


def evidence(artifacts: dict[str, Any] | None = None, waivers: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """What `gather` returns for the clean folder, with some artifacts replaced."""
    base = {
        "integration-scope-matrix.json": scope_matrix(), "environment-validation-report.json": environment_report(),
        "contract-validation-results.json": contract_results(), "test-execution-report.json": execution_report(),
        "defect-log.csv": [], "observability-readiness.json": readiness_data(), "regression-summary.json": regression_data(),
    }
    return {"project": {"name": "shop", "version": "1.4.0"}, "environment": "integration", "run_id": "run-1", "now": NOW,
            "waivers": list(waivers), "artifacts": base | (artifacts or {}), "errors": {}}


def section(text: str, title: str) -> list[str]:
    lines = text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    return [line for line in lines.splitlines() if line.startswith("- ")]


def test_clean_evidence_says_what_was_checked_in_every_section() -> None:
    text = recommendations.recommendations(evidence())
    for title in ("Uncovered interfaces", "Contract failures and pending interactions", "Failed and flaky tests", "Open defects",
                  "Waivers expiring within 14 days", "Failed environment checks", "Environment drift", "Services lacking logs, metrics or traces"):
        items = section(text, title)
        assert len(items) == 1 and items[0].startswith("- Checked ") and "nothing found" in items[0], (title, items)
    assert "## Protocol 4 (Quality Audit)" in text and "## Protocol 10 (Pre-Deployment)" in text and "## Protocol 12 (Runtime monitoring)" in text


def test_every_gap_in_the_evidence_becomes_a_cited_item() -> None:
    defect = {c: "" for c in COLUMNS} | {"id": "DEF-1", "severity": "high", "status": "open", "owner": "team-catalog", "title": "price wrong"}
    flaky = defect | {"id": "DEF-2", "status": "open", "regression": "fail", "title": "timeout", "rerun": "pytest tests/t.py::x"}
    failure = {"nodeid": "tests/test_catalog.py::test_price", "outcome": "failed", "message": "AssertionError: 2490 != 2500",
               "critical": True, "interfaces": [], "rerun": "pytest tests/test_catalog.py::test_price"}
    readiness = readiness_data(metrics="missing: /metrics answered 404")
    text = recommendations.recommendations(evidence({
        "integration-scope-matrix.json": scope_matrix(uncovered=("catalog:DELETE /products/{id}",)),
        "environment-validation-report.json": environment_report(
            check("catalog", "http", ms=4200.0), check("baseline.var.TZ", "baseline", "fail", reason="TZ is Europe/Paris, baseline says UTC"),
            check("shopdb", "postgresql", "fail", reason="connection refused")),
        "contract-validation-results.json": contract_results("fail", "price: expected 2490, got 2500"),
        "test-execution-report.json": execution_report(passed=3, failures=(failure,)),
        "defect-log.csv": [defect, flaky], "observability-readiness.json": readiness,
    }, waivers=(waiver("contracts.failed", NOW + timedelta(days=3)), waiver("scope.uncovered", NOW + timedelta(days=60)))))
    assert section(text, "Uncovered interfaces") == ["- `catalog:DELETE /products/{id}` has no contract or test; add a pact interaction or a test "
                                                     "marked `@pytest.mark.interface(\"catalog:DELETE /products/{id}\")`. (source: `integration-scope-matrix.json`)"]
    assert "expected 2490, got 2500" in section(text, "Contract failures and pending interactions")[0]
    tests = section(text, "Failed and flaky tests")
    assert "test_price` failed (critical): AssertionError" in tests[0] and tests[0].endswith("(source: `test-execution-report.json`)")
    assert "`DEF-2` (timeout) failed again" in tests[1]
    assert [line.split("`")[1] for line in section(text, "Open defects")] == ["DEF-1", "DEF-2"]
    waivers = section(text, "Waivers expiring within 14 days")
    assert len(waivers) == 1 and "`contracts.failed`" in waivers[0] and "in 3 day(s)" in waivers[0] and "(source: `interlock.toml`)" in waivers[0]
    assert section(text, "Failed environment checks") == ["- `shopdb` (postgresql, http://127.0.0.1:9/health) failed: connection refused; fix it "
                                                          "and rerun `interlock env`. (source: `environment-validation-report.json`)"]
    assert "`baseline.var.TZ` (baseline) diverges from the baseline: TZ is Europe/Paris" in section(text, "Environment drift")[0]
    slowest = section(text, "Slowest environment probes")
    assert [line.split("`")[1] for line in slowest] == ["catalog", "shopdb"]  # baseline comparisons are not probes
    assert slowest[0].startswith("- `catalog` (http, http://127.0.0.1:9/health) took 4200 ms (pass)")
    monitoring = section(text, "Services lacking logs, metrics or traces")
    assert monitoring == ["- `catalog` lacks metrics (missing: /metrics answered 404): instrument it and alert on it before runtime "
                          "monitoring relies on it. (source: `observability-readiness.md`)"]


def test_flaky_tests_and_expiring_defect_waivers_are_items() -> None:
    base = {c: "" for c in COLUMNS} | {"severity": "high", "owner": "team-orders", "rerun": "interlock test -- 'tests/t.py::y'"}
    flaky = base | {"id": "DEF-3", "status": "resolved", "regression": "flaky", "title": "slow checkout"}
    soon = base | {"id": "DEF-4", "status": "waived", "title": "vendor bug", "ticket": "QA-11", "waiver_approver": "QA lead",
                   "waiver_expires": (NOW + timedelta(days=2)).isoformat().replace("+00:00", "Z")}
    later = soon | {"id": "DEF-5", "waiver_expires": "2099-01-01T00:00:00Z"}
    summary = regression_data({"nodeid": "tests/test_checkout.py::test_total", "why": "same module", "outcomes": ["passed", "failed", "passed"], "verdict": "flaky"},
                              {"nodeid": "tests/test_checkout.py::test_tax", "why": "same module", "outcomes": ["passed"] * 3, "verdict": "pass"})
    text = recommendations.recommendations(evidence({"defect-log.csv": [flaky, soon, later], "regression-summary.json": summary}))
    tests = section(text, "Failed and flaky tests")
    assert len(tests) == 2
    assert tests[0].startswith("- `DEF-3` (slow checkout) is flaky:") and tests[0].endswith("(source: `defect-log.csv`)")
    assert tests[1] == ("- `tests/test_checkout.py::test_total` (same module) is flaky: passed, failed, passed in the regression reruns; "
                        "quarantine or fix it. (source: `regression-summary.md`)")
    waivers = section(text, "Waivers expiring within 14 days")
    assert len(waivers) == 1 and "`DEF-4` (ticket QA-11, approved by QA lead)" in waivers[0] and "in 2 day(s)" in waivers[0]
    assert waivers[0].endswith("(source: `defect-log.csv`)")


def test_missing_evidence_is_reported_as_not_checked() -> None:
    text = recommendations.recommendations(evidence({"observability-readiness.json": None, "contract-validation-results.json": None}))
    monitoring = section(text, "Services lacking logs, metrics or traces")
    assert monitoring[0].startswith("- Observability readiness was not recorded. **Not checked**: `observability-readiness.md` is missing")
    assert "run `interlock contracts` (step 2.2)" in section(text, "Contract failures and pending interactions")[0]


def test_an_empty_suite_and_an_unrecorded_service_are_items() -> None:
    readiness = readiness_data(service="orders")
    text = recommendations.recommendations(evidence({"test-execution-report.json": execution_report(passed=0),
                                                      "observability-readiness.json": readiness}))
    assert section(text, "Failed and flaky tests")[0].startswith("- The suite ran no test (0 collected, none run)")
    assert section(text, "Services lacking logs, metrics or traces") == [
        "- Readiness of `catalog` was not recorded; add it to the table. (source: `observability-readiness.md`, `integration-scope-matrix.json`)"]


def test_an_empty_folder_is_not_bundled(tmp_path: Path) -> None:
    system = System(tmp_path)
    shutil.rmtree(system.folder.root)
    system.folder.root.mkdir()
    outcome = system.step(bundle)
    assert outcome.status == "fail" and "no evidence" in outcome.reason
    assert not system.folder.exists(ZIP)


def test_the_step_writes_the_file_from_the_folder(system: System) -> None:
    outcome = system.step(recommendations)
    assert outcome == Outcome("pass", "derived from 8 of 8 evidence artifacts")
    text = system.folder.path("forward-recommendations.md").read_text()
    assert text == recommendations.recommendations(recommendations.gather(system.ctx()))
    assert "Project shop 1.4.0, environment `integration`, run `run-1`" in text


def test_sealing_makes_machine_paths_relative_but_never_rewrites_the_run_ledger(tmp_path: Path) -> None:
    """issue 15 item 8: the last pass before sealing; the chained, append-only ledger keeps its bytes."""
    from interlock.artifacts import LEDGER
    from interlock.phases.bundle import relative_paths

    root = tmp_path / "shop"
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "report.json").write_text(f'{{"root": "{root}", "db": "sqlite:///{root}/.interlock/x.db"}}')
    ledger_line = f'{{"command": "interlock --config {root}/interlock.toml run"}}\n'
    (folder / LEDGER).write_text(ledger_line)
    (folder / "blob.bin").write_bytes(str(root).encode())  # not textual by its type: left as written
    relative_paths(folder, ["report.json", LEDGER, "blob.bin"], root)
    assert (folder / "report.json").read_text() == '{"root": ".", "db": "sqlite:///.interlock/x.db"}'
    assert (folder / LEDGER).read_text() == ledger_line
    assert (folder / "blob.bin").read_bytes() == str(root).encode()


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_evidence_of_no_commit_is_signed_only_by_the_configs_choice(tmp_path: Path) -> None:
    refused = System(tmp_path / "refused", signoff_toml=SIGNOFF.replace("allow_no_commit = true\n", ""))
    outcome = refused.seal()[2]
    assert outcome.status == "fail" and "names no git commit" in outcome.reason and "allow_no_commit = true" in outcome.reason
    assert "[project] repository" in outcome.reason and not refused.folder.exists(SIGNED)
    chosen = System(tmp_path / "chosen")
    assert chosen.seal()[2].status == "pass"
    predicate = chosen.statement()["predicate"]
    assert predicate["git_commit"] is None and predicate["no_commit_allowed"] is True


def test_a_named_repository_is_the_code_the_signoff_certifies(tmp_path: Path) -> None:
    repository = tmp_path / "system"
    repository.mkdir()
    (repository / "app.js").write_text("console.log('products')\n")
    _git(repository, "init", "-q")
    _git(repository, "add", "-A")
    _git(repository, "commit", "-qm", "the system")
    commit = _git(repository, "rev-parse", "HEAD")
    toml = TOML.replace('[project]\nname = "shop"\n', '[project]\nname = "shop"\nrepository = "../system"\n')
    system = System(tmp_path / "qa", signoff_toml=SIGNOFF.replace("allow_no_commit = true\n", ""), toml=toml)
    assert system.loaded.repository == repository.resolve()
    assert [o.status for o in system.seal()] == ["pass", "pass", "pass"]
    assert system.folder.read_json(MANIFEST)["source"] == {"git_commit": commit, "git_dirty": False, "changes_digest": None}
    predicate = system.statement()["predicate"]
    assert predicate["git_commit"] == commit and "no_commit_allowed" not in predicate
    assert system.loaded.commit_key() == commit
    (repository / "app.js").write_text("console.log('changed')\n")  # the system's code changed after the run: not the sealed evidence
    outcome = system.step(bundle)
    assert outcome.status == "fail" and "uncommitted changes" in outcome.reason


@pytest.mark.parametrize("where", ["missing", "plain"])
def test_a_named_repository_that_is_no_git_checkout_is_a_config_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "plain").mkdir()
    toml = TOML.replace('[project]\nname = "shop"\n', f'[project]\nname = "shop"\nrepository = "{where}"\n')
    (tmp_path / "interlock.toml").write_text(toml + SIGNOFF)
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path / "interlock.toml")
    [problem] = raised.value.problems
    assert problem.key == "project.repository" and problem.line == 4 and repr(where) in problem.message
    assert ("does not exist" if where == "missing" else "is not in a git work tree") in problem.message


def test_a_named_repository_in_pyproject_is_checked_at_its_line(tmp_path: Path) -> None:
    body = TOML.replace("[project]", "[tool.interlock.project]").replace("[prerequisites", "[tool.interlock.prerequisites")
    body = body.replace("[services", "[tool.interlock.services").replace("[environments", "[tool.interlock.environments")
    body = body.replace('name = "shop"\n', 'name = "shop"\nrepository = "nowhere"\n', 1)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pkg"\n' + body)
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path / "pyproject.toml")
    [problem] = raised.value.problems
    line = (tmp_path / "pyproject.toml").read_text().splitlines().index('repository = "nowhere"') + 1
    assert problem.line == line and "'nowhere'" in problem.message and "does not exist" in problem.message
