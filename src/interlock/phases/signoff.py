"""Step 4.2: the approver's signed sign-off over the sealed evidence bundle.

Nothing is signed while Gates 1–3 fail (unless waivers cover every failed
blocking condition), while the prompt is declined, while the bundle no
longer matches the artifact folder, or while the checked-out commit is not the
one the evidence was produced from: a signature must only ever approve
evidence that passed, of the code it names (the predicate's `git_commit`).
Evidence of no commit at all (the code under test in no git work tree) is
signed only when `[signoff] allow_no_commit` says so, and the predicate then
records that choice (`no_commit_allowed`).
The signature is an in-toto Statement in a DSSE envelope over the bundle's own
`manifest-sha256.txt`, `tagmanifest-sha256.txt` and evidence manifest; its
predicate gives each gate as a verification summary, lists every waiver
that covers a failure (the config's that the gates used, and the defect log's
active ones) and every relaxation of the default policy in force (`policy_relaxed`). The bundle is then rewritten to carry it and verified as an
auditor would.
"""

from __future__ import annotations

from interlock.statuses import GateStatus

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import interlock
from interlock import ledger
from interlock.artifacts import DEFECT_LOG
from interlock.defects import DefectLog
from interlock.errors import UsageError
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
from interlock.files import sha256_file
from interlock.gates import failures, relaxations
from interlock.metrics import commit_problems, recorded_commits, short, waiver_active
from interlock.statuses import StepStatus
from interlock.protocol import HaltRun, Outcome
from interlock.phases.bundle import MANIFEST_ENTRY, artifact_index, bag_info, sealed_files, sealed_prefixes
from interlock.context import RunContext, utc_now
from interlock.verdict import gate_results

GATES = (1, 2, 3)


#: Who evaluated the gates, in each gate's verification summary.
VERIFIER_ID = "https://interlock.dev/gates"


def _gate_summary(gate: dict[str, Any], verified_at: str, digests: dict[str, str]) -> dict[str, Any]:
    """One gate's result in the shape of an in-toto verification summary (VSA), plus its raw failures and waivers.

    The policy digest covers the gate's conditions as evaluated (metric,
    operator, threshold, blocking), so a signed PASSED names the bar it
    passed; the inputs are the artifacts the conditions read, with the
    digests the manifest records for them.
    """
    policy = [{k: c[k] for k in ("id", "metric", "operator", "threshold", "blocking")} for c in gate["conditions"]]
    policy_digest = hashlib.sha256(json.dumps(policy, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    inputs = sorted({c["artifact"] for c in gate["conditions"]} & digests.keys())
    return {
        "gate": gate["id"], "name": gate["name"], "status": gate["status"],
        "verifier": {"id": VERIFIER_ID, "version": {"interlock": interlock.__version__}},
        "timeVerified": verified_at,
        "resourceUri": MANIFEST_ENTRY,
        "policy": {"uri": f"interlock.toml#gates.{gate['id']}", "digest": {"sha256": policy_digest}},
        "inputAttestations": [{"uri": name, "digest": {"sha256": digests[name]}} for name in inputs],
        "verificationResult": "PASSED" if gate["status"] == GateStatus.PASS else "FAILED",
        "conditions_failed": [c["id"] for c in gate["conditions"] if c["raw_status"] == GateStatus.FAIL],
        "waived": sorted({w["condition"] + (f" {w['item']}" if w.get("item") else "") for c in gate["conditions"] for w in c["waivers"]}),
    }


def _defect_waivers(ctx: RunContext, now: datetime) -> list[dict[str, Any]]:
    """Active waivers recorded in the defect log (`interlock defects waive`), each as a waiver of the condition it relieves.

    A failed test's defect relieves `tests.unresolved_failures`, a critical one `defects.open_critical`; a waiver of
    any other defect relieves no gate condition, so nothing the approver signs rests on it.
    """
    log = DefectLog(ctx.artifacts)
    if not log.exists():
        return []
    try:
        rows = log.read()
    except UsageError:
        return []  # Gate 3 reports an unreadable log; nothing to list
    return [{"condition": "tests.unresolved_failures" if r["source"] == "test" else "defects.open_critical", "item": r["id"],
             "justification": r["waiver_reason"], "approver": r["waiver_approver"], "ticket": r["ticket"],
             "expires": r["waiver_expires"], "source": DEFECT_LOG.filename, "severity": r["severity"]}
            for r in rows if waiver_active(r, now) and (r["source"] == "test" or r["severity"] == "critical")]


def waivers_used(ctx: RunContext, document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every waiver that covers a failure: the config's waivers the gates used, and the defect log's active ones."""
    used = {(w["condition"], w["item"] or ""): {"source": "interlock.toml", **w} for g in document["gates"] for c in g["conditions"] for w in c["waivers"]}
    for waiver in _defect_waivers(ctx, datetime.now(timezone.utc)):
        used.setdefault((waiver["condition"], waiver["item"]), waiver)
    return [used[key] for key in sorted(used)]


def _predicate(ctx: RunContext, approver: str, manifest: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """What the approver signs: who, when, the scope, each gate's verification summary, and the waivers that cover failures."""
    signed_at = utc_now()
    digests = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    project, settings = ctx.config.project, ctx.config.signoff
    return {
        "approver": approver, "role": settings.role, "signed_at": signed_at,
        "scope": {"statement": settings.scope, "project": project.name, "version": project.version, "environment": manifest["environment"]},
        "run_id": manifest["run_id"], "environment": manifest["environment"],
        "git_commit": manifest["source"]["git_commit"], "git_dirty": manifest["source"]["git_dirty"],
        "changes_digest": manifest["source"].get("changes_digest") or "",
        **({"no_commit_allowed": True} if manifest["source"]["git_commit"] is None else {}),
        "gates": [_gate_summary(g, document["generated_at"], digests) for g in document["gates"]],
        "waivers": waivers_used(ctx, document),
        # Every gate's relaxations, Gate 4's too: the approver signs the policy the whole certification rests on.
        "policy_relaxed": relaxations(ctx.config.gates, ctx.config.waivers, datetime.now(timezone.utc), undeclared=ctx.config.observability.undeclared),
    }


def commit_refusal(ctx: RunContext) -> str | None:
    """Why the evidence cannot be signed as the code that is checked out now, or None.

    A signature certifies one commit: the one the manifest records. Records of
    the run that name another commit (the suite ran before a commit, the bundle
    after it), or a HEAD that moved since the bundle (code changed after the
    run), would have the approver vouch for code the evidence never tested.
    """
    try:
        recorded = recorded_commits(ctx.artifacts)
    except UsageError:
        return None  # an unreadable manifest: `_sealed` reports it
    if EVIDENCE_MANIFEST_NAME not in recorded:
        return None  # no manifest yet: `_sealed` says to run `interlock bundle`
    disagree = commit_problems(recorded)
    if disagree:
        return f"sign-off refused: the run's records disagree on the commit ({'; '.join(disagree)}); rerun `interlock run` on one commit"
    sealed = recorded[EVIDENCE_MANIFEST_NAME]
    if sealed is None and not ctx.config.signoff.allow_no_commit:
        return (f"sign-off refused: the evidence names no git commit ({ctx.loaded.repository} is in no git work tree with a commit); "
                "name the system's checkout with [project] repository = \"<folder>\", or set [signoff] allow_no_commit = true "
                "to sign it as of no commit")
    head = ctx.loaded.identity(ctx.published or ctx.artifacts.root).commit
    if head != sealed:
        return (f"sign-off refused: the evidence is of commit {short(sealed)} but HEAD is {short(head)}: the code changed after the run; "
                f"rerun `interlock run` at {short(head)} (or check out {short(sealed)}) before signing")
    return None


def _credentials(ctx: RunContext) -> tuple[str, Path] | str:
    """(approver, private key path), or why there is none and how to get one."""
    signoff = ctx.config.signoff
    approver = ctx.spec.approver or signoff.approver  # `interlock signoff --approver NAME --key FILE` over [signoff]
    key = ctx.spec.key or signoff.key
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
    refusal = ledger.refusal(ctx.artifacts.root, ctx.loaded.identity(ctx.published or ctx.artifacts.root))
    if refusal:  # evidence first: gates read from an edited or mixed folder say nothing
        return Outcome(StepStatus.FAIL, f"sign-off {refusal}")
    document = gate_results(ctx.artifacts, ctx.loaded, GATES)
    failed = [line for gate in document["gates"] for line in failures(gate)]
    if failed:
        return Outcome(StepStatus.FAIL, "sign-off refused while Gates 1-3 fail: " + "; ".join(failed))
    refusal = commit_refusal(ctx)
    if refusal:
        return Outcome(StepStatus.FAIL, refusal)
    if not ctx.ask("sign-off"):
        raise HaltRun("4.2", "sign-off declined at the prompt: nothing was signed; rerun `interlock signoff` to approve")
    credentials = _credentials(ctx)
    if isinstance(credentials, str):
        return Outcome(StepStatus.FAIL, credentials)
    approver, key = credentials
    try:
        sealed = _sealed(ctx)
    except (OSError, ValueError) as exc:
        return Outcome(StepStatus.FAIL, f"cannot read the evidence bundle: {exc}")
    if isinstance(sealed, str):
        return Outcome(StepStatus.FAIL, sealed)
    manifest, subjects = sealed
    try:
        envelope = sign_statement(make_statement(subjects, _predicate(ctx, approver, manifest, document)), key)
    except (OSError, ValueError) as exc:
        return Outcome(StepStatus.FAIL, f"cannot sign with {key}: {exc}")
    ctx.artifacts.write_json(SIGNOFF_NAME, envelope)
    ctx.emit(ArtifactWritten(SIGNOFF_NAME))
    signed = f"signed by {approver} (keyid {envelope['signatures'][0]['keyid'][:16]}…)"
    zip_path, settings = ctx.artifacts.path(BUNDLE_NAME), ctx.config.signoff
    try:
        write_bundle(ctx.artifacts.root, sealed_files(manifest), zip_path, bag_info=bag_info(manifest, ctx.config.project),
                     extra_tag_files={SIGNOFF_NAME: ctx.artifacts.path(SIGNOFF_NAME).read_bytes()}, prefixes=sealed_prefixes(manifest))
        ctx.emit(ArtifactWritten(BUNDLE_NAME))
        if not settings.pubkey:
            ctx.emit(Notice("4.2", "no [signoff] pubkey configured: the bundle was not verified and Gate 4 cannot pass"))
            return Outcome(StepStatus.PASS, signed)
        report = verify_bundle(zip_path, ctx.loaded.resolve(settings.pubkey))
    except (OSError, ValueError) as exc:
        return Outcome(StepStatus.FAIL, f"{signed}, but the bundle could not be sealed and verified: {exc}")
    if not report.ok:
        return Outcome(StepStatus.FAIL, f"{signed}, but the bundle does not verify with {settings.pubkey}: "
                       + "; ".join(str(p) for p in report.problems[:5]))
    return Outcome(StepStatus.PASS, signed)
