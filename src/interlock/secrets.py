"""The run's known secrets, and the one place that redacts them and scans for them.

Evidence travels further than the environment it describes, so no credential
the run touches may reach an artifact, a log, the console or the bundle. A
value is a *known secret* when

- its variable is marked secret: `secrets = [NAME, ...]` in the environment,
  a `token_env` of the Pact sources or broker, or a hashed variable of the
  environment baseline;
- its variable's NAME looks like a credential (`SECRET_NAME`: PASSWORD,
  API_TOKEN, AWS_SECRET_ACCESS_KEY, ...), in the environment's `vars`, a
  service's `env` or the process environment the run passes on; or
- (whatever its name) part of it LOOKS like a credential: the password of a
  URL or connection string, a well-known token shape (`TOKEN_SHAPES`).

Values shorter than MIN_LENGTH are ignored: masking `true` or `1234`
everywhere would mangle the evidence and protect nothing. Each known value is
also matched as JSON, Python-repr and percent encoding would write it, and
each line of a multi-line value (a PEM key printed line by line) on its own.

`Redactor` replaces every known value by MASK with one compiled alternation
(longest first, so a value is masked whole, never a shorter one inside it),
looked for first by plain substring search (much faster on clean data),
streams files in CHUNK pieces with an overlap of the longest value (bounded
memory, no match lost at a chunk boundary) and, before sealing, scans files
raw and, for gzip and zip, decompressed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from interlock.urls import redact_url  # not through interlock.probes: that brings asyncio and packaging to every command

if TYPE_CHECKING:
    from interlock.config import Environment, Loaded

MASK = "***"
MIN_LENGTH = 6
CHUNK = 1 << 20
#: A compressed file is scanned up to this many decompressed bytes; beyond, it cannot be proven clean.
MAX_EXPANDED = 1 << 30
#: What `Redactor.scan` reports for such a file, in place of a variable name.
UNSCANNABLE = "(unscannable)"

SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
#: Names that say where a secret is, not what it is (Docker's `_FILE` convention, sockets, keyboard settings).
NOT_SECRET_NAME = re.compile(r"(?:_FILE|_PATH|_DIR|_SOCK|_SOCKET)$|^KEY(?:MAP|BOARD|TIMEOUT)", re.IGNORECASE)
TOKEN_SHAPES = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?:sk|rk)_live_[A-Za-z0-9]{16,}"
    r"|sk-[A-Za-z0-9_-]{20,}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|AIza[0-9A-Za-z_-]{35}",
    re.DOTALL,
)
#: `Password=...;` in ADO/JDBC-style connection strings and `password=` query parameters.
_PASSWORD_FIELD = re.compile(r"(?:password|passwd|pwd)\s*=\s*([^;&\s\"']+)", re.IGNORECASE)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_USERINFO = re.compile(r"://[^\s'\"<>/@]*:[^\s'\"<>/@]*@")  # a URL that may carry a password
_MASK_BYTES = MASK.encode()

T = TypeVar("T")


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it masked (a reason or command may embed a URL anywhere)."""
    if "://" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        try:
            return redact_url(match.group())
        except ValueError:  # unparsable (say, a broken IPv6 host): mask the whole userinfo
            return re.sub(r"//[^/@]*@", "//***@", match.group())

    return _URL.sub(one, text)


def secret_parts(value: str) -> list[str]:
    """The parts of a value that look like credentials whatever its name: URL passwords, password fields, token shapes."""
    parts = [m.group() for m in TOKEN_SHAPES.finditer(value)]
    parts += [m.group(1) for m in _PASSWORD_FIELD.finditer(value)]
    for match in _URL.finditer(value):
        try:
            password = urlsplit(match.group()).password
        except ValueError:
            continue
        if password:
            parts.append(password)
    return parts


def collect(variables: Iterable[tuple[str, str]], marked: Iterable[str] = ()) -> dict[str, str]:
    """Known secret values (value → the variable it came from) among `variables`, by mark, by name and by shape."""
    marked = set(marked)
    found: dict[str, str] = {}
    for name, value in variables:
        if name in marked or (SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name)):
            found.setdefault(value, name)
        for part in secret_parts(value):
            found.setdefault(part, name)
    return {value: name for value, name in found.items() if len(value.strip()) >= MIN_LENGTH}


def variants(value: str) -> set[str]:
    """The ways a value is written out: as is, JSON- and repr-escaped, percent-encoded and -decoded, line by line."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             quote(value, safe=""), unquote(value)}
    if "\n" in value:
        forms |= {line.strip() for line in value.splitlines() if not line.strip().startswith("-----")}
    return {form for form in forms if len(form.strip()) >= MIN_LENGTH}


def for_environment(loaded: Loaded, env_name: str, environment: Environment, pinned: Iterable[str] = ()) -> Redactor:
    """The redactor of a run of `env_name`: every variable the run sets or passes on (as `runspec.variables`), every URL it uses.

    `environment` is the run's environment with its placeholders filled (`RunSpec.environment`): the one input,
    so the CLI's error lines, the events and the artifacts are masked alike. `pinned` names the variables the
    environment baseline pins by hash (read by the caller: the baseline module uses this one's names).
    """
    env = environment
    config = loaded.config
    variables = [*os.environ.items(), *env.vars.items()]
    for name, runtime in env.services.items():
        variables += list(runtime.env.items())
        variables += [(f"services.{name}.{key}", url) for key, url in (("url", runtime.url), ("health", runtime.health)) if url]
    variables += [(f"stores.{n}.url", s.url) for n, s in env.stores.items()]
    variables += [(f"brokers.{n}.url", b.url) for n, b in env.brokers.items()]
    if config.store.url:
        variables.append(("store.url", config.store.url))
    marked = {*env.secrets, *_token_envs(loaded), *pinned}
    return Redactor(collect(variables, marked))


def _token_envs(loaded: Loaded) -> list[str]:
    """The variables that hold Pact bearer tokens, and those a provider's verification headers take (`{NAME}`)."""
    pact = loaded.config.contracts.pact
    if pact is None:
        return []
    names = [s.token_env for s in pact.sources if not isinstance(s, str) and s.token_env]
    names += [n for p in pact.providers.values() for v in p.headers.values() for n in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", v)]  # header variables
    return names + ([pact.broker.token_env] if pact.broker and pact.broker.token_env else [])


class Redactor:
    """Masks and finds a fixed set of known secret values, in text, data, events, byte streams and files."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        """`secrets` maps each value to the variable it came from (named in refusals, never the value)."""
        self.labels: dict[str, str] = {}
        for value, name in (secrets or {}).items():
            for form in variants(value):
                self.labels.setdefault(form, name)
        ordered = sorted(self.labels, key=lambda s: (-len(s.encode()), s))
        self._byte_labels = {s.encode(): self.labels[s] for s in ordered}
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(b"|".join(map(re.escape, self._byte_labels))) if ordered else None
        self.overlap = max((len(b) for b in self._byte_labels), default=1) - 1

    def __bool__(self) -> bool:
        return bool(self.labels)

    def text(self, text: str) -> str:
        """`text` with every known value and every URL password masked."""
        if self._text is not None and any(value in text for value in self.labels):
            text = self._text.sub(MASK, text)
        return mask_url_passwords(text)

    def data(self, value: T) -> T:
        """Every string inside dicts, lists and tuples (keys too) redacted; other values kept.

        A large report is first dumped once (C speed) and returned as it is when nothing in it needs masking.
        """
        if isinstance(value, (dict, list)) and not self.masks(json.dumps(value, default=str)):
            return value
        return self._walk(value)

    def masks(self, dump: str) -> bool:
        """Whether JSON text (any indentation) holds a known value or a URL password: a writer that already
        dumped a large document asks this before paying for `data`, which dumps it again."""
        return any(form in dump for form in self.labels) or _USERINFO.search(dump) is not None

    def _walk(self, value: T) -> T:
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}  # type: ignore[return-value]
        if isinstance(value, (list, tuple)):
            return [self._walk(v) for v in value]  # type: ignore[return-value]
        return value

    def event(self, event: T) -> T:
        """A copy of an event (a dataclass) with every string field redacted: console and --json print no secret."""
        if not is_dataclass(event) or isinstance(event, type):
            return event
        changed = {}
        for item in fields(event):
            value = getattr(event, item.name)
            clean = self.data(value)
            if clean != value:
                changed[item.name] = type(value)(clean) if isinstance(value, tuple) else clean
        return replace(event, **changed) if changed else event

    def emitter(self, emit: Callable[[Any], None]) -> Callable[[Any], None]:
        """`emit` behind this redactor: every event is redacted before any renderer sees it."""
        return lambda event: emit(self.event(event))

    def found(self, data: bytes) -> set[str]:
        """The variables whose values occur in `data`.

        One substring search per value: CPython's is ~20x faster than its regex
        engine on an alternation, and a run knows only a handful of values.
        """
        return {label for needle, label in self._byte_labels.items() if needle in data}

    def stream(self) -> StreamRedactor:
        """A redactor for output that arrives in chunks (a child's stdout)."""
        return StreamRedactor(self)

    def _split(self, buffer: bytes, final: bool) -> tuple[bytes, bytes]:
        """(redacted output, carry): matches starting in the last `overlap` bytes wait for more data unless `final`."""
        if self._bytes is None:
            return buffer, b""
        safe = len(buffer) - (0 if final else self.overlap)
        if not self.found(buffer):  # the common case, at substring-search speed
            cut = max(safe, 0)
            return buffer[:cut], buffer[cut:]
        pieces, position = [], 0
        for match in self._bytes.finditer(buffer):
            if match.start() >= safe:
                break
            pieces += [buffer[position:match.start()], _MASK_BYTES]
            position = match.end()
        cut = max(position, safe, 0)
        pieces.append(buffer[position:cut])
        return b"".join(pieces), buffer[cut:]

    def redact_files(self, paths: Iterable[Path]) -> None:
        """`redact_file` each of `paths` that exists: logs that children wrote themselves, once they are done writing."""
        for path in paths:
            if path.is_file():
                self.redact_file(path)

    def redact_file(self, path: Path) -> bool:
        """Rewrite `path` with every known value masked (temp file, fsync, rename); False when it holds none."""
        if not self.scan(path, decompress=False):
            return False
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
                stream = self.stream()
                while chunk := src.read(CHUNK):
                    out.write(stream.feed(chunk))
                out.write(stream.flush())
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def scan(self, path: Path, *, decompress: bool = True) -> set[str]:
        """The variables whose values `path` holds: raw bytes, and (with `decompress`) a gzip stream's or zip's content.

        A compressed file whose content exceeds MAX_EXPANDED cannot be proven
        clean and reports UNSCANNABLE.
        """
        if self._bytes is None:
            return set()
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(0)
            found = self._scan_chunks(iter(lambda: handle.read(CHUNK), b""))
        if not decompress:
            return found
        try:
            if head[:2] == b"\x1f\x8b":
                with open(path, "rb") as handle:
                    found |= self._scan_chunks(_gunzip(handle))
            elif head == b"PK\x03\x04":
                found |= self._scan_zip(path)
        except _TooLarge:
            found.add(UNSCANNABLE)
        except zipfile.BadZipFile:
            pass  # not really a zip after all: the raw scan stands
        return found

    def _scan_chunks(self, chunks: Iterable[bytes]) -> set[str]:
        found: set[str] = set()
        tail = b""
        for chunk in chunks:
            window = tail + chunk
            found |= self.found(window)
            tail = window[-self.overlap:] if self.overlap else b""
        return found

    def _scan_zip(self, path: Path) -> set[str]:
        """Every member's name and content; an unreadable member (encrypted, unknown method) is left to the raw scan."""
        found: set[str] = set()
        expanded = 0
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                found |= self.found(info.filename.encode("utf-8", "replace"))
                try:
                    with archive.open(info) as member:
                        found |= self._scan_chunks(_bounded(member, MAX_EXPANDED - expanded))
                except (zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError):
                    continue
                expanded += info.file_size
        return found


class StreamRedactor:
    """Redacts a byte stream chunk by chunk, holding back at most the longest secret's length."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.carry = b""

    def feed(self, chunk: bytes) -> bytes:
        """The redacted bytes that can be released now."""
        out, self.carry = self.redactor._split(self.carry + chunk, final=False)
        return out

    def flush(self) -> bytes:
        """The rest, at the end of the stream."""
        out, self.carry = self.redactor._split(self.carry, final=True)
        return out


class _TooLarge(Exception):
    """Decompressed content beyond MAX_EXPANDED."""


def _bounded(member: IO[bytes], limit: int) -> Iterator[bytes]:
    """A zip member's content in chunks, refusing more than `limit` bytes (a zip bomb is not scanned to the end)."""
    total = 0
    while chunk := member.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        yield chunk


def _gunzip(handle: IO[bytes]) -> Iterator[bytes]:
    """The content of a gzip file (every member), in chunks of at most CHUNK bytes, up to MAX_EXPANDED.

    Content after the last member that is not gzip (padding, garbage) ends the stream quietly: the raw scan covers it.
    """
    total = 0
    inflater = zlib.decompressobj(wbits=47)
    try:
        while data := handle.read(CHUNK):
            while True:
                out = inflater.decompress(data, CHUNK)
                total += len(out)
                if total > MAX_EXPANDED:
                    raise _TooLarge
                if out:
                    yield out
                if inflater.eof:  # the next member, if any, starts in unused_data or in the next read
                    data, inflater = inflater.unused_data, zlib.decompressobj(wbits=47)
                else:
                    data = inflater.unconsumed_tail
                if not data and len(out) < CHUNK:
                    break
    except zlib.error:
        return


def redact_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """Environment variables fit for evidence (say, the PYTEST_* a suite ran with): credential values and URL passwords masked.

    The run's own redactor still masks the run's known secrets when the artifact is written;
    this catches what only these variables reveal (a token passed in PYTEST_ADDOPTS).
    """
    redactor = Redactor(collect(variables.items()))
    return {name: redactor.text(value) for name, value in variables.items()}
