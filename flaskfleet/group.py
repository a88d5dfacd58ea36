"""Fleet operations: run, sudo, put and get on many hosts in parallel, one result per host.

A :class:`Fleet` keeps one SSH connection per host for its whole life, so a job of several steps
pays for key exchange once. Work runs on a bounded pool of daemon threads; every host gets its own
deadline (connect + command), and a watchdog closes the transport of a host that overruns it, so a
dead or frozen host never holds up the others nor the end of the run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fabric import Config as FabricConfig
from fabric import Connection

from flaskfleet import transfer
from flaskfleet.inventory import Host
from flaskfleet.ssh import (
    CommandTimeout,
    FleetError,
    HostResult,
    connect,
    describe_error,
    exec_command,
    open_connection,
    sudo_wrap,
)

#: How much longer than a host's deadline the watchdog waits for its worker to report by itself.
WATCHDOG_GRACE = 1.5


class HostUnreachable(FleetError):
    """A host could not be reached earlier in this fleet's life; later steps skip it."""


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
    def each(
        self,
        work: Callable[[Host, Connection | None, float], HostResult],
        hosts: Iterable[Host] | None = None,
        connect: bool = True,
    ):
        """Run ``work(host, connection, deadline)`` for every host, at most ``parallel`` at once.

        Each host's deadline is ``timeout`` seconds after its work starts. Returns one
        :class:`HostResult` per host, in host order.

        :param connect: ``False`` when ``work`` reaches the host by other means (OpenSSH): it then
            gets ``None`` instead of a paramiko connection, and no handshake is paid for it.
        """
        jobs = [_Job(h) for h in (self.hosts if hosts is None else hosts)]
        results: dict[str, HostResult] = {}
        pending: queue.Queue[_Job] = queue.Queue()
        finished: queue.Queue[tuple[_Job, HostResult]] = queue.Queue()
        for job in jobs:
            pending.put(job)
        for _ in range(min(self.parallel, len(jobs))):
            threading.Thread(target=self._worker, args=(work, pending, finished, connect), daemon=True).start()
        while len(results) < len(jobs):
            self._collect(finished, results, self._next_wakeup(jobs))
            self._expire(jobs, results)
        return [results[job.host.name] for job in jobs]

    def _worker(self, work, pending: queue.Queue[_Job], finished: queue.Queue, connect: bool = True) -> None:
        """Take jobs until none are left; every job ends with exactly one result."""
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            job.started = time.monotonic()
            finished.put((job, self._attempt(work, job.host, job.started + self.timeout, connect)))

    def _attempt(self, work, host: Host, deadline: float, connect: bool = True) -> HostResult:
        """One host's work, any failure turned into an error result."""
        started = time.monotonic()
        try:
            if host.name in self._unreachable:
                raise HostUnreachable(f"skipped: unreachable earlier ({self._unreachable[host.name]})")
            result = work(host, self.connection(host, deadline) if connect else None, deadline)
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
        source = local if isinstance(local, transfer.LocalTree) else transfer.LocalTree.scan(local)
        return self.each(
            lambda host, conn, deadline: transfer.put(host, conn, source, remote, deadline, method),
            connect=transfer.needs_connection(method),
        )

    def get(self, remote: str, local_dir: str, method: str = "auto") -> list[HostResult]:
        """Download a file or directory from every host into ``local_dir/<host>/``."""
        return self.each(lambda host, conn, deadline: transfer.get(host, conn, remote, local_dir, deadline, method))


def failed(results: Iterable[HostResult]) -> list[HostResult]:
    """The results that were not ok."""
    return [r for r in results if not r.ok]
