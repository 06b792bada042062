"""interlock's own OTLP/HTTP receiver: the spans, metrics and logs the services, the suite and the pact jobs send.

It listens on 127.0.0.1 while the services run (the supervisor starts and
stops it with them) and is bounded everywhere a sender could make it grow:
the body size (also after gzip), the spans kept (each declared service keeps
its share free, so one flooding service drops its own spans, not the
others'), the connections served at once (a fixed pool of workers behind a
bounded queue; each connection serves one request and is closed, so a
keep-alive client holds no worker) and the forwarding queue. A payload that
is not OTLP gets HTTP 400, a too large one 413; both are counted, per sender
where the sender names itself (the `x-interlock-service` header interlock
gives every service it starts), and nothing a sender does raises into the run.

Every span is written as one redacted JSON line (`spans.Span`) to
logs/otlp-spans.jsonl, appended (a resumed run's receiver continues the file
and its counters); the counters go to logs/otlp-receiver.json, rewritten
atomically at least every second while data arrives and when it stops.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any


from interlock.files import atomic_write
from interlock.otlp import JSON, PROTOBUF, SENDER_HEADER, SIGNALS, TESTS_SERVICE, Rejected
from interlock.ports import is_local, port_of
from interlock.otlp.spans import ReceiverCounters, ServiceCounts, Span
from interlock.secrets import Redactor

#: Worker threads and the connections that may wait for one: a flood queues in the kernel's backlog, not in interlock.
WORKERS = 4
WAITING = 64
#: Seconds a connection may wait between two reads, and take to send its whole body, before it is refused (a slow
#: or idle sender holds a worker no longer).
READ_TIMEOUT = 10.0
#: Payloads waiting to be forwarded; beyond, a payload is not forwarded and counted as a forward failure.
FORWARD_QUEUE = 256
FORWARD_TIMEOUT = 5.0
#: How often the counters file is rewritten while data arrives.
COUNTERS_EVERY = 1.0
#: How often the accepting thread looks whether it should stop: `stop()` waits for it (half of this on average) at the end of
#: every traced run, so it is short; a look costs one select() call.
ACCEPT_POLL = 0.01
#: Distinct undeclared senders counted by name; the rest are counted together under MORE_SENDERS.
MAX_SENDERS = 256
MORE_SENDERS = "(more senders)"
#: The pool of spans from services no config declares (they share one share of `max_spans`).
_OTHERS = "\0others"



class ReceiverError(Exception):
    """The receiver could not start (its port is taken, no socket): one line for the check that reports it."""


@dataclass
class Counters:
    """What the receiver took in, as logs/otlp-receiver.json records it; every change under `lock`."""

    endpoint: str
    forward: str | None
    max_spans: int
    reserved: Sequence[str]
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    rejected: dict[str, int] = field(default_factory=lambda: {"malformed": 0, "too_large": 0})
    dropped_spans: int = 0
    forward_failures: int = 0
    by_service: dict[str, dict[str, int]] = field(default_factory=dict)
    run_id: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    changed: bool = True

    def service(self, name: str) -> dict[str, int]:
        """The counters of one sender, created at zero (call under `lock`); past MAX_SENDERS names, an undeclared
        sender is counted under MORE_SENDERS, so a sender inventing names cannot grow the counters without bound."""
        if name not in self.by_service and name not in self.reserved and len(self.by_service) >= MAX_SENDERS:
            name = MORE_SENDERS
        return self.by_service.setdefault(name, {"spans": 0, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 0})

    def senders(self) -> set[str]:
        """The names that have sent anything so far (read under the lock: the workers add names while it runs)."""
        with self.lock:
            return set(self.by_service)

    def _slot(self, name: str) -> str:
        return name if name in self.reserved else _OTHERS

    def admit(self, name: str, count: int) -> int:
        """How many of `count` spans from `name` are kept (call under `lock`).

        Each declared sender, and one pool for all undeclared ones, has a share
        of `max_spans`; a sender may go beyond its share only into room no other
        slot's unused share needs.
        """
        kept: dict[str, int] = {}
        for sender, numbers in self.by_service.items():
            slot = self._slot(sender)
            kept[slot] = kept.get(slot, 0) + numbers["spans"]
        slots = [*self.reserved, _OTHERS]
        share = self.max_spans // len(slots)
        mine = self._slot(name)
        free = self.max_spans - sum(kept.values())
        reserved = sum(max(0, share - kept.get(slot, 0)) for slot in slots if slot != mine)
        return max(0, min(count, free - reserved))

    def document(self) -> ReceiverCounters:
        """The counters file's JSON (`spans.read_counters` reads it back)."""
        return ReceiverCounters(endpoint=self.endpoint, forward=self.forward, requests=dict(self.requests), rejected=dict(self.rejected),
                                dropped_spans=self.dropped_spans, forward_failures=self.forward_failures,
                                by_service={name: ServiceCounts(**numbers) for name, numbers in sorted(self.by_service.items())},  # type: ignore[typeddict-item]
                                run_id=self.run_id)

    def resume(self, previous: Any) -> bool:
        """Continue the counts of an earlier receiver of the same run (a resumed run appends): True when they were that run's.

        Another run's counts (an earlier step command in the same folder) are not continued: each run's spans are its own,
        and its share of `max_spans` is not used up by runs before it. Anything unreadable starts at zero.
        """
        if not isinstance(previous, dict) or previous.get("run_id", "") != self.run_id:
            return False
        def number(value: Any) -> int:
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
        for key in self.requests:
            self.requests[key] = number((previous.get("requests") or {}).get(key))
        for key in self.rejected:
            self.rejected[key] = number((previous.get("rejected") or {}).get(key))
        self.dropped_spans = number(previous.get("dropped_spans"))
        self.forward_failures = number(previous.get("forward_failures"))
        by_service = previous.get("by_service")
        if isinstance(by_service, dict):
            for name, numbers in by_service.items():
                if isinstance(name, str) and isinstance(numbers, dict):
                    mine = self.service(name)
                    for key in mine:
                        mine[key] = number(numbers.get(key))
        return True


class _Server(socketserver.TCPServer):
    """A TCP server whose accepted connections wait in a bounded queue for a fixed pool of workers."""

    allow_reuse_address = False
    request_queue_size = WAITING
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        self.waiting: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(WAITING)
        self.closing = threading.Event()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to a worker; while every worker is busy and the queue full, accepting waits (the backlog holds the rest)."""
        while not self.closing.is_set():
            try:
                self.waiting.put((request, client_address), timeout=0.2)
                return
            except queue.Full:
                continue
        self.shutdown_request(request)

    def work(self) -> None:
        """A worker: serve queued connections until the None that stops it; nothing a request does ends the worker."""
        while True:
            item = self.waiting.get()
            if item is None:
                return
            request, address = item
            try:
                self.finish_request(request, address)
            except Exception:  # noqa: BLE001 - a broken connection must not end the worker; the handler counted what it could
                pass
            finally:
                self.shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    """One request per connection: read (bounded), decode, keep, answer, close."""

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the counters file says what came in, and the run's console is not the receiver's."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (no HTTP at all, an oversized header) are garbage too: counted as malformed."""
        if code in (400, 414, 431):
            self.server.receiver.count_rejection(None, code, None)
        super().send_error(code, message, explain)

    def do_POST(self) -> None:
        self.close_connection = True
        signal = self.path.split("?")[0].rstrip("/").removeprefix("/v1/")
        if signal not in SIGNALS:
            self._answer(404, "text/plain", f"no OTLP signal at {self.path}; POST to /v1/traces, /v1/metrics or /v1/logs".encode())
            return
        sender = self.headers.get(SENDER_HEADER)
        media = JSON if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() == JSON else PROTOBUF
        receiver = self.server.receiver
        try:
            body = self._body(receiver.max_payload_bytes)
            status, answer = receiver.take(signal, self.headers.get("Content-Type") or "", body, sender,
                                           self.headers.get("Content-Encoding"))
        except Rejected as rejected:
            receiver.count_rejection(signal, rejected.status, sender)
            self._answer(rejected.status, "text/plain", rejected.reason.encode())
            return
        except Exception as exc:  # noqa: BLE001 - whatever a payload makes fail is that payload's refusal, never the run's
            receiver.count_rejection(signal, 400, sender)  # a payload the decoder chokes on is counted as malformed
            self._answer(500, "text/plain", f"the receiver could not take this payload: {type(exc).__name__}: {exc}".encode())
            return
        self._answer(status, media, answer)

    def do_GET(self) -> None:
        self.close_connection = True
        self._answer(405, "text/plain", b"OTLP/HTTP takes POST")

    def _answer(self, status: int, media: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the sender went away; what it sent is already counted

    def _body(self, limit: int) -> bytes:
        """The request body, at most `limit` bytes (Content-Length or chunked); Rejected 413 beyond, 411 without a length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    length = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    raise Rejected(400, "a malformed chunk size") from None
                if length == 0:
                    self.rfile.readline(65537)
                    return b"".join(chunks)
                size += length
                if size > limit:
                    raise Rejected(413, f"the body is over {limit} bytes ([observability] max_payload_bytes)")
                chunks.append(self.rfile.read(length))
                self.rfile.readline(65537)
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise Rejected(411, "a Content-Length (or chunked transfer) is required")
        try:
            length = int(declared)
        except ValueError:
            raise Rejected(400, f"Content-Length {declared!r} is not a number") from None
        if length > limit:
            raise Rejected(413, f"the body is {length} bytes, over {limit} ([observability] max_payload_bytes)")
        deadline = time.monotonic() + self.timeout
        parts: list[bytes] = []
        got = 0
        while got < length:
            try:
                if time.monotonic() > deadline:
                    raise TimeoutError
                part = self.rfile.read1(min(length - got, 65536))
            except TimeoutError:
                raise Rejected(408, f"the body took over {self.timeout:g}s to arrive ({got} of {length} bytes)") from None
            if not part:
                raise Rejected(400, f"the body ended after {got} of {length} bytes")
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def _inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip or none), never more than `limit` bytes; Rejected 413/415/400 otherwise."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    if encoding.strip().lower() != "gzip":
        raise Rejected(415, f"Content-Encoding {encoding!r}: the receiver takes gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Rejected(400, f"the gzip body does not inflate: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise Rejected(413, f"the body inflates to over {limit} bytes ([observability] max_payload_bytes)")
    return data


class Forwarder:
    """Posts accepted payloads unchanged to a collector from its own thread; a full queue or a failed post is counted, never raised."""

    def __init__(self, base: str, counters: Counters) -> None:
        import httpx  # here: only a receiver that forwards needs a client

        self.base = base.rstrip("/")
        self.counters = counters
        self.pending: queue.Queue[tuple[str, bytes, dict[str, str]] | None] = queue.Queue(FORWARD_QUEUE)
        self.client = httpx.Client(timeout=FORWARD_TIMEOUT)
        self.thread = threading.Thread(target=self._run, name="interlock-otlp-forward", daemon=True)
        self.thread.start()

    def send(self, signal: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.pending.put_nowait((signal, body, headers))
        except queue.Full:
            self._failed()

    def _failed(self, count: int = 1) -> None:
        with self.counters.lock:
            self.counters.forward_failures += count
            self.counters.changed = True

    def _run(self) -> None:
        while True:
            item = self.pending.get()
            if item is None:
                return
            signal, body, headers = item
            try:
                response = self.client.post(f"{self.base}/v1/{signal}", content=body, headers=headers)
                if response.status_code >= 300:
                    self._failed()
            except Exception:  # noqa: BLE001 - a dead or broken collector is counted, never raised into the run
                self._failed()

    def close(self, deadline: float) -> None:
        """Send what is queued until `deadline` (monotonic); what is left is counted as failed."""
        while True:
            try:
                self.pending.put(None, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self.thread.join(max(0.0, deadline - time.monotonic()))
        left = 0
        while True:
            try:
                left += self.pending.get_nowait() is not None
            except queue.Empty:
                break
        if left:
            self._failed(left)
        self.client.close()


class Receiver:
    """The OTLP/HTTP receiver of one run: `start()` returns its endpoint, `stop()` writes the last counters."""

    def __init__(self, *, spans_file: Path, counters_file: Path, redactor: Redactor, services: Sequence[str],
                 port: int | str = "auto", forward: str | None = None, max_payload_bytes: int = 4194304,
                 max_spans: int = 200000, run_id: str = "") -> None:
        self.spans_file, self.counters_file, self.redactor = spans_file, counters_file, redactor
        self.port = 0 if port == "auto" else int(port)
        self.max_payload_bytes = max_payload_bytes
        self.counters = Counters("", forward, max_spans, (*dict.fromkeys([*services, TESTS_SERVICE]),), run_id=run_id)
        self.forward = forward
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._forwarder: Forwarder | None = None
        self._fd: int | None = None
        self._writing = threading.Lock()
        self._stopping = threading.Event()

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`: what OTEL_EXPORTER_OTLP_ENDPOINT is set to."""
        return self.counters.endpoint

    def start(self) -> str:
        """Bind 127.0.0.1 (ReceiverError when the port is taken), start the workers and the counters writer; the endpoint."""
        try:
            server = _Server(("127.0.0.1", self.port), self)
        except OSError as exc:
            raise ReceiverError(f"cannot listen on 127.0.0.1:{self.port or 'auto'}: {exc.strerror or exc}; "
                                "free the port or set [observability] port") from None
        if self.forward and is_local(self.forward) and port_of(self.forward) == server.server_address[1]:
            server.server_close()
            raise ReceiverError(f"[observability] forward {self.forward} is the receiver itself: it would forward to itself forever")
        self._server = server
        self.counters.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            same_run = self.counters.resume(json.loads(self.counters_file.read_text("utf-8")))
        except (OSError, ValueError):
            same_run = False  # no earlier receiver, or its counters unreadable: counting starts at zero
        try:
            self.spans_file.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.spans_file, os.O_RDWR | os.O_APPEND | os.O_CREAT | (0 if same_run else os.O_TRUNC), 0o644)
            self._end_with_a_whole_line(self._fd)
            self.write_counters()
        except OSError as exc:
            server.server_close()
            self._server = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            raise ReceiverError(f"cannot write {exc.filename or self.spans_file}: {exc.strerror or exc}") from None
        if self.forward:
            self._forwarder = Forwarder(self.forward, self.counters)
        self._threads = [threading.Thread(target=server.work, name=f"interlock-otlp-{n}", daemon=True) for n in range(WORKERS)]
        self._threads.append(threading.Thread(target=server.serve_forever, kwargs={"poll_interval": ACCEPT_POLL}, name="interlock-otlp-accept", daemon=True))
        self._threads.append(threading.Thread(target=self._write_counters_while_running, name="interlock-otlp-counters", daemon=True))
        for thread in self._threads:
            thread.start()
        return self.endpoint

    def _end_with_a_whole_line(self, fd: int) -> None:
        """Cut the half line a killed run's receiver left at the end of the span file (the resumed run appends after it),
        counted as one dropped span: the file stays readable, and the loss is on record."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        tail = min(size, 1 << 20)
        last = os.pread(fd, tail, size - tail).rfind(b"\n")
        os.ftruncate(fd, size - tail + last + 1 if last >= 0 else (0 if tail == size else size))
        with self.counters.lock:
            self.counters.dropped_spans += 1

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, finish the requests in hand (within `grace` seconds), forward what is queued, write the last counters."""
        server = self._server
        if server is None:
            return
        deadline = time.monotonic() + grace
        server.closing.set()
        server.shutdown()
        for _ in range(WORKERS):
            server.waiting.put(None)
        self._stopping.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        if self._forwarder is not None:
            self._forwarder.close(time.monotonic() + grace)
            self._forwarder = None
        with self._writing:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        self._server = None
        self.write_counters()

    def write_counters(self) -> None:
        """Rewrite the counters file atomically (redacted: a sender's name is text it chose)."""
        with self.counters.lock:
            document = self.counters.document()
            self.counters.changed = False
        atomic_write(self.counters_file, (json.dumps(self.redactor.data(document), indent=2) + "\n").encode())

    def _write_counters_while_running(self) -> None:
        while not self._stopping.wait(COUNTERS_EVERY):
            if self.counters.changed:
                try:
                    self.write_counters()
                except OSError:
                    continue  # a full disk: the next second tries again, and stop() writes the last counts

    def count_rejection(self, signal: str | None, status: int, sender: str | None) -> None:
        """A refused request: 413 counts as too large, every other 4xx as malformed, per sender as well when it named itself;
        a 5xx is the receiver's own trouble (stopping, a full disk), its spans already counted as dropped."""
        with self.counters.lock:
            if signal is not None:  # None: not even an HTTP request line, so no signal to count it under
                self.counters.requests[signal] += 1
            if status < 500:
                self.counters.rejected["too_large" if status == 413 else "malformed"] += 1
                if sender:
                    self.counters.service(sender)["rejected"] += 1
            self.counters.changed = True

    def take(self, signal: str, content_type: str, body: bytes, sender: str | None, encoding: str | None) -> tuple[int, bytes]:
        """Decode, count and keep one export request; (HTTP status, response body). Rejected for what is refused."""
        from interlock.otlp.decode import read_request, response  # here: protobuf loads with the first request, while the suite already runs

        media = JSON if content_type.split(";")[0].strip().lower() == JSON else PROTOBUF
        spans, counts = read_request(signal, content_type, _inflate(body, encoding, self.max_payload_bytes))
        dropped = 0
        if spans is not None:
            dropped = self._keep_spans(spans)
        else:
            with self.counters.lock:
                for service, count in counts.items():
                    self.counters.service(service)[signal] += count
        with self.counters.lock:
            self.counters.requests[signal] += 1
            self.counters.changed = True
        if self._forwarder is not None:
            headers = {"Content-Type": content_type}
            if encoding:
                headers["Content-Encoding"] = encoding
            self._forwarder.send(signal, body, headers)
        why = f"{dropped} span(s) dropped: over [observability] max_spans ({self.counters.max_spans}) for this sender" if dropped else ""
        return 200, response(signal, media, dropped, why)

    def _keep_spans(self, spans: list[Span]) -> int:
        """Write the spans each sender may still keep; the number dropped."""
        by_service: dict[str, list[Span]] = {}
        for span in spans:
            by_service.setdefault(span["service"], []).append(span)
        kept: list[Span] = []
        dropped = 0
        with self.counters.lock:
            for service, theirs in by_service.items():
                room = self.counters.admit(service, len(theirs))
                numbers = self.counters.service(service)
                numbers["spans"] += room
                numbers["dropped"] += len(theirs) - room
                self.counters.dropped_spans += len(theirs) - room
                dropped += len(theirs) - room
                kept += theirs[:room]
        if kept:
            lines = "".join(json.dumps(span, separators=(",", ":")) + "\n" for span in self.redactor.data(kept))
            try:
                self._append(lines.encode())
            except (Rejected, OSError) as exc:
                with self.counters.lock:  # not written: counted as dropped, not as kept
                    for span in kept:
                        numbers = self.counters.service(span["service"])
                        numbers["spans"] -= 1
                        numbers["dropped"] += 1
                    self.counters.dropped_spans += len(kept)
                if isinstance(exc, Rejected):
                    raise
                raise Rejected(503, f"the spans could not be written: {exc.strerror or exc}") from None
        return dropped

    def _append(self, data: bytes) -> None:
        """Append whole lines in one write, so a reader of the file mid-run sees whole spans."""
        with self._writing:
            if self._fd is None:
                raise Rejected(503, "the receiver is stopping")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
