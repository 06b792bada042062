"""The `interlock` command: turns options into an engine call and renders its events.

The CLI never decides a verdict; it maps the engine's result to an exit code
and turns every InterlockError into one clear line per problem (exit 2 for
input, 1 for a failed gate or verification, 3 for a halt).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from interlock import __version__
from interlock import config as config_mod
from interlock import identity, ledger, secrets
from interlock.artifacts import DEFAULT_DIR, ArtifactDir, schema, schema_names, writer_lock
from interlock.engine import Engine, RunState, gate_results, staging_folders
from interlock.errors import ExitCode, InterlockError, Problem, UsageError
from interlock.render import ConsoleRenderer, JsonLines

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Integration validation that proves itself (PROTOCOL-9).")
defects_app = typer.Typer(no_args_is_help=True, help="Manage the defect log (protocol step 3.2).")
config_app = typer.Typer(no_args_is_help=True, help="Check interlock.toml.")
app.add_typer(defects_app, name="defects")
app.add_typer(config_app, name="config")


@dataclass
class Options:
    """Global options, shared by every command."""

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


OPTS = Options()


def _confirm_with(yes: bool) -> Callable[[str], tuple[bool, str]]:
    def confirm(kind: str) -> tuple[bool, str]:
        if yes:
            return True, "--yes"
        if not sys.stdin.isatty() or OPTS.json:
            return False, "declined: no terminal (pass --yes to answer yes)"
        return typer.confirm("", default=False), "terminal"

    return confirm


def _engine(env: str | None = None, yes: bool = False, pytest_args: list[str] | None = None) -> Engine:
    loaded = OPTS.loaded()
    name = OPTS.env_name(loaded, env)
    OPTS.redactor = secrets.for_environment(loaded, name)  # no event, console line or error message shows a secret
    return Engine(loaded, name, OPTS.artifacts_dir(loaded), OPTS.redactor.emitter(OPTS.renderer), _confirm_with(yes), pytest_args, command=invocation())


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
    config: Annotated[Optional[Path], typer.Option("--config", help="Path to interlock.toml.")] = None,
    artifacts: Annotated[Optional[Path], typer.Option("--artifacts", help="Artifact folder (default .artifacts/integration).")] = None,
    env: EnvOpt = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per event per line.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.", is_eager=True, callback=_print_version)] = False,
) -> None:
    """interlock runs PROTOCOL-9 against a live system and seals the evidence."""
    OPTS.config, OPTS.artifacts, OPTS.env, OPTS.json = config, artifacts, env, json_lines
    OPTS.renderer = JsonLines() if json_lines else ConsoleRenderer()


def _copy_output(source: Path, output: Path | None) -> None:
    if output is not None and output.resolve() != source.resolve() and source.exists():
        from interlock.files import atomic_write

        atomic_write(output, source.read_bytes())


@app.command()
def run(
    env: EnvOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the halted or killed run (a killed one from the step it was in).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Answer the protocol's yes/no prompts with yes.")] = False,
) -> None:
    """Run all four phases and gates, then record the run and write the report."""
    from interlock.events import Notice
    from interlock.history import publish

    engine = _engine(env, yes)
    code = engine.run(resume=resume)
    try:
        for path in publish(engine.loaded, engine.published):
            OPTS.renderer(Notice("report", f"wrote {path}"))
    except InterlockError as exc:
        OPTS.renderer(Notice("report", f"run history not recorded: {exc}"))
    raise typer.Exit(code)


def _single(step_ids: list[str], env: str | None = None, pytest_args: list[str] | None = None, yes: bool = False) -> int:
    return _engine(env, yes, pytest_args).run_steps(step_ids)


@app.command()
def scope(env: EnvOpt = None) -> None:
    """1.1 Reconcile the integration scope matrix."""
    raise typer.Exit(_single(["1.1"], env))


@app.command("env")
def env_command(env: EnvOpt = None, output: OutputOpt = None) -> None:
    """1.2 Validate the integration environment."""
    engine = _engine(env)
    code = engine.run_steps(["1.2"])
    _copy_output(engine.published / "environment-validation-report.json", output)
    raise typer.Exit(code)


@app.command()
def data(env: EnvOpt = None) -> None:
    """1.3 Update the test data inventory."""
    raise typer.Exit(_single(["1.3"], env))


@app.command()
def plan(env: EnvOpt = None) -> None:
    """2.1 Write the integration test plan."""
    raise typer.Exit(_single(["2.1"], env))


@app.command()
def contracts(
    env: EnvOpt = None,
    output: OutputOpt = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Rerun just this item or contract id (repeatable), e.g. 'orders->catalog: a request for product 1'. The results are marked filtered and fail Gate 2.")] = None,
) -> None:
    """2.2 Verify every contract against the running system."""
    from interlock.phases import contracts as contracts_step

    engine = _engine(env)
    with contracts_step.only(only or []):
        code = engine.run_steps(["2.2"])
    _copy_output(engine.published / "contract-validation-results.json", output)
    raise typer.Exit(code)


@app.command()
def observe(env: EnvOpt = None) -> None:
    """2.3 Record observability readiness of every service."""
    raise typer.Exit(_single(["2.3"], env))


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
    from interlock import execution, selection
    from interlock.events import Notice
    from interlock.shards import Shard

    args = list(ctx.args)
    if shard is not None:
        if last_failed:
            raise UsageError(Problem("--shard", "--shard splits the whole suite; it cannot be combined with --last-failed"))
        try:
            args += [execution.SHARD_OPTION, str(Shard.parse(shard))]
        except ValueError as exc:
            raise UsageError(Problem("--shard", str(exc))) from None
    if maxfail is not None:
        args.append(f"--maxfail={maxfail}")
    if last_failed:
        loaded = OPTS.loaded()
        targets = execution.last_failed(ArtifactDir(OPTS.artifacts_dir(loaded)))
        if not targets:
            OPTS.renderer(Notice("3.1", f"--last-failed: the previous run ({execution.REPORT}) has no failures; nothing to rerun"))
            raise typer.Exit(ExitCode.OK)
        args += [selection.LAST_FAILED, *targets]
    raise typer.Exit(_single(["3.1", "3.2"], env, args, yes))


@app.command()
def regress(env: EnvOpt = None) -> None:
    """3.3 Rerun the tests behind resolved and mitigated defects, and their neighbours, to tell fixed from flaky."""
    raise typer.Exit(_single(["3.3"], env))


@app.command()
def merge(
    dirs: Annotated[list[Path], typer.Argument(metavar="DIR...", help="Folders holding shard artifacts (test-execution-report.shard-K-of-N.json, defect-log.shard-K-of-N.csv).")],
) -> None:
    """Merge the shards of `interlock test --shard K/N` into one test-execution-report.json and one defect-log.csv."""
    from interlock.merge import merge_shards

    loaded = OPTS.loaded()
    outcome = merge_shards(loaded, [d.resolve() for d in dirs], OPTS.artifacts_dir(loaded), OPTS.renderer, command=invocation())
    raise typer.Exit(ExitCode.OK if outcome.status == "pass" else ExitCode.FAILED)


@app.command()
def bundle(env: EnvOpt = None) -> None:
    """4.1 Write the manifest and INTEGRATION-EVIDENCE.zip."""
    raise typer.Exit(_single(["4.1"], env))


@app.command()
def signoff(
    approver: Annotated[Optional[str], typer.Option("--approver", help="Who approves (default: [signoff] approver).")] = None,
    key: Annotated[Optional[Path], typer.Option("--key", help="Approver's Ed25519 private key (default: [signoff] key).")] = None,
    env: EnvOpt = None,
    yes: Annotated[bool, typer.Option("--yes")] = False,
) -> None:
    """4.2 Record the signed integration sign-off."""
    from interlock.phases import signoff as signoff_step

    signoff_step.OVERRIDES.update({k: v for k, v in {"approver": approver, "key": key}.items() if v is not None})
    raise typer.Exit(_single(["4.2"], env, yes=yes))


@app.command()
def recommend(env: EnvOpt = None) -> None:
    """4.3 Publish forward recommendations."""
    raise typer.Exit(_single(["4.3"], env))


@app.command()
def gates() -> None:
    """Evaluate the four gates from the artifacts present; write gate-results.json."""
    loaded = OPTS.loaded()
    document = gate_results(ArtifactDir(OPTS.artifacts_dir(loaded)), loaded)
    from interlock.events import GateEvaluated
    from interlock.gates import failures, relaxed_lines

    for gate in document["gates"]:
        OPTS.renderer(GateEvaluated(gate["id"], gate["name"], gate["status"], failures(gate), relaxed_lines(document, gate)))
    raise typer.Exit(ExitCode.OK if document["status"] == "pass" else ExitCode.FAILED)


@app.command()
def verify(
    zip_path: Annotated[Path, typer.Argument(metavar="ZIP", help="INTEGRATION-EVIDENCE.zip")],
    pubkey: Annotated[Optional[Path], typer.Option("--pubkey", help="Approver's public key (default: [signoff] pubkey of the config).")] = None,
) -> None:
    """Verify a bundle offline: every hash, no missing or extra entry, the signature."""
    from datetime import datetime, timezone

    from interlock.evidence import verify_bundle
    from interlock.evidence.approval import approval, describe

    if not zip_path.is_file():
        raise UsageError(Problem(str(zip_path), "no such file; give the path of INTEGRATION-EVIDENCE.zip"))
    if pubkey is None:
        try:
            loaded = OPTS.loaded()
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
    if OPTS.json:
        typer.echo(json.dumps({"event": "verified", "ok": report.ok, "problems": [f"{p.entry}: {p.message}" for p in report.problems] + more,
                               "problem_count": report.problem_count, "approval": found.to_json() if found else None}))
    elif report.ok:  # a verified signature always carries a predicate, so `found` names who approved
        typer.echo("\n".join(describe(str(zip_path), found)) if found else f"OK: {zip_path} is intact and validly signed")
    else:
        typer.echo("\n".join([f"FAIL: {problem.entry}: {problem.message}" for problem in report.problems] + more))
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@app.command()
def report() -> None:
    """Record the run in the history store; write the HTML report, JUnit XML and the CI step summary."""
    from interlock.history import publish

    loaded = OPTS.loaded()
    for path in publish(loaded, OPTS.artifacts_dir(loaded)):
        typer.echo(f"wrote {path}")


@app.command("schema")
def schema_command(name: Annotated[Optional[str], typer.Argument(help="Artifact name, e.g. gate-results")] = None) -> None:
    """Print the JSON Schema of a JSON artifact (list them without NAME)."""
    if name is None:
        typer.echo("\n".join(schema_names()))
        return
    typer.echo(json.dumps(schema(name), indent=2))


@config_app.command("check")
def config_check() -> None:
    """Report every problem of interlock.toml, and of the documents it names, with file, line and key."""
    from interlock.errors import ConfigError
    from interlock.inputs import document_problems

    loaded = OPTS.loaded()
    problems = document_problems(loaded)
    if problems:
        raise ConfigError(problems)
    typer.echo(f"OK: {loaded.path} ({len(loaded.config.services)} services, {len(loaded.config.environments)} environments)")


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Private key path; the public key is written beside it with .pub.")] = Path(".interlock/keys/signoff.key"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key.")] = False,
) -> None:
    """Write an Ed25519 key pair for sign-offs."""
    from interlock.evidence import generate_keypair

    public = out.with_suffix(".pub")
    if out.exists() and not force:
        raise UsageError(Problem(str(out), "a key already exists here; pass --force to replace it"))
    out.parent.mkdir(parents=True, exist_ok=True)
    keyid = generate_keypair(out, public)
    typer.echo(f"wrote {out} (private, 0600) and {public}; keyid {keyid}")


@app.command()
def init(force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False) -> None:
    """Write interlock.toml and the protocol's script shims into this folder."""
    from interlock.scaffold import scaffold

    for path in scaffold(Path.cwd(), force=force):
        typer.echo(f"wrote {path}")


def _defects_context() -> tuple[ArtifactDir, Path]:
    loaded = OPTS.loaded()
    folder = ArtifactDir(OPTS.artifacts_dir(loaded))
    return folder, folder.path("defect-log.csv")


@defects_app.command("list")
def defects_list(status: Annotated[Optional[str], typer.Option("--status")] = None) -> None:
    """List defects."""
    from interlock.defects import read_log

    _, path = _defects_context()
    for row in read_log(path):
        if status is None or row["status"] == status:
            typer.echo(f"{row['id']}  {row['severity']:<8} {row['status']:<9} {row['owner']:<16} {row['title']}")


@defects_app.command("show")
def defects_show(defect_id: str) -> None:
    """Show one defect, every field."""
    from interlock.defects import find, read_log

    _, path = _defects_context()
    for key, value in find(read_log(path), defect_id).items():
        typer.echo(f"{key}: {value}")


def _update(defect_id: str, by: str | None, reason: str, **changes: str) -> None:
    """Record a human decision on a defect, in the published log and in a killed run's staging copy, and ledger who and why.

    `interlock run --resume` continues that copy and then publishes it, so an
    edit made only to the published log would be lost. Under the folder's
    writer lock: a live run would publish over the edit just the same.
    """
    from interlock.defects import COLUMNS, find, read_log

    folder, path = _defects_context()
    loaded = OPTS.loaded()
    who = by or ledger.whoami()
    why = f"{defect_id}: " + ", ".join(f"{k}={v}" for k, v in changes.items()) + (f" ({reason})" if reason else "")

    def edit(copy: ArtifactDir, rows: list[dict[str, str]]) -> None:
        before = ledger.tracked(copy.root)
        copy.write_csv("defect-log.csv", COLUMNS, rows)
        state = RunState.load(copy.root)
        ledger.record(copy.root, before, step="3.2", kind="edit", command=invocation(), by=who, reason=why, run_id=state.run_id if state else "",
                      identity=identity.current(loaded.root, folder.root), config=ledger.config_digest(loaded.path), redact=OPTS.redactor.data)

    with writer_lock(folder.root):
        rows = read_log(path)
        target = find(rows, defect_id)
        target.update(changes)
        edit(folder, rows)
        for staging in staging_folders(folder.root):
            copy = ArtifactDir(staging)
            staged = read_log(copy.path("defect-log.csv")) if copy.exists("defect-log.csv") else []
            same = next((row for row in staged if row["fingerprint"] == target["fingerprint"]), None)
            if same is not None:
                same.update(changes)
                edit(copy, staged)
    typer.echo(f"{defect_id}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


ByOpt = Annotated[Optional[str], typer.Option("--by", help="Who decides (recorded in the run ledger; default: the OS user).")]


@defects_app.command("mitigate")
def defects_mitigate(defect_id: str, plan: Annotated[str, typer.Option("--plan", help="The remediation plan.")], ticket: Annotated[str, typer.Option("--ticket")] = "",
                     by: ByOpt = None) -> None:
    """Record a remediation plan (clears the protocol's defect-review halt)."""
    _update(defect_id, by, plan, status="mitigated", mitigation=plan, **({"ticket": ticket} if ticket else {}))


@defects_app.command("resolve")
def defects_resolve(defect_id: str, note: Annotated[str, typer.Option("--note")] = "", by: ByOpt = None) -> None:
    """Mark a defect resolved; `interlock regress` must then rerun it green."""
    _update(defect_id, by, note, status="resolved", regression="", **({"mitigation": note} if note else {}))


@defects_app.command("waive")
def defects_waive(
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
    _update(defect_id, by or approver, reason, status="waived", waiver_approver=approver, waiver_reason=reason, waiver_expires=expires, **({"ticket": ticket} if ticket else {}))


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
    code: int = ExitCode.OK
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="interlock")  # standalone: usage errors exit 2
    except InterlockError as exc:
        for problem in getattr(exc, "problems", [Problem("interlock", str(exc))]):
            print(f"interlock: error: {OPTS.redactor.text(str(problem))}", file=sys.stderr)
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

        print(f"interlock: internal error: {OPTS.redactor.text(describe(exc))}; please report it with the command you ran", file=sys.stderr)
        code = ExitCode.FAILED
    finally:
        OPTS.renderer.close()
    sys.exit(int(code))
