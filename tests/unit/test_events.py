"""The event stream: one redaction, the renderer first, then every handler; the outputs are handlers that speak through it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from interlock import events as ev
from interlock.errors import Problem, UsageError
from interlock.render import ConsoleRenderer, JsonLines
from interlock.secrets import Redactor


class Echo:
    """A handler that answers every RunPublished with a FileWritten of its own."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def handle(self, event: ev.Event, emit: ev.Emit) -> None:
        self.seen.append(f"{self.name}:{type(event).__name__}")
        if isinstance(event, ev.RunPublished):
            emit(ev.FileWritten(self.name, f"{event.folder}/{self.name}"))


def test_handlers_speak_after_the_event_that_moved_them_and_before_the_next() -> None:
    shown: list[ev.Event] = []
    seen: list[str] = []
    stream = ev.EventStream(shown.append, [Echo("a", seen), Echo("b", seen)])
    stream(ev.RunPublished("/art"))
    stream(ev.RunFinished("complete", 0, {"1": "pass"}, None))
    assert [type(e).__name__ for e in shown] == ["RunPublished", "FileWritten", "FileWritten", "RunFinished"]
    assert [e.path for e in shown if isinstance(e, ev.FileWritten)] == ["/art/a", "/art/b"]
    assert seen == ["a:RunPublished", "a:FileWritten", "b:FileWritten", "b:RunPublished", "a:FileWritten", "b:FileWritten", "a:RunFinished", "b:RunFinished"]


def test_every_event_and_every_handler_event_is_redacted() -> None:
    redactor = Redactor({"s3cr3t-value": "TOKEN"})
    shown: list[ev.Event] = []
    stream = ev.EventStream(shown.append, [Echo("h", [])], redactor.event)
    stream(ev.RunPublished("/art/s3cr3t-value"))
    stream(ev.DefectListed("DEF-1", "high", "open", "me", "login with s3cr3t-value fails"))
    assert shown and not any("s3cr3t-value" in json.dumps(e.to_dict()) for e in shown)


def test_command_events_render_as_the_console_did_and_as_json_lines() -> None:
    out = io.StringIO()
    console = ConsoleRenderer(Console(file=out, width=300))
    console(ev.DefectListed("DEF-1", "high", "open", "orders", "total is wrong"))
    console(ev.DefectUpdated("DEF-1", {"status": "resolved", "regression": ""}))
    console(ev.KeyGenerated("k.key", "k.pub", "ab12"))
    console(ev.FileWritten("init", "interlock.toml"))
    console(ev.Verified("b.zip", False, ["x: bad", "... and 3 more problems"], 4, None, ["FAIL: x: bad", "... and 3 more problems"]))
    assert out.getvalue().splitlines() == [
        "DEF-1  high     open      orders           total is wrong", "DEF-1: status=resolved, regression=",
        "wrote k.key (private, 0600) and k.pub; keyid ab12", "wrote interlock.toml", "FAIL: x: bad", "... and 3 more problems",
    ]
    lines = io.StringIO()
    JsonLines(lines)(ev.Verified("b.zip", True, [], 0, {"approver": "qa"}, ["OK: b.zip"]))
    assert json.loads(lines.getvalue()) == {"event": "verified", "bundle": "b.zip", "ok": True, "problems": [], "problem_count": 0, "approval": {"approver": "qa"}}


def test_inside_a_run_written_files_are_indented_under_the_steps() -> None:
    out = io.StringIO()
    console = ConsoleRenderer(Console(file=out, width=300))
    console(ev.RunStarted("r1", "integration", False))
    console(ev.FileWritten("report", "art/integration-report.html"))
    assert out.getvalue().splitlines()[-1] == "      wrote art/integration-report.html"


def test_a_run_turns_an_output_failure_into_a_notice_and_report_into_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock import history
    from interlock.config import load

    from .test_config import MINIMAL

    (tmp_path / "interlock.toml").write_text(MINIMAL)
    loaded = load(tmp_path / "interlock.toml")

    def refused(*_: object) -> None:
        raise UsageError(Problem("db", "cannot open the history store: down"))

    monkeypatch.setattr(history, "open_store", refused)
    shown: list[ev.Event] = []
    with history.Outputs(loaded, tolerant=True) as outputs:
        ev.EventStream(shown.append, [history.HistoryRecorder(outputs)])(ev.RunPublished(str(tmp_path / "art")))
    assert [e.message for e in shown if isinstance(e, ev.Notice)] == ["run history not recorded: db: cannot open the history store: down"]
    with history.Outputs(loaded, tolerant=False) as outputs, pytest.raises(UsageError, match="down"):
        ev.EventStream(shown.append, [history.HistoryRecorder(outputs)])(ev.RunPublished(str(tmp_path / "art")))
