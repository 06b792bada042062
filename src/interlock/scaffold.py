"""`interlock init`: an interlock.toml from what the repository holds, everything it points at, and the protocol's hooks.

It reads the repository (`discovery`): pact participants become services, a
compose file says how each runs (command, port, health check) and which brokers
exist, API documents and pacts become the feature list. It writes the feature
list, the baseline and VERSION when missing, and a `.gitignore` that keeps the
private signing key out of git, so `config check` and `run` never fail on
something `init` left out. What it cannot find it asks on a terminal, or
assumes and says so.

The protocol names three scripts (`scripts/validate_environment.py`,
`scripts/run_contract_tests.py`, `scripts/generate_artifact_manifest.py`);
they are thin shims over the CLI taking the protocol's flags, so a team that
follows the protocol's wording and one that calls `interlock` get one behaviour.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock import discovery
from interlock.brokers import KINDS as BROKER_KINDS
from interlock.config import CONFIG_NAME
from interlock.errors import Problem, UsageError
from interlock.events import Emit, FileWritten, Notice
from interlock.files import atomic_write, sha256_file
from interlock.phases.scope import match_template, read_features, read_version, template_matches, tree_sha256
from interlock.reference import SCHEMA_FILE, schema_text

SHIM = '''#!/usr/bin/env python3
"""PROTOCOL-9 automation hook: `python scripts/{name} {usage}`.

A thin shim over `interlock {command}`, written by `interlock init`.
"""

import sys

from interlock.cli import main

sys.argv = ["interlock", "{command}", *sys.argv[1:]]
main()
'''

SHIMS = {
    "validate_environment.py": ("env", "--env integration --output .artifacts/integration/environment-validation-report.json"),
    "run_contract_tests.py": ("contracts", "--env integration --output .artifacts/integration/contract-validation-results.json"),
    "generate_artifact_manifest.py": ("bundle", "--env integration"),
}

#: What `interlock init` names and writes; the documents exist after it, so `config check` and `run` find them.
VERSION = "0.1.0"
ENVIRONMENT = "integration"
FEATURES, BASELINE = "docs/features.json", "env/baseline.toml"
#: The `#:schema` comment line TOML editors read (taplo, Even Better TOML): the one place it is written, first line of the config.
SCHEMA_LINE = f"#:schema ./{SCHEMA_FILE}"
#: `.gitignore` lines: the run's artifacts and interlock's scratch folder, where the private signing key lives; the public key stays.
GITIGNORE_HEADER = "# interlock: run artifacts, scratch files and the private signing key (the .pub key may be committed)\n"
GITIGNORE = [".artifacts/", ".interlock/*", "!.interlock/keys/", ".interlock/keys/*", "!.interlock/keys/*.pub"]

#: (question, default) -> the answer typed on a terminal.
Ask = Callable[[str, str], str]

HEADER = '''# interlock: how to validate this system's integration (PROTOCOL-9), written by `interlock init`
# from what the repository holds. `interlock config check` reports every problem with its line.
# Placeholders: {root} this folder, {python} interlock's interpreter, {url:NAME} and {port:NAME} a service's.
'''

EXAMPLE_SERVICE = '''
[services.api]
description = "The service under test"

[environments.integration]
setup = []

[environments.integration.services.api]
command = ["{python}", "-m", "api"]
port = "auto"  # a free port for each run, passed on as {port:api} and {url:api}
url = "http://127.0.0.1:{port:api}"
health = "{url:api}/health"
env = { PORT = "{port:api}" }
'''

STATE_GUIDANCE = '''# interlock sets each state up before its interaction. Either name {name}'s own state-change endpoint
# (Pact's convention: POST {{"state": ..., "params": {{...}}, "action": "setup" | "teardown"}}):
#   state_url = "{url}"
# or write a handler per state (a command gets the state, params and provider as JSON on stdin):
#   [contracts.pact.providers.{name}.states.{state}]
#   setup = {{ command = ["{{python}}", "scripts/states.py"] }}'''

MESSAGE_GUIDANCE = '''# How {provider} really produces the message {consumer} expects: trigger it, capture it from a broker.
# [contracts.pact.messages.{description}]
# broker = "{broker}"
# topic = "..."          # the channel, key or subject it is published on
# trigger = {{ http = {{ method = "POST", url = "{{url:{provider}}}/..." }} }}
'''

SIGNOFF = '''
[signoff]
approver = "Quality Orchestrator"
key = ".interlock/keys/signoff.key"
pubkey = ".interlock/keys/signoff.pub"
'''

PYTEST_INI = """[pytest]
markers =
    integration: integration test, run by `pytest -m integration` (PROTOCOL-9 step 3.1)
    critical: a failure here is a critical defect and halts the protocol until mitigated
    interface(*ids): interface ids this test covers, e.g. "catalog:GET /products/{id}"
"""


#: How each test framework runs as a JUnit-XML suite (`[suite] runner = "junit"`), run in its project's folder:
#: the command, the report it writes (relative to that folder), the command that lists its tests, how one test is rerun
#: (`{name_regex}`: the case's name as a literal regular expression, as -t, --grep and -run read it) and the arguments that narrow a run to some tests.
JUNIT_SUITES: dict[str, dict[str, Any]] = {
    "jest": {"command": ["env", "JEST_JUNIT_OUTPUT_DIR=reports", "npx", "jest", "--ci", "--reporters=default", "--reporters=jest-junit"],
             "junit_xml": "reports/junit.xml", "list_command": ["npx", "jest", "--listTests"],
             "rerun": ["env", "JEST_JUNIT_OUTPUT_DIR=reports", "npx", "jest", "--ci", "--reporters=default", "--reporters=jest-junit", "-t", "{name_regex}"],
             "filter_args": ["-t", "--testNamePattern"]},
    "vitest": {"command": ["npx", "vitest", "run", "--reporter=junit", "--outputFile=reports/junit.xml"], "junit_xml": "reports/junit.xml",
               "list_command": ["npx", "vitest", "list"],
               "rerun": ["npx", "vitest", "run", "--reporter=junit", "--outputFile=reports/junit.xml", "-t", "{name_regex}"],
               "filter_args": ["-t", "--testNamePattern"]},
    "mocha": {"command": ["npx", "mocha", "--reporter", "mocha-junit-reporter", "--reporter-options", "mochaFile=reports/junit.xml"],
              "junit_xml": "reports/junit.xml",
              "rerun": ["npx", "mocha", "--reporter", "mocha-junit-reporter", "--reporter-options", "mochaFile=reports/junit.xml", "--grep", "{name_regex}"],
              "filter_args": ["--grep", "-g"]},
    "go": {"command": ["gotestsum", "--junitfile", "reports/junit.xml", "--", "./..."], "junit_xml": "reports/junit.xml",
           "list_command": ["go", "test", "-list", ".", "./..."],
           "rerun": ["gotestsum", "--junitfile", "reports/junit.xml", "--", "-run", "^{name_regex}$", "./..."],
           "filter_args": ["-run"]},
    "maven": {"command": ["{build}", "test"], "junit_xml": "target/surefire-reports/TEST-*.xml",
              "rerun": ["{build}", "test", "-Dtest={classname}#{name}"], "filter_args": ["-Dtest"]},
    "gradle": {"command": ["{build}", "test"], "junit_xml": "build/test-results/test/TEST-*.xml",
               "rerun": ["{build}", "test", "--tests", "{classname}.{name}"], "filter_args": ["--tests"]},
    "dotnet": {"command": ["dotnet", "test", "--logger", "junit;LogFileName=junit.xml"], "junit_xml": "TestResults/junit.xml",
               "rerun": ["dotnet", "test", "--logger", "junit;LogFileName=junit.xml", "--filter", "FullyQualifiedName={classname}.{name}"],
               "filter_args": ["--filter"]},
}
#: What a framework needs installed for its JUnit XML report, said when the project does not declare it.
JUNIT_NEEDS = {"jest": "the jest-junit reporter (npm install --save-dev jest-junit)",
               "mocha": "the mocha-junit-reporter reporter (npm install --save-dev mocha-junit-reporter)",
               "go": "gotestsum on the PATH (go install gotest.tools/gotestsum@latest)",
               "dotnet": "the JunitXml.TestLogger package in the test project (dotnet add package JunitXml.TestLogger)"}
#: Folder names that say a project holds the integration tests, when several projects have tests.
SUITE_FOLDERS = re.compile(r"(^|[-_/.])(integration|e2e|tests?|specs?|consumer)([-_/.]|$)", re.IGNORECASE)

SUITE_GUIDANCE = '''# The integration suite: {what}.
# To change it, edit `command` (how the suite runs), `junit_xml` (the report it writes, relative to `cwd`) and `rerun`
# (one test again: {{name}}, {{classname}}, {{file}}, {{id}} from the report); `filter_args` are the arguments that narrow a run.
# A test's interfaces and criticality come from [[suite.tests]] entries (match = a glob on `<classname>::<name>`), e.g.
#   [[suite.tests]]
#   match = "*checkout*"
#   interfaces = ["orders:POST /orders"]
#   critical = true
# For a pytest suite instead: runner = "pytest" with path and marker.'''

PYTEST_GUIDANCE = '''# The integration suite: pytest over `path`, the tests carrying `marker` (empty: every test), with `args` added.
# Change `path`, `marker` or `args` to select other tests; a suite of another runner that writes JUnit XML (jest, go test,
# Maven, Gradle, dotnet test) is `runner = "junit"` with its `command` and `junit_xml` (docs/config.md, [suite]).'''


def _has_pytest_config(root: Path) -> bool:
    if (root / "pytest.ini").is_file():
        return True
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        path = root / name
        if path.is_file() and marker in path.read_text("utf-8", errors="replace"):
            return True
    return False


def scaffold(root: Path, emit: Emit, *, force: bool = False, ask: Ask | None = None) -> list[Path]:
    """Read the repository, then write the config, everything it points at, the three shims, the markers and `.gitignore`.

    `ask` puts a question on a terminal; without it (`--yes`, no TTY) every answer is
    its default, and each default is said through `emit`. A document people own (the
    feature list, the baseline, VERSION) is never overwritten; `.gitignore` is only
    appended to. Returns what was written.
    """
    # The schema beside the config, named by a relative `#:schema` line: every clone and editor (taplo, Even Better
    # TOML) finds it offline, it matches the installed interlock, and no machine path enters the config.
    targets: dict[Path, str] = {root / CONFIG_NAME: "", root / SCHEMA_FILE: schema_text()}
    for script, (command, usage) in SHIMS.items():
        targets[root / "scripts" / script] = SHIM.format(name=script, command=command, usage=usage)
    repo = discovery.read(root)
    init = _Init(root, repo, emit, ask)
    if not _has_pytest_config(root) and init.suite_project is None:
        targets[root / "pytest.ini"] = PYTEST_INI
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise UsageError(Problem(str(existing[0]), "already exists; pass --force to overwrite"))  # before any question is asked
    targets[root / CONFIG_NAME] = init.config()
    targets.update({root / rel: text for rel, text in init.documents.items() if not (root / rel).exists()})
    ignore = _gitignore(root / ".gitignore")
    if ignore is not None:
        targets[root / ".gitignore"] = ignore
    for path, text in targets.items():
        atomic_write(path, text.encode("utf-8"))
        if path.suffix == ".py":
            path.chmod(0o755)
        emit(FileWritten("init", str(path)))
    found = (f"read {len(repo.pacts)} pact file(s), {len(repo.documents)} API document(s), {len(repo.tests)} test file(s)"
             + (f", build files {', '.join(p.manifest for p in repo.projects)}" if repo.projects else "")
             + (f", {repo.compose_file} ({len(repo.compose)} services)" if repo.compose_file else ", no compose file")
             + f"; services: {', '.join(init.services) or '(none)'}")
    for note in [found, *(f"not read: {s}" for s in repo.skipped), *init.notes]:
        emit(Notice("init", note))
    return list(targets)


def _gitignore(path: Path) -> str | None:
    """`.gitignore` with interlock's lines appended where missing (None: nothing to add); an existing file is kept as it is."""
    text = path.read_text("utf-8", errors="replace") if path.is_file() else ""
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE if line not in have]
    if not missing:
        return None
    head = text if not text or text.endswith("\n") else text + "\n"
    return head + ("\n" if head else "") + GITIGNORE_HEADER + "\n".join(missing) + "\n"


def _toml(value: Any) -> str:
    """A TOML value: strings and lists as JSON writes them (TOML basic strings share its escapes), tables inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _same(one: str, other: str) -> bool:
    """Two names of one thing: `ProductService`, `product-service` and `product_service` are the same."""
    return re.sub(r"[^a-z0-9]", "", one.lower()) == re.sub(r"[^a-z0-9]", "", other.lower()) != ""


def _is_python(program: str) -> bool:
    return re.fullmatch(r"python(\d(\.\d+)?)?", Path(program).name) is not None


@dataclass
class _Runtime:
    """How a service runs in the environment init writes, and where that came from."""

    url: str
    origin: str
    command: list[str] | None = None
    cwd: str = "."
    port: int | str | None = None
    health: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class _Init:
    """The decisions of one `interlock init`: what the repository says, what was asked, what was assumed."""

    def __init__(self, root: Path, repo: discovery.Repository, emit: Emit, ask: Ask | None) -> None:
        self.root, self.repo, self.emit, self.ask = root, repo, emit, ask
        self.notes: list[str] = []
        self.documents: dict[str, str] = {}
        compose = {c.name: c for c in repo.compose}
        self.brokers = {c.name: (kind, c) for c in repo.compose if not c.build and (kind := _broker_kind(c.image)) is not None}
        self.apps = {n: c for n, c in compose.items() if n not in self.brokers and (c.build or c.command)}
        providers = {p.provider for p in repo.pacts}
        consumers = {p.consumer for p in repo.pacts}
        self.services = sorted(providers | set(self.apps) | (consumers & set(compose)))
        self.outside = sorted(consumers - set(self.services))  # consumers nothing runs: a test or a front end
        self.started = self._projects_of_services()
        self.suite_project = self._suite_project()

    def _projects_of_services(self) -> dict[str, discovery.Project]:
        """The build file that starts each service compose does not run: by name, else the one left for the one left."""
        startable = [p for p in self.repo.projects if p.start]
        found: dict[str, discovery.Project] = {}
        for name in self.services:
            if name in self.apps:
                continue
            match = next((p for p in startable if _same(name, p.name) or _same(name, Path(p.folder).name)), None)
            if match is not None and match not in found.values():
                found[name] = match
        waiting = [n for n in self.services if n not in self.apps and n not in found]
        unused = [p for p in startable if p not in found.values()]
        if len(waiting) == 1 and len(unused) == 1:
            found[waiting[0]] = unused[0]
            self.notes.append(f"service {waiting[0]!r}: started by {unused[0].manifest} (the one build file left that starts something); "
                              f"change its command in {CONFIG_NAME} if that is wrong")
        return found

    def _suite_project(self) -> discovery.Project | None:
        """The project whose tests are the integration suite when it is not pytest (None: pytest, as for a Python repository)."""
        tested = [p for p in self.repo.projects if p.tests]
        root = next((p for p in tested if p.folder == "."), None)
        chosen = root or next((p for p in tested if SUITE_FOLDERS.search(p.folder)), None) or (tested[0] if tested else None)
        if chosen is None or chosen.tests not in JUNIT_SUITES or (self.repo.tests and root is None):
            return None  # a Python repository, or Python test files beside other runtimes' projects: pytest, as before
        return chosen

    def answer(self, question: str, default: str, why: str) -> str:
        """Ask on a terminal; otherwise take the default and say so."""
        if self.ask is not None:
            return self.ask(question, default).strip()
        self.notes.append(f"{question}: {default or '(none)'} assumed ({why})")
        return default

    # -- what the config points at -------------------------------------------------------------------------------------
    def _pin(self, rel: str, text: str | None) -> tuple[str, str]:
        """(key, value) pinning a prerequisite: its declared version, else its SHA-256; `text` is written when the file is new."""
        path = self.root / rel
        if not path.exists():
            if text is not None:
                self.documents[rel] = text
            return "version", VERSION
        found = read_version(path, "version")
        if found:
            return "version", found
        return "sha256", tree_sha256(path) if path.is_dir() else sha256_file(path)

    def _contracts_folder(self) -> str:
        """The architecture contracts: `contracts/` if there is one, else the folder holding every contract document found."""
        if (self.root / "contracts").is_dir() or not (self.repo.pacts or self.repo.documents):
            return "contracts"
        folders = [Path(d.path).parent for d in self.repo.documents] + [Path(p.path).parent for p in self.repo.pacts]
        common = Path(os.path.commonpath([f.as_posix() for f in folders])) if folders else Path(".")
        return common.as_posix() if common.as_posix() not in ("", ".") else "contracts"

    def _owner(self, document: discovery.ApiDocument) -> str | None:
        """The service a document describes: by its file name, a folder of its path, or its title."""
        parts = [p.lower() for p in Path(document.path).parts]
        stem = Path(document.path).stem.lower()
        for name in sorted(self.services, key=len, reverse=True):
            low = name.lower()
            if stem == low or re.match(rf"{re.escape(low)}[-_.]", stem) or low in parts[:-1] or low in document.title.lower().split():
                return name
        return None

    def features(self, owners: dict[str, str]) -> str:
        """The feature list: one feature per pact (consumer uses provider) and one per API document, each with its interfaces."""
        operations = {(owners[d.path], d.kind): d.interfaces for d in self.repo.documents if d.path in owners}
        features: list[dict[str, Any]] = []
        listed: set[str] = set()
        by_pair: dict[tuple[str, str], list[str]] = {}
        for pact in self.repo.pacts:
            refs = by_pair.setdefault((pact.consumer, pact.provider), [])
            for item in pact.interactions:
                if pact.kind == "message":
                    refs.append(f"{pact.provider}:publish {item.description}")
                    continue
                method, path = item.method or "GET", item.path or "/"
                known = [op for op in operations.get((pact.provider, "openapi"), ()) if op.split(" ", 1)[0] == method and template_matches(op.split(" ", 1)[1], path)]
                refs.append(f"{pact.provider}:{known[0] if known else f'{method} {discovery.path_template(path)}'}")
        for (consumer, provider), refs in sorted(by_pair.items()):
            unique = sorted(set(refs))
            listed.update(unique)
            features.append({"id": f"F-{len(features) + 1}", "title": f"{consumer} uses {provider}", "interfaces": unique})
        for document in self.repo.documents:
            service = owners.get(document.path)
            refs = sorted({f"{service}:{i}" for i in document.interfaces} - listed) if service else []
            if refs:
                features.append({"id": f"F-{len(features) + 1}", "title": f"{service}: {document.path}", "interfaces": refs})
        return json.dumps({"version": VERSION, "features": features}, indent=2) + "\n"

    def _uncovered_by(self, features: list[dict[str, Any]]) -> None:
        """Say which pact requests a feature list people wrote does not cover: step 1.1 fails Gate 1 on each."""
        refs = [ref for feature in features for ref in feature["interfaces"]]
        missing = sorted({f"{p.provider}:{i.method} {i.path}" for p in self.repo.pacts if p.kind == "http" for i in p.interactions
                          if match_template(refs, p.provider, i.method or "GET", i.path or "/") is None})
        if missing:
            self.notes.append(f"{FEATURES} (kept as it is) covers none of these pact requests: {', '.join(missing[:20])}; add them to a feature "
                              "or to [scope] out_of_scope, or Gate 1 fails")

    def baseline(self) -> str:
        python = self.repo.python or ">={}.{}".format(*sys.version_info[:2])
        source = "the repository's own requirement" if self.repo.python else "the Python that ran `interlock init`"
        return (f"# Environment baseline (protocol 7), written by `interlock init`: what an integration environment must provide.\n"
                f"# Versions are PEP 440 ranges; add [versions] of stores and brokers, [services.NAME] env = [...] and [variables].\n"
                f'version = "{VERSION}"\n\n[versions]\npython = {json.dumps(python)}  # {source}\n')

    # -- services ------------------------------------------------------------------------------------------------------
    def runtime(self, name: str, index: int) -> _Runtime:
        service = self.apps.get(name) or next((c for c in self.repo.compose if c.name == name), None)
        if service is None and name in self.started:
            return self._project_runtime(name, self.started[name])
        if service is None:
            default = f"http://127.0.0.1:{8080 + index}"
            url = self.answer(f"URL of service {name!r}", default, "no compose service of that name") or default
            typed = self.answer(f"command that starts {name!r} (empty: your team starts it)", "", "init cannot know it")
            return _Runtime(url, "a pact names it; no compose service does", shlex.split(typed) if typed else None)
        target = service.ports[0][1] if service.ports else None
        published = service.ports[0][0] if service.ports else None
        runnable = bool(service.command and service.build is not None and (_is_python(service.command[0]) or shutil.which(service.command[0])))
        health = f"{{url:{name}}}{service.health_path}" if service.health_path else None
        if not service.command or not runnable:
            fixed = published or target or 8080 + index
            why = "it has no `command`" if not service.command else "its `command` does not run outside its image"
            self.notes.append(f"service {name!r}: compose {why}; interlock expects your team to start it at http://127.0.0.1:{fixed}")
            return _Runtime(f"http://127.0.0.1:{fixed}", f"{self.repo.compose_file} service {name}: started by your team, not by interlock ({why})",
                            health=health)
        command = [("{python}" if _is_python(service.command[0]) else service.command[0]), *service.command[1:]]
        env = {k: self._local(v) for k, v in service.environment.items()}
        port: int | str = target or 8080 + index
        if target is not None and (holder := next((k for k, v in env.items() if v == str(target)), None)):
            env[holder], port = f"{{port:{name}}}", "auto"
        elif target is not None and any(re.search(rf"(^|[:=]){target}$", arg) for arg in command):
            command = [re.sub(rf"(^|[:=]){target}$", rf"\g<1>{{port:{name}}}", arg) for arg in command]
            port = "auto"
        cwd = Path(service.build).as_posix() if service.build and (self.root / service.build).is_dir() else "."
        return _Runtime(f"http://127.0.0.1:{{port:{name}}}", f"{self.repo.compose_file} service {name}", command, cwd, port, health, env)

    def _project_runtime(self, name: str, project: discovery.Project) -> _Runtime:
        """A service its own build file starts, on a port interlock picks and passes as PORT (what node, go and the others read)."""
        typed = self.answer(f"command that starts {name!r}", shlex.join(project.start or ()), f"from {project.manifest}")
        command = shlex.split(typed) if typed else None
        inside = project.folder == "." or None
        route = next((r for r in self.repo.health_routes if inside or r.file.startswith(f"{project.folder}/")), None)
        origin = (f"{project.manifest} ({project.runtime}): started by `{shlex.join(command)}` in {project.folder}, listening on $PORT"
                  + (f"; health route found in {route.file}:{route.line}" if route else "") + ".\n"
                  "# Change `command`, `cwd`, `env`, `port` or `health` if it starts, listens or answers otherwise"
                  if command else f"{project.manifest}: started by your team")
        health = f"{{url:{name}}}{route.path}" if route else None
        return _Runtime(f"http://127.0.0.1:{{port:{name}}}", origin, command, project.folder, "auto", health, {"PORT": f"{{port:{name}}}"})

    def _local(self, value: str) -> str:
        """A compose environment value as a local run needs it: a service's URL by placeholder, a broker on loopback."""
        def one(match: re.Match[str]) -> str:
            scheme, auth, host, port = match.group("scheme", "auth", "host", "port")
            if host in self.services and scheme in ("http", "https"):
                return f"{{url:{host}}}"
            if host in self.brokers:
                _, broker = self.brokers[host]
                published = next((p for p, t in broker.ports if str(t) == (port or str(t))), None)
                return f"{scheme}://{auth + '@' if auth else ''}127.0.0.1:{published or port or ''}".rstrip(":")
            return match.group(0)
        return re.sub(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<auth>[^@/\s]+)@)?(?P<host>[A-Za-z0-9_.-]+)(?::(?P<port>\d+))?", one, value)

    def state_url(self, provider: str) -> tuple[str | None, str]:
        """The provider's own state-change endpoint: found in its code, else asked, else none; with where it came from."""
        context = self.apps[provider].build if provider in self.apps else None
        def owned(route: discovery.StateRoute) -> bool:
            parts = Path(route.file).parts
            return (context not in (None, ".") and route.file.startswith(f"{context}/")) or provider in parts[:-1] or Path(route.file).stem == provider
        mine = [r for r in self.repo.state_routes if owned(r)]
        if not mine and len({r.path for r in self.repo.state_routes}) == 1:
            mine = self.repo.state_routes  # one endpoint in the whole repository: the providers share it
        if mine:
            return mine[0].path, f"found in {mine[0].file}:{mine[0].line}"
        answer = self.answer(f"state-change URL of provider {provider!r} (empty: write state handlers)", "", "none found in its code")
        if answer and not re.match(r"(/|https?://)", answer):
            answer = "/" + answer  # a path is joined to the service's URL
        return (answer or None), "as answered"

    # -- the config ----------------------------------------------------------------------------------------------------
    def config(self) -> str:
        repo = self.repo
        owners = {d.path: o for d in repo.documents if (o := self._owner(d)) is not None}
        for document in repo.documents:
            if document.path not in owners:
                self.notes.append(f"{document.path}: {document.kind} document of no known service; name it under [services.NAME] {document.kind}")
        feature_key = self._pin(FEATURES, None) if (self.root / FEATURES).exists() else self._pin(FEATURES, self.features(owners))
        if (self.root / FEATURES).is_file():
            try:
                self._uncovered_by(read_features(self.root / FEATURES))
            except UsageError as exc:
                self.notes.append(f"{FEATURES} (kept as it is) cannot be read: {exc}")
        contracts = self._contracts_folder()
        contracts_key = self._pin(contracts, None) if (self.root / contracts / "VERSION").is_file() else ("version", VERSION)
        if contracts_key == ("version", VERSION):
            self.documents.setdefault(f"{contracts}/VERSION", VERSION + "\n")
        baseline_key = self._pin(BASELINE, self.baseline())
        out = [*([SCHEMA_LINE] if SCHEMA_LINE else []), HEADER, f'[project]\nname = {json.dumps(self.root.resolve().name)}\nversion = "{VERSION}"\n',
               "# Inputs of protocols 3, 6 and 7, pinned by version (or sha256); `interlock init` wrote the ones that did not exist.",
               f"[prerequisites.feature_list]\npath = {json.dumps(FEATURES)}\n{feature_key[0]} = {json.dumps(feature_key[1])}\n",
               f"[prerequisites.architecture_contracts]\npath = {json.dumps(contracts)}\n{contracts_key[0]} = {json.dumps(contracts_key[1])}\n",
               f"[prerequisites.environment_baseline]\npath = {json.dumps(BASELINE)}\n{baseline_key[0]} = {json.dumps(baseline_key[1])}\n"]
        if not self.services:
            startable = [p for p in self.repo.projects if p.start]
            if startable:
                project = next((p for p in startable if p.folder == "."), startable[0])
                name = re.sub(r"[^A-Za-z0-9_-]+", "-", project.name).strip("-") or "api"
                self.notes.append(f"no pact, compose service or API document found: wrote service {name!r} from {project.manifest}; "
                                  "describe your other services")
                out.append(f'[services.{_key(name)}]\ndescription = "The service under test"\n')
                out.append(f"[environments.{ENVIRONMENT}]\nsetup = []\n")
                out.append(self._runtime_text(name, self._project_runtime(name, project)))
                return "\n".join(out) + self._suite() + SIGNOFF
            self.notes.append("no pact, compose service or API document found: wrote an example service `api`; describe your services")
            return "\n".join(out) + EXAMPLE_SERVICE + self._suite() + SIGNOFF
        runtimes = {name: self.runtime(name, n) for n, name in enumerate(self.services)}
        states = self._states()
        declared = set(self.services) | set(self.brokers)
        for name in self.services:
            out.append(self._service(name, owners, states.get(name, {}), declared))
        if self.outside:
            out.append(f"# Pact consumers that nothing here runs (a test, a front end): {', '.join(self.outside)}.\n"
                       "# They are not services: interlock verifies their pacts against the providers.\n")
        out.append(f'[environments.{ENVIRONMENT}]\ndescription = "Written by `interlock init` from what the repository says"\nsetup = []\n')
        for name in self.services:
            out.append(self._runtime_text(name, runtimes[name]))
        for name, (kind, broker) in sorted(self.brokers.items()):
            port = next((p for p, _ in broker.ports if p), None) or BROKER_KINDS[kind].default_port
            out.append(f"# {self.repo.compose_file} service {name} (image {broker.image})\n[environments.{ENVIRONMENT}.brokers.{_key(name)}]\n"
                       f'kind = "{kind}"\nurl = "{kind}://127.0.0.1:{port}"\n')
        out.append(self._pacts(states))
        return "\n".join(out) + self._suite() + SIGNOFF

    def _states(self) -> dict[str, dict[str, set[str]]]:
        """Per provider: each state its pacts name, with every parameter name given to it."""
        states: dict[str, dict[str, set[str]]] = {}
        for pact in self.repo.pacts:
            for item in pact.interactions:
                for state in item.states:
                    states.setdefault(pact.provider, {}).setdefault(state.name, set()).update(state.params)
        return states

    def _service(self, name: str, owners: dict[str, str], states: dict[str, set[str]], declared: set[str]) -> str:
        lines = [f"[services.{_key(name)}]"]
        compose = next((c for c in self.repo.compose if c.name == name), None)
        depends = [d for d in (compose.depends_on if compose else ()) if d in declared]
        if depends:
            lines.append(f"depends_on = {_toml(depends)}")
        for document in self.repo.documents:
            if owners.get(document.path) == name:
                lines.append(f"{document.kind} = {json.dumps(document.path)}")
        if states:
            url, origin = self.state_url(name)
            listing = "; ".join(f"{s!r}" + (f" (params: {', '.join(sorted(p))})" if p else "") for s, p in sorted(states.items()))
            lines.append(f"# Provider states its pacts name: {listing}.")
            if url:
                lines.append(f"state_url = {json.dumps(url)}  # its own state-change endpoint, {origin}")
            else:
                if url:
                    self.notes.append(f"provider {name!r}: state-change endpoint {url} ({origin}) written as a comment: this interlock has no `state_url`")
                else:
                    self.notes.append(f"provider {name!r}: no state-change endpoint found; write a handler for each state (see the comments in {CONFIG_NAME})")
                lines.append(STATE_GUIDANCE.format(name=name, url=url or "/_pact/provider-states", state=json.dumps(sorted(states)[0])))
        return "\n".join(lines) + "\n"

    def _runtime_text(self, name: str, runtime: _Runtime) -> str:
        lines = [f"# {runtime.origin}", f"[environments.{ENVIRONMENT}.services.{_key(name)}]"]
        if runtime.command:
            lines.append(f"command = {_toml(runtime.command)}")
            if runtime.cwd != ".":
                lines.append(f"cwd = {json.dumps(runtime.cwd)}")
        if runtime.port is not None:
            lines.append(f"port = {_toml(runtime.port)}")
        lines.append(f"url = {json.dumps(runtime.url)}")
        if runtime.health:
            lines.append(f"health = {json.dumps(runtime.health)}")
        if runtime.env:
            lines.append(f"env = {_toml(runtime.env)}")
        return "\n".join(lines) + "\n"

    def _pacts(self, states: dict[str, dict[str, set[str]]]) -> str:
        if not self.repo.pacts:
            return ""
        folders = sorted({Path(p.path).parent.as_posix() for p in self.repo.pacts})
        sources = [f for f in folders if not any(f != o and (o == "." or f.startswith(o + "/")) for o in folders)]
        text = f"[contracts.pact]\nsources = {_toml(sources)}\n"
        for pact in self.repo.pacts:
            if pact.kind != "message":
                continue
            for item in pact.interactions:
                self.notes.append(f"message {item.description!r} ({pact.consumer} <- {pact.provider}): say how {pact.provider} publishes it "
                                  f"under [contracts.pact.messages] (see the comment in {CONFIG_NAME})")
                text += MESSAGE_GUIDANCE.format(description=json.dumps(item.description), consumer=pact.consumer, provider=pact.provider,
                                                broker=next(iter(sorted(self.brokers)), "bus"))
        return text

    def _suite(self) -> str:
        if self.suite_project is not None:
            return self._junit_suite(self.suite_project)
        return self._pytest_suite()

    def _junit_suite(self, project: discovery.Project) -> str:
        """The project's own test framework as the suite, read through the JUnit XML report it writes."""
        framework = str(project.tests)
        wrapper = {"maven": "mvnw", "gradle": "gradlew"}.get(framework)
        tool = f"./{wrapper}" if wrapper and (self.root / project.folder / wrapper).is_file() else {"maven": "mvn", "gradle": "gradle"}.get(framework, "")
        keys: dict[str, Any] = {"runner": "junit"}
        if project.folder != ".":
            keys["cwd"] = project.folder
        for key, value in JUNIT_SUITES[framework].items():
            keys[key] = [tool if part == "{build}" else part for part in value] if isinstance(value, list) else value
        if project.report:  # jest-junit's own config in package.json says where it writes: run jest as the team does
            command = ["npx", "jest", "--ci", *([] if project.reporter_configured else ["--reporters=default", "--reporters=jest-junit"])]
            keys.update(command=command, junit_xml=project.report, rerun=[*command, "-t", "{name_regex}"])
        if not project.junit_reporter and framework in JUNIT_NEEDS:
            self.notes.append(f"suite: {framework} in {project.folder} writes JUnit XML only with {JUNIT_NEEDS[framework]}")
        lines = [SUITE_GUIDANCE.format(what=f"{framework} in {project.folder} ({project.manifest}), read through the JUnit XML it writes")]
        body = [f"{key} = {_toml(value)}" for key, value in keys.items()] + ["timeout = 300"]
        lines += ["[suite]", *body]
        return "\n" + "\n".join(lines) + "\n"

    def _pytest_suite(self) -> str:
        tops = sorted({Path(t).parts[0] if len(Path(t).parts) > 1 else "." for t in self.repo.tests})
        path = "tests" if "tests" in tops or not tops else tops[0] if len(tops) == 1 else "."
        if self.repo.integration_marker or not self.repo.tests:
            marker = "integration"
        else:
            marker = ""
            self.notes.append(f"no test carries the `integration` marker: the suite is every test under {path} (set [suite] marker to select some)")
        return f'\n{PYTEST_GUIDANCE}\n[suite]\npath = {json.dumps(path)}\nmarker = {json.dumps(marker)}\ntimeout = 300\n'


def _broker_kind(image: str | None) -> str | None:
    """The broker kind a compose image runs, by the image's bare name (`docker.io/library/rabbitmq:3` -> `rabbitmq`) being a
    kind's name or its server component, for kinds that are servers (a URL scheme and a default port)."""
    bare = (image or "").rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return next((name for name, kind in BROKER_KINDS.items() if kind.default_port and bare in (name, kind.component)), None)
