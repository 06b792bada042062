"""Scope reconciliation: prerequisites pinned by version or hash, interfaces from what teams really have."""

from __future__ import annotations

import hashlib
from pathlib import Path

from interlock.config import Prerequisite
from interlock.phases.scope import check_prerequisite, markdown_features, migration_tables, read_version, template_matches, tree_sha256


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
