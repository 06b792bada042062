"""Pact jobs join the traces (issue 16): while interlock's OTLP receiver runs, every request of a job's verifier carries
the job's `traceparent`, and contract-validation-results records its trace id per contract and per interaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.context import RunContext
from interlock.contracts import pact
from interlock.contracts.pact.records import contract_records
from interlock.documents import load_pact
from interlock.otlp.receiver import Receiver
from interlock.secrets import Redactor
from tests.support import TraceRecorder

PACT = {"consumer": {"name": "web"}, "provider": {"name": "users"}, "metadata": {"pactSpecification": {"version": "3.0.0"}},
        "interactions": [{"description": f"get user {n}", "request": {"method": "GET", "path": f"/users/{n}"},
                          "response": {"status": 200, "body": {"id": n}}} for n in (1, 2)]}


@pytest.fixture
def users() -> Iterator[TraceRecorder]:
    """GET /users/N answers {"id": N}."""
    server = TraceRecorder(lambda method, path: (200, {"id": int(path.rsplit("/", 1)[-1])}))
    yield server
    server.close()


def context(root: Path, url: str) -> RunContext:
    (root / "pacts").mkdir()
    (root / "pacts" / "web-users.json").write_text(json.dumps(PACT))
    lines = ['[project]\nname = "t"\n']
    for name, path in (("feature_list", "f.json"), ("architecture_contracts", "c"), ("environment_baseline", "b.toml")):
        lines.append(f'[prerequisites.{name}]\npath = "{path}"\nversion = "1"\n')
    lines += ["[services.users]\n", f'[environments.test.services.users]\nurl = "{url}"\n', '[contracts.pact]\nsources = ["pacts"]\n']
    (root / "interlock.toml").write_text("\n".join(lines), "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda event: None, lambda kind: (False, "test"), "run1")


def test_a_job_sends_its_traceparent_and_its_records_keep_the_trace_id(tmp_path: Path, users: TraceRecorder) -> None:
    ctx = context(tmp_path, users.base)
    receiver = Receiver(spans_file=tmp_path / "spans.jsonl", counters_file=tmp_path / "counters.json", redactor=Redactor({}), services=["users"])
    receiver.start()
    ctx.services.receiver = receiver
    try:
        (record,) = pact.verify(ctx)
    finally:
        receiver.stop()
    assert record["status"] == "pass", record
    trace_id = record["trace_id"]
    assert isinstance(trace_id, str) and len(trace_id) == 32 and record["job"] == "users-http"
    assert [i["trace_id"] for i in record["interactions"]] == [trace_id, trace_id]
    assert len(users.seen) == 2 and len(set(users.seen)) == 1
    version, sent_trace, parent, flags = str(users.seen[0]).split("-")
    assert (version, sent_trace, len(parent), flags) == ("00", trace_id, 16, "01")


def test_without_the_receiver_no_traceparent_is_sent_and_the_trace_id_is_null(tmp_path: Path, users: TraceRecorder) -> None:
    ctx = context(tmp_path, users.base)
    (record,) = pact.verify(ctx)
    assert record["status"] == "pass", record
    assert record["trace_id"] is None and record["job"] == "users-http"
    assert [i["trace_id"] for i in record["interactions"]] == [None, None]
    assert users.seen == [None, None]


def test_a_pact_no_job_ran_has_no_job_and_no_trace(tmp_path: Path) -> None:
    (tmp_path / "web-users.json").write_text(json.dumps(PACT))
    (record,) = contract_records([load_pact(tmp_path / "web-users.json")], {}, tmp_path)
    assert "job" not in record and "trace_id" not in record
    assert all("trace_id" not in i for i in record["interactions"])
