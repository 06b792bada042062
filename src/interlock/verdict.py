"""The verdict of a run: the gates decided from the artifact folder alone, and recorded in gate-results.json.

`decide` reads the metrics and hands them to the pure `gates.evaluate`; it
writes nothing, so `interlock gates` on a copied folder gives the run's answer
without touching it unless asked. `record` is the one writer of
gate-results.json. The engine and the sign-off step both come here, so no step
needs to import the engine. A phase-end document (`decided_through`) records
the phase it was decided through and never has an overall pass while a
condition is pending; only the engine's phase ends ask for one.
"""

from __future__ import annotations

from interlock.statuses import GateStatus

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from interlock import metrics
from interlock.artifacts import GATE_RESULTS, ArtifactDir
from interlock.config import Loaded
from interlock.gates import evaluate, pending, relaxations

ALL_GATES = (1, 2, 3, 4)


def decide(artifacts: ArtifactDir, loaded: Loaded, gates: tuple[int, ...] = ALL_GATES, now: datetime | None = None,
           decided_through: int | None = None) -> dict[str, Any]:
    """The gate-results document for `gates`, from the artifact folder and the config (writes nothing).

    `decided_through` is the phase a run just finished: conditions a later phase's artifact decides are pending.
    """
    pubkey = loaded.resolve(loaded.config.signoff.pubkey) if loaded.config.signoff.pubkey else None
    now = now or datetime.now(timezone.utc)
    options, waivers, undeclared = loaded.config.gates, loaded.config.waivers, loaded.config.observability.undeclared
    results = evaluate(metrics.read_metrics(artifacts, pubkey, evidence=4 in gates, now=now), options, waivers, now, gates, undeclared,
                       decided_through)
    settled = all(g["status"] == GateStatus.PASS and not pending(g) for g in results)
    document = {"schema_version": 1, "generated_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "status": GateStatus.PASS if settled else GateStatus.FAIL,
                "gates": results, "policy_relaxed": relaxations(options, waivers, now, gates, undeclared)}
    if decided_through is not None:
        document["decided_through"] = decided_through
    return document


def record(artifacts: ArtifactDir, results: dict[str, Any]) -> Path:
    """Write a gate-results document (schema-checked, atomic) as the folder's gate-results.json."""
    return artifacts.write_json(GATE_RESULTS, results)


def gate_results(artifacts: ArtifactDir, loaded: Loaded, gates: tuple[int, ...] = ALL_GATES,
                 decided_through: int | None = None) -> dict[str, Any]:
    """Decide the gates from the artifact folder alone and record the answer in gate-results.json."""
    document = decide(artifacts, loaded, gates, decided_through=decided_through)
    record(artifacts, document)
    return document
