"""The one error tree of interlock, and the exit codes it maps to.

    InterlockError
    ├── UsageError        bad usage, config or input      → exit 2, one line per problem
    │   └── ConfigError   every problem of a config file at once, with file, line and key
    ├── GateFailure       a gate or a verification failed  → exit 1
    └── Halted            a protocol halt condition        → exit 3 (`--resume` after it is resolved)

Anything else that escapes is an internal error: the CLI prints a title and
where to report it, never a bare traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes fixed by DESIGN.md."""

    OK = 0
    FAILED = 1
    USAGE = 2
    HALTED = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what to do about it."""

    file: str
    message: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" [{self.key}]" if self.key else ""
        return one_line(f"{where}{key}: {self.message}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with line breaks and control characters escaped: a key or value copied from a hostile input
    must not split a problem over lines (or send escape sequences to the terminal)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class InterlockError(Exception):
    """Base of every error interlock raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED


class UsageError(InterlockError):
    """Bad usage or input: the user can fix it; shown as one clear line."""

    exit_code = ExitCode.USAGE

    def __init__(self, problem: Problem | str) -> None:
        self.problems = [problem] if isinstance(problem, Problem) else [Problem("interlock", problem)]
        super().__init__(str(self.problems[0]))


class ConfigError(UsageError):
    """All problems found in one config file, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        Exception.__init__(self, "; ".join(str(p) for p in problems))


class GateFailure(InterlockError):
    """A gate or a verification failed."""

    exit_code = ExitCode.FAILED


class Halted(InterlockError):
    """The protocol stopped at one of its halt conditions."""

    exit_code = ExitCode.HALTED
