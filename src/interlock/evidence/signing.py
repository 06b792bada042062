"""The sign-off signature: an in-toto Statement v1 in a DSSE envelope.

Signing and verification go through securesystemslib (the in-toto project's
own DSSE `Envelope`, `CryptoSigner` and `SSlibKey` over cryptography's
Ed25519), so the pre-authentication encoding is never written here. The
signature covers the exact payload bytes carried (base64) in the envelope;
nothing relies on JSON canonicalisation.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from interlock.errors import Problem, UsageError
from interlock.evidence._common import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    is_sha256_hex,
    loads_strict,
)
from interlock.files import atomic_write

#: Predicate fields a sign-off must carry (protocol 4.2: approver, timestamp, scope).
REQUIRED_PREDICATE_FIELDS = ("approver", "signed_at", "scope", "gates", "run_id", "waivers")
#: The verification-summary fields every gate result carries (in the shape of in-toto's VSA).
REQUIRED_GATE_FIELDS = ("gate", "verifier", "timeVerified", "policy", "verificationResult")
VERIFICATION_RESULTS = ("PASSED", "FAILED")


class KeyFileError(UsageError, ValueError):
    """A key file that cannot be read or is not a usable key: bad input (exit 2), never a failed verification."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(Problem(str(path), message))


class SignatureError(Exception):
    """A sign-off envelope failed verification; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def generate_keypair(private_path: Path, public_path: Path, *, overwrite: bool = False) -> str:
    """Create an Ed25519 key pair; returns its keyid.

    The private key is PEM PKCS#8, unencrypted, created 0600 (never readable
    by others, not even briefly); the public key is PEM SubjectPublicKeyInfo.
    Existing files are kept unless `overwrite`, since losing an approver's key
    silently invalidates every sign-off it made.
    """
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise FileExistsError(f"{path} already exists")
    private_key = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private_key)
    private_pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_pem = private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    atomic_write(private_path, private_pem, 0o600)
    atomic_write(public_path, public_pem, 0o644)
    return signer.public_key.keyid


def load_public_key(public_key_path: Path) -> SSlibKey:
    """Read a PEM public key as an SSlibKey (keyid computed by securesystemslib).

    Raises KeyFileError (a ValueError and a UsageError) if the file cannot be
    read or is not a supported key: a bad key file is a usage error, not a
    failed verification.
    """
    try:
        data = public_key_path.read_bytes()
    except OSError as exc:
        raise KeyFileError(public_key_path, f"cannot read the public key: {exc.strerror or exc}") from exc
    try:
        return SSlibKey.from_crypto(load_pem_public_key(data))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(public_key_path, f"not a usable PEM public key ({_first_line(exc)})") from exc


def _load_signer(private_key_path: Path) -> CryptoSigner:
    try:
        data = private_key_path.read_bytes()
    except OSError as exc:
        raise KeyFileError(private_key_path, f"cannot read the private key: {exc.strerror or exc}") from exc
    try:
        return CryptoSigner(load_pem_private_key(data, password=None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(private_key_path, f"not a usable unencrypted PEM private key ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_statement(subjects: Mapping[str, str], predicate: Mapping[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 binding `subjects` (name -> sha256 hex) to a sign-off predicate."""
    for name, digest in subjects.items():
        if not is_sha256_hex(digest):
            raise ValueError(f"subject {name!r}: sha256 must be 64 lowercase hex digits")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": subjects[name]}} for name in sorted(subjects)],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }


def sign_statement(statement: Mapping[str, Any], private_key_path: Path) -> dict[str, Any]:
    """Sign `statement` with the private key; returns the DSSE envelope as a dict.

    The payload is the statement as compact, key-sorted UTF-8 JSON; the
    signature covers those exact bytes, which travel base64-encoded.
    """
    signer = _load_signer(private_key_path)
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    return envelope.to_dict()


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """Serialize an envelope the one way interlock writes integration-signoff.json."""
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")


def verify_envelope(envelope: Mapping[str, Any], public_key_path: Path) -> dict[str, Any]:
    """Verify a DSSE envelope with the public key; returns the decoded statement.

    Raises SignatureError(reason) when the envelope is malformed, no signature
    verifies with this key, the payloadType is not in-toto's, or the payload is
    not a JSON object. Key file problems raise OSError/ValueError.
    """
    return verify_envelope_with_key(envelope, load_public_key(public_key_path))


def verify_envelope_with_key(envelope: Mapping[str, Any], key: SSlibKey) -> dict[str, Any]:
    """`verify_envelope` with an already loaded key."""
    if not isinstance(envelope, Mapping):
        raise SignatureError("envelope is not a JSON object")
    payload_b64, signatures = envelope.get("payload"), envelope.get("signatures")
    if not isinstance(payload_b64, str) or not isinstance(envelope.get("payloadType"), str):
        raise SignatureError("envelope needs string 'payload' and 'payloadType'")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError("envelope has no signatures")
    # securesystemslib also accepts url-safe base64 and ignores non-zero
    # padding bits; requiring the one canonical standard form means no byte
    # of the envelope can change without failing verification.
    _require_canonical_b64(payload_b64, "payload")
    for i, sig in enumerate(signatures):
        if not isinstance(sig, Mapping) or not isinstance(sig.get("sig"), str):
            raise SignatureError(f"signature {i} has no string 'sig'")
        _require_canonical_b64(sig["sig"], f"signature {i}")
    try:
        # from_dict rewrites the signature dicts in place: give it a copy.
        parsed = Envelope.from_dict(copy.deepcopy(dict(envelope)))
    except Exception as exc:  # any parse failure means "not a valid envelope"
        raise SignatureError(f"malformed envelope: {type(exc).__name__}: {exc}") from exc
    try:
        parsed.verify([key], 1)
    except Exception as exc:  # a tampered payload was seen to raise KeyError, not VerificationError
        raise SignatureError(
            f"no valid signature by the given public key (keyid {key.keyid}): {type(exc).__name__}: {exc}"
        ) from exc
    if parsed.payload_type != PAYLOAD_TYPE:
        raise SignatureError(f"payloadType is {parsed.payload_type!r}, expected {PAYLOAD_TYPE!r}")
    try:
        statement = loads_strict(parsed.payload)
    except (ValueError, RecursionError) as exc:
        raise SignatureError(f"payload is not valid JSON: {exc}") from exc
    if not isinstance(statement, dict):
        raise SignatureError("payload is not a JSON object")
    return statement


def _require_canonical_b64(text: str, what: str) -> None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{what} is not valid standard base64: {exc}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise SignatureError(f"{what} is not canonical base64")


def statement_problems(statement: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a decoded sign-off statement (empty list if none).

    Checks shape only; binding the subjects to a bundle is the verifier's job.
    """
    problems: list[str] = []
    if statement.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type is {statement.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is {statement.get('predicateType')!r}, expected {PREDICATE_TYPE!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        problems.append("subject must be a non-empty list")
    else:
        for i, subject in enumerate(subjects):
            if not (
                isinstance(subject, Mapping)
                and isinstance(subject.get("name"), str)
                and isinstance(subject.get("digest"), Mapping)
                and is_sha256_hex(subject["digest"].get("sha256"))
            ):
                problems.append(f"subject {i} must have a name and a sha256 digest (64 lowercase hex)")
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping):
        return [*problems, "predicate must be a JSON object"]
    missing = [f for f in REQUIRED_PREDICATE_FIELDS if f not in predicate]
    if missing:
        problems.append(f"predicate is missing {', '.join(missing)}")
    for field in ("approver", "run_id"):
        if field in predicate and not (isinstance(predicate[field], str) and predicate[field].strip()):
            problems.append(f"predicate {field} must be a non-empty string")
    if "git_dirty" in predicate and not (predicate["git_dirty"] is None or isinstance(predicate["git_dirty"], bool)):
        problems.append("predicate git_dirty must be true, false or null")
    if "changes_digest" in predicate and not isinstance(predicate["changes_digest"], str):
        problems.append("predicate changes_digest must be a string (empty for a clean tree)")
    if "scope" in predicate and predicate["scope"] in (None, "", [], {}):
        problems.append("predicate scope must not be empty")
    if "gates" in predicate:
        problems += _gate_problems(predicate["gates"])
    if "waivers" in predicate:
        problems += _waiver_problems(predicate["waivers"])
    if "policy_relaxed" in predicate:
        problems += _relaxation_problems(predicate["policy_relaxed"])
    if "signed_at" in predicate and not _is_aware_timestamp(predicate["signed_at"]):
        problems.append("predicate signed_at must be an ISO 8601 timestamp with a UTC offset")
    return problems


def _gate_problems(gates: object) -> list[str]:
    """Each gate result must be a verification summary; an approval of a FAILED gate approves nothing."""
    if not isinstance(gates, list) or not gates:
        return ["predicate gates must be a non-empty list of gate results"]
    problems = []
    for i, gate in enumerate(gates):
        if not isinstance(gate, Mapping):
            problems.append(f"predicate gates[{i}] must be an object")
            continue
        missing = [f for f in REQUIRED_GATE_FIELDS if f not in gate]
        if missing:
            problems.append(f"predicate gates[{i}] is missing {', '.join(missing)}")
            continue
        label = f"predicate gates[{i}] (gate {gate['gate']!r})"
        if not isinstance(gate["gate"], int) or isinstance(gate["gate"], bool):
            problems.append(f"{label}: gate must be an integer")
        verifier, policy = gate["verifier"], gate["policy"]
        if not (isinstance(verifier, Mapping) and isinstance(verifier.get("id"), str) and verifier["id"]):
            problems.append(f"{label}: verifier must be an object with a non-empty id")
        if not (isinstance(policy, Mapping) and isinstance(policy.get("uri"), str)
                and isinstance(policy.get("digest"), Mapping) and is_sha256_hex(policy["digest"].get("sha256"))):
            problems.append(f"{label}: policy must have a uri and a sha256 digest")
        if not _is_aware_timestamp(gate["timeVerified"]):
            problems.append(f"{label}: timeVerified must be an ISO 8601 timestamp with a UTC offset")
        if gate["verificationResult"] not in VERIFICATION_RESULTS:
            problems.append(f"{label}: verificationResult must be one of {', '.join(VERIFICATION_RESULTS)}")
        elif gate["verificationResult"] != "PASSED":
            problems.append(f"{label}: verificationResult is {gate['verificationResult']}; a sign-off approves passing gates only")
    return problems


def _named(record: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    return all(isinstance(record.get(f), str) and record[f].strip() for f in fields)


def _waiver_problems(waivers: object) -> list[str]:
    """The waivers that cover failures: each names its condition (older sign-offs: its target), approver, justification and expiry."""
    if not isinstance(waivers, list):
        return ["predicate waivers must be a list"]
    problems = []
    for i, waiver in enumerate(waivers):
        if not (isinstance(waiver, Mapping)
                and (_named(waiver, ("condition", "approver")) or _named(waiver, ("target", "approver")))
                and (waiver.get("item") is None or isinstance(waiver["item"], str))
                and isinstance(waiver.get("justification"), str) and _is_aware_timestamp(waiver.get("expires"))):
            problems.append(f"predicate waivers[{i}] needs a condition, an approver, a justification and an expires timestamp")
    return problems


def _relaxation_problems(relaxed: object) -> list[str]:
    """Each relaxation of the default policy names its condition, the change, who approved it, why, and until when."""
    if not isinstance(relaxed, list):
        return ["predicate policy_relaxed must be a list"]
    return [f"predicate policy_relaxed[{i}] needs a condition, a change, an approver, a justification, a ticket and an expires timestamp"
            for i, record in enumerate(relaxed)
            if not (isinstance(record, Mapping) and _named(record, ("condition", "change", "approver", "justification"))
                    and isinstance(record.get("ticket"), str) and _is_aware_timestamp(record.get("expires")))]


def _is_aware_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:  # Python 3.11 reads a trailing Z too
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
