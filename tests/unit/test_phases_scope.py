"""Scope reconciliation: prerequisites pinned by version or hash, interfaces from what teams really have."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import Prerequisite, load, parse
from interlock.context import RunContext
from interlock.documents import load_pact
from interlock.errors import ConfigError
from interlock.gates import DEFAULT_CONDITIONS
from interlock.metrics import read_metrics
from interlock.phases.scope import (
    mark_traffic,
    build_matrix, check_prerequisite, markdown_features, match_template, migration_tables, read_version, template_matches, tree_sha256,
)
from interlock.phases.scope import run as scope_step
from interlock.statuses import StepStatus, TrafficStatus
from tests.support import config_head

from .test_phases_phase4 import trace_evidence


def test_prerequisite_ok_missing_and_mismatched(tmp_path: Path) -> None:
    (tmp_path / "features.json").write_text('{"version": "2.1.0", "features": []}')
    ok = check_prerequisite("feature_list", Prerequisite(path="features.json", version="2.1.0"), tmp_path)
    assert ok["status"] == "ok" and ok["actual_version"] == "2.1.0"
    missing = check_prerequisite("feature_list", Prerequisite(path="nope.json", version="1"), tmp_path)
    assert missing["status"] == "missing" and "does not exist" in missing["reason"]
    wrong = check_prerequisite("feature_list", Prerequisite(path="features.json", version="2.0.0"), tmp_path)
    assert wrong["status"] == "mismatch" and "2.1.0 where 2.0.0 is expected" in wrong["reason"]


def test_prerequisite_by_sha256_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "base.env").write_text("VERSION=3\nDB_URL=x\n")
    digest = hashlib.sha256(b"VERSION=3\nDB_URL=x\n").hexdigest()
    assert check_prerequisite("b", Prerequisite(path="base.env", sha256=digest), tmp_path)["status"] == "ok"
    assert check_prerequisite("b", Prerequisite(path="base.env", sha256="0" * 64), tmp_path)["status"] == "mismatch"
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "a.sql").write_text("CREATE TABLE a (id INT);")
    pinned = tree_sha256(tmp_path / "contracts")
    assert check_prerequisite("c", Prerequisite(path="contracts", sha256=pinned), tmp_path)["status"] == "ok"
    (tmp_path / "contracts" / "a.sql").write_text("CREATE TABLE a (id BIGINT);")
    assert check_prerequisite("c", Prerequisite(path="contracts", sha256=pinned), tmp_path)["status"] == "mismatch"


def test_versions_from_markdown_env_and_folder(tmp_path: Path) -> None:
    (tmp_path / "features.md").write_text("# Features\n\n**Version:** 1.2.3\n")
    assert read_version(tmp_path / "features.md", "version") == "1.2.3"
    (tmp_path / ".env").write_text('VERSION="4.5"\n')
    assert read_version(tmp_path / ".env", "VERSION") == "4.5"
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "VERSION").write_text("7\n")
    assert read_version(tmp_path / "arch", "version") == "7"


def test_markdown_checklist_features() -> None:
    text = "- [x] F-1 Browse catalog: `catalog:GET /products`, `catalog:GET /products/{id}`\n- [ ] F-2 Wishlist `wish:GET /w`\n* [X] Pay `pay:POST /pay`\n"
    features = markdown_features(text)
    assert [f["id"] for f in features] == ["F-1", "line-2"]
    assert features[0]["title"] == "Browse catalog" and features[0]["interfaces"] == ["catalog:GET /products", "catalog:GET /products/{id}"]


def test_tables_from_migrations(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE IF NOT EXISTS users (id INT);\ncreate table `orders` (id INT);")
    (tmp_path / "0002_b.sql").write_text("CREATE TABLE schema_migrations (version TEXT);")
    assert migration_tables(tmp_path) == ["orders", "users"]


def test_path_templates() -> None:
    assert template_matches("/products/{id}", "/products/1")
    assert not template_matches("/products/{id}", "/products/1/reviews")
    assert template_matches("/health", "/health?x=1")


def test_a_literal_template_wins_and_the_service_and_method_must_agree() -> None:
    refs = ["users:GET /users/{uid}", "users:GET /users/me", "GET /health", "users:DELETE /users/{uid}"]
    assert match_template(refs, "users", "GET", "/users/123") == "/users/{uid}"
    assert match_template(refs, "users", "GET", "/users/me") == "/users/me"
    assert match_template(refs, "users", "GET", "/users/123?full=1") == "/users/{uid}"
    assert match_template(refs, "orders", "GET", "/health") == "/health"  # no service: any provider
    assert match_template(refs, "orders", "GET", "/users/123") is None  # another provider's template
    assert match_template(refs, "users", "POST", "/users/123") is None
    assert match_template(refs, "users", "GET", "/users/123/orders") is None
    assert match_template(["users:publish user.created", "not an interface"], "users", "GET", "/users/1") is None


def _users_system(root: Path, features: list[str], out_of_scope: list[str]) -> RunContext:
    """A system with no OpenAPI document: one provider, `users`, and a pact from `web` with two concrete paths."""
    (root / "pacts").mkdir(parents=True)
    interactions = [{"description": f"user {n}", "providerStates": [{"name": "a user exists", "params": {"id": n}}],
                     "request": {"method": "GET", "path": f"/users/{n}"}, "response": {"status": 200}} for n in (123, 7)]
    interactions.append({"description": "stats", "request": {"method": "GET", "path": "/admin/stats"}, "response": {"status": 200}})
    (root / "pacts" / "web-users.json").write_text(json.dumps({"consumer": {"name": "web"}, "provider": {"name": "users"}, "interactions": interactions,
                                                               "metadata": {"pactSpecification": {"version": "3.0.0"}}}))
    (root / "features.json").write_text(json.dumps({"version": "1", "features": [{"id": "F-1", "title": "Profile", "interfaces": features}]}))
    scope = f"[scope]\nout_of_scope = {json.dumps(out_of_scope)}\n" if out_of_scope else ""
    (root / "interlock.toml").write_text(config_head() + scope + """
[services.users]
[environments.test.services.users]
url = "http://127.0.0.1:9"
[contracts.pact]
sources = ["pacts"]
""")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


def test_pact_paths_join_the_feature_lists_templates_without_openapi(tmp_path: Path) -> None:
    ctx = _users_system(tmp_path, ["users:GET /users/{uid}"], ["GET /admin/stats"])
    pacts = [load_pact(tmp_path / "pacts" / "web-users.json")]
    matrix = build_matrix(ctx, [], pacts)
    by_id = {i["id"]: i for i in matrix["interfaces"]}
    assert sorted(by_id) == ["users:GET /admin/stats", "users:GET /users/{uid}"]
    assert by_id["users:GET /users/{uid}"]["features"] == ["F-1"]
    assert [c["ref"] for c in by_id["users:GET /users/{uid}"]["checks"]] == ["web->users: user 123", "web->users: user 7"]
    assert matrix["unmatched_pact_interfaces"] == [] and matrix["uncovered"] == []
    assert validation_errors("integration-scope-matrix.json", {**matrix, "undeclared_pacts": []}) == []


def test_pact_paths_no_feature_covers_are_listed_and_fail_gate_1_by_name(tmp_path: Path) -> None:
    ctx = _users_system(tmp_path, ["users:GET /users/{uid}/orders", "orders:GET /users/{uid}"], [])
    (tmp_path / "baseline.toml").write_text('version = "1"\n')
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "VERSION").write_text("1\n")
    outcome = scope_step(ctx)
    matrix = json.loads((tmp_path / "art" / "integration-scope-matrix.json").read_text())
    assert matrix["unmatched_pact_interfaces"] == ["users:GET /admin/stats", "users:GET /users/123", "users:GET /users/7"]
    assert outcome.status == StepStatus.FAIL and "0 uncovered" not in (outcome.reason or "")
    assert "3 pact interfaces match no feature of features.json: users:GET /admin/stats, users:GET /users/123" in (outcome.reason or "")
    metrics = read_metrics(ArtifactDir(tmp_path / "art"), None, evidence=False)
    assert metrics["unmatched_pact_interfaces"].value == 3
    assert metrics["unmatched_pact_interfaces"].items == matrix["unmatched_pact_interfaces"]
    [condition] = [c for c in DEFAULT_CONDITIONS if c.id == "scope.unmatched_pact_interfaces"]
    assert condition.gate == 1 and condition.blocking


def test_out_of_scope_must_be_method_and_template(tmp_path: Path) -> None:
    text = config_head() + '[scope]\nout_of_scope = ["GET /a/{id}", "/b"]\n[services.s]\n[environments.e.services.s]\nurl = "http://x"\n'
    with pytest.raises(ConfigError) as raised:
        parse(text, tmp_path / "interlock.toml")
    [problem] = raised.value.problems
    assert problem.key == "scope.out_of_scope" and problem.line == text.splitlines().index("out_of_scope = [\"GET /a/{id}\", \"/b\"]") + 1 and "'/b' is not `METHOD /path/template`" in problem.message


TESTED, UNTESTED, ADDED = "catalog:GET /products", "catalog:GET /health", "catalog:GET /new"


def _marks(evidence: dict | None) -> dict[str, dict]:
    """The traffic marks mark_traffic gives three interfaces: one traffic crossed, one none did, one the evidence does not know."""
    matrix = {"interfaces": [{"id": i, "traffic": {"status": TrafficStatus.PENDING, "by": []}} for i in (TESTED, UNTESTED, ADDED)]}
    mark_traffic(matrix, evidence)
    return {i["id"]: i["traffic"] for i in matrix["interfaces"]}


def _evidence(receiver: bool = True) -> dict:
    evidence = trace_evidence(receiver=receiver)
    evidence["interfaces"].append({"id": UNTESTED, "observed": False, "by": []})
    return evidence


def test_traffic_marks_say_observed_by_whom_and_not_observed_when_the_receiver_ran() -> None:
    marks = _marks(_evidence())
    assert marks[TESTED] == {"status": TrafficStatus.OBSERVED, "by": ["tests/test_shop.py::test_list_products"]}
    assert marks[UNTESTED] == {"status": TrafficStatus.NOT_OBSERVED, "by": []}
    assert marks[ADDED] == {"status": TrafficStatus.PENDING, "by": []}  # in scope since 3.1 recorded: not "not observed"


def test_traffic_marks_are_pending_before_3_1_and_unknown_without_a_receiver() -> None:
    assert {m["status"] for m in _marks(None).values()} == {TrafficStatus.PENDING}
    marks = _marks(_evidence(receiver=False))
    assert marks[UNTESTED] == {"status": TrafficStatus.UNKNOWN, "by": []}  # no receiver listened: its silence is no "not observed"
    assert marks[TESTED]["status"] == TrafficStatus.OBSERVED  # spans crossed it all the same
    assert marks[ADDED]["status"] == TrafficStatus.PENDING


def _scope_system(root: Path) -> RunContext:
    ctx = _users_system(root, ["users:GET /users/{uid}"], ["users:GET /admin/stats"])
    (root / "baseline.toml").write_text('version = "1"\n')
    (root / "contracts").mkdir()
    (root / "contracts" / "VERSION").write_text("1\n")
    return ctx


def test_the_scope_step_keeps_the_marks_3_1_recorded_and_marks_the_rest_pending(tmp_path: Path) -> None:
    ctx = _scope_system(tmp_path)
    scope_step(ctx)
    marks = {i["id"]: i["traffic"] for i in ctx.artifacts.read_json("integration-scope-matrix.json")["interfaces"]}
    assert set(marks) == {"users:GET /admin/stats", "users:GET /users/{uid}"}
    assert {m["status"] for m in marks.values()} == {TrafficStatus.PENDING}  # no trace evidence yet
    evidence = {**trace_evidence(), "environment": "test",
                "interfaces": [{"id": "users:GET /users/{uid}", "observed": True, "by": ["pact web->users"]}]}
    ctx.artifacts.write_json("trace-evidence.json", evidence)
    scope_step(ctx)  # `interlock scope` rerun alone after 3.1
    marks = {i["id"]: i["traffic"] for i in ctx.artifacts.read_json("integration-scope-matrix.json")["interfaces"]}
    assert marks["users:GET /users/{uid}"] == {"status": TrafficStatus.OBSERVED, "by": ["pact web->users"]}
    assert marks["users:GET /admin/stats"]["status"] == TrafficStatus.PENDING
    ctx.artifacts.write_json("trace-evidence.json", {**evidence, "environment": "staging"})  # another environment's traffic
    scope_step(ctx)
    marks = {i["id"]: i["traffic"] for i in ctx.artifacts.read_json("integration-scope-matrix.json")["interfaces"]}
    assert marks["users:GET /users/{uid}"]["status"] == TrafficStatus.PENDING
