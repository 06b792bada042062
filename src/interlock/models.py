"""Typed models of what travels on the artifact bus: every JSON artifact, a defect-log row, the run state.

The JSON artifacts' models are TypedDicts generated from their JSON Schemas
(`scripts/gen_models.py`), so code that reads an artifact is type-checked against
the shape interlock writes while the data stays the plain JSON the schema checked
(no copy, no conversion on the hot path). `validate` checks data through pydantic
against a model: tests use it to show the models and the schemas agree.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, TypeAdapter, with_config
from typing_extensions import NotRequired, TypedDict


def _not_bool(value: Any) -> Any:
    """JSON Schema never takes `true` for the number 1; Python's Literal[1] would."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


NOT_BOOL = BeforeValidator(_not_bool)

# BEGIN GENERATED (scripts/gen_models.py)

@with_config(ConfigDict(extra="forbid"))
class ContractValidationConfig(TypedDict):
    """Protocol step 2.2: the validators, their versions and settings."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    environment: str
    tools: dict[str, str]
    concurrency: int
    validators: dict[str, dict[str, Any] | None]

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResultsContractsItemInteractionsItemNotValidatedItem(TypedDict):
    """`ContractValidationResultsContractsItemInteractionsItemNotValidatedItem` of its artifact's schema."""

    message: str
    section: Literal['payload', 'headers']
    schema_format: str

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResultsContractsItemInteractionsItemMismatchesItem(TypedDict):
    """`ContractValidationResultsContractsItemInteractionsItemMismatchesItem` of its artifact's schema."""

    type: str
    path: NotRequired[str | None]
    expected: NotRequired[Any]
    actual: NotRequired[Any]
    message: str

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResultsContractsItemInteractionsItem(TypedDict):
    """`ContractValidationResultsContractsItemInteractionsItem` of its artifact's schema."""

    id: str
    description: str
    provider_states: list[str]
    status: Literal['pass', 'fail', 'error', 'pending', 'not_executed']
    duration_ms: float
    not_validated: NotRequired[list[ContractValidationResultsContractsItemInteractionsItemNotValidatedItem]]
    mismatches: list[ContractValidationResultsContractsItemInteractionsItemMismatchesItem]
    trace_id: NotRequired[str | None]

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResultsContractsItem(TypedDict):
    """`ContractValidationResultsContractsItem` of its artifact's schema."""

    id: str
    kind: Literal['asyncapi', 'openapi', 'pact', 'pact-http', 'pact-message', 'schema']
    consumer: str
    provider: str
    source: str
    specification: str | None
    status: Literal['pass', 'fail', 'error', 'not_executed']
    duration_ms: float
    reason: str | None
    interactions: list[ContractValidationResultsContractsItemInteractionsItem]
    job: NotRequired[str]
    trace_id: NotRequired[str | None]

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResultsSummary(TypedDict):
    """`ContractValidationResultsSummary` of its artifact's schema."""

    contracts: int
    interactions: int
    passed: int
    failed: int
    errors: int
    pending: int
    not_executed: int

@with_config(ConfigDict(extra="forbid"))
class ContractValidationResults(TypedDict):
    """Protocol step 2.2: the verdict of every contract interaction, with each mismatch."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    environment: str
    status: Literal['pass', 'fail']
    contracts: list[ContractValidationResultsContractsItem]
    filter: NotRequired[list[str]]
    summary: ContractValidationResultsSummary

@with_config(ConfigDict(extra="forbid"))
class EnvironmentValidationReportDeclaredItem(TypedDict):
    """`EnvironmentValidationReportDeclaredItem` of its artifact's schema."""

    name: str
    role: Literal['service', 'store', 'broker']
    kind: str
    check: str

@with_config(ConfigDict(extra="forbid"))
class EnvironmentValidationReportPortsEntry(TypedDict):
    """`EnvironmentValidationReportPortsEntry` of its artifact's schema."""

    port: int | None
    auto: bool
    started_by_interlock: bool
    probed: list[int]
    checks: list[str]

@with_config(ConfigDict(extra="forbid"))
class EnvironmentValidationReportChecksItem(TypedDict):
    """`EnvironmentValidationReportChecksItem` of its artifact's schema."""

    id: str
    kind: str
    target: str
    status: Literal['pass', 'fail']
    reason: str | None
    duration_ms: float
    details: dict[str, Any]

@with_config(ConfigDict(extra="forbid"))
class EnvironmentValidationReportSummary(TypedDict):
    """`EnvironmentValidationReportSummary` of its artifact's schema."""

    total: int
    passed: int
    failed: int

@with_config(ConfigDict(extra="forbid"))
class EnvironmentValidationReport(TypedDict):
    """Protocol step 1.2: every configuration and connectivity check of the integration environment."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    environment: str
    status: Literal['pass', 'fail']
    started_at: str
    finished_at: str
    declared: NotRequired[list[EnvironmentValidationReportDeclaredItem]]
    ports: NotRequired[dict[str, EnvironmentValidationReportPortsEntry]]
    checks: list[EnvironmentValidationReportChecksItem]
    summary: EnvironmentValidationReportSummary

@with_config(ConfigDict(extra="forbid"))
class GateResultsGatesItemConditionsItemWaiversItem(TypedDict):
    """`GateResultsGatesItemConditionsItemWaiversItem` of its artifact's schema."""

    condition: str
    item: str | None
    justification: str
    approver: str
    ticket: str
    expires: str
    source: NotRequired[str]

@with_config(ConfigDict(extra="forbid"))
class GateResultsGatesItemConditionsItem(TypedDict):
    """`GateResultsGatesItemConditionsItem` of its artifact's schema."""

    id: str
    metric: str
    operator: Literal['==', '!=', '>', '>=', '<', '<=']
    threshold: float | None
    actual: float | None
    blocking: bool
    raw_status: Literal['pass', 'fail', 'pending']
    status: Literal['pass', 'fail', 'warn', 'pending']
    artifact: str
    reason: str | None
    waivers: list[GateResultsGatesItemConditionsItemWaiversItem]

@with_config(ConfigDict(extra="forbid"))
class GateResultsGatesItem(TypedDict):
    """`GateResultsGatesItem` of its artifact's schema."""

    id: int
    name: str
    status: Literal['pass', 'fail']
    conditions: list[GateResultsGatesItemConditionsItem]

@with_config(ConfigDict(extra="forbid"))
class GateResultsPolicyRelaxedItem(TypedDict):
    """`GateResultsPolicyRelaxedItem` of its artifact's schema."""

    condition: str
    change: str
    justification: str
    approver: str
    ticket: str
    expires: str

@with_config(ConfigDict(extra="forbid"))
class GateResults(TypedDict):
    """The four quality gates: every condition with its actual value, threshold, raw and effective status and its source artifact."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    status: Literal['pass', 'fail']
    decided_through: NotRequired[int]
    gates: list[GateResultsGatesItem]
    policy_relaxed: NotRequired[list[GateResultsPolicyRelaxedItem]]

@with_config(ConfigDict(extra="forbid"))
class IntegrationEvidenceManifestSource(TypedDict):
    """`IntegrationEvidenceManifestSource` of its artifact's schema."""

    git_commit: str | None
    git_dirty: bool | None
    changes_digest: NotRequired[str | None]

@with_config(ConfigDict(extra="forbid"))
class IntegrationEvidenceManifestArtifactsItem(TypedDict):
    """`IntegrationEvidenceManifestArtifactsItem` of its artifact's schema."""

    path: str
    sha256: str
    size: int
    media_type: str
    phase: str | None
    command: str | None

class IntegrationEvidenceManifest(TypedDict):
    """Protocol step 4.1: every artifact in the bundle with its digest."""

    manifest_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    run_id: str
    environment: str
    interlock_version: str
    tools: dict[str, str]
    source: IntegrationEvidenceManifestSource
    started_at: NotRequired[str]
    finished_at: NotRequired[str]
    artifacts: list[IntegrationEvidenceManifestArtifactsItem]

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixProject(TypedDict):
    """`IntegrationScopeMatrixProject` of its artifact's schema."""

    name: str
    version: str | None

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixPrerequisitesItem(TypedDict):
    """`IntegrationScopeMatrixPrerequisitesItem` of its artifact's schema."""

    name: str
    path: str
    expected_version: str | None
    actual_version: str | None
    expected_sha256: str | None
    actual_sha256: str | None
    status: Literal['ok', 'missing', 'mismatch']
    reason: str | None

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixServicesItem(TypedDict):
    """`IntegrationScopeMatrixServicesItem` of its artifact's schema."""

    name: str
    kind: str
    owner: str | None
    openapi: str | None
    asyncapi: str | None

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixInterfacesItemChecksItem(TypedDict):
    """`IntegrationScopeMatrixInterfacesItemChecksItem` of its artifact's schema."""

    kind: str
    ref: str

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixInterfacesItemTraffic(TypedDict):
    """Whether real traffic crossed the interface, as step 3.1's trace-evidence.json recorded it: `pending` before 3.1 recorded the traces (or for an interface added to the scope since), `unknown` when no OTLP receiver recorded them (never read as not observed)."""

    status: Literal['observed', 'not_observed', 'pending', 'unknown']
    by: list[str]

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixInterfacesItem(TypedDict):
    """`IntegrationScopeMatrixInterfacesItem` of its artifact's schema."""

    id: str
    service: str
    kind: Literal['http', 'message', 'table']
    operation: str
    address: NotRequired[str | None]
    source: str
    features: list[str]
    checks: list[IntegrationScopeMatrixInterfacesItemChecksItem]
    traffic: IntegrationScopeMatrixInterfacesItemTraffic

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixDependenciesItem(TypedDict):
    """`IntegrationScopeMatrixDependenciesItem` of its artifact's schema."""

    consumer: str
    provider: str
    via: str
    interfaces: list[str]

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrixFeaturesItem(TypedDict):
    """`IntegrationScopeMatrixFeaturesItem` of its artifact's schema."""

    id: str
    title: str
    interfaces: list[str]

@with_config(ConfigDict(extra="forbid"))
class IntegrationScopeMatrix(TypedDict):
    """Protocol step 1.1: services, interfaces and dependencies reconciled with the prerequisite artifacts."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    project: IntegrationScopeMatrixProject
    environment: str
    prerequisites: list[IntegrationScopeMatrixPrerequisitesItem]
    services: list[IntegrationScopeMatrixServicesItem]
    interfaces: list[IntegrationScopeMatrixInterfacesItem]
    dependencies: list[IntegrationScopeMatrixDependenciesItem]
    features: list[IntegrationScopeMatrixFeaturesItem]
    uncovered: list[str]
    undeclared_pacts: list[str]
    unmatched_pact_interfaces: list[str]

@with_config(ConfigDict(extra="forbid"))
class IntegrationSignoffSignaturesItem(TypedDict):
    """`IntegrationSignoffSignaturesItem` of its artifact's schema."""

    keyid: str
    sig: str

@with_config(ConfigDict(extra="forbid"))
class IntegrationSignoff(TypedDict):
    """Protocol step 4.2: a DSSE envelope carrying an in-toto Statement v1 signed by the approver."""

    payloadType: Literal['application/vnd.in-toto+json']
    payload: str
    signatures: list[IntegrationSignoffSignaturesItem]

@with_config(ConfigDict(extra="forbid"))
class ObservabilityReadinessServicesItem(TypedDict):
    """`ObservabilityReadinessServicesItem` of its artifact's schema."""

    service: str
    logs: str
    metrics: str
    traces: str
    ready: bool
    spans: int
    traces_required: bool
    metrics_missing: list[str]

@with_config(ConfigDict(extra="forbid"))
class ObservabilityReadiness(TypedDict):
    """The data of observability-readiness.md (step 2.3): per service, whether its logs, metrics and traces can explain a failure."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    environment: str
    services: list[ObservabilityReadinessServicesItem]
    gaps: list[str]

@with_config(ConfigDict(extra="forbid"))
class RegressionSummaryPytestRunsItem(TypedDict):
    """`RegressionSummaryPytestRunsItem` of its artifact's schema."""

    exit_code: int
    log: str
    stopped_after: float | None
    error: str | None

@with_config(ConfigDict(extra="forbid"))
class RegressionSummaryRerunsItem(TypedDict):
    """`RegressionSummaryRerunsItem` of its artifact's schema."""

    defect: str
    severity: str
    nodeid: str | None
    rerun: str
    passes: int
    verdict: Literal['pass', 'flaky', 'fail']
    status_before: str
    status_after: str

@with_config(ConfigDict(extra="forbid"))
class RegressionSummaryNeighboursItem(TypedDict):
    """`RegressionSummaryNeighboursItem` of its artifact's schema."""

    nodeid: str
    why: str
    outcomes: list[str]
    verdict: Literal['pass', 'flaky', 'fail', 'not run']

@with_config(ConfigDict(extra="forbid"))
class RegressionSummaryNotRerunItem(TypedDict):
    """`RegressionSummaryNotRerunItem` of its artifact's schema."""

    defect: str
    source: str
    status: str
    rerun: str

@with_config(ConfigDict(extra="forbid"))
class RegressionSummary(TypedDict):
    """The data of regression-summary.md (step 3.3): which defects' tests were rerun, how often, each verdict, and the neighbours rerun with them."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    run_id: str
    environment: str
    runs: int
    pytest_runs: list[RegressionSummaryPytestRunsItem]
    command: list[str] | None
    reruns: list[RegressionSummaryRerunsItem]
    neighbours: list[RegressionSummaryNeighboursItem]
    not_rerun: list[RegressionSummaryNotRerunItem]

@with_config(ConfigDict(extra="forbid"))
class RunLedgerIdentity(TypedDict):
    """`RunLedgerIdentity` of its artifact's schema."""

    commit: str | None
    dirty: bool | None
    changes_digest: str | None

@with_config(ConfigDict(extra="forbid"))
class RunLedger(TypedDict):
    """One line of run-ledger.jsonl: what a step or an interlock edit produced (in-toto link style), chained to the line before by `prev`."""

    seq: int
    prev: str
    at: str
    step: str
    kind: Literal['step', 'edit', 'merge', 'services']
    command: str
    by: str
    reason: str
    run_id: str
    identity: RunLedgerIdentity
    config_digest: str | None
    materials: dict[str, str]
    products: dict[str, str]
    removed: list[str]

class TestExecutionReportSummary(TypedDict):
    """`TestExecutionReportSummary` of its artifact's schema."""

    total: int
    collected: NotRequired[int]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportTestsItemJunit(TypedDict):
    """Runner 'junit': the test case as the XML named it."""

    name: str
    classname: str
    file: NotRequired[str]

class TestExecutionReportTestsItem(TypedDict):
    """`TestExecutionReportTestsItem` of its artifact's schema."""

    nodeid: str
    outcome: str
    keywords: list[str]
    junit: NotRequired[TestExecutionReportTestsItemJunit]
    trace_id: NotRequired[str]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockSummary(TypedDict):
    """`TestExecutionReportInterlockSummary` of its artifact's schema."""

    collected: int
    total: int
    passed: int
    failed: int
    skipped: int
    errors: int
    deselected: int

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockFailuresItem(TypedDict):
    """`TestExecutionReportInterlockFailuresItem` of its artifact's schema."""

    nodeid: str
    outcome: str
    message: str
    critical: bool
    interfaces: list[str]
    rerun: str

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockSuite(TypedDict):
    """The whole selected suite a shard was cut from."""

    tests: int
    sha256: str

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockMergedItem(TypedDict):
    """`TestExecutionReportInterlockMergedItem` of its artifact's schema."""

    shard: str
    source: str
    tests: int
    exit_code: int
    commit: NotRequired[str | None]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockPytestSelectionIni(TypedDict):
    """`TestExecutionReportInterlockPytestSelectionIni` of its artifact's schema."""

    path: str | None
    addopts: list[str]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockPytestSelectionCounts(TypedDict):
    """`TestExecutionReportInterlockPytestSelectionCounts` of its artifact's schema."""

    collected: int
    suite: int
    selected: int
    deselected: int
    ran: int

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockPytestSelectionNotSelected(TypedDict):
    """Tests of the suite pytest did not select (beyond a shard's own split); `shown` keeps the first 100."""

    count: int
    shown: list[str]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockPytestSelection(TypedDict):
    """What pytest really selected and ran, as its own plugin recorded it (interlock.selection decides `filtered` from it)."""

    command: list[str]
    environment: dict[str, str]
    ini: TestExecutionReportInterlockPytestSelectionIni
    rootdir: NotRequired[str]
    suite_marker: str
    markexpr: str
    keyword: str
    targets: list[str]
    maxfail: NotRequired[int]
    last_failed: NotRequired[bool]
    shard: NotRequired[str | None]
    counts: TestExecutionReportInterlockPytestSelectionCounts
    not_selected: TestExecutionReportInterlockPytestSelectionNotSelected
    critical: list[str]
    critical_not_selected: list[str]
    narrowing: list[str]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockJunitSelectionExpected(TypedDict):
    """How big the whole suite is; null when nothing says (no list_command, no previous complete run on this identity)."""

    count: int
    unit: Literal['tests', 'files']
    source: str

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockJunitSelectionCounts(TypedDict):
    """`TestExecutionReportInterlockJunitSelectionCounts` of its artifact's schema."""

    tests: int
    files: int

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlockJunitSelection(TypedDict):
    """Runner 'junit': what the command ran against the whole suite (interlock.selection.junit_decide decides `filtered` from it)."""

    command: list[str]
    cwd: str
    given: list[str]
    xml: list[str]
    expected: TestExecutionReportInterlockJunitSelectionExpected | None
    identity: str | None
    counts: TestExecutionReportInterlockJunitSelectionCounts
    narrowing: list[str]

@with_config(ConfigDict(extra="forbid"))
class TestExecutionReportInterlock(TypedDict):
    """`TestExecutionReportInterlock` of its artifact's schema."""

    command: list[str]
    exit_code: int
    log: str
    environment: str
    summary: TestExecutionReportInterlockSummary
    failures: list[TestExecutionReportInterlockFailuresItem]
    system_root: NotRequired[str]
    commit: NotRequired[str | None]
    filtered: bool
    filter: NotRequired[str]
    shard: NotRequired[str]
    suite: NotRequired[TestExecutionReportInterlockSuite]
    partition: NotRequired[str]
    balance: NotRequired[Literal['durations', 'hash', 'none']]
    selection: NotRequired[list[str]]
    merged: NotRequired[list[TestExecutionReportInterlockMergedItem]]
    pytest_selection: NotRequired[TestExecutionReportInterlockPytestSelection]
    runner: NotRequired[Literal['pytest', 'junit']]
    junit_selection: NotRequired[TestExecutionReportInterlockJunitSelection]

class TestExecutionReport(TypedDict):
    """Protocol step 3.1: pytest-json-report's report, plus interlock's summary of the run."""

    created: NotRequired[float]
    duration: NotRequired[float]
    exitcode: int
    root: NotRequired[str]
    summary: TestExecutionReportSummary
    tests: list[TestExecutionReportTestsItem]
    interlock: TestExecutionReportInterlock

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceReceiver(TypedDict):
    """A copy of logs/otlp-receiver.json's counters when the run was recorded; null when the receiver is off ([observability] receiver = false) or wrote no counters."""

    endpoint: str
    forward: str | None
    requests: dict[str, int]
    rejected: dict[str, int]
    dropped_spans: int
    forward_failures: int
    by_service: dict[str, dict[str, int]]
    run_id: NotRequired[str]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceServicesItemByKind(TypedDict):
    """Spans by kind; a kind with none is left out."""

    internal: NotRequired[int]
    server: NotRequired[int]
    client: NotRequired[int]
    producer: NotRequired[int]
    consumer: NotRequired[int]
    unspecified: NotRequired[int]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceServicesItemByStatus(TypedDict):
    """Spans by status; a status with none is left out."""

    unset: NotRequired[int]
    ok: NotRequired[int]
    error: NotRequired[int]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceServicesItem(TypedDict):
    """`TraceEvidenceServicesItem` of its artifact's schema."""

    service: str
    spans: int
    by_kind: TraceEvidenceServicesItemByKind
    by_status: TraceEvidenceServicesItemByStatus
    traces_required: bool

#: `TraceEvidenceTestsItemCallsItem` of its artifact's schema.
TraceEvidenceTestsItemCallsItem = TypedDict('TraceEvidenceTestsItemCallsItem', {'from': str | None, 'to': str, 'kind': Literal['http', 'messaging', 'db'], 'target': str})
with_config(ConfigDict(extra="forbid"))(TraceEvidenceTestsItemCallsItem)

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceTestsItem(TypedDict):
    """`TraceEvidenceTestsItem` of its artifact's schema."""

    nodeid: str
    trace_id: str | None
    services: list[str]
    interfaces: list[str]
    calls: list[TraceEvidenceTestsItemCallsItem]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidencePactJobsItem(TypedDict):
    """`TraceEvidencePactJobsItem` of its artifact's schema."""

    job: str
    trace_id: str | None
    services: list[str]
    interfaces: list[str]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceInterfacesItem(TypedDict):
    """`TraceEvidenceInterfacesItem` of its artifact's schema."""

    id: str
    observed: bool
    by: list[str]

#: `TraceEvidenceUndeclaredItem` of its artifact's schema.
TraceEvidenceUndeclaredItem = TypedDict('TraceEvidenceUndeclaredItem', {'interface': str, 'from': str | None, 'reason': str, 'seen_in': list[str]})
with_config(ConfigDict(extra="forbid"))(TraceEvidenceUndeclaredItem)

@with_config(ConfigDict(extra="forbid"))
class TraceEvidenceScenariosItem(TypedDict):
    """`TraceEvidenceScenariosItem` of its artifact's schema."""

    feature: str
    title: str
    critical: bool
    proven: bool
    by: str | None
    missing: list[str]

@with_config(ConfigDict(extra="forbid"))
class TraceEvidence(TypedDict):
    """Step 3.1: what the traces received by interlock's OTLP receiver prove."""

    schema_version: Annotated[Literal[1], NOT_BOOL]
    generated_at: str
    environment: str
    receiver: TraceEvidenceReceiver | None
    services: list[TraceEvidenceServicesItem]
    tests: list[TraceEvidenceTestsItem]
    pact_jobs: list[TraceEvidencePactJobsItem]
    interfaces: list[TraceEvidenceInterfacesItem]
    undeclared: list[TraceEvidenceUndeclaredItem]
    scenarios: list[TraceEvidenceScenariosItem]


#: Each JSON artifact's model, by its schema's name (`Artifact.schema_name`).
BY_SCHEMA: dict[str, type] = {
    'contract-validation-config': ContractValidationConfig,
    'contract-validation-results': ContractValidationResults,
    'environment-validation-report': EnvironmentValidationReport,
    'gate-results': GateResults,
    'integration-evidence-manifest': IntegrationEvidenceManifest,
    'integration-scope-matrix': IntegrationScopeMatrix,
    'integration-signoff': IntegrationSignoff,
    'observability-readiness': ObservabilityReadiness,
    'regression-summary': RegressionSummary,
    'run-ledger': RunLedger,
    'test-execution-report': TestExecutionReport,
    'trace-evidence': TraceEvidence,
}
# END GENERATED


class DefectRow(TypedDict):
    """One row of defect-log.csv (interlock.defects.COLUMNS): every field is text, as the CSV holds it."""

    id: str
    fingerprint: str
    source: str
    title: str
    severity: str
    owner: str
    status: str
    ticket: str
    mitigation: str
    evidence: str
    rerun: str
    first_seen: str
    last_seen: str
    last_run: str
    occurrences: str
    regression: str
    waiver_approver: str
    waiver_reason: str
    waiver_expires: str
    message: str


class RunStateData(TypedDict):
    """.interlock-state.json (engine.RunState as saved): what a resumable run has done so far."""

    run_id: str
    environment: str
    started_at: str
    completed: list[str]
    halted_at: str | None
    halt_reason: str | None
    standalone: NotRequired[bool]
    ports: NotRequired[dict[str, int]]


@cache
def _adapter(model: type) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def validate(model: type, data: Any) -> list[str]:
    """Every way `data` breaks `model` (pydantic, strict: no coercion), each with its location; empty when it fits."""
    from pydantic import ValidationError

    try:
        _adapter(model).validate_python(data, strict=True)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def model_of(schema_name: str) -> type:
    """The model of a JSON artifact by its schema's name (KeyError for one without)."""
    return BY_SCHEMA[schema_name]


__all__ = ["BY_SCHEMA", "DefectRow", "RunStateData", "model_of", "validate"]
