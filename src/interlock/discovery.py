"""What a repository already holds, read for `interlock init`: pacts, OpenAPI and AsyncAPI documents, tests, a compose file,
and the build files of each runtime (package.json, go.mod, pom.xml, build.gradle, *.csproj, pyproject.toml).

Reading only: nothing here writes or runs anything. Each reader returns plain
data, so `scaffold` decides what the config says and tests can check each
reader on a small tree.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
import xml.etree.ElementTree as ElementTree
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
#: A path literal that names a health endpoint: `/health`, `/healthz`, `/ready`, `/actuator/health`.
HEALTH_ROUTE = re.compile(r"""["'](/(?:health|healthz|healthcheck|ready|readyz|livez|actuator/health))["']""")
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
    """An endpoint found in source code: a provider-state-change route, or a health route."""

    path: str
    file: str
    line: int


@dataclass(frozen=True)
class Project:
    """A build file of one runtime: what the project is called, how it starts, and which test framework it uses.

    `folder` is relative to the repository's root ("." for the root); `start` is
    the command that runs it from that folder (None: a library or a test project);
    `tests` names the test framework its build file declares (None: none found).
    """

    folder: str
    manifest: str
    runtime: str
    name: str
    start: tuple[str, ...] | None
    tests: str | None = None
    junit_reporter: bool = False  # the JUnit XML reporter the framework needs is already a dependency
    report: str | None = None  # where the project's own config has that reporter write (jest-junit's outputDirectory/outputName)
    reporter_configured: bool = False  # the framework's config already lists the JUnit reporter (jest's `reporters`)


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
    health_routes: list[StateRoute] = field(default_factory=list)
    python: str | None = None
    projects: list[Project] = field(default_factory=list)
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
        elif suffix in SOURCE_SUFFIXES and not re.search(r"[._-](test|spec)\.[a-z]+$|_test\.go$|Tests?\.(java|cs|kt)$", path.name):
            text = path.read_text("utf-8", errors="replace")
            repo.state_routes.extend(state_routes(text, rel))
            repo.health_routes.extend(StateRoute(m.group(1), rel, text.count("\n", 0, m.start()) + 1) for m in HEALTH_ROUTE.finditer(text))
        elif path.name in ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml") and path.parent == root:
            repo.integration_marker = repo.integration_marker or bool(_MARKER.search(path.read_text("utf-8", errors="replace")))
        if path.name in BUILD_FILES or suffix == ".csproj":
            found = project(path, root, repo.skipped)
            if found is not None and not any(p.folder == found.folder and p.runtime == found.runtime for p in repo.projects):
                repo.projects.append(found)
    repo.python = python_requirement(root)
    return repo


#: Source files of other runtimes read for a provider-state-change route (their test files left out).
SOURCE_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".go", ".java", ".kt", ".cs")
#: Build files by name; `*.csproj` by suffix. Gradle's Kotlin script is the same runtime as its Groovy one.
BUILD_FILES = ("package.json", "go.mod", "pom.xml", "build.gradle", "build.gradle.kts", "pyproject.toml")
#: Node test frameworks by the package that brings them, in the order one is chosen when several are declared.
NODE_TESTS = (("jest", "jest"), ("vitest", "vitest"), ("mocha", "mocha"))
#: The JUnit XML reporter package each Node framework needs (vitest has one built in).
NODE_REPORTERS = {"jest": "jest-junit", "mocha": "mocha-junit-reporter", "vitest": None}


def project(path: Path, root: Path, skipped: list[str]) -> Project | None:
    """The project a build file describes; an unreadable one is said in `skipped`, never guessed."""
    rel, folder = path.relative_to(root).as_posix(), path.parent.relative_to(root).as_posix()
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        skipped.append(f"{rel}: cannot be read ({exc})")
        return None
    try:
        if path.name == "package.json":
            return _node(path, rel, folder, json.loads(text))
        if path.name == "go.mod":
            return _go(path, rel, folder, text)
        if path.name == "pom.xml":
            return _maven(path, rel, folder, text)
        if path.name.startswith("build.gradle"):
            return _gradle(path, rel, folder, text)
        if path.suffix.lower() == ".csproj":
            return _dotnet(path, rel, folder, text)
        return _python(rel, folder, tomllib.loads(text))
    except (ValueError, ElementTree.ParseError, tomllib.TOMLDecodeError) as exc:
        skipped.append(f"{rel}: not a readable {path.name} ({str(exc).splitlines()[0][:120]})")
        return None


def _node(path: Path, rel: str, folder: str, data: Any) -> Project:
    if not isinstance(data, dict):
        raise ValueError("the top level is not an object")
    scripts = _mapping(data.get("scripts"))
    deps = {**_mapping(data.get("dependencies")), **_mapping(data.get("devDependencies"))}
    test_script = str(scripts.get("test", ""))
    tests = next((name for name, package in NODE_TESTS if package in deps or re.search(rf"\b{package}\b", test_script)), None)
    main = data.get("main") if isinstance(data.get("main"), str) else None
    start: tuple[str, ...] | None = None
    if isinstance(scripts.get("start"), str):
        start = ("npm", "start")
    elif main and (path.parent / main).is_file():
        start = ("node", main)
    else:
        entry = next((n for n in ("server.js", "app.js", "index.js", "src/server.js", "src/index.js") if (path.parent / n).is_file()), None)
        start = ("node", entry) if entry else None
    reporter = NODE_REPORTERS.get(tests or "")
    name = str(data.get("name") or Path(folder).name or path.parent.name)
    options = _mapping(data.get("jest-junit"))
    directory = Path(str(options.get("outputDirectory") or ".").replace("<rootDir>", "."))
    report = None  # jest-junit's default (junit.xml in the folder jest runs in) is not taken: init names a folder of its own then
    if tests == "jest" and options.get("outputName"):
        report = (directory / str(options["outputName"])).as_posix()
    elif tests == "jest" and directory.as_posix() != ".":
        report = f"{directory.as_posix()}/*.xml"  # the reporter's folder: every report it writes there
    reporters = _mapping(data.get("jest")).get("reporters")
    configured = isinstance(reporters, list) and any("jest-junit" in (r if isinstance(r, str) else json.dumps(r)) for r in reporters)
    return Project(folder, rel, "node", name, start, tests, tests is not None and (reporter is None or reporter in deps), report, configured)


def _go(path: Path, rel: str, folder: str, text: str) -> Project:
    module = re.search(r"^\s*module\s+(\S+)", text, re.MULTILINE)
    if module is None:
        raise ValueError("no `module` line")
    mains = sorted(p.parent for p in path.parent.glob("cmd/*/main.go"))
    start = ("go", "run", ".") if (path.parent / "main.go").is_file() else ("go", "run", f"./{mains[0].relative_to(path.parent).as_posix()}") if mains else None
    has_tests = any(path.parent.rglob("*_test.go"))
    return Project(folder, rel, "go", module.group(1).rstrip("/").rsplit("/", 1)[-1], start, "go" if has_tests else None)


def _maven(path: Path, rel: str, folder: str, text: str) -> Project:
    tree = ElementTree.fromstring(text)
    namespace = tree.tag[: tree.tag.index("}") + 1] if tree.tag.startswith("{") else ""
    artifact = tree.find(f"{namespace}artifactId")
    packaging = tree.find(f"{namespace}packaging")
    maven = "./mvnw" if (path.parent / "mvnw").is_file() else "mvn"
    start: tuple[str, ...] | None = None
    if packaging is None or packaging.text != "pom":
        start = (maven, "-q", "spring-boot:run") if "spring-boot" in text else (maven, "-q", "exec:java")
    name = artifact.text.strip() if artifact is not None and artifact.text else path.parent.name
    return Project(folder, rel, "java", name, start, "maven" if (path.parent / "src" / "test").is_dir() else None)


def _gradle(path: Path, rel: str, folder: str, text: str) -> Project:
    gradle = "./gradlew" if (path.parent / "gradlew").is_file() else "gradle"
    start = (gradle, "bootRun") if "org.springframework.boot" in text else (gradle, "run") if re.search(r"\bapplication\b", text) else None
    return Project(folder, rel, "java", path.parent.name if folder != "." else path.parent.resolve().name, start,
                   "gradle" if (path.parent / "src" / "test").is_dir() else None)


def _dotnet(path: Path, rel: str, folder: str, text: str) -> Project:
    ElementTree.fromstring(text)  # a broken project file is said, not read by pattern
    tests = "Microsoft.NET.Test.Sdk" in text
    return Project(folder, rel, "dotnet", path.stem, None if tests else ("dotnet", "run", "--project", path.name), "dotnet" if tests else None,
                   tests and "JunitXml.TestLogger" in text)


def _python(rel: str, folder: str, data: dict[str, Any]) -> Project:
    project_table = _mapping(data.get("project"))
    name = str(project_table.get("name") or Path(folder).name)
    return Project(folder, rel, "python", name, None, "pytest")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
