"""`[project] repository`: the config in one folder, the system's git checkout in another. The run's identity, the commit the
sign-off certifies and the run history are the named repository's; a change there after the run stops the sign-off; a
repository that is no git checkout is a config error."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from tests.e2e.conftest import git, new_shop


def test_a_run_whose_config_names_a_repository_elsewhere_signs_that_repositorys_commit(tmp_path: Path) -> None:
    qa = new_shop(tmp_path / "qa")  # the config, the contracts and the suite: in no git work tree
    system = tmp_path / "system"  # the system's own checkout: the services' code, migrations and data
    system.mkdir()
    shutil.move(qa.root / "shop", system / "shop")
    for name in ("migrations", "data"):  # the code reads them beside itself; the baseline and the dataset check read the config's copies
        shutil.copytree(qa.root / name, system / name)
    (system / ".gitignore").write_text("__pycache__/\n.run/\n", "utf-8")
    git(system, "init", "-q")
    git(system, "add", "-A")
    git(system, "commit", "-qm", "the system")
    commit = git(system, "rev-parse", "HEAD")
    qa.edit("interlock.toml", "[project]\n", '[project]\nrepository = "../../system"\n')
    qa.edit("interlock.toml", "allow_no_commit = true\n", "")  # a commit exists: no choice to sign without one
    qa.edit("interlock.toml", 'PYTHONPATH = "{root}"', 'PYTHONPATH = "{repository}"')  # the services run the system's code

    ran = qa.interlock("run", "--env", "integration", "--yes")
    assert ran.code == 0, ran.output
    manifest = json.loads((qa.artifacts / "integration-evidence-manifest.json").read_text("utf-8"))
    assert manifest["source"] == {"git_commit": commit, "git_dirty": False, "changes_digest": None}
    envelope = json.loads((qa.artifacts / "integration-signoff.json").read_text("utf-8"))
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert predicate["git_commit"] == commit and predicate["git_dirty"] is False and "no_commit_allowed" not in predicate
    tests = json.loads((qa.artifacts / "test-execution-report.json").read_text("utf-8"))
    assert tests["interlock"]["commit"] == commit
    verified = qa.interlock("verify", str(qa.artifacts / "INTEGRATION-EVIDENCE.zip"))
    assert verified.code == 0 and f"; commit {commit} (clean)" in verified.stdout.splitlines()[0], verified.output
    history = qa.interlock("history", "list")
    assert history.code == 0 and commit[:12] in history.stdout, history.output

    catalog = system / "shop" / "catalog.py"
    catalog.write_text(catalog.read_text("utf-8") + "# changed after the run\n", "utf-8")  # the system's code, not the qa folder
    again = qa.interlock("signoff", "--yes")
    assert again.code != 0 and "uncommitted changes" in again.output, again.output


def test_a_repository_that_is_no_git_checkout_is_refused_in_one_line(tmp_path: Path) -> None:
    qa = new_shop(tmp_path / "qa")
    (tmp_path / "qa" / "plain").mkdir()
    qa.edit("interlock.toml", "[project]\n", '[project]\nrepository = "../plain"\n')
    checked = qa.interlock("config", "check")
    assert checked.code == 2, checked.output
    [line] = [row for row in checked.output.splitlines() if row.strip()]
    assert "project.repository" in line and "'../plain'" in line and "is not in a git work tree" in line, line
    assert qa.interlock("run", "--env", "integration", "--yes").code == 2


def test_outside_any_repository_the_signoff_needs_the_explicit_choice(tmp_path: Path) -> None:
    qa = new_shop(tmp_path / "qa")
    qa.edit("interlock.toml", "allow_no_commit = true\n", "")
    ran = qa.interlock("run", "--env", "integration", "--yes")
    assert ran.code == 1, ran.output
    assert "4.2 Record integration sign-off: fail — sign-off refused: the evidence names no git commit" in ran.stdout, ran.output
    assert "[project] repository" in ran.stdout and "allow_no_commit = true" in ran.stdout
    assert not (qa.artifacts / "integration-signoff.json").exists()
