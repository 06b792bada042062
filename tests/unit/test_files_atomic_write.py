"""A write that fails at the point of writing leaves the previous artifact whole and no temporary file behind.

The failure is real where the OS can give it without privileges: a child
process with `RLIMIT_FSIZE` below the artifact's size gets EFBIG from the
kernel on the write itself (CPython ignores SIGXFSZ, so the write fails
instead of killing the process). A full disk (ENOSPC) is simulated at the
last moment a write can fail, `os.fsync`, and at the rename.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from interlock.artifacts import ArtifactDir, atomic_write

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
LIMIT = 2048  # bytes: a child may write no file past this size


def limit_file_size() -> None:
    """preexec_fn: cap the size of every file the child writes (it gets EFBIG past it)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_write_past_the_file_size_limit_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "integration-scope-matrix.json"
    target.write_text('{"old": true}\n', "utf-8")
    script = (
        "import errno, json, sys\n"
        "from pathlib import Path\n"
        "from interlock.artifacts import atomic_write\n"
        "try:\n"
        f"    atomic_write(Path(sys.argv[1]), b'x' * {LIMIT * 4})\n"
        "except OSError as exc:\n"
        "    print(json.dumps({'errno': exc.errno, 'filename': exc.filename, 'strerror': exc.strerror}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], preexec_fn=limit_file_size, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    failure = json.loads(done.stdout)
    assert failure == {"errno": errno.EFBIG, "filename": str(target), "strerror": "cannot write: File too large"}
    assert target.read_text("utf-8") == '{"old": true}\n'
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_a_full_disk_keeps_the_previous_json_artifact_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    folder = ArtifactDir(tmp_path)
    previous = {"schema_version": 1, "generated_at": "2026-01-01T00:00:00Z", "status": "pass", "gates": []}
    folder.write_json("gate-results.json", previous)

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, where, full)
    with pytest.raises(OSError) as raised:
        folder.write_json("gate-results.json", {**previous, "status": "fail"})
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "gate-results.json")
    assert json.loads((tmp_path / "gate-results.json").read_text("utf-8")) == previous
    assert leftovers(tmp_path) == []


def test_an_interrupt_mid_write_removes_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "defect-log.csv"
    target.write_text("old\n", "utf-8")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert target.read_text("utf-8") == "old\n"
    assert leftovers(tmp_path) == []


def test_the_cli_reports_a_failed_write_in_one_line_and_keeps_the_old_artifact(tmp_path: Path) -> None:
    art = tmp_path / "art"
    command = [sys.executable, "-m", "interlock", "--artifacts", str(art), "gates"]
    first = subprocess.run(command, cwd=SHOP, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1, first.stderr  # nothing ran: every gate fails, gate-results.json is written
    before = (art / "gate-results.json").read_bytes()
    assert len(before) > LIMIT
    limited = subprocess.run(command, cwd=SHOP, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
    assert limited.returncode == 1
    assert "Traceback" not in limited.stderr and "internal error" not in limited.stderr
    lines = limited.stderr.strip().splitlines()
    assert lines == [f"interlock: error: {art / 'gate-results.json'}: cannot write: File too large; free disk space or fix permissions, "
                     "then rerun (artifacts already written are left as they were)"], limited.stderr
    assert (art / "gate-results.json").read_bytes() == before
    json.loads(before)
    assert leftovers(art) == []


def test_a_run_that_cannot_write_leaves_the_published_evidence_as_it_was(tmp_path: Path) -> None:
    """A whole `interlock run` whose first artifact write fails: one line, and the previous run's folder byte for byte."""
    import shutil

    system = tmp_path / "system"
    shutil.copytree(REPO / "tests" / "corpus" / "system", system)
    published = system / ".artifacts" / "integration"
    before = {
        Path("integration-scope-matrix.json"): b'{"from": "the previous run"}\n',
        Path("gate-results.json"): b'{"status": "pass"}\n',
        Path("logs") / "pytest.log": b"previous log\n",
    }
    for relative, data in before.items():
        (published / relative).parent.mkdir(parents=True, exist_ok=True)
        (published / relative).write_bytes(data)
    limited = subprocess.run([sys.executable, "-m", "interlock", "run", "--yes"], cwd=system, capture_output=True, text=True, timeout=120,
                             preexec_fn=limit_file_size)
    assert limited.returncode == 1, limited.stdout + limited.stderr
    assert "Traceback" not in limited.stdout + limited.stderr
    [line] = limited.stderr.strip().splitlines()
    assert line.startswith("interlock: error: ") and ": cannot write: File too large; " in line, line
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert after == before


def test_artifacts_and_bundles_are_readable_as_the_umask_allows(tmp_path: Path) -> None:
    """mkstemp's 0600 must not reach published evidence: an auditor or a CI upload reads it as another user."""
    import stat

    from interlock.evidence import write_bundle
    from interlock.files import FILE_MODE

    atomic_write(tmp_path / "art" / "a.json", b"{}")
    write_bundle(tmp_path / "art", ["a.json"], tmp_path / "bundle.zip", bag_info={})
    for path in (tmp_path / "art" / "a.json", tmp_path / "bundle.zip"):
        assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert FILE_MODE & 0o400 and not FILE_MODE & 0o111
