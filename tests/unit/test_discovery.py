"""discovery (what `interlock init` reads): pacts with their states' params, API documents, compose services, state endpoints, tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock import discovery
from interlock.discovery import ComposeService, State, path_template
from tests.repo_sample import make_repository


def test_the_sample_repository_is_read_whole(tmp_path: Path) -> None:
    repo = discovery.read(make_repository(tmp_path / "repo"))
    assert sorted((p.path, p.consumer, p.provider, p.kind) for p in repo.pacts) == [
        ("pacts/mailer-orders.json", "mailer", "orders", "message"), ("pacts/users-orders.json", "users", "orders", "http"),
        ("pacts/web-users.json", "web", "users", "http")]
    [web] = [p for p in repo.pacts if p.consumer == "web"]
    assert [(i.method, i.path, i.states) for i in web.interactions] == [
        ("GET", "/users/42", (State("a user exists", ("id", "name")),)), ("GET", "/users/7", (State("no user exists", ("id",)),))]
    assert repo.compose_file == "docker-compose.yml"
    by_name = {c.name: c for c in repo.compose}
    assert by_name["users"] == ComposeService("users", ("python", "app.py"), "./users", None, ((8001, 8000),), "/health", {"PORT": "8000"}, ())
    orders = by_name["orders"]
    assert orders.build == "./orders" and orders.command == ("python", "app.py") and orders.health_path == "/health"
    assert orders.environment == {"PORT": "8000", "USERS_URL": "http://users:8000", "REDIS_URL": "redis://redis:6379/0"}
    assert orders.depends_on == ("users", "redis")
    assert by_name["redis"].image == "redis:7-alpine" and by_name["redis"].build is None and by_name["redis"].ports == ((6379, 6379),)
    assert [(r.path, r.file) for r in repo.state_routes] == [("/_pact/provider-states", "orders/app.py"), ("/_pact/provider-states", "users/app.py")]
    assert "/_pact/provider-states" in (tmp_path / "repo" / "users" / "app.py").read_text().splitlines()[repo.state_routes[1].line - 1]
    assert repo.tests == ["tests/test_users.py"] and repo.integration_marker
    assert repo.documents == [] and repo.skipped == []


def test_api_documents_a_broken_pact_and_skipped_folders(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "users.yaml").write_text("openapi: 3.0.3\ninfo: {title: Users API, version: '1'}\npaths:\n  /users/{uid}:\n    get: {}\n    delete: {}\n")
    (tmp_path / "api" / "events.json").write_text(json.dumps({"asyncapi": "2.6.0", "info": {"title": "events"}, "channels": {"user.created": {}}}))
    (tmp_path / "broken.json").write_text(json.dumps({"consumer": {"name": "a"}, "provider": {"name": "b"}}))
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "pact.json").write_text(json.dumps({"consumer": {"name": "x"}, "provider": {"name": "y"}, "interactions": []}))
    (tmp_path / "notes.yaml").write_text("just: data\n")
    repo = discovery.read(tmp_path)
    assert [(d.path, d.kind, d.title, d.interfaces) for d in repo.documents] == [
        ("api/events.json", "asyncapi", "events", ("publish user.created",)), ("api/users.yaml", "openapi", "Users API", ("GET /users/{uid}", "DELETE /users/{uid}"))]
    assert repo.pacts == [] and len(repo.skipped) == 1 and repo.skipped[0].startswith("broken.json: looks like a pact but")


@pytest.mark.parametrize(("entry", "port"), [("8001:8000", (8001, 8000)), ("127.0.0.1:8001:8000/tcp", (8001, 8000)), ("9000", (None, 9000)),
                                             ({"target": 80, "published": "8080"}, (8080, 80)), ("8000-8001:80", (None, 80)), ("x", None)])
def test_compose_port_forms(entry: object, port: tuple[int | None, int] | None) -> None:
    assert discovery._port(entry) == port


@pytest.mark.parametrize(("test", "path"), [(["CMD", "curl", "-f", "http://localhost:8000/health"], "/health"),
                                            ("wget -qO- http://127.0.0.1:8080/ready?full=1 || exit 1", "/ready?full=1"),
                                            (["CMD-SHELL", "curl http://localhost:80"], "/"), (["CMD", "pg_isready"], None)])
def test_health_path_from_a_compose_healthcheck(test: object, path: str | None) -> None:
    assert discovery._health_path({"test": test}) == path


def test_python_requirement_and_path_templates(tmp_path: Path) -> None:
    assert discovery.python_requirement(tmp_path) is None
    (tmp_path / ".python-version").write_text("3.12.4\n")
    assert discovery.python_requirement(tmp_path) == ">=3.12"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11,<4"\n')
    assert discovery.python_requirement(tmp_path) == ">=3.11,<4"
    assert path_template("/users/123/orders/3ca68efa-9b9e-4683-9c55-fd109ab7a234?x=1") == "/users/{id}/orders/{id}"
    assert path_template("/users/me") == "/users/me" and path_template("/") == "/"


def test_state_routes_name_their_line() -> None:
    text = 'app = App()\n\n@app.post("/_pact/provider_states")\ndef states(): ...\nroute("/pactSetup")\nurl = "/users/states"\n'
    assert [(r.path, r.line) for r in discovery.state_routes(text, "a.py")] == [("/_pact/provider_states", 3), ("/pactSetup", 5)]


def test_every_runtimes_build_file_is_a_project_with_its_start_and_test_framework(tmp_path: Path) -> None:
    from tests.runtimes_sample import make_dotnet_service, make_go_service, make_gradle_service, make_maven_service, make_node_system

    root = make_node_system(tmp_path / "repo", junit_config={"outputDirectory": "reports", "outputName": "jest.xml"})
    make_go_service(root / "inventory")
    make_maven_service(root / "billing")
    make_gradle_service(root / "shipping")
    make_dotnet_service(root / "orders")
    (root / "pyproject.toml").write_text('[project]\nname = "qa-tools"\n')
    (root / "consumer" / "node_modules" / "jest").mkdir(parents=True)
    (root / "consumer" / "node_modules" / "jest" / "package.json").write_text('{"name": "jest", "main": "index.js"}')  # never read
    repo = discovery.read(root)
    found = {p.manifest: (p.runtime, p.name, p.start, p.tests, p.junit_reporter) for p in repo.projects}
    assert found == {
        "billing/pom.xml": ("java", "billing", ("./mvnw", "-q", "spring-boot:run"), "maven", False),
        "consumer/package.json": ("node", "web", None, "jest", True),
        "inventory/go.mod": ("go", "inventory", ("go", "run", "."), "go", False),
        "orders/Orders.Api.Tests/Orders.Api.Tests.csproj": ("dotnet", "Orders.Api.Tests", None, "dotnet", True),
        "orders/Orders.Api/Orders.Api.csproj": ("dotnet", "Orders.Api", ("dotnet", "run", "--project", "Orders.Api.csproj"), None, False),
        "provider/package.json": ("node", "product-service", ("npm", "start"), None, False),
        "pyproject.toml": ("python", "qa-tools", None, "pytest", False),
        "shipping/build.gradle.kts": ("java", "shipping", ("gradle", "run"), "gradle", False),
    }
    [consumer] = [p for p in repo.projects if p.runtime == "node" and p.tests]
    assert consumer.report == "reports/jest.xml" and not consumer.reporter_configured
    assert [(r.path, r.file, r.line) for r in repo.state_routes] == [("/_pact/provider-states", "provider/server.js", 8)]
    assert [(r.path, r.file, r.line) for r in repo.health_routes] == [("/health", "provider/server.js", 15)]


def test_a_node_project_starts_by_its_main_or_an_entry_file_and_a_go_one_by_its_cmd(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "package.json").write_text('{"name": "a", "main": "lib/app.js"}')
    (tmp_path / "a" / "lib").mkdir()
    (tmp_path / "a" / "lib" / "app.js").write_text("")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "package.json").write_text('{"name": "b"}')
    (tmp_path / "b" / "index.js").write_text("")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "package.json").write_text('{"name": "c", "main": "missing.js"}')  # a main that is not there starts nothing
    (tmp_path / "g" / "cmd" / "api").mkdir(parents=True)
    (tmp_path / "g" / "go.mod").write_text("module example.com/g\n")
    (tmp_path / "g" / "cmd" / "api" / "main.go").write_text("package main\n")
    starts = {p.name: p.start for p in discovery.read(tmp_path).projects}
    assert starts == {"a": ("node", "lib/app.js"), "b": ("node", "index.js"), "c": None, "g": ("go", "run", "./cmd/api")}


def test_a_broken_build_file_is_said_and_never_guessed(tmp_path: Path) -> None:
    for folder, name, text in (("n", "package.json", "{not json"), ("g", "go.mod", "go 1.22\n"), ("m", "pom.xml", "<project><artifactId>x"),
                               ("d", "Api.csproj", "<Project"), ("p", "pyproject.toml", "[project\n"), ("a", "package.json", "[1, 2]")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text)
    repo = discovery.read(tmp_path)
    assert repo.projects == []
    assert sorted(s.split(":")[0] for s in repo.skipped) == ["a/package.json", "d/Api.csproj", "g/go.mod", "m/pom.xml", "n/package.json", "p/pyproject.toml"]
    assert any(s.startswith("g/go.mod: not a readable go.mod (no `module` line)") for s in repo.skipped), repo.skipped
