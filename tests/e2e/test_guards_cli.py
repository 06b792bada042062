"""The two false-green guards on a real run of the demo shop, committed to git.

One full run (all gates pass, every declared component probed; the session's
`passed_run`, on a copy), then the code changes: the sign-off is refused, and evidence re-bundled at the new
commit fails Gate 4 naming both commits.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from .conftest import Finished, git

ARTIFACTS = ("environment-validation-report.json", "integration-signoff.json", "integration-evidence-manifest.json")


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def test_a_run_probes_every_declared_component_and_never_signs_another_commit(passed_run: Finished, tmp_path: Path) -> None:
    shop, first, run = passed_run.copy(tmp_path / "shop"), passed_run.commit, passed_run.run  # `run --env integration --yes` at a commit
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
