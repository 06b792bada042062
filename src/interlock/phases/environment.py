"""Step 1.2: validate the integration environment: services, stores, brokers and the baseline.

Every service, store and broker the environment declares is probed side by
side under the environment's probe timeout, and the environment is compared
with the baseline (component versions, the variables each service gets, the
values of pinned variables). Datasets with `checksum = true` have their
table's content compared with their CSV file. Everything becomes a check in
environment-validation-report.json; a failing service is a failed check, never
an exception, and no password or secret value reaches the report.
"""

from __future__ import annotations

from interlock.statuses import CheckStatus

import asyncio
import platform
import shlex
import subprocess
from collections.abc import Coroutine
from typing import Any, get_args

from interlock import baseline as bl
from interlock.artifacts import ENVIRONMENT_REPORT
from interlock.baseline_checks import RuntimeRead, compare_runtimes, compare_service_env, compare_variables, compare_versions
from interlock.brokers import KINDS
from interlock.brokers.base import server_version
from interlock.checks import Check
from interlock.children import die_with_interlock
from interlock.config import Environment, ServiceRuntime, Store
from interlock.errors import UsageError
from interlock.events import ArtifactWritten, AutomationExecuted, CheckFinished, Notice, ProtocolError
from interlock.protocol import Outcome
from interlock.phases.data import csv_content, data_rows
from interlock.probes import redact_url, run_all
from interlock.probes.http import probe_http
from interlock.probes.sql import TableContent, probe_store
from interlock.context import RunContext, utc_now
from interlock.secrets import MIN_LENGTH

REPORT = ENVIRONMENT_REPORT.filename
SCRIPT = "validate_environment.py"
Probe = Coroutine[Any, Any, Check | list[Check]]
Label = tuple[str, str, str]


def expected_contents(ctx: RunContext, store: str) -> tuple[dict[str, TableContent], list[Check]]:
    """The content each checksummed dataset of `store` must have, and a failed check for each file that cannot be read."""
    contents: dict[str, TableContent] = {}
    unreadable: list[Check] = []
    for dataset in ctx.config.datasets.values():
        if dataset.store != store or not dataset.checksum:
            continue
        try:
            contents[dataset.table] = csv_content(ctx.loaded.resolve(dataset.path), dataset.path)
        except ValueError as exc:
            unreadable.append(Check(f"{store}.checksum.{dataset.table}", "checksum", dataset.path).fail(str(exc)))
    return contents, unreadable


def service_check_id(name: str, runtime: ServiceRuntime) -> str:
    """The id of the check a service's probe reports: its health endpoint's, else its URL's."""
    return f"{name}.health" if runtime.health else f"{name}.url"


def declared_components(env: Environment) -> list[dict[str, str]]:
    """Every service, store and broker the environment declares, with the id of the check its probe reports.

    The report records them so that Gate 1 can tell a component that was never
    probed (a probe skipped, a filtered list, an edited report) from one that passed.
    """
    return ([{"name": n, "role": "service", "kind": "http", "check": service_check_id(n, r)} for n, r in env.services.items()]
            + [{"name": n, "role": "store", "kind": s.kind, "check": n} for n, s in env.stores.items()]
            + [{"name": n, "role": "broker", "kind": b.kind, "check": n} for n, b in env.brokers.items()])


async def probe_environment(ctx: RunContext, versions: dict[str, str]) -> list[Check]:
    """Probe every service, store and broker of the environment concurrently.

    Each probe's own client timeout is kept below `run_all`'s deadline so that
    blocking clients (SQLAlchemy, paho) end in their thread before the deadline.
    """
    env = ctx.env
    inner = max(0.5, env.probe_timeout * 0.8)
    probes: list[Probe] = []
    labels: list[Label] = []
    unreadable: list[Check] = []
    for name, runtime in env.services.items():
        url = runtime.health or runtime.url
        check_id = service_check_id(name, runtime)
        # A bare service URL need not serve its root; any answer short of a server error proves it is up.
        expect = (200,) if runtime.health else tuple(range(200, 500))
        probes.append(probe_http(check_id, url, timeout=inner, expect_status=expect))
        labels.append((check_id, "http", url))
    for name, store in env.stores.items():
        url = store.url
        tables = {d.table: data_rows(ctx.loaded.resolve(d.path)) for d in ctx.config.datasets.values() if d.store == name}
        contents, failed = expected_contents(ctx, name)
        unreadable += failed
        migrations = ctx.loaded.resolve(store.migrations) if store.migrations else None
        probes.append(probe_store(name, store.kind, url, timeout=inner, migrations_dir=migrations, migrations_table=store.migrations_table,
                                  version_spec=versions.get(store.kind), tables=tables, checksums=contents))
        labels.append((name, store.kind, url))
    for name, broker in env.brokers.items():
        kind = KINDS[broker.kind]
        probes.append(kind.probe(name, broker.model_dump(), versions.get(kind.component), inner))
        labels.append((name, broker.kind, url))
    probed = await run_all(probes, timeout=env.probe_timeout, labels=[(i, k, redact_url(t)) for i, k, t in labels])
    external = {service_check_id(n, r): n for n, r in env.services.items() if r.command is None}
    for check in probed:
        if check.id in external:
            check.details["owner"] = (f"not checked: interlock does not start {external[check.id]} (no `command` in environment "
                                      f"{ctx.env_name}), so it cannot tell its process from any other answering on that port")
    return probed + unreadable


def observed_versions(ctx: RunContext, probed: list[Check]) -> dict[str, str | None]:
    """The version of each component this environment uses, from the probes (None: used but not read)."""
    by_id = {c.id: c for c in probed}
    observed: dict[str, str | None] = {"python": platform.python_version()}
    used: list[tuple[str, str | None]] = [(store.kind, server_version(by_id.get(name))) for name, store in ctx.env.stores.items()]  # a store's component is its kind
    used += [(KINDS[b.kind].component, KINDS[b.kind].observed_version(by_id.get(name))) for name, b in ctx.env.brokers.items()]
    for component, version in used:
        if observed.get(component) is None:
            observed[component] = version
    return observed


def read_command(ctx: RunContext, command: list[str]) -> tuple[str | None, str]:
    """A runtime's version from a command's output (stdout and stderr: `java -version` answers on stderr), and how it was read."""
    shown = shlex.join(command)
    timeout = max(ctx.env.probe_timeout, 10.0)
    try:
        done = subprocess.run(command, cwd=ctx.loaded.root, env=ctx.base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, preexec_fn=die_with_interlock())
    except FileNotFoundError:
        return None, f"`{shown}`: {command[0]} is not installed or not on PATH"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"`{shown}`: " + (f"no answer within {timeout:g}s" if isinstance(exc, subprocess.TimeoutExpired) else str(exc))
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        return None, f"`{shown}` exited {done.returncode}: {output.strip()[:200]}"
    found = bl.version_text(output)
    return found, f"`{shown}`" if found else f"`{shown}` printed no version: {output.strip()[:200]!r}"


def read_url(ctx: RunContext, url: str, path: str | None) -> tuple[str | None, str]:
    """A runtime's version from a JSON answer at `url` (the value at dotted `path`; the whole answer without one)."""
    import httpx

    how = f"GET {redact_url(url)}" + (f" .{path}" if path else "")
    try:
        response = httpx.get(url, timeout=ctx.env.probe_timeout)
        value: Any = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"{how}: {type(exc).__name__}: {exc}"
    if value is None:
        return None, f"{how}: status {response.status_code}"
    for part in (path or "").split(".") if path else []:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None, f"{how}: no version there (found {type(value).__name__})"
    found = bl.version_text(str(value))
    return found, how if found else f"{how}: {str(value)[:80]!r} is not a version"


def runtime_reads(ctx: RunContext, baseline: bl.Baseline) -> dict[str, list[RuntimeRead]]:
    """Every baseline key that is a runtime, read for each service declaring it, else from this machine with the built-in reader.

    Python, stores and brokers are read by their probes (`observed_versions`) unless a service declares that runtime.
    A key nothing can read is a reading of None, so its check fails: `config check` refuses such a key before a run.
    """
    services = ctx.config.services
    probed = {"python", *(s.kind for s in ctx.env.stores.values()), *(KINDS[b.kind].component for b in ctx.env.brokers.values()),
              *get_args(Store.model_fields["kind"].annotation), *(KINDS[k].component for k in KINDS)}
    reads: dict[str, list[RuntimeRead]] = {}
    for component in baseline.versions:
        users = [(n, s) for n, s in services.items() if s.runtime == component]
        if not users and component in probed:
            continue
        for name, service in users or [("this machine", None)]:
            if service is not None and service.version_command:
                found = read_command(ctx, [ctx.spec.expand(part) for part in service.version_command])
            elif service is not None and service.version_url:
                found = read_url(ctx, ctx.spec.expand(service.version_url), service.version_path)
            elif component in bl.BUILTIN_READERS:
                found = read_command(ctx, list(bl.BUILTIN_READERS[component]))
            else:
                found = (None, f'no reader: give a service `runtime = "{component}"` and `version_command` or `version_url`')
            reads.setdefault(component, []).append((name, *found))
    return reads


def baseline_checks(ctx: RunContext, baseline: bl.Baseline, probed: list[Check]) -> list[Check]:
    """The environment compared with the baseline: versions (probed, and runtimes read), each service's variables, pinned values."""
    env = ctx.env
    declared = {name: set(env.vars) | set(runtime.env) for name, runtime in env.services.items()}
    reads = runtime_reads(ctx, baseline)
    observed = {k: v for k, v in observed_versions(ctx, probed).items() if k not in reads}
    return [
        *compare_versions(baseline, observed),
        *compare_runtimes(baseline, reads),
        *compare_service_env(baseline, ctx.env_name, declared),
        *compare_variables(baseline, ctx.base_env()),
    ]


def unmasked_secrets(ctx: RunContext) -> list[str]:
    """Why a variable marked secret in the config will not be masked: it is set nowhere, or too short to mask safely."""
    values = {**ctx.base_env(), **{k: v for runtime in ctx.env.services.values() for k, v in runtime.env.items()}}
    notes = []
    for name in ctx.env.secrets:
        if name not in values:
            notes.append(f"{name} is marked secret but set nowhere in this environment: nothing to mask")
        elif len(values[name].strip()) < MIN_LENGTH:
            notes.append(f"{name} is marked secret but its value is shorter than {MIN_LENGTH} characters: "
                         "it is not masked (that would mangle the evidence); use a longer secret")
    return notes


def summarize(checks: list[Check]) -> str:
    """The step's short reason: how many checks, and which failed (the first few)."""
    failed = [c.id for c in checks if not c.passed]
    if not checks:
        return "no environment check ran: declare services, stores or brokers for this environment"
    if not failed:
        return f"{len(checks)} checks, all passed"
    shown = ", ".join(failed[:6]) + (f" and {len(failed) - 6} more" if len(failed) > 6 else "")
    return f"{len(checks)} checks, {len(failed)} failed: {shown}"


def run(ctx: RunContext) -> Outcome:
    """Check the environment, write its report and emit the protocol's automation and error lines."""
    started = utc_now()
    checks = list(ctx.services.start())
    baseline: bl.Baseline | None = None
    source = ctx.config.prerequisites.environment_baseline.path
    try:
        baseline = bl.load(ctx.loaded)
    except UsageError as exc:
        checks.append(Check("baseline", "baseline", source).fail(f"cannot use the environment baseline: {exc}"))
    probed = asyncio.run(probe_environment(ctx, baseline.versions if baseline else {}))
    checks += probed
    if baseline is not None:
        checks += baseline_checks(ctx, baseline, probed)
    for check in checks:  # scrubbed here, not only when written: the events carry the reasons too
        check.target, check.reason = ctx.redactor.data(check.target), ctx.redactor.data(check.reason)
        check.details = ctx.redactor.data(check.details)
        ctx.emit(CheckFinished("1.2", check.id, check.status, check.reason))
    failed = [c for c in checks if not c.passed]
    ok = bool(checks) and not failed
    finished = utc_now()
    path = ctx.artifacts.write_json(REPORT, {
        "schema_version": 1, "generated_at": finished, "environment": ctx.env_name, "status": CheckStatus.PASS if ok else CheckStatus.FAIL,
        "started_at": started, "finished_at": finished, "declared": declared_components(ctx.env),
        "ports": ctx.services.port_record(), "checks": [c.to_dict() for c in checks],
        "summary": {"total": len(checks), "passed": len(checks) - len(failed), "failed": len(failed)},
    })
    ctx.emit(ArtifactWritten(str(path)))
    for note in unmasked_secrets(ctx):
        ctx.emit(Notice("1.2", note))
    ctx.emit(AutomationExecuted(SCRIPT, "PASS" if ok else "FAIL"))
    if not ok:
        ctx.emit(ProtocolError("EnvironmentMismatch", [f"{c.id}: {c.reason}" for c in failed] or [summarize(checks)]))
    return Outcome.of(ok, summarize(checks))
