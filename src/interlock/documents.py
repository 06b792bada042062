"""Load the documents users hand us (JSON, YAML, TOML, Pact files) with clear errors.

A malformed document is an input error naming the file and the line or JSON
path, with what to do; never a traceback from a parser.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interlock.errors import Problem, UsageError


HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")  # the operation keys of an OpenAPI path item


MAX_DEPTH = 100
"""How deeply lists and mappings may nest in a document: real ones stay far below; deeper ones exhaust the stack of every consumer."""
MAX_NODES = 5_000_000
"""How many values a YAML document may expand to with its aliases resolved (a "billion laughs" stays small on disk only)."""


def load_document(path: Path) -> Any:
    """Parse a JSON, YAML or TOML file by its suffix; a document too deep, too large once expanded, or self-referring is refused."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(Problem(str(path), "file not found; check the path in interlock.toml")) from None
    except UnicodeDecodeError:
        raise UsageError(Problem(str(path), "not UTF-8 text; save it as UTF-8")) from None
    except OSError as exc:
        raise UsageError(Problem(str(path), f"cannot read: {exc.strerror}")) from None
    suffix = path.suffix.lower()
    kind = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}.get(suffix)
    if kind is None:
        raise UsageError(Problem(str(path), f"unsupported document type {suffix or '(none)'}; use .json, .yaml or .toml"))
    yaml_errors: tuple[type[Exception], ...] = ()
    if kind == "YAML":
        import yaml  # lazy: ~10 ms of import (its reader compiles a large regex) that JSON and TOML documents never need

        yaml_errors = (yaml.YAMLError,)
    try:
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text) if kind == "YAML" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(Problem(str(path), f"not valid JSON: {exc.msg}", exc.lineno)) from None
    except yaml_errors as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UsageError(Problem(str(path), f"not valid YAML: {getattr(exc, 'problem', None) or exc}", mark.line + 1 if mark else None)) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(Problem(str(path), f"not valid TOML: {exc}")) from None
    except (ValueError, RecursionError) as exc:  # tokenized, but beyond what a parser converts (see beyond_limits)
        raise UsageError(Problem(str(path), f"not valid {kind}: {beyond_limits(exc)}")) from None
    problem = shape_problem(data)
    if problem:
        raise UsageError(Problem(str(path), problem))
    return data


def beyond_limits(exc: ValueError | RecursionError) -> str:
    """Why a parser gave up on well-formed text: nesting past the stack, a number too long to convert, an impossible YAML date."""
    if isinstance(exc, RecursionError):
        return f"nested too deeply; interlock reads at most {MAX_DEPTH} levels"
    if "integer string conversion" in str(exc):
        return "a number has more than 4300 digits; shorten it or quote it"
    return f"{exc}; fix the value (a YAML date or time must exist, e.g. 2026-02-28)"


def shape_problem(data: Any) -> str | None:
    """Why `data` is unsafe to hand to any consumer (too deep, a cycle, too many values with aliases expanded), or None.

    Walks each distinct list or mapping once, without recursion, so the check itself survives what it rejects.
    """
    done: dict[int, tuple[int, int]] = {}  # id -> (depth, values once expanded)
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in done:
            continue
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, (dict, list))]
        if not children_done:
            if id(node) in open_:
                return "a value contains itself (a YAML alias of its own anchor); remove the loop"
            open_.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in open_:
                    return "a value contains itself (a YAML alias of its own anchor); remove the loop"
                stack.append((child, False))
            continue
        open_.discard(id(node))
        depth = 1 + max((done[id(c)][0] for c in children), default=0)
        size = 1 + len(node) + sum(done[id(c)][1] for c in children)
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep; interlock reads at most {MAX_DEPTH}, flatten it"
        if size > MAX_NODES:
            return f"expands to more than {MAX_NODES:,} values (YAML aliases repeated); write it out or simplify it"
        done[id(node)] = (depth, size)
    return None


def json_path(parts: Iterable[Any]) -> str:
    """The JSON path of a location in a document: `$.channels['order.created'].subscribe.message` for ("channels", "order.created", "subscribe", "message")."""
    out = "$"
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:  # any other key, including the YAML ones that are not strings (1.5, true, null, a date)
            out += "['" + str(part).replace("\\", "\\\\").replace("'", "\\'") + "']"
    return out


@dataclass(frozen=True)
class PactInteraction:
    description: str
    states: tuple[str, ...]
    method: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class PactFile:
    """What interlock needs to know of a pact file before verifying it."""

    path: Path
    consumer: str
    provider: str
    specification: str | None
    kind: str
    interactions: tuple[PactInteraction, ...] = field(default_factory=tuple)

    def interaction_id(self, index: int) -> str:
        """The id of the interaction at `index` (`interaction_ids`)."""
        return self.interaction_ids()[index]

    def interaction_ids(self) -> tuple[str, ...]:
        """Every interaction's id, in order, each unique: two interactions with one description are two results, two defects."""
        return unique_ids(self.consumer, self.provider, [(i.description, i.states) for i in self.interactions])

    def as_services(self, service_of: Callable[[str], str | None]) -> PactFile:
        """This pact with its consumer and provider named as the config's services (`Config.service_of`), when one is."""
        return replace(self, consumer=service_of(self.consumer) or self.consumer, provider=service_of(self.provider) or self.provider)


def interaction_id(consumer: str, provider: str, description: str, states: Sequence[str] = (), nth: int | None = None) -> str:
    """`consumer->provider: description`, then ` [given S1; S2]` for its provider states, then ` #n` for its place among repeats."""
    given = f" [given {'; '.join(states)}]" if states else ""
    return f"{consumer}->{provider}: {description}{given}" + (f" #{nth}" if nth is not None else "")


def unique_ids(consumer: str, provider: str, keys: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    """The ids of one pact's interactions, given (description, provider states) in the pact's order (pure).

    An interaction whose description no other shares keeps `consumer->provider: description`, so ids already
    in waivers and defect logs stay; one that shares it also names its provider states (`[given ...]`), and one
    that shares both gets its number among them (` #n`, from 1 in the pact's order).
    """
    ids = []
    descriptions = [d for d, _ in keys]
    exact = [(d, tuple(s)) for d, s in keys]
    for index, (description, states) in enumerate(exact):
        if descriptions.count(description) == 1:
            ids.append(interaction_id(consumer, provider, description))
            continue
        nth = exact[:index + 1].count((description, states)) if exact.count((description, states)) > 1 else None
        ids.append(interaction_id(consumer, provider, description, states, nth))
    return tuple(ids)


def _states(item: dict[str, Any]) -> tuple[str, ...]:
    if isinstance(item.get("providerStates"), list):
        return tuple(str(s.get("name", "")) for s in item["providerStates"] if isinstance(s, dict))
    if item.get("providerState"):
        return (str(item["providerState"]),)
    return ()


def load_pact(path: Path) -> PactFile:
    """Read a pact file (specification v2 to v4, HTTP or message); reject a malformed one with its JSON path."""
    data = load_document(path)
    if not isinstance(data, dict):
        raise UsageError(Problem(str(path), "a pact file must be a JSON object", key="$"))
    for role in ("consumer", "provider"):
        if not isinstance(data.get(role), dict) or not isinstance(data[role].get("name"), str):
            raise UsageError(Problem(str(path), f"missing {role} name; a pact needs {role}.name", key=f"$.{role}.name"))
    spec = _specification(path, data.get("metadata"))
    raw = data.get("interactions") if "interactions" in data else data.get("messages")
    key = "interactions" if "interactions" in data else "messages"
    if not isinstance(raw, list):
        raise UsageError(Problem(str(path), "no `interactions` or `messages` array; is this a pact file?", key="$"))
    interactions: list[PactInteraction] = []
    kinds: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("description"), str):
            raise UsageError(Problem(str(path), "interaction without a description", key=f"$.{key}[{index}].description"))
        request = item.get("request") if isinstance(item.get("request"), dict) else None
        where = f"$.{key}[{index}].request"
        if request is not None and not isinstance(request.get("method", "GET"), str):
            raise UsageError(Problem(str(path), "the request method must be a string such as GET", key=f"{where}.method"))
        if request is not None and not isinstance(request.get("path", ""), str):
            raise UsageError(Problem(str(path), "the request path must be a string such as /orders/1", key=f"{where}.path"))
        is_message = key == "messages" or str(item.get("type", "")).startswith("Asynchronous") or (request is None and "contents" in item)
        kinds.add("message" if is_message else "http")
        interactions.append(PactInteraction(item["description"], _states(item), request.get("method", "GET").upper() if request else None, request.get("path") if request else None))
    if len(kinds) > 1:
        raise UsageError(Problem(str(path), "mixes HTTP and message interactions; split it into one pact per kind", key=f"$.{key}"))
    return PactFile(path, data["consumer"]["name"], data["provider"]["name"], spec, kinds.pop() if kinds else "http", tuple(interactions))


def _specification(path: Path, metadata: Any) -> str | None:
    """The pact specification version from `metadata` (v2/v3 spell the key two ways), None when not given."""
    for name in ("pactSpecification", "pact-specification"):
        section = metadata.get(name) if isinstance(metadata, dict) else None
        version = section.get("version") if isinstance(section, dict) else None
        if version is not None and not isinstance(version, str):
            raise UsageError(Problem(str(path), 'the specification version must be a string such as "4.0"', key=f"$.metadata.{name}.version"))
        if version:
            return version
    return None


def source_url(source: Any) -> str | None:
    """The http(s) URL of a pact source (a URL string or a `{ url, token_env }` table), None for a local one."""
    url = getattr(source, "url", source)
    return url if isinstance(url, str) and url.lower().startswith(("http://", "https://")) else None


def pact_files(root: Path, sources: list[Any]) -> list[Path]:
    """Every local pact file under the configured sources (files, or folders read recursively), sorted per source;
    URL sources are left out (see `fetch_pact`). A pact one folder down is as declared as one at the top."""
    found: list[Path] = []
    for source in sources:
        if source_url(source) is not None:
            continue
        path = (root / source).resolve()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(Problem(str(path), "pact source not found; fix [contracts.pact] sources"))
    return found


def is_pact(path: Path) -> bool:
    """Whether a file reads as a pact (a JSON object naming a consumer and a provider, with interactions or messages)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return (isinstance(data, dict) and all(isinstance(data.get(role), dict) for role in ("consumer", "provider"))
            and any(isinstance(data.get(key), list) for key in ("interactions", "messages")))


def undeclared_pacts(root: Path, folder: Path, declared: list[Path], exclude: list[str]) -> list[str]:
    """Pact files under `folder` (the architecture contracts, read recursively) that no source declares and
    no `exclude` glob (fnmatch, on the path relative to `root`, `*` crossing folders) matches, as shown paths.

    A contract that sits beside the declared ones but is never verified would pass Gate 2 unseen.
    """
    folder = folder.resolve()
    candidates = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*.json") if p.is_file()) if folder.is_dir() else []
    known = {p.resolve() for p in declared}
    found: list[str] = []
    for path in candidates:
        shown = path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else str(path)
        if path.resolve() in known or any(fnmatch.fnmatchcase(shown, glob) for glob in exclude) or not is_pact(path):
            continue
        found.append(shown)
    return found


@dataclass(frozen=True)
class FetchedPact:
    """A pact file fetched from a URL: where it was saved and its SHA-256, or why it could not be fetched."""

    url: str
    path: Path | None
    sha256: str | None
    error: str | None = None


def _file_name(url: str, digest: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "pact"
    return f"{stem.removesuffix('.json')[:80]}-{digest[:12]}.json"


def fetch_pact(url: str, folder: Path, token: str | None = None, timeout: float = 30.0) -> FetchedPact:
    """GET one pact file (bearer `token` if given) and save it under `folder`; an HTTP or network failure is returned, not raised."""
    import httpx

    from interlock.checks import describe
    from interlock.probes import redact_url, scrub

    headers = {"Accept": "application/json, application/hal+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    shown = redact_url(url)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return FetchedPact(shown, None, None, f"could not fetch {shown}: {scrub(describe(exc), url)}")
    if response.status_code in (401, 403):
        hint = "the token was refused" if token else "it needs a token: set `token_env` on the source and that variable"
        return FetchedPact(shown, None, None, f"could not fetch {shown}: HTTP {response.status_code}; {hint}")
    if response.status_code != 200:
        return FetchedPact(shown, None, None, f"could not fetch {shown}: HTTP {response.status_code}")
    body = response.content
    digest = hashlib.sha256(body).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _file_name(url, digest)
    path.write_bytes(body)
    return FetchedPact(shown, path, digest)


def template_matches(template: str, path: str) -> bool:
    """Whether a concrete request path fits an interface's path template (`{id}` matches one segment)."""
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, path.split("?")[0]) is not None


HTTP_REF = re.compile(r"^(?:(?P<service>[A-Za-z0-9_.-]+):)?(?P<method>[A-Z]+) (?P<template>/\S*)$")


def match_template(refs: list[str], service: str, method: str, path: str) -> str | None:
    """The path template of the first `[service:]METHOD /template` ref that a concrete request matches (a literal
    template before one with placeholders, so `/users/me` wins over `/users/{uid}`); None when none does."""
    found = []
    for ref in refs:
        match = HTTP_REF.match(ref)
        if match and match["service"] in (None, service) and match["method"] == method and template_matches(match["template"], path):
            found.append(match["template"])
    return min(found, key=lambda t: t.count("{")) if found else None
