"""Read the gate metrics from an artifact folder, and from nothing else.

Each reader returns a `Metric`; an artifact that is missing or unreadable
gives a metric with no value and the reason, which fails its condition.
The folder is read once (`interlock.runfolder.RunFolder`: every JSON artifact
checked against its schema); readers fail closed (`_reader`): an artifact in
any shape interlock never writes gives each of the reader's metrics no value
and a one-line reason naming the artifact, never an internal error.
"""

from __future__ import annotations

from interlock.statuses import CheckStatus, RegressionVerdict

import base64
import functools
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from interlock import ledger
from interlock.artifacts import (
    BUNDLE as BUNDLE_ARTIFACT, CONTRACT_RESULTS, DEFECT_LOG, DERIVED, ENVIRONMENT_REPORT, EXECUTION_REPORT, LEDGER,
    MANIFEST as MANIFEST_ARTIFACT, OBSERVABILITY, OBSERVABILITY_DATA, RECOMMENDATIONS, REGRESSION_SUMMARY, SCOPE_MATRIX,
    SIGNOFF as SIGNOFF_ARTIFACT, TEST_DATA_INVENTORY, TRACE_EVIDENCE, ArtifactDir,
)
from interlock.defects import DefectLog, defect_id, fingerprint
from interlock.errors import UsageError
from interlock.files import sha256_file
from interlock.gates import Metric
from interlock.runfolder import MalformedArtifact, RunFolder
from interlock.shards import relocate
from interlock.statuses import (
    CONTRACT_NOT_PASSED,
    CONTRACT_NOT_RUN,
    CONTRACT_PASSED,
    TEST_RED,
    ContractStatus,
    StatusError,
    TestOutcome,
    contract_statuses,
    parse,
    recorded_outcomes,
)

BUNDLE = BUNDLE_ARTIFACT.filename
MANIFEST = MANIFEST_ARTIFACT.filename
SIGNOFF = SIGNOFF_ARTIFACT.filename
CONTRACTS = CONTRACT_RESULTS.filename
TESTS = EXECUTION_REPORT.filename
SCOPE = SCOPE_MATRIX.filename
# Artifacts the manifest must cover: everything but itself, the zip, the sign-off and the gate results.
# The report and JUnit XML (interlock.history) are derived after sealing, like the gate results.
#: Written by step 4.1 instead of the bundle when a file still holds a secret: one line per file, never the value.
SEALING_REFUSED = "sealing-refused.txt"
UNBUNDLED = {MANIFEST, BUNDLE, SIGNOFF, SEALING_REFUSED, *DERIVED}


def _missing(filename: str) -> Metric:
    return Metric(None, f"{filename} is missing: its step did not run")


#: What a reader meets when an artifact parses but holds another shape than the one it expects.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _reader(artifact: str, *metrics: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Make a reader fail closed: if its artifacts are not in the shape interlock writes, each of its
    `metrics` (and any it had set) gets no value and one line naming the artifact (`artifact`, its main
    one, unless the schema check named another), so its conditions fail with that reason."""
    def wrap(read: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(read)
        def guarded(folder: RunFolder, out: dict[str, Metric], *args: Any) -> None:
            part: dict[str, Metric] = {}
            try:
                read(folder, part, *args)
            except MalformedArtifact as exc:
                part = dict.fromkeys([*metrics, *part], Metric(None, exc.reason))
            except UsageError:
                raise  # bad input of another kind (a key file, say): exit 2 with its own line
            except _SHAPE_ERRORS as exc:
                reason = MalformedArtifact(artifact, f"{type(exc).__name__}: {exc}").reason
                part = dict.fromkeys([*metrics, *part], Metric(None, reason))
            out.update(part)
        return guarded
    return wrap


@_reader(SCOPE, "prerequisites_unmet", "interfaces", "uncovered_interfaces", "undeclared_pacts", "unmatched_pact_interfaces")
def _scope(folder: RunFolder, out: dict[str, Metric]) -> None:
    scope = folder.json(SCOPE)
    if scope is None:
        for name in ("prerequisites_unmet", "interfaces", "uncovered_interfaces", "undeclared_pacts", "unmatched_pact_interfaces"):
            out[name] = _missing(SCOPE)
        return
    unmet = [p["name"] for p in scope["prerequisites"] if p["status"] != "ok"]
    out["prerequisites_unmet"] = Metric(len(unmet), items=unmet)
    out["interfaces"] = Metric(len(scope["interfaces"]))
    out["uncovered_interfaces"] = Metric(len(scope["uncovered"]), items=list(scope["uncovered"]))
    undeclared = scope["undeclared_pacts"]
    out["undeclared_pacts"] = Metric(len(undeclared), f"pact files no [contracts.pact] source declares: {', '.join(undeclared)[:500]}; "
                                     "add them to sources (so they are verified) or to [contracts.pact] exclude" if undeclared else None,
                                     items=list(undeclared))
    unmatched = scope["unmatched_pact_interfaces"]
    out["unmatched_pact_interfaces"] = Metric(len(unmatched), f"pact interfaces no feature covers: {', '.join(unmatched)[:500]}; add their "
                                              "`service:METHOD /template` to the feature list, or to [scope] out_of_scope" if unmatched else None,
                                              items=list(unmatched))


@_reader(ENVIRONMENT_REPORT.filename, "environment_checks", "environment_failed", "environment_unprobed")
def _environment(folder: RunFolder, out: dict[str, Metric]) -> None:
    report = folder.json(ENVIRONMENT_REPORT.filename)
    if report is None:
        out["environment_checks"] = out["environment_failed"] = out["environment_unprobed"] = _missing(ENVIRONMENT_REPORT.filename)
        return
    failed = [c["id"] for c in report["checks"] if c["status"] != CheckStatus.PASS]
    out["environment_checks"] = Metric(len(report["checks"]))
    out["environment_failed"] = Metric(len(failed), items=failed)
    out["environment_unprobed"] = _unprobed(report, folder.json(SCOPE))


def _unprobed(report: dict[str, Any], scope: dict[str, Any] | None) -> Metric:
    """Declared components without a probe result: a component nobody checked must not pass as one that was fine.

    The report lists what the environment declares (`declared`, each with its probe's check id);
    the scope matrix (step 1.1) lists the config's services, so one removed from both lists is still caught.
    """
    declared = report.get("declared")
    if not isinstance(declared, list) or not all(isinstance(d, dict) and {"name", "role", "check"} <= d.keys() for d in declared):
        return Metric(None, "the environment report does not list the declared services, stores and brokers "
                            "(made by hand or by an older interlock): rerun `interlock env`")
    checked = {c["id"] for c in report["checks"]}
    missing = {d["name"]: f"{d['role']} {d['name']} (no {d['check']} check)" for d in declared if d["check"] not in checked}
    ports = report.get("ports")
    for name, record in ports.items() if isinstance(ports, dict) else ():
        for check_id in record.get("checks", []) if isinstance(record, dict) else ():
            if check_id not in checked:
                missing.setdefault(str(name), f"service {name} (no {check_id} check)")
    listed = {d["name"] for d in declared if d["role"] == "service"}
    for service in (scope or {}).get("services", []):
        if service["name"] not in listed:
            missing[service["name"]] = f"service {service['name']} (in the scope matrix, not in the environment report)"
    reason = f"declared but never probed: {', '.join(missing.values())[:500]}; rerun `interlock env` on the whole environment"
    return Metric(len(missing), reason if missing else None, items=list(missing))


@_reader(CONTRACTS, "contract_interactions", "contracts_not_executed", "contracts_failed", "contracts_passed", "contracts_pending", "contracts_filtered")
def _contracts(folder: RunFolder, out: dict[str, Metric]) -> None:
    results = folder.json(CONTRACTS)
    names = ("contract_interactions", "contracts_not_executed", "contracts_failed", "contracts_passed", "contracts_pending", "contracts_filtered")
    if results is None:
        for name in names:
            out[name] = _missing(CONTRACTS)
        return
    try:
        statuses = contract_statuses(results, CONTRACTS)
    except StatusError as exc:
        # A status outside the enum (or none) makes every count unknowable: Gate 2 fails, naming it.
        for name in names:
            out[name] = Metric(None, f"{exc}; rerun `interlock contracts`")
        return
    empty = [c["id"] for c in results["contracts"] if isinstance(c, dict) and not c["interactions"]]
    not_run = [i for i, status in statuses if status in CONTRACT_NOT_RUN] + empty
    failed = [i for i, status in statuses if status in CONTRACT_NOT_PASSED]
    passed = [i for i, status in statuses if status in CONTRACT_PASSED]
    pending = [i for i, status in statuses if status is ContractStatus.PENDING]
    out["contract_interactions"] = Metric(len(statuses))
    out["contracts_not_executed"] = Metric(len(not_run), items=not_run)
    out["contracts_failed"] = Metric(len(failed), items=failed)
    out["contracts_passed"] = Metric(len(passed), None if passed else f"no contract interaction passed (of {len(statuses)}): pending, failed or unexecuted ones are not passes")
    out["contracts_pending"] = Metric(len(pending), items=pending)
    # A filtered rerun (--only) is never complete evidence; its ids are not items, so no item waiver can cover them.
    only = results.get("filter") or []
    out["contracts_filtered"] = Metric(len(only), f"filtered run: not complete evidence (--only {', '.join(only)[:300]}); rerun `interlock contracts` without --only" if only else None)


@_reader(OBSERVABILITY_DATA.filename, "observability_unrecorded")
def _observability(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 2: every service of the scope matrix has its readiness recorded (step 2.3's data, never its Markdown)."""
    scope = folder.json(SCOPE)
    readiness = folder.json(OBSERVABILITY_DATA)
    if readiness is None or scope is None:
        missing = SCOPE if scope is None else OBSERVABILITY_DATA.filename if folder.exists(OBSERVABILITY) else OBSERVABILITY.filename
        out["observability_unrecorded"] = _missing(missing)
        return
    recorded = {row["service"] for row in readiness["services"]}
    unrecorded = [s["name"] for s in scope["services"] if s["name"] not in recorded]
    out["observability_unrecorded"] = Metric(len(unrecorded), items=unrecorded)


@_reader(OBSERVABILITY_DATA.filename, "traces_required_missing", "metrics_missing")
def _telemetry(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 2: services with traces = "required" that sent no span, and required metric names missing from a scrape (step 2.3's data)."""
    readiness = folder.json(OBSERVABILITY_DATA)
    if readiness is None:
        out["traces_required_missing"] = out["metrics_missing"] = _missing(OBSERVABILITY_DATA.filename)
        return
    rows = readiness["services"]
    silent = {row["service"]: f"{row['service']} (traces = \"required\", no span received)" for row in rows if row["traces_required"] and row["spans"] == 0}
    out["traces_required_missing"] = Metric(len(silent), items=list(silent), labels=silent)
    absent = {f"{row['service']}:{name}": f"{row['service']} lacks {name}" for row in rows for name in row["metrics_missing"]}
    out["metrics_missing"] = Metric(len(absent), items=list(absent), labels=absent)


@_reader(TRACE_EVIDENCE.filename, "undeclared_dependencies")
def _undeclared(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 2: interfaces called in traced traffic that no contract or test declares (step 3.1's trace evidence), by interface.

    No receiver means no traffic was seen, which proves nothing: the metric has no value then, like a missing artifact.
    """
    evidence = folder.json(TRACE_EVIDENCE)
    if evidence is None:  # Gate 2 at the end of phase 2 meets this too: the run's final verdict reads 3.1's evidence
        out["undeclared_dependencies"] = Metric(None, f"{TRACE_EVIDENCE.filename} is missing: step {TRACE_EVIDENCE.step} "
                                                      f"(`{TRACE_EVIDENCE.command}`) did not run, so no traffic was read")
        return
    if evidence["receiver"] is None:
        out["undeclared_dependencies"] = Metric(None, f"{TRACE_EVIDENCE.filename} records no receiver (off, or it wrote no counters): "
                                                      "no traffic was observed, so undeclared dependencies are unknown")
        return
    callers: dict[str, list[str]] = {}
    for entry in evidence["undeclared"]:
        names = callers.setdefault(entry["interface"], [])
        caller = entry["from"] or "unknown caller"
        if caller not in names:
            names.append(caller)
    labels = {interface: f"{interface} (called by {', '.join(names)})" for interface, names in callers.items()}
    out["undeclared_dependencies"] = Metric(len(labels), items=list(labels), labels=labels)


@_reader(TESTS, "tests_ran", "tests_filtered", "tests_disagreement", "critical_not_run")
def _tests(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 3 from pytest's own per-test records, cross-checked with interlock's summary and pytest's selection record."""
    from interlock import selection
    from interlock.execution import evidence_problem, tally

    names = ("tests_ran", "tests_filtered", "tests_disagreement", "critical_not_run")
    report = folder.json(TESTS)
    problem = _missing(TESTS).reason if report is None else evidence_problem(report)
    if report is None or problem:
        for name in names:
            out[name] = Metric(None, problem)
        return
    try:
        recorded_outcomes(report, TESTS)
    except StatusError as exc:
        for name in names:
            out[name] = Metric(None, f"{exc}; rerun `interlock test`")
        return
    section, tests = report["interlock"], report["tests"]
    records = tally(tests)
    ran = records["passed"] + records["failed"] + records["errors"]
    reason = None
    if ran == 0:
        reason = "no test ran: " + ("pytest's records list none" if records["total"] == 0 else f"all {records['total']} in pytest's records skipped")
    out["tests_ran"] = Metric(ran, reason)
    # A targeted rerun, -k or -m from any source, --last-failed, a lone shard or a run stopped early is not evidence for the whole suite.
    why = selection.report_filter(section)
    out["tests_filtered"] = Metric(int(why is not None), f"filtered run: not complete evidence ({why})" if why else None)
    chosen = section.get("pytest_selection")
    found = selection.disagreements(section["summary"], records, report["summary"]["total"], chosen["counts"]["ran"] if chosen else None)
    out["tests_disagreement"] = Metric(len(found), "; ".join(found) if found else None)
    root, system_root = Path(report["root"]), Path(section.get("system_root") or report["root"])
    missed = selection.critical_not_run({t["nodeid"]: t["outcome"] for t in tests}, [t["nodeid"] for t in tests if "critical" in t["keywords"]], chosen)
    named = [(relocate(nodeid, root, system_root), why) for nodeid, why in missed]
    out["critical_not_run"] = Metric(len(named), "@critical test(s) that did not run: " + "; ".join(f"{n}: {w}" for n, w in named)[:1000] if named else None,
                                     items=[n for n, _ in named])


def waiver_active(row: dict[str, str], now: datetime) -> bool:
    """A waived defect counts as waived only with an approver, a reason and an expiry still ahead; an expired waiver is absent."""
    if row["status"] != "waived" or not row["waiver_approver"].strip() or not row["waiver_reason"].strip():
        return False
    try:
        expires = datetime.fromisoformat(row["waiver_expires"].replace("Z", "+00:00"))
    except ValueError:
        return False
    return expires.tzinfo is not None and expires > now


def red_tests(report: Any) -> dict[str, str]:
    """Every failed or errored test of an execution report, by node id relative to the system's root, with its outcome.

    Both records count: pytest's own per-test list and interlock's failures (which
    also hold modules that could not be collected and a run cut short), so
    emptying one of them hides nothing. Raises StatusError on an outcome outside the enum.
    """
    section = report["interlock"]
    system_root = Path(str(section.get("system_root") or report.get("root") or "."))
    report_root = Path(str(report.get("root") or system_root))
    red = {relocate(nodeid, report_root, system_root): outcome.value
           for nodeid, outcome in recorded_outcomes(report, TESTS) if outcome in TEST_RED}
    failures = section.get("failures")
    if not isinstance(failures, list):
        raise StatusError(f"{TESTS}: $.interlock.failures is not a list")
    for n, failure in enumerate(failures):
        failure = failure if isinstance(failure, dict) else {}
        outcome = parse(TestOutcome, failure.get("outcome"), f"{TESTS}: $.interlock.failures[{n}]")
        if outcome in TEST_RED and isinstance(failure.get("nodeid"), str):
            red.setdefault(failure["nodeid"], outcome.value)
    return red


@_reader(TESTS, "unresolved_test_failures")
def _unresolved_tests(folder: RunFolder, out: dict[str, Metric], now: datetime) -> None:
    """Gate 3: each red test holds until its defect is resolved with a passing rerun or waived; severity never matters."""
    report = folder.json(TESTS)
    if report is None:
        out["unresolved_test_failures"] = _missing(TESTS)
        return
    try:
        red = red_tests(report)
        rows = folder.defects if red else []
    except (StatusError, UsageError) as exc:
        out["unresolved_test_failures"] = Metric(None, f"{exc}; the failed tests cannot be matched to their defects")
        return
    by_fingerprint = {r["fingerprint"]: r for r in rows}
    labels: dict[str, str] = {}
    waived: dict[str, dict[str, Any]] = {}
    for nodeid in red:
        row = by_fingerprint.get(fingerprint("test", nodeid))
        if row is not None and row["status"] == "resolved" and row["regression"] == RegressionVerdict.PASS:
            continue  # fixed, and the regression rerun passed
        ident = row["id"] if row is not None else defect_id("test", nodeid)
        labels[ident] = f"{ident} ({nodeid})" + ("" if row is not None else " [no defect recorded: run `interlock defects`]")
        if row is not None and waiver_active(row, now):
            # Still a red test (the raw status says so); the waiver the log records covers it, and is shown with it.
            waived[ident] = {"condition": "tests.unresolved_failures", "item": ident, "justification": row["waiver_reason"],
                             "approver": row["waiver_approver"], "ticket": row["ticket"], "expires": row["waiver_expires"], "source": DEFECT_LOG.filename}
    out["unresolved_test_failures"] = Metric(len(labels), items=list(labels), labels=labels, waived=waived)


@_reader(DEFECT_LOG.filename, "open_critical_defects", "resolved_without_rerun")
def _defects(folder: RunFolder, out: dict[str, Metric], now: datetime) -> None:
    if not DefectLog(folder.artifacts).exists():
        out["open_critical_defects"] = out["resolved_without_rerun"] = _missing(DEFECT_LOG.filename)
        return
    try:
        rows = folder.defects
    except UsageError as exc:
        out["open_critical_defects"] = out["resolved_without_rerun"] = Metric(None, str(exc))
        return
    critical = [r["id"] for r in rows if r["severity"] == "critical" and r["status"] != "resolved" and not waiver_active(r, now)]
    unverified = [r["id"] for r in rows if r["status"] == "resolved" and r["regression"] != RegressionVerdict.PASS]
    out["open_critical_defects"] = Metric(len(critical), items=critical)
    out["resolved_without_rerun"] = Metric(len(unverified), items=unverified)


@_reader(MANIFEST, "manifest_uncovered")
def _manifest(folder: RunFolder, out: dict[str, Metric]) -> None:
    manifest = folder.json(MANIFEST)
    if manifest is None:
        out["manifest_uncovered"] = _missing(MANIFEST)
        return
    listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    present = sorted(p.relative_to(folder.root).as_posix() for p in folder.root.rglob("*") if p.is_file() and not p.name.startswith("."))
    problems = [f"{p} not in the manifest" for p in present if p not in listed and p not in UNBUNDLED]
    sizes = {a["path"]: a["size"] for a in manifest["artifacts"]}
    for path, digest in listed.items():
        file = folder.artifacts.path(path)
        if not file.is_file():
            problems.append(f"{path} listed but missing")
        elif path == LEDGER and not ledger.sealed_prefix(file, digest, sizes[path]):
            problems.append(f"{path} no longer starts with the ledger the manifest sealed: a line was removed or edited")
        elif path != LEDGER and sha256_file(file) != digest:
            problems.append(f"{path} changed after the manifest")
    out["manifest_uncovered"] = Metric(len(problems), items=problems)



def short(commit: str | None) -> str:
    """A commit as people read it (12 hex digits), or what its absence means."""
    return str(commit)[:12] if commit else "none (not a git work tree)"


def recorded_commits(artifacts: ArtifactDir | RunFolder) -> dict[str, str | None]:
    """The git commit each artifact that records one says the evidence came from: the manifest (4.1) and the suite's report (3.1)."""
    folder = artifacts if isinstance(artifacts, RunFolder) else RunFolder(artifacts)
    recorded: dict[str, str | None] = {}
    manifest = folder.json_unchecked(MANIFEST)
    if isinstance(manifest, dict) and isinstance(manifest.get("source"), dict):
        recorded[MANIFEST] = manifest["source"].get("git_commit")
    report = folder.json_unchecked(TESTS)
    section = report.get("interlock") if isinstance(report, dict) else None
    if isinstance(section, dict) and "commit" in section:
        recorded[TESTS] = section["commit"]
    return recorded


def commit_problems(recorded: dict[str, str | None]) -> list[str]:
    """Where the artifacts disagree on the commit: evidence of one commit must not be sealed as another's."""
    sealed = recorded.get(MANIFEST)
    return [f"{name} records commit {short(commit)}, the manifest {short(sealed)}"
            for name, commit in recorded.items() if name != MANIFEST and commit != sealed]


def signed_predicate(envelope: Any) -> dict[str, Any] | None:
    """The predicate a sign-off envelope carries, unverified (`signoff.valid` checks the signature), or None if unreadable."""
    try:
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (KeyError, TypeError, ValueError):
        return None
    predicate = statement.get("predicate") if isinstance(statement, dict) else None
    return predicate if isinstance(predicate, dict) else None


@_reader(MANIFEST, "commit_mismatches")
def _commits(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 4: the sign-off names the commit it certifies, and every record of the run names that same commit."""
    recorded = recorded_commits(folder)
    if MANIFEST not in recorded:
        out["commit_mismatches"] = _missing(MANIFEST)
        return
    problems = commit_problems(recorded)
    envelope = folder.json(SIGNOFF)
    predicate = signed_predicate(envelope) if envelope is not None else None
    if envelope is None:
        problems.append(f"{SIGNOFF} is missing: no sign-off names a commit")
    elif predicate is None or "git_commit" not in predicate:
        problems.append(f"{SIGNOFF} does not name the git commit it certifies: run `interlock signoff` again")
    elif predicate["git_commit"] != recorded[MANIFEST]:
        problems.append(f"{SIGNOFF} certifies commit {short(predicate['git_commit'])}, the evidence is of commit {short(recorded[MANIFEST])}")
    out["commit_mismatches"] = Metric(len(problems), "; ".join(problems) if problems else None)


@_reader(LEDGER, "unproduced_artifacts", "identity_mismatches")
def _ledger(folder: RunFolder, out: dict[str, Metric]) -> None:
    """Gate 4: every artifact is what a step or interlock command wrote (run ledger), all of them on one identity."""
    files = ledger.tracked(folder.root)
    read = ledger.read(folder.root)
    problems = ledger.unproduced(files, read)
    out["unproduced_artifacts"] = Metric(len(problems), "; ".join(problems)[:1500] if problems else None)
    groups = ledger.identity_groups(files, read)
    reference = ledger.evidence_identity(read)
    mismatched = ledger.identity_mismatches(groups, reference)
    reason = f"the artifacts were produced on different code: {ledger.describe_groups(groups, reference)}; rerun `interlock run` on one commit"
    out["identity_mismatches"] = Metric(len(mismatched), reason[:1500] if mismatched else None)


@_reader(SIGNOFF, "bundle_problems", "signoff_valid")
def _evidence(folder: RunFolder, out: dict[str, Metric], pubkey: Path | None) -> None:
    from interlock.evidence import SignatureError, verify_bundle, verify_envelope

    artifacts = folder.artifacts
    if artifacts.exists(SEALING_REFUSED):
        lines = [line for line in artifacts.path(SEALING_REFUSED).read_text("utf-8", "replace").splitlines() if line.strip()]
        out["bundle_problems"] = Metric(len(lines) or 1, "sealing refused: " + ("; ".join(lines) or "a file holds a secret value"))
    elif artifacts.exists(BUNDLE):
        report = verify_bundle(artifacts.path(BUNDLE), pubkey)
        problems = [f"{p.entry}: {p.message}" for p in report.problems]
        out["bundle_problems"] = Metric(report.problem_count, items=problems)
    else:
        out["bundle_problems"] = _missing(BUNDLE)
    envelope = folder.json(SIGNOFF)
    if envelope is None:
        out["signoff_valid"] = _missing(SIGNOFF)
    elif pubkey is None:
        out["signoff_valid"] = Metric(0, "no approver public key configured ([signoff] pubkey)")
    elif not artifacts.exists(MANIFEST):
        out["signoff_valid"] = Metric(0, f"{MANIFEST} is missing")
    else:
        try:
            statement = verify_envelope(envelope, pubkey)
        except SignatureError as exc:
            out["signoff_valid"] = Metric(0, f"signature does not verify: {exc}")
            return
        digests = {s["name"]: s["digest"].get("sha256") for s in statement.get("subject", [])}
        actual = sha256_file(artifacts.path(MANIFEST))
        if digests.get(f"data/{MANIFEST}") != actual:
            out["signoff_valid"] = Metric(0, f"the sign-off covers another manifest (signed {digests.get(f'data/{MANIFEST}')}, present {actual})")
        else:
            out["signoff_valid"] = Metric(1)


def read_metrics(artifacts: ArtifactDir | RunFolder, pubkey: Path | None, *, evidence: bool = True, now: datetime | None = None) -> dict[str, Metric]:
    """Every gate metric, read from the artifact folder (once); `evidence=False` skips verifying the bundle (Gate 4 only)."""
    folder = artifacts if isinstance(artifacts, RunFolder) else RunFolder.load(artifacts)
    out: dict[str, Metric] = {}
    readers: list[Callable[[RunFolder, dict[str, Metric]], None]] = [_scope, _environment, _contracts, _observability, _telemetry, _undeclared, _tests, _manifest, _commits, _ledger]
    for reader in readers:
        reader(folder, out)
    now = now or datetime.now(timezone.utc)
    _defects(folder, out, now)
    _unresolved_tests(folder, out, now)
    for flag, present in (("data_inventory", TEST_DATA_INVENTORY), ("regression_summary", REGRESSION_SUMMARY), ("recommendations", RECOMMENDATIONS)):
        out[flag] = Metric(1) if folder.exists(present) else _missing(present.filename)
    if evidence:
        _evidence(folder, out, pubkey)
    return out
