"""A run's saved state and where a run stages its artifacts: what steps, merges and defect edits may read.

The engine saves the state after every step and stages a full run beside the
artifact folder; a step or command that needs to know which run produced a
folder, or where a killed run's copy sits, reads it here and never imports
the engine (steps sit below it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from interlock.artifacts import STATE_FILE
from interlock.files import atomic_write


@dataclass
class RunState:
    """What a resumable run has done so far; saved after every step, so a killed run's staging folder says it too."""

    run_id: str
    environment: str
    started_at: str
    completed: list[str] = field(default_factory=list)
    halted_at: str | None = None
    halt_reason: str | None = None
    standalone: bool = False  # written by a single-step command, not by `interlock run`
    ports: dict[str, int] = field(default_factory=dict)  # the `port = "auto"` ports this run chose: a resumed run keeps them

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        """The folder's state; keys this version does not know are left out, so a newer interlock's run stays resumable."""
        try:
            data = json.loads((folder / STATE_FILE).read_text("utf-8"))
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, folder: Path) -> None:
        atomic_write(folder / STATE_FILE, json.dumps(self.__dict__, indent=2).encode())


#: The protocol's gates, one per phase (gate N is evaluated when phase N ends).
GATE_IDS = (1, 2, 3, 4)


def gates_not_run(halted_at: str | None) -> frozenset[int]:
    """The gates a run that halted at `halted_at` (a step `3.2`, or `gate-1`) never evaluated: its phase's and every later one.

    A run halted by Gate 1 evaluated Gate 1. None (not halted) or a halt this
    does not recognise: every gate ran.
    """
    if not halted_at:
        return frozenset()
    if halted_at.startswith("gate-") and halted_at[5:].isdigit():
        first = int(halted_at[5:]) + 1
    elif halted_at[:1].isdigit() and halted_at.partition(".")[0].isdigit():
        first = int(halted_at.partition(".")[0])
    else:
        return frozenset()
    return frozenset(g for g in GATE_IDS if g >= first)


def staging_folder(published: Path, run_id: str) -> Path:
    """Where run `run_id` works until it publishes: hidden, beside the artifact folder, on the same file system."""
    return published.parent / f".{published.name}.run-{run_id}"


def staging_folders(published: Path) -> list[Path]:
    """The staging folders beside `published`: of a live run, or of killed ones that `--resume` may continue."""
    return sorted(published.parent.glob(f".{published.name}.run-*"))
