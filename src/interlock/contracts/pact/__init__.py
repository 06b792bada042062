"""Pact contracts: every consumer pact verified against the running provider.

Pacts come from folders and files, from http(s) URLs (fetched once per run,
saved under the artifacts' `logs/pacts/` and recorded with their SHA-256), and
from a Pact Broker (handed to the verifier's broker source with selectors).

Pacts are grouped by provider and kind (HTTP or message) into jobs; each job
runs in a worker process of its own (`contracts.pact_worker`). Jobs run
concurrently, up to `[contracts.pact] concurrency` at once (default four per
core: a verifier mostly waits for its provider). A provider whose pacts name
provider states gets one job per consumer, run one after another, so its
state changes never interleave and each knows its consumer; a stateless
provider's files are split across at most `per_provider` jobs run at once.
Each state change goes to the provider's own handler, else its `state_url`,
else the global one, with the state's params (`pact_worker.change_state`);
every action's output is saved to `logs/states.log`. Every interaction gets its own verdict; a
pact with no interactions, a worker that crashed, or an interaction the
verifier never reported is a failure, never a pass. A pending pact (the
Broker's meaning) is its own outcome, never a pass.

A pact names its consumer and provider as it likes: each is read as the
config's service of that name or `pact_names` (`Config.service_of`). An
interaction's id is `consumer->provider: description`, with its provider
states and its number among repeats where a description repeats
(`documents.unique_ids`), so every interaction is its own result and defect.
`[contracts.pact.providers.P] headers` go on every verification request through
the verifier's custom headers, their `{NAME}` variables filled here and masked.

`--only ID` (an exact rerun) keeps just the named interactions or pacts; the
worker hands the verifier copies of the pact files holding only those.
"""

from interlock.contracts.pact.execute import Workers, no_tls_roots, run_job, schedule
from interlock.contracts.pact.jobs import (WORKERS_PER_CORE, broker_job, build_jobs, by_consumer, default_concurrency, description_filter, rust_escape, split,
                                          state_handlers, tls_free, unhandled_states)
from interlock.contracts.pact.kind import KIND, PactKind, prepare, settings, verify
from interlock.contracts.pact.records import broker_records, contract_records, source_record, states_log
from interlock.contracts.pact.sources import ID_PATTERN, Plan, resolve_sources, select_pacts

__all__ = [
    "ID_PATTERN", "KIND", "WORKERS_PER_CORE", "PactKind", "Plan", "Workers", "broker_job", "broker_records", "build_jobs", "by_consumer", "contract_records",
    "default_concurrency", "description_filter", "no_tls_roots", "prepare", "resolve_sources", "run_job", "rust_escape", "schedule",
    "select_pacts", "settings", "source_record", "split", "state_handlers", "states_log", "tls_free", "unhandled_states", "verify",
]
