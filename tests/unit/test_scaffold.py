"""scaffold (`interlock init`): a config from the repository that parses, the documents it points at, the protocol's three shims,
pytest markers only where none exist, a .gitignore keeping the private key out, and questions only for what it cannot find."""

from __future__ import annotations

import json
import os
import tomllib
import stat
from pathlib import Path

import jsonschema
import pytest

from interlock.config import load, parse
from interlock.documents import load_pact
from interlock.errors import UsageError
from interlock.events import Event, FileWritten, Notice
from interlock.phases.scope import check_prerequisite, match_template, read_features
from interlock.scaffold import GITIGNORE, SHIMS, _broker_kind, scaffold
from tests.repo_sample import COMPOSE, make_repository
from interlock.reference import SCHEMA_FILE, schema_text


def test_init_writes_a_valid_config_executable_shims_and_the_markers(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    written = scaffold(root, lambda event: None)
    assert sorted(p.relative_to(root).as_posix() for p in written) == sorted(
        ["interlock.toml", "interlock.schema.json", "pytest.ini", ".gitignore", "docs/features.json", "env/baseline.toml", "contracts/VERSION", *(f"scripts/{name}" for name in SHIMS)])
    config = parse((root / "interlock.toml").read_text("utf-8"), root / "interlock.toml")
    assert config.project.name == "shop" and list(config.services) == ["api"]
    for name, (command, _) in SHIMS.items():
        shim = root / "scripts" / name
        assert os.stat(shim).st_mode & stat.S_IXUSR
        assert f'sys.argv = ["interlock", "{command}", *sys.argv[1:]]' in shim.read_text("utf-8")
    assert "integration:" in (root / "pytest.ini").read_text("utf-8")


@pytest.mark.parametrize(("name", "text"), [("pytest.ini", "[pytest]\n"), ("pyproject.toml", "[tool.pytest.ini_options]\n"),
                                            ("setup.cfg", "[tool:pytest]\n"), ("tox.ini", "[pytest]\n")])
def test_an_existing_pytest_config_is_left_alone(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    written = scaffold(tmp_path, lambda event: None)
    assert tmp_path / "pytest.ini" not in written
    assert (tmp_path / name).read_text() == text


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "interlock.toml").write_text("# mine\n")
    make_repository(tmp_path)
    (tmp_path / "users" / "app.py").write_text("")  # a question to ask, if init went that far

    def never(question: str, default: str) -> str:
        raise AssertionError(f"asked {question!r} before refusing to overwrite")

    with pytest.raises(UsageError, match="already exists; pass --force to overwrite"):
        scaffold(tmp_path, lambda event: None, ask=never)
    assert (tmp_path / "interlock.toml").read_text() == "# mine\n" and not (tmp_path / "scripts").exists() and not (tmp_path / "docs").exists()
    scaffold(tmp_path, lambda event: None, force=True)
    assert (tmp_path / "interlock.toml").read_text() != "# mine\n"


def _init(root: Path, ask: object = None) -> tuple[list[Path], list[Event]]:
    events: list[Event] = []
    written = scaffold(root, events.append, ask=ask)  # type: ignore[arg-type]
    return written, events


def test_a_repository_with_pacts_and_compose_becomes_a_config_whose_prerequisites_exist(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    written, events = _init(root)
    loaded = load(root / "interlock.toml")
    config = loaded.config
    assert sorted(config.services) == ["orders", "users"]  # providers, and a consumer compose runs; web and mailer run nowhere
    assert "# Pact consumers that nothing here runs (a test, a front end): mailer, web." in (root / "interlock.toml").read_text()
    env = config.environments["integration"]
    users, orders = env.services["users"], env.services["orders"]
    assert (users.command, users.cwd, users.port, users.url, users.health, users.env) == (
        ["{python}", "app.py"], "users", "auto", "http://127.0.0.1:{port:users}", "{url:users}/health", {"PORT": "{port:users}"})
    assert orders.env == {"PORT": "{port:orders}", "USERS_URL": "{url:users}", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert config.services["orders"].depends_on == ["users", "redis"]
    assert {n: (b.kind, b.url) for n, b in env.brokers.items()} == {"redis": ("redis", "redis://127.0.0.1:6379")}
    assert config.contracts.pact is not None and config.contracts.pact.sources == ["pacts"]
    for name in ("feature_list", "architecture_contracts", "environment_baseline"):
        record = check_prerequisite(name, getattr(config.prerequisites, name), root)
        assert record["status"] == "ok", record
    refs = [ref for feature in read_features(root / "docs/features.json") for ref in feature["interfaces"]]
    for pact in (load_pact(p) for p in sorted((root / "pacts").glob("*.json"))):
        for item in pact.interactions:
            if pact.kind == "http":
                assert match_template(refs, pact.provider, item.method or "", item.path or "") is not None, (pact.provider, item.path)
    assert "users:GET /users/{id}" in refs and "orders:publish an order placed event" in refs
    assert {e.path for e in events if isinstance(e, FileWritten)} == {str(p) for p in written}
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert notes[0] == "read 3 pact file(s), 0 API document(s), 1 test file(s), docker-compose.yml (3 services); services: orders, users"
    assert config.services["users"].state_url == "/_pact/provider-states"  # the provider's own state-change endpoint, found in its code
    assert any("message 'an order placed event' (mailer <- orders)" in n for n in notes)


def test_a_state_endpoint_nowhere_in_the_code_is_asked_on_a_terminal_and_assumed_without_one(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    for name in ("users", "orders"):
        (root / name / "app.py").write_text("print('no state endpoint here')\n")
    asked: list[tuple[str, str]] = []
    _init(root, lambda question, default: asked.append((question, default)) or "_states")
    assert asked == [("state-change URL of provider 'orders' (empty: write state handlers)", ""),
                     ("state-change URL of provider 'users' (empty: write state handlers)", "")]
    assert "/_states" in (root / "interlock.toml").read_text()
    quiet = make_repository(tmp_path / "quiet")
    for name in ("users", "orders"):
        (quiet / name / "app.py").write_text("print('no state endpoint here')\n")
    _, events = _init(quiet)
    notes = [e.message for e in events if isinstance(e, Notice)]
    assert "state-change URL of provider 'users' (empty: write state handlers): (none) assumed (none found in its code)" in notes
    assert '#   [contracts.pact.providers.users.states."a user exists"]' in (quiet / "interlock.toml").read_text()


def test_a_port_in_the_command_becomes_the_services_auto_port(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    (root / "docker-compose.yml").write_text(COMPOSE.replace('command: python app.py', 'command: python -m http.server 8000')
                                             .replace('      PORT: "8000"\n', '      MODE: dev\n', 1))
    _init(root)
    users = load(root / "interlock.toml").config.environments["integration"].services["users"]
    assert users.command == ["{python}", "-m", "http.server", "{port:users}"] and users.port == "auto" and users.env == {"MODE": "dev"}


def test_a_service_compose_cannot_run_locally_is_left_to_the_team_and_said(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    (root / "docker-compose.yml").write_text(COMPOSE.replace("command: python app.py", "command: /opt/users/bin/serve"))
    _, events = _init(root)
    users = load(root / "interlock.toml").config.environments["integration"].services["users"]
    assert users.command is None and users.url == "http://127.0.0.1:8001" and users.health == "{url:users}/health"
    assert any("service 'users': compose its `command` does not run outside its image" in e.message for e in events if isinstance(e, Notice))


def test_documents_people_own_are_never_overwritten_and_gitignore_is_appended_to(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    (root / "docs").mkdir()
    (root / "docs" / "features.json").write_text(json.dumps({"version": "3.2", "features": []}))
    (root / "env").mkdir()
    (root / "env" / "baseline.toml").write_text("[versions]\npython = '>=3'\n")
    (root / "pacts" / "VERSION").write_text("9\n")
    (root / ".gitignore").write_text("__pycache__/\n.artifacts/")
    written, events = _init(root)
    assert root / "docs" / "features.json" not in written and root / "env" / "baseline.toml" not in written
    assert ("docs/features.json (kept as it is) covers none of these pact requests: orders:POST /orders, users:GET /users/42, users:GET /users/7; "
            "add them to a feature or to [scope] out_of_scope, or Gate 1 fails") in [e.message for e in events if isinstance(e, Notice)]
    prerequisites = load(root / "interlock.toml").config.prerequisites
    assert prerequisites.feature_list.version == "3.2" and prerequisites.architecture_contracts.version == "9"
    assert prerequisites.environment_baseline.version is None and prerequisites.environment_baseline.sha256 is not None
    assert check_prerequisite("environment_baseline", prerequisites.environment_baseline, root)["status"] == "ok"
    lines = (root / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["__pycache__/", ".artifacts/"] and lines.count(".artifacts/") == 1
    assert [line for line in GITIGNORE if line in lines] == GITIGNORE
    again, _ = _init_forced(root)
    assert root / ".gitignore" not in again and (root / ".gitignore").read_text().splitlines() == lines


def _init_forced(root: Path) -> tuple[list[Path], list[Event]]:
    events: list[Event] = []
    return scaffold(root, events.append, force=True), events


@pytest.mark.parametrize(("image", "kind"), [("redis:7-alpine", "redis"), ("docker.io/library/rabbitmq:3-management", "amqp"), ("nats@sha256:ab", "nats"),
                                             ("postgres:16", None), ("ghcr.io/acme/redis-exporter:1", None), (None, None)])
def test_a_compose_image_is_a_broker_when_a_kind_serves_it(image: str | None, kind: str | None) -> None:
    assert _broker_kind(image) == kind


def test_init_names_the_schema_beside_the_config_for_toml_editors(tmp_path: Path) -> None:
    """taplo / Even Better TOML read a first-line `#:schema` path relative to the TOML file; it must name the written schema."""
    scaffold(tmp_path, lambda event: None)
    text = (tmp_path / "interlock.toml").read_text("utf-8")
    first = text.splitlines()[0]
    assert first == f"#:schema ./{SCHEMA_FILE}"
    schema = json.loads((tmp_path / SCHEMA_FILE).read_text("utf-8"))
    assert (tmp_path / SCHEMA_FILE).read_text("utf-8") == schema_text()
    validator = jsonschema.Draft202012Validator(schema)
    data = tomllib.loads(text)
    assert list(validator.iter_errors(data)) == []
    data["suite"]["markr"] = "typo"
    assert [e.message for e in validator.iter_errors(data)] == ["Additional properties are not allowed ('markr' was unexpected)"]


def _suite_keys(text: str) -> dict[str, object]:
    """The [suite] table init wrote, read the same whether this interlock runs JUnit suites (keys) or not yet (commented keys)."""
    lines = text.split("\n[suite]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return tomllib.loads("\n".join(line.removeprefix("# ") for line in lines))


def _notes(events: list[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def test_a_node_system_is_started_by_npm_and_tested_by_its_jest_suite(tmp_path: Path) -> None:
    from tests.runtimes_sample import make_node_system

    root = make_node_system(tmp_path / "repo")
    written, events = _init(root)
    assert root / "pytest.ini" not in written and not (root / "pytest.ini").exists()  # no pytest suite: no pytest markers
    loaded = load(root / "interlock.toml")
    assert list(loaded.config.services) == ["ProductService"] and loaded.config.services["ProductService"].state_url == "/_pact/provider-states"
    runtime = loaded.config.environments["integration"].services["ProductService"]
    assert (runtime.command, runtime.cwd, runtime.port, runtime.env) == (["npm", "start"], "provider", "auto", {"PORT": "{port:ProductService}"})
    assert runtime.health == "{url:ProductService}/health"  # the route its server.js answers
    text = (root / "interlock.toml").read_text("utf-8")
    assert ("# provider/package.json (node): started by `npm start` in provider, listening on $PORT; health route found in "
            "provider/server.js:15.\n# Change `command`, `cwd`, `env`, `port` or `health`") in text
    assert "# The integration suite: jest in consumer (consumer/package.json), read through the JUnit XML it writes." in text
    assert "# To change it, edit `command`" in text and "[[suite.tests]]" in text
    command = ["env", "JEST_JUNIT_OUTPUT_DIR=reports", "npx", "jest", "--ci", "--reporters=default", "--reporters=jest-junit"]
    assert _suite_keys(text) == {"runner": "junit", "cwd": "consumer", "command": command, "junit_xml": "reports/junit.xml",
                                 "list_command": ["npx", "jest", "--listTests"], "rerun": [*command, "-t", "{name_regex}"],
                                 "filter_args": ["-t", "--testNamePattern"], "timeout": 300}
    assert loaded.config.suite.runner == "junit"
    assert "command that starts 'ProductService': npm start assumed (from provider/package.json)" in _notes(events)
    assert not any("jest-junit" in n for n in _notes(events))  # the consumer declares it


def test_jest_without_its_junit_reporter_is_said_and_a_configured_output_is_used(tmp_path: Path) -> None:
    from tests.runtimes_sample import make_node_system

    bare = make_node_system(tmp_path / "bare", jest_junit=False)
    _, events = _init(bare)
    assert "suite: jest in consumer writes JUnit XML only with the jest-junit reporter (npm install --save-dev jest-junit)" in _notes(events)
    configured = make_node_system(tmp_path / "configured", junit_config={"outputDirectory": "out"})
    _init(configured)
    keys = _suite_keys((configured / "interlock.toml").read_text("utf-8"))
    assert keys["junit_xml"] == "out/*.xml" and keys["command"] == ["npx", "jest", "--ci", "--reporters=default", "--reporters=jest-junit"]


@pytest.mark.parametrize(("make", "service", "start", "cwd", "suite"), [
    ("make_go_service", "inventory", ["go", "run", "."], ".",
     {"runner": "junit", "command": ["gotestsum", "--junitfile", "reports/junit.xml", "--", "./..."], "junit_xml": "reports/junit.xml",
      "list_command": ["go", "test", "-list", ".", "./..."], "rerun": ["gotestsum", "--junitfile", "reports/junit.xml", "--", "-run", "^{name_regex}$", "./..."],
      "filter_args": ["-run"], "timeout": 300}),
    ("make_maven_service", "billing", ["./mvnw", "-q", "spring-boot:run"], ".",
     {"runner": "junit", "command": ["./mvnw", "test"], "junit_xml": "target/surefire-reports/TEST-*.xml",
      "rerun": ["./mvnw", "test", "-Dtest={classname}#{name}"], "filter_args": ["-Dtest"], "timeout": 300}),
    ("make_gradle_service", "repo", ["gradle", "run"], ".",
     {"runner": "junit", "command": ["gradle", "test"], "junit_xml": "build/test-results/test/TEST-*.xml",
      "rerun": ["gradle", "test", "--tests", "{classname}.{name}"], "filter_args": ["--tests"], "timeout": 300}),
    ("make_dotnet_service", "Orders-Api", ["dotnet", "run", "--project", "Orders.Api.csproj"], "Orders.Api",
     {"runner": "junit", "cwd": "Orders.Api.Tests", "command": ["dotnet", "test", "--logger", "junit;LogFileName=junit.xml"],
      "junit_xml": "TestResults/junit.xml",
      "rerun": ["dotnet", "test", "--logger", "junit;LogFileName=junit.xml", "--filter", "FullyQualifiedName={classname}.{name}"],
      "filter_args": ["--filter"], "timeout": 300}),
])
def test_each_runtime_writes_its_start_command_and_its_junit_suite(tmp_path: Path, make: str, service: str, start: list[str], cwd: str,
                                                                   suite: dict[str, object]) -> None:
    from tests import runtimes_sample

    root = getattr(runtimes_sample, make)(tmp_path / "repo")
    _, events = _init(root)
    loaded = load(root / "interlock.toml")
    assert list(loaded.config.services) == [service]
    runtime = loaded.config.environments["integration"].services[service]
    assert (runtime.command, runtime.cwd, runtime.port, runtime.health) == (start, cwd, "auto", None)  # no health route in its code
    assert _suite_keys((root / "interlock.toml").read_text("utf-8")) == suite
    assert not (root / "pytest.ini").exists()
    assert any(n.startswith(f"no pact, compose service or API document found: wrote service {service!r}") for n in _notes(events))


def test_a_python_repository_keeps_its_pytest_suite_and_says_how_to_change_it(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    (root / "pyproject.toml").write_text('[project]\nname = "team"\n')
    _init(root)
    text = (root / "interlock.toml").read_text("utf-8")
    assert "# The integration suite: pytest over `path`" in text and "`runner = \"junit\"`" in text
    assert _suite_keys(text) == {"path": "tests", "marker": "integration", "timeout": 300}
    assert (root / "pytest.ini").is_file()


def test_a_command_typed_on_a_terminal_replaces_the_build_files(tmp_path: Path) -> None:
    from tests.runtimes_sample import make_node_system

    root = make_node_system(tmp_path / "repo")
    asked: list[tuple[str, str]] = []
    _init(root, lambda question, default: asked.append((question, default)) or ("node server.js --verbose" if "command" in question else default))
    assert ("command that starts 'ProductService'", "npm start") in asked
    runtime = load(root / "interlock.toml").config.environments["integration"].services["ProductService"]
    assert runtime.command == ["node", "server.js", "--verbose"] and runtime.cwd == "provider"
