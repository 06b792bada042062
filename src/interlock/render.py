"""Handlers of the engine's event stream: the rich console, plain lines, JSON lines.

The protocol's lines are printed verbatim; everything else is decoration that
a machine reading `--json` never has to parse.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from rich.console import Console

from interlock import events as ev
from interlock.statuses import CheckStatus, GateStatus, StepStatus

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress, TaskID

_MARK = {"pass": "✓", "fail": "✗", "not_implemented": "✗", "done": "↺", "warn": "!"}


class JsonLines:
    """One JSON object per event per line, for machines."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        self.out.write(json.dumps(event.to_dict(), default=str) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class ConsoleRenderer:
    """Human output: rich on a terminal (with progress bars), plain lines otherwise."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.tty = self.console.is_terminal
        self.progress: RichProgress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.last_plain: dict[str, int] = {}
        self.indent = ""  # inside a run, lines that are not the protocol's own are indented under its steps

    def say(self, text: str, style: str | None = None) -> None:
        if self.progress is not None:
            self.progress.console.print(text, style=style, markup=False, highlight=False, emoji=False)
        else:
            self.console.print(text, style=style, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def __call__(self, event: ev.Event) -> None:
        if event.line is not None:
            style = "bold red" if isinstance(event, (ev.ProtocolError,)) else "bold"
            self.say(event.line, style if self.tty else None)
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_RunStarted(self, event: ev.RunStarted) -> None:
        self.indent = "      "

    def _on_StepStarted(self, event: ev.StepStarted) -> None:
        self.say(f"  • {event.step} {event.title}", "dim")

    def _on_StepFinished(self, event: ev.StepFinished) -> None:
        self._end_progress(event.step)
        mark = _MARK.get(event.status, "?")
        reason = f" — {event.reason}" if event.reason else ""
        self.say(f"  {mark} {event.step} {event.title}: {event.status}{reason}", "green" if event.status == StepStatus.PASS else "yellow" if event.status == StepStatus.DONE else "red")

    def _on_CheckFinished(self, event: ev.CheckFinished) -> None:
        if event.status != CheckStatus.PASS:
            self.say(f"      ✗ {event.id}: {event.reason}", "red")

    def _on_ProtocolError(self, event: ev.ProtocolError) -> None:
        for detail in event.details:
            self.say(f"      - {detail}", "red")

    def _on_Notice(self, event: ev.Notice) -> None:
        self.say(f"      {event.message}", "dim")

    def _on_OtlpReceiverStarted(self, event: ev.OtlpReceiverStarted) -> None:
        forward = f"; forwarded to {event.forward}" if event.forward else ""
        self.say(f"      OTLP receiver: {event.endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT for services interlock does not start; spans in {event.spans}{forward})", "dim")

    def _on_DefectFound(self, event: ev.DefectFound) -> None:
        self.say(f"      {event.id} [{event.severity}] {event.title} (owner {event.owner}); rerun: {event.rerun}", "red" if event.severity == "critical" else "yellow")

    def _on_PromptAnswered(self, event: ev.PromptAnswered) -> None:
        self.say(f"      answer: {'yes' if event.answer else 'no'} ({event.how})", "dim")

    def _on_ArtifactWritten(self, event: ev.ArtifactWritten) -> None:
        self.say(f"      wrote {event.path}", "dim")

    def _on_GateEvaluated(self, event: ev.GateEvaluated) -> None:
        self.say(f"Gate {event.gate} {event.name}: {event.status.upper()}", "bold green" if event.status == GateStatus.PASS else "bold red")
        for failure in event.failures:
            self.say(f"      ✗ {failure}", "red")
        for relaxed in event.policy_relaxed:
            self.say(f"      ! {relaxed}", "yellow")
        for waiting in event.pending:
            self.say(f"      … {waiting}", "dim")

    def _on_RunHalted(self, event: ev.RunHalted) -> None:
        self.say(f"[HALTED] at {event.step}: {event.reason}", "bold red")
        self.say(f"      to continue: {event.resume}")

    def _on_RunFinished(self, event: ev.RunFinished) -> None:
        verdicts = "  ".join(f"Gate {g}: {s.upper().replace('_', ' ')}" for g, s in sorted(event.gates.items()))
        self.say(f"Result: {event.status.upper()} (exit {event.exit_code})  {verdicts}", "bold")
        if event.bundle and event.bundle_run_id:
            self.say(f"Last sealed evidence bundle (of run {event.bundle_run_id}; this run sealed none): {event.bundle}")
        elif event.bundle:
            self.say(f"Evidence bundle: {event.bundle}")

    def _on_FileWritten(self, event: ev.FileWritten) -> None:
        self.say(f"{self.indent}wrote {event.path}", "dim" if self.indent else None)

    def _on_Verified(self, event: ev.Verified) -> None:
        for line in event.lines:
            self.say(line, "green" if event.ok else "red")

    def _on_DefectListed(self, event: ev.DefectListed) -> None:
        self.say(f"{event.id}  {event.severity:<8} {event.status:<9} {event.owner:<16} {event.title}")

    def _on_DefectsCounted(self, event: ev.DefectsCounted) -> None:
        which = f" with status {event.status}" if event.status else ""
        self.say(f"{event.shown} of {event.total} defect(s){which} in {event.log}" if event.total else f"no defects recorded in {event.log}")

    def _on_DefectShown(self, event: ev.DefectShown) -> None:
        for key, value in event.fields.items():
            self.say(f"{key}: {value}")

    def _on_DefectUpdated(self, event: ev.DefectUpdated) -> None:
        self.say(f"{event.id}: " + ", ".join(f"{k}={v}" for k, v in event.changes.items()))

    def _on_HistoryListed(self, event: ev.HistoryListed) -> None:
        gates = " ".join(f"G{g}:{s.upper()}" for g, s in sorted(event.gates.items()))
        self.say(f"{event.run_id}  {event.started_at or '-':<20} {event.environment:<12} {event.status:<8} tests {event.tests:<9} {gates}  {event.identity or 'no commit'}")

    def _on_HistoryForgotten(self, event: ev.HistoryForgotten) -> None:
        verb = "would forget" if event.dry_run else "forgot"
        self.say(f"{verb} {len(event.run_ids)} run(s)" + (": " + ", ".join(event.run_ids) if event.run_ids else ""))

    def _on_KeyGenerated(self, event: ev.KeyGenerated) -> None:
        self.say(f"wrote {event.private} (private, 0600) and {event.public}; keyid {event.keyid}")

    def _on_ConfigChecked(self, event: ev.ConfigChecked) -> None:
        self.say(f"OK: {event.path} ({event.services} services, {event.environments} environments)")

    def _on_Progress(self, event: ev.Progress) -> None:
        if not self.tty:
            total = event.total or 0
            step = max(1, total // 10) if total else 25
            if event.done - self.last_plain.get(event.step, -step) >= step or event.done == total:
                self.last_plain[event.step] = event.done
                self.say(f"      {event.step} {event.done}/{event.total if event.total is not None else '?'} {event.label}".rstrip())
            return
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn  # lazy: bars only on a terminal

            self.progress = RichProgress(TextColumn("      {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.start()
        if event.step not in self.tasks:
            self.tasks[event.step] = self.progress.add_task(event.label or event.step, total=event.total)
        self.progress.update(self.tasks[event.step], completed=event.done, total=event.total, description=event.label or event.step)

    def _end_progress(self, step: str) -> None:
        if self.progress is not None and step in self.tasks:
            self.progress.remove_task(self.tasks.pop(step))
            if not self.tasks:
                self.progress.stop()
                self.progress = None

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
