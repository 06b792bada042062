"""Valid contract documents the specifications allow are read; an invalid one is refused in one line: the file once, where, what to do.

OpenAPI: 3.1 documents are checked against the current official 3.1 schema
(openapi_spec.schema_v31), so a Link Object's `server` passes and the old
schema's `body` does not; semantic checks (undeclared path parameters) still
run and name the operation and its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.contracts import openapi, openapi_spec

ITEM_31: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "items", "version": "1"},
    "paths": {"/items/{id}": {"get": {
        "operationId": "getItem",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "the item", "links": {"self": {"operationId": "getItem", "parameters": {"id": "$response.body#/id"},
                                                                            "server": {"url": "https://mirror.example.invalid"}}}}},
    }}},
}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "api.yaml") -> openapi.Document:
    (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return openapi.load("api", name, tmp_path)


def one_line_naming_file_once(text: str, name: str) -> None:
    assert len(text.splitlines()) == 1, text
    assert text.count(name) == 1, f"names {name} {text.count(name)} times: {text}"


def test_openapi_31_link_with_server_is_read(tmp_path: Path) -> None:
    doc = write(tmp_path, ITEM_31)
    assert doc.problem is None and doc.app is not None


def test_openapi_31_link_with_the_old_schemas_body_is_refused_where_it_is(tmp_path: Path) -> None:
    link = ITEM_31["paths"]["/items/{id}"]["get"]["responses"]["200"]["links"]["self"]
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["paths"]["/items/{id}"]["get"]["responses"]["200"]["links"]["self"] = {**{k: v for k, v in link.items() if k != "server"}, "body": link["server"]}
    doc = write(tmp_path, bad)
    assert doc.problem is not None and doc.app is None
    one_line_naming_file_once(doc.error or "", "api.yaml")
    assert doc.problem.key == "$.paths['/items/{id}'].get.responses['200'].links.self"
    assert "'body' was unexpected" in doc.problem.message and "fix the document against the OpenAPI 3.1 specification" in doc.problem.message


def test_the_library_schema_alone_still_refuses_server(tmp_path: Path) -> None:
    """Why interlock amends the schema: openapi-spec-validator's own 3.1 check refuses the valid document (if it stops, drop the amendment)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = list(OpenAPIV31SpecValidator(yaml.safe_load(yaml.safe_dump(ITEM_31))).iter_errors())
    assert any("'server' was unexpected" in str(e) for e in errors)
    assert not list(openapi_spec.validator_class("3.1")(yaml.safe_load(yaml.safe_dump(ITEM_31))).iter_errors())


@pytest.mark.parametrize("version", ["3.1.0", "3.0.3"])
def test_undeclared_path_parameter_names_operation_and_path_in_one_line(tmp_path: Path, version: str) -> None:
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["openapi"] = version
    operation = bad["paths"]["/items/{id}"]["get"]
    operation.pop("parameters")
    operation["responses"]["200"].pop("links")
    doc = write(tmp_path, bad)
    assert doc.problem is not None
    one_line_naming_file_once(doc.error or "", "api.yaml")
    assert doc.problem.key == "$.paths['/items/{id}'].get"
    assert "GET /items/{id} uses path parameter {id}" in doc.problem.message
    assert "in: path, required: true" in doc.problem.message


@pytest.mark.parametrize(("field", "value"), [("openapi", "3.2.0"), ("openapi", "2.0"), ("swagger", "2.0")])
def test_unsupported_version_says_so(tmp_path: Path, field: str, value: str) -> None:
    doc = {k: v for k, v in ITEM_31.items() if k != "openapi"} | {field: value}
    found = write(tmp_path, doc)
    assert found.problem is not None
    assert found.problem.message.startswith("unsupported version"), found.problem.message
    assert "malformed" not in found.problem.message
    one_line_naming_file_once(found.error or "", "api.yaml")


def test_relaxations_of_the_current_31_schema(tmp_path: Path) -> None:
    """What the 2022-10-07 schema refused and the 3.1 specification allows: relative URLs, a Path Item `$ref` with siblings, fields beside a Reference's `$ref`."""
    doc = {
        "openapi": "3.1.0", "info": {"title": "t", "version": "1", "termsOfService": "terms.html"},
        "paths": {"/a": {"$ref": "#/components/pathItems/a", "summary": "a"}},
        "components": {"pathItems": {"a": {"get": {"responses": {"200": {"$ref": "#/components/responses/ok", "x-note": "ignored"}}}}},
                       "responses": {"ok": {"description": "ok"}}},
    }
    found = write(tmp_path, doc)
    assert found.problem is None, found.error


def test_example_and_examples_together_are_refused(tmp_path: Path) -> None:
    """The one correction that is stricter: the specification makes `example` and `examples` mutually exclusive."""
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["paths"]["/items/{id}"]["get"]["parameters"][0] |= {"example": 1, "examples": {"one": {"value": 1}}}
    found = write(tmp_path, bad)
    assert found.problem is not None and found.problem.key == "$.paths['/items/{id}'].get.parameters[0]", found.error
