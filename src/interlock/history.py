"""After a run: the outputs people look at, as handlers of the event stream.

The history store, the HTML report, the JUnit XML and the CI step summary each
listen to the stream (as Schemathesis's event handlers do) and act on
`RunPublished`, the event the engine emits once a run's artifacts are final and
`interlock report` emits for a folder already published. The CLI lists them,
the history first so the report shows this run in its trends; each takes the
`Outputs` they share. They read the
artifacts, never change a verdict, and say what they wrote through the stream,
so those lines come before `RunFinished`, the last event of a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from interlock.config import Loaded
from interlock.errors import InterlockError
from interlock.events import Emit, Event, Notice, RunPublished
from interlock.runfolder import RunFolder
from interlock.store import Store, open_store

__all__ = ["HistoryRecorder", "Outputs"]


class Outputs:
    """What the output handlers of one command share (Schemathesis's ExecutionContext): the config and one history store.

    `tolerant` is for a run: an output that cannot be written becomes a notice
    and the run's verdict and exit code stand. `interlock report` is strict: the
    failure is the command's error (one line, exit 2).
    """

    def __init__(self, loaded: Loaded, *, tolerant: bool) -> None:
        self.loaded, self.tolerant = loaded, tolerant
        self._store: Store | None = None
        self._refused: InterlockError | None = None
        self._runs: dict[str, RunFolder] = {}

    def run(self, folder: str) -> RunFolder:
        """The published run's folder, read once for every output (history, report, JUnit, summary)."""
        if folder not in self._runs:
            self._runs[folder] = RunFolder.load(Path(folder))
        return self._runs[folder]

    def store(self) -> Store:
        """The history store, opened on first use and shared by the recorder and the report; a refusal is remembered, not retried."""
        if self._refused is not None:
            raise self._refused
        if self._store is None:
            try:
                self._store = open_store(self.loaded.config.store.url, self.loaded.root)
            except InterlockError as exc:
                self._refused = exc
                raise
        return self._store

    @contextmanager
    def writing(self, what: str, emit: Emit) -> Iterator[None]:
        """Around one output: in a run, a failure is the notice `<what> not ...: <why>`; otherwise it propagates."""
        try:
            yield
        except InterlockError as exc:
            if not self.tolerant:
                raise
            emit(Notice("report", f"{what}: {exc}"))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class OutputWriter:
    """A handler that derives one output from a published run: the report, JUnit XML, the step summary, the history.

    On `RunPublished` it writes its output from the run folder read once for all
    outputs; a failure is `failure: <why>` (a notice in a run, the error of `interlock report`).
    """

    failure = "output not written"

    def __init__(self, outputs: Outputs) -> None:
        self.outputs = outputs

    def handle(self, event: Event, emit: Emit) -> None:
        if isinstance(event, RunPublished):
            with self.outputs.writing(self.failure, emit):
                self.write(self.outputs.run(event.folder), emit)

    def write(self, run: RunFolder, emit: Emit) -> None:
        """Write this output for `run`, saying through `emit` what was written."""
        raise NotImplementedError


class HistoryRecorder(OutputWriter):
    """Records a published run in the history store (SQLite by default, PostgreSQL by URL)."""

    failure = "run history not recorded"

    def write(self, run: RunFolder, emit: Emit) -> None:
        self.outputs.store().record_run(run, git_commit=self.outputs.loaded.commit_key(run.root))
