"""What a repository already holds, read for `interlock init`: pacts, OpenAPI and AsyncAPI documents, tests, a compose file.

Reading only: nothing here writes or runs anything. Each reader returns plain
data, so `scaffold` decides what the config says and tests can check each
reader on a small tree.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.documents import load_document, load_pact
from interlock.errors import UsageError

#: Folders never read: version control, environments, caches and interlock's own output.
SKIPPED = frozenset({".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
                     ".pytest_cache", ".ruff_cache", "site-packages", "dist", "build", ".artifacts", ".interlock"})
#: Larger documents are not scanned (a generated fixture, a data dump): init reads what people wrote.
MAX_BYTES = 2_000_000
COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
#: A path literal that names a provider-state-change endpoint: `/_pact/provider-states`, `/provider_states`, `/_pactSetup`.
STATE_ROUTE = re.compile(r"""["'](/[\w./-]*?(?:provider[-_]?states?(?:[-_]change)?|pact[-_]?setup)[\w./-]*)["']""", re.IGNORECASE)
_HTTP_URL = re.compile(r"https?://[^\s\"'/]+(/[^\s\"']*)?")
_MARKER = re.compile(r"(?:pytest\.)?mark\.integration\b|^\s*markers\s*=.*\bintegration\b|^\s*integration\s*:", re.MULTILINE)
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{24,})$")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@dataclass(frozen=True)
class State:
    """A provider state a pact names, with the parameter names its interactions give it."""

    name: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interaction:
    description: str
    method: str | None
    path: str | None
    states: tuple[State, ...] = ()


@dataclass(frozen=True)
class Pact:
    """A pact file found in the repository (path relative to the root)."""

    path: str
    consumer: str
    provider: str
    kind: str
    interactions: tuple[Interaction, ...]


@dataclass(frozen=True)
class ApiDocument:
    """An OpenAPI or AsyncAPI document: its operations (`METHOD /template`) or its channels (`publish id`)."""

    path: str
    kind: str
    title: str
    interfaces: tuple[str, ...]


@dataclass(frozen=True)
class ComposeService:
    """A service of a docker-compose file, as far as a local run can use it."""

    name: str
    command: tuple[str, ...] | None
    build: str | None
    image: str | None
    ports: tuple[tuple[int | None, int], ...]
    health_path: str | None
    environment: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateRoute:
    """A provider-state-change endpoint found in source code."""

    path: str
    file: str
    line: int


@dataclass
class Repository:
    """Everything `interlock init` could read; `skipped` says what it could not, and why."""

    root: Path
    pacts: list[Pact] = field(default_factory=list)
    documents: list[ApiDocument] = field(default_factory=list)
    compose: list[ComposeService] = field(default_factory=list)
    compose_file: str | None = None
    tests: list[str] = field(default_factory=list)
    integration_marker: bool = False
    state_routes: list[StateRoute] = field(default_factory=list)
    python: str | None = None
    skipped: list[str] = field(default_factory=list)


def files(root: Path) -> list[Path]:
    """Every file under `root` that people wrote, in a stable order (skipped folders left out)."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info"))
        found.extend(Path(folder) / n for n in sorted(names))
    return found


def read(root: Path) -> Repository:
    """Read the repository at `root`."""
    repo = Repository(root)
    for path in files(root):
        rel = path.relative_to(root).as_posix()
        suffix = path.suffix.lower()
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
        except OSError:
            continue
        if suffix in (".json", ".yaml", ".yml"):
            if path.name in COMPOSE_NAMES and path.parent == root:
                repo.compose_file = rel
                repo.compose = compose_services(path, repo.skipped)
            else:
                _document(path, rel, repo)
        elif suffix == ".py":
            text = path.read_text("utf-8", errors="replace")
            if re.match(r"^(test_.*|.*_test)\.py$", path.name):
                repo.tests.append(rel)
                repo.integration_marker = repo.integration_marker or bool(_MARKER.search(text))
            elif path.name != "conftest.py":
                repo.state_routes.extend(state_routes(text, rel))
        elif path.name in ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml") and path.parent == root:
            repo.integration_marker = repo.integration_marker or bool(_MARKER.search(path.read_text("utf-8", errors="replace")))
    repo.python = python_requirement(root)
    return repo


def _document(path: Path, rel: str, repo: Repository) -> None:
    """A pact, OpenAPI or AsyncAPI document; any other JSON or YAML file is not interlock's business."""
    try:
        data = load_document(path)
    except UsageError:
        return  # not a document init reads (a broken fixture, a template): leave it to its owners
    if not isinstance(data, dict):
        return
    if isinstance(data.get("consumer"), dict) and isinstance(data.get("provider"), dict):
        try:
            pact = load_pact(path)
        except UsageError as exc:
            repo.skipped.append(f"{rel}: looks like a pact but {exc}")
            return
        raw = data.get("interactions") if "interactions" in data else data.get("messages")
        states = [_states(item) for item in raw] if isinstance(raw, list) else []
        interactions = tuple(Interaction(i.description, i.method, i.path, states[n] if n < len(states) else ()) for n, i in enumerate(pact.interactions))
        repo.pacts.append(Pact(rel, pact.consumer, pact.provider, pact.kind, interactions))
    elif "openapi" in data or "swagger" in data:
        paths = data["paths"] if isinstance(data.get("paths"), dict) else {}
        ops = tuple(f"{m.upper()} {p}" for p, item in paths.items() if isinstance(item, dict) for m in METHODS if m in item)
        repo.documents.append(ApiDocument(rel, "openapi", _title(data), ops))
    elif "asyncapi" in data:
        channels = data["channels"] if isinstance(data.get("channels"), dict) else {}
        repo.documents.append(ApiDocument(rel, "asyncapi", _title(data), tuple(f"publish {c}" for c in channels)))


def _title(data: dict[str, Any]) -> str:
    info = data.get("info")
    return str(info.get("title", "")) if isinstance(info, dict) else ""


def _states(item: Any) -> tuple[State, ...]:
    """A pact interaction's provider states with their parameter names (v3/v4 `providerStates`, v2 `providerState`)."""
    if not isinstance(item, dict):
        return ()
    if isinstance(item.get("providerStates"), list):
        return tuple(State(str(s.get("name", "")), tuple(sorted(s["params"])) if isinstance(s.get("params"), dict) else ())
                     for s in item["providerStates"] if isinstance(s, dict))
    return (State(str(item["providerState"])),) if item.get("providerState") else ()


def state_routes(text: str, rel: str) -> list[StateRoute]:
    """Path literals in source code that name a provider-state-change endpoint."""
    return [StateRoute(m.group(1), rel, text.count("\n", 0, m.start()) + 1) for m in STATE_ROUTE.finditer(text)]


def compose_services(path: Path, skipped: list[str]) -> list[ComposeService]:
    """The services of a compose file: command, build context or image, ports (published, target), health path, environment."""
    rel = path.name
    try:
        data = load_document(path)
    except UsageError as exc:
        skipped.append(f"{rel}: {exc}")
        return []
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        skipped.append(f"{rel}: no `services` table")
        return []
    found = []
    for name, spec in services.items():
        if not isinstance(spec, dict):
            continue
        command = spec.get("command")
        argv = tuple(shlex.split(command)) if isinstance(command, str) else tuple(map(str, command)) if isinstance(command, list) else None
        build = spec.get("build")
        context = build if isinstance(build, str) else build.get("context", ".") if isinstance(build, dict) else None
        depends = spec.get("depends_on", [])
        found.append(ComposeService(
            str(name), argv or None, str(context) if context is not None else None,
            str(spec["image"]) if isinstance(spec.get("image"), str) else None,
            tuple(p for p in (_port(entry) for entry in spec.get("ports") or []) if p is not None),
            _health_path(spec.get("healthcheck")), _environment(spec.get("environment")),
            tuple(str(d) for d in (depends if isinstance(depends, (list, dict)) else []))))
    return found


def _port(entry: Any) -> tuple[int | None, int] | None:
    """(published, target) of a compose `ports` entry: "8001:8000", "127.0.0.1:8001:8000/tcp", "8000", or {published, target}."""
    if isinstance(entry, dict):
        target, published = str(entry.get("target", "")), str(entry.get("published", ""))
        return (int(published) if published.isdigit() else None, int(target)) if target.isdigit() else None
    parts = str(entry).split("/")[0].split(":")
    if not parts[-1].isdigit():
        return None
    host_port = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else None
    return (int(host_port) if host_port else None, int(parts[-1]))


def _health_path(check: Any) -> str | None:
    """The HTTP path a compose healthcheck asks (`curl -f http://localhost:8000/health`), None when it asks none."""
    test = check.get("test") if isinstance(check, dict) else None
    text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
    match = _HTTP_URL.search(text)
    return (match.group(1) or "/") if match else None


def _environment(env: Any) -> dict[str, str]:
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    if isinstance(env, list):
        return dict(str(e).partition("=")[::2] for e in env)
    return {}


def python_requirement(root: Path) -> str | None:
    """The Python the repository asks for: `requires-python` of pyproject.toml, or `.python-version`."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text("utf-8")).get("project", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            project = {}
        if isinstance(project, dict) and isinstance(project.get("requires-python"), str):
            return str(project["requires-python"])
    marker = root / ".python-version"
    if marker.is_file():
        match = re.match(r"\s*(\d+\.\d+)", marker.read_text("utf-8", errors="replace"))
        if match:
            return f">={match.group(1)}"
    return None


def path_template(path: str) -> str:
    """A concrete pact path as a template: id-like segments (numbers, UUIDs, long hex) become `{id}`."""
    segments = path.split("?")[0].split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in segments) or "/"
