"""Every command speaks through typed events: with --json each stdout line is one event, and a run's last is run_finished."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from interlock.defects import COLUMNS

from .conftest import Finished, Shop, finished_run

SECRET_URL = "postgresql://shop:hunter2-not-shown@db.example:5432/shop"


def events_of(stdout: str) -> list[dict]:
    """Every stdout line parsed as a JSON event (a line that is not one fails the test)."""
    lines = stdout.splitlines()
    assert lines, "no output"
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in parsed), stdout
    return parsed


@pytest.fixture(scope="session")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """One demo run with --json, made once a session (the tests of this module may run on both workers)."""
    return finished_run(tmp_path_factory, "json-events", ("run", "--env", "integration", "--yes", "--json"), 0, in_git=False)


@pytest.fixture(scope="module")
def ran(json_run: Finished, tmp_path_factory: pytest.TempPathFactory) -> tuple[Shop, list[dict]]:
    """A copy of that run's shop, for the commands the tests run in it, and the run's events."""
    return json_run.copy(tmp_path_factory.mktemp("json-events") / "shop"), events_of(json_run.run.stdout)


@pytest.mark.first
def test_run_finished_is_the_last_event_and_the_outputs_come_before_it(json_run: Finished) -> None:
    shop, events = json_run.shop, events_of(json_run.run.stdout)  # the run's own folder: its events name its paths
    assert events[-1]["event"] == "run_finished" and events[-1]["exit_code"] == 0
    assert [e["event"] for e in events].count("run_finished") == 1
    published = [i for i, e in enumerate(events) if e["event"] == "run_published"]
    assert [e["event"] for e in events[published[0]:]] == ["run_published", "file_written", "file_written", "run_finished"]
    written = {e["kind"]: e["path"] for e in events if e["event"] == "file_written"}
    assert Path(written["report"]) == shop.artifacts / "integration-report.html" and Path(written["report"]).is_file()
    assert Path(written["junit"]) == shop.artifacts / "junit.xml" and Path(written["junit"]).is_file()


def test_verify_json_prints_only_events(ran: tuple[Shop, list[dict]]) -> None:
    shop, _ = ran
    result = shop.interlock("verify", "--json", str(shop.artifacts / "INTEGRATION-EVIDENCE.zip"))
    assert result.code == 0, result.output
    [event] = events_of(result.stdout)
    assert event["event"] == "verified" and event["ok"] is True and event["problems"] == [] and event["approval"]["approver"]
    assert "lines" not in event  # the console's rendering; --json carries the data


def test_verify_console_text_is_unchanged(ran: tuple[Shop, list[dict]]) -> None:
    shop, _ = ran
    bundle = str(shop.artifacts / "INTEGRATION-EVIDENCE.zip")
    result = shop.interlock("verify", bundle)
    assert result.code == 0 and result.stdout.startswith(f"OK: {bundle} is intact and validly signed by key "), result.output


def test_report_json_prints_only_events(ran: tuple[Shop, list[dict]]) -> None:
    shop, _ = ran
    result = shop.interlock("report", "--json")
    assert result.code == 0, result.output
    events = events_of(result.stdout)
    assert [e["event"] for e in events] == ["run_published", "file_written", "file_written"]
    assert {e["kind"] for e in events[1:]} == {"report", "junit"}
    console = shop.interlock("report")
    assert console.stdout.splitlines() == [f"wrote {shop.artifacts / 'integration-report.html'}", f"wrote {shop.artifacts / 'junit.xml'}"]


def test_defects_list_json_prints_only_events_and_no_secret(ran: tuple[Shop, list[dict]], tmp_path: Path) -> None:
    shop, _ = ran
    folder = tmp_path / "artifacts"
    shutil.copytree(shop.artifacts, folder)
    row = {column: "" for column in COLUMNS}
    row.update(id="DEF-0000beef", fingerprint="beef", source="test", severity="high", status="open", owner="orders",
               title=f"cannot reach {SECRET_URL}", message=f"connect to {SECRET_URL} refused")
    with (folder / "defect-log.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerow(row)
    listed = shop.interlock("--artifacts", str(folder), "defects", "list", "--json")
    assert listed.code == 0, listed.output
    [event, counted] = events_of(listed.stdout)
    assert event["event"] == "defect_listed" and event["id"] == "DEF-0000beef" and event["status"] == "open"
    assert counted == {"event": "defects_counted", "shown": 1, "total": 1, "status": None, "log": "defect-log.csv"}
    waived = events_of(shop.interlock("--artifacts", str(folder), "defects", "list", "--status", "waived", "--json").stdout)
    assert waived == [{"event": "defects_counted", "shown": 0, "total": 1, "status": "waived", "log": "defect-log.csv"}]
    empty = shop.interlock("--artifacts", str(tmp_path / "none"), "defects", "list", "--json")
    assert events_of(empty.stdout) == [{"event": "defects_counted", "shown": 0, "total": 0, "status": None, "log": "defect-log.csv"}]
    bogus = shop.interlock("--artifacts", str(folder), "defects", "list", "--status", "closed")
    assert bogus.code == 2 and "'closed' is not a defect status; use one of open, mitigated, resolved, waived" in bogus.output
    shown = shop.interlock("--artifacts", str(folder), "defects", "show", "DEF-0000beef", "--json")
    assert [e["event"] for e in events_of(shown.stdout)] == ["defect_shown"]
    console = shop.interlock("--artifacts", str(folder), "defects", "list")
    assert console.stdout.startswith("DEF-0000beef  high     open      orders           cannot reach postgresql://shop:"), console.output
    assert console.stdout.splitlines()[-1] == "1 of 1 defect(s) in defect-log.csv"
    for output in (listed.stdout, shown.stdout, console.stdout):
        assert "hunter2-not-shown" not in output  # every line passes the redactor
    resolved = shop.interlock("--artifacts", str(folder), "defects", "resolve", "DEF-0000beef", "--note", "fixed", "--json")
    assert resolved.code == 0, resolved.output
    [update] = events_of(resolved.stdout)
    assert update["event"] == "defect_updated" and update["changes"]["status"] == "resolved"


def test_init_and_keygen_json_print_only_events(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    made = shop.interlock("init", "--json")
    assert made.code == 0, made.output
    written = events_of(made.stdout)
    assert {e["event"] for e in written} == {"file_written", "notice"} and any(e["path"].endswith("interlock.toml") for e in written if "path" in e)
    key = shop.interlock("keygen", "--json", "--out", "k/signoff.key")
    assert key.code == 0, key.output
    [event] = events_of(key.stdout)
    assert event["event"] == "key_generated" and event["public"].endswith("signoff.pub") and len(event["keyid"]) == 64
