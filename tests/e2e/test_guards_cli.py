"""The two false-green guards on a real run of the demo shop, committed to git.

One full run (all gates pass, every declared component probed), then the
code changes: the sign-off is refused, and evidence re-bundled at the new
commit fails Gate 4 naming both commits.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from .conftest import new_shop

ARTIFACTS = ("environment-validation-report.json", "integration-signoff.json", "integration-evidence-manifest.json")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def test_a_run_probes_every_declared_component_and_never_signs_another_commit(tmp_path: Path) -> None:
    shop = new_shop(tmp_path)
    (shop.root / ".gitignore").write_text(".artifacts/\n.interlock/\n.run/\n__pycache__/\n", "utf-8")
    git(shop.root, "init", "-q")
    first = commit(shop.root, "system under test")
    run = shop.interlock("run", "--env", "integration", "--yes")
    assert run.code == 0, run.output
    report, envelope, manifest = (json.loads((shop.artifacts / name).read_text("utf-8")) for name in ARTIFACTS)
    checked = {c["id"] for c in report["checks"]}
    assert {d["role"] for d in report["declared"]} == {"service", "store", "broker"}
    assert [d["check"] for d in report["declared"] if d["check"] not in checked] == []
    assert json.loads(base64.b64decode(envelope["payload"]))["predicate"]["git_commit"] == first == manifest["source"]["git_commit"]

    (shop.root / "shop" / "pricing_note.txt").write_text("prices change on Monday\n", "utf-8")
    second = commit(shop.root, "a change after the run")
    refused = shop.interlock("signoff", "--env", "integration", "--yes")
    assert refused.code == 1, refused.output
    assert (f"sign-off refused: the evidence was produced on commit {first[:12]} (clean), "
            f"but the work tree is now commit {second[:12]} (clean)") in refused.output
    assert "Traceback" not in refused.output

    resealed = shop.interlock("bundle", "--env", "integration")  # nor is the folder re-sealed as the new commit's evidence
    assert resealed.code == 1, resealed.output
    assert f"bundle refused: the evidence was produced on commit {first[:12]} (clean)" in resealed.output
    assert shop.interlock("gates").code == 0  # the folder itself is still whole evidence of the first commit
