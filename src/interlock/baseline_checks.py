"""Pure comparisons of an environment against its baseline, each a `Check`.

They take plain data (observed versions, declared variable names, effective
values), so they are testable without a running system. Secret values are
compared by SHA-256 and only a short digest prefix is ever shown, because the
report is evidence that travels further than the environment it describes.
A store's baseline `[versions]` key is its kind; a broker's is its kind's
`component` (`interlock.brokers`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from packaging.specifiers import InvalidSpecifier

from interlock.baseline import Baseline
from interlock.checks import Check
from interlock.probes import version_matches
from interlock.secrets import SECRET_NAME, mask_url_passwords


def fingerprint(digest: str) -> str:
    """A SHA-256 hex digest shortened to a prefix: enough to tell values apart, too little to confirm a guess."""
    return f"sha256:{digest[:4]}…"


def sha256_text(value: str) -> str:
    """The SHA-256 hex of a value: how a baseline pins a secret without holding it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def compare_versions(baseline: Baseline, observed: Mapping[str, str | None]) -> list[Check]:
    """Each baseline range whose component this environment uses (a key of `observed`; None: used, not read)."""
    checks = []
    for component, spec in baseline.versions.items():
        if component not in observed:
            continue
        check = Check(f"baseline.versions.{component}", "baseline", baseline.source, details={"expected": spec})
        actual = observed[component]
        checks.append(_judge_version(check, component, spec, actual, unread=f"{component}: the version could not be read, so {spec} is unverified",
                                     shown=f"{component} {actual}"))
    return checks


def _judge_version(check: Check, component: str, spec: str, actual: str | None, *, unread: str, shown: str) -> Check:
    """`check` passed or failed: `actual` against the baseline's range `spec` (nothing read, or a bad range, fails)."""
    if not actual:
        return check.fail(unread)
    try:
        matches = version_matches(actual, spec)
    except InvalidSpecifier:
        return check.fail(f"{component}: invalid version range {spec!r} in the baseline", observed=actual)
    verdict = "satisfies" if matches else "does not satisfy"
    return (check.ok if matches else check.fail)(f"{shown} {verdict} {spec}", observed=actual)


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


#: One reading of a runtime's version: who it is for (a service, or "this machine"), what was read (None: nothing), how or why not.
RuntimeRead = tuple[str, str | None, str]


def compare_runtimes(baseline: Baseline, reads: Mapping[str, list[RuntimeRead]]) -> list[Check]:
    """Each runtime key of the baseline against every reading of it; a key nobody could read fails, never passes."""
    checks = []
    for component, found in reads.items():
        spec = baseline.versions[component]
        for who, actual, how in found:
            check_id = f"baseline.versions.{component}" + (f".{who}" if len(found) > 1 else "")
            check = Check(check_id, "baseline", baseline.source, details={"expected": spec, "read_by": how, "for": who})
            checks.append(_judge_version(check, component, spec, actual,
                                         unread=f"{component} ({who}): the version could not be read ({how}), so {spec} is unverified",
                                         shown=f"{component} {actual} ({who}, read by {how})"))
    return checks
