"""Evidence for protocol step 4: manifest, BagIt bundle, DSSE sign-off, verification.

Pure library code (no printing, no CLI): the phases and `interlock verify`
call these functions and render the results.
"""

from interlock.evidence._common import (
    BUNDLE_NAME,
    EVIDENCE_MANIFEST_NAME,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    SIGNOFF_NAME,
    STATEMENT_TYPE,
)
from interlock.evidence.bundle import bundle_subjects, write_bundle
from interlock.evidence.manifest import build_manifest, manifest_bytes, media_type
from interlock.evidence.signing import (
    KeyFileError,
    SignatureError,
    envelope_bytes,
    generate_keypair,
    load_public_key,
    make_statement,
    sign_statement,
    statement_problems,
    verify_envelope,
)
from interlock.evidence.verify import Problem, VerifyReport, verify_bundle

__all__ = [
    "BUNDLE_NAME",
    "EVIDENCE_MANIFEST_NAME",
    "KeyFileError",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "SIGNOFF_NAME",
    "STATEMENT_TYPE",
    "Problem",
    "SignatureError",
    "VerifyReport",
    "build_manifest",
    "bundle_subjects",
    "envelope_bytes",
    "generate_keypair",
    "load_public_key",
    "make_statement",
    "manifest_bytes",
    "media_type",
    "sign_statement",
    "statement_problems",
    "verify_bundle",
    "verify_envelope",
    "write_bundle",
]
