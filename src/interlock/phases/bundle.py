"""Step 4.1: index every artifact in the evidence manifest and seal them in INTEGRATION-EVIDENCE.zip.

The manifest lists exactly what Gate 4 checks (every file of the artifact
folder, logs included, but hidden files and the files made from the manifest),
so a fresh bundle always covers the folder. Each file carries the step and
command that produced it: the catalogue's for protocol artifacts, LOG_STEPS
for the logs steps write, and for the logs of the services interlock starts
(and of the environment's setup commands) step 1.2, which brings the
environment up, with the service's own command from the config (services
keep appending to their logs while later steps use them). A file interlock
did not write gets null for both. Re-bundling unchanged evidence
gives the same bytes: when only the clock fields would differ, the previous
manifest is kept as it is, and the bag-info carries no time of its own. The
bundle never carries an earlier sign-off; one that approved another manifest
is deleted here, since it is no longer evidence of anything.

Before anything is indexed, a final pass redacts the run's known secrets
(interlock.secrets) in every textual file in place, whatever wrote it (a
service, the pact verifier, a test), and then scans every file to be sealed,
binary ones and the content of gzip and zip files too, and the manifest and
bag-info as they will be written. A secret still found refuses the sealing:
no bundle (an earlier one is deleted, it no longer stands for the folder),
SEALING_REFUSED lists the files and the variables whose values they hold, never
a value, and Gate 4 fails with that list.
"""

from __future__ import annotations

import base64
import json
import platform
import shlex
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import interlock
from interlock import ledger
from interlock.junitsuite import XML_LOGS
from interlock.artifacts import BY_FILENAME, CATALOGUE, LEDGER, OTLP_RECEIVER, OTLP_SPANS, STATES_LOG
from interlock.config import Environment, Project
from interlock.errors import UsageError
from interlock.events import ArtifactWritten, Notice
from interlock.evidence import BUNDLE_NAME, EVIDENCE_MANIFEST_NAME, SIGNOFF_NAME, build_manifest, write_bundle
from interlock.evidence.bundle import textual
from interlock.files import atomic_write, sha256_file
from interlock.metrics import SEALING_REFUSED, UNBUNDLED
from interlock.paths import machine_paths, relativize
from interlock.statuses import StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext, tool_versions, utc_now
from interlock.secrets import MAX_EXPANDED, UNSCANNABLE, Redactor

#: Distributions whose versions shaped the evidence; absent ones are skipped.
TOOLS = ("interlock", "pact-python", "pact-python-ffi", "pytest", "pytest-json-report", "pytest-xdist", "pytest-timeout",
         "openapi-core", "schemathesis", "jsonschema", "securesystemslib", "cryptography")
CLOCK_FIELDS = frozenset({"generated_at", "started_at", "finished_at"})
#: Logs and the step that writes them. Service and setup logs are left out on
#: purpose: services append to them during every step that needs them.
LOG_STEPS = (
    ("logs/pytest-collect.log", "1.1"), ("logs/pact-*.log", "2.2"), ("logs/pacts/*", "2.2"), (STATES_LOG, "2.2"), ("logs/pytest.log", "3.1"),
    ("logs/pytest.*.log", "3.1"), (f"{XML_LOGS}/*", "3.1"), ("logs/regression-*.log", "3.3"),
    (OTLP_SPANS, "1.2"), (OTLP_RECEIVER, "1.2"),  # the OTLP receiver runs with the services, from the step that starts them
)
#: The step that brings the environment up: its setup commands and services write their logs from then on.
ENVIRONMENT_STEP = "1.2"
_STEP_COMMANDS = {a.step: a.command for a in reversed(CATALOGUE)}  # first catalogue entry of a step wins
#: The manifest's entry in the bag: the subject a sign-off must name.
MANIFEST_ENTRY = f"data/{EVIDENCE_MANIFEST_NAME}"


def evidence_files(root: Path) -> list[str]:
    """Every file the manifest must list, by the rule Gate 4 checks coverage with."""
    files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(f for f in files if f not in UNBUNDLED)


Origin = dict[str, str | None]


def environment_logs(env: Environment) -> dict[str, Origin]:
    """The logs of the environment's setup commands and of the services interlock starts, with their commands.

    The commands are the config's, unexpanded: a placeholder may stand for a secret.
    """
    logs: dict[str, Origin] = {}
    if env.setup:
        logs["logs/setup.log"] = {"phase": ENVIRONMENT_STEP, "command": " && ".join(shlex.join(c) for c in env.setup)}
    for name, service in env.services.items():
        if service.command:
            logs[f"logs/service-{name}.log"] = {"phase": ENVIRONMENT_STEP, "command": shlex.join(service.command)}
    return logs


def provenance(files: Sequence[str], logs: Mapping[str, Origin] | None = None) -> dict[str, Origin]:
    """Step and command of each file: the catalogue's for artifacts, `logs` and LOG_STEPS for logs, else none."""
    origin: dict[str, Origin] = {}
    for rel in files:
        if logs and rel in logs:
            origin[rel] = dict(logs[rel])
            continue
        step = BY_FILENAME[rel].step if rel in BY_FILENAME else next((s for pattern, s in LOG_STEPS if fnmatch(rel, pattern)), None)
        origin[rel] = {"phase": step, "command": _STEP_COMMANDS.get(step) if step else None}
    return origin


def artifact_index(root: Path, meta: Mapping[str, Any], logs: Mapping[str, Origin] | None = None) -> dict[str, Any]:
    """The manifest of what the folder holds now, with the given metadata (and the environment's logs, see `environment_logs`)."""
    files = evidence_files(root)
    prefixes = {LEDGER: ledger.sealable(root / LEDGER)} if LEDGER in files else {}
    return build_manifest(root, files, meta=meta, provenance=provenance(files, logs), prefixes=prefixes)


def sealed_files(manifest: Mapping[str, Any]) -> list[str]:
    """What the bundle holds: the manifest's artifacts and the manifest itself."""
    return [a["path"] for a in manifest["artifacts"]] + [EVIDENCE_MANIFEST_NAME]


def sealed_prefixes(manifest: Mapping[str, Any]) -> dict[str, int]:
    """The append-only files the manifest sealed as they were then (the run ledger: its size when the manifest was made)."""
    return {a["path"]: a["size"] for a in manifest["artifacts"] if a["path"] == LEDGER}


def bag_info(manifest: Mapping[str, Any], project: Project) -> dict[str, str]:
    """bag-info.txt fields: all from the manifest and the config, so the same manifest gives the same bag."""
    title = f"{project.name} {project.version}" if project.version else project.name
    info = {
        "Source-Organization": project.name,
        "External-Identifier": manifest["run_id"],
        "External-Description": f"PROTOCOL-9 integration evidence of {title}, environment {manifest['environment']}",
        "Bagging-Date": manifest["generated_at"][:10],
        "Interlock-Environment": manifest["environment"],
        "Interlock-Version": manifest["interlock_version"],
    }
    if project.version:
        info["Interlock-Project-Version"] = project.version
    if manifest["source"]["git_commit"]:
        info["Interlock-Git-Commit"] = manifest["source"]["git_commit"]
    return info


def _meta(ctx: RunContext) -> dict[str, Any]:
    source = ctx.loaded.identity(ctx.published or ctx.artifacts.root)
    now = utc_now()
    tools = {**tool_versions(TOOLS), "python": platform.python_version()}
    return {
        "generated_at": now, "run_id": ctx.run_id, "environment": ctx.env_name, "interlock_version": interlock.__version__,
        "started_at": ctx.started_at, "finished_at": now, "tools": tools,
        "git_commit": source.commit, "git_dirty": source.dirty, "changes_digest": source.changes_digest,
    }


def _settle_clock(fresh: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The previous manifest when only its clock fields differ: the same evidence keeps the same bytes."""
    if previous is None:
        return fresh

    def timeless(manifest: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in manifest.items() if k not in CLOCK_FIELDS}

    return previous if timeless(previous) == timeless(fresh) else fresh


def _signed_manifest_digest(path: Path) -> str | None:
    """The manifest digest a sign-off claims to approve (unverified: only to tell whether it is stale)."""
    try:
        statement = json.loads(base64.b64decode(json.loads(path.read_bytes())["payload"], validate=True))
        digest: str = next(s["digest"]["sha256"] for s in statement["subject"] if s["name"] == MANIFEST_ENTRY)
        return digest
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def _drop_stale_signoff(ctx: RunContext) -> None:
    signoff = ctx.artifacts.path(SIGNOFF_NAME)
    if not signoff.is_file():
        return
    if _signed_manifest_digest(signoff) == sha256_file(ctx.artifacts.path(EVIDENCE_MANIFEST_NAME)):
        ctx.emit(Notice("4.1", f"{SIGNOFF_NAME} still approves this manifest, but the new bundle does not carry it: "
                        "run `interlock signoff` to seal the bundle again"))
        return
    signoff.unlink()
    ctx.emit(Notice("4.1", f"removed {SIGNOFF_NAME}: it approved an earlier manifest; run `interlock signoff` again"))


def relative_paths(root: Path, files: Sequence[str], project_root: Path) -> None:
    """Rewrite every textual file so no absolute path of this machine is sealed (interlock.paths: relative or labelled).

    The run ledger is left as it is: it is append-only and each line is chained
    to the one before, so a rewrite would break the very record Gate 4 reads.
    """
    replacements = machine_paths(project_root)
    for rel in files:
        if not textual(rel) or rel == LEDGER:
            continue
        path = root / rel
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not UTF-8 text after all: left as written (the secret scan still reads it)
        fixed = relativize(text, replacements)
        if fixed != text:
            atomic_write(path, fixed.encode("utf-8"))


def leaked_secrets(root: Path, files: Sequence[str], redactor: Redactor) -> dict[str, list[str]]:
    """The final pass: every textual file redacted in place; then the files still holding a known value, with its variables."""
    leaks: dict[str, list[str]] = {}
    for rel in files:
        path = root / rel
        found = redactor.scan(path)
        if found and textual(rel) and redactor.redact_file(path):
            found = redactor.scan(path)
        if found:
            leaks[rel] = sorted(found)
    return leaks


def _why(rel: str, names: list[str]) -> str:
    """One line of SEALING_REFUSED: the variables whose values a file holds, or that it cannot be proven clean."""
    known = [n for n in names if n != UNSCANNABLE]
    if known:
        return f"{rel} holds the value of {', '.join(known)}"
    return f"{rel} cannot be scanned to the end (more than {MAX_EXPANDED >> 30} GiB once decompressed)"


def _refuse(ctx: RunContext, leaks: Mapping[str, list[str]]) -> Outcome:
    """No bundle while a secret is in the evidence: record which files hold one (by variable name) for Gate 4."""
    ctx.artifacts.path(BUNDLE_NAME).unlink(missing_ok=True)  # an earlier bundle no longer stands for this folder
    lines = [_why(rel, names) for rel, names in sorted(leaks.items())]
    ctx.artifacts.write_text(SEALING_REFUSED, "\n".join(lines) + "\n")
    ctx.emit(ArtifactWritten(SEALING_REFUSED))
    shown = "; ".join(lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    return Outcome(StepStatus.FAIL, f"sealing refused, a secret could not be redacted: {shown}; remove it from the file (or the file), then rerun")


def _manifest_leaks(manifest: Mapping[str, Any], info: Mapping[str, str], redactor: Redactor) -> dict[str, list[str]]:
    """Secrets in the manifest or bag-info as they will be written (a file name, a command from the config)."""
    leaks = {}
    for name, text in ((EVIDENCE_MANIFEST_NAME, json.dumps(manifest, indent=2, default=str)), ("bag-info.txt", json.dumps(info))):
        found = redactor.found(text.encode("utf-8"))
        if found:
            leaks[name] = sorted(found)
    return leaks


def run(ctx: RunContext) -> Outcome:
    """Redact and scan the evidence, then write integration-evidence-manifest.json and INTEGRATION-EVIDENCE.zip over it."""
    root = ctx.artifacts.root
    refusal = ledger.refusal(root, ctx.loaded.identity(ctx.published or root))
    if refusal:
        return Outcome(StepStatus.FAIL, f"bundle {refusal}")
    try:
        previous = ctx.artifacts.read_json_or_none(EVIDENCE_MANIFEST_NAME)
    except UsageError:
        previous = None  # a corrupt manifest is simply replaced
    try:
        before = ledger.tracked(root)
        relative_paths(root, evidence_files(root), ctx.loaded.root)
        leaks = leaked_secrets(root, evidence_files(root), ctx.redactor)
        redacted, _ = ledger.changes(before, ledger.tracked(root))
        if redacted:  # the ledger accounts for every byte: masking is interlock's edit, keeping the files' identity
            ledger.line_for_step(ctx, "4.1", "edit", "absolute paths made relative and known secret values masked in place before sealing: "
                                 + ", ".join(sorted(redacted))[:500], before, redacted, [])
        if leaks:
            return _refuse(ctx, leaks)
        manifest = _settle_clock(artifact_index(root, _meta(ctx), environment_logs(ctx.spec.raw)), previous)
    except (OSError, ValueError) as exc:
        return Outcome(StepStatus.FAIL, f"cannot index the artifacts: {exc}")
    if not [a for a in manifest["artifacts"] if a["path"] != LEDGER]:
        return Outcome(StepStatus.FAIL, f"{root} holds no evidence to bundle: run the protocol's steps first")
    info = bag_info(manifest, ctx.config.project)
    leaks = _manifest_leaks(manifest, info, ctx.redactor)
    if leaks:
        return _refuse(ctx, leaks)
    ctx.artifacts.path(SEALING_REFUSED).unlink(missing_ok=True)
    ctx.artifacts.write_json(EVIDENCE_MANIFEST_NAME, manifest)
    ctx.emit(ArtifactWritten(EVIDENCE_MANIFEST_NAME))
    _drop_stale_signoff(ctx)
    zip_path = ctx.artifacts.path(BUNDLE_NAME)
    try:
        write_bundle(root, sealed_files(manifest), zip_path, bag_info=info, prefixes=sealed_prefixes(manifest))
    except (OSError, ValueError) as exc:
        return Outcome(StepStatus.FAIL, f"cannot write {BUNDLE_NAME}: {exc}")
    ctx.emit(ArtifactWritten(BUNDLE_NAME))
    return Outcome(StepStatus.PASS, f"{len(manifest['artifacts'])} artifacts, {zip_path.stat().st_size / (1 << 20):.2f} MiB")
