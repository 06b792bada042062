"""Two false-green guards: a declared component never probed fails Gate 1; evidence of another commit than the one signed fails Gate 4.

The first reads the environment report's `declared` list (and the scope
matrix's services) against its checks. The second compares the commit each
record of the run names (the suite's report, the manifest) with the one the
sign-off certifies, and with HEAD when the sign-off is asked for. No servers:
hand-made artifact folders, and a git repository made in tmp.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock import metrics
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.policy import Gates
from interlock.evidence import bundle_subjects, make_statement, sign_statement, verify_bundle, write_bundle
from interlock.gates import evaluate
from interlock.phases import bundle, environment, recommendations, signoff
from interlock.phases.bundle import bag_info, sealed_files, sealed_prefixes
from interlock.context import RunContext

from .test_phases_phase4 import MANIFEST, SIGNED, ZIP, System, check, environment_report, scope_matrix

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)
TESTS = "test-execution-report.json"


# --- a service declared but never probed (Gate 1) -------------------------------------------------


def gate_row(folder: ArtifactDir, gate: int, condition: str) -> dict[str, Any]:
    results = evaluate(metrics.read_metrics(folder, None, evidence=False, now=NOW), Gates(), [], NOW, (gate,))
    return next(c for c in results[0]["conditions"] if c["id"] == condition)


def environment_folder(tmp_path: Path, declared: list[dict[str, str]] | None, checks: list[dict[str, Any]], services: tuple[str, ...] = ("catalog",)) -> ArtifactDir:
    folder = ArtifactDir(tmp_path / "art")
    matrix = scope_matrix()
    matrix["services"] = [{"name": s, "kind": "http", "owner": None, "openapi": None, "asyncapi": None} for s in services]
    folder.write_json("integration-scope-matrix.json", matrix)
    report = environment_report(*checks)
    if declared is None:
        del report["declared"]
    else:
        report["declared"] = declared
    folder.write_json("environment-validation-report.json", report)
    return folder


DECLARED = [{"name": "catalog", "role": "service", "kind": "http", "check": "catalog.health"},
            {"name": "orders", "role": "service", "kind": "http", "check": "orders.url"},
            {"name": "shopdb", "role": "store", "kind": "sqlite", "check": "shopdb"},
            {"name": "bus", "role": "broker", "kind": "embedded-log", "check": "bus"}]
ALL_CHECKS = [check("catalog.health", "http"), check("orders.url", "http"), check("shopdb", "sqlite"), check("shopdb.migrations", "migrations"), check("bus", "embedded-log")]


def test_every_declared_component_probed_passes_gate_1(tmp_path: Path) -> None:
    row = gate_row(environment_folder(tmp_path, DECLARED, ALL_CHECKS, ("catalog", "orders")), 1, "environment.unprobed")
    assert row["status"] == "pass" and row["actual"] == 0


@pytest.mark.parametrize("dropped, named", [("orders.url", "service orders"), ("shopdb", "store shopdb"), ("bus", "broker bus")])
def test_a_component_without_its_probe_check_fails_gate_1(tmp_path: Path, dropped: str, named: str) -> None:
    """A probe skipped, a filtered probe list or an edited report: the component has no check, so it was never shown up."""
    checks = [c for c in ALL_CHECKS if c["id"] != dropped]
    row = gate_row(environment_folder(tmp_path, DECLARED, checks, ("catalog", "orders")), 1, "environment.unprobed")
    assert row["status"] == "fail" and row["actual"] == 1
    assert f"declared but never probed: {named} (no {dropped} check)" in row["reason"]


def test_a_sub_check_does_not_stand_for_the_component(tmp_path: Path) -> None:
    """`shopdb.migrations` alone is not a probe of `shopdb`: the connection check itself is missing."""
    checks = [c for c in ALL_CHECKS if c["id"] != "shopdb"]
    assert "store shopdb" in gate_row(environment_folder(tmp_path, DECLARED, checks, ("catalog", "orders")), 1, "environment.unprobed")["reason"]


def test_a_service_removed_from_the_report_altogether_is_caught_by_the_scope_matrix(tmp_path: Path) -> None:
    declared = [d for d in DECLARED if d["name"] != "orders"]
    checks = [c for c in ALL_CHECKS if c["id"] != "orders.url"]
    row = gate_row(environment_folder(tmp_path, declared, checks, ("catalog", "orders")), 1, "environment.unprobed")
    assert row["status"] == "fail" and "service orders (in the scope matrix, not in the environment report)" in row["reason"]


def test_a_report_that_does_not_say_what_was_declared_fails_gate_1(tmp_path: Path) -> None:
    row = gate_row(environment_folder(tmp_path, None, ALL_CHECKS), 1, "environment.unprobed")
    assert row["status"] == "fail" and row["actual"] is None
    assert "does not list the declared services, stores and brokers" in row["reason"] and "rerun `interlock env`" in row["reason"]


def test_an_unprobed_component_is_never_waived(tmp_path: Path) -> None:
    """environment.unprobed is an integrity condition: neither its own waiver nor another condition's waiver of the same name covers it."""
    from interlock.policy import Waiver

    folder = environment_folder(tmp_path, DECLARED, [c for c in ALL_CHECKS if c["id"] != "bus"], ("catalog", "orders"))
    approval = {"justification": "broker retired", "approver": "QA lead", "ticket": "QA-9", "expires": datetime(2027, 1, 1, tzinfo=timezone.utc)}
    waivers = [Waiver(condition="environment.unprobed", item="bus", **approval), Waiver(condition="environment.unprobed", **approval),
               Waiver(condition="environment.failed", item="bus", **approval)]
    results = evaluate(metrics.read_metrics(folder, None, evidence=False, now=NOW), Gates(), waivers, NOW, (1,))
    row = next(c for c in results[0]["conditions"] if c["id"] == "environment.unprobed")
    assert row["raw_status"] == "fail" and row["status"] == "fail" and row["waivers"] == [] and "bus" in row["reason"]


def test_the_report_declares_exactly_the_checks_the_probes_report(tmp_path: Path) -> None:
    """The ids `declared_components` promises are the ones `probe_environment` reports, even when nothing answers."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".interlock", ".artifacts", ".run", "__pycache__"))
    loaded = load(root / "interlock.toml")
    ctx = RunContext(runspec.build(loaded, "integration"), ArtifactDir(tmp_path / "art"), lambda event: None, lambda kind: (False, "test"), "run-1")
    declared = environment.declared_components(ctx.env)
    assert {d["role"] for d in declared} == {"service", "store", "broker"}
    assert {d["name"] for d in declared if d["role"] == "service"} == set(loaded.config.services)
    probed = {c.id for c in asyncio.run(environment.probe_environment(ctx, {}))}
    assert [d["check"] for d in declared if d["check"] not in probed] == []


# --- evidence from another git commit than the one signed (Gate 4) ---------------------------------


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A", "--", ".", ":(exclude).artifacts")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[System, str]:
    """A System whose root is a git repository at commit A, and whose suite ran at A."""
    system = System(tmp_path / "sut")
    git(system.root, "init", "-q")
    first = commit_all(system.root, "A")
    ran_at(system, first)
    system.record()  # steps 1.1-3.3 ran at A
    return system, first


def ran_at(system: System, commit: str) -> None:
    report = system.folder.read_json(TESTS)
    report["interlock"]["commit"] = commit
    system.folder.write_json(TESTS, report)


def change_code(system: System) -> str:
    (system.root / "app.py").write_text("PRICE = 2500\n")
    return commit_all(system.root, "B")


def condition(system: System, condition_id: str) -> dict[str, Any]:
    return system.condition(4, condition_id)


def test_signoff_names_the_commit_it_certifies(repo: tuple[System, str]) -> None:
    system, first = repo
    assert [o.status for o in system.seal()] == ["pass", "pass", "pass"]
    predicate = system.statement()["predicate"]
    assert predicate["git_commit"] == first == system.folder.read_json(MANIFEST)["source"]["git_commit"]
    row = condition(system, "signoff.commit")
    assert row["status"] == "pass" and row["actual"] == 0
    assert verify_bundle(system.folder.path(ZIP), system.root / "keys/signoff.pub").ok


def test_signoff_is_refused_when_the_code_changed_after_the_run(repo: tuple[System, str]) -> None:
    system, first = repo
    for module in (recommendations, bundle):
        assert system.step(module).status == "pass"
    second = change_code(system)
    outcome = system.step(signoff)
    assert outcome.status == "fail" and len(outcome.reason.splitlines()) == 1
    assert outcome.reason.startswith(f"sign-off refused: the evidence was produced on commit {first[:12]} (clean), "
                                     f"but the work tree is now commit {second[:12]} (clean)")
    assert not system.folder.exists(SIGNED)


def test_evidence_of_a_before_a_commit_is_not_bundled_at_b(repo: tuple[System, str]) -> None:
    """The suite ran at A, the code moved to B: `interlock bundle` refuses to seal A's evidence as B's, and nothing is signed."""
    system, first = repo
    second = change_code(system)
    assert system.step(recommendations).status == "pass"
    outcome = system.step(bundle)
    assert outcome.status == "fail" and len(outcome.reason.splitlines()) == 1
    assert outcome.reason.startswith("bundle refused: the evidence mixes runs on different code: ")  # 4.3 ran at B, the rest at A
    assert f"forward-recommendations.md is of commit {second[:12]} (clean)" in outcome.reason
    assert f"are of commit {first[:12]} (clean)" in outcome.reason
    assert not system.folder.exists(MANIFEST)
    assert condition(system, "evidence.identity")["status"] == "fail"
    outcome = system.step(signoff)
    assert outcome.status == "fail" and outcome.reason.startswith("sign-off refused: the evidence mixes runs on different code")


def test_a_manifest_of_b_over_a_test_report_of_a_fails_gate_4(repo: tuple[System, str]) -> None:
    """Every record of the run names one commit: a suite report of A under a manifest of B fails `signoff.commit` too."""
    system, first = repo
    second = change_code(system)
    system.record()  # every step rerun at B, but the report still says A (as an older interlock's would)
    for module in (recommendations, bundle):
        assert system.step(module).status == "pass"
    assert system.folder.read_json(MANIFEST)["source"]["git_commit"] == second
    row = condition(system, "signoff.commit")
    assert row["status"] == "fail"
    assert f"test-execution-report.json records commit {first[:12]}, the manifest {second[:12]}" in row["reason"]
    outcome = system.step(signoff)
    assert outcome.status == "fail" and "the run's records disagree on the commit" in outcome.reason
    assert first[:12] in outcome.reason and second[:12] in outcome.reason and len(outcome.reason.splitlines()) == 1


def resign(system: System, **predicate_changes: Any) -> None:
    """Replace the sign-off with one the approver's key signed over a changed predicate, and reseal the bundle with it."""
    statement = system.statement()
    statement["predicate"].update(predicate_changes)
    for key in [k for k, v in predicate_changes.items() if v is None]:
        del statement["predicate"][key]
    envelope = sign_statement(make_statement(bundle_subjects(system.folder.path(ZIP)), statement["predicate"]), system.root / "keys/signoff.key")
    system.folder.write_json(SIGNED, envelope)
    manifest = system.folder.read_json(MANIFEST)
    write_bundle(system.folder.root, sealed_files(manifest), system.folder.path(ZIP), bag_info=bag_info(manifest, system.loaded.config.project),
                 extra_tag_files={SIGNED: system.folder.path(SIGNED).read_bytes()}, prefixes=sealed_prefixes(manifest))


def test_a_signoff_certifying_another_commit_fails_gate_4_and_verify(repo: tuple[System, str]) -> None:
    system, first = repo
    system.seal()
    other = "f" * 40
    resign(system, git_commit=other)
    assert condition(system, "signoff.valid")["status"] == "pass"  # a valid signature, over the wrong claim
    row = condition(system, "signoff.commit")
    assert row["status"] == "fail" and f"certifies commit {other[:12]}, the evidence is of commit {first[:12]}" in row["reason"]
    report = verify_bundle(system.folder.path(ZIP), system.root / "keys/signoff.pub")
    assert not report.ok
    assert any(p.entry == SIGNED and f"certifies git commit {other}" in p.message and first in p.message for p in report.problems)


def test_a_signoff_that_names_no_commit_fails_gate_4(repo: tuple[System, str]) -> None:
    system, _ = repo
    system.seal()
    resign(system, git_commit=None)
    row = condition(system, "signoff.commit")
    assert row["status"] == "fail" and "does not name the git commit it certifies" in row["reason"]


def test_outside_git_the_signoff_certifies_no_commit(tmp_path: Path) -> None:
    """No repository: every record says none, consistently, and the sign-off says so too."""
    system = System(tmp_path / "sut")
    assert [o.status for o in system.seal()] == ["pass", "pass", "pass"]
    assert system.statement()["predicate"]["git_commit"] is None
    assert condition(system, "signoff.commit")["status"] == "pass"


def test_commit_records_are_read_from_the_artifacts_alone(tmp_path: Path) -> None:
    folder = ArtifactDir(tmp_path)
    assert metrics.recorded_commits(folder) == {}
    (tmp_path / MANIFEST).write_text(json.dumps({"source": {"git_commit": "a" * 40, "git_dirty": False}}))
    (tmp_path / TESTS).write_text(json.dumps({"interlock": {"commit": "b" * 40}}))
    recorded = metrics.recorded_commits(folder)
    assert recorded == {MANIFEST: "a" * 40, TESTS: "b" * 40}
    assert metrics.commit_problems(recorded) == [f"{TESTS} records commit {'b' * 12}, the manifest {'a' * 12}"]
