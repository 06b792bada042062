"""Trace evidence: which services, interfaces and calls each test's and pact job's trace really crossed.

A green test says the code under test answered; its trace says which path the
answer travelled. This module turns the spans the receiver kept and the
project's declarations (services, stores, brokers, the scope matrix's
interfaces and dependencies, the feature list, each test's `interface`
markers, each pact job's interactions) into trace-evidence.json. It is pure:
data in, data out; the steps read the files and write the artifact.

What it decides, and why:
- A call is read from the callee's span: an HTTP server span (its route
  matched to the known templates by the scope step's matcher), a messaging
  producer span (`S:publish <destination>`), a consumer span (the producer's
  service to the consumer's, through the destination), a database client span
  (the store, and `store:table T` when the span or its statement names the
  table). An HTTP client span counts only when no server span answers it in
  the trace (a service that sends no spans), and crosses its interface only
  when it did not fail (a refused connection reached nothing).
- The caller is the service of the nearest ancestor span in another service:
  `interlock-tests` for a test's own span, None when the parent never arrived.
- Undeclared dependencies are counted only in traffic that is evidence of the
  system's behaviour: a trace of a test or a pact job, or a call from one
  configured service to another. interlock's own probes (health, metrics) have
  no caller and no test trace, so they are never findings.
- A feature is proven when one passing test that declares one of its
  interfaces has a trace that crossed every interface the feature lists; a
  feature is critical when the feature list says so or a critical test
  declares one of its interfaces.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interlock.otlp import TESTS_SERVICE
from interlock.otlp.spans import ReceiverCounters, Span
from interlock.statuses import TEST_GREEN, SpanKind, SpanStatus, TestOutcome

#: The scope step's matcher (`phases.scope.match_template`): the template of the first `[service:]METHOD /template`
#: ref a concrete request (or a framework's own route template) matches, None when none does.
Matcher = Callable[[list[str], str, str, str], str | None]
#: The caller of a pact job's requests when the verifier's parent span never arrives (it sends only `traceparent`).
PACT_VERIFIER = "pact-verifier"
#: Scope-matrix check kinds that are interlock's own probes, not a contract or a test declaring the interface.
PROBE_CHECKS = frozenset({"environment", "observability", "dataset"})
#: How many tests or jobs an interface's `by` and a finding's `seen_in` name.
SHOWN = 5
#: Outcomes whose trace proves a scenario: the test ran and passed (an expected failure proves nothing).
PROVING = frozenset(TEST_GREEN - {TestOutcome.XFAILED})
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+[`\"\[]?([A-Za-z_][\w]*)[`\"\]]?(?:\.[`\"\[]?([A-Za-z_]\w*))?", re.IGNORECASE)
_PUBLISH_OPERATIONS = frozenset({"publish", "send", "create"})


@dataclass(frozen=True)
class Declared:
    """What the project declares: the names that can be called, the interfaces, who may call whom, the features."""

    services: Mapping[str, Sequence[str]]  # service -> its depends_on
    stores: Mapping[str, str]  # store -> its kind (sqlite, postgresql, ...)
    brokers: Mapping[str, str]  # broker -> its kind
    interfaces: Sequence[Mapping[str, Any]]  # the scope matrix's interfaces (id, service, kind, operation, address, checks)
    dependencies: frozenset[tuple[str, str]] = frozenset()  # (consumer, provider) pairs of the scope matrix
    features: Sequence[Mapping[str, Any]] = ()  # {id, title, interfaces[, critical]}
    traces_required: frozenset[str] = frozenset()
    urls: Mapping[str, str] = field(default_factory=dict)  # service -> its base URL (an HTTP client span's peer)

    def may_call(self, caller: str, callee: str) -> bool:
        return callee in self.services.get(caller, ()) or (caller, callee) in self.dependencies


@dataclass(frozen=True)
class Traced:
    """One test or pact job: its id, its trace, what it declares, and whether it may prove a scenario."""

    id: str
    trace_id: str | None
    interfaces: tuple[str, ...] = ()
    critical: bool = False
    outcome: str | None = None  # a test's outcome; None for a pact job

    @property
    def proves(self) -> bool:
        return self.outcome in PROVING


@dataclass(frozen=True)
class Call:
    """One call a trace crossed; `interface` is the project's interface id when one is known or can be named."""

    caller: str | None
    callee: str
    kind: str  # http | messaging | db
    target: str
    interface: str | None

    def data(self) -> dict[str, Any]:
        return {"from": self.caller, "to": self.callee, "kind": self.kind, "target": self.target}


def _text(attributes: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _path(url: str) -> str:
    """The path of a URL or a request target, without query or fragment."""
    rest = url.split("://", 1)[1].partition("/")[2] if "://" in url else url.lstrip("/")
    return "/" + re.split(r"[?#]", rest, maxsplit=1)[0]


def _peer(url: str) -> str:
    return url.split("://", 1)[-1].partition("/")[0].lower()


class _Trace:
    """The spans of one trace, indexed for walking up from a span to its caller."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.by_id = {s["span_id"]: s for s in spans}
        self.children: dict[str, list[Span]] = defaultdict(list)
        for span in spans:
            if span["parent_span_id"]:
                self.children[span["parent_span_id"]].append(span)

    def caller(self, span: Span) -> str | None:
        """The service of the nearest ancestor span in another service; None when the chain breaks first."""
        parent, hops = self.by_id.get(span["parent_span_id"] or ""), 0
        while parent is not None and parent["service"] == span["service"] and hops < len(self.spans):
            parent, hops = self.by_id.get(parent["parent_span_id"] or ""), hops + 1
        return None if parent is None or parent["service"] == span["service"] else parent["service"]

    def answered(self, span: Span) -> bool:
        """Whether a server span in another service answers this client span (so the server side names the call)."""
        return any(c["kind"] == SpanKind.SERVER and c["service"] != span["service"] for c in self.children.get(span["span_id"], ()))


class Analyzer:
    """Reads the calls of traces against one set of declarations (the known templates, stores, brokers)."""

    def __init__(self, declared: Declared, match: Matcher) -> None:
        self.declared, self.match = declared, match
        self.http_refs = [i["id"] for i in declared.interfaces if i.get("kind") == "http"]
        self.by_address: dict[tuple[str, str], str] = {}
        self.known = {str(i["id"]) for i in declared.interfaces}
        for interface in declared.interfaces:
            if interface.get("kind") == "message":
                operation = str(interface["operation"]).removeprefix("publish ")
                self.by_address.setdefault((interface["service"], operation), interface["id"])
                if interface.get("address"):
                    self.by_address.setdefault((interface["service"], str(interface["address"])), interface["id"])
        self.peers = {_peer(url): name for name, url in declared.urls.items()}

    def calls(self, spans: list[Span], default_caller: str | None = None) -> list[Call]:
        """Every call of one trace, in span order; `default_caller` stands for a parent that never arrived."""
        trace, found = _Trace(spans), []
        for span in spans:
            call = self._call(trace, span)
            if call is not None:
                if call.caller is None and default_caller is not None and span["kind"] in (SpanKind.SERVER, SpanKind.CONSUMER):
                    call = Call(default_caller, call.callee, call.kind, call.target, call.interface)
                found.append(call)
        return found

    def _call(self, trace: _Trace, span: Span) -> Call | None:
        attributes, kind, service = span["attributes"], span["kind"], span["service"]
        if _text(attributes, "db.system", "db.system.name") and kind in (SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.UNSPECIFIED):
            return self._db(span)
        if kind == SpanKind.CONSUMER:
            caller = trace.caller(span)
            received = self._destination(caller or service, attributes)  # the channel as its producer names it
            return Call(caller, service, "messaging", received, None) if received else None
        destination = self._destination(service, attributes)
        operation = (_text(attributes, "messaging.operation.type", "messaging.operation") or "").lower()
        if destination and (kind == SpanKind.PRODUCER or (kind == SpanKind.CLIENT and operation in _PUBLISH_OPERATIONS)):
            interface = self.by_address.get((service, destination), f"{service}:publish {destination}")
            return Call(service, self._broker(attributes) or destination, "messaging", destination, interface)
        method = _text(attributes, "http.request.method", "http.method")
        if method is None:
            return None
        method = method.upper()
        if kind == SpanKind.SERVER and service != TESTS_SERVICE:
            route = _text(attributes, "http.route") or _path(_text(attributes, "url.path", "http.target") or "/")
            template = self.match(self.http_refs, service, method, route)
            return Call(trace.caller(span), service, "http", f"{method} {template or route}", f"{service}:{method} {template or route}")
        if kind == SpanKind.CLIENT and not trace.answered(span):
            url = _text(attributes, "url.full", "http.url") or ""
            host, port = _text(attributes, "server.address", "net.peer.name"), _text(attributes, "server.port", "net.peer.port")
            peer = _peer(url) if url else (f"{host}:{port}" if port else host or "").lower()
            callee = self.peers.get(peer) or peer or "unknown"
            path = _path(url) if url else "/"
            template = self.match(self.http_refs, callee, method, path) if callee in self.declared.services else None
            crossed = span["status"] != SpanStatus.ERROR  # a refused or failed request never reached the interface
            return Call(service, callee, "http", f"{method} {template or path}", f"{callee}:{method} {template or path}" if crossed else None)
        return None

    def _destination(self, service: str, attributes: Mapping[str, Any]) -> str | None:
        """Where a message went: the destination, or RabbitMQ's routing key when that is what names the channel
        (an exchange such as `shop.events` carries every topic)."""
        destination = _text(attributes, "messaging.destination.name", "messaging.destination")
        key = _text(attributes, "messaging.rabbitmq.destination.routing_key", "messaging.rabbitmq.routing_key")
        if key and (destination is None or ((service, destination) not in self.by_address and (service, key) in self.by_address)):
            return key
        return destination

    def _db(self, span: Span) -> Call:
        attributes = span["attributes"]
        system = (_text(attributes, "db.system", "db.system.name") or "").lower()
        name = _text(attributes, "db.namespace", "db.name")
        store = self._store(system, name)
        table = _text(attributes, "db.collection.name", "db.sql.table")
        if table is None:
            statement = _text(attributes, "db.query.text", "db.statement") or ""
            found = _TABLE.search(statement)
            table = (found.group(2) or found.group(1)) if found else None
        interface = f"{store}:table {table}" if table else None
        return Call(span["service"], store, "db", store, interface)

    def _store(self, system: str, name: str | None) -> str:
        """The store a database span talks to: by name, by kind when one store has it, the only store; else the span's own name."""
        stores = self.declared.stores
        if name in stores:
            return str(name)
        alike = [s for s, kind in stores.items() if kind.lower() == system or system.startswith(kind.lower()) or kind.lower().startswith(system or "\0")]
        if len(alike) == 1:
            return alike[0]
        if len(stores) == 1:
            return next(iter(stores))
        return name or system or "unknown"

    def _broker(self, attributes: Mapping[str, Any]) -> str | None:
        brokers = self.declared.brokers
        system = (_text(attributes, "messaging.system") or "").lower()
        alike = [b for b, kind in brokers.items() if system and (system in kind.lower() or kind.lower() in system)]
        if len(alike) == 1:
            return alike[0]
        return next(iter(brokers)) if len(brokers) == 1 else None


def service_counts(spans: Iterable[Span]) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """Per service, its spans by kind and by status."""
    found: dict[str, tuple[Counter[str], Counter[str]]] = {}
    for span in spans:
        kinds, statuses = found.setdefault(span["service"], (Counter(), Counter()))
        kinds[span["kind"]] += 1
        statuses[span["status"]] += 1
    return found


def traces_text(service: str, kinds: Counter[str] | None, receiver: bool) -> str:
    """The readiness table's traces cell: the spans by kind, or why there are none."""
    if not receiver:
        return "not instrumented: the receiver is off ([observability] receiver)"
    total = sum(kinds.values()) if kinds else 0
    if not total or kinds is None:
        return f"missing: no spans received from {service}"
    parts = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
    return f"{total} span{'s' if total != 1 else ''} ({parts})"


def _services(counts: Mapping[str, tuple[Counter[str], Counter[str]]], declared: Declared) -> list[dict[str, Any]]:
    names = [*declared.services, *sorted(set(counts) - set(declared.services))]
    rows = []
    for name in names:
        kinds, statuses = counts.get(name, (Counter(), Counter()))
        rows.append({"service": name, "spans": sum(kinds.values()),
                     "by_kind": {k: kinds[k] for k in SpanKind if kinds[k]}, "by_status": {s: statuses[s] for s in SpanStatus if statuses[s]},
                     "traces_required": name in declared.traces_required})
    return rows


def build(spans: Iterable[Span], declared: Declared, tests: Sequence[Traced], jobs: Sequence[Traced], match: Matcher, *,
          environment: str, generated_at: str, receiver: ReceiverCounters | None) -> dict[str, Any]:
    """trace-evidence.json from every span received and what the project declares (design16's shape)."""
    by_trace: dict[str, list[Span]] = defaultdict(list)
    kept: list[Span] = []
    for span in spans:
        by_trace[span["trace_id"]].append(span)
        kept.append(span)
    counts = service_counts(kept)
    tests = _with_span_traces(tests, by_trace)
    owners: dict[str, list[Traced]] = defaultdict(list)  # a pact job verifies several pacts under one trace
    for item in (*tests, *jobs):
        if item.trace_id:
            owners[item.trace_id].append(item)
    analyzer = Analyzer(declared, match)
    calls = {trace_id: analyzer.calls(trace, PACT_VERIFIER if any(o.outcome is None for o in owners.get(trace_id, ())) else None)
             for trace_id, trace in by_trace.items()}
    crossed = {trace_id: _crossed(found) for trace_id, found in calls.items()}

    observed: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for trace_id, ids in crossed.items():
        seen |= ids
        for owner in owners.get(trace_id, ()):
            for interface in ids:
                observed[interface].append(owner.id)
    interface_ids = sorted({str(i["id"]) for i in declared.interfaces} | {str(r) for f in declared.features for r in f.get("interfaces", [])})

    def crossing(item: Traced) -> dict[str, Any]:
        found = calls.get(item.trace_id or "", [])
        services = sorted({s["service"] for s in by_trace.get(item.trace_id or "", [])} - {TESTS_SERVICE})
        return {"trace_id": item.trace_id, "services": services, "interfaces": sorted(crossed.get(item.trace_id or "", set())),
                "calls": _unique(found)}

    return {
        "schema_version": 1, "generated_at": generated_at, "environment": environment,
        "receiver": None if receiver is None else {k: v for k, v in receiver.items() if k in ReceiverCounters.__annotations__},
        "services": _services(counts, declared),
        "tests": [{"nodeid": t.id, **crossing(t)} for t in tests],
        "pact_jobs": [{"job": j.id, **{k: v for k, v in crossing(j).items() if k != "calls"}} for j in jobs],
        "interfaces": [{"id": i, "observed": i in seen, "by": sorted(set(observed.get(i, [])))[:SHOWN]} for i in interface_ids],
        "undeclared": undeclared(calls, owners, declared, tests, jobs),
        "scenarios": scenarios(declared.features, tests, crossed),
    }


def _with_span_traces(tests: Sequence[Traced], by_trace: Mapping[str, list[Span]]) -> list[Traced]:
    """The tests, a test the report gives no trace id taking the one its own span names (`interlock.test.nodeid`)."""
    if all(t.trace_id for t in tests):
        return list(tests)
    named = {str(s["attributes"]["interlock.test.nodeid"]): trace_id for trace_id, spans in by_trace.items() for s in spans
             if s["service"] == TESTS_SERVICE and isinstance(s["attributes"].get("interlock.test.nodeid"), str)}
    return [t if t.trace_id else Traced(t.id, named.get(t.id), t.interfaces, t.critical, t.outcome) for t in tests]


def _crossed(calls: Iterable[Call]) -> set[str]:
    return {c.interface for c in calls if c.interface is not None}


def _unique(calls: Iterable[Call]) -> list[dict[str, Any]]:
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for call in calls:
        found.setdefault((call.caller or "", call.callee, call.kind, call.target), call.data())
    return [found[k] for k in sorted(found)]


def undeclared(calls: Mapping[str, list[Call]], owners: Mapping[str, list[Traced]], declared: Declared,
               tests: Sequence[Traced], jobs: Sequence[Traced]) -> list[dict[str, Any]]:
    """Interfaces called in evidence traffic that no contract or test declares, and calls a service makes to a
    service, store or broker its `depends_on` and the pacts do not name."""
    declaring = {str(i["id"]) for i in declared.interfaces if any(c.get("kind") not in PROBE_CHECKS for c in i.get("checks", []))}
    declaring |= {ref for item in (*tests, *jobs) for ref in item.interfaces}
    reachable = {*declared.services, *declared.stores, *declared.brokers}
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for trace_id, trace_calls in calls.items():
        named = [o.id for o in owners.get(trace_id, ())]
        for call in trace_calls:
            between_services = call.caller in declared.services
            if not named and not between_services:
                continue  # interlock's own probes and traffic nobody's test or service made
            reasons = []
            if call.interface is not None and call.interface not in declaring and call.kind != "db":
                reasons.append(f"no contract or test declares {call.interface}")
            if (between_services and call.callee in reachable and call.callee != call.caller and call.kind != "messaging"
                    and not declared.may_call(str(call.caller), call.callee)):
                reasons.append(f"{call.caller} calls {call.callee}, which neither its depends_on nor a pact names")
            if call.kind == "messaging" and between_services and call.callee in declared.brokers and not declared.may_call(str(call.caller), call.callee):
                reasons.append(f"{call.caller} publishes to {call.callee}, which its depends_on does not name")
            if not reasons:
                continue
            key = (call.interface or f"{call.callee}:{call.target}", call.caller)
            entry = found.setdefault(key, {"interface": key[0], "from": call.caller, "reason": "; ".join(reasons), "seen_in": []})
            entry["seen_in"] += [n for n in named if n not in entry["seen_in"]][:SHOWN - len(entry["seen_in"])]
    return [found[k] for k in sorted(found, key=lambda k: (k[0], k[1] or ""))]


def scenarios(features: Sequence[Mapping[str, Any]], tests: Sequence[Traced], crossed: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """Per feature: proven by the first passing test declaring one of its interfaces whose trace crossed them all."""
    rows = []
    for feature in features:
        wanted = [str(r) for r in feature.get("interfaces", [])]
        own = [t for t in tests if set(t.interfaces) & set(wanted)]
        critical = bool(feature.get("critical")) or any(t.critical for t in own)
        best: tuple[int, Traced | None, list[str]] = (-1, None, wanted)
        for test in own:
            if not test.proves or not test.trace_id:
                continue
            missing = [r for r in wanted if r not in crossed.get(test.trace_id, set())]
            if len(wanted) - len(missing) > best[0]:
                best = (len(wanted) - len(missing), test, missing)
            if not missing:
                break
        proven = bool(wanted) and best[1] is not None and not best[2]
        rows.append({"feature": str(feature["id"]), "title": str(feature.get("title", "")), "critical": critical, "proven": proven,
                     "by": best[1].id if proven and best[1] is not None else None, "missing": [] if proven else best[2]})
    return rows
