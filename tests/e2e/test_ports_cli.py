"""The process that answers is the process interlock started (issue 13 item 5), through the CLI on copies of the shop.

A health check alone passes on whatever answers the port: another service a
copy-pasted URL points at, a stale process, another checkout's copy. Gate 1
must fail naming the port and the process; and with `port = "auto"` two
copies of the shop run side by side.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Result, free_ports

from .conftest import Shop, new_shop

pytestmark = pytest.mark.e2e

ENV = "integration"

#: A squatter that answers 200 to anything: it would pass any health check on its port.
SQUATTER = textwrap.dedent("""
    import http.server, sys
    class Any(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Any)
    print("listening", flush=True)
    server.serve_forever()
""")


def report(shop: Shop) -> dict:
    return json.loads((shop.artifacts / "environment-validation-report.json").read_text("utf-8"))


def check(shop: Shop, check_id: str) -> dict:
    return next(c for c in report(shop)["checks"] if c["id"] == check_id)


@pytest.fixture
def squatter() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Another process already listening on a port (as a stale run or another checkout would be)."""
    [port] = free_ports(1)
    process = subprocess.Popen([sys.executable, "-c", SQUATTER, str(port)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "listening"
    try:
        yield port, process
    finally:
        process.kill()
        process.wait()


def test_a_service_whose_url_points_at_another_services_port_fails_gate_1_naming_it(shop: Shop) -> None:
    shop.edit("interlock.toml", 'url = "http://127.0.0.1:{port:catalog}"', 'url = "http://127.0.0.1:{port:orders}"')  # the copy-paste slip
    result = shop.interlock("run", "--env", ENV, "--yes")
    assert result.code == 3, result.output
    ports = report(shop)["ports"]
    orders = ports["orders"]["port"]
    assert ports["catalog"]["probed"] == [orders] and ports["catalog"]["port"] != orders
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("- catalog.owner:"))
    print(line)
    assert re.search(rf"catalog\.owner: port {orders} is not served by catalog's process tree but by pid \d+ \(.*-m shop\.orders\) \(service orders\)$", line), line
    assert "catalog.health: " not in result.stdout  # the health check itself passed: orders answered it
    assert check(shop, "catalog.health")["status"] == "pass" and check(shop, "catalog.owner")["status"] == "fail"
    assert check(shop, "orders.owner")["status"] == "pass"
    gates = json.loads((shop.artifacts / "gate-results.json").read_text("utf-8"))
    assert gates["gates"][0]["status"] == "fail"
    assert "[PROTOCOL COMPLETE]" not in result.stdout and "Traceback" not in result.output

    state = json.loads((shop.artifacts / ".interlock-state.json").read_text("utf-8"))
    assert state["ports"] == {name: record["port"] for name, record in ports.items()}
    shop.edit("interlock.toml", 'url = "http://127.0.0.1:{port:orders}"', 'url = "http://127.0.0.1:{port:catalog}"', count=1)
    resumed = shop.interlock("run", "--env", ENV, "--yes", "--resume")
    assert resumed.code == 0, resumed.output
    assert {name: record["port"] for name, record in report(shop)["ports"].items()} == state["ports"]  # the resumed run kept its ports


def test_a_process_already_on_a_services_port_fails_gate_1_naming_the_port_and_the_process(shop: Shop, squatter: tuple[int, subprocess.Popen[str]]) -> None:
    port, process = squatter
    shop.edit("interlock.toml", 'port = "auto"\nurl = "http://127.0.0.1:{port:catalog}"', f'port = {port}\nurl = "http://127.0.0.1:{{port:catalog}}"')
    result = shop.interlock("run", "--env", ENV, "--yes")
    assert result.code == 3, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("- catalog.port:"))
    print(line)
    assert re.search(rf"catalog\.port: port {port} is already in use by pid {process.pid} \({re.escape(sys.executable)} -c import http\.server", line), line
    found = check(shop, "catalog.port")
    assert found["status"] == "fail" and found["details"]["holders"][0]["pid"] == process.pid
    assert check(shop, "catalog.health")["status"] == "pass"  # the squatter answers the health check: only the port check tells
    assert process.poll() is None, "interlock must not touch a process it did not start"
    gates = json.loads((shop.artifacts / "gate-results.json").read_text("utf-8"))
    assert gates["gates"][0]["status"] == "fail"
    assert "[PROTOCOL COMPLETE]" not in result.stdout and "Traceback" not in result.output


def test_two_copies_of_the_shop_run_at_the_same_time_and_both_pass(tmp_path: Path) -> None:
    shops = [new_shop(tmp_path / "a"), new_shop(tmp_path / "b")]
    results: list[Result | None] = [None, None]

    def run(index: int) -> None:
        results[index] = shops[index].interlock("run", "--env", ENV, "--yes")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [r.code if r else None for r in results]
    print("exit codes:", codes)
    assert codes == [0, 0], "\n\n".join(r.output if r else "" for r in results)
    used = [{record["port"] for record in report(s)["ports"].values()} for s in shops]
    assert len(used[0]) == len(used[1]) == 3 and not used[0] & used[1], used
    for made in shops:
        assert all(check(made, f"{name}.owner")["status"] == "pass" for name in ("catalog", "orders", "shipping"))
