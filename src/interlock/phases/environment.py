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
from collections.abc import Coroutine
from typing import Any

from interlock import baseline as bl
from interlock.artifacts import ENVIRONMENT_REPORT
from interlock.baseline_checks import compare_service_env, compare_variables, compare_versions
from interlock.brokers import KINDS
from interlock.brokers.base import server_version
from interlock.checks import Check
from interlock.config import Environment, ServiceRuntime
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


def baseline_checks(ctx: RunContext, baseline: bl.Baseline, probed: list[Check]) -> list[Check]:
    """The environment compared with the baseline: versions, each service's variables, pinned values."""
    env = ctx.env
    declared = {name: set(env.vars) | set(runtime.env) for name, runtime in env.services.items()}
    return [
        *compare_versions(baseline, observed_versions(ctx, probed)),
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
