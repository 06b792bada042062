"""interlock's pytest plugin: markers, interface mapping and result metadata.

Loaded through the `pytest11` entry point in every pytest run of this venv
(interlock's own suite too), so it stays inert unless asked: it registers
markers and a fixture, and writes or adds nothing unless `--interlock-collect`
is given or pytest-json-report is producing a report.

- `@pytest.mark.integration`: selected by the protocol's `pytest -m integration`.
- `@pytest.mark.critical`: a failure here is a critical defect.
- `@pytest.mark.interface("catalog:GET /products/{id}", ...)`: the interfaces a
  test covers, which the scope step maps to the scope matrix.

With `--interlock-selection PATH` a `SelectionRecorder` writes what pytest
really selected (counts, the effective `-k`/`-m`, targets, deselections and who
made them, how many tests ran) for `interlock.selection` to judge.

With `INTERLOCK_OTLP_ENDPOINT` set (interlock sets it while its OTLP receiver
runs) a `TestTracer` opens one span per test and exports them in batches from a
background thread; `traced_http` (an httpx request hook) and the
`interlock_traceparent` fixture give the services the test's W3C `traceparent`,
so their spans join the test's trace, and pytest-json-report's metadata gets
each test's `trace_id`.
"""

from __future__ import annotations

import json
import os
import random
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

import pytest

from interlock.otlp import PROTOBUF, SENDER_HEADER, TESTS_SERVICE
from interlock.statuses import TestOutcome

if TYPE_CHECKING:
    import httpx

MARKERS = (
    "integration: an integration test, selected by the protocol's `pytest -m integration`",
    "critical: a failure of this test is a critical defect",
    "interface(*ids): interface ids this test covers, e.g. interface('catalog:GET /products/{id}')",
)
_COLLECT_PATH = pytest.StashKey[Path]()
_SHARD_OUT = pytest.StashKey[Path]()
_RECORDER = pytest.StashKey["SelectionRecorder"]()
_TRACER = pytest.StashKey["TestTracer"]()
#: The variable that switches test spans on: the OTLP/HTTP base URL of interlock's receiver.
ENDPOINT_VARIABLE = "INTERLOCK_OTLP_ENDPOINT"
#: The key a SelectionRecorder in an xdist worker hands its collection to the controller under.
WORKER_KEY = "interlock_selection"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interlock", "interlock integration validation")
    group.addoption(
        "--interlock-collect", metavar="PATH", default=None,
        help="with --collect-only: write the selected tests, their markers and interface ids as JSON to PATH",
    )
    group.addoption("--interlock-shard", metavar="K/N", default=None, help="run only shard K of N of the selected tests (deterministic)")
    group.addoption("--interlock-root", metavar="DIR", default=None, help="the system's root: shards are computed over node ids relative to it")
    group.addoption("--interlock-durations", metavar="PATH", default=None, help="JSON {nodeid: seconds} of a previous run, to balance shards")
    group.addoption("--interlock-shard-out", metavar="PATH", default=None, help="write the shard's plan (suite digest, selection) as JSON to PATH")
    group.addoption("--interlock-keep", metavar="PATH", default=None,
                    help="JSON list of node ids, modules or folders (relative to --interlock-root): deselect every other test")
    group.addoption("--interlock-selection", metavar="PATH", default=None,
                    help="write what pytest really selected (counts, -k/-m, targets, deselected node ids, tests run) as JSON to PATH")
    group.addoption("--interlock-suite-marker", metavar="EXPR", default=None,
                    help="the suite's own marker expression: with --interlock-selection, tells the suite from any further narrowing")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    path = config.getoption("interlock_collect", None)
    if path:
        config.stash[_COLLECT_PATH] = Path(path).absolute()
    selection = config.getoption("interlock_selection", None)
    if selection:
        recorder = SelectionRecorder(config, Path(selection).absolute())
        config.stash[_RECORDER] = recorder
        config.pluginmanager.register(recorder, "interlock-selection-recorder")
    endpoint = os.environ.get(ENDPOINT_VARIABLE, "")
    if endpoint:
        tracer = TestTracer(SpanExporter(endpoint))
        config.stash[_TRACER] = tracer
        config.pluginmanager.register(tracer, "interlock-test-tracer")


def pytest_unconfigure(config: pytest.Config) -> None:
    tracer = config.stash.get(_TRACER, None)
    if tracer is not None:
        tracer.exporter.close()  # a session that ended early (usage error) still delivers what it has
        if tracer in _ACTIVE:
            _ACTIVE.remove(tracer)


def interfaces_of(item: pytest.Item) -> list[str]:
    """The interface ids of every `interface` marker on the item (closest first), without repeats."""
    return _marks_of(item)[0]


def _marks_of(item: pytest.Item) -> tuple[list[str], bool]:
    """The item's interface ids and whether it is critical, in one walk of its markers.

    pytest-json-report asks for a test's metadata at setup, call and teardown, and a
    marker added by a fixture counts from then on, so the markers are read each time,
    but once for both answers.
    """
    ids: list[str] = []
    critical = False
    for marker in item.iter_markers():
        if marker.name == "critical":
            critical = True
        elif marker.name == "interface":
            for value in marker.args:
                if not isinstance(value, str):
                    raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.interface takes interface ids as strings, got {value!r}")
                if value not in ids:
                    ids.append(value)
    return ids, critical


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reject a malformed `interface` marker at collection, with the test's id, not mid-run; then keep only this shard.

    `trylast`: sharding splits what `-m`/`-k` left, so every shard sees the same suite.
    """
    for item in items:
        interfaces_of(item)
    keep = config.getoption("interlock_keep", None)
    if keep:
        _keep_listed(config, items, Path(keep))
    spec = config.getoption("interlock_shard", None)
    if spec:
        _keep_shard(config, items, spec)


def _keep_listed(config: pytest.Config, items: list[pytest.Item], listing: Path) -> None:
    """Keep the listed tests and everything under a listed module or folder; a listed test that no longer exists is just absent."""
    from interlock.shards import relocate

    wanted = json.loads(listing.read_text("utf-8"))
    exact = set(wanted)
    prefixes = tuple(p for w in wanted if "::" not in w for p in (w + "::", w.rstrip("/") + "/"))
    root = Path(config.getoption("interlock_root") or config.rootpath)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        nodeid = relocate(item.nodeid, config.rootpath, root)
        (keep if nodeid in exact or nodeid.startswith(prefixes) else dropped).append(item)
    if dropped:
        _attribute(config, "--interlock-keep", dropped)
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def _keep_shard(config: pytest.Config, items: list[pytest.Item], spec: str) -> None:
    """Deselect every item outside shard K/N; write the shard's plan for interlock (each xdist worker writes the same)."""
    from interlock.shards import Shard, plan, relocate  # lazy: plain pytest runs never load it

    try:
        shard = Shard.parse(spec)
    except ValueError as exc:
        raise pytest.UsageError(f"--interlock-shard: {exc}") from None
    root = Path(config.getoption("interlock_root") or config.rootpath)
    ids = [relocate(item.nodeid, config.rootpath, root) for item in items]
    durations_path = config.getoption("interlock_durations", None)
    durations = json.loads(Path(durations_path).read_text("utf-8")) if durations_path else None
    shard_plan = plan(ids, shard, durations)
    chosen = set(shard_plan["selection"])
    keep = [item for item, nodeid in zip(items, ids) if nodeid in chosen]
    dropped = [item for item, nodeid in zip(items, ids) if nodeid not in chosen]
    if dropped:
        _attribute(config, SHARD_SOURCE, dropped)
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    out = config.getoption("interlock_shard_out", None)
    if out:  # each xdist worker writes the same plan: write beside it, then rename over it
        temp = Path(f"{out}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(shard_plan) + "\n", "utf-8")
        os.replace(temp, out)


SHARD_SOURCE = "--interlock-shard"


def _attribute(config: pytest.Config, source: str, items: list[pytest.Item]) -> None:
    """Tell the recorder that interlock's own `source` (shard, keep list) is deselecting these items."""
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.attribute(source, items)


def suite_matcher(expression: str | None) -> Callable[[pytest.Item], bool] | None:
    """Whether an item is in the suite, evaluated exactly as `-m EXPRESSION` would; None when pytest cannot evaluate it.

    pytest keeps its marker-expression evaluator internal; without it the suite cannot be
    told from a narrowed selection, so the record says so and the run counts as filtered.
    """
    if not expression:
        return lambda item: True
    try:
        from _pytest.mark import MarkMatcher
        from _pytest.mark.expression import Expression
    except ImportError:
        return None
    try:
        compiled = Expression.compile(expression)
    except Exception:  # SyntaxError today, ParseError in older pytest: pytest rejects the same `-m` itself, and the suite cannot be told
        return None
    return lambda item: bool(compiled.evaluate(MarkMatcher.from_markers(item.iter_markers())))


class SelectionRecorder:
    """Records what pytest really selected and ran, so interlock judges a run by pytest's choices, not by its arguments.

    Every item it sees (collected, deselected, finally selected) is classified once:
    in the suite's own marker expression or not, critical or not. Deselections are
    attributed to interlock's shard or keep list when those made them, else to pytest
    (`-m`, `-k`, `--deselect`) or another plugin. In an xdist worker the collection
    goes to the controller through `workeroutput`; the controller (or a plain pytest)
    writes the record when the session ends.
    """

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config, self.path = config, path
        self.marker: str | None = config.getoption("interlock_suite_marker", None)
        self.matches = suite_matcher(self.marker)
        self.seen: dict[str, tuple[bool, bool]] = {}  # node id -> (in the suite, critical)
        self.collected: list[str] = []
        self.attributed: dict[str, str] = {}
        self.deselected: dict[str, str] = {}  # node id -> who deselected it
        self.collections: list[dict[str, Any]] = []
        self.ran: set[str] = set()

    def attribute(self, source: str, items: list[pytest.Item]) -> None:
        for item in items:
            self.attributed[item.nodeid] = source

    def _see(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.nodeid not in self.seen:
                in_suite = self.matches(item) if self.matches is not None else False
                self.seen[item.nodeid] = (in_suite, item.get_closest_marker("critical") is not None)
                self.collected.append(item.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Before `-m`, `-k`, `--deselect` or a shard take anything away."""
        self._see(items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._see(items)  # a plugin that deselected before this recorder looked
        for item in items:
            self.deselected.setdefault(item.nodeid, self.attributed.get(item.nodeid, "pytest"))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._see(session.items)
        collection = {
            "collected": self.collected,
            "suite": None if self.matches is None else [n for n in self.collected if self.seen[n][0]],
            "critical": [n for n in self.collected if self.seen[n][0] and self.seen[n][1]],
            "selected": [item.nodeid for item in session.items],
            "deselected": self.deselected,
        }
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_KEY] = collection
        else:
            self.collections.append(collection)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist's controller: keep each worker's collection (they collect the same tests)."""
        collection = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if collection is not None:
            self.collections.append(collection)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ran.add(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller writes
        from interlock.files import atomic_write  # lazy: keeps plain pytest runs light

        record = self.record(int(exitstatus))
        atomic_write(self.path, (json.dumps(record) + "\n").encode("utf-8"))

    def record(self, exitstatus: int) -> dict[str, Any]:
        """What was asked (arguments by source, effective -k/-m, targets) and what happened (collection, tests run)."""
        config = self.config
        collections = self.collections
        return {
            "version": 1,
            "pytest": pytest.__version__,
            "rootdir": str(config.rootpath),
            "invocation_dir": str(config.invocation_params.dir),
            "argv": [str(a) for a in config.invocation_params.args],
            "ini": {"path": str(config.inipath) if config.inipath else None, "addopts": [str(a) for a in config.getini("addopts")]},
            "environment": {k: v for k, v in sorted(os.environ.items()) if k.startswith("PYTEST_")},
            "suite_marker": self.marker,
            "markexpr": config.option.markexpr or "",
            "keyword": config.option.keyword or "",
            "targets": [str(a) for a in config.args],
            "ignore": [str(a) for a in config.getoption("ignore", None) or []],
            "ignore_glob": [str(a) for a in config.getoption("ignore_glob", None) or []],
            "deselect": [str(a) for a in config.getoption("deselect", None) or []],
            "last_failed": bool(config.getoption("lf", False)),
            "stepwise": bool(config.getoption("stepwise", False) or config.getoption("stepwise_skip", False)),
            "maxfail": int(config.getoption("maxfail", 0) or 0),
            "bodies_skipped": [name for name, dest in (("--collect-only", "collectonly"), ("--setup-only", "setuponly"), ("--setup-plan", "setupplan"))
                               if config.getoption(dest, False)],
            "shard": config.getoption("interlock_shard", None),
            "collections": len(collections),
            "collection": collections[0] if collections else None,
            "collections_agree": all(c == collections[0] for c in collections),
            "ran": sorted(self.ran),
            "exitstatus": exitstatus,
        }


def pytest_collection_finish(session: pytest.Session) -> None:
    """Write the tests left after `-m`/`-k` deselection (node ids relative to `rootdir`), so scope sees what the suite would run."""
    path = session.config.stash.get(_COLLECT_PATH, None)
    if path is None:
        return
    from interlock.files import atomic_write  # lazy: keeps plain pytest runs light

    tests = [
        {"nodeid": item.nodeid, "markers": sorted({m.name for m in item.iter_markers()}), "interfaces": interfaces_of(item)}
        for item in session.items
    ]
    data = {"rootdir": str(session.config.rootpath), "tests": tests}
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[Any]) -> dict[str, Any]:
    """Put interface ids and the critical flag in pytest-json-report's per-test metadata.

    `optionalhook`: the hook exists only when pytest-json-report is active
    (`--json-report`); without it pytest never calls this and does not complain.
    """
    interfaces, critical = _marks_of(item)
    metadata: dict[str, Any] = {"interfaces": interfaces, "critical": critical}
    tracer = item.config.stash.get(_TRACER, None)
    current = tracer.current if tracer is not None else None
    if current is not None and current.nodeid == item.nodeid:
        metadata["trace_id"] = current.trace_id
    return metadata


def service_env_var(name: str) -> str:
    """The variable interlock sets for a service's URL (as in RunContext.base_env)."""
    return f"INTERLOCK_SERVICE_{name.upper().replace('-', '_')}_URL"


@pytest.fixture
def service_url() -> Callable[[str], str]:
    """`service_url("catalog")` is the catalog's base URL in the environment under test."""

    def url(name: str) -> str:
        variable = service_env_var(name)
        value = os.environ.get(variable, "")
        if not value:
            pytest.fail(f"no URL for service {name!r}: {variable} is not set; run the suite through `interlock test`", pytrace=False)
        return value

    return url


# ---------------------------------------------------------------------------
# Test spans (issue 16): one span per test, exported over OTLP/HTTP to interlock's receiver.

#: The tracers of this process's sessions (one, but for pytest's own in-process test runs): `traced_http` asks the newest.
_ACTIVE: list[TestTracer] = []


#: Trace and span ids, as OpenTelemetry's own RandomIdGenerator makes them (os.urandom is a system call per test), from
#: a generator of the plugin's own, seeded from os.urandom: a suite that seeds `random` cannot make two tests share a trace.
_IDS = random.Random(os.urandom(32))


class TestSpan:
    """The span of one running test: its ids, its start, and the worst outcome its phases reported so far."""

    __test__ = False  # not a test class, though its name says Test
    __slots__ = ("nodeid", "trace_id", "span_id", "start_ns", "outcome", "message")

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.trace_id, self.span_id = f"{_IDS.getrandbits(128) or 1:032x}", f"{_IDS.getrandbits(64) or 1:016x}"
        self.start_ns = time.time_ns()
        self.outcome, self.message = TestOutcome.PASSED, ""

    @property
    def traceparent(self) -> str:
        """The W3C `traceparent` header value that makes a callee's span a child of this test's span (sampled)."""
        return f"00-{self.trace_id}-{self.span_id}-01"

    def record(self, report: pytest.TestReport) -> None:
        """A phase's report: a failure anywhere makes the test failed, a skip (with nothing failed) skipped."""
        if report.failed:
            if self.outcome != TestOutcome.FAILED:
                self.outcome, self.message = TestOutcome.FAILED, f"{report.when} failed"
        elif report.skipped and self.outcome == TestOutcome.PASSED:
            self.outcome = TestOutcome.SKIPPED


class TestTracer:
    """Opens a span around each test's setup, call and teardown, and hands it to the exporter when the test ends."""

    __test__ = False  # not a test class, though its name says Test

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.current: TestSpan | None = None
        _ACTIVE.append(self)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        self.current = span = TestSpan(item.nodeid)
        try:
            return (yield)
        finally:
            self.current = None
            self.exporter.add(span, time.time_ns())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        current = self.current
        if current is not None and current.nodeid == report.nodeid:
            current.record(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.exporter.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say so when test spans did not reach the receiver: their trace ids then prove nothing."""
        lost, reason = self.exporter.lost, self.exporter.error
        if lost:
            terminalreporter.write_line(f"interlock: {lost} of {self.exporter.sent + lost} test span(s) not delivered to "
                                        f"{self.exporter.endpoint}: {reason}", yellow=True)


class SpanExporter:
    """Test spans to an OTLP/HTTP receiver in protobuf, in batches, from one background thread; `close` delivers the rest.

    Cheap by design (a 2,000-test suite may spend at most 5 % on it): a test only appends its finished
    span to a list; the thread wakes every `delay` seconds or when `batch` spans wait, encodes them
    (`encode`) and POSTs them. A span that could not be delivered
    is counted in `lost` with the last reason, never raised into the suite.
    """

    def __init__(self, endpoint: str, *, batch: int = 512, delay: float = 1.0, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise pytest.UsageError(f"{ENDPOINT_VARIABLE}={endpoint!r} is not an http(s) URL of an OTLP/HTTP receiver")
        self._url = url
        self.batch, self.delay, self.timeout = batch, delay, timeout
        self.pending: list[tuple[TestSpan, int]] = []
        self.sent = self.lost = 0
        self.error = ""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    def add(self, span: TestSpan, end_ns: int) -> None:
        """Queue a finished span; the first one starts the export thread (an xdist controller never starts one)."""
        with self._lock:
            if self._closing:
                self.lost += 1
                self.error = self.error or "the span ended after the session closed its exporter"
                return
            self.pending.append((span, end_ns))
            full = len(self.pending) >= self.batch
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="interlock-test-spans", daemon=True)
                self._thread.start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.delay)
            self._wake.clear()
            self._flush()

    def _take(self) -> list[tuple[TestSpan, int]]:
        with self._lock:
            taken, self.pending = self.pending, []
        return taken

    def _flush(self) -> None:
        spans = self._take()
        while spans:
            chunk, spans = spans[: self.batch], spans[self.batch:]
            lost, why = self._post(encode(chunk), len(chunk))
            self.sent += len(chunk) - lost
            self.lost += lost
            if lost:
                self.error = why

    def _post(self, body: bytes, count: int) -> tuple[int, str]:
        """POST one export request of `count` spans; how many of them were not kept, and why."""
        import http.client

        url = self._url
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(url.hostname or "", url.port, timeout=self.timeout)
        try:
            connection.request("POST", url.path.rstrip("/") + "/v1/traces", body,
                               {"Content-Type": PROTOBUF, SENDER_HEADER: TESTS_SERVICE})
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return count, f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        if response.status != 200:
            return count, f"HTTP {response.status}: {answer[:200].decode('utf-8', 'replace')}"
        return rejected_spans(answer, count)

    def close(self) -> None:
        """Stop the thread and deliver what is left, within the timeout; later spans are counted as lost."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(self.timeout)
        self._flush()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: bytes, a string, or an embedded message."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string_attribute(key: str, value: str) -> bytes:
    """An OTLP KeyValue (key = 1) whose AnyValue (value = 2) is a string_value (1)."""
    return _len(1, key.encode()) + _len(2, _len(1, value.encode()))


#: The trace.proto numbers the encoder writes: Span.kind SPAN_KIND_INTERNAL, Status.code STATUS_CODE_OK / STATUS_CODE_ERROR.
_KIND_INTERNAL, _STATUS_OK, _STATUS_ERROR = 1, 1, 2
_RESOURCE = _len(1, _len(1, _string_attribute("service.name", TESTS_SERVICE)))  # ResourceSpans.resource: Resource.attributes
_SCOPE = _len(1, _len(1, b"interlock.pytest_plugin"))  # ScopeSpans.scope: InstrumentationScope.name


def encode(spans: list[tuple[TestSpan, int]]) -> bytes:
    """An OTLP ExportTraceServiceRequest of test spans in protobuf's wire format: resource service.name interlock-tests,
    one scope, each span with its ids, name, kind, times, the node id and outcome attributes and its status.

    Written here rather than with opentelemetry-proto's classes: importing protobuf and building the messages in the
    suite's export thread took ~0.14 s of CPU in a 2,000-test suite (the bench's budget for all tracing is 5 %), these
    few fields ~0.03 s; OTLP JSON costs the receiver ~0.19 s to decode through protobuf's JSON mapping. The receiver
    decodes what this writes with opentelemetry-proto, and the unit tests compare it with the library's own message."""
    out = []
    for span, end_ns in spans:
        status = b""
        if span.outcome == TestOutcome.FAILED:
            status = _len(15, _len(2, span.message.encode()) + b"\x18" + _varint(_STATUS_ERROR))  # Status.message = 2, code = 3
        elif span.outcome == TestOutcome.PASSED:
            status = _len(15, b"\x18" + _varint(_STATUS_OK))
        body = b"".join((_len(1, bytes.fromhex(span.trace_id)), _len(2, bytes.fromhex(span.span_id)), _len(5, span.nodeid.encode()),
                         b"\x30" + _varint(_KIND_INTERNAL),  # kind = 6, varint
                         b"\x39" + struct.pack("<Q", span.start_ns), b"\x41" + struct.pack("<Q", end_ns),  # start = 7, end = 8, fixed64
                         _len(9, _string_attribute("interlock.test.nodeid", span.nodeid)), _len(9, _string_attribute("interlock.test.outcome", str(span.outcome))),
                         status))
        out.append(_len(2, body))  # ScopeSpans.spans = 2
    return _len(1, _RESOURCE + _len(2, _SCOPE + b"".join(out)))  # request.resource_spans = 1: resource = 1, scope_spans = 2


def rejected_spans(answer: bytes, count: int) -> tuple[int, str]:
    """How many of the `count` spans an OTLP export response (protobuf) says were not kept, and why: 0 and "" when all were.

    An answer that is not an export response proves no delivery: all `count` are lost."""
    if not answer:
        return 0, ""  # the empty ExportTraceServiceResponse: every span kept (no protobuf to import for it)
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    try:
        response.ParseFromString(answer)
    except DecodeError as exc:
        return count, f"the receiver's answer is not an OTLP export response: {exc}"
    rejected = min(count, response.partial_success.rejected_spans)
    return (rejected, f"the receiver rejected {rejected} span(s): {response.partial_success.error_message}") if rejected else (0, "")


def traceparent() -> str | None:
    """The running test's W3C `traceparent` header value, None when no test span is open (tracing off, or outside a test)."""
    current = _ACTIVE[-1].current if _ACTIVE else None
    return current.traceparent if current is not None else None


def traced_http(request: httpx.Request) -> None:
    """An httpx request event hook: every request a test sends carries its span's `traceparent` (a caller's own wins).

    `httpx.Client(event_hooks={"request": [traced_http]})`; nothing is added when tracing is off.
    """
    value = traceparent()
    if value is not None and "traceparent" not in request.headers:
        request.headers["traceparent"] = value


@pytest.fixture
def interlock_traceparent() -> str | None:
    """This test's W3C `traceparent` header value (None when interlock's receiver is not running): for clients that are not httpx."""
    return traceparent()
