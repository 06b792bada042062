"""Keys, DSSE envelopes and in-toto statements, via securesystemslib."""

from __future__ import annotations

import base64
import copy
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner

from interlock.evidence import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    SignatureError,
    generate_keypair,
    load_public_key,
    make_statement,
    sign_statement,
    statement_problems,
    verify_envelope,
)
from ._support import KeyPair, predicate

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def _statement() -> dict:
    return make_statement({"manifest-sha256.txt": DIGEST_A, "data/x.json": DIGEST_B}, predicate())


def test_generate_keypair_writes_private_0600_and_returns_keyid(tmp_path: Path) -> None:
    keyid = generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "k.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = load_public_key(tmp_path / "k.pub")
    assert key.keyid == keyid and len(keyid) == 64
    assert (key.keytype, key.scheme) == ("ed25519", "ed25519")


def test_generate_keypair_keeps_existing_keys(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    before = (tmp_path / "k.pem").read_bytes()
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    assert (tmp_path / "k.pem").read_bytes() == before
    generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub", overwrite=True)
    assert (tmp_path / "k.pem").read_bytes() != before


def test_round_trip(keys: KeyPair) -> None:
    statement = _statement()
    envelope = sign_statement(statement, keys.private)
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert [set(s) for s in envelope["signatures"]] == [{"keyid", "sig"}]
    assert envelope["signatures"][0]["keyid"] == load_public_key(keys.public).keyid
    assert json.loads(base64.b64decode(envelope["payload"])) == statement
    assert verify_envelope(envelope, keys.public) == statement


def test_generated_keys_sign_and_verify(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    envelope = sign_statement(_statement(), tmp_path / "k.pem")
    assert verify_envelope(envelope, tmp_path / "k.pub")["predicateType"] == PREDICATE_TYPE


def test_verification_does_not_mutate_the_envelope(keys: KeyPair) -> None:
    envelope = sign_statement(_statement(), keys.private)
    snapshot = copy.deepcopy(envelope)
    verify_envelope(envelope, keys.public)
    assert envelope == snapshot  # Envelope.from_dict rewrites 'sig' in place


def test_other_key_is_rejected(keys: KeyPair, other_keys: KeyPair) -> None:
    envelope = sign_statement(_statement(), other_keys.private)
    with pytest.raises(SignatureError, match="no valid signature by the given public key"):
        verify_envelope(envelope, keys.public)


def test_tampered_payload_is_rejected(keys: KeyPair) -> None:
    envelope = sign_statement(_statement(), keys.private)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["approver"] = "Mallory"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(SignatureError, match="no valid signature"):
        verify_envelope(envelope, keys.public)


def test_changed_payload_type_is_rejected(keys: KeyPair) -> None:
    envelope = sign_statement(_statement(), keys.private)
    envelope["payloadType"] = "application/json"
    with pytest.raises(SignatureError, match="no valid signature"):
        verify_envelope(envelope, keys.public)


def test_validly_signed_wrong_payload_type_is_rejected(keys: KeyPair) -> None:
    signer = CryptoSigner(load_pem_private_key(keys.private.read_bytes(), None))
    envelope = Envelope(json.dumps(_statement()).encode(), "application/json", {})
    envelope.sign(signer)
    with pytest.raises(SignatureError, match="payloadType is 'application/json'"):
        verify_envelope(envelope.to_dict(), keys.public)


def test_any_exception_from_envelope_verify_is_a_failed_verification(
    keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelope = sign_statement(_statement(), keys.private)

    def boom(self: Envelope, keys: list, threshold: int) -> dict:
        raise KeyError("keyid")

    monkeypatch.setattr(Envelope, "verify", boom)
    with pytest.raises(SignatureError, match="KeyError"):
        verify_envelope(envelope, keys.public)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("signatures"), "no signatures"),
        (lambda e: e.update(signatures=[]), "no signatures"),
        (lambda e: e.pop("payload"), "string 'payload'"),
        (lambda e: e.update(payload="***"), "not valid standard base64"),
        (lambda e: e.update(payload=e["payload"].replace("=", "")), "not valid standard base64"),
        (lambda e: e["signatures"][0].update(sig="@@@@"), "signature 0 is not valid standard base64"),
        (lambda e: e["signatures"][0].pop("keyid"), "malformed envelope"),
    ],
)
def test_malformed_envelopes_are_rejected(keys: KeyPair, mutate, message: str) -> None:
    envelope = sign_statement(_statement(), keys.private)
    mutate(envelope)
    with pytest.raises(SignatureError, match=message):
        verify_envelope(envelope, keys.public)


def test_non_canonical_base64_is_rejected(keys: KeyPair) -> None:
    envelope = sign_statement(_statement(), keys.private)
    raw = base64.b64decode(envelope["payload"])
    assert len(raw) % 3, "test needs a payload with padding bits"
    # Set unused low bits of the last data character: decodes to the same bytes.
    text = envelope["payload"].rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(text[-1]) | 1]
    envelope["payload"] = text[:-1] + last + "=" * (len(envelope["payload"]) - len(text))
    assert base64.b64decode(envelope["payload"]) == raw
    with pytest.raises(SignatureError, match="payload is not canonical base64"):
        verify_envelope(envelope, keys.public)


def test_bad_public_key_file_is_a_usage_error(keys: KeyPair, tmp_path: Path) -> None:
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(ValueError, match="not a usable PEM public key"):
        verify_envelope(sign_statement(_statement(), keys.private), tmp_path / "junk.pub")


def test_make_statement_shape() -> None:
    statement = _statement()
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [
        {"name": "data/x.json", "digest": {"sha256": DIGEST_B}},
        {"name": "manifest-sha256.txt", "digest": {"sha256": DIGEST_A}},
    ]
    assert statement_problems(statement) == []


def test_make_statement_rejects_bad_digest() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        make_statement({"manifest-sha256.txt": "ABC"}, predicate())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "_type is"),
        (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "predicateType is"),
        (lambda s: s.update(subject=[]), "subject must be a non-empty list"),
        (lambda s: s["subject"][0]["digest"].update(sha256="xyz"), "subject 0 must have"),
        (lambda s: s.update(predicate="approved"), "predicate must be a JSON object"),
        (lambda s: s["predicate"].pop("approver"), "predicate is missing approver"),
        (lambda s: s["predicate"].pop("scope"), "predicate is missing scope"),
        (lambda s: s["predicate"].update(approver="  "), "approver must be a non-empty string"),
        (lambda s: s["predicate"].update(gates="all"), "gates must be a non-empty list"),
        (lambda s: s["predicate"]["gates"][0].pop("verificationResult"), "predicate gates[0] is missing verificationResult"),
        (lambda s: s["predicate"].pop("waivers"), "predicate is missing waivers"),
        (lambda s: s["predicate"].update(signed_at="2025-06-01T12:00:00"), "signed_at must be an ISO 8601"),
        (lambda s: s["predicate"].update(signed_at="yesterday"), "signed_at must be an ISO 8601"),
        (lambda s: s["predicate"].update(scope=""), "scope must not be empty"),
    ],
)
def test_statement_problems(edit, message: str) -> None:
    statement = _statement()
    edit(statement)
    assert any(message in p for p in statement_problems(statement)), statement_problems(statement)
