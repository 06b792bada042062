"""Issue 4: an environment's HTTP probes must run side by side, not one after another.

200 `probe_http` checks go through `run_all` against a local server that
answers each request after 50 ms. Run concurrently they cost little more than
one probe; run in sequence they would cost 200 times as much. The server runs
in its own process so its work does not compete with the probes for the GIL:
the ratio is interlock's overhead, not the fake server's.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmark import Benchmark, Measurement

from interlock.probes import run_all
from interlock.probes.http import probe_http

PROBES = 200
DELAY_S = 0.05
BASELINE_RUNS = 5
TIMEOUT_S = 10.0
BACKLOG = 1024  # well above PROBES; the kernel caps it at net.core.somaxconn
_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read one request, wait `DELAY_S`, answer 200 and close: a slow service, one request per connection."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(DELAY_S)
        writer.write(_ANSWER)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client went away; nothing to answer
    finally:
        writer.close()


async def _serve(listener: socket.socket) -> None:
    """Accept on the socket the parent bound, forever (the parent terminates this process)."""
    server = await asyncio.start_server(_answer, sock=listener)
    await server.serve_forever()


def _serve_process(listener: socket.socket) -> None:
    """The child's entry point: a process target must be a plain function, not a coroutine."""
    asyncio.run(_serve(listener))


@contextmanager
def slow_server() -> Iterator[str]:
    """The URL of the slow server, listening on a free port of 127.0.0.1 in a child process.

    The parent binds and listens, so the port is known and connections queue
    in the backlog before the child's loop even starts: no race, no polling.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=BACKLOG)
    process = multiprocessing.Process(target=_serve_process, args=(listener,), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        process.terminate()
        process.join()
        listener.close()


async def probe_wall_time(url: str, count: int) -> tuple[float, list[str]]:
    """Seconds for `count` concurrent probes of `url` through `run_all`, and the reasons of any that failed.

    Every probe opens its own connection, as in step 1.2; no proxy setting applies.
    """
    probes = [probe_http(f"http-{i}", url, timeout=TIMEOUT_S) for i in range(count)]
    labels = [(f"http-{i}", "http", url) for i in range(count)]
    start = time.perf_counter()
    checks = await run_all(probes, timeout=TIMEOUT_S, labels=labels)
    elapsed = time.perf_counter() - start
    return elapsed, [f"{c.id}: {c.reason}" for c in checks if not c.passed]


def measure() -> Measurement:
    """200 concurrent probes against one probe of the same server, each the median of `BASELINE_RUNS` rounds."""
    with slow_server() as url:
        singles = [asyncio.run(probe_wall_time(url, 1)) for _ in range(BASELINE_RUNS)]
        rounds = [asyncio.run(probe_wall_time(url, PROBES)) for _ in range(BASELINE_RUNS)]
    value = statistics.median(t for t, _ in rounds)
    failures = [reason for _, reasons in rounds for reason in reasons]
    extra: dict[str, object] = {"unit": "s", "probes": PROBES, "rounds": BASELINE_RUNS, "failed": len(failures)}
    # a failed baseline probe skews the ratio as much as a failed one of the 200
    failures += [reason for _, reasons in singles for reason in reasons]
    if failures:
        extra["error"] = f"{len(failures)} probes failed, first {failures[0]}"
    return value, statistics.median(t for t, _ in singles), extra


BENCHMARKS = [Benchmark("probes.http.concurrent200", 3.0, measure)]
