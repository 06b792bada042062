"""The CI examples, run the way their runners would run them, on a copy of the shop.

No GitHub or GitLab runner is reachable here, so the GitHub workflow's jobs are
replayed step by step: each job on a fresh copy of the checkout, `run:` steps in
bash with the workflow's expressions filled in, `if:` honoured, artifacts passed
from the shard jobs to the validate job by name as upload/download-artifact do.
The GitLab file is checked against it: the same shard command and the same
sequence of interlock commands in its validate job. An expression, action or
step this replay does not understand fails the test, so the examples cannot
drift into something untested.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.evidence import verify_bundle

from .conftest import REPO, Shop

pytestmark = pytest.mark.first

GITHUB = REPO / "examples" / "ci" / "github-actions.yml"
GITLAB = REPO / "examples" / "ci" / ".gitlab-ci.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NO_OP_ACTIONS = ("actions/checkout@", "actions/setup-python@")


class Runner:
    """Just enough of a GitHub Actions runner for the example workflow."""

    def __init__(self, shop: Shop, base: Path, secrets: dict[str, str]) -> None:
        self.pristine, self.base, self.secrets = shop.root, base, secrets
        self.workflow = yaml.safe_load(GITHUB.read_text("utf-8"))
        self.uploaded: dict[str, Path] = {}
        self.jobs = 0

    def expand(self, text: str, context: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            scope, _, name = match.group(1).partition(".")
            assert scope in context and name in context[scope], f"the replay does not know the expression {match.group(0)!r}"
            return str(context[scope][name])

        return EXPRESSION.sub(value, text)

    def job(self, name: str, matrix: dict[str, Any]) -> list[tuple[str, int, str]]:
        """Run one job on a fresh checkout; (step, exit code, output) of each step that ran."""
        self.jobs += 1
        spec = self.workflow["jobs"][name]
        workspace = self.base / f"job-{self.jobs}"
        shutil.copytree(self.pristine, workspace)  # actions/checkout: a fresh copy of the repository
        temp = self.base / f"runner-temp-{self.jobs}"
        temp.mkdir()
        context: dict[str, Any] = {"matrix": matrix, "secrets": self.secrets, "github": {"actor": "ci-user"}, "env": {}}
        context["env"] = {k: self.expand(str(v), context) for k, v in self.workflow["env"].items()}
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INTERLOCK_", "GITHUB_"))}
        environ.update(context["env"], RUNNER_TEMP=str(temp), GITHUB_STEP_SUMMARY=str(self.base / "step-summary.md"),
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        workdir = workspace / self.expand(spec["defaults"]["run"]["working-directory"], context)
        results: list[tuple[str, int, str]] = []
        failed = False
        for step in spec["steps"]:
            condition = step.get("if", "success()")
            if failed and "always()" not in condition and "!cancelled()" not in condition:
                continue
            label = step.get("name") or step.get("run") or step["uses"]
            code, output = self.step(step, context, environ, workspace, workdir)
            results.append((label, code, output))
            failed = failed or code != 0
        return results

    def step(self, step: dict[str, Any], context: dict[str, Any], environ: dict[str, str], workspace: Path, workdir: Path) -> tuple[int, str]:
        uses, given = step.get("uses", ""), {k: self.expand(str(v), context) for k, v in (step.get("with") or {}).items()}
        if uses.startswith(NO_OP_ACTIONS):
            return 0, ""
        if uses.startswith("actions/upload-artifact@"):
            paths = [workspace / p.strip() for p in given["path"].splitlines() if p.strip()]
            if not all(p.exists() for p in paths):
                return (1 if given.get("if-no-files-found") == "error" else 0), f"no files at {paths}"
            store = self.base / "artifact-store" / given["name"]
            for p in paths:
                shutil.copytree(p, store / p.name, dirs_exist_ok=True)
            self.uploaded[given["name"]] = store
            return 0, ""
        if uses.startswith("actions/download-artifact@"):
            for name, store in self.uploaded.items():
                if fnmatch.fnmatch(name, given["pattern"]):
                    for item in store.iterdir():
                        shutil.copytree(item, workspace / given["path"] / name, dirs_exist_ok=True)
            return 0, ""
        assert not uses, f"the replay does not know the action {uses}"
        script = self.expand(step["run"], context)
        if script.startswith("pip install interlock"):
            return 0, ""  # interlock is installed in this interpreter's environment already
        env = {**environ, **{k: self.expand(str(v), context) for k, v in (step.get("env") or {}).items()}}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout + done.stderr


def interlock_commands(script: str) -> list[str]:
    """The interlock subcommands a shell script runs, in order, with `for step in ...` loops unrolled."""
    found: list[str] = []
    for line in script.splitlines():
        loop = re.search(r"for step in ([\w ]+); do interlock \"\$step\"", line)
        if loop:
            found += loop.group(1).split()
            continue
        for match in re.finditer(r"(?:^|[;&|(]\s*|\s)interlock\s+((?:--\S+\s+\S+\s+)*)(\w+)", line):
            found.append(match.group(2))
    return found


def steps(results: list[tuple[str, int, str]]) -> str:
    """Each step's label, exit code and whole output, for a failure message that shows why."""
    return "\n\n".join(f"{label}: exit {code}\n{out}" for label, code, out in results)


def logs(workspace: Path) -> str:
    """The end of every log a job left (pytest's, the services'), for a failure message that shows why."""
    return "".join(f"\n\n--- {log.relative_to(workspace)}\n{log.read_text('utf-8', 'replace')[-3000:]}" for log in sorted(workspace.rglob("logs/*.log")))


def test_the_github_workflow_runs_sharded_merges_and_keeps_verified_evidence(shop: Shop, tmp_path: Path) -> None:
    key = shop.root / ".interlock" / "keys" / "signoff.key"
    runner = Runner(shop, tmp_path, {"INTERLOCK_STORE_URL": "", "INTERLOCK_SIGNOFF_KEY": key.read_text("utf-8")})
    matrix = runner.workflow["jobs"]["shard"]["strategy"]["matrix"]
    assert matrix["shard"] == list(range(1, int(runner.workflow["env"]["SHARDS"]) + 1))
    shards = matrix["shard"] = [1, 2]  # the example's 4 shards as 2, to halve the time: the same jobs and steps
    runner.workflow["env"]["SHARDS"] = 2
    for shard in shards:
        results = runner.job("shard", {"shard": shard})
        assert all(code == 0 for _, code, _ in results), steps(results) + logs(tmp_path / f"job-{runner.jobs}")
    assert sorted(runner.uploaded) == [f"shard-{k}" for k in shards]

    results = runner.job("validate", {})
    assert [code for _, code, _ in results] == [0] * len(results), steps(results)
    merged = next(out for label, _, out in results if label.startswith("merge the shards"))
    assert f"merged {len(shards)} shards" in merged and "8 passed" in merged, merged
    assert "Gate 4 Sign-Off: PASS" in results[-1][2] and "signed by ci-user" in "".join(out for _, _, out in results)
    evidence = runner.uploaded["integration-evidence"] / "integration"
    assert (evidence / "junit.xml").is_file() and (evidence / "integration-report.html").is_file()
    report = verify_bundle(evidence / "INTEGRATION-EVIDENCE.zip", shop.root / ".interlock" / "keys" / "signoff.pub")
    assert report.ok, report
    assert "interlock: integration validation PASSED" in (tmp_path / "step-summary.md").read_text("utf-8")


def test_the_gitlab_file_runs_the_same_commands_as_the_github_workflow() -> None:
    github = yaml.safe_load(GITHUB.read_text("utf-8"))
    gitlab = yaml.safe_load(GITLAB.read_text("utf-8"))
    [github_shard] = [s["run"] for s in github["jobs"]["shard"]["steps"] if "interlock" in s.get("run", "") and "pip" not in s["run"]]
    [gitlab_shard] = gitlab["shard"]["script"]
    as_github = gitlab_shard.replace('"$CI_NODE_INDEX/$CI_NODE_TOTAL"', "K/N").replace('"shard-$CI_NODE_INDEX"', "shard-K")
    assert shlex.split(as_github) == shlex.split(EXPRESSION.sub(lambda m: "K" if "matrix" in m.group(1) else "N", github_shard))
    assert gitlab["shard"]["parallel"] == int(github["env"]["SHARDS"])
    github_validate = "\n".join(s.get("run", "") for s in github["jobs"]["validate"]["steps"])
    gitlab_validate = "\n".join(gitlab["validate"]["script"])
    assert interlock_commands(gitlab_validate) == interlock_commands(github_validate)
    assert interlock_commands(github_validate) == ["scope", "env", "data", "plan", "contracts", "observe", "merge", "regress", "recommend", "bundle", "signoff", "report", "gates"]
    assert gitlab["validate"]["artifacts"]["reports"]["junit"] == ".artifacts/integration/junit.xml"
