"""Issue 13: `interlock verify` stays bounded on any input.

`hostile_bundle` writes a small zip (a few MiB) whose six parsed entries,
`bagit.txt`, `bag-info.txt`, both manifests, the evidence manifest and the
sign-off, each sit just under its parse cap (TAG_FILE_LIMIT for the first
three, PARSED_ENTRY_LIMIT for the others),
filled with what costs the most to parse: distinct tag labels, distinct
manifest lines naming missing files, folded continuation lines, an evidence
manifest and a validly signed predicate just under the JSON value cap. Each
line is a problem, so the verifier finds hundreds of thousands.

`verify.hostile.peak_rss`: the peak resident set of `interlock verify` on it
(MiB), against the same command on an intact bundle (the interpreter and its
imports) as the baseline. The line also gives the exit code and the lines
printed; `error` is set (so `met` is false) unless the command exits 1,
prints at most `MAX_LINES` lines, and peaks under 150 MiB.

The peak is read as `RUSAGE_CHILDREN` in a small wrapper process that only
starts the command: Linux carries ru_maxrss across exec, so measured from a
big parent it would start at the parent's own peak.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from benchmark import Benchmark, Measurement

PEAK_RSS_TARGET_MIB = 150
#: The problem lines `interlock verify` may print: MAX_PROBLEMS, then "... and N more problems".
MAX_LINES = 51
TARGET = 2.5
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(done.returncode, peak, len(done.stdout.splitlines()), len(done.stderr.splitlines()))\n"
)


def _fill(head: str, line: str, tail: str, budget: int) -> bytes:
    """`head`, then `line.format(i)` for i = 0, 1, ... while the text stays within `budget` bytes, then `tail`."""
    parts, size, i = [head], len(head) + len(tail), 0
    while True:
        text = line.format(i)
        if size + len(text) > budget:
            break
        parts.append(text)
        size += len(text)
        i += 1
    return ("".join(parts) + tail).encode("utf-8")


def _json_array(head: str, item: str, tail: str, budget: int, max_values: int) -> bytes:
    """`head`, then `item.format(i)` for i = 0, 1, ... joined by commas, then `tail`: as many items as keep the
    document within `budget` bytes and its value bound (see `json_value_bound`) within `max_values`."""
    from interlock.evidence._common import json_value_bound

    per_item = json_value_bound(item.format(0).encode()) + 1  # its own values and the comma before it
    room = max_values - json_value_bound((head + tail).encode()) - 1
    parts, size, i = [], len(head) + len(tail), 0
    while (i + 1) * per_item <= room:
        text = item.format(i)
        if size + len(text) + 1 > budget:
            break
        parts.append(text)
        size += len(text) + 1
        i += 1
    return (head + ",".join(parts) + tail).encode("utf-8")


def hostile_bundle(directory: Path) -> tuple[Path, Path]:
    """Write the hostile bundle and the public key its sign-off verifies with; returns (zip, public key)."""
    from interlock.evidence import PAYLOAD_TYPE, generate_keypair, sign_statement
    from interlock.evidence._common import MAX_JSON_VALUES, json_value_bound
    from interlock.evidence._zipscan import PARSED_ENTRY_LIMIT, TAG_FILE_LIMIT

    budget, tag_budget = PARSED_ENTRY_LIMIT - 1024, TAG_FILE_LIMIT - 1024
    digest = "ab" * 32
    private, public = directory / "hostile.key", directory / "hostile.pub"
    generate_keypair(private, public)
    waiver = '{{"target":"tests.ran","approver":"","justification":"","expires":"never {0}"}}'
    # base64 grows the payload by 4/3, and the envelope adds a little around it
    payload = _json_array('{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{"waivers":[',
                          waiver, "]}}", budget * 3 // 4 - 2048, MAX_JSON_VALUES)
    envelope = sign_statement(json.loads(payload), private)
    assert envelope["payloadType"] == PAYLOAD_TYPE and json_value_bound(base64.b64decode(envelope["payload"])) <= MAX_JSON_VALUES
    artifact = '{{"path":"f{0}","sha256":"' + digest + '","size":{0}}}'
    entries = {
        "bagit.txt": _fill("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nX: x\n", " {0}\n", "", tag_budget),
        "bag-info.txt": _fill("", "L{0}: v\n", "", tag_budget),
        "manifest-sha256.txt": _fill("", digest + "  data/f{0}\n", "", budget),
        "tagmanifest-sha256.txt": _fill("", digest + "  t{0}.txt\n", "", tag_budget),
        "data/integration-evidence-manifest.json": _json_array('{"manifest_version":1,"artifacts":[', artifact, "]}",
                                                               budget, MAX_JSON_VALUES),
        "integration-signoff.json": json.dumps(envelope).encode(),
    }
    zip_path = directory / "hostile.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return zip_path, public


def intact_bundle(directory: Path) -> tuple[Path, Path]:
    """A small sealed and signed bundle (the baseline's input); returns (zip, public key)."""
    from interlock.evidence import (
        EVIDENCE_MANIFEST_NAME, SIGNOFF_NAME, build_manifest, bundle_subjects, envelope_bytes, generate_keypair,
        make_statement, manifest_bytes, sign_statement, write_bundle,
    )

    root = directory / "artifacts"
    root.mkdir()
    (root / "report.json").write_text('{"ok": true}\n')
    meta = {"generated_at": "2026-01-01T00:00:00Z", "run_id": "bench", "environment": "integration", "interlock_version": "bench",
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z"}
    (root / EVIDENCE_MANIFEST_NAME).write_bytes(manifest_bytes(build_manifest(root, ["report.json"], meta=meta)))
    files = ["report.json", EVIDENCE_MANIFEST_NAME]
    private, public = directory / "intact.key", directory / "intact.pub"
    generate_keypair(private, public)
    zip_path = directory / "intact.zip"
    bag_info = {"Source-Organization": "bench"}
    write_bundle(root, files, zip_path, bag_info=bag_info)
    gate = {"gate": 1, "verifier": {"id": "bench"}, "timeVerified": "2026-01-01T00:00:00Z",
            "policy": {"uri": "bench", "digest": {"sha256": "c" * 64}}, "verificationResult": "PASSED"}
    predicate = {"approver": "bench", "signed_at": "2026-01-01T00:00:00Z", "scope": "bench", "gates": [gate], "run_id": "bench", "waivers": []}
    envelope = sign_statement(make_statement(bundle_subjects(zip_path), predicate), private)
    write_bundle(root, files, zip_path, bag_info=bag_info, extra_tag_files={SIGNOFF_NAME: envelope_bytes(envelope)})
    return zip_path, public


def run_verify(zip_path: Path, public: Path) -> dict[str, Any]:
    """`interlock verify` in a fresh wrapper process: its exit code, peak RSS (MiB) and stdout/stderr line counts."""
    command = [sys.executable, "-m", "interlock", "verify", str(zip_path), "--pubkey", str(public)]
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True)
    code, peak, out_lines, err_lines = done.stdout.split()
    return {"exit_code": int(code), "peak_rss_mib": round(float(peak), 1), "stdout_lines": int(out_lines), "stderr_lines": int(err_lines)}


def measure() -> Measurement:
    directory = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        hostile = run_verify(*hostile_bundle(directory))
        intact = run_verify(*intact_bundle(directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    extra: dict[str, Any] = {**{f"hostile_{k}": v for k, v in hostile.items()}, "intact_exit_code": intact["exit_code"],
                             "peak_rss_target_mib": PEAK_RSS_TARGET_MIB, "max_lines": MAX_LINES}
    lines = hostile["stdout_lines"] + hostile["stderr_lines"]
    if hostile["exit_code"] != 1 or intact["exit_code"] != 0:
        extra["error"] = f"exit codes {hostile['exit_code']} (hostile, expected 1) and {intact['exit_code']} (intact, expected 0)"
    elif lines > MAX_LINES:
        extra["error"] = f"{lines} lines printed, more than {MAX_LINES}"
    elif hostile["peak_rss_mib"] >= PEAK_RSS_TARGET_MIB:
        extra["error"] = f"peak RSS {hostile['peak_rss_mib']} MiB is not under {PEAK_RSS_TARGET_MIB} MiB"
    return hostile["peak_rss_mib"], intact["peak_rss_mib"], extra


BENCHMARKS = [Benchmark("verify.hostile.peak_rss", TARGET, measure)]
