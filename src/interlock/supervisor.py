"""The process supervisor of a run: the environment's services as real OS processes, their ports, their deaths.

Services are started from the run's spec (each in its own process group,
output to a log artifact) and always stopped at the end, even on a halt or an
error. Their pids are recorded so that a run killed with SIGKILL does not leave
the next run fighting over ports. A service that exits while the run still
needs it is noticed by a watcher thread, written into its log, and reported by
an explicit call (`enter_step` as the next step begins, or `stop`) as a notice
and a critical defect: its death must fail Gate 3 even when no test noticed it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock import ports as ports_
from interlock.artifacts import OTLP_RECEIVER, OTLP_SPANS, ArtifactDir, atomic_write
from interlock.checks import Check, describe, timed
from interlock.children import die_with_interlock
from interlock.config import Environment, ServiceRuntime
from interlock.errors import Problem, UsageError
from interlock.events import Emit, Notice, OtlpReceiverStarted
from interlock.otlp import otel_environment
from interlock.runspec import RunSpec, variables

if TYPE_CHECKING:
    from interlock.otlp.receiver import Receiver

#: The logs the environment's setup commands and services write, and the OTLP receiver's span file and counters
#: (relative to the artifact folder): they keep growing while later steps use the services, so their last lines are
#: ledgered when the services stop.
SERVICE_LOGS = ("logs/setup.log", "logs/service-*.log", OTLP_SPANS, OTLP_RECEIVER)


#: Seconds a listener's unknown process is looked up again before the port is judged (psutil lists a new socket before its pid).
UNKNOWN_OWNER_WAIT = 2.0


def utc_now() -> str:
    """An ISO-8601 UTC timestamp, the only time format in artifacts."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def reserve_ports(spec: RunSpec, chosen: dict[str, int], reservations: ports_.Reservations) -> dict[str, int]:
    """Reserve a free port for each `port = "auto"` service, into `chosen` (the run state's own dict, so it is saved).

    An auto port is chosen once per run (a resumed run is handed the ports it
    recorded, which are taken again) and kept reserved until the run ends, so
    every step, the services and the suite agree on it.
    """
    for name, runtime in spec.raw.services.items():
        if runtime.port != "auto":
            continue
        if name in chosen:
            reservations.take(chosen[name])
            continue
        try:
            chosen[name] = reservations.allocate()
        except OSError as exc:
            raise UsageError(Problem(str(spec.loaded.path), f"cannot give {name} a free port: {describe(exc)}; free one or give it a fixed `port`",
                                     key=f"environments.{spec.env_name}.services.{name}.port")) from None
    return chosen


def _listener_record(listener: ports_.Listener) -> dict[str, Any]:
    return {"pid": listener.pid, "name": listener.name, "cmdline": list(listener.cmdline), "address": listener.address}


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    """Whether `pid` still runs; a zombie (dead, not yet reaped by whoever adopted it) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True  # no /proc (not Linux), or it ended just now: the next poll tells


def exit_text(code: int) -> str:
    """`code -9 (SIGKILL)` for a signal, `code 3` for an exit status: how a process ended, in one phrase."""
    if code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"code {code}"
    return f"code {code}"


@dataclass(frozen=True)
class ServiceExit:
    """A service that exited while the run still needed it."""

    service: str
    code: int
    step: str | None
    at: str

    @property
    def title(self) -> str:
        during = f"during step {self.step}" if self.step else "during the run"
        return f"service {self.service} exited with {exit_text(self.code)} {during}"

    @property
    def reason(self) -> str:
        return f"{self.title} (at {self.at})"


@dataclass
class Services:
    """The services of one environment, started and stopped by interlock; `step` is the step in progress."""

    spec: RunSpec
    artifacts: ArtifactDir
    emit: Emit
    run_id: str
    step: str | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: dict[str, int] = field(default_factory=dict)  # process groups recorded beside the services (pytest's)
    started: bool = False
    checks: list[Check] = field(default_factory=list)
    exits: list[ServiceExit] = field(default_factory=list)
    reported: int = 0
    _watched: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    _polling: threading.Lock = field(default_factory=threading.Lock)
    receiver: Receiver | None = None  # the built-in OTLP receiver, running while the services do

    @property
    def otlp_endpoint(self) -> str | None:
        """The OTLP receiver's `http://127.0.0.1:PORT` while it runs, else None."""
        return self.receiver.endpoint if self.receiver is not None else None

    @property
    def env(self) -> Environment:
        """The environment, placeholders filled."""
        return self.spec.environment

    @property
    def pidfile(self) -> Path:
        return self.spec.workdir / "pids.json"

    def process_env(self) -> dict[str, str]:
        """The process environment for setup commands and services (`runspec.variables` over this process's own)."""
        return variables(self.spec, os.environ)

    def enter_step(self, step_id: str | None) -> None:
        """The step `step_id` begins (None: the run is between steps): the deaths so far are reported first.

        They belong to the step that is ending; reporting them now makes them defects
        before the next step reads the evidence (triage at 3.2, whose DEFECT REVIEW must list them).
        """
        self.report_exits()
        self.step = step_id

    def record(self, name: str, pid: int | None) -> None:
        """Record (None: forget) a process group started beside the services, such as pytest's.

        A child dies with interlock, but not its own children (xdist workers, a
        test's servers); after a kill, `stop_orphans` ends the recorded group.
        """
        if pid is None:
            self.others.pop(name, None)
        else:
            self.others[name] = pid
        self._save_pids()

    def _save_pids(self) -> None:
        atomic_write(self.pidfile, json.dumps({**{n: p.pid for n, p in self.processes.items()}, **self.others}).encode())

    def stop_orphans(self, grace: float = 3.0) -> None:
        """Stop the service groups a killed earlier run left behind (its pidfile): SIGTERM, SIGKILL after `grace`.

        The engine calls this before a run touches a staging folder, so no orphan
        still writes its log there; the SIGKILL also reaches a service's own
        children that outlived it (they share its process group).
        """
        try:
            stale = [int(pid) for pid in json.loads(self.pidfile.read_text("utf-8")).values()]
        except (OSError, ValueError, TypeError, AttributeError):
            return
        for pid in stale:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(map(_alive, stale)) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in stale:
            _signal_group(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def start(self) -> list[Check]:
        """Run the environment's setup commands, start its services and wait for their health checks."""
        if self.started:
            self.report_exits()
            return self.checks
        self.started = True
        self.stop_orphans()
        self.spec.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.artifacts.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for index, command in enumerate(self.env.setup):
            self.checks.append(self._setup(index, list(command), logs / "setup.log"))
        self._start_receiver()
        batch_delay = self.spec.loaded.config.observability.batch_delay_ms
        for name, runtime in self.env.services.items():
            if runtime.command is None:
                continue
            busy = self._ports_in_use(name, runtime)
            self.checks.append(busy)
            if not busy.passed:
                continue  # started on a taken port it would fail, or worse, seem to work through the holder
            log = (logs / f"service-{name}.log").open("ab")
            otel = otel_environment(self.otlp_endpoint, name, batch_delay) if self.otlp_endpoint else {}
            env = {**self.process_env(), **otel, **self.env.vars, **runtime.env}  # the config's own variables win over interlock's OTEL_* choices
            try:
                self.processes[name] = subprocess.Popen(
                    list(runtime.command), cwd=self.spec.loaded.resolve(runtime.cwd),
                    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=die_with_interlock(),
                )
            except OSError as exc:
                self.checks.append(Check(f"{name}.start", "process", name).fail(f"could not start: {describe(exc)}"))
            self._save_pids()  # after each start: a kill between two starts leaves none unrecorded
        healthy: dict[str, bool] = {}
        for name, runtime in self.env.services.items():
            if runtime.health and name in self.processes:
                check = self._await_health(name, runtime.health, runtime.start_timeout)
                self.checks.append(check)
                healthy[name] = check.passed
        for name, runtime in self.env.services.items():
            if name in self.processes:
                self.checks.append(self._owner(name, runtime, healthy.get(name, True)))
        self._watch()
        return self.checks

    def _start_receiver(self) -> None:
        """Start the OTLP receiver before the services, so their first spans have somewhere to go; a failure is a failed check.

        `[observability] receiver = false` starts none: the services get no OTEL_* variables and their traces are "not instrumented".
        """
        settings = self.spec.loaded.config.observability
        if not settings.receiver or self.receiver is not None:
            return
        from interlock.otlp.receiver import Receiver, ReceiverError  # here: protobuf loads only for a run that starts services

        receiver = Receiver(spans_file=self.artifacts.path(OTLP_SPANS), counters_file=self.artifacts.path(OTLP_RECEIVER),
                            redactor=self.spec.redactor, services=list(self.spec.loaded.config.services),
                            port=settings.port, forward=settings.forward, max_payload_bytes=settings.max_payload_bytes,
                            max_spans=settings.max_spans, run_id=self.run_id)
        check = Check("otlp.receiver", "process", f"127.0.0.1:{settings.port}")
        with timed(check):
            try:
                endpoint = receiver.start()
            except (ReceiverError, OSError) as exc:
                self.checks.append(check.fail(f"the OTLP receiver did not start: {describe(exc)}"))
                return
        self.receiver = receiver
        self.emit(OtlpReceiverStarted(self.step or "run", endpoint, settings.forward, OTLP_SPANS))

    def _stop_receiver(self) -> None:
        """Stop the receiver after the services (their last exports arrive first) and say what it took in."""
        receiver, self.receiver = self.receiver, None
        if receiver is None:
            return
        receiver.stop()
        counts = receiver.counters.document()
        spans = sum(s["spans"] for s in counts["by_service"].values())
        senders = ", ".join(f"{name} {numbers['spans']}" for name, numbers in counts["by_service"].items() if numbers["spans"]) or "none"
        problems = [f"{n} {what}" for what, n in (("malformed", counts["rejected"]["malformed"]), ("too large", counts["rejected"]["too_large"]),
                                                   ("spans dropped", counts["dropped_spans"]), ("forward failures", counts["forward_failures"])) if n]
        self.emit(Notice(self.step or "run", f"OTLP receiver stopped: {spans} span(s) kept (by sender: {senders})"
                                             + (f"; {', '.join(problems)}" if problems else "") + f"; see {OTLP_RECEIVER}"))

    def probed_ports(self, runtime: ServiceRuntime) -> list[tuple[str, int | None, str]]:
        """The ports interlock reaches a service on: (which key, port or None when not on this machine, expanded URL)."""
        found = []
        for key, url in (("url", runtime.url), ("health", runtime.health)):
            if url:
                found.append((key, ports_.port_of(url) if ports_.is_local(url) else None, url))
        return found

    def _service_of(self, pid: int | None) -> str | None:
        """Which started service's process tree `pid` belongs to, if any."""
        if pid is None:
            return None
        return next((name for name, process in self.processes.items() if pid in ports_.process_tree(process.pid)), None)

    def _holder(self, listener: ports_.Listener) -> str:
        service = self._service_of(listener.pid)
        return listener.describe() + (f" (service {service})" if service else "")

    def _ports_in_use(self, name: str, runtime: ServiceRuntime) -> Check:
        """`<name>.port`: every port the service will listen on or be reached at must be free before it starts."""
        wanted = [p for p in [self.spec.port(name), *(p for _, p, _ in self.probed_ports(runtime))] if p is not None]
        wanted = list(dict.fromkeys(wanted))
        check = Check(f"{name}.port", "port", ", ".join(map(str, wanted)) or runtime.url, details={"ports": wanted})
        with timed(check):
            for port in wanted:
                holders = ports_.listeners(port)
                if holders:
                    return check.fail(f"port {port} is already in use by {'; '.join(map(self._holder, holders))}",
                                      port=port, holders=[_listener_record(h) for h in holders])
        return check.ok(f"{'ports' if len(wanted) > 1 else 'port'} {', '.join(map(str, wanted))} free before {name} started"
                        if wanted else f"{name} names no port on this machine")

    def _owner(self, name: str, runtime: ServiceRuntime, healthy: bool) -> Check:
        """`<name>.owner`: each port the service is probed at must be served by the process tree interlock started for it.

        A healthy service already listens; one without a health URL gets its start
        timeout to begin listening; an unhealthy one is judged as it is now.
        """
        process = self.processes[name]
        probed = self.probed_ports(runtime)
        check = Check(f"{name}.owner", "port", ", ".join(str(p) if p else u for _, p, u in probed), details={"pid": process.pid})
        with timed(check):
            remote = next(((key, url) for key, port, url in probed if port is None), None)
            if remote is not None:
                return check.fail(f"cannot check who serves {ports_.host_port(remote[1])} ({remote[0]}): only ports on this machine's loopback "
                                  "can be traced to a process; point it at 127.0.0.1")
            local = list(dict.fromkeys((key, port) for key, port, _ in probed if port is not None))
            deadline = time.monotonic() + (runtime.start_timeout if healthy else 0)
            for key, port in local:
                holders = ports_.listeners(port)
                while not holders and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                    holders = ports_.listeners(port)
                settle = time.monotonic() + UNKNOWN_OWNER_WAIT  # a socket just opened may be listed before its process can be
                while any(h.pid is None for h in holders) and time.monotonic() < settle:
                    time.sleep(0.1)
                    holders = ports_.listeners(port)
                if not holders:
                    unhealthy = "" if healthy else f" ({name} never became healthy)"
                    return check.fail(f"port {port} ({key}) is served by no process at all{unhealthy}", port=port)
                tree = ports_.process_tree(process.pid)
                foreign = [h for h in holders if h.pid not in tree]
                if foreign:
                    return check.fail(f"port {port} is not served by {name}'s process tree but by {'; '.join(map(self._holder, foreign))}",
                                      port=port, holders=[_listener_record(h) for h in foreign])
        ports = sorted({port for _, port in local})
        return check.ok(f"{'ports' if len(ports) > 1 else 'port'} {', '.join(map(str, ports))} served by {name}'s process tree (pid {process.pid})",
                        ports=ports)

    def port_record(self) -> dict[str, dict[str, Any]]:
        """Per service: its port in this run, whether interlock chose it, and which ownership checks apply (the report's `ports`)."""
        record: dict[str, dict[str, Any]] = {}
        for name, runtime in self.env.services.items():
            started = runtime.command is not None
            record[name] = {
                "port": self.spec.port(name), "auto": runtime.port == "auto", "started_by_interlock": started,
                "probed": sorted({p for _, p, _ in self.probed_ports(runtime) if p is not None}),
                "checks": ([f"{name}.port"] + ([f"{name}.owner"] if name in self.processes else [])) if started else [],
            }
        return record

    def _watch(self, interval: float = 0.2) -> None:
        """Poll the services that came up; one that ends before `stop` is a ServiceExit, noted in its log at once.

        Services that never came up are not watched: their start check already failed.
        """
        self._watched = {n: p for n, p in self.processes.items() if p.poll() is None}
        self._stopping.clear()

        def watch() -> None:
            while self._watched and not self._stopping.wait(interval):
                self._poll()

        self._watcher = threading.Thread(target=watch, name="interlock-services-watch", daemon=True)
        self._watcher.start()

    def _poll(self) -> None:
        """Record each watched service that has ended, with a line in its log (the watcher and the main thread both ask)."""
        with self._polling:
            for name, process in list(self._watched.items()):
                code = process.poll()
                if code is None:
                    continue
                del self._watched[name]
                gone = ServiceExit(name, code, self.step, utc_now())
                self.exits.append(gone)
                try:
                    with (self.artifacts.root / "logs" / f"service-{name}.log").open("a", encoding="utf-8") as log:
                        log.write(f"[interlock] {gone.reason}\n")
                except OSError:
                    continue  # the exit is still recorded and reported; only its log line is lost

    def report_exits(self) -> None:
        """Announce the exits not yet reported and log each as a critical defect (a dead service is never a pass)."""
        self._poll()
        new = self.exits[self.reported:]
        self.reported = len(self.exits)
        if not new:
            return
        from interlock.defects import DefectLog, Failure

        failures = [
            Failure("service", gone.service, gone.title, "critical", f"logs/service-{gone.service}.log",
                    f"interlock run --env {self.spec.env_name}", gone.reason, gone.service)
            for gone in new
        ]
        owners = {n: s.owner for n, s in self.spec.loaded.config.services.items()}
        DefectLog(self.artifacts, self.spec.shard).record(failures, run_id=self.run_id, now=utc_now(), owners=self.spec.loaded.config.owners,
                                                          service_owners=owners)
        for gone in new:
            self.emit(Notice(gone.step or "run", f"{gone.reason}; see logs/service-{gone.service}.log"))

    def _setup(self, index: int, command: list[str], log: Path) -> Check:
        check = Check(f"setup.{index + 1}", "setup", " ".join(command))
        with timed(check), log.open("ab") as out:
            try:
                done = subprocess.run(command, cwd=self.spec.loaded.root, env=self.process_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=300,
                                      preexec_fn=die_with_interlock())
            except (OSError, subprocess.TimeoutExpired) as exc:
                return check.fail(f"setup command failed: {describe(exc)}")
        if done.returncode != 0:
            return check.fail(f"setup command exited {done.returncode}; see logs/setup.log")
        return check.ok()

    def _await_health(self, name: str, url: str, timeout: float) -> Check:
        import httpx  # here, not at the top: every CLI command imports this module, few start services

        check = Check(f"{name}.started", "process", url)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with timed(check), httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self.processes[name].poll()
                if code is not None:
                    return check.fail(f"process exited with {code} before it was healthy; see logs/service-{name}.log")
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        return check.ok(f"healthy after {time.monotonic() - deadline + timeout:.1f}s")
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = describe(exc)
                time.sleep(0.2)
        return check.fail(f"not healthy within {timeout:g}s ({last})")

    def stop(self) -> None:
        """Stop every started service: SIGTERM to its group, SIGKILL after its stop timeout.

        The watcher stops first, so only exits before this call count as deaths; they are reported here.
        """
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        self._poll()
        self._watched = {}
        for name, process in self.processes.items():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for name, process in self.processes.items():
            try:
                process.wait(timeout=self.env.services[name].stop_timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self._stop_receiver()
        logs = self.artifacts.root / "logs"
        self.spec.redactor.redact_files([logs / "setup.log", *(logs / f"service-{name}.log" for name in self.processes)])  # written by the services
        self.processes.clear()
        self.others.clear()
        self.pidfile.unlink(missing_ok=True)
        self.started = False
        self.checks = []
        self.report_exits()


