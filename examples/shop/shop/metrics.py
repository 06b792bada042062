"""Hand-written Prometheus text exposition (format 0.0.4).

The services expose ``/metrics`` so interlock's observability phase has real
counters to read; a dict of counters behind a lock is all three need, so no
client library.
"""

from __future__ import annotations

import threading

LabelKey = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Thread-safe counters, each a metric family with ``HELP`` and labelled samples."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[LabelKey, float]] = {}

    def declare(self, name: str, kind: str, help_text: str) -> None:
        """Register a family (``kind`` is ``counter``) so it is listed even at zero."""
        with self._lock:
            self._help[name] = (kind, help_text)
            self._values.setdefault(name, {})

    def inc(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
        """Add ``amount`` to the sample of ``name`` with these labels."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            samples = self._values.setdefault(name, {})
            samples[key] = samples.get(key, 0.0) + amount

    def render(self) -> str:
        """The exposition text, families in declaration order."""
        lines: list[str] = []
        with self._lock:
            for name, samples in self._values.items():
                kind, help_text = self._help.get(name, ("untyped", name))
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for key, value in samples.items():
                    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                    lines.append(f"{name}{{{labels}}} {value!r}")
        return "\n".join(lines) + "\n"
