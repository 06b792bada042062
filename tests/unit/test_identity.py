"""The run identity: commit, dirty flag and a digest of the tree's changes, minus what interlock writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from interlock.identity import CI_COMMIT_VARIABLES, Identity, commit_key, current, head


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout


def _repo(root: Path) -> str:
    _git(root, "init", "-q")
    (root / "app.py").write_text("A = 1\n")
    _git(root, "add", "app.py")
    _git(root, "commit", "-q", "-m", "one")
    return _git(root, "rev-parse", "HEAD").strip()


def test_outside_a_repository_there_is_no_commit(tmp_path: Path) -> None:
    assert current(tmp_path) == Identity(None, None, None)
    assert head(tmp_path) is None
    assert current(tmp_path).describe() == "no git commit (not a git work tree)"


def test_a_repository_without_commits_is_clean_or_dirty(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert current(tmp_path) == Identity(None, False, None)
    (tmp_path / "a.txt").write_text("a")
    found = current(tmp_path)
    assert found.commit is None and found.dirty is True and found.changes_digest


def test_clean_tree_is_its_commit_and_every_kind_of_change_makes_it_another_identity(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    clean = current(tmp_path)
    assert clean == Identity(commit, False, None) and head(tmp_path) == commit
    seen = {clean}
    (tmp_path / "app.py").write_text("A = 2\n")  # a tracked file changed
    seen.add(current(tmp_path))
    (tmp_path / "app.py").write_text("A = 3\n")  # changed again: another digest
    seen.add(current(tmp_path))
    (tmp_path / "app.py").write_text("A = 1\n")
    (tmp_path / "new.py").write_text("B = 1\n")  # an untracked file
    seen.add(current(tmp_path))
    (tmp_path / "new.py").unlink()
    (tmp_path / "app.py").unlink()  # a deleted file
    seen.add(current(tmp_path))
    assert len(seen) == 5 and all(i.commit == commit for i in seen)
    assert all(i.dirty and i.changes_digest and len(i.changes_digest) == 64 for i in seen - {clean})
    _git(tmp_path, "checkout", "-q", ".")  # `git checkout .` gives the clean commit back
    assert current(tmp_path) == clean


def test_the_same_changes_give_the_same_digest(tmp_path: Path) -> None:
    _repo(tmp_path)
    (tmp_path / "app.py").write_text("A = 2\n")
    assert current(tmp_path) == current(tmp_path)


def test_what_interlock_writes_and_python_caches_are_not_changes(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    artifacts = tmp_path / ".artifacts" / "integration"
    for path in (artifacts / "report.json", tmp_path / ".artifacts" / ".integration.run-abc" / "x.json", tmp_path / ".artifacts" / ".integration.lock",
                 tmp_path / ".interlock" / "keys" / "signoff.key", tmp_path / "pkg" / "__pycache__" / "m.pyc", tmp_path / ".pytest_cache" / "v" / "x"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert current(tmp_path, artifacts) == Identity(commit, False, None)
    assert current(tmp_path).dirty is True  # without the artifact folder named, its files are changes like any other
    (tmp_path / ".artifacts" / "other.txt").write_text("x")  # beside the artifact folder but not one of its siblings
    assert current(tmp_path, artifacts).dirty is True


def test_a_subfolder_systems_identity_counts_every_change_of_the_whole_repository(tmp_path: Path) -> None:
    """issue 15: an edit of a tracked file outside the config's folder is other code, so another identity (and history key)."""
    _git(tmp_path, "init", "-q")
    for rel in ("shop/app.py", "lib/shared.py", ".gitignore"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("A = 1\n" if rel.endswith(".py") else "ignored.log\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    shop = tmp_path / "shop"
    artifacts = shop / "artifacts"
    (artifacts / "report.json").parent.mkdir(parents=True)
    (artifacts / "report.json").write_text("{}")
    (shop / ".interlock").mkdir()
    (shop / ".interlock" / "history.db").write_text("x")
    (tmp_path / "ignored.log").write_text("not code")  # ignored by .gitignore: never part of the identity
    clean = current(shop, artifacts)
    assert clean.dirty is False and commit_key(shop, artifacts) == clean.commit
    (tmp_path / "lib" / "shared.py").write_text("A = 2\n")  # a tracked file outside the config's folder
    edited = current(shop, artifacts)
    assert edited.dirty is True and edited != clean and commit_key(shop, artifacts) == edited.key() != clean.commit
    (tmp_path / "lib" / "shared.py").write_text("A = 1\n")
    (tmp_path / "notes.txt").write_text("untracked, not ignored")  # an untracked file at the top level counts too
    untracked = current(shop, artifacts)
    assert untracked.dirty is True and untracked not in (clean, edited)
    (tmp_path / "notes.txt").unlink()
    assert current(shop, artifacts) == clean  # and the fix gives the clean identity back


def test_round_trip_through_a_ledger_line_and_refusal_of_bad_shapes() -> None:
    identity = Identity("abc", True, "d" * 64)
    assert Identity.from_dict(identity.as_dict()) == identity
    assert Identity.from_dict({"commit": 1, "dirty": False, "changes_digest": None}) is None
    assert Identity.from_dict("abc") is None
    assert identity.key() == "abc+dddddddddddd" and Identity("abc", False, None).key() == "abc"
    assert identity.describe() == "commit abc + uncommitted changes dddddddddddd"


def test_the_history_key_is_the_ledgers_identity_with_the_artifact_folder_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history store and Gate 4 see the same code: a run's own artifacts in the tree never make it another commit."""
    for var in CI_COMMIT_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    commit = _repo(tmp_path)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "defect-log.csv").write_text("id\n")
    assert current(tmp_path, artifacts) == Identity(commit, False, None)
    assert commit_key(tmp_path, artifacts) == commit == current(tmp_path, artifacts).key()
    (tmp_path / "app.py").write_text("A = 2\n")
    dirty = current(tmp_path, artifacts)
    assert dirty.dirty and commit_key(tmp_path, artifacts) == dirty.key() == f"{commit}+{str(dirty.changes_digest)[:12]}"
    monkeypatch.setenv("GITHUB_SHA", "feed")
    assert commit_key(tmp_path, artifacts) == "feed"


def test_a_config_beside_the_code_leaves_its_own_folder_out_of_the_repositorys_identity(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    qa = tmp_path / "qa"  # the config's folder, inside the repository it names as `repository = ".."`
    (qa / ".interlock").mkdir(parents=True)
    (qa / ".interlock" / "history.db").write_text("runs")
    assert current(tmp_path, system=qa) == Identity(commit, False, None)
    assert current(tmp_path).dirty is True  # without `system`, qa/.interlock/ is just an untracked folder
    assert current(qa, system=qa) == Identity(commit, False, None)


def test_ci_variables_name_the_config_checkout_not_a_repository_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system"
    system.mkdir()
    commit = _repo(system)
    config = tmp_path / "qa"  # in no work tree of its own
    config.mkdir()
    for var in CI_COMMIT_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)  # the workflow's own checkout
    assert commit_key(system, system=config) == commit
    assert commit_key(system) == "f" * 40
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "e" * 40)  # set by hand: speaks for the repository under test
    assert commit_key(system, system=config) == "e" * 40
