"""The environment baseline (protocol 7's assumptions) and pure comparisons of an environment against it.

The baseline says which component versions, service variables and variable
values an integration environment must provide. Loading turns a TOML, YAML or
.env file into a `Baseline`; the comparisons take plain data (observed
versions, declared variable names, effective values) and return `Check`s, so
they are testable without a running system. Secret values are compared by
SHA-256 and only a short digest prefix is ever shown, because the report is
evidence that travels further than the environment it describes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier

from interlock.checks import Check
from interlock.config import Loaded
from interlock.documents import load_document
from interlock.errors import ConfigError, Problem, UsageError
from interlock.probes import version_matches
from interlock.secrets import SECRET_NAME, mask_url_passwords

COMPONENTS = {
    "sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "embedded-log": "sqlite",
    "amqp": "rabbitmq", "nats": "nats", "redis": "redis", "mqtt": "mqtt",
}
"""The baseline `[versions]` key that ranges a store or broker kind (an embedded log is a SQLite file)."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOTENV = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$""")


@dataclass(frozen=True)
class Baseline:
    """What the baseline requires; `secrets` maps a variable to the SHA-256 hex of its expected value."""

    source: str
    versions: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, tuple[str, ...]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def load(loaded: Loaded) -> Baseline:
    """Read the baseline named by `prerequisites.environment_baseline`; a bad one raises UsageError."""
    spec = loaded.config.prerequisites.environment_baseline
    path = loaded.resolve(spec.path)
    if path.name == ".env" or path.name.startswith(".env.") or path.suffix.lower() == ".env":
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(Problem(str(path), f"cannot read the baseline: {exc}")) from None
        return parse({"variables": parse_dotenv(text, skip=spec.version_key)}, spec.path)
    if path.is_dir():
        raise UsageError(Problem(str(path), "the environment baseline must be a TOML, YAML or .env file, not a folder"))
    return parse(load_document(path), spec.path)


def parse_dotenv(text: str, skip: str = "version") -> dict[str, str]:
    """`NAME=value` lines (`export` allowed, quotes stripped, `#` comments); the `skip` key is the file's own version."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _DOTENV.match(line)
        if not match or match.group(1).lower() == skip.lower():
            continue
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[match.group(1)] = value
    return values


def parse(data: Any, source: str) -> Baseline:
    """Validate a baseline document's shape, reporting every problem with its key at once."""
    problems: list[Problem] = []

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            problems.append(Problem(source, f"`{key}` must be a table", key=key))
            return {}
        return value

    if not isinstance(data, dict):
        raise UsageError(Problem(source, "the environment baseline must be a table of `versions`, `services`, `variables`"))
    versions: dict[str, str] = {}
    for name, spec in table("versions").items():
        if isinstance(spec, str):
            versions[name] = spec
        else:
            problems.append(Problem(source, 'give a PEP 440 range as a string, e.g. ">=3.11"', key=f"versions.{name}"))
    service_env: dict[str, tuple[str, ...]] = {}
    for name, service in table("services").items():
        env = service.get("env", []) if isinstance(service, dict) else None
        if isinstance(env, list) and all(isinstance(v, str) for v in env):
            service_env[name] = tuple(env)
        else:
            problems.append(Problem(source, "`env` must be a list of variable names", key=f"services.{name}.env"))
    variables: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name, value in table("variables").items():
        if isinstance(value, str) and value.startswith("sha256:") and _SHA256.match(value[7:]):
            secrets[name] = value[7:]
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            variables[name] = str(value)
        elif isinstance(value, dict) and set(value) == {"sha256"} and _SHA256.match(str(value["sha256"])):
            secrets[name] = str(value["sha256"])
        else:
            problems.append(Problem(source, 'give a value or {sha256 = "<64 lowercase hex>"}', key=f"variables.{name}"))
    if problems:
        raise ConfigError(problems)
    return Baseline(source, versions, service_env, variables, secrets)


def fingerprint(digest: str) -> str:
    """A SHA-256 hex digest shortened to a prefix: enough to tell values apart, too little to confirm a guess."""
    return f"sha256:{digest[:4]}…"


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def compare_versions(baseline: Baseline, observed: Mapping[str, str | None]) -> list[Check]:
    """Each baseline range whose component this environment uses (a key of `observed`; None: used, not read)."""
    checks = []
    for component, spec in baseline.versions.items():
        if component not in observed:
            continue
        check = Check(f"baseline.versions.{component}", "baseline", baseline.source, details={"expected": spec})
        actual = observed[component]
        if not actual:
            checks.append(check.fail(f"{component}: the version could not be read, so {spec} is unverified"))
            continue
        try:
            matches = version_matches(actual, spec)
        except InvalidSpecifier:
            checks.append(check.fail(f"{component}: invalid version range {spec!r} in the baseline", observed=actual))
            continue
        if matches:
            checks.append(check.ok(f"{component} {actual} satisfies {spec}", observed=actual))
        else:
            checks.append(check.fail(f"{component} {actual} does not satisfy {spec}", observed=actual))
    return checks


def compare_service_env(baseline: Baseline, env_name: str, declared: Mapping[str, set[str]]) -> list[Check]:
    """Each service's required variables against those interlock gives it; extras are recorded, not failed."""
    checks = []
    for service, required in baseline.service_env.items():
        check = Check(f"baseline.env.{service}", "baseline", baseline.source, details={"required": sorted(required)})
        if service not in declared:
            checks.append(check.fail(f"service {service} is not defined in environment {env_name}"))
            continue
        missing = sorted(set(required) - declared[service])
        extra = sorted(declared[service] - set(required))
        if missing:
            checks.append(check.fail(f"{service} in {env_name} lacks {', '.join(missing)}", missing=missing, extra=extra))
        else:
            checks.append(check.ok(f"{service} in {env_name} gets all {len(required)} required variables", missing=[], extra=extra))
    return checks


def compare_variables(baseline: Baseline, effective: Mapping[str, str]) -> list[Check]:
    """Each baseline value against the effective one; secrets (hashed, or secret-looking names) show digests only."""
    checks = []
    for name in sorted({*baseline.variables, *baseline.secrets}):
        check = Check(f"baseline.var.{name}", "baseline", baseline.source)
        if name not in effective:
            checks.append(check.fail(f"{name} is not set"))
            continue
        actual = effective[name]
        if name in baseline.secrets or SECRET_NAME.search(name):
            expected = baseline.secrets.get(name) or sha256_text(baseline.variables[name])
            got = sha256_text(actual)
            details = {"expected": fingerprint(expected), "actual": fingerprint(got), "compared": "sha256"}
            if got == expected:
                checks.append(check.ok(f"{name} matches the baseline (by SHA-256)", **details))
            else:
                checks.append(check.fail(f"{name} differs from the baseline ({details['actual']} where {details['expected']} is expected)", **details))
            continue
        expected_text, actual_text = mask_url_passwords(baseline.variables[name]), mask_url_passwords(actual)
        if actual == baseline.variables[name]:
            checks.append(check.ok(f"{name} matches the baseline", expected=expected_text))
        else:
            checks.append(check.fail(f"{name} is {actual_text!r} where the baseline expects {expected_text!r}", expected=expected_text, actual=actual_text))
    return checks
