"""Step 2.1: the integration test plan, derived from the scope matrix and the config.

Each scenario (a feature of protocol 3) is mapped to the automated checks that
exercise it, with entry and exit conditions, observability hooks, rollback
steps, owners and acceptance criteria. Scenarios without any check are called
out instead of being silently planned.
"""

from __future__ import annotations

import shlex

from typing import Any

from interlock.artifacts import SCOPE_MATRIX, TEST_PLAN
from interlock.statuses import StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext, utc_now


def _owner(ctx: RunContext, service: str) -> str:
    svc = ctx.config.services.get(service)
    return (svc.owner if svc else None) or ctx.config.owners.get(service) or "unassigned"


def _checks(interfaces: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for interface in interfaces:
        for check in interface["checks"]:
            label = f"{check['kind']}: `{check['ref']}`"
            if label not in seen:
                seen.append(label)
    return seen


def _shown(interface_id: str, by_id: dict[str, dict[str, Any]]) -> str:
    """An interface id in backticks, an AsyncAPI channel's address beside it (`orders:publish pingRequest` (address /))."""
    interface = by_id.get(interface_id, {})
    return f"`{interface_id}` (address {interface['address']})" if "address" in interface else f"`{interface_id}`"


def render(ctx: RunContext, scope: dict[str, Any]) -> str:
    """The plan as Markdown (pure over the scope matrix and config)."""
    by_id = {i["id"]: i for i in scope["interfaces"]}
    env = ctx.env
    entry = [f"service `{n}` healthy at {r.health or r.url}" for n, r in env.services.items()]
    entry += [f"store `{n}` migrated ({s.migrations or 'no migrations declared'})" for n, s in env.stores.items()]
    entry += [f"dataset `{n}` seeded into `{d.table}`" for n, d in ctx.config.datasets.items()]
    rollback = [f"rerun setup: `{' '.join(c)}`" for c in env.setup] or ["no setup commands declared: restore the environment by hand"]
    pact = ctx.config.contracts.pact
    if pact:
        rollback += [f"provider state `{n}` teardown" for n, s in pact.states.items() if s.teardown]
    suite = ctx.config.suite
    lines = [
        f"# Integration test plan: {scope['project']['name']} {scope['project'].get('version') or ''}".rstrip(), "",
        f"Environment: `{ctx.env_name}` · generated {utc_now()} · run `{ctx.run_id}`", "",
        "## Automation suites", "",
        f"- Contracts: pact verification of {len({c['ref'] for i in scope['interfaces'] for c in i['checks'] if c['kind'] == 'pact'})} interactions (`interlock contracts --env {ctx.env_name}`)",
        f"- Integration suite: `pytest -m {suite.marker} {suite.path}` with pytest-json-report, {suite.timeout}s per test (`interlock test`)"
        if suite.runner == "pytest" else f"- Integration suite: `{shlex.join(suite.command)}` read from its JUnit XML `{suite.junit_xml}`, "
        f"{suite.timeout}s in all (`interlock test`)",
        f"- Environment validation: `interlock env --env {ctx.env_name}`", "",
        "## Entry conditions (every scenario)", "", *[f"- {e}" for e in entry], "",
        "## Exit conditions", "", "- every check of the scenario passed, or its failure is a logged defect with an owner", "",
        "## Rollback", "", *[f"- {r}" for r in rollback], "",
        "## Observability hooks", "",
        *[f"- `{n}`: logs `logs/service-{n}.log`, metrics {r.url.rstrip('/')}/metrics" for n, r in env.services.items()], "",
        "## Scenarios", "",
    ]
    for feature in scope["features"]:
        interfaces = [by_id[i] for i in feature["interfaces"] if i in by_id]
        unknown = [i for i in feature["interfaces"] if i not in by_id]
        owners = sorted({_owner(ctx, i.split(":")[0]) for i in feature["interfaces"]})
        checks = _checks(interfaces)
        lines += [f"### {feature['id']}: {feature['title']}", "", f"- Owners: {', '.join(owners) or 'unassigned'}",
                  f"- Interfaces: {', '.join(_shown(i, by_id) for i in feature['interfaces']) or 'none'}"]
        if unknown:
            lines.append(f"- Not in the scope matrix: {', '.join(f'`{i}`' for i in unknown)}")
        lines += ["- Automated checks:", *([f"  - {c}" for c in checks] or ["  - **none: this scenario is not exercised**"]),
                  f"- Acceptance: all {len(checks)} checks pass; no open critical defect on these interfaces", ""]
    unplanned = [i for i in scope["interfaces"] if not i["features"]]
    if unplanned:
        lines += ["## Interfaces outside any feature", "", *[f"- {_shown(i['id'], by_id)}: {len(i['checks'])} check(s)" for i in unplanned], ""]
    lines += ["## Uncovered interfaces", "", *([f"- {_shown(u, by_id)}" for u in scope["uncovered"]] or ["- none"]), ""]
    return "\n".join(lines)


def run(ctx: RunContext) -> Outcome:
    scope = ctx.artifacts.read_json_or_none(SCOPE_MATRIX)
    if scope is None:
        return Outcome(StepStatus.FAIL, "integration-scope-matrix.json is missing: run `interlock scope` first")
    ctx.artifacts.write_text(TEST_PLAN, render(ctx, scope))
    unexercised = [f["id"] for f in scope["features"] if not _checks([i for i in scope["interfaces"] if i["id"] in f["interfaces"]])]
    if unexercised:
        return Outcome(StepStatus.FAIL, f"scenarios without any automated check: {', '.join(unexercised)}")
    return Outcome(StepStatus.PASS, f"{len(scope['features'])} scenarios mapped to checks")
