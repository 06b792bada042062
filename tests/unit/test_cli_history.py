"""`interlock history`: list the recorded runs, forget one, prune by age or count, through the real CLI and store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from interlock.store import ENV_VAR, open_store
from tests.sample import sample_record
from tests.support import Result

from .test_config import MINIMAL

START = datetime.now(timezone.utc) - timedelta(days=10)  # runs 0..4 ten days ago, one hour apart


def interlock(root: Path, *args: str) -> Result:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    done = subprocess.run([sys.executable, "-m", "interlock", *args], cwd=root, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_VAR, raising=False)
    (tmp_path / "interlock.toml").write_text(MINIMAL.replace('openapi = "api.yaml"', ""))
    with open_store(None, tmp_path) as store:
        for i in range(5):
            store.record(sample_record(i, tests=4, commit=f"c{i % 2}", start=START))
        store.record(sample_record(5, tests=4, commit="c9", start=datetime.now(timezone.utc) - timedelta(days=20)))
    return tmp_path


def inside(root: Path, *args: str) -> Result:
    """The CLI in this process (a subprocess costs seconds on a busy machine); errors and exit codes are `main`'s, tested below."""
    from typer.testing import CliRunner

    from interlock.cli import Options, app

    cwd = Path.cwd()
    os.chdir(root)
    try:
        done = CliRunner().invoke(app, list(args), obj=Options())
    finally:
        os.chdir(cwd)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return Result(done.exit_code, done.stdout, "")


def listed(root: Path) -> list[str]:
    done = inside(root, "--json", "history", "list", "--limit", "50")
    assert done.code == 0, done.output
    return [json.loads(line)["run_id"] for line in done.stdout.splitlines()]


def test_list_shows_runs_newest_first_with_identity_and_gates(system: Path) -> None:
    ids = [sample_record(i, tests=4, commit="x", start=START).run_id for i in range(6)]
    assert listed(system) == [ids[4], ids[3], ids[2], ids[1], ids[0], ids[5]]
    done = inside(system, "history", "list", "--limit", "2")
    lines = done.stdout.splitlines()
    assert done.code == 0 and len(lines) == 2 and lines[0].startswith(ids[4]) and lines[0].endswith(" c0") and "tests " in lines[0]


def test_forget_removes_one_run_and_its_results_and_refuses_an_unknown_id(system: Path) -> None:
    ids = listed(system)
    done = inside(system, "history", "forget", ids[1])
    assert done.code == 0 and done.stdout.strip() == f"forgot 1 run(s): {ids[1]}"
    assert listed(system) == [ids[0], *ids[2:]]
    with open_store(None, system) as store:
        assert store.results(ids[1]) == [] and store.results(ids[0]) != []
    bad = interlock(system, "history", "forget", ids[0], "nope")
    assert bad.code == 2 and bad.stderr.strip() == "interlock: error: nope: no such run in the history; nothing forgotten; see `interlock history list`"
    assert listed(system) == [ids[0], *ids[2:]]  # all or nothing


def test_prune_by_count_and_by_age_with_a_dry_run_first(system: Path) -> None:
    ids = listed(system)
    dry = inside(system, "history", "prune", "--keep-last", "4", "--dry-run")
    assert dry.code == 0 and dry.stdout.strip() == f"would forget 2 run(s): {ids[4]}, {ids[5]}" and listed(system) == ids
    assert inside(system, "history", "prune", "--older-than", "15d").stdout.strip() == f"forgot 1 run(s): {ids[5]}"
    assert listed(system) == ids[:5]
    assert inside(system, "history", "prune", "--keep-last", "3").code == 0
    assert listed(system) == ids[:3]
    cutoff = (START + timedelta(hours=3, minutes=30)).isoformat()  # runs 0..3 started before it: only 4 stays
    assert inside(system, "history", "prune", "--older-than", cutoff).code == 0
    assert listed(system) == ids[:1]


def test_prune_says_what_it_needs_in_one_line(system: Path) -> None:
    nothing = interlock(system, "history", "prune")
    assert nothing.code == 2 and nothing.stderr.strip() == "interlock: error: interlock history prune: say what to forget: --older-than 30d and/or --keep-last N"
    bad = interlock(system, "history", "prune", "--older-than", "last tuesday")
    assert bad.code == 2 and "Traceback" not in bad.stderr and "--older-than: 'last tuesday' is neither an age (30d, 12h, 2w) nor an ISO-8601 date" in bad.stderr
