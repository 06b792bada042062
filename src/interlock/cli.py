"""The `interlock` command: turns options into an engine call and renders its events.

The CLI never decides a verdict; it maps the engine's result to an exit code
and turns every InterlockError into one clear line per problem (exit 2 for
input, 1 for a failed gate or verification, 3 for a halt).
"""

from __future__ import annotations

import gc
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, Sequence

import typer

from interlock import __version__
from interlock import config as config_mod
from interlock import identity, ledger, runspec, secrets
from interlock.artifacts import BUNDLE, CONTRACT_RESULTS, DEFAULT_DIR, ENVIRONMENT_REPORT, ArtifactDir, schema, schema_names
from interlock.defects import DefectLog
from interlock.engine import Engine, steps
from interlock.errors import ExitCode, InterlockError, Problem, UsageError
from interlock.events import EventHandler, EventStream
from interlock.render import ConsoleRenderer, JsonLines
from interlock.state import RunState
from interlock.statuses import GateStatus, StepStatus
from interlock.verdict import gate_results

if TYPE_CHECKING:
    from interlock.history import Outputs

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Integration validation that proves itself (PROTOCOL-9).")
defects_app = typer.Typer(no_args_is_help=True, help="Manage the defect log (protocol step 3.2).")
config_app = typer.Typer(no_args_is_help=True, help="Check interlock.toml, or print its schema.")
history_app = typer.Typer(no_args_is_help=True, help="List the runs the history store keeps; forget or prune them.")
app.add_typer(defects_app, name="defects")
app.add_typer(config_app, name="config")
app.add_typer(history_app, name="history")


@dataclass
class Options:
    """Global options of one invocation, shared by its command (the typer context's object, never a module global)."""

    config: Path | None = None
    artifacts: Path | None = None
    env: str | None = None
    json: bool = False
    renderer: JsonLines | ConsoleRenderer = field(default_factory=ConsoleRenderer)
    redactor: secrets.Redactor = field(default_factory=secrets.Redactor)  # the environment's secrets, once one is chosen

    def loaded(self) -> config_mod.Loaded:
        return config_mod.load(config_mod.find(Path.cwd(), self.config))

    def artifacts_dir(self, loaded: config_mod.Loaded) -> Path:
        return (self.artifacts or loaded.root / DEFAULT_DIR).resolve()

    def env_name(self, loaded: config_mod.Loaded, override: str | None = None) -> str:
        name = override or self.env
        if name is None:
            name = "integration" if "integration" in loaded.config.environments else next(iter(loaded.config.environments))
        loaded.environment(name)
        return name


def _options(ctx: typer.Context) -> Options:
    """This invocation's global options (set by `main_options`; `main` hands them in so its error lines use their redactor)."""
    return ctx.ensure_object(Options)


def _confirm_with(yes: bool, json_lines: bool) -> Callable[[str], tuple[bool, str]]:
    def confirm(kind: str) -> tuple[bool, str]:
        if yes:
            return True, "--yes"
        if not sys.stdin.isatty() or json_lines:
            return False, "declined: no terminal (pass --yes to answer yes)"
        return typer.confirm("", default=False), "terminal"

    return confirm


def _engine(ctx: typer.Context, env: str | None = None, yes: bool = False, handlers: Sequence[EventHandler] = (), **decided: Any) -> Engine:
    """The engine of one command, given the run spec built here, once, from the command's options (`decided`)."""
    opts = _options(ctx)
    loaded = opts.loaded()
    artifacts = opts.artifacts_dir(loaded)
    spec = runspec.build(loaded, opts.env_name(loaded, env), artifacts=artifacts, **decided)
    opts.redactor = spec.redactor  # no event, console line or error message shows a secret
    return Engine(spec, artifacts, _stream(ctx, handlers), _confirm_with(yes, opts.json), steps=steps(), command=invocation())


def _stream(ctx: typer.Context, handlers: Sequence[EventHandler] = ()) -> EventStream:
    """The command's event stream: every event behind the redactor (console and --json alike), rendered, then handed to its handlers."""
    opts = _options(ctx)
    return EventStream(opts.renderer, handlers, opts.redactor.event)


def _outputs(outputs: Outputs) -> list[EventHandler]:
    """The handlers that derive a run's outputs, in order: the history first, so the report shows this run in its trends."""
    from interlock.history import HistoryRecorder
    from interlock.junit import JUnitWriter
    from interlock.report import ReportWriter
    from interlock.summary import StepSummaryWriter

    return [HistoryRecorder(outputs), ReportWriter(outputs), JUnitWriter(outputs), StepSummaryWriter(outputs)]


def _redacting(ctx: typer.Context, loaded: config_mod.Loaded) -> EventStream:
    """The stream of a command that edits or reads a run's folder: redacted with the secrets of the chosen environment."""
    opts = _options(ctx)
    opts.redactor = runspec.build(loaded, opts.env_name(loaded), artifacts=opts.artifacts_dir(loaded)).redactor
    return _stream(ctx)


def invocation() -> str:
    """The command as typed, for the run ledger (its secrets are masked when the line is written)."""
    return shlex.join(["interlock", *sys.argv[1:]])


EnvOpt = Annotated[Optional[str], typer.Option("--env", help="Environment name from interlock.toml (default: integration).")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", help="Also write the report to this path (the protocol's --output).")]


def _print_version(value: bool) -> None:
    """Eager, so `interlock --version` works without a command (a group's own callback never runs without one)."""
    if value:
        typer.echo(f"interlock {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option("--config", help="Path to interlock.toml.")] = None,
    artifacts: Annotated[Optional[Path], typer.Option("--artifacts", help="Artifact folder (default .artifacts/integration).")] = None,
    env: EnvOpt = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per event per line.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.", is_eager=True, callback=_print_version)] = False,
) -> None:
    """interlock runs PROTOCOL-9 against a live system and seals the evidence."""
    opts = _options(ctx)
    opts.config, opts.artifacts, opts.env, opts.json = config, artifacts, env, json_lines
    opts.renderer = JsonLines() if json_lines else ConsoleRenderer()


def _copy_output(source: Path, output: Path | None) -> None:
    if output is not None and output.resolve() != source.resolve() and source.exists():
        from interlock.files import atomic_write

        atomic_write(output, source.read_bytes())


@app.command()
def run(
    ctx: typer.Context,
    env: EnvOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the halted or killed run (a killed one from the step it was in).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Answer the protocol's yes/no prompts with yes.")] = False,
) -> None:
    """Run all four phases and gates, then record the run and write the report."""
    from interlock.history import Outputs

    with Outputs(_options(ctx).loaded(), tolerant=True) as outputs:  # history, report, JUnit and summary listen to the run's events
        code = _engine(ctx, env, yes, handlers=_outputs(outputs)).run(resume=resume)
    raise typer.Exit(code)


def _single(ctx: typer.Context, step_ids: list[str], env: str | None = None, yes: bool = False, **decided: Any) -> int:
    return _engine(ctx, env, yes, **decided).run_steps(step_ids)


@app.command()
def scope(ctx: typer.Context, env: EnvOpt = None) -> None:
    """1.1 Reconcile the integration scope matrix."""
    raise typer.Exit(_single(ctx, ["1.1"], env))


@app.command("env")
def env_command(ctx: typer.Context, env: EnvOpt = None, output: OutputOpt = None) -> None:
    """1.2 Validate the integration environment."""
    engine = _engine(ctx, env)
    code = engine.run_steps(["1.2"])
    _copy_output(engine.published / ENVIRONMENT_REPORT.filename, output)
    raise typer.Exit(code)


@app.command()
def data(ctx: typer.Context, env: EnvOpt = None) -> None:
    """1.3 Update the test data inventory."""
    raise typer.Exit(_single(ctx, ["1.3"], env))


@app.command()
def plan(ctx: typer.Context, env: EnvOpt = None) -> None:
    """2.1 Write the integration test plan."""
    raise typer.Exit(_single(ctx, ["2.1"], env))


@app.command()
def contracts(
    ctx: typer.Context,
    env: EnvOpt = None,
    output: OutputOpt = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Rerun just this item or contract id (repeatable), e.g. 'orders->catalog: a request for product 1'. The results are marked filtered and fail Gate 2.")] = None,
) -> None:
    """2.2 Verify every contract against the running system."""
    engine = _engine(ctx, env, only=only or [])
    code = engine.run_steps(["2.2"])
    _copy_output(engine.published / CONTRACT_RESULTS.filename, output)
    raise typer.Exit(code)


@app.command()
def observe(ctx: typer.Context, env: EnvOpt = None) -> None:
    """2.3 Record observability readiness of every service."""
    raise typer.Exit(_single(ctx, ["2.3"], env))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(
    ctx: typer.Context,
    env: EnvOpt = None,
    last_failed: Annotated[bool, typer.Option("--last-failed", help="Rerun only the failures of the previous run (a filtered run: not Gate 3 evidence).")] = False,
    shard: Annotated[Optional[str], typer.Option("--shard", metavar="K/N", help="Run shard K of N (writes test-execution-report.shard-K-of-N.json; see `interlock merge`).")] = None,
    maxfail: Annotated[Optional[int], typer.Option("--maxfail", min=1, help="Stop after N failures (off by default, so the defect log is complete).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Answer the DEFECT REVIEW prompt with yes.")] = False,
) -> None:
    """3.1 Run the integration suite and 3.2 log its failures as defects (arguments after -- go to pytest)."""
    from interlock import execution
    from interlock.events import Notice
    from interlock.shards import Shard

    args = list(ctx.args)
    part: Shard | None = None
    if shard is not None:
        if last_failed:
            raise UsageError(Problem("--shard", "--shard splits the whole suite; it cannot be combined with --last-failed"))
        try:
            part = Shard.parse(shard)
        except ValueError as exc:
            raise UsageError(Problem("--shard", str(exc))) from None
        args += [execution.SHARD_OPTION, str(part)]  # pytest's side of it: interlock's plugin splits the suite
    if maxfail is not None:
        args.append(f"--maxfail={maxfail}")
    if last_failed:
        opts = _options(ctx)
        targets = execution.last_failed(ArtifactDir(opts.artifacts_dir(opts.loaded())))
        if not targets:
            _stream(ctx)(Notice("3.1", f"--last-failed: the previous run ({execution.REPORT}) has no failures; nothing to rerun"))
            raise typer.Exit(ExitCode.OK)
        args += targets
    raise typer.Exit(_single(ctx, ["3.1", "3.2"], env, yes, pytest_args=args, last_failed=last_failed, shard=part))


@app.command()
def regress(ctx: typer.Context, env: EnvOpt = None) -> None:
    """3.3 Rerun the tests behind resolved and mitigated defects, and their neighbours, to tell fixed from flaky."""
    raise typer.Exit(_single(ctx, ["3.3"], env))


@app.command()
def merge(
    ctx: typer.Context,
    dirs: Annotated[list[Path], typer.Argument(metavar="DIR...", help="Folders holding shard artifacts (test-execution-report.shard-K-of-N.json, defect-log.shard-K-of-N.csv).")],
) -> None:
    """Merge the shards of `interlock test --shard K/N` into one test-execution-report.json and one defect-log.csv."""
    from interlock.merge import merge_shards

    opts = _options(ctx)
    loaded = opts.loaded()
    outcome = merge_shards(loaded, [d.resolve() for d in dirs], opts.artifacts_dir(loaded), _redacting(ctx, loaded), command=invocation())
    raise typer.Exit(ExitCode.OK if outcome.status == StepStatus.PASS else ExitCode.FAILED)


@app.command()
def bundle(ctx: typer.Context, env: EnvOpt = None) -> None:
    """4.1 Write the manifest and INTEGRATION-EVIDENCE.zip."""
    raise typer.Exit(_single(ctx, ["4.1"], env))


@app.command()
def signoff(
    ctx: typer.Context,
    approver: Annotated[Optional[str], typer.Option("--approver", help="Who approves (default: [signoff] approver).")] = None,
    key: Annotated[Optional[Path], typer.Option("--key", help="Approver's Ed25519 private key (default: [signoff] key).")] = None,
    env: EnvOpt = None,
    yes: Annotated[bool, typer.Option("--yes")] = False,
) -> None:
    """4.2 Record the signed integration sign-off."""
    raise typer.Exit(_single(ctx, ["4.2"], env, yes, approver=approver, key=key))


@app.command()
def recommend(ctx: typer.Context, env: EnvOpt = None) -> None:
    """4.3 Publish forward recommendations."""
    raise typer.Exit(_single(ctx, ["4.3"], env))


@app.command()
def gates(ctx: typer.Context) -> None:
    """Evaluate the four gates from the artifacts present; write gate-results.json."""
    opts = _options(ctx)
    loaded = opts.loaded()
    document = gate_results(ArtifactDir(opts.artifacts_dir(loaded)), loaded)
    from interlock.events import GateEvaluated
    from interlock.gates import failures, relaxed_lines

    emit = _stream(ctx)
    for gate in document["gates"]:
        emit(GateEvaluated(gate["id"], gate["name"], gate["status"], failures(gate), relaxed_lines(document, gate)))
    raise typer.Exit(ExitCode.OK if document["status"] == GateStatus.PASS else ExitCode.FAILED)


@app.command()
def verify(
    ctx: typer.Context,
    zip_path: Annotated[Path, typer.Argument(metavar="ZIP", help=BUNDLE.filename)],
    pubkey: Annotated[Optional[Path], typer.Option("--pubkey", help="Approver's public key (default: [signoff] pubkey of the config).")] = None,
) -> None:
    """Verify a bundle offline: every hash, no missing or extra entry, the signature."""
    from datetime import datetime, timezone

    from interlock.events import Verified
    from interlock.evidence import verify_bundle
    from interlock.evidence.approval import approval, describe

    opts = _options(ctx)
    if not zip_path.is_file():
        raise UsageError(Problem(str(zip_path), "no such file; give the path of INTEGRATION-EVIDENCE.zip"))
    if pubkey is None:
        try:
            loaded = opts.loaded()
        except InterlockError:
            loaded = None
        if loaded is None or not loaded.config.signoff.pubkey:
            raise UsageError(Problem(str(zip_path), "no public key: pass --pubkey FILE (or set [signoff] pubkey in interlock.toml)"))
        pubkey = loaded.resolve(loaded.config.signoff.pubkey)
    try:
        report = verify_bundle(zip_path, pubkey)
    except (OSError, ValueError) as exc:
        raise UsageError(Problem(str(zip_path), f"cannot verify: {exc}; check the bundle and key paths")) from None
    found = approval(report, datetime.now(timezone.utc)) if report.ok else None  # who approved what: only for an intact bundle
    more = [f"... and {report.omitted} more problems"] if report.omitted else []
    if report.ok:  # a verified signature always carries a predicate, so `found` names who approved
        lines = describe(str(zip_path), found) if found else [f"OK: {zip_path} is intact and validly signed"]
    else:
        lines = [f"FAIL: {problem.entry}: {problem.message}" for problem in report.problems] + more
    _stream(ctx)(Verified(str(zip_path), report.ok, [str(p) for p in report.problems] + more, report.problem_count, found.to_json() if found else None, lines))
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@app.command()
def report(ctx: typer.Context) -> None:
    """Record the run in the history store; write the HTML report, JUnit XML and the CI step summary."""
    from interlock.events import RunPublished
    from interlock.history import Outputs

    opts = _options(ctx)
    loaded = opts.loaded()
    with Outputs(loaded, tolerant=False) as outputs:  # the handlers a run has, on the folder it published
        _stream(ctx, _outputs(outputs))(RunPublished(str(opts.artifacts_dir(loaded))))


@app.command("schema")
def schema_command(name: Annotated[Optional[str], typer.Argument(help="Artifact or input name, e.g. gate-results, feature-list, interlock.toml")] = None) -> None:
    """Print the JSON Schema of a JSON artifact, of interlock.toml or of an input document (list them without NAME)."""
    from interlock.reference import document_names, document_schema

    if name is None:
        typer.echo("\n".join([*schema_names(), *document_names()]))
        return
    found = document_schema(name)
    if found is None and name.removesuffix(".json") not in schema_names():
        known = ", ".join([*schema_names(), *document_names()])
        raise UsageError(Problem("interlock schema", f"no schema named {name!r}; known: {known}"))
    typer.echo(json.dumps(schema(name) if found is None else found, indent=2))


@config_app.command("schema")
def config_schema(
    ctx: typer.Context,
    output: Annotated[Optional[Path], typer.Option("--output", help="Write the schema to this file (e.g. interlock.schema.json) instead of printing it.")] = None,
) -> None:
    """Print the JSON Schema of interlock.toml: every key with its type, default, description and an example."""
    from interlock.events import FileWritten
    from interlock.files import atomic_write
    from interlock.reference import schema_text

    if output is None:
        typer.echo(schema_text(), nl=False)
        return
    atomic_write(output, schema_text().encode("utf-8"))
    _stream(ctx)(FileWritten("config schema", str(output)))


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Report every problem of interlock.toml, and of the documents it names, with file, line and key."""
    from interlock.errors import ConfigError
    from interlock.events import ConfigChecked, Notice
    from interlock.inputs import consumer_notes, document_problems

    opts = _options(ctx)
    loaded = opts.loaded()
    problems = document_problems(loaded)
    if problems:
        raise ConfigError(problems)
    for note in consumer_notes(loaded):
        _stream(ctx)(Notice("config", note))
    _stream(ctx)(ConfigChecked(str(loaded.path), len(loaded.config.services), len(loaded.config.environments)))


@app.command()
def keygen(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Private key path; the public key is written beside it with .pub.")] = Path(".interlock/keys/signoff.key"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key.")] = False,
) -> None:
    """Write an Ed25519 key pair for sign-offs."""
    from interlock.events import KeyGenerated
    from interlock.evidence import generate_keypair

    public = out.with_suffix(".pub")
    if out.exists() and not force:
        raise UsageError(Problem(str(out), "a key already exists here; pass --force to replace it"))
    out.parent.mkdir(parents=True, exist_ok=True)
    keyid = generate_keypair(out, public)
    _stream(ctx)(KeyGenerated(str(out), str(public), keyid))


@app.command()
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Ask nothing: take every default, each stated in the output.")] = False,
) -> None:
    """Read this repository (pacts, API documents, compose file, tests) and write interlock.toml, what it points at, the shims and .gitignore."""
    from interlock.scaffold import scaffold

    asking = not yes and sys.stdin.isatty() and not _options(ctx).json
    scaffold(Path.cwd(), _stream(ctx), force=force, ask=_ask if asking else None)


def _ask(question: str, default: str) -> str:
    """One question of `interlock init` on the terminal."""
    return str(typer.prompt(question, default=default, show_default=bool(default)))


def _defect_log(ctx: typer.Context) -> tuple[DefectLog, EventStream]:
    """The defect log and the command's stream (a defect's title or message may quote a secret)."""
    opts = _options(ctx)
    loaded = opts.loaded()
    return DefectLog.at(opts.artifacts_dir(loaded)), _redacting(ctx, loaded)


@defects_app.command("list")
def defects_list(ctx: typer.Context, status: Annotated[Optional[str], typer.Option("--status")] = None) -> None:
    """List defects."""
    from interlock.defects import STATUSES
    from interlock.events import DefectListed, DefectsCounted

    if status is not None and status not in STATUSES:
        raise UsageError(Problem("--status", f"{status!r} is not a defect status; use one of {', '.join(STATUSES)}"))
    log, emit = _defect_log(ctx)
    rows = log.read()
    shown = [row for row in rows if status is None or row["status"] == status]
    for row in shown:
        emit(DefectListed(row["id"], row["severity"], row["status"], row["owner"], row["title"]))
    emit(DefectsCounted(len(shown), len(rows), status, log.path.name))


@defects_app.command("show")
def defects_show(ctx: typer.Context, defect_id: str) -> None:
    """Show one defect, every field."""
    from interlock.defects import find
    from interlock.events import DefectShown

    log, emit = _defect_log(ctx)
    emit(DefectShown(defect_id, dict(find(log.read(), defect_id))))


def _update(ctx: typer.Context, defect_id: str, by: str | None, reason: str, **changes: str) -> None:
    """Record a human decision on a defect (`DefectLog.edit`: the published log and a killed run's staging copy), and ledger who and why."""
    from interlock.events import DefectUpdated

    opts = _options(ctx)
    log, emit = _defect_log(ctx)
    loaded = opts.loaded()
    who = by or ledger.whoami()
    why = f"{defect_id}: " + ", ".join(f"{k}={v}" for k, v in changes.items()) + (f" ({reason})" if reason else "")

    def edit(copy: DefectLog, rows: list[dict[str, str]]) -> None:
        before = ledger.tracked(copy.folder.root)
        copy.write(rows)
        state = RunState.load(copy.folder.root)
        ledger.record(copy.folder.root, before, step="3.2", kind="edit", command=invocation(), by=who, reason=why, run_id=state.run_id if state else "",
                      identity=identity.current(loaded.root, log.folder.root), config=ledger.config_digest(loaded.path), redact=opts.redactor.data)

    log.edit(defect_id, changes, edit)
    emit(DefectUpdated(defect_id, dict(changes)))


ByOpt = Annotated[Optional[str], typer.Option("--by", help="Who decides (recorded in the run ledger; default: the OS user).")]


@defects_app.command("mitigate")
def defects_mitigate(ctx: typer.Context, defect_id: str, plan: Annotated[str, typer.Option("--plan", help="The remediation plan.")], ticket: Annotated[str, typer.Option("--ticket")] = "",
                     by: ByOpt = None) -> None:
    """Record a remediation plan (clears the protocol's defect-review halt)."""
    _update(ctx, defect_id, by, plan, status="mitigated", mitigation=plan, **({"ticket": ticket} if ticket else {}))


@defects_app.command("resolve")
def defects_resolve(ctx: typer.Context, defect_id: str, note: Annotated[str, typer.Option("--note")] = "", by: ByOpt = None) -> None:
    """Mark a defect resolved; `interlock regress` must then rerun it green."""
    _update(ctx, defect_id, by, note, status="resolved", regression="", **({"mitigation": note} if note else {}))


@defects_app.command("waive")
def defects_waive(
    ctx: typer.Context,
    defect_id: str,
    approver: Annotated[str, typer.Option("--approver")],
    reason: Annotated[str, typer.Option("--reason")],
    expires: Annotated[str, typer.Option("--expires", help="UTC expiry, e.g. 2027-01-31T00:00:00Z")],
    ticket: Annotated[str, typer.Option("--ticket", help="The tracking ticket of the approval.")] = "",
    by: ByOpt = None,
) -> None:
    """Waive a defect with an approver, a reason and an expiry (Gate 3 counts it as waived until then)."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(Problem("--expires", f"{expires!r} is not an ISO-8601 time; use e.g. 2027-01-31T00:00:00Z")) from None
    if when.tzinfo is None:
        raise UsageError(Problem("--expires", "give the expiry in UTC, ending in Z"))
    if when <= datetime.now(when.tzinfo):
        raise UsageError(Problem("--expires", f"{expires} is not in the future: an expired waiver counts as absent; give a later UTC time"))
    for option, value in (("--approver", approver), ("--reason", reason)):
        if not value.strip():
            raise UsageError(Problem(option, "must not be empty: a waiver names who approved it and why"))
    _update(ctx, defect_id, by or approver, reason, status="waived", waiver_approver=approver, waiver_reason=reason, waiver_expires=expires, **({"ticket": ticket} if ticket else {}))


def _history_store(ctx: typer.Context) -> tuple[Any, EventStream]:
    """The history store of this config (its URL may hold a password: the stream is redacted) and the command's stream."""
    from interlock.store import open_store

    opts = _options(ctx)
    loaded = opts.loaded()
    emit = _redacting(ctx, loaded)
    return open_store(loaded.config.store.url, loaded.root), emit


@history_app.command("list")
def history_list(ctx: typer.Context, limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 20) -> None:
    """List recorded runs, newest first: id, start, environment, status, tests passed, gates and the code's identity."""
    from interlock.events import HistoryListed

    store, emit = _history_store(ctx)
    with store:
        for run in store.runs(limit, environment=_options(ctx).env):
            emit(HistoryListed(run.run_id, run.environment, run.started_at, run.git_commit, run.status,
                               f"{run.tests_passed}/{run.tests_total}", {str(g): s for g, s in run.gates}))


@history_app.command("forget")
def history_forget(ctx: typer.Context, run_ids: Annotated[list[str], typer.Argument(help="Run ids as `interlock history list` shows them.")]) -> None:
    """Remove runs from the history (a run recorded by mistake, or on a broken machine): flakiness and trends no longer count them."""
    from interlock.events import HistoryForgotten

    store, emit = _history_store(ctx)
    with store:
        unknown = [rid for rid in run_ids if store.run(rid) is None]
        if unknown:
            raise UsageError(Problem(", ".join(unknown), f"no such run{'s' if len(unknown) > 1 else ''} in the history; nothing forgotten; see `interlock history list`"))
        emit(HistoryForgotten(store.forget(run_ids)))


def _older_than(value: str) -> Any:
    """`30d`, `12h`, `2w` before now, or an ISO-8601 date or time (UTC when it names no zone)."""
    import re
    from datetime import UTC, datetime, timedelta

    found = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", value)
    if found:
        hours = int(found[1]) * {"h": 1, "d": 24, "w": 168}[found[2]]
        return datetime.now(UTC) - timedelta(hours=hours)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(Problem("--older-than", f"{value!r} is neither an age (30d, 12h, 2w) nor an ISO-8601 date; use e.g. 30d or 2026-11-01")) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@history_app.command("prune")
def history_prune(
    ctx: typer.Context,
    older_than: Annotated[str | None, typer.Option("--older-than", help="Forget runs started before this: an age (30d, 12h, 2w) or an ISO-8601 date.")] = None,
    keep_last: Annotated[int | None, typer.Option("--keep-last", min=0, help="Forget all but the newest N runs.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be forgotten.")] = False,
) -> None:
    """Forget old runs (with `--env`, of that environment only): older than an age or date, and/or beyond the newest N."""
    from interlock.events import HistoryForgotten

    if older_than is None and keep_last is None:
        raise UsageError(Problem("interlock history prune", "say what to forget: --older-than 30d and/or --keep-last N"))
    cutoff = _older_than(older_than) if older_than is not None else None
    store, emit = _history_store(ctx)
    with store:
        env = _options(ctx).env
        if dry_run:
            emit(HistoryForgotten(store.prunable(older_than=cutoff, keep_last=keep_last, environment=env), dry_run=True))
        else:
            emit(HistoryForgotten(store.prune(older_than=cutoff, keep_last=keep_last, environment=env)))


GLOBAL_FLAGS, GLOBAL_VALUED = {"--json"}, {"--config", "--artifacts"}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Accept global options after the command too (`interlock run --json`), as users type them."""
    head, rest = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        name = arg.split("=", 1)[0]
        if arg in GLOBAL_FLAGS or (name in GLOBAL_VALUED and "=" in arg):
            head.append(arg)
        elif arg in GLOBAL_VALUED:
            head += [arg, next(args, "")]
        else:
            rest.append(arg)
    return head + rest


def main() -> None:
    """Entry point: every error becomes one line and an exit code, never a traceback."""
    gc.freeze()  # the imports' objects live as long as the command: collections (a large report makes many) need not walk them
    code: int = ExitCode.OK
    opts = Options()
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="interlock", obj=opts)  # standalone: usage errors exit 2
    except InterlockError as exc:
        for problem in getattr(exc, "problems", [Problem("interlock", str(exc))]):
            print(f"interlock: error: {opts.redactor.text(str(problem))}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interlock: interrupted; artifacts of finished steps are kept", file=sys.stderr)
        code = 130
    except OSError as exc:  # a full disk, a size limit, a read-only folder: the machine's state, not a bug to report
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"interlock: error: {where}{exc.strerror or exc}; free disk space or fix permissions, then rerun (artifacts already written are left as they were)", file=sys.stderr)
        code = ExitCode.FAILED
    except Exception as exc:  # noqa: BLE001 - the boundary: report, never a bare traceback
        from interlock.checks import describe

        print(f"interlock: internal error: {opts.redactor.text(describe(exc))}; please report it with the command you ran", file=sys.stderr)
        code = ExitCode.FAILED
    finally:
        opts.renderer.close()
    sys.exit(int(code))
