"""Who listens on a TCP port, whether that is the process tree interlock started, and free ports to hand out.

A health check only proves that *something* answers on a port: a stale
process from an earlier run, another checkout's copy of the system, or a
sibling service that a copy-pasted URL points at would pass it just as well.
This module tells them apart. It reads the kernel's socket table through
psutil and, where psutil cannot (no permission, an unsupported platform),
through Linux's /proc directly; a listener whose process cannot be identified
is reported as such, never assumed to be ours.

Ports for `port = "auto"` are taken below the kernel's ephemeral range (an
outgoing connection may take an ephemeral port as its source port before the
service binds it) and under a start that tests' port blocks leave free
(tests/support.py hands out 20000 and up); each one is reserved with a lock
file for as long as the run holds it, so two interlock runs on one machine
never pick the same port between allocation and bind.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import random
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

#: Where auto ports are drawn from: under tests' blocks (20000+) and under the ephemeral range.
AUTO_LOW, AUTO_HIGH = 10000, 20000
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


@dataclass(frozen=True)
class Listener:
    """One socket listening on a port: the owning process if it can be known (pid None: it cannot)."""

    port: int
    address: str
    pid: int | None
    name: str | None = None
    cmdline: tuple[str, ...] = ()

    def describe(self, width: int = 120) -> str:
        """`pid 4242 (python -m shop.orders)`: the process as a person recognises it, shortened to `width`."""
        if self.pid is None:
            return "a process interlock cannot identify (its pid is not visible to this user)"
        command = " ".join(" ".join(self.cmdline).split()) or self.name or "?"  # one line, whatever the arguments hold
        if len(command) > width:
            command = command[: width - 3] + "..."
        return f"pid {self.pid} ({command})"


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_of(url: str) -> int | None:
    """The TCP port a URL names, its scheme's default if none (http 80, https 443); None if it names none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port is not None:
        return port
    return {"http": 80, "https": 443}.get(parts.scheme)


def host_port(url: str) -> str:
    """`host:port` of a URL, without its scheme, credentials or path (for a message)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{port_of(url)}"
    except ValueError:
        return "an unreadable URL"


def is_local(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (the only sockets this module can see the owners of)."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _process(pid: int) -> tuple[str | None, tuple[str, ...]]:
    import psutil  # lazy, as everywhere here: only a run that starts or checks a service asks who holds a port

    try:
        process = psutil.Process(pid)
        return process.name(), tuple(process.cmdline())
    except (psutil.Error, OSError):
        return None, ()


def _psutil_listeners(port: int) -> list[Listener]:
    import psutil

    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            name, cmdline = _process(conn.pid) if conn.pid else (None, ())
            found.append(Listener(port, conn.laddr.ip, conn.pid, name, cmdline))
    return found


def _proc_inodes(port: int) -> dict[str, str]:
    """Listening sockets on `port` from /proc/net/tcp{,6}: inode → local address."""
    inodes: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text("ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            address, _, hex_port = fields[1].rpartition(":")
            if int(hex_port, 16) == port:
                inodes[fields[9]] = address
    return inodes


def _fd_links(process: Path) -> list[str]:
    """What each open descriptor of a /proc process points at (descriptors closed meanwhile are left out)."""
    try:
        descriptors = list((process / "fd").iterdir())
    except OSError:
        return []
    links = []
    for fd in descriptors:
        try:
            links.append(os.readlink(fd))
        except OSError:
            continue
    return links


def _proc_listeners(port: int) -> list[Listener]:
    """The /proc fallback: map each listening socket's inode to the processes whose descriptors hold it."""
    inodes = _proc_inodes(port)
    found: dict[tuple[str, int | None], Listener] = {}
    holders: set[str] = set()
    for entry in Path("/proc").iterdir() if inodes else ():
        if not entry.name.isdigit():
            continue
        for link in _fd_links(entry):
            inode = link[len("socket:["):-1] if link.startswith("socket:[") else None
            if inode in inodes:
                pid = int(entry.name)
                name, cmdline = _process(pid)
                found[(inode, pid)] = Listener(port, inodes[inode], pid, name, cmdline)
                holders.add(inode)
    for inode, address in inodes.items():
        if inode not in holders:
            found[(inode, None)] = Listener(port, address, None)
    return list(found.values())


def listeners(port: int) -> list[Listener]:
    """Every socket listening on TCP `port` (any address), with its process where it can be known."""
    import psutil

    try:
        return _psutil_listeners(port)
    except (psutil.Error, OSError, NotImplementedError):
        return _proc_listeners(port)


def process_tree(root: int) -> set[int]:
    """`root` and all its descendants now alive: what a service started as `root` may serve from."""
    import psutil

    try:
        return {root, *(child.pid for child in psutil.Process(root).children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()
    except (psutil.Error, OSError):
        return _proc_tree(root)


def _proc_tree(root: int) -> set[int]:
    """The /proc fallback of `process_tree`: parent links from each process's stat line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text("ascii", "replace").rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    if root not in parents:
        return set()
    tree, grew = {root}, True
    while grew:
        added = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= added
        grew = bool(added)
    return tree


def bindable(port: int) -> bool:
    """Whether a listener could bind the loopback port now: a port in TIME_WAIT or held by anyone is not free."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Reservations:
    """Ports this process holds for its services: a lock file per port, released with `release` or at exit.

    Another interlock run skips a port whose lock it cannot take, so two runs
    never get the same auto port however close together they allocate.
    """

    folder: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / f"interlock-ports-{os.getuid()}")  # per user: another's folder may refuse us
    held: dict[int, IO[bytes]] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)

    def _lock(self, port: int) -> bool:
        if port in self.held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / f"{port}.lock", "ab")  # held open while the port is reserved
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self.held[port] = handle
        return True

    def take(self, port: int) -> bool:
        """Reserve a known port (a resumed run's): False when another run holds it (it is still used; its check will tell)."""
        if port in self.refused:
            return False
        if not self._lock(port):
            self.refused.add(port)
            return False
        return True

    def allocate(self, avoid: Iterable[int] = ()) -> int:
        """A free port, reserved for this process: nothing listens on it and no other interlock run holds it."""
        high = min(AUTO_HIGH, ephemeral_low())
        low = AUTO_LOW if AUTO_LOW < high else max(1024, high - 1000)
        span = high - low
        start = random.randrange(span)
        skip = set(avoid) | set(self.held)
        for offset in range(span):
            port = low + (start + offset) % span
            if port in skip or not bindable(port):
                continue
            if not self._lock(port):
                continue
            if bindable(port):  # still free now that it is ours
                return port
            self.release(port)
        raise OSError(f"no free port in 127.0.0.1:{low}-{high - 1} to give a service with port = \"auto\"")

    def release(self, port: int | None = None) -> None:
        """Give up one reserved port, or all of them."""
        for held in [port] if port is not None else list(self.held):
            handle = self.held.pop(held, None)
            if handle is not None:
                handle.close()
