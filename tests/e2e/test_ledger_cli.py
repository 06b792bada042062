"""Issue 13's run ledger through the CLI: every hand-edit of the evidence, and every mix of code identities, is refused by name.

Two full runs of private copies of the demo shop, each committed to git, are
shared by the session (each module takes a copy): one where every gate passes, one halted at the defect
review by a failing critical test. Each test edits its own copy of one of them
as an adversary would, then asks `interlock bundle` and `interlock signoff` to
seal and sign it: both must exit 1 with a line naming the edited file. An edit
made through interlock (`interlock defects waive`) is accepted.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from .conftest import Finished, Result, Shop, git

pytestmark = pytest.mark.e2e

REPORT, SCOPE, ENV = "test-execution-report.json", "integration-scope-matrix.json", "environment-validation-report.json"
DEFECTS, RECS, LEDGER = "defect-log.csv", "forward-recommendations.md", "run-ledger.jsonl"


@pytest.fixture(scope="module")
def passed(passed_run: Finished, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A full run at commit A where all four gates pass."""
    return passed_run.copy(tmp_path_factory.mktemp("passed") / "shop")


@pytest.fixture(scope="module")
def halted(halted_run: Finished, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A run halted at the defect review (exit 3): a critical test fails, so the log holds an open critical defect."""
    return halted_run.copy(tmp_path_factory.mktemp("halted") / "shop")


def copy(shop: Shop, tmp_path: Path) -> Shop:
    target = tmp_path / "shop"
    shutil.copytree(shop.root, target, symlinks=True)
    return Shop(target)


def lines(result: Result, marker: str) -> list[str]:
    return [line.strip() for line in result.output.splitlines() if marker in line]


def refused(shop: Shop, *named: str) -> dict[str, list[str]]:
    """`bundle` then `signoff --yes` both exit 1 with a refusal line naming every file of `named`; returns the lines by command."""
    found = {}
    for command, marker in ((("bundle",), "bundle refused: "), (("signoff", "--yes"), "sign-off refused: ")):
        result = shop.interlock(*command)
        assert result.code == 1, result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
        refusal = lines(result, marker)
        assert len(refusal) == 1, result.output
        for name in named:
            assert name in refusal[0], f"{name} not named in: {refusal[0]}"
        found[command[0]] = refusal
    return found


def gate_4_names(shop: Shop, condition: str, *named: str) -> None:
    """`interlock gates` exits 1 with Gate 4's `condition` failing and naming each file."""
    result = shop.interlock("gates")
    assert result.code == 1, result.output
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())["gates"]
    row = next(c for c in gates[3]["conditions"] if c["id"] == condition)
    assert row["status"] == "fail" and row["raw_status"] == "fail", row
    for name in named:
        assert name in row["reason"], row["reason"]


def edit_json(shop: Shop, name: str, change: Callable[[Any], None]) -> None:
    path = shop.artifacts / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def edit_defects(shop: Shop, change: Callable[[dict[str, str]], None]) -> None:
    path = shop.artifacts / DEFECTS
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows, "the halted run logged no defect"
    for row in rows:
        change(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue())


# -- the hand-edits, each refused naming the edited file --------------------


def test_the_untouched_run_is_sealed_and_its_ledger_verified(passed: Shop, tmp_path: Path) -> None:
    """The control: the same commands on an unedited copy pass, so each refusal below is the edit's doing."""
    shop = copy(passed, tmp_path)
    assert shop.interlock("gates").code == 0
    for command in (("bundle",), ("signoff", "--yes")):
        result = shop.interlock(*command)
        assert result.code == 0, result.output
    verified = shop.interlock("verify", str(shop.artifacts / "INTEGRATION-EVIDENCE.zip"), "--pubkey", ".interlock/keys/signoff.pub")
    assert verified.code == 0, verified.output
    entries = [json.loads(line) for line in (shop.artifacts / LEDGER).read_text().splitlines()]
    assert [e["step"] for e in entries][:3] == ["1.1", "1.2", "1.3"] and [e["step"] for e in entries][-2:] == ["4.1", "4.2"]
    assert all(e["command"].startswith("interlock ") and e["by"] and len(e["config_digest"]) == 64 for e in entries)
    assert {e["identity"]["commit"] for e in entries} == {git(shop.root, "rev-parse", "HEAD")}


def test_a_critical_defect_edited_to_low_severity_is_refused(halted: Shop, tmp_path: Path) -> None:
    shop = copy(halted, tmp_path)
    edit_defects(shop, lambda row: row.update(severity="low"))
    found = refused(shop, DEFECTS)
    assert f"bundle refused: {DEFECTS}: changed after step 3.2 wrote it" in found["bundle"][0]
    gate_4_names(shop, "ledger.unproduced", DEFECTS)


def test_a_defect_edited_to_resolved_with_a_passing_regression_is_refused(halted: Shop, tmp_path: Path) -> None:
    shop = copy(halted, tmp_path)
    edit_defects(shop, lambda row: row.update(status="resolved", regression="pass"))
    refused(shop, DEFECTS)


def test_the_pytest_test_list_emptied_under_an_intact_summary_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    edit_json(shop, REPORT, lambda report: report.update(tests=[]))
    refused(shop, REPORT)
    gate_4_names(shop, "ledger.unproduced", REPORT)


def test_the_filtered_key_deleted_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)

    def drop(report: dict[str, Any]) -> None:
        assert "filtered" in report["interlock"]
        del report["interlock"]["filtered"]

    edit_json(shop, REPORT, drop)
    refused(shop, REPORT)


def test_a_shard_report_renamed_to_the_full_report_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    shard = shop.interlock("test", "--shard", "1/4")
    shard_report = shop.artifacts / "test-execution-report.shard-1-of-4.json"
    assert shard_report.is_file(), shard.output
    shard_report.replace(shop.artifacts / REPORT)
    found = refused(shop, REPORT)
    assert "test-execution-report.shard-1-of-4.json: written by step 3.1" in found["bundle"][0]  # and that the shard's own report vanished


def test_a_service_removed_from_the_environment_report_and_the_scope_matrix_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)

    def drop_from_report(report: dict[str, Any]) -> None:
        report["declared"] = [d for d in report["declared"] if d["name"] != "shipping"]
        report["checks"] = [c for c in report["checks"] if not c["id"].startswith("shipping")]

    edit_json(shop, ENV, drop_from_report)
    edit_json(shop, SCOPE, lambda scope: scope.update(services=[s for s in scope["services"] if s["name"] != "shipping"]))
    refused(shop, ENV, SCOPE)
    gate_4_names(shop, "ledger.unproduced", ENV, SCOPE)


def test_an_empty_recommendations_file_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    (shop.artifacts / RECS).write_text("")
    refused(shop, RECS)


def test_a_removed_ledger_line_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    path = shop.artifacts / LEDGER
    kept = path.read_text().splitlines(keepends=True)
    path.write_text("".join(kept[:3] + kept[4:]))
    refused(shop, f"{LEDGER} line 4: does not chain to the line before it")


# -- code identities ------------------------------------------------------------------


def test_run_at_a_then_commit_b_then_only_the_suite_rerun_is_refused(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    first = git(shop.root, "rev-parse", "HEAD")
    (shop.root / "shop" / "changed_at_b.py").write_text("PRICE = 2500\n")
    git(shop.root, "add", "-A")
    git(shop.root, "commit", "-qm", "B")
    second = git(shop.root, "rev-parse", "HEAD")
    rerun = shop.interlock("test")
    assert rerun.code == 0, rerun.output
    found = refused(shop, f"are of commit {first[:12]} (clean)", f"are of commit {second[:12]} (clean)", REPORT)
    assert "sign-off refused: the evidence mixes runs on different code: " in found["signoff"][0]
    gate_4_names(shop, "evidence.identity", f"{REPORT}", f"commit {first[:12]}", f"commit {second[:12]}")


def test_a_run_on_a_dirty_tree_is_refused_after_git_checkout(passed: Shop, tmp_path: Path) -> None:
    shop = copy(passed, tmp_path)
    commit = git(shop.root, "rev-parse", "HEAD")
    source = shop.root / "shop" / "catalog.py"
    source.write_text(source.read_text() + "# a local change, never committed\n")
    run = shop.interlock("run", "--yes")
    assert run.code == 0, run.output  # a dirty tree is recorded, not refused...
    statement = json.loads(base64.b64decode(json.loads((shop.artifacts / "integration-signoff.json").read_text())["payload"]))
    predicate = statement["predicate"]
    assert predicate["git_commit"] == commit and predicate["git_dirty"] is True and len(predicate["changes_digest"]) == 64
    git(shop.root, "checkout", ".")
    found = refused(shop, f"produced on commit {commit[:12]} + uncommitted changes {predicate['changes_digest'][:12]}",
                    f"the work tree is now commit {commit[:12]} (clean)")  # ...but never sealed or signed as the clean commit
    assert "bundle refused: the evidence was produced on " in found["bundle"][0]


# -- an edit through interlock is evidence --------------------------------------------


def test_a_waiver_through_interlock_defects_is_accepted_and_names_who_and_why(halted: Shop, tmp_path: Path) -> None:
    shop = copy(halted, tmp_path)
    (row,) = [r for r in csv.DictReader(io.StringIO((shop.artifacts / DEFECTS).read_text())) if r["status"] == "open"]
    waived = shop.interlock("defects", "waive", row["id"], "--approver", "QA lead", "--reason", "known flaky upstream",
                            "--expires", "2099-01-01T00:00:00Z", "--by", "Dana (QA lead)")
    assert waived.code == 0, waived.output
    edit = json.loads((shop.artifacts / LEDGER).read_text().splitlines()[-1])
    assert (edit["kind"], edit["step"], edit["by"]) == ("edit", "3.2", "Dana (QA lead)")
    assert edit["reason"].startswith(f"{row['id']}: status=waived") and "known flaky upstream" in edit["reason"]
    assert list(edit["products"]) == [DEFECTS] and edit["command"].startswith(f"interlock defects waive {row['id']}")
    resumed = shop.interlock("run", "--resume", "--yes")
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())["gates"]
    conditions = {c["id"]: c for c in gates[3]["conditions"]}
    assert conditions["ledger.unproduced"]["status"] == "pass" and conditions["evidence.identity"]["status"] == "pass", resumed.output
    assert resumed.code == 0, resumed.output
    assert shop.interlock("bundle").code == 0
