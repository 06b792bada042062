"""Shards are deterministic, disjoint, complete and balanced; a merge refuses anything that is not the whole suite once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.execution import parse_args, report_name, shard_of
from interlock.merge import MergeRefused, ShardReport, check, combine
from interlock.shards import Shard, assign, digest, plan

IDS = [f"tests/test_m{m:02}.py::test_{t:03}" for m in range(40) for t in range(50)]


def test_shard_spec_and_names() -> None:
    shard = Shard.parse("2/4")
    assert (shard.index, shard.total, str(shard)) == (2, 4, "2/4")
    assert shard.artifact("test-execution-report.json") == "test-execution-report.shard-2-of-4.json"
    assert shard.artifact("defect-log.csv") == "defect-log.shard-2-of-4.csv"
    for bad in ("0/4", "5/4", "2", "a/b", "2/0", "-1/3"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


def test_hash_split_is_deterministic_disjoint_complete_and_balanced() -> None:
    plans = [plan(IDS, Shard(k, 4)) for k in range(1, 5)]
    selections = [p["selection"] for p in plans]
    assert sorted(n for s in selections for n in s) == sorted(IDS)  # complete and disjoint
    assert all(400 <= len(s) <= 600 for s in selections), [len(s) for s in selections]
    assert len({p["partition"] for p in plans}) == 1 and {p["balance"] for p in plans} == {"hash"}
    assert plans[0]["suite"] == {"tests": 2000, "sha256": digest(IDS)}
    assert plan(list(reversed(IDS)), Shard(3, 4))["selection"] == list(reversed(selections[2]))  # order does not matter
    # adding a test moves only that test: the others keep their shard
    more = assign([*IDS, "tests/test_new.py::test_x"], 4)
    assert all(more[n] == k for k, s in enumerate(selections, 1) for n in s)


def test_duration_split_is_longest_processing_time() -> None:
    durations = {f"t{i}": float(i) for i in range(1, 21)}  # 1..20 s, 210 s in all
    durations.pop("t7")  # no record: counts as the median
    ids = [f"t{i}" for i in range(1, 21)]
    owner = assign(ids, 3, durations)
    loads = [sum(durations.get(n, 11.0) for n in ids if owner[n] == k) for k in (1, 2, 3)]
    assert max(loads) - min(loads) <= 2.0, loads
    assert owner == assign(list(reversed(ids)), 3, dict(reversed(durations.items())))
    assert plan(ids, Shard(1, 3), durations)["balance"] == "durations"
    assert plan(ids, Shard(1, 3), {"elsewhere": 3.0})["balance"] == "hash"  # durations of other tests do not apply


def test_pytest_arguments_are_split_and_a_shard_gets_its_own_report() -> None:
    assert parse_args(["-n", "4", "tests/sub", "--", "-odd"]) == (["tests/sub", "-odd"], ["-n"], {"-n": "4"})
    assert shard_of(["--interlock-shard", "3/8"]) == Shard(3, 8) and shard_of(["-k", "x"]) is None
    assert report_name(["--interlock-shard=3/8"]) == "test-execution-report.shard-3-of-8.json"


def shard_report(k: int, n: int, ids: list[str], outcomes: dict[str, str] | None = None, **section: Any) -> ShardReport:
    shard_plan = plan(ids, Shard(k, n))
    chosen = shard_plan["selection"]
    outcomes = outcomes or {}
    tests = [{"nodeid": i, "outcome": outcomes.get(i, "passed"), "keywords": []} for i in chosen]
    report = {
        "created": 1.0, "duration": 2.0, "exitcode": 0, "root": "/sut",
        "summary": {"passed": len(tests), "total": len(tests), "collected": len(ids), "deselected": len(ids) - len(tests)}, "tests": tests,
        "interlock": {"command": ["x"], "exit_code": 0, "log": "logs/pytest.log", "environment": "integration", "failures": [],
                      "summary": {}, "system_root": "/sut", "commit": "abc", "filtered": False, **shard_plan, **section},
    }
    return ShardReport(Shard(k, n), Path(f"/shards/{k}/test-execution-report.shard-{k}-of-{n}.json"), report, [], None)


def refused(shards: list[ShardReport]) -> str:
    with pytest.raises(MergeRefused) as info:
        check(shards)
    return str(info.value)


def test_merge_refuses_what_is_not_the_whole_suite_once() -> None:
    ids = IDS[:100]
    good = [shard_report(k, 4, ids) for k in range(1, 5)]
    check(good)
    assert refused(good[:3]) == "shard 4/4 missing (have 1/4, 2/4, 3/4); merge all 4"
    assert refused([*good, good[1]]).startswith("shards overlap: shard 2/4 given twice")
    assert refused([*good[:3], shard_report(3, 3, ids)]).startswith("shards of different splits")
    assert refused([*good[:3], shard_report(4, 4, ids[:99])]).startswith("shards come from different suites: 1/4 100 tests")
    assert refused([*good[:3], shard_report(4, 4, ids, commit="def")]) == "shards come from different commits: 1/4 abc, 2/4 abc, 3/4 abc, 4/4 def"
    assert refused([*good[:3], shard_report(4, 4, ids, environment="staging")]).startswith("shards come from different environments")
    assert refused([*good[:3], shard_report(4, 4, ids, partition="other", balance="durations")]).startswith("shards were split differently")
    overlapping = shard_report(4, 4, ids)
    overlapping.section["selection"] = [*overlapping.section["selection"], good[0].section["selection"][0]]
    assert refused([*good[:3], overlapping]).startswith(f"shards overlap: {good[0].section['selection'][0]} is in 1/4 and 4/4")
    short = shard_report(4, 4, ids)
    short.section["selection"] = short.section["selection"][1:]
    assert refused([*good[:3], short]) == "shards do not cover the suite: they select 99 of its 100 tests"


def test_combined_report_is_one_run_of_the_whole_suite() -> None:
    ids = IDS[:60]
    outcomes = {ids[3]: "failed", ids[10]: "skipped", ids[20]: "error"}
    shards = [shard_report(k, 3, ids, outcomes) for k in range(1, 4)]
    merged = combine(shards, Path("/sut"), ["interlock", "merge", "a"])
    assert sorted((t["nodeid"], t["outcome"]) for t in merged["tests"]) == sorted((i, outcomes.get(i, "passed")) for i in ids)
    section = merged["interlock"]
    assert section["summary"] == {"collected": 60, "total": 60, "passed": 57, "failed": 1, "skipped": 1, "errors": 1, "deselected": 0}
    assert section["filtered"] is False and [m["shard"] for m in section["merged"]] == ["1/3", "2/3", "3/3"]
    shards[1].section.update(filtered=True, filter="-k 'x'")
    assert combine(shards, Path("/sut"), ["m"])["interlock"]["filter"] == "2/3: -k 'x'"
