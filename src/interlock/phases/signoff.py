"""Step 4.2: the approver's signed sign-off over the sealed evidence bundle.

Nothing is signed while Gates 1–3 fail (unless waivers cover every failed
blocking condition), while the prompt is declined, or while the bundle no
longer matches the artifact folder: a signature must only ever approve
evidence that passed. The signature is an in-toto Statement in a DSSE
envelope over the bundle's own `manifest-sha256.txt` and evidence manifest;
the bundle is then rewritten to carry it and verified as an auditor would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlock.engine import gate_results
from interlock.events import ArtifactWritten, Notice
from interlock.evidence import (
    BUNDLE_NAME,
    EVIDENCE_MANIFEST_NAME,
    SIGNOFF_NAME,
    bundle_subjects,
    make_statement,
    sign_statement,
    verify_bundle,
    write_bundle,
)
from interlock.gates import failures
from interlock.metrics import sha256_file
from interlock.phases import HaltRun, Outcome
from interlock.phases.bundle import MANIFEST_ENTRY, artifact_index, bag_info, sealed_files
from interlock.runtime import RunContext, utc_now

#: Set by `interlock signoff --approver NAME --key FILE`; `[signoff]` of the config otherwise.
OVERRIDES: dict[str, Any] = {}
GATES = (1, 2, 3)


def _predicate(ctx: RunContext, approver: str, manifest: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """What the approver signs: who, when, the scope, and each gate's verdict with its raw failures and the waivers used."""
    gates = [
        {"gate": g["id"], "name": g["name"], "status": g["status"],
         "conditions_failed": [c["id"] for c in g["conditions"] if c["raw_status"] == "fail"]}
        for g in document["gates"]
    ]
    waivers = {w["target"]: w for g in document["gates"] for c in g["conditions"] for w in c["waivers"]}
    project, settings = ctx.config.project, ctx.config.signoff
    return {
        "approver": approver, "role": settings.role, "signed_at": utc_now(),
        "scope": {"statement": settings.scope, "project": project.name, "version": project.version, "environment": manifest["environment"]},
        "run_id": manifest["run_id"], "environment": manifest["environment"], "gates": gates,
        "waivers": [waivers[t] for t in sorted(waivers)],
    }


def _credentials(ctx: RunContext) -> tuple[str, Path] | str:
    """(approver, private key path), or why there is none and how to get one."""
    signoff = ctx.config.signoff
    approver = OVERRIDES.get("approver") or signoff.approver
    key = OVERRIDES.get("key") or signoff.key
    if not approver:
        return "no approver: pass `interlock signoff --approver NAME` or set [signoff] approver in interlock.toml"
    if not key:
        return ("no signing key: create one with `interlock keygen`, then set [signoff] key and pubkey in "
                "interlock.toml (or pass --key FILE)")
    path = ctx.loaded.resolve(str(key))
    if not path.is_file():
        return f"signing key {path} does not exist: create it with `interlock keygen --out {key}`"
    return approver, path


def _sealed(ctx: RunContext) -> tuple[dict[str, Any], dict[str, str]] | str:
    """The current manifest and the bundle's subjects, or why the bundle cannot be signed as it is."""
    manifest = ctx.artifacts.read_json_or_none(EVIDENCE_MANIFEST_NAME)
    zip_path = ctx.artifacts.path(BUNDLE_NAME)
    if manifest is None or not zip_path.is_file():
        return "no evidence bundle to sign: run `interlock bundle` first"
    if manifest["environment"] != ctx.env_name:
        return f"the bundle holds evidence of environment {manifest['environment']!r}, not {ctx.env_name!r}"
    now = {a["path"]: a["sha256"] for a in artifact_index(ctx.artifacts.root, manifest)["artifacts"]}
    then = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    changed = sorted(p for p in now.keys() | then.keys() if now.get(p) != then.get(p))
    if changed:
        return f"the artifacts changed after the bundle ({', '.join(changed[:10])}): run `interlock bundle` again"
    subjects = bundle_subjects(zip_path)
    if subjects[MANIFEST_ENTRY] != sha256_file(ctx.artifacts.path(EVIDENCE_MANIFEST_NAME)):
        return f"{BUNDLE_NAME} does not hold the current manifest: run `interlock bundle` again"
    return manifest, subjects


def run(ctx: RunContext) -> Outcome:
    """Sign the bundle if Gates 1–3 pass and the approver agrees; fail with the reason otherwise."""
    document = gate_results(ctx.artifacts, ctx.loaded, GATES)
    failed = [line for gate in document["gates"] for line in failures(gate)]
    if failed:
        return Outcome("fail", "sign-off refused while Gates 1-3 fail: " + "; ".join(failed))
    if not ctx.ask("sign-off"):
        raise HaltRun("4.2", "sign-off declined at the prompt: nothing was signed; rerun `interlock signoff` to approve")
    credentials = _credentials(ctx)
    if isinstance(credentials, str):
        return Outcome("fail", credentials)
    approver, key = credentials
    try:
        sealed = _sealed(ctx)
    except (OSError, ValueError) as exc:
        return Outcome("fail", f"cannot read the evidence bundle: {exc}")
    if isinstance(sealed, str):
        return Outcome("fail", sealed)
    manifest, subjects = sealed
    try:
        envelope = sign_statement(make_statement(subjects, _predicate(ctx, approver, manifest, document)), key)
    except (OSError, ValueError) as exc:
        return Outcome("fail", f"cannot sign with {key}: {exc}")
    ctx.artifacts.write_json(SIGNOFF_NAME, envelope)
    ctx.emit(ArtifactWritten(SIGNOFF_NAME))
    signed = f"signed by {approver} (keyid {envelope['signatures'][0]['keyid'][:16]}…)"
    zip_path, settings = ctx.artifacts.path(BUNDLE_NAME), ctx.config.signoff
    try:
        write_bundle(ctx.artifacts.root, sealed_files(manifest), zip_path, bag_info=bag_info(manifest, ctx.config.project),
                     extra_tag_files={SIGNOFF_NAME: ctx.artifacts.path(SIGNOFF_NAME).read_bytes()})
        ctx.emit(ArtifactWritten(BUNDLE_NAME))
        if not settings.pubkey:
            ctx.emit(Notice("4.2", "no [signoff] pubkey configured: the bundle was not verified and Gate 4 cannot pass"))
            return Outcome("pass", signed)
        report = verify_bundle(zip_path, ctx.loaded.resolve(settings.pubkey))
    except (OSError, ValueError) as exc:
        return Outcome("fail", f"{signed}, but the bundle could not be sealed and verified: {exc}")
    if not report.ok:
        return Outcome("fail", f"{signed}, but the bundle does not verify with {settings.pubkey}: "
                       + "; ".join(str(p) for p in report.problems[:5]))
    return Outcome("pass", signed)
