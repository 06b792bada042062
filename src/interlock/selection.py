"""Whether a pytest run is the whole suite, decided from what pytest really selected (pure: data in, data out).

interlock's own arguments are only part of what narrows a run: `PYTEST_ADDOPTS`,
the ini file's `addopts`, the config's suite args, a conftest.py or another
plugin narrow it too. So the suite's pytest records its own selection
(`pytest_plugin.SelectionRecorder`) and `decide` reads that record: the suite is
what the suite's own marker expression selects among what was collected, and
anything that takes more away is narrowing, whoever did it. No record at all is
no proof, so it is filtered too (fail closed).

A shard is narrowing that `interlock merge` undoes: a shard's own report is not
marked filtered for it (the merge combines the shards' flags), but Gate 3 fails
any report that is a shard and was not merged (`report_filter`).

The same module judges a written report for Gate 3: `report_filter`,
`disagreements` (interlock's summary against pytest's own per-test records) and
`critical_not_run`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.schemacheck import SchemaCheck

# pytest options (and plugins' options interlock passes or users commonly give) that take a value as the next word.
VALUED = frozenset({
    "-k", "-m", "-n", "-p", "-o", "-c", "-W", "-r", "--timeout", "--timeout-method", "--maxfail", "--deselect", "--ignore",
    "--ignore-glob", "--rootdir", "--durations", "--durations-min", "--dist", "--tb", "--confcutdir", "--basetemp", "--log-level",
    "--junitxml", "--junit-xml", "--import-mode", "--capture", "--numprocesses", "--maxprocesses", "--json-report-file",
    "--json-report-indent", "--max-worker-restart", "--config-file", "--override-ini", "--hypothesis-seed",
    "--interlock-shard", "--interlock-root", "--interlock-durations", "--interlock-shard-out", "--interlock-collect",
    "--interlock-keep", "--interlock-selection", "--interlock-suite-marker",
})
#: Where pytest reads arguments from, lowest precedence first (a later `-k` or `-m` wins).
ENV_ADDOPTS = "PYTEST_ADDOPTS"
SUITE_ARGS, COMMAND_LINE, ELSEWHERE = "the config's suite args", "the command line", "another plugin or conftest.py"
SHARD_SOURCE = "--interlock-shard"
SHOWN = 100  # node ids kept in a report's list of tests left out; the count is always whole
NO_RECORD = "pytest's selection was not recorded (pytest stopped before collecting, or interlock's plugin was not loaded): nothing shows the whole suite ran"

_IDS = {"type": "array", "items": {"type": "string"}}
RECORD_SCHEMA: dict[str, Any] = {"type": "object", "required": [
    "version", "rootdir", "invocation_dir", "argv", "ini", "environment", "suite_marker", "markexpr", "keyword", "targets",
    "ignore", "ignore_glob", "deselect", "last_failed", "stepwise", "maxfail", "bodies_skipped", "shard", "collection", "collections_agree",
    "ran"],
    "properties": {
        "version": {"const": 1}, "rootdir": {"type": "string"}, "invocation_dir": {"type": "string"}, "argv": _IDS,
        "ini": {"type": "object", "required": ["path", "addopts"], "properties": {"path": {"type": ["string", "null"]}, "addopts": _IDS}},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "suite_marker": {"type": ["string", "null"]}, "markexpr": {"type": "string"}, "keyword": {"type": "string"}, "targets": _IDS,
        "ignore": _IDS, "ignore_glob": _IDS, "deselect": _IDS, "last_failed": {"type": "boolean"}, "stepwise": {"type": "boolean"},
        "maxfail": {"type": "integer", "minimum": 0}, "shard": {"type": ["string", "null"]}, "collections_agree": {"type": "boolean"},
        "bodies_skipped": _IDS,
        "ran": _IDS,
        "collection": {"type": ["object", "null"], "required": ["collected", "suite", "critical", "selected", "deselected"], "properties": {
            "collected": _IDS, "suite": {"anyOf": [_IDS, {"type": "null"}]}, "critical": _IDS, "selected": _IDS,
            "deselected": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
_RECORD_CHECK = SchemaCheck(RECORD_SCHEMA)


def _tokens(args: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(option, value) for each option and ("", word) for each target, as pytest would split them."""
    words = iter(args)
    for word in words:
        if word == "--":
            for rest in words:
                yield "", rest
            return
        if not word.startswith("-") or word == "-":
            yield "", word
            continue
        name, eq, value = word.partition("=")
        if not word.startswith("--") and len(word) > 2 and word[:2] in VALUED:
            name, value, eq = word[:2], word[2:], "="  # -kEXPR, -n4
        yield name, (value if eq else next(words, "")) if name in VALUED else None


def parse_args(args: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Split pytest arguments into targets (paths, node ids), options, and the (last) values of known options."""
    targets: list[str] = []
    options: list[str] = []
    values: dict[str, str] = {}
    for name, value in _tokens(args):
        if not name:
            targets.append(value or "")
            continue
        options.append(name)
        if value is not None:
            values[name] = value
    return targets, options, values


@dataclass(frozen=True)
class Suite:
    """What the whole suite is, and the arguments interlock itself added: the config's suite args and the command line's."""

    marker: str
    path: str
    root: Path
    args: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    last_failed: bool = False  # the command line's targets are the previous run's failures (`interlock test --last-failed`)


@dataclass
class Decision:
    """Why a run is less than the whole suite (empty: it is the whole suite), its shard, and what to record of it."""

    reasons: list[str]
    shard: str | None
    section: dict[str, Any] | None

    @property
    def filter(self) -> str | None:
        return "; ".join(self.reasons) or None


def record_problem(record: Any) -> str | None:
    """Why a selection record cannot be read (one line), None when it can."""
    error = next(_RECORD_CHECK.errors(record), None)
    return None if error is None else f"{error.json_path}: {error.message}"


def sources(record: Mapping[str, Any], suite: Suite) -> list[tuple[str, list[str]]]:
    """Each place pytest took arguments from, lowest precedence first, with its arguments."""
    ini = record["ini"]
    env = record["environment"].get(ENV_ADDOPTS, "")
    try:
        env_args = shlex.split(env)
    except ValueError:
        env_args = env.split()
    ini_name = f"ini addopts ({ini['path']})" if ini["path"] else "ini addopts"
    return [(ini_name, list(ini["addopts"])), (ENV_ADDOPTS, env_args), (SUITE_ARGS, list(suite.args)), (COMMAND_LINE, list(suite.extra))]


def source_of(option: str, value: str | None, found_in: list[tuple[str, list[str]]], aliases: tuple[str, ...] = ()) -> str:
    """The place an option's effective value came from: the highest-precedence source giving it that value."""
    names = (option, *aliases)
    for name, args in reversed(found_in):
        given = [v for o, v in _tokens(args) if o in names]
        if given and (value is None or given[-1] == value):
            return name
    return ELSEWHERE


_ALIASES = {"--collect-only": ("--co",)}


def _show(ids: list[str], limit: int = 3) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _covers(target: str, suite_dir: Path, base: Path) -> bool:
    """Whether a positional target collects the whole suite folder: the folder itself or one above it."""
    if "::" in target:
        return False
    path = (base / target).resolve()
    return path == suite_dir or path in suite_dir.parents


def _target_source(target: str, found_in: list[tuple[str, list[str]]]) -> str:
    for name, args in reversed(found_in):
        if target in parse_args(args)[0]:
            return name
    return ELSEWHERE


def decide(record: Mapping[str, Any] | None, suite: Suite) -> Decision:
    """Every way this run is narrower than the suite, in words that name the narrowing and where it came from."""
    if record is None:
        return Decision([NO_RECORD], None, None)
    problem = record_problem(record)
    if problem:
        return Decision([f"pytest's selection record is unreadable ({problem}): nothing shows the whole suite ran"], None, None)
    found_in = sources(record, suite)
    reasons: list[str] = []
    collection = record["collection"]
    if collection is None:
        reasons.append("pytest never finished collecting: nothing shows what it selected")
    elif collection["suite"] is None:
        reasons.append(f"pytest {record.get('pytest', '')} could not evaluate the suite's marker expression {suite.marker!r}: "
                       "the suite cannot be told from a narrowed selection")
    if not record["collections_agree"]:
        reasons.append("pytest-xdist workers collected different tests")
    if record["suite_marker"] != suite.marker:
        reasons.append(f"pytest was told the suite is -m {record['suite_marker']!r}, the config says {suite.marker!r}")
    if record["keyword"]:
        reasons.append(f"-k {record['keyword']!r} from {source_of('-k', record['keyword'], found_in)}")
    if record["markexpr"] != suite.marker:
        reasons.append(f"-m {record['markexpr']!r} from {source_of('-m', record['markexpr'], found_in)} "
                       f"(the suite is -m {suite.marker!r}; change [suite] marker to change the suite)")
    reasons += _target_reasons(record, suite, found_in)
    for option, key in (("--ignore", "ignore"), ("--ignore-glob", "ignore_glob"), ("--deselect", "deselect")):
        for value in record[key]:
            reasons.append(f"{option} {value!r} from {source_of(option, value, found_in)}")
    if record["last_failed"]:
        reasons.append(f"--last-failed from {source_of('--lf', None, found_in, ('--last-failed',))}")
    for option in record.get("bodies_skipped", []):  # tests "pass" without their bodies ever running
        reasons.append(f"{option} from {source_of(option, None, found_in, _ALIASES.get(option, ()))}: no test body ran")
    if record["stepwise"]:
        reasons.append(f"--stepwise from {source_of('--sw', None, found_in, ('--stepwise', '--sw-skip', '--stepwise-skip'))}")
    section = None
    if collection is not None:
        section = _section(record, suite, collection)
        left_out = section["not_selected"]
        if left_out["count"]:
            reasons.append(f"{left_out['count']} of the suite's {section['counts']['suite']} test(s) not selected: {_show(left_out['shown'])}")
        ran = set(record["ran"])
        did_not_run = [n for n in collection["selected"] if n not in ran]
        if did_not_run:
            why = f"--maxfail={record['maxfail']}" if record["maxfail"] else "-x, --maxfail or pytest was stopped"
            reasons.append(f"stopped early: {len(did_not_run)} selected test(s) did not run ({why}): {_show(did_not_run)}")
        section["narrowing"] = list(reasons)
    return Decision(reasons, record["shard"], section)


def _target_reasons(record: Mapping[str, Any], suite: Suite, found_in: list[tuple[str, list[str]]]) -> list[str]:
    """Targets (paths, node ids) that together collect less than the suite's folder."""
    targets = record["targets"]
    base, suite_dir = Path(record["invocation_dir"]), (suite.root / suite.path).resolve()
    if any(_covers(t, suite_dir, base) for t in targets):
        return []
    last_failed = "--last-failed: " if suite.last_failed else ""
    origin = sorted({_target_source(t, found_in) for t in targets})
    return [f"{last_failed}{len(targets)} target(s) from {', '.join(origin) or ELSEWHERE}: {_show(targets)}"]


def _section(record: Mapping[str, Any], suite: Suite, collection: Mapping[str, Any]) -> dict[str, Any]:
    """`interlock.pytest_selection` of the report: what pytest was asked and what it selected and ran (node ids as pytest wrote them)."""
    selected = set(collection["selected"])
    suite_ids = collection["suite"] if collection["suite"] is not None else collection["collected"]
    sharded = {n for n, who in collection["deselected"].items() if who == SHARD_SOURCE}
    left_out = [n for n in suite_ids if n not in selected and n not in sharded]
    critical_out = [n for n in collection["critical"] if n not in selected and n not in sharded]
    ini = record["ini"]
    return {
        "command": [arg for _, args in sources(record, suite)[:2] for arg in args] + list(record["argv"]),
        "environment": dict(record["environment"]),
        "ini": {"path": ini["path"], "addopts": list(ini["addopts"])},
        "rootdir": record["rootdir"],
        "suite_marker": suite.marker, "markexpr": record["markexpr"], "keyword": record["keyword"],
        "targets": list(record["targets"]), "maxfail": record["maxfail"], "last_failed": record["last_failed"],
        "shard": record["shard"],
        "counts": {"collected": len(collection["collected"]), "suite": len(suite_ids), "selected": len(selected),
                   "deselected": len(collection["deselected"]), "ran": len(record["ran"])},
        "not_selected": {"count": len(left_out), "shown": left_out[:SHOWN]},
        "critical": list(collection["critical"]),
        "critical_not_selected": critical_out,
    }


# ---- Gate 3, on a written report --------------------------------------------------------------------------------


def report_filter(section: Mapping[str, Any]) -> str | None:
    """Why a written report is not evidence for the whole suite; None when it is."""
    reasons = []
    if section.get("filtered") is not False:
        reasons.append(section.get("filter") or ("the report does not say whether it was filtered" if "filtered" not in section else "marked filtered"))
    merged = bool(section.get("merged"))
    if "shard" in section and not merged:
        reasons.append(f"a single shard ({section['shard']}) that `interlock merge` did not combine with the others")
    if section.get("runner") == "junit":
        if "junit_selection" not in section:
            reasons.append("no record of what the JUnit runner ran against the whole suite (interlock.junit_selection): rerun `interlock test`")
    elif "pytest_selection" not in section and not merged:
        reasons.append("no record of what pytest selected (interlock.pytest_selection): rerun `interlock test`")
    return "; ".join(reasons) or None


def disagreements(summary: Mapping[str, int], records: Mapping[str, int], pytest_total: int, selection_ran: int | None) -> list[str]:
    """Where interlock's summary (and pytest's own summary and selection record) disagree with pytest's per-test records.

    `records` counts the report's `tests` list: passed, failed, skipped, errors and total.
    """
    ran = records["passed"] + records["failed"] + records["errors"]
    found = []
    said = summary["passed"] + summary["failed"] + summary["errors"]
    if said != ran:
        found.append(f"interlock summary says {said} ran, pytest's records list {ran}")
    if summary["total"] != records["total"]:
        found.append(f"interlock summary says {summary['total']} test(s), pytest's records list {records['total']}")
    for outcome in ("passed", "failed", "skipped", "errors"):
        if summary[outcome] != records[outcome]:
            found.append(f"interlock summary says {summary[outcome]} {outcome}, pytest's records list {records[outcome]}")
    if pytest_total != records["total"]:
        found.append(f"pytest's summary says {pytest_total} test(s), its records list {records['total']}")
    if selection_ran is not None and selection_ran != records["total"]:
        found.append(f"pytest's selection record says {selection_ran} test(s) ran, pytest's records list {records['total']}")
    return found


NOT_RUN = {"skipped": "skipped", "xfailed": "xfailed (an expected failure proves nothing)"}


def critical_not_run(outcomes: Mapping[str, str], marked: Iterable[str], selection: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Each @critical test that did not run, with why: skipped, deselected, or missing from pytest's records.

    `outcomes` are pytest's per-test records (node id → outcome); `marked` the node ids
    whose records carry the `critical` keyword; `selection` the report's pytest_selection,
    whose `critical` lists every critical test of the suite, run or not.
    """
    known = list(dict.fromkeys([*(selection or {}).get("critical", []), *marked]))
    deselected = set((selection or {}).get("critical_not_selected", []))
    found = []
    for nodeid in known:
        outcome = outcomes.get(nodeid)
        if outcome is None:
            found.append((nodeid, "deselected" if nodeid in deselected else "missing from pytest's records"))
        elif outcome in NOT_RUN:
            found.append((nodeid, NOT_RUN[outcome]))
    return found




def combine_selections(sections: list[tuple[Mapping[str, Any], Path, Path]]) -> dict[str, Any] | None:
    """The merged report's pytest_selection: the shards' selections added up (node ids relocated to the system's root).

    `sections` holds each shard's pytest_selection with its report's root and the system's root.
    None when a shard has no record: the merge then carries none either, and the shards' own `filtered` flags say why.
    """
    from interlock.shards import relocate

    if not sections:
        return None
    moved = [{**s, "critical": [relocate(n, r, root) for n in s["critical"]],
              "critical_not_selected": [relocate(n, r, root) for n in s["critical_not_selected"]],
              "not_selected": {"count": s["not_selected"]["count"], "shown": [relocate(n, r, root) for n in s["not_selected"]["shown"]]}}
             for s, r, root in sections]
    first = moved[0]
    counts = {"collected": max(s["counts"]["collected"] for s in moved), "suite": max(s["counts"]["suite"] for s in moved),
              "selected": sum(s["counts"]["selected"] for s in moved), "deselected": max(s["counts"]["deselected"] for s in moved),
              "ran": sum(s["counts"]["ran"] for s in moved)}
    not_shown = list(dict.fromkeys(n for s in moved for n in s["not_selected"]["shown"]))
    return {**first, "shard": None, "counts": counts,
            "not_selected": {"count": max(s["not_selected"]["count"] for s in moved), "shown": not_shown[:SHOWN]},
            "critical": list(dict.fromkeys(n for s in moved for n in s["critical"])),
            "critical_not_selected": list(dict.fromkeys(n for s in moved for n in s["critical_not_selected"])),
            "narrowing": list(dict.fromkeys(n for s in moved for n in s["narrowing"]))}


# ---- runner "junit": whether a JUnit XML run was the whole suite ------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """How big the whole suite is, in `unit` ("tests" or "files"), and where that came from (words for the report)."""

    count: int
    unit: str
    source: str
    names: tuple[str, ...] = ()  # what the list command listed (files relative to the runner's folder), when it lists files


def filter_words(given: list[str], filter_args: list[str]) -> list[str]:
    """The words of `given` that are one of the suite's filter arguments (`-t`, `--testNamePattern=x`, `-tfoo`)."""
    found = []
    for word in given:
        name = word.partition("=")[0]
        short = [a for a in filter_args if len(a) == 2 and a.startswith("-") and not a.startswith("--")]
        if name in filter_args or any(word.startswith(a) and len(word) > 2 and not word.startswith("--") for a in short):
            found.append(word)
    return found


def junit_decide(given: list[str], filter_args: list[str], expected: Expected | None, tests: int, files: list[str] | None) -> list[str]:
    """Every way a JUnit XML run is narrower than the suite: filter arguments, other arguments nothing proves harmless, fewer than expected.

    `given` are the command line's arguments (after `--`), `tests` the XML's test cases, `files` the distinct
    files the XML names (None when it names none).
    """
    reasons = [f"{word!r} from the command line narrows the suite ([suite] filter_args)" for word in filter_words(given, filter_args)]
    if given and not reasons and expected is None:
        reasons.append(f"arguments from the command line ({shlex.join(given)}) and no expected count shows the whole suite ran "
                       "(set [suite] list_command, or run it once without arguments)")
    if expected is None:
        return reasons
    if expected.unit == "files":
        if files is None:
            return [*reasons, f"[suite] list_unit is \"files\" but the JUnit XML names no file: nothing shows the {expected.count} listed file(s) ran "
                    "(jest-junit: addFileAttribute \"true\")"]
        ran = set(files)
        absent = [n for n in expected.names if n not in ran] if expected.names else []
        if absent or len(ran) < expected.count:
            shown = f": {_show(absent)} did not run" if absent else ""
            reasons.append(f"{len(ran & set(expected.names)) if expected.names else len(ran)} of the suite's {expected.count} file(s) ran "
                           f"(expected from {expected.source}){shown}")
    elif tests < expected.count:
        reasons.append(f"{tests} of the suite's {expected.count} test(s) ran (expected from {expected.source})")
    return reasons
