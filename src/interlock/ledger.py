"""The run ledger, `run-ledger.jsonl`: what each step and each interlock edit produced, chained line to line.

One JSON line per step as it finishes, in the manner of in-toto link
metadata: the files of the artifact folder before the step (`materials`) and
the ones it created or changed (`products`), each by sha256, with the run
identity (interlock.identity), the config's digest, the command, who ran it
(`by`) and why (`reason`). Each line carries `prev`, the sha256 of the line
before it, so a removed, reordered or edited line breaks the chain.

Replaying the lines gives the folder as interlock left it: every tracked file
with the digest its last producer wrote. A file whose bytes differ, or that no
line produced, was made by hand (`unproduced`); Gate 4, `bundle` and
`signoff` refuse it by name. Every file also takes the identity of the step
that produced it (an edit through `interlock defects` keeps the identity of
the evidence it edits), so a folder mixing the evidence of two commits, or of
a dirty and a clean tree, is named file by file (`identity_groups`).

The ledger is append-only: the bundle seals the ledger as it is at sealing
time, and the live ledger must keep that copy as its prefix (the manifest
records its size). The chain binds lines to each other, not to a key: a
forger who rewrites the whole ledger is stopped by the signature over the
sealed copy, not by the chain.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.artifacts import CATALOGUE, DERIVED, LEDGER, artifact, validation_errors
from interlock.files import atomic_write, sha256_file, sha256_stream
from interlock.identity import Identity

if TYPE_CHECKING:
    from interlock.context import RunContext

GENESIS = "0" * 64
_SCHEMA = str(artifact(LEDGER).schema_name)
#: The steps that seal the evidence: their own lines at the end of the ledger are not part of what they seal.
SEALING_STEPS = ("4.1", "4.2")
#: What they write (manifest, bundle, sign-off): made from the evidence and checked against it by Gate 4's
#: manifest, bundle and signature conditions, not by the ledger (a killed 4.1 leaves them for its rerun to replace;
#: removing one takes a seal or an approval away, never adds one).
SEALS = frozenset(a.filename for a in CATALOGUE if a.step in SEALING_STEPS)
#: Kinds of line: a protocol step; an edit through an interlock command (keeps the edited file's identity);
#: a merge of shard reports; the services' last log lines written as they stop (keep the log's identity).
KINDS = ("step", "edit", "merge", "services")
_KEEPS_IDENTITY = {"edit", "services"}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tracked(root: Path, stamps: dict[str, tuple[int, int, int]] | None = None) -> dict[str, str]:
    """Every file of the folder the ledger accounts for, with its sha256: all but hidden ones, the ledger and derived views.

    `stamps`, when given, is filled with each file's (inode, mtime, size): a step that rewrites a file with the
    same bytes still produced it (see `changes`).
    """
    if not root.is_dir():
        return {}
    found: dict[str, str] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts) and rel != LEDGER and rel not in DERIVED:
            found[rel] = sha256_file(path)
            if stamps is not None:
                stat = path.stat()
                stamps[rel] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return dict(sorted(found.items()))


def config_digest(path: Path) -> str | None:
    """The sha256 of the config file a step ran with (None when it cannot be read)."""
    try:
        return sha256_file(path)
    except OSError:
        return None


def whoami() -> str:
    """Who runs interlock, for a step's `by` (the OS user; `INTERLOCK_BY` names a CI job's actor)."""
    if os.environ.get("INTERLOCK_BY", "").strip():
        return os.environ["INTERLOCK_BY"].strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Entry:
    """What one line says, once its chain and shape checked out."""

    seq: int
    step: str
    kind: str
    command: str
    by: str
    reason: str
    identity: Identity
    products: dict[str, str]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class Read:
    """A ledger read back: its entries up to the first break, and that break (the reading ends there)."""

    entries: list[Entry]
    problems: list[str]


def checked(lines: Iterable[bytes], problems: list[str]) -> Iterator[Entry]:
    """The entries of a ledger's raw lines (each ending in a newline) as their chain and shape check out.

    The first broken line ends the iteration with its problem added to `problems`:
    nothing after a break can be trusted. Streams, so a large ledger is never held whole.
    """
    prev = GENESIS
    for number, raw in enumerate(lines, 1):
        where = f"{LEDGER} line {number}"
        problem = _line_problem(raw, number, prev)
        if problem:
            problems.append(f"{where}: {problem}")
            return
        data = json.loads(raw)
        identity = Identity.from_dict(data["identity"])
        assert identity is not None  # the schema checked its shape
        yield Entry(number, data["step"], data["kind"], data["command"], data["by"], data["reason"], identity,
                    dict(data["products"]), tuple(data["removed"]))
        prev = sha256_bytes(raw.rstrip(b"\n"))


def _line_problem(raw: bytes, number: int, prev: str) -> str | None:
    if not raw.endswith(b"\n"):
        return "cut short (no line end, or longer than a line may be): the ledger was truncated or edited"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return "not a JSON object: the ledger was edited"
    errors = validation_errors(_SCHEMA, data)
    if errors:
        return errors[0]
    if data["prev"] != prev:
        return f"does not chain to the line before it (prev {data['prev'][:12]}, expected {prev[:12]}): a line was removed, reordered or edited"
    if data["seq"] != number:
        return f"numbered {data['seq']}, expected {number}: a line was removed or inserted"
    return None


def check_lines(lines: Iterable[bytes]) -> Read:
    """Verify a whole ledger's chain and each line's shape (see `checked`)."""
    problems: list[str] = []
    entries = list(checked(lines, problems))
    return Read(entries, problems)


def read(root: Path) -> Read | None:
    """The folder's ledger, checked; None when there is none."""
    path = root / LEDGER
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return check_lines(handle)


def append(root: Path, *, step: str, kind: str, command: str, by: str, reason: str, run_id: str, identity: Identity,
           config: str | None, materials: Mapping[str, str], products: Mapping[str, str], removed: Iterable[str] = (),
           redact: Any = None) -> dict[str, Any]:
    """Add one line after the ledger's last one (atomically: readers see the ledger with or without it).

    `redact` (a Redactor's `data`) masks known secret values in the command and reason before they are written.
    """
    path = root / LEDGER
    existing = path.read_bytes() if path.is_file() else b""
    lines = existing.splitlines(keepends=True)
    prev = sha256_bytes(lines[-1].rstrip(b"\n")) if lines else GENESIS
    line: dict[str, Any] = {
        "seq": len(lines) + 1, "prev": prev, "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "step": step, "kind": kind, "command": command, "by": by,
        "reason": reason, "run_id": run_id, "identity": identity.as_dict(), "config_digest": config,
        "materials": dict(sorted(materials.items())), "products": dict(sorted(products.items())), "removed": sorted(removed),
    }
    if redact is not None:
        line = redact(line)
    errors = validation_errors(_SCHEMA, line)
    if errors:
        raise ValueError(f"{LEDGER} line breaks its schema: " + "; ".join(errors[:3]))
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"  # a torn last line stays visible as a break rather than merging with this one
    atomic_write(path, existing + json.dumps(line, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n")
    return line


def line_for_step(ctx: RunContext, step: str, kind: str, reason: str, before: Mapping[str, str], products: Mapping[str, str], removed: Iterable[str]) -> None:
    """Append the line for what a step (or a part of one) did in the folder `ctx` writes, on the tree's identity now."""
    append(ctx.artifacts.root, step=step, kind=kind, command=ctx.command, by=ctx.by, reason=reason, run_id=ctx.run_id,
           identity=ctx.loaded.identity(ctx.published or ctx.artifacts.root), config=config_digest(ctx.loaded.path),
           materials=before, products=products, removed=removed, redact=ctx.redactor.data)


def record(root: Path, before: Mapping[str, str], *, step: str, kind: str, command: str, by: str, reason: str, run_id: str,
           identity: Identity, config: str | None, redact: Any = None) -> dict[str, Any]:
    """Append the line for what changed in `root` since the `tracked` snapshot `before` (an edit)."""
    products, removed = changes(before, tracked(root))
    return append(root, step=step, kind=kind, command=command, by=by, reason=reason, run_id=run_id, identity=identity, config=config,
                  materials=before, products=products, removed=removed, redact=redact)


def changes(before: Mapping[str, str], after: Mapping[str, str], touched: Iterable[str] = ()) -> tuple[dict[str, str], list[str]]:
    """(created, changed or `touched` files with their new digests, removed files) between two `tracked` snapshots.

    `touched` are files rewritten in between with the same bytes (a killed step's leftover that its rerun
    wrote again): the rerun produced them, so they are products too.
    """
    rewritten = set(touched)
    products = {rel: digest for rel, digest in after.items() if before.get(rel) != digest or rel in rewritten}
    return products, sorted(set(before) - set(after))


def step_changes(root: Path, before: Mapping[str, str], stamps: Mapping[str, tuple[int, int, int]]) -> tuple[dict[str, str], list[str]]:
    """What a step did to `root`, from the `tracked` snapshot (and its stamps) taken before it."""
    now: dict[str, tuple[int, int, int]] = {}
    after = tracked(root, now)
    return changes(before, after, {rel for rel, stamp in now.items() if stamps.get(rel) != stamp})




def sealable(path: Path) -> int:
    """How many bytes of the ledger a bundle seals: all but the sealing steps' own trailing lines.

    So re-bundling unchanged evidence seals the same ledger (and gives the same
    bytes); any other line, a defect edit or a rerun step, is sealed with it.
    """
    lines = path.read_bytes().splitlines(keepends=True)
    size = sum(map(len, lines))
    for raw in reversed(lines):
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            break
        if not (isinstance(data, dict) and data.get("kind") == "step" and data.get("step") in SEALING_STEPS):
            break
        size -= len(raw)
    return size


def sealed_prefix(path: Path, sha256: str, size: int) -> bool:
    """True when the ledger at `path` starts with the sealed copy (its first `size` bytes hash to `sha256`): lines were only appended."""
    try:
        with path.open("rb") as handle:
            digest, read = sha256_stream(handle, size)
    except OSError:
        return False
    return read == size and digest == sha256


@dataclass(frozen=True)
class Produced:
    """The last producer of a file's content: its digest, the line (step, command) and the identity of its evidence."""

    sha256: str
    seq: int
    step: str
    identity: Identity


def replay(entries: Iterable[Entry]) -> dict[str, Produced]:
    """The folder as the ledger says interlock left it."""
    state: dict[str, Produced] = {}
    for entry in entries:
        for rel in entry.removed:
            state.pop(rel, None)
        for rel, digest in entry.products.items():
            earlier = state.get(rel)
            identity = earlier.identity if entry.kind in _KEEPS_IDENTITY and earlier is not None else entry.identity
            state[rel] = Produced(digest, entry.seq, entry.step, identity)
    return state


def unproduced(files: Mapping[str, str], ledger: Read | None) -> list[str]:
    """One line per file whose content no step or interlock command produced (empty when the folder is as interlock left it)."""
    if ledger is None:
        return [f"{LEDGER} is missing: no step recorded what it wrote, so no artifact can be shown to be interlock's; rerun the protocol"] if files else []
    problems = list(ledger.problems)
    state = replay(ledger.entries)
    for rel, digest in files.items():
        if rel in SEALS:
            continue  # made from the evidence and checked against it (manifest coverage, bundle, signature); a resumed 4.1 replaces them
        made = state.get(rel)
        if made is None:
            problems.append(f"{rel}: no step or interlock command produced it (made or copied by hand)")
        elif made.sha256 != digest:
            problems.append(f"{rel}: changed after step {made.step} wrote it (ledger line {made.seq}): edited by hand, not through interlock")
    for rel in sorted(set(state) - set(files) - SEALS):
        problems.append(f"{rel}: written by step {state[rel].step} (ledger line {state[rel].seq}) but removed since")
    return problems


def identity_groups(files: Mapping[str, str], ledger: Read | None) -> dict[Identity, list[str]]:
    """The folder's files grouped by the identity each was produced on (files the ledger does not account for are left out)."""
    groups: dict[Identity, list[str]] = {}
    if ledger is None:
        return groups
    state = replay(ledger.entries)
    for rel, digest in files.items():
        made = state.get(rel)
        if made is not None and made.sha256 == digest:
            groups.setdefault(made.identity, []).append(rel)
    return groups


def evidence_identity(ledger: Read | None) -> Identity | None:
    """What the folder's evidence claims to be of: the identity of the latest step that produced something.

    A step that wrote nothing (a refused bundle or sign-off) is recorded, but says nothing about the evidence.
    """
    steps = [e for e in (ledger.entries if ledger else []) if e.kind in ("step", "merge") and (e.products or e.removed)]
    return steps[-1].identity if steps else None


def describe_groups(groups: Mapping[Identity, list[str]], reference: Identity | None, limit: int = 10) -> str:
    """`a.json, b.csv are of commit X (clean); c.json is of commit Y + uncommitted changes Z`, the reference identity first."""
    ordered = sorted(groups.items(), key=lambda item: (item[0] != reference, item[0].describe()))
    parts = []
    for identity, names in ordered:
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        parts.append(f"{shown} {'is' if len(names) == 1 else 'are'} of {identity.describe()}")
    if len({identity.commit for identity in groups}) == 1 and any(identity.dirty for identity in groups):
        parts.append("(one commit, but the work tree's uncommitted changes changed between steps: a file in the tree was edited "
                     "during the run; a log redirected into the tree counts too, so write such files outside it or list them in .gitignore)")
    return "; ".join(parts)


def identity_mismatches(groups: Mapping[Identity, list[str]], reference: Identity | None) -> list[str]:
    """The files produced on another identity than the reference (the latest step's)."""
    if reference is None or len(groups) < 2:
        return [] if len(groups) < 2 else sorted(n for names in groups.values() for n in names)
    return sorted(n for identity, names in groups.items() if identity != reference for n in names)


def refusal(root: Path, now: Identity) -> str | None:
    """Why the folder's evidence must not be sealed or signed on the work tree as it is `now`, or None.

    The first reason found: a file no step produced, artifacts of different
    identities, or evidence of another identity than the tree now checked out.
    """
    files = tracked(root)
    ledger = read(root)
    problems = unproduced(files, ledger)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return f"refused: {shown}"
    groups = identity_groups(files, ledger)
    reference = evidence_identity(ledger)
    if identity_mismatches(groups, reference):
        return f"refused: the evidence mixes runs on different code: {describe_groups(groups, reference)}; rerun `interlock run` on one commit"
    if reference is not None and reference != now:
        return (f"refused: the evidence was produced on {reference.describe()}, but the work tree is now {now.describe()}: "
                "rerun `interlock run` on the code you mean to certify")
    return None
