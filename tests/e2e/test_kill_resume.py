"""Killing `interlock run` at random moments never leaves an invalid JSON artifact, and `--resume` then completes.

Each kill is a SIGKILL of the interlock process alone, not of its process
group: its children (services, pytest, pact workers) must die with it. A kill
aims at a random moment of a random step among the next few left (timed from
that step's start in the `--json` event stream), or of the process start or
the end (publish, history, report), so it lands in every phase however busy
the machine is. The seed is printed; `INTERLOCK_KILL_SEED=N` replays the same
choices of step and moment. 75-95 s on two cores shared with other test runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest

from interlock.artifacts import BY_FILENAME, validation_errors
from interlock.engine import STATE_FILE, STEPS, RunState, resumable, staging_folders

from .conftest import INTERLOCK, Shop

pytestmark = [pytest.mark.e2e, pytest.mark.first, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children die with interlock by Linux's parent-death signal")]

KILLS = 20
#: More kills are made until one has landed in each phase and a run is left to resume; never more than this.
MOST = 40
PHASES = {f"phase {n}" for n in (1, 2, 3, 4)}
ENV = "integration"
#: How often a kill aims at the start of a process (imports, lock, orphans, staging) rather than at a step.
AT_START = 0.15
#: Each other kill aims at one of the next this-many steps left (or the end: publishing, history, report),
#: at a random moment inside it (by its duration seen so far): 20 kills walk through the protocol about 1.5 times.
AHEAD = 3
STEP_PHASE = {i: phase for i, phase, _, _, _ in STEPS}


def files(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its sha256 (empty when there is no folder)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def bad_json(folder: Path, scratch_allowed: bool) -> list[str]:
    """JSON files under `folder` that do not parse or break their artifact's schema.

    A staging folder may hold the hidden scratch of the step the kill interrupted
    (pytest's report being written); a resume removes it, and nothing hidden but
    the state file is ever published from there.
    """
    problems = []
    for path in sorted(folder.rglob("*.json")):
        if scratch_allowed and path.name.startswith(".") and path.name != STATE_FILE:
            continue
        try:
            data = json.loads(path.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        known = BY_FILENAME.get(path.name) if path.parent == folder else None
        if known is not None and known.schema_name:
            problems += [f"{path}: {e}" for e in validation_errors(known.schema_name, data)]
    return problems


def survivors(root: Path) -> list[str]:
    """Live processes working in the shop copy (cwd or command line inside it); zombies are dead."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(root) in cmdline or cwd == str(root) or cwd.startswith(f"{root}/"):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def no_survivors(root: Path, within: float = 5.0) -> list[str]:
    """`survivors` after giving the dead up to `within` seconds to go."""
    deadline = time.monotonic() + within
    while (left := survivors(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def run_ports(published: Path) -> set[int]:
    """The auto ports of the runs whose state is in the artifact folder or a staging folder beside it."""
    states = [RunState.load(folder) for folder in (published, *staging_folders(published))]
    return {port for state in states if state is not None for port in state.ports.values()}


def listening(ports: set[int]) -> list[int]:
    """The ports (the shop copy's runs' services') that something still accepts connections on."""
    open_ports = []
    for port in sorted(ports):
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                open_ports.append(port)
    return open_ports


def where(published: Path) -> str:
    """Which phase a killed run was in, from its staging folder's state file."""
    found = resumable(published, ENV)
    if found is None or found[1] is None:
        return "not started or published"
    left = [i for i, *_ in STEPS if i not in found[0].completed]
    return f"phase {STEP_PHASE[left[0]]}" if left else "publishing"


class Attempt:
    """One `interlock run` killed with SIGKILL (interlock alone) at a random moment of a chosen step."""

    def __init__(self, shop: Shop, log: Path, durations: dict[str, float]) -> None:
        self.shop, self.log, self.durations = shop, log, durations

    def run(self, resume: bool, target: str, offset: float) -> int | None:
        """Start the run, kill it `offset` s after `target` starts (a step id, "start" or "end"); None when killed."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        reached = threading.Event()
        with self.log.open("wb") as out:
            process = subprocess.Popen([*INTERLOCK, "--json", "run", "--env", ENV, "--yes", *(["--resume"] if resume else [])],
                                       cwd=self.shop.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            assert process.stdout is not None
            reader = threading.Thread(target=self._read, args=(process.stdout, out, target, reached))
            reader.start()
            if target != "start":
                reached.wait(timeout=300)
            time.sleep(offset)
            killed = process.poll() is None
            if killed:
                process.kill()
            process.wait()
            reader.join()
        return None if killed else process.returncode

    def _read(self, stream: IO[bytes], out: IO[bytes], target: str, reached: threading.Event) -> None:
        """Copy the event stream to the log, learn step durations, and say when the target starts (or the run ends)."""
        started: dict[str, float] = {}
        for raw in stream:
            out.write(raw)
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            kind, step = event.get("event"), event.get("step")
            if kind == "step_started":
                started[step] = time.monotonic()
            elif kind == "step_finished" and step in started:
                self.durations[step] = time.monotonic() - started[step]
            if (kind == "step_started" and step == target) or (kind == "run_finished" and target == "end"):
                reached.set()
        reached.set()


def test_twenty_kills_leave_valid_json_and_resume_completes(shop: Shop, tmp_path: Path) -> None:
    seed = int(os.environ.get("INTERLOCK_KILL_SEED") or random.SystemRandom().randrange(2**32))
    print(f"INTERLOCK_KILL_SEED={seed}")
    rng = random.Random(seed)
    published = shop.artifacts
    previous, landed, durations, ports = files(published), Counter[str](), dict[str, float](), set[int]()
    attempt = 0
    while attempt < KILLS or resumable(published, ENV) is None or not PHASES <= set(landed):
        assert attempt < MOST, f"after {attempt} kills: {dict(landed)}"
        found = resumable(published, ENV)
        done = found[0].completed if found else []
        ahead = [i for i, *_ in STEPS if i not in done][:AHEAD]
        target = "start" if rng.random() < AT_START else rng.choice([*ahead, "end"][:AHEAD])
        offset = rng.uniform(0.2, 2.0) if target == "start" else rng.uniform(0, durations.get(target, 1.0))
        log, began = tmp_path / f"attempt-{attempt:02d}.log", time.monotonic()
        code = Attempt(shop, log, durations).run(found is not None, target, offset)
        assert code in (None, 0), f"attempt {attempt} ended with {code}: " + log.read_text("utf-8", "replace")[-2000:]
        where_now = "finished" if code is not None else where(published)
        landed[where_now] += 1
        ports |= run_ports(published)
        print(f"attempt {attempt}: {'--resume' if found else 'fresh'}, kill {offset:.2f}s into {target} -> {where_now} ({time.monotonic() - began:.1f}s)")
        assert not (left := no_survivors(shop.root)), f"attempt {attempt}: children of the killed run still alive: {left}"
        assert not (broken := bad_json(published, scratch_allowed=False)), broken
        for staging in staging_folders(published):
            assert not (broken := bad_json(staging, scratch_allowed=True)), broken
        if not published.exists():  # killed between the publish's two renames: the previous folder waits beside it
            assert files(published.parent / f".{published.name}.old") == previous, f"attempt {attempt}: previous artifacts changed"
            attempt += 1
            continue
        now = files(published)
        state = RunState.load(published)
        if now != previous:  # only a run that went through every step may replace the evidence, and then whole
            assert state is not None and state.halted_at is None and sorted(state.completed) == sorted(STEP_PHASE), f"attempt {attempt}: {state}"
            assert previous.get(STATE_FILE) != now.get(STATE_FILE), f"attempt {attempt}: published artifacts changed without a new run"
            previous = now
        attempt += 1
    print("kills by phase:", dict(landed))

    assert ports, "no run recorded the auto ports it chose"
    assert listening(ports) == [], "a killed run's service still holds its port"
    kept = resumable(published, ENV)
    final = shop.interlock("run", "--env", ENV, "--yes", "--resume")
    assert final.code == 0, final.output
    if kept is not None:  # a resumed run keeps the ports it chose, whether step 1.2 ran before the kill or after
        report = json.loads((published / "environment-validation-report.json").read_text("utf-8"))
        assert {n: r["port"] for n, r in report["ports"].items()} == kept[0].ports
    assert "Gate 1: PASS  Gate 2: PASS  Gate 3: PASS  Gate 4: PASS" in final.stdout, final.output
    gates = json.loads((published / "gate-results.json").read_text("utf-8"))
    assert [g["status"] for g in gates["gates"]] == ["pass"] * 4
    beside = sorted(p.name for p in published.parent.iterdir())
    assert beside == [f".{published.name}.lock", published.name], f"left beside the artifact folder: {beside}"
    verified = shop.interlock("verify", str(published / "INTEGRATION-EVIDENCE.zip"), "--pubkey", str(shop.root / ".interlock/keys/signoff.pub"))
    assert verified.code == 0, verified.output
    assert not bad_json(published, scratch_allowed=False)
    assert not no_survivors(shop.root), "the final run left a process behind"
