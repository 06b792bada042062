"""The run identity: which code the evidence was produced on (git commit, dirty flag, digest of the changes).

One definition for every reader (the ledger and so Gate 4, the test report,
the manifest, the history store and its flakiness check), so they can never
disagree on what "the current commit" is: `current` decides it, `commit_key`
is the same identity as the history store keeps it. A commit alone is not the code under test when the work tree has changes:
the identity adds a digest of every changed, deleted and untracked, not
ignored file (path and content) of the WHOLE repository (git's top level, not
only the folder of `interlock.toml`: a system's code, its tests and its
libraries may sit anywhere in the repository; `[project] repository` names
another checkout when the config lives outside the system's), leaving out what interlock itself
writes (the artifact folder, its staging and lock siblings, `.interlock/`) and
the caches Python tools drop everywhere (`__pycache__`, `.pytest_cache`). Two
identities are equal only when both the commit and that digest are.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.files import sha256_file

#: Never part of the code under test, wherever they sit in the tree.
CACHES = ("__pycache__", ".pytest_cache")
#: interlock's own folder under the system's root (keys, run state, history).
OWN_FOLDER = ".interlock"
#: CI's name for the commit under test (GitHub, GitLab, Jenkins; INTERLOCK_GIT_COMMIT sets it by hand), first set wins.
CI_COMMIT_VARIABLES = ("INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT")


@dataclass(frozen=True)
class Identity:
    """The code a step ran on: `commit` None outside a git work tree; `changes_digest` None when the tree is clean."""

    commit: str | None
    dirty: bool | None
    changes_digest: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "changes_digest": self.changes_digest}

    @classmethod
    def from_dict(cls, data: Any) -> Identity | None:
        """The identity a ledger line records, or None when it is not one (a hand-made line)."""
        if not isinstance(data, dict):
            return None
        commit, dirty, digest = data.get("commit"), data.get("dirty"), data.get("changes_digest")
        if not (commit is None or isinstance(commit, str)) or not (dirty is None or isinstance(dirty, bool)) or not (digest is None or isinstance(digest, str)):
            return None
        return cls(commit, dirty, digest)

    def describe(self) -> str:
        """As people read it: `commit 1a2b3c4d5e6f`, with `+ uncommitted changes <digest>` when dirty."""
        if self.commit is None and self.dirty is None:
            return "no git commit (not a git work tree)"
        head = f"commit {self.commit[:12]}" if self.commit else "no commit yet"
        return f"{head} + uncommitted changes {str(self.changes_digest)[:12]}" if self.dirty else f"{head} (clean)"

    def key(self) -> str:
        """A compact form for the history store: the bare commit when clean, `commit+digest` when dirty."""
        base = self.commit or "none"
        return f"{base}+{str(self.changes_digest)[:12]}" if self.dirty else base


def run_git(root: Path, *args: str, text: bool = True) -> Any:
    """Run git read-only in `root`; None on any failure (git missing, not a work tree)."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=text, env=env, timeout=60, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def own_paths(root: Path, artifacts: Path | None, top: Path | None = None) -> list[str]:
    """Paths (relative to `top`, git pathspec globs) that interlock writes: never changes of the code under test.

    `top` is the repository's top level (default `root`); `.interlock/` sits
    under the system's `root`. The artifact folder and every sibling named
    after it (`.<name>.run-*` staging folders, `.<name>.lock`, `.<name>.old`...)
    are the run's own output.
    """
    base = (top or root).resolve()
    paths = [_relative(root.resolve() / OWN_FOLDER, base)]
    if artifacts is not None:
        resolved = artifacts.resolve()
        if resolved.is_relative_to(base) and resolved != base:
            rel = resolved.relative_to(base)
            parent = rel.parent.as_posix()
            paths += [rel.as_posix(), f"{parent}/.{rel.name}.*" if parent != "." else f".{rel.name}.*"]
    return [p for p in paths if p]


def _relative(path: Path, base: Path) -> str:
    """`path` relative to `base` as a pathspec, or "" when it lies outside (nothing to leave out then)."""
    return path.relative_to(base).as_posix() if path.is_relative_to(base) and path != base else ""


def _pathspecs(excluded: Sequence[str]) -> list[str]:
    """Git pathspecs of the whole tree minus `excluded` (a path is left out with everything under it) and the caches."""
    return [":/", *(f":(top,exclude,glob){p}{tail}" for p in excluded for tail in ("", "/**")), *(f":(top,exclude,glob)**/{c}/**" for c in CACHES)]


def head(root: Path) -> str | None:
    """The commit checked out at `root` (None outside a git work tree or before the first commit)."""
    found = run_git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    return found.strip() if found and found.strip() else None


def top_level(root: Path) -> Path | None:
    """The work tree's top level that `root` lies in (None outside a git work tree)."""
    found = run_git(root, "rev-parse", "--show-toplevel")
    return Path(found.strip()) if found and found.strip() else None


def current(root: Path, artifacts: Path | None = None, *, exclude: Sequence[str] = (), system: Path | None = None) -> Identity:
    """The identity of the whole work tree `root` lies in, now.

    `artifacts` is the published artifact folder (left out with its siblings);
    `exclude` are more paths relative to the top level to leave out; `system`
    is the config's folder, whose `.interlock/` is interlock's own (default
    `root`: it differs when `[project] repository` names the repository under test).
    """
    top = top_level(root)
    if top is None:
        return Identity(None, None, None)
    excluded = [*own_paths(system or root, artifacts, top), *exclude]
    status = run_git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *_pathspecs(excluded), text=False)
    if status is None:
        return Identity(None, None, None)
    commit = head(top)
    changed = sorted({entry[3:].decode("utf-8", "surrogateescape") for entry in status.split(b"\0") if len(entry) > 3})
    if not changed:
        return Identity(commit, False, None)
    digest = hashlib.sha256()
    for rel in changed:
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0" + _content_digest(top / rel).encode() + b"\n")
    return Identity(commit, True, digest.hexdigest())


def commit_key(root: Path, artifacts: Path | None = None, *, system: Path | None = None) -> str | None:
    """The commit a run is kept under in the history store: CI's commit variable when set, else `current(...).key()`.

    A work tree with uncommitted changes is not HEAD's code: it becomes
    ``HEAD+<digest of the changes>``, the identity the run ledger records (the
    artifact folder left out just as there), so two runs around a local edit
    are never mistaken for one commit that both passed and failed (flaky).
    None outside a git work tree (and before the first commit) with no CI variable.
    When `system` (the config's folder) is not in `root`'s work tree, the
    repository under test is another checkout than the one CI's variables name:
    only INTERLOCK_GIT_COMMIT, set by hand, speaks for it.
    """
    elsewhere = system is not None and system != root and top_level(system) != top_level(root)
    for var in CI_COMMIT_VARIABLES[:1] if elsewhere else CI_COMMIT_VARIABLES:
        if os.environ.get(var):
            return os.environ[var].strip()
    found = current(root, artifacts, system=system)
    return found.key() if found.commit else None


def _content_digest(path: Path) -> str:
    """A changed file's content as it is now: deleted, a symlink's target, or the bytes' sha256."""
    try:
        if path.is_symlink():
            return "symlink:" + os.readlink(path)
        if not path.is_file():
            return "deleted"
        return sha256_file(path)
    except OSError:
        return "unreadable"
