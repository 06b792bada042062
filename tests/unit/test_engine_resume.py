"""`interlock run --resume` after a run killed with SIGKILL, on a config without services.

The protocol's steps are replaced by tiny ones (in a child process, which a
step kills with SIGKILL) that count how often they ran and leave the scratch a
killed step leaves; gates are stubbed to pass, so the engine's own logic
(staging, state, publish, resume) is what is tested.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from interlock import runspec
from interlock.config import load
from interlock.engine import STATE_FILE, STEPS, Engine, RunState, resumable, staging_folder, steps
from interlock.errors import UsageError

from .test_config import MINIMAL

IDS = [i for i, *_ in STEPS]

FAKE_STEPS = '''
import os
import signal
from pathlib import Path

from interlock.protocol import Outcome


def make(step_id):
    def run(ctx):
        counter = ctx.loaded.root / "ran" / step_id
        counter.parent.mkdir(exist_ok=True)
        counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
        ctx.artifacts.write_text(f"logs/step-{step_id}.log", f"run {ctx.run_id}\\n")
        if step_id == os.environ.get("KILL_AT") and not (ctx.loaded.root / "killed").exists():
            (ctx.loaded.root / "killed").write_text(step_id)
            (ctx.artifacts.root / "logs" / ".step.log.abc123.tmp").write_text("half")  # an atomic write cut short
            (ctx.artifacts.root / f".pytest-report-{ctx.run_id}.json").write_text('{"tests": [')  # a child's half report
            os.kill(os.getpid(), signal.SIGKILL)
        return Outcome.of(True)
    return run


for _id in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "4.3", "4.1", "4.2"):
    globals()["step_" + _id.replace(".", "_")] = make(_id)
'''

DRIVER = '''
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from interlock import engine, runspec
from interlock.config import load

root = Path(sys.argv[1])
engine.STEPS = tuple((i, p, t, "fake_steps:step_" + i.replace(".", "_"), False) for i, p, t, _, _ in engine.STEPS)
engine.gate_results = lambda artifacts, loaded, gates=(1, 2, 3, 4), decided_through=None: {
    "status": "pass", "gates": [{"id": n, "name": f"Gate {n}", "status": "pass", "conditions": []} for n in (1, 2, 3, 4)]}
run = engine.Engine(runspec.build(load(root / "interlock.toml"), "integration"), root / "art", lambda event: None, lambda kind: (True, "test"), steps=engine.steps())
sys.exit(run.run(resume=sys.argv[2] == "resume"))
'''


@pytest.fixture
def system(tmp_path: Path) -> Path:
    (tmp_path / "interlock.toml").write_text(MINIMAL.replace('openapi = "api.yaml"', ""))
    (tmp_path / "fake_steps.py").write_text(FAKE_STEPS)
    (tmp_path / "driver.py").write_text(DRIVER)
    return tmp_path


def run(system: Path, mode: str, kill_at: str | None = None) -> int:
    env = {**os.environ, **({"KILL_AT": kill_at} if kill_at else {})}
    done = subprocess.run([sys.executable, str(system / "driver.py"), str(system), mode], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def counts(system: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in (system / "ran").iterdir()}


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_continues_the_killed_run_in_its_staging_folder(system: Path) -> None:
    published = system / "art"
    assert run(system, "fresh") == 0
    before = tree(published)
    (system / "ran").rename(system / "ran-first")

    assert run(system, "fresh", kill_at="3.1") == -signal.SIGKILL
    assert tree(published) == before, "a killed run changed the published artifacts"
    state, staging = resumable(published, "integration")
    assert staging is not None and state.completed == IDS[:6] and staging == staging_folder(published, state.run_id)

    assert run(system, "resume") == 0
    assert counts(system) == {**dict.fromkeys(IDS, 1), "3.1": 2}, "only the interrupted step runs again"
    assert not staging.exists() and resumable(published, "integration") is None
    final = RunState.load(published)
    assert final is not None and final.run_id == state.run_id and sorted(final.completed) == sorted(IDS) and final.halted_at is None
    assert all((published / "logs" / f"step-{i}.log").read_text() == f"run {state.run_id}\n" for i in IDS)
    hidden = [p.name for p in published.rglob(".*") if p.is_file()]
    assert hidden == [STATE_FILE], f"scratch of the killed step reached the published folder: {hidden}"


def test_plain_run_after_a_kill_starts_over(system: Path) -> None:
    assert run(system, "fresh", kill_at="2.2") == -signal.SIGKILL
    killed, staging = resumable(system / "art", "integration")
    assert run(system, "fresh") == 0
    assert counts(system)["1.1"] == 2 and not staging.exists()
    assert RunState.load(system / "art").run_id != killed.run_id


def test_resume_with_nothing_to_resume_is_one_line(system: Path) -> None:
    engine = Engine(runspec.build(load(system / "interlock.toml"), "integration"), system / "art", lambda event: None, lambda kind: (True, "test"), steps=steps())
    with pytest.raises(UsageError) as info:
        engine.run(resume=True)
    assert "no halted run and no killed run of environment 'integration' to resume" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_kill_between_the_publish_renames_gives_the_previous_evidence_back(system: Path) -> None:
    published = system / "art"
    assert run(system, "fresh") == 0
    before = tree(published)
    assert run(system, "fresh", kill_at="4.2") == -signal.SIGKILL
    published.rename(system / ".art.old")  # what `_publish` does first; the kill came before the second rename
    assert resumable(published, "integration") is not None
    assert run(system, "resume") == 0
    assert not (system / ".art.old").exists()
    assert RunState.load(published).run_id != json.loads(before[STATE_FILE])["run_id"]

    published.rename(system / ".art.old")
    engine = Engine(runspec.build(load(system / "interlock.toml"), "integration"), published, lambda event: None, lambda kind: (True, "test"), steps=steps())
    with pytest.raises(UsageError):
        engine.run(resume=True)  # nothing to resume, but the previous evidence is back in place
    assert published.is_dir() and not (system / ".art.old").exists()


def test_half_removed_staging_folders_are_never_resumed(system: Path) -> None:
    published = system / "art"
    assert run(system, "fresh", kill_at="1.2") == -signal.SIGKILL
    killed, staging = resumable(published, "integration")
    half = system / f".art.new-{killed.run_id}"  # a staging folder being built when the kill came
    half.mkdir()
    dying = system / ".art.del-0123"  # one being removed
    (dying / "logs").mkdir(parents=True)
    assert resumable(published, "integration")[1] == staging
    assert run(system, "fresh") == 0
    assert not half.exists() and not dying.exists() and not staging.exists()


def test_children_die_with_a_killed_interlock(tmp_path: Path) -> None:
    """SIGKILL of the parent alone (not its group) still ends a child started with `die_with_interlock`."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    script = textwrap.dedent("""
        import subprocess, sys, time
        from interlock.children import die_with_interlock
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True, preexec_fn=die_with_interlock())
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def hold_lock(lock: Path) -> subprocess.Popen[str]:
    """Another process that holds the artifact folder's lock (as a live run does) until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", f"from filelock import FileLock; import time; held = FileLock({str(lock)!r}); held.acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_lock_of_a_process_killed_with_sigkill_does_not_block(system: Path) -> None:
    """filelock uses flock: the kernel drops the lock with its dead holder, so no stale lock outlives a killed run."""
    holder = hold_lock(system / ".art.lock")
    engine = Engine(runspec.build(load(system / "interlock.toml"), "integration"), system / "art", lambda event: None, lambda kind: (True, "test"), steps=steps())
    with pytest.raises(UsageError, match="another interlock run"):
        engine.run_steps([])
    holder.kill()
    holder.wait()
    assert engine.run_steps([]) == 0


def test_step_commands_sweep_the_scratch_a_killed_one_left(system: Path) -> None:
    published = system / "art"
    (published / "logs").mkdir(parents=True)
    for name in (".defect-log.csv.x1y2.tmp", ".pytest-report-abc.json", "logs/.pytest.log.q9.tmp"):
        (published / name).write_text("half")
    (published / "defect-log.csv").write_text("kept\n")
    engine = Engine(runspec.build(load(system / "interlock.toml"), "integration"), published, lambda event: None, lambda kind: (True, "test"), steps=steps())
    assert engine.run_steps([]) == 0
    assert sorted(p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()) == [STATE_FILE, "defect-log.csv"]


def test_the_next_run_stops_the_recorded_group_of_a_killed_child(system: Path) -> None:
    """pytest dies with interlock, its xdist workers do not: the group recorded in the pidfile is ended by the next run."""
    from interlock.artifacts import ArtifactDir
    from interlock.context import RunContext

    def context() -> RunContext:
        return RunContext(runspec.build(load(system / "interlock.toml"), "integration"), ArtifactDir(system / "art"), lambda event: None, lambda kind: (True, "test"), "r1")

    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print(w.pid, flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert leader.stdout is not None
    worker = int(leader.stdout.readline())
    context().services.record("(pytest)", leader.pid)
    leader.kill()  # as the parent-death signal does when interlock is killed
    leader.wait()
    assert alive(worker)
    context().services.stop_orphans(grace=0.5)
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)
    assert not (system / ".interlock" / "integration" / "pids.json").exists()


def test_a_mitigation_recorded_while_a_killed_run_waits_is_in_what_the_resume_publishes(system: Path) -> None:
    """`defects mitigate` reaches the killed run's staging copy too, which `--resume` publishes; a live run's lock refuses it."""
    from interlock.artifacts import ArtifactDir
    from interlock.defects import COLUMNS, Failure, merge, read_log

    published = system / "art"
    assert run(system, "fresh") == 0
    assert run(system, "fresh", kill_at="4.1") == -signal.SIGKILL
    _, staging = resumable(published, "integration")
    failure = Failure("test", "tests/test_a.py::test_x", "test tests/test_a.py::test_x failed", "critical", "report#x", "rerun", "boom", "orders")
    rows = merge([], [failure], run_id="r1", now="t1", owners={}, service_owners={})
    for folder in (published, staging):  # as triage left it in both: the published halted run and the resumed copy
        ArtifactDir(folder).write_csv("defect-log.csv", COLUMNS, rows)
    defect = rows[0]["id"]

    def mitigate(plan: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "interlock", "--artifacts", "art", "defects", "mitigate", defect, "--plan", plan],
                              cwd=system, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    holder = hold_lock(system / ".art.lock")
    refused = mitigate("while a run writes")
    holder.kill()
    holder.wait()
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "another interlock run is writing" in refused.stderr, refused.stderr
    assert read_log(published / "defect-log.csv")[0]["status"] == "open"

    done = mitigate("fix in PR 12")
    assert done.returncode == 0, done.stderr
    assert run(system, "resume") == 0
    [row] = read_log(published / "defect-log.csv")
    assert (row["status"], row["mitigation"]) == ("mitigated", "fix in PR 12")
