"""A bounded HTTP load for deploy tests: N clients, one new connection per request, every response recorded.

Used by the zero-downtime tests (``tests/integration/deploy``) and the load-during-change fault
test (``tests/faults``). Each request is a fresh TCP (or TLS) connection with ``Connection: close``,
like independent visitors, so a reload of nginx or a stopped backend shows up as a failure here
instead of being hidden by a retried keep-alive connection.
"""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

RELEASE_RE = re.compile(r'id="release">([^<]+)<|"release":\s*"([^"]+)"')


@dataclass
class Sample:
    """One request: when it started, how long it took, and what came back (or the error)."""

    started: float
    seconds: float
    status: int
    release: str | None
    error: str | None = None


@dataclass
class LoadReport:
    """Totals of a load run."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Requests sent."""
        return len(self.samples)

    @property
    def failures(self) -> list[Sample]:
        """Requests that did not get a 200 with a release id in the body."""
        return [s for s in self.samples if s.status != 200 or s.error or not s.release]

    def p99(self) -> float:
        """99th percentile latency in seconds."""
        times = sorted(s.seconds for s in self.samples)
        return times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0

    def releases_in_order(self) -> list[str]:
        """The release ids seen, in the order they first appeared (by request start)."""
        seen: list[str] = []
        for sample in sorted(self.samples, key=lambda s: s.started):
            if sample.release and (not seen or seen[-1] != sample.release):
                seen.append(sample.release)
        return seen

    def switch_overlap(self, old: str, new: str) -> float:
        """Seconds between the first request answered by ``new`` and the last one answered by ``old``
        (by start time): while nginx's old workers finish, both answer; afterwards only ``new``."""
        first_new = min((s.started for s in self.samples if s.release == new), default=None)
        last_old = max((s.started for s in self.samples if s.release == old), default=None)
        if first_new is None or last_old is None:
            return 0.0
        return max(0.0, last_old - first_new)

    def counts(self) -> Counter:
        """Responses per release id."""
        return Counter(s.release for s in self.samples if s.release)

    def summary(self) -> str:
        """One line for the test output."""
        fails = self.failures
        first = f"; first failure: {fails[0].status} {fails[0].error}" if fails else ""
        return (
            f"{self.total} requests, {len(fails)} failed, p99 {self.p99() * 1000:.0f} ms, "
            f"releases {dict(self.counts())}{first}"
        )


class Load:
    """``with Load(url, clients=20) as load: ...`` runs the clients for the block's duration (bounded)."""

    def __init__(
        self, url: str, clients: int = 20, max_seconds: float = 300, pause: float = 0.05, host: str | None = None
    ):
        """:param url: the page to request; :param clients: concurrent clients;
        :param max_seconds: hard stop; :param pause: think time between a client's requests;
        :param host: ``Host`` header to send (the site's server name), default the URL's."""
        self.url, self.clients, self.max_seconds, self.pause = url, clients, max_seconds, pause
        self.host = host
        self.report = LoadReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for_requests(self, count: int, timeout: float = 30) -> None:
        """Block until ``count`` requests were answered (the load is really running)."""
        end = time.monotonic() + timeout
        while self.report.total < count and time.monotonic() < end:
            time.sleep(0.05)

    def _client(self) -> None:
        parts = urlsplit(self.url)
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            sample = request(parts, host=self.host)
            with self._lock:
                self.report.samples.append(sample)
            time.sleep(self.pause)


def request(parts, timeout: float = 10, host: str | None = None) -> Sample:
    """One GET on a new connection (``Host: host`` when given); the release id is read from the body."""
    started = time.monotonic()
    if parts.scheme == "https":
        context = ssl._create_unverified_context()  # noqa: S323 - the test hosts use self-signed certificates
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Connection": "close", **({"Host": host} if host else {})}
        conn.request("GET", parts.path or "/", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        match = RELEASE_RE.search(body)
        release = (match.group(1) or match.group(2)) if match else None
        return Sample(started, time.monotonic() - started, resp.status, release)
    except (OSError, http.client.HTTPException) as exc:
        return Sample(started, time.monotonic() - started, 0, None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
