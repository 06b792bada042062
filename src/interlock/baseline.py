"""The environment baseline (protocol 7's assumptions): what it requires, loaded from its file.

The baseline says which component versions, service variables and variable
values an integration environment must provide. Loading turns a TOML, YAML or
.env file into a `Baseline`. The comparisons of an environment against it live
in `baseline_checks`; this module stays below `secrets` (which reads the
variables a baseline pins by hash), so the two never import each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, get_args

from interlock.config import Config, Loaded, Store
from interlock.documents import load_document
from interlock.errors import ConfigError, Problem, UsageError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOTENV = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$""")


#: How step 1.2 reads a runtime's version when no service says otherwise: the command each runtime answers to.
BUILTIN_READERS: dict[str, tuple[str, ...]] = {
    "node": ("node", "--version"), "npm": ("npm", "--version"), "deno": ("deno", "--version"), "bun": ("bun", "--version"),
    "go": ("go", "version"), "java": ("java", "-version"), "dotnet": ("dotnet", "--version"), "ruby": ("ruby", "--version"),
    "rustc": ("rustc", "--version"), "cargo": ("cargo", "--version"), "php": ("php", "--version"), "perl": ("perl", "-e", "print $^V"),
    "elixir": ("elixir", "--short-version"), "erlang": ("erl", "-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."),
}
_VERSION_TEXT = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+|\d+(?=\s|$))")


def version_text(output: str) -> str | None:
    """The first version-like text of a runtime's answer ("v20.11.1", "go1.22.1", 'openjdk version "17.0.2"'), or None."""
    match = _VERSION_TEXT.search(re.sub(r"(?<=[a-z])(?=\d)", " ", output))  # go1.22 -> go 1.22
    return match.group(1) if match else None


def checked_components(config: Config) -> set[str]:
    """The baseline [versions] keys step 1.2 knows how to read: python, store and broker kinds, built-in runtimes, services' runtimes."""
    from interlock.brokers import KINDS

    stores = set(get_args(Store.model_fields["kind"].annotation))
    return {"python", *stores, *(KINDS[k].component for k in KINDS), *BUILTIN_READERS, *(s.runtime for s in config.services.values() if s.runtime)}


def runtime_problems(loaded: Loaded, baseline: Baseline) -> list[Problem]:
    """Baseline keys no reader covers, and services whose `runtime` nothing can read or check (what `config check` refuses)."""
    problems = []
    known = checked_components(loaded.config)
    for key in baseline.versions:
        if key not in known:
            problems.append(Problem(baseline.source, f"no way to read the version of {key!r}: give the service that runs on it "
                                    f'`runtime = "{key}"` and `version_command = [...]` (or `version_url`) under [services.NAME] '
                                    f"in {loaded.path.name}, or remove the key", key=f"versions.{key}"))
    for name, service in loaded.config.services.items():
        if service.runtime is None:
            continue
        if service.version_command is None and service.version_url is None and service.runtime not in BUILTIN_READERS:
            problems.append(Problem(str(loaded.path), f"no built-in reader for runtime {service.runtime!r}; give `version_command` or "
                                    f"`version_url` (built-in: {', '.join(BUILTIN_READERS)})", key=f"services.{name}.runtime"))
        if service.runtime not in baseline.versions:
            problems.append(Problem(str(loaded.path), f"the environment baseline ({baseline.source}) has no [versions] {service.runtime!r} "
                                    f"to check service {name!r} against; add a range there or remove `runtime`", key=f"services.{name}.runtime"))
    return problems


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
