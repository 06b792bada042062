"""Offline verification of `INTEGRATION-EVIDENCE.zip`.

Reads the zip as untrusted input: names are checked before anything is read,
sizes are bounded before and while decompressing, entries are hashed as they
stream (only the few small tag files are kept in memory) and nothing is
extracted. Every problem found is reported, each naming the exact entry, so
an auditor sees all that is wrong at once rather than the first failure, up
to MAX_PROBLEMS of them (then only counted) so that no input, however
hostile, makes the report or its memory unbounded.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from securesystemslib.signer import SSlibKey

from interlock.evidence._common import (
    BAG_INFO_TXT,
    BAGIT_TXT,
    DATA_PREFIX,
    EVIDENCE_MANIFEST_ENTRY,
    EVIDENCE_MANIFEST_NAME,
    MAX_ENTRY_BYTES,
    MAX_TOTAL_BYTES,
    PAYLOAD_MANIFEST,
    REQUIRED_SUBJECTS,
    SIGNOFF_NAME,
    TAG_MANIFEST,
    decode_manifest_path,
    is_sha256_hex,
    loads_strict,
    name_problem,
)
from interlock.evidence._zipscan import PARSED_ENTRY_LIMIT, TAG_FILE_LIMIT, ZipScan, central_directory_refusal
from interlock.evidence.signing import (
    SignatureError,
    load_public_key,
    statement_problems,
    verify_envelope_with_key,
)

#: The entries parsed in memory, and the most bytes of each that may be.
_PARSED = {BAGIT_TXT: TAG_FILE_LIMIT, BAG_INFO_TXT: TAG_FILE_LIMIT, TAG_MANIFEST: TAG_FILE_LIMIT,
           PAYLOAD_MANIFEST: PARSED_ENTRY_LIMIT, SIGNOFF_NAME: PARSED_ENTRY_LIMIT, EVIDENCE_MANIFEST_ENTRY: PARSED_ENTRY_LIMIT}
_KNOWN_ROOT = frozenset({BAGIT_TXT, BAG_INFO_TXT, PAYLOAD_MANIFEST, TAG_MANIFEST, SIGNOFF_NAME})
_MANIFEST_LINE = re.compile(r"^([0-9A-Fa-f]{64})[ \t]+(.+)$")
_ANY_MANIFEST = re.compile(r"^(tag)?manifest-.+\.txt$")
_LINE = re.compile(r"([^\r\n]*)(?:\r\n|\r|\n|$)")
#: Problems kept in a report; any more are counted (`VerifyReport.omitted`).
MAX_PROBLEMS = 50
#: The most characters of one problem message (names and values quoted from the bundle are the bundle's).
MAX_PROBLEM_CHARS = 500
#: The longest run-ledger line verify parses: the ledger is streamed, never held whole.
LEDGER_LINE_LIMIT = 4 << 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle: the entry (or the zip itself) and what."""

    entry: str
    message: str

    def __post_init__(self) -> None:
        # Quoted names and values come from the bundle: keep every line readable whatever they hold.
        for name in ("entry", "message"):
            text = getattr(self, name)
            if len(text) > MAX_PROBLEM_CHARS:
                object.__setattr__(self, name, text[:MAX_PROBLEM_CHARS] + f"... ({len(text)} characters)")

    def __str__(self) -> str:
        return f"{self.entry}: {self.message}"


@dataclass
class VerifyReport:
    """Outcome of `verify_bundle`: ok only when `problems` is empty.

    `statement` is the signed in-toto Statement when the sign-off's signature
    verified (even if other problems were found), else None; `key_id` and
    `key_file` name the public key it verified with. `problems` holds the
    first MAX_PROBLEMS problems, `omitted` counts the rest.
    """

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    statement: dict[str, Any] | None = None
    omitted: int = 0
    key_id: str | None = None
    key_file: str | None = None

    @property
    def problem_count(self) -> int:
        """Every problem found, the omitted ones included."""
        return len(self.problems) + self.omitted


def verify_bundle(
    zip_path: Path,
    public_key_path: Path | None,
    *,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> VerifyReport:
    """Check that a bundle is an intact BagIt bag with a valid sign-off.

    `public_key_path` None is reported as a problem (an unsigned check can
    never pass). A zip that cannot be opened raises OSError; a public key
    file that cannot be read or is not a supported PEM public key raises
    KeyFileError (a ValueError and a UsageError): that is bad input, not a
    property of the bundle.

    The sign-off must be a DSSE envelope, validly signed by this key, over an
    in-toto Statement v1 of the sign-off predicate type whose subjects bind
    the bundle's manifest-sha256.txt, tagmanifest-sha256.txt and evidence
    manifest, and whose predicate is well formed (see `statement_problems`).
    """
    key = load_public_key(public_key_path) if public_key_path is not None else None
    v = _Verifier(zip_path.name, max_entry_bytes, max_total_bytes)
    with zip_path.open("rb") as raw:
        refusal = central_directory_refusal(raw)
        if refusal:
            v.add(zip_path.name, refusal)
            return v.report(None, key, public_key_path)
        try:
            zf = zipfile.ZipFile(raw)
        except Exception as exc:  # any failure to parse the archive means it is not intact
            v.add(zip_path.name, f"cannot be read as a zip archive: {type(exc).__name__}: {exc}")
            return v.report(None, key, public_key_path)
        with zf:
            v.scan(zf)
            v.check_ledger(zf)
    v.check_bagit_txt()
    tag_listed = v.check_tag_manifest()
    v.check_unexpected(tag_listed)
    v.check_payload_manifest()
    v.check_payload_oxum()
    v.check_evidence_manifest()
    statement = v.check_signoff(key)
    return v.report(statement, key, public_key_path)


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` (CR, LF or CRLF ends), one at a time: a list of them all would cost many times the text."""
    for match in _LINE.finditer(text):
        yield match[1]


class _Verifier:
    """Collects problems while walking one bundle; one instance per call."""

    def __init__(self, bundle: str, max_entry: int, max_total: int) -> None:
        self.problems: list[Problem] = []
        self.omitted = 0  # problems found beyond MAX_PROBLEMS
        self.source: dict[str, Any] | None = None  # the evidence manifest's `source`, once it parsed
        self.zip = ZipScan(bundle, max_entry, max_total, _PARSED, self.add)
        # Filled by scan(): every file entry, declared sizes, entries read safely.
        self.present, self.declared, self.entries = self.zip.present, self.zip.declared, self.zip.entries

    def scan(self, zf: zipfile.ZipFile) -> None:
        self.zip.scan(zf)

    def add(self, entry: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(entry, message))
        else:
            self.omitted += 1

    def report(self, statement: dict[str, Any] | None, key: SSlibKey | None, key_path: Path | None) -> VerifyReport:
        return VerifyReport(ok=not self.problems, problems=self.problems, statement=statement, omitted=self.omitted,
                            key_id=key.keyid if key is not None else None,
                            key_file=str(key_path) if key_path is not None else None)

    def content(self, name: str, *, required: str) -> bytes | None:
        """Parsed entry's bytes, handed over once (the entry keeps its digest and size, so memory
        holds one entry's bytes at a time); reports it missing (with why it matters) if absent."""
        if name not in self.present:
            self.add(name, f"missing: {required}")
            return None
        entry = self.entries.get(name)
        if entry is None:
            return None  # unreadable: already reported
        self.entries[name] = replace(entry, content=None)
        return entry.content

    # -- BagIt structure -----------------------------------------------------

    def check_bagit_txt(self) -> None:
        content = self.content(BAGIT_TXT, required="the bundle is not a BagIt bag")
        if content is None:
            return
        if content.startswith(b"\xef\xbb\xbf"):
            self.add(BAGIT_TXT, "starts with a byte-order mark (RFC 8493 forbids it)")
        tags = self._tags(BAGIT_TXT, content)
        if tags is None:
            return
        version = tags.get("BagIt-Version", [""])
        if len(version) != 1 or not re.fullmatch(r"\d+\.\d+", version[0]):
            self.add(BAGIT_TXT, f"BagIt-Version must be one MAJOR.MINOR value, got {version}")
        encoding = tags.get("Tag-File-Character-Encoding", [""])
        if [e.upper() for e in encoding] != ["UTF-8"]:
            self.add(BAGIT_TXT, f"Tag-File-Character-Encoding must be UTF-8, got {encoding}")

    def check_tag_manifest(self) -> set[str]:
        content = self.content(TAG_MANIFEST, required="the tag files are not protected")
        listed = self._manifest(TAG_MANIFEST, content) if content is not None else None
        if listed is None:
            return set()
        for path, expected in listed.items():
            if path.startswith(DATA_PREFIX) or path == TAG_MANIFEST:
                self.add(TAG_MANIFEST, f"lists {path}, which is not a tag file it may cover")
            elif path not in self.present:
                self.add(path, f"listed in {TAG_MANIFEST} but missing from the bundle")
            else:
                self._compare(path, TAG_MANIFEST, expected)
        for required in (BAGIT_TXT, BAG_INFO_TXT, PAYLOAD_MANIFEST):
            if required not in listed:
                self.add(TAG_MANIFEST, f"does not list {required}")
        return set(listed)

    def check_unexpected(self, tag_listed: set[str]) -> None:
        """Everything outside data/ must be a known or tag-manifested tag file."""
        for name in sorted(self.present):
            if name.startswith(DATA_PREFIX):
                continue
            if _ANY_MANIFEST.match(name) and name not in (PAYLOAD_MANIFEST, TAG_MANIFEST):
                self.add(name, "unexpected manifest: interlock bundles use sha256 manifests only")
            elif name not in _KNOWN_ROOT and name not in tag_listed:
                self.add(name, f"unexpected entry: outside data/ and not covered by {TAG_MANIFEST}")

    def check_payload_manifest(self) -> None:
        content = self.content(PAYLOAD_MANIFEST, required="the payload is not protected")
        listed = self._manifest(PAYLOAD_MANIFEST, content) if content is not None else None
        if listed is None:
            return
        for path, expected in listed.items():
            if not path.startswith(DATA_PREFIX):
                self.add(PAYLOAD_MANIFEST, f"lists {path}, which is outside data/")
            elif path not in self.present:
                self.add(path, f"listed in {PAYLOAD_MANIFEST} but missing from the bundle")
            else:
                self._compare(path, PAYLOAD_MANIFEST, expected)
        for name in self._data_names():
            if name not in listed:
                self.add(name, f"not listed in {PAYLOAD_MANIFEST}")

    def check_payload_oxum(self) -> None:
        content = self.content(BAG_INFO_TXT, required="it must carry the Payload-Oxum")
        tags = self._tags(BAG_INFO_TXT, content) if content is not None else None
        if tags is None:
            return
        values = tags.get("Payload-Oxum", [])
        if len(values) != 1:
            self.add(BAG_INFO_TXT, f"must have exactly one Payload-Oxum, found {len(values)}")
            return
        match = re.fullmatch(r"(\d+)\.(\d+)", values[0])
        if not match:
            self.add(BAG_INFO_TXT, f"malformed Payload-Oxum {values[0]!r}")
            return
        names = self._data_names()
        octets = sum(self.entries[n].size if n in self.entries else self.declared[n] for n in names)
        if (int(match[1]), int(match[2])) != (octets, len(names)):
            self.add(BAG_INFO_TXT, f"Payload-Oxum says {match[1]} bytes in {match[2]} files, "
                     f"the bundle has {octets} bytes in {len(names)} files")

    # -- evidence manifest and sign-off -------------------------------------

    def check_evidence_manifest(self) -> None:
        name = EVIDENCE_MANIFEST_ENTRY
        content = self.content(name, required="the evidence manifest is required")
        if content is None:
            return
        try:
            doc = loads_strict(content)
        except (ValueError, RecursionError) as exc:
            self.add(name, f"not valid JSON: {exc}")
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("artifacts"), list):
            self.add(name, "must be a JSON object with an 'artifacts' list")
            return
        self.source = doc.get("source") if isinstance(doc.get("source"), dict) else None
        if doc.get("manifest_version") != 1:
            self.add(name, f"manifest_version is {doc.get('manifest_version')!r}, expected 1")
        listed: set[str] = set()
        for i, art in enumerate(doc["artifacts"]):
            if not (isinstance(art, dict) and isinstance(art.get("path"), str) and is_sha256_hex(art.get("sha256"))
                    and isinstance(art.get("size"), int) and not isinstance(art.get("size"), bool)):
                self.add(name, f"artifacts[{i}] needs a path, a sha256 (64 lowercase hex) and an integer size")
                continue
            problem = name_problem(art["path"])
            data_name = DATA_PREFIX + art["path"]
            if problem:
                self.add(name, f"artifacts[{i}] path {art['path']!r}: {problem}")
            elif data_name in listed:
                self.add(name, f"lists {art['path']} twice")
            elif data_name not in self.present:
                listed.add(data_name)
                self.add(data_name, f"listed in {EVIDENCE_MANIFEST_NAME} but missing from the bundle")
            else:
                listed.add(data_name)
                self._compare(data_name, EVIDENCE_MANIFEST_NAME, art["sha256"], art["size"])
        for data_name in self._data_names():
            if data_name != name and data_name not in listed:
                self.add(data_name, f"not listed in {EVIDENCE_MANIFEST_NAME}")

    def check_signoff(self, key: SSlibKey | None) -> dict[str, Any] | None:
        if key is None:
            self.add(SIGNOFF_NAME, "no public key given: the sign-off cannot be verified")
        content = self.content(SIGNOFF_NAME, required="the bundle has no sign-off")
        if content is None or key is None:
            return None
        try:
            envelope = loads_strict(content)
            statement = verify_envelope_with_key(envelope, key)
        except (ValueError, RecursionError) as exc:
            self.add(SIGNOFF_NAME, f"not valid JSON: {exc}")
            return None
        except SignatureError as exc:
            self.add(SIGNOFF_NAME, f"signature verification failed: {exc.reason}")
            return None
        for message in statement_problems(statement):
            self.add(SIGNOFF_NAME, message)
        self.check_signed_commit(statement)
        subjects: dict[str, str] = {}
        listed = statement.get("subject")
        for subject in listed if isinstance(listed, list) else []:
            try:
                name, digest = subject["name"], subject["digest"]["sha256"]
            except (KeyError, TypeError):
                continue  # reported by statement_problems
            if subjects.setdefault(name, digest) != digest:
                self.add(SIGNOFF_NAME, f"subject {name} is listed twice with different digests")
        for name in sorted(set(subjects) | set(REQUIRED_SUBJECTS)):
            if name not in subjects:
                self.add(SIGNOFF_NAME, f"the signed statement has no subject {name}")
            elif name not in self.present:
                self.add(SIGNOFF_NAME, f"subject {name} is not in the bundle")
            elif name in self.entries and self.entries[name].sha256 != subjects[name]:
                self.add(SIGNOFF_NAME, f"subject {name} was signed with sha256 {subjects[name]}, "
                         f"but the bundle's {name} is {self.entries[name].sha256}")
        return statement

    def check_signed_commit(self, statement: dict[str, Any]) -> None:
        """A sign-off that names a git commit must name the one the evidence manifest records.

        The manifest is a signed subject, so its commit is bound either way; a predicate naming
        another commit would have the approver certify code the evidence never tested. A sign-off
        of no commit at all holds only with the approver's recorded choice (`no_commit_allowed`,
        from `[signoff] allow_no_commit`): evidence of unidentified code is never approved by default.
        """
        predicate, source = statement.get("predicate"), self.source
        if not isinstance(predicate, dict) or "git_commit" not in predicate or source is None:
            return
        if predicate["git_commit"] is None and predicate.get("no_commit_allowed") is not True:
            self.add(SIGNOFF_NAME, "certifies no git commit without recording the choice to ([signoff] allow_no_commit): "
                     "the approved code cannot be identified")
        if predicate["git_commit"] != source.get("git_commit"):
            self.add(SIGNOFF_NAME, f"certifies git commit {predicate['git_commit']}, but {EVIDENCE_MANIFEST_NAME} "
                     f"records {source.get('git_commit')}: the evidence is of another commit")

    def check_ledger(self, zf: zipfile.ZipFile, shown: int = 5) -> None:
        """The sealed run ledger's chain holds, and every sealed file is what its last ledger line produced.

        Streamed line by line (each at most LEDGER_LINE_LIMIT bytes), keeping only
        the digests of files the bundle holds. A bundle without a ledger is left
        to the manifest checks (a listed ledger that is missing is reported there).
        """
        from interlock.artifacts import LEDGER
        from interlock.ledger import checked

        name = DATA_PREFIX + LEDGER
        if name not in self.entries:
            return
        problems: list[str] = []
        state: dict[str, tuple[str, str]] = {}
        sealed = {n.removeprefix(DATA_PREFIX) for n in self._data_names()} - {LEDGER, EVIDENCE_MANIFEST_NAME}
        with zf.open(name) as fp:
            for entry in checked(iter(lambda: fp.readline(LEDGER_LINE_LIMIT), b""), problems):
                for rel in entry.removed:
                    state.pop(rel, None)
                state.update({rel: (digest, entry.step) for rel, digest in entry.products.items() if rel in sealed})
        for rel in sorted(sealed) if not problems else []:  # after a break the replay stopped short: the break says it all
            scanned = self.entries.get(DATA_PREFIX + rel)
            if scanned is None:
                continue  # unreadable: already reported
            if rel not in state:
                problems.append(f"{rel}: no line of the sealed {LEDGER} produced it")
            elif state[rel][0] != scanned.sha256:
                problems.append(f"{rel}: differs from what step {state[rel][1]} wrote according to the sealed {LEDGER}")
        for problem in problems[:shown]:
            self.add(name, problem)
        if len(problems) > shown:
            self.add(name, f"and {len(problems) - shown} more ledger problems")

    # -- helpers -------------------------------------------------------------

    def _data_names(self) -> list[str]:
        return sorted(n for n in self.present if n.startswith(DATA_PREFIX))

    def _compare(self, name: str, source: str, sha256: str, size: int | None = None) -> None:
        entry = self.entries.get(name)
        if entry is None:
            return  # present but unreadable: already reported
        if entry.sha256 != sha256.lower():
            self.add(name, f"sha256 mismatch ({source} says {sha256}, content is {entry.sha256})")
        if size is not None and entry.size != size:
            self.add(name, f"size mismatch ({source} says {size} bytes, content is {entry.size} bytes)")

    def _text(self, name: str, content: bytes) -> str | None:
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add(name, f"not valid UTF-8: {exc}")
            return None

    def _tags(self, name: str, content: bytes) -> dict[str, list[str]] | None:
        """Parse 'Label: value' lines (with folded continuations)."""
        text = self._text(name, content.removeprefix(b"\xef\xbb\xbf"))
        if text is None:
            return None
        # Each value is a list of its folded lines, joined at the end (appending to a string would copy it each time).
        pieces: dict[str, list[list[str]]] = {}
        last: list[str] | None = None
        for number, line in enumerate(_lines(text), start=1):
            if not line.strip():
                continue
            if line[0] in " \t" and last is not None:
                last.append(line.strip())
            elif ":" in line:
                label, value = line.split(":", 1)
                last = [value.strip()]
                pieces.setdefault(label.strip(), []).append(last)
            else:
                self.add(name, f"line {number} is not a 'Label: value' tag")
                return None
        return {label: [" ".join(parts) for parts in values] for label, values in pieces.items()}

    def _manifest(self, name: str, content: bytes) -> dict[str, str] | None:
        """Parse '<sha256> <path>' lines into {path: sha256}."""
        text = self._text(name, content)
        if text is None:
            return None
        listed: dict[str, str] = {}
        for number, line in enumerate(_lines(text), start=1):
            if not line:
                continue
            match = _MANIFEST_LINE.match(line)
            if not match:
                self.add(name, f"line {number} is not '<sha256> <path>'")
                continue
            path = decode_manifest_path(match[2])
            problem = name_problem(path)
            if problem:
                self.add(name, f"line {number}: unsafe path {path!r}: {problem}")
            elif path in listed:
                self.add(name, f"line {number}: lists {path} twice")
            else:
                listed[path] = match[1].lower()
        return listed
