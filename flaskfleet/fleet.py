"""Fleet operations: run, sudo, put and get on many hosts in parallel, one result per host.

A :class:`Fleet` keeps one SSH connection per host for its whole life, so a job of several steps
pays for key exchange once. Work runs on a bounded pool of daemon threads; every host gets its own
deadline (connect + command), and a watchdog closes the transport of a host that overruns it, so a
dead or frozen host never holds up the others nor the end of the run.
"""

from __future__ import annotations

import queue
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import paramiko
from fabric import Config as FabricConfig
from fabric import Connection

from flaskfleet.inventory import Host, HostKeyError, InventoryError, connect, open_connection

#: How much longer than a host's deadline the watchdog waits for its worker to report by itself.
WATCHDOG_GRACE = 1.5
_READ_SIZE = 1 << 16


class FleetError(Exception):
    """A per-host failure whose message is already fit for people (no type name needed)."""


class CommandTimeout(FleetError):
    """A command did not finish before the host's deadline."""


class HostUnreachable(FleetError):
    """A host could not be reached earlier in this fleet's life; later steps skip it."""


@dataclass
class HostResult:
    """What happened on one host: exit code and output for commands, counts for transfers."""

    host: str
    ok: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    error: str | None = None
    changed: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok``, ``failed`` (ran, non-zero) or ``error`` (could not run)."""
        if self.ok:
            return "ok"
        return "failed" if self.exit_code is not None else "error"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        data = asdict(self)
        data["status"] = self.status
        data["duration"] = round(self.duration, 3)
        return data


def describe_error(exc: BaseException, connect_timeout: float) -> str:
    """A one-line reason for a host failure, without a traceback."""
    text = str(exc)
    if isinstance(exc, HostKeyError | InventoryError | FleetError):
        return text
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed ({text}); check ansible_user and the SSH key"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        address = next(iter(exc.errors), ("?", "?"))
        return f"connection refused on {address[0]}:{address[1]} (host stopped or sshd not running)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (host stopped or sshd not running)"
    hung = ("banner", "no existing session", "timed out", "timeout")
    if isinstance(exc, socket.timeout | TimeoutError) or (
        isinstance(exc, paramiko.SSHException) and any(word in text.lower() for word in hung)
    ):
        return f"no SSH answer within {connect_timeout:g} s (host down or hung)"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return "connection lost"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sudo_wrap(command: str) -> str:
    """``command`` under non-interactive sudo (fails fast instead of prompting for a password)."""
    return f"sudo -n -H -- sh -c {shlex.quote(command)}"


def exec_command(
    transport: paramiko.Transport, command: str, deadline: float, stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run ``command`` on one channel and collect exit code, stdout and stderr before ``deadline``.

    ``stdin`` (small: file lists, scripts) is sent, then EOF.

    NOTE: a lean loop over one channel instead of invoke's Runner (three threads and polling
    sleeps per command) — this is where a many-host ad-hoc job spends its time.

    :raises CommandTimeout: when the deadline passes first (the channel is closed).
    """
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    try:
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()  # then EOF: a command reading stdin never waits for more
        return collect(chan, deadline, f"command did not finish within the timeout: {command}")
    finally:
        chan.close()


def collect(chan: paramiko.Channel, deadline: float, timeout_message: str) -> tuple[int, str, str]:
    """Read a running channel's stdout and stderr to the end, then its exit status.

    NOTE: the output is complete only at EOF (or close), never at the exit status alone: sshd
    may send the status before the last bytes of a pipe it has not drained yet.

    :raises CommandTimeout: with ``timeout_message`` when the deadline passes first.
    """
    out, err = bytearray(), bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CommandTimeout(timeout_message)
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.status_event.wait(remaining):
                break
            continue
        select.select([chan], [], [], min(remaining, 1.0))
        while chan.recv_ready():
            out += chan.recv(_READ_SIZE)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(_READ_SIZE)
    return chan.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")


@dataclass
class _Job:
    """One host's unit of work inside :meth:`Fleet.each`."""

    host: Host
    started: float | None = None
    done: bool = False


class Fleet:
    """Hosts from the inventory plus their (reused) connections; parallel operations on them."""

    def __init__(
        self,
        hosts: Iterable[Host],
        parallel: int = 50,
        timeout: float = 60,
        connect_timeout: float = 10,
        on_result: Callable[[HostResult], None] | None = None,
    ):
        """Nothing connects until the first operation.

        :param parallel: most hosts worked on at once.
        :param timeout: seconds a host may take per operation (connect included).
        :param connect_timeout: seconds to get a TCP connection, the SSH banner and auth.
        :param on_result: called (from a worker thread) as each host finishes, e.g. for progress.
        """
        self.hosts = list(hosts)
        self.parallel = max(1, int(parallel))
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.on_result = on_result
        self._config = FabricConfig(lazy=True)
        self._connections: dict[str, Connection] = {}
        self._unreachable: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------------
    def connection(self, host: Host, deadline: float | None = None) -> Connection:
        """The open connection to ``host``, connecting on first use."""
        conn = self._connections.get(host.name)
        if conn is not None and conn.is_connected:
            return conn
        budget = self.connect_timeout
        if deadline is not None:
            budget = max(0.5, min(budget, deadline - time.monotonic()))
        conn = connect(host, connect_timeout=budget, config=self._config)
        with self._lock:
            self._connections[host.name] = conn
        return open_connection(host, conn)

    def _forget(self, host: Host, reason: str, unreachable: bool) -> None:
        """Close a host's connection (unblocks a stuck worker) and maybe mark it unreachable."""
        with self._lock:
            conn = self._connections.pop(host.name, None)
            if unreachable:  # the first reason is the real one (the watchdog's, not the EOF it causes)
                self._unreachable.setdefault(host.name, reason)
        if conn is not None:
            threading.Thread(target=conn.close, daemon=True).start()  # close may block on a frozen peer

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            conns, self._connections = list(self._connections.values()), {}
        for conn in conns:
            conn.close()

    # -- the parallel engine ------------------------------------------------------------------
    def each(self, work: Callable[[Host, Connection, float], HostResult], hosts: Iterable[Host] | None = None):
        """Run ``work(host, connection, deadline)`` for every host, at most ``parallel`` at once.

        Each host's deadline is ``timeout`` seconds after its work starts. Returns one
        :class:`HostResult` per host, in host order.
        """
        jobs = [_Job(h) for h in (self.hosts if hosts is None else hosts)]
        results: dict[str, HostResult] = {}
        pending: queue.Queue[_Job] = queue.Queue()
        finished: queue.Queue[tuple[_Job, HostResult]] = queue.Queue()
        for job in jobs:
            pending.put(job)
        for _ in range(min(self.parallel, len(jobs))):
            threading.Thread(target=self._worker, args=(work, pending, finished), daemon=True).start()
        while len(results) < len(jobs):
            self._collect(finished, results, self._next_wakeup(jobs))
            self._expire(jobs, results)
        return [results[job.host.name] for job in jobs]

    def _worker(self, work, pending: queue.Queue[_Job], finished: queue.Queue) -> None:
        """Take jobs until none are left; every job ends with exactly one result."""
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            job.started = time.monotonic()
            finished.put((job, self._attempt(work, job.host, job.started + self.timeout)))

    def _attempt(self, work, host: Host, deadline: float) -> HostResult:
        """One host's work, any failure turned into an error result."""
        started = time.monotonic()
        try:
            if host.name in self._unreachable:
                raise HostUnreachable(f"skipped: unreachable earlier ({self._unreachable[host.name]})")
            result = work(host, self.connection(host, deadline), deadline)
        except Exception as exc:
            reason = describe_error(exc, min(self.connect_timeout, self.timeout))
            self._forget(host, reason, unreachable=not isinstance(exc, CommandTimeout | HostUnreachable))
            result = HostResult(host=host.name, ok=False, error=reason)
        result.duration = time.monotonic() - started
        return result

    def _next_wakeup(self, jobs: list[_Job]) -> float:
        """Seconds until the earliest running job overruns (at most 0.5 s)."""
        ends = [j.started + self.timeout + WATCHDOG_GRACE for j in jobs if j.started and not j.done]
        return max(0.01, min([0.5, *(end - time.monotonic() for end in ends)]))

    def _collect(self, finished: queue.Queue, results: dict[str, HostResult], wait: float) -> None:
        """Record finished jobs (the first result of a host wins)."""
        try:
            job, result = finished.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            if not job.done:
                job.done = True
                results[job.host.name] = result
                if self.on_result:
                    self.on_result(result)
            try:
                job, result = finished.get_nowait()
            except queue.Empty:
                return

    def _expire(self, jobs: list[_Job], results: dict[str, HostResult]) -> None:
        """Fail jobs whose worker overran its deadline and cut their connection."""
        now = time.monotonic()
        for job in jobs:
            if job.done or job.started is None or now < job.started + self.timeout + WATCHDOG_GRACE:
                continue
            job.done = True
            reason = f"timed out after {self.timeout:g} s (host hung?)"
            self._forget(job.host, reason, unreachable=True)
            result = HostResult(host=job.host.name, ok=False, error=reason, duration=now - job.started)
            results[job.host.name] = result
            if self.on_result:
                self.on_result(result)

    # -- operations ---------------------------------------------------------------------------
    def run(self, command: str, sudo: bool = False) -> list[HostResult]:
        """Run a shell command on every host; ``ok`` when it exits 0."""
        line = sudo_wrap(command) if sudo else command

        def work(host: Host, conn: Connection, deadline: float) -> HostResult:
            code, out, err = exec_command(conn.transport, line, deadline)
            return HostResult(host=host.name, ok=code == 0, exit_code=code, stdout=out, stderr=err)

        return self.each(work)

    def sudo(self, command: str) -> list[HostResult]:
        """:meth:`run` under ``sudo -n``."""
        return self.run(command, sudo=True)

    def put(self, local: Any, remote: str, method: str = "auto") -> list[HostResult]:
        """Upload a file or directory to every host (see :mod:`flaskfleet.transfer`).

        :param local: a path, or a :class:`flaskfleet.transfer.LocalTree` already scanned (its
            files are then not read and hashed a second time).
        """
        from flaskfleet import transfer

        source = local if isinstance(local, transfer.LocalTree) else transfer.LocalTree.scan(local)
        return self.each(lambda host, conn, deadline: transfer.put(host, conn, source, remote, deadline, method))

    def get(self, remote: str, local_dir: str, method: str = "auto") -> list[HostResult]:
        """Download a file or directory from every host into ``local_dir/<host>/``."""
        from flaskfleet import transfer

        return self.each(lambda host, conn, deadline: transfer.get(host, conn, remote, local_dir, deadline, method))


def failed(results: Iterable[HostResult]) -> list[HostResult]:
    """The results that were not ok."""
    return [r for r in results if not r.ok]
