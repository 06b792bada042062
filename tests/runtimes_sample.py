"""Small projects of other runtimes as teams have them before interlock (what `interlock init` reads in unit and e2e tests):
a Node provider and a jest consumer with a pact, a Go service, Maven and Gradle services, a .NET service and its test project."""

from __future__ import annotations

import json
from pathlib import Path

#: A Node.js provider on the standard library's http: /health, one product, its own provider-state-change endpoint.
NODE_PROVIDER = """const http = require('http');
const products = {};
http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    res.setHeader('Content-Type', 'application/json');
    if (req.method === 'POST' && req.url === '/_pact/provider-states') {
      const { state, params = {}, action = 'setup' } = JSON.parse(body || '{}');
      if (action === 'setup' && !state.startsWith('no ')) { products[String(params.id)] = { id: params.id, name: 'x' }; }
      else { delete products[String(params.id)]; }
      res.end('{}');
      return;
    }
    if (req.url === '/health') { res.end('{"status": "ok"}'); return; }
    const found = products[req.url.split('/').pop()];
    res.statusCode = found ? 200 : 404;
    res.end(JSON.stringify(found || { error: 'not found' }));
  });
}).listen(Number(process.env.PORT));
"""

PACT = {
    "consumer": {"name": "WebConsumer"}, "provider": {"name": "ProductService"},
    "interactions": [
        {"description": "get product", "providerStates": [{"name": "product exists", "params": {"id": 10}}],
         "request": {"method": "GET", "path": "/product/10"}, "response": {"status": 200, "body": {"id": 10, "name": "x"}}},
        {"description": "get product", "providerStates": [{"name": "no product", "params": {"id": 11}}],
         "request": {"method": "GET", "path": "/product/11"}, "response": {"status": 404}},
    ],
    "metadata": {"pactSpecification": {"version": "3.0.0"}},
}


def make_node_system(root: Path, *, jest_junit: bool = True, junit_config: dict[str, str] | None = None) -> Path:
    """`provider/` (npm start), `consumer/` (jest, jest-junit unless not `jest_junit`), `pacts/` with the consumer's pact."""
    (root / "provider").mkdir(parents=True)
    (root / "consumer" / "__tests__").mkdir(parents=True)
    (root / "pacts").mkdir()
    (root / "provider" / "package.json").write_text(json.dumps(
        {"name": "product-service", "version": "1.0.0", "main": "server.js", "scripts": {"start": "node server.js"}}, indent=2))
    (root / "provider" / "server.js").write_text(NODE_PROVIDER)
    dev = {"jest": "^29.7.0", **({"jest-junit": "^16.0.0"} if jest_junit else {})}
    consumer: dict[str, object] = {"name": "web", "version": "1.0.0", "scripts": {"test": "jest"}, "devDependencies": dev}
    if junit_config is not None:
        consumer["jest-junit"] = junit_config
    (root / "consumer" / "package.json").write_text(json.dumps(consumer, indent=2))
    (root / "consumer" / "__tests__" / "products.test.js").write_text("test('a product', () => { expect(1).toBe(1); });\n")
    (root / "pacts" / "WebConsumer-ProductService.json").write_text(json.dumps(PACT, indent=2))
    return root


def make_go_service(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module github.com/acme/inventory\n\ngo 1.22\n")
    (root / "main.go").write_text("package main\n\nfunc main() {}\n")
    (root / "main_test.go").write_text('package main\n\nimport "testing"\n\nfunc TestStock(t *testing.T) {}\n')
    return root


POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId><version>3.3.0</version></parent>
  <groupId>com.acme</groupId>
  <artifactId>billing</artifactId>
  <version>1.0.0</version>
</project>
"""


def make_maven_service(root: Path, *, wrapper: bool = True) -> Path:
    (root / "src" / "test" / "java").mkdir(parents=True)
    (root / "pom.xml").write_text(POM)
    if wrapper:
        (root / "mvnw").write_text("#!/bin/sh\n")
    return root


def make_gradle_service(root: Path) -> Path:
    (root / "src" / "test" / "kotlin").mkdir(parents=True)
    (root / "build.gradle.kts").write_text('plugins {\n    application\n    kotlin("jvm") version "2.0.0"\n}\n')
    return root


CSPROJ = '<Project Sdk="Microsoft.NET.Sdk.Web">\n  <PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup>\n</Project>\n'
TEST_CSPROJ = """<Project Sdk="Microsoft.NET.Sdk">
  <ItemGroup>
    <PackageReference Include="Microsoft.NET.Test.Sdk" Version="17.10.0" />
    <PackageReference Include="xunit" Version="2.8.0" />
    <PackageReference Include="JunitXml.TestLogger" Version="4.0.254" />
  </ItemGroup>
</Project>
"""


def make_dotnet_service(root: Path) -> Path:
    (root / "Orders.Api").mkdir(parents=True)
    (root / "Orders.Api.Tests").mkdir()
    (root / "Orders.Api" / "Orders.Api.csproj").write_text(CSPROJ)
    (root / "Orders.Api.Tests" / "Orders.Api.Tests.csproj").write_text(TEST_CSPROJ)
    return root
