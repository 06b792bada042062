"""The environment baseline: loading (TOML, YAML, .env) and the pure comparisons, secrets never shown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from interlock import baseline as bl
from interlock import baseline_checks as bc
from interlock.checks import Check
from interlock.config import Loaded, Prerequisite, load
from interlock.errors import ConfigError

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
SECRET = "hunter2-correct-horse"


def _text(checks: list[Check]) -> str:
    return json.dumps([c.to_dict() for c in checks], ensure_ascii=False)


def _with_baseline(tmp_path: Path, name: str, text: str) -> Loaded:
    """The demo's config pointed at a baseline file written under tmp_path."""
    (tmp_path / name).write_text(text, "utf-8")
    config = load(SHOP / "interlock.toml").config
    prerequisites = config.prerequisites.model_copy(update={"environment_baseline": Prerequisite(path=name, version="1")})
    return Loaded(config=config.model_copy(update={"prerequisites": prerequisites}), path=tmp_path / "interlock.toml", root=tmp_path)


def test_loads_the_demo_baseline() -> None:
    baseline = bl.load(load(SHOP / "interlock.toml"))
    assert baseline.versions["python"] == ">=3.11"
    assert baseline.service_env["orders"] == ("SHOP_DB_URL", "SHOP_BUS_URL", "CATALOG_URL", "PORT")
    assert baseline.source == "env/baseline.toml"


def test_loads_yaml_and_dotenv(tmp_path: Path) -> None:
    yaml_baseline = bl.load(_with_baseline(tmp_path, "baseline.yaml", "versions:\n  postgresql: '>=14'\nvariables:\n  MODE: fast\n"))
    assert yaml_baseline.versions == {"postgresql": ">=14"} and yaml_baseline.variables == {"MODE": "fast"}
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    dotenv = "# pinned values\nversion=1\nexport MODE='fast'\nTOKEN=sha256:" + digest + "\nPLAIN=a b # note\n"
    env_baseline = bl.load(_with_baseline(tmp_path, ".env.baseline", dotenv))
    assert env_baseline.variables == {"MODE": "fast", "PLAIN": "a b"}
    assert env_baseline.secrets == {"TOKEN": digest}


def test_reports_every_shape_problem_with_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        bl.parse({"versions": {"python": 3.11}, "services": {"a": {"env": "X"}}, "variables": {"K": {"sha256": "nothex"}}}, "b.toml")
    assert {p.key for p in caught.value.problems} == {"versions.python", "services.a.env", "variables.K"}


def test_versions_pass_fail_unread_and_unused() -> None:
    baseline = bl.Baseline("b.toml", versions={"python": ">=3.11", "postgresql": ">=14", "sqlite": ">=3.24", "rabbitmq": ">=3.9", "redis": "~~7"})
    checks = {c.id: c for c in bc.compare_versions(baseline, {"python": "3.11.2", "postgresql": "13.9 (Debian)", "sqlite": None, "redis": "7.0"})}
    assert checks["baseline.versions.python"].passed
    assert not checks["baseline.versions.postgresql"].passed and "13.9" in (checks["baseline.versions.postgresql"].reason or "")
    assert "could not be read" in (checks["baseline.versions.sqlite"].reason or "")
    assert "invalid version range" in (checks["baseline.versions.redis"].reason or "")
    assert "baseline.versions.rabbitmq" not in checks  # not used by this environment: nothing to compare


def test_service_env_missing_fails_extra_is_recorded() -> None:
    baseline = bl.Baseline("b.toml", service_env={"orders": ("DB", "BUS", "PORT"), "catalog": ("DB",), "ghost": ("X",)})
    checks = {c.id: c for c in bc.compare_service_env(baseline, "integration", {"orders": {"DB", "PORT"}, "catalog": {"DB", "PYTHONPATH"}})}
    orders, catalog, ghost = checks["baseline.env.orders"], checks["baseline.env.catalog"], checks["baseline.env.ghost"]
    assert not orders.passed and orders.details["missing"] == ["BUS"]
    assert catalog.passed and catalog.details["extra"] == ["PYTHONPATH"]
    assert not ghost.passed and "not defined in environment integration" in (ghost.reason or "")


def test_variables_plain_values_and_urls_are_redacted() -> None:
    baseline = bl.Baseline("b.toml", variables={"MODE": "fast", "DB_URL": "postgresql://app:pw-expected@db/x", "MISSING": "1"})
    effective = {"MODE": "slow", "DB_URL": "postgresql://app:pw-actual-value@db/x"}
    checks = {c.id: c for c in bc.compare_variables(baseline, effective)}
    assert not checks["baseline.var.MODE"].passed and "'slow'" in (checks["baseline.var.MODE"].reason or "")
    assert not checks["baseline.var.MISSING"].passed and "not set" in (checks["baseline.var.MISSING"].reason or "")
    text = _text(list(checks.values()))
    assert "pw-actual-value" not in text and "pw-expected" not in text and "app:***@db" in text


@pytest.mark.parametrize("actual", [SECRET, "wrong-" + SECRET])
def test_secrets_are_compared_by_digest_and_never_shown(actual: str) -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    baseline = bl.Baseline("b.toml", variables={"API_TOKEN": SECRET}, secrets={"SIGNING": digest})
    checks = bc.compare_variables(baseline, {"API_TOKEN": actual, "SIGNING": actual})
    assert [c.passed for c in checks] == [actual == SECRET] * 2
    text = _text(checks)
    assert SECRET not in text and digest not in text and hashlib.sha256(actual.encode()).hexdigest() not in text
    assert f"sha256:{digest[:4]}…" in text


def test_the_baseline_document_does_not_import_secrets() -> None:
    """secrets reads the variables a baseline pins by hash, so baseline must not import it back (no import cycle)."""
    import ast

    tree = ast.parse(Path(bl.__file__).read_text("utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"interlock.secrets", "interlock.baseline_checks"}
