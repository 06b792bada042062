"""render: the console (plain lines off a terminal, rich on one) and JSON lines, both plain handlers of the event stream.

The snapshot test replays the recorded event stream of a demo run
(tests/snapshots/demo-run.events.jsonl: `interlock --json run --env integration --yes`
on examples/shop, volatile parts normalised) through the plain console and compares
the output with tests/snapshots/demo-run.console.txt. After an intended change to
the console, regenerate it: `INTERLOCK_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_render.py`,
and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from interlock import events as ev
from interlock.render import ConsoleRenderer, JsonLines

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = "INTERLOCK_UPDATE_SNAPSHOTS"

#: What changes from one run or machine to the next, and what stands in for it.
VOLATILE = [
    (re.compile(r"(?:/[^\s/:'\"<>]+)+/(?=\.artifacts/|\.interlock/)"), "<root>/"),  # the system's folder
    (re.compile(r"(?<=127\.0\.0\.1:)\d+|(?<=port )\d+"), "<port>"),
    (re.compile(r"\b[0-9a-f]{12,64}\b…?"), "<hex>"),  # run ids, key ids, digests
    (re.compile(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])"), "<version>"),  # python, sqlite
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)? MiB\b"), "<size>"),
    (re.compile(r"(?<=pid )\d+"), "<pid>"),
]

EVENT_TYPES = {re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower(): cls for cls in vars(ev).values()
               if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event}


def normalise(text: str) -> str:
    """`text` with every volatile part replaced by its placeholder."""
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def event_of(data: dict[str, Any]) -> ev.Event:
    """The typed event of one `--json` line (`line` is derived, so it is not a field)."""
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def plain(events: list[ev.Event]) -> str:
    """What the console prints for `events` off a terminal (a pipe, a CI log)."""
    out = io.StringIO()
    renderer = ConsoleRenderer(Console(file=out, force_terminal=False, color_system=None, width=120, highlight=False))
    for event in events:
        renderer(event)
    renderer.close()
    return out.getvalue()


def test_the_plain_console_of_a_demo_run_matches_its_snapshot() -> None:
    recorded = (SNAPSHOTS / "demo-run.events.jsonl").read_text("utf-8").splitlines()
    events = [event_of(json.loads(line)) for line in recorded]
    assert [e.to_dict() for e in events] == [json.loads(line) for line in recorded]  # every recorded field is replayed
    output = normalise(plain(events))
    snapshot = SNAPSHOTS / "demo-run.console.txt"
    if os.environ.get(UPDATE):
        snapshot.write_text(output, "utf-8")
    assert output == snapshot.read_text("utf-8"), f"the console changed: if intended, regenerate with {UPDATE}=1 and review the diff"


def test_the_protocol_lines_are_printed_verbatim_each_on_its_own_line() -> None:
    events: list[ev.Event] = [ev.PhaseStarted(1), ev.AutomationExecuted("validate_environment.py", "PASS"), ev.PhaseFinished(1, "fail"),
                              ev.ProtocolError("EnvironmentMismatch", ["bus: no answer"]), ev.PromptRequired("sign-off"),
                              ev.RunFinished("complete", 0, {"1": "pass"}, None)]
    lines = plain(events).splitlines()
    for event in events:
        assert event.line in lines
    assert "      - bus: no answer" in lines


def test_steps_checks_and_gates_read_as_marks_with_their_reasons() -> None:
    lines = plain([
        ev.StepStarted("1.2", "Validate integration environment"),
        ev.CheckFinished("1.2", "bus", "pass"),
        ev.CheckFinished("1.2", "shopdb", "fail", "no such table"),
        ev.StepFinished("1.2", "Validate integration environment", "fail", "1 of 2 checks failed"),
        ev.StepFinished("3.3", "Perform regression spot-checks", "done"),
        ev.GateEvaluated(1, "Scope Alignment", "fail", ["env.failed_checks = 1 (want == 0)"], ["policy relaxed: scope.uncovered warns"]),
        ev.RunHalted("3.2", "2 open critical defects", "interlock run --resume"),
        ev.RunFinished("failed", 1, {"2": "pass", "1": "fail"}, "/a/INTEGRATION-EVIDENCE.zip"),
    ]).splitlines()
    assert lines == [
        "  • 1.2 Validate integration environment",
        "      ✗ shopdb: no such table",
        "  ✗ 1.2 Validate integration environment: fail — 1 of 2 checks failed",
        "  ↺ 3.3 Perform regression spot-checks: done",
        "Gate 1 Scope Alignment: FAIL",
        "      ✗ env.failed_checks = 1 (want == 0)",
        "      ! policy relaxed: scope.uncovered warns",
        "[HALTED] at 3.2: 2 open critical defects",
        "      to continue: interlock run --resume",
        "Result: FAILED (exit 1)  Gate 1: FAIL  Gate 2: PASS",
        "Evidence bundle: /a/INTEGRATION-EVIDENCE.zip",
    ]


def test_plain_progress_prints_about_every_tenth_and_the_last() -> None:
    lines = plain([ev.Progress("3.1", done, 20, "tests") for done in range(21)]).splitlines()
    assert lines == [f"      3.1 {done}/20 tests" for done in range(0, 21, 2)]
    unknown = plain([ev.Progress("3.1", done, None) for done in range(60)]).splitlines()
    assert unknown == ["      3.1 0/?", "      3.1 25/?", "      3.1 50/?"]


def test_on_a_terminal_progress_is_a_transient_bar_that_ends_with_its_step() -> None:
    out = io.StringIO()
    renderer = ConsoleRenderer(Console(file=out, force_terminal=True, width=100))
    renderer(ev.Progress("2.2", 1, 3, "pact jobs verified"))
    assert renderer.progress is not None and set(renderer.tasks) == {"2.2"}
    renderer(ev.StepFinished("2.2", "Configure contract and schema validators", "pass"))
    assert renderer.progress is None and renderer.tasks == {}
    renderer.close()
    assert "2.2 Configure contract and schema validators: pass" in out.getvalue()


def test_json_lines_are_one_object_per_event_with_its_name_and_line() -> None:
    out = io.StringIO()
    handler = JsonLines(out)
    handler(ev.PhaseStarted(2))
    handler(ev.Notice("2.2", "capturing"))
    handler.close()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"event": "phase_started", "phase": 2, "line": ev.PHASE_START_LINES[2]}
    assert second == {"event": "notice", "step": "2.2", "message": "capturing"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("/tmp/x/shop/.artifacts/.integration.run-4518c16d3614/report.json", "<root>/.artifacts/.integration.run-<hex>/report.json"),
    ("127.0.0.1:17419: status 200 in 22 ms", "127.0.0.1:<port>: status 200 in <time>"),
    ("port 10667 served by catalog's process tree (pid 11974)", "port <port> served by catalog's process tree (pid <pid>)"),
    ("python 3.11.7 satisfies >=3.11; healthy after 1.2s", "python <version> satisfies >=3.11; healthy after <time>"),
])
def test_the_snapshot_normalises_only_what_varies(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
    assert normalise(expected) == expected  # the recorded stream is normalised already: a second pass changes nothing


def test_the_result_line_says_not_run_and_names_the_kept_bundles_run() -> None:
    """issue 15 item 8: a gate a halted run never reached is NOT RUN, not FAIL; a kept bundle says whose it is."""
    lines = plain([ev.RunFinished("halted", 3, {"1": "fail", "2": "not_run"}, "/a/INTEGRATION-EVIDENCE.zip", "abc123")]).splitlines()
    assert lines == [
        "Result: HALTED (exit 3)  Gate 1: FAIL  Gate 2: NOT RUN",
        "Last sealed evidence bundle (of run abc123; this run sealed none): /a/INTEGRATION-EVIDENCE.zip",
    ]
