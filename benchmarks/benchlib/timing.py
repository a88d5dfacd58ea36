"""Interleaved timing: every method of a measurement runs once per round (A B C A B C ...).

Machines shared with other work are noisy; interleaving spreads the noise over all methods
alike, and ratios against the floor measured in the same rounds are what the reports compare.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib import env
from benchlib.env import BenchError, OverLimit

#: A method may take this many times the floor's time in the same round (at least LIMIT_MIN s).
LIMIT_FACTOR = 25
LIMIT_MIN = 180.0


@dataclass
class Method:
    """One way of doing a measurement's job.

    ``run`` does the timed work and returns whatever ``check`` needs; ``check`` (untimed) raises
    :class:`BenchError` when the work was not done on every host; ``prepare``/``cleanup`` (untimed)
    run before/after each timing. ``unavailable`` says why the method cannot run here.
    """

    name: str
    run: Callable[[], Any]
    check: Callable[[Any], dict | None] | None = None
    prepare: Callable[[], None] | None = None
    cleanup: Callable[[], None] | None = None
    floor: bool = False
    unavailable: str | None = None


@dataclass
class Series:
    """The timings of one method at one N, plus any numbers the check reported (e.g. API calls)."""

    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=dict)
    unavailable: str | None = None
    over_limit: float | None = None

    @property
    def median(self) -> float | None:
        """Median seconds, or None without a good run."""
        return statistics.median(self.times) if self.times else None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for results/<name>.json."""
        return {
            "times": [round(t, 4) for t in self.times],
            "median": round(self.median, 4) if self.median is not None else None,
            "min": round(min(self.times), 4) if self.times else None,
            "max": round(max(self.times), 4) if self.times else None,
            "errors": self.errors,
            "extra": self.extra,
            "unavailable": self.unavailable,
            "over_limit": self.over_limit,
        }


def interleave(
    methods: list[Method],
    reps: int,
    log: Callable[[str], None],
    label: str,
    limit_factor: float = LIMIT_FACTOR,
    limit_min: float = LIMIT_MIN,
) -> dict[str, Series]:
    """Run every method ``reps`` times, one round at a time; a method that fails is not retried."""
    series = {m.name: Series(unavailable=m.unavailable) for m in methods}
    for rep in range(1, reps + 1):
        floor_time = None
        for method in methods:
            s = series[method.name]
            if method.unavailable or (s.errors and not s.times):
                continue
            if floor_time is not None and not method.floor:
                env.LIMIT.update(
                    seconds=max(limit_min, limit_factor * floor_time), why=f"limit: {limit_factor:g}x the floor's time"
                )
            try:
                seconds = _once(method, s)
            finally:
                env.LIMIT.update(seconds=None, why="")
            if method.floor and seconds is not None:
                floor_time = seconds
            status = f"{seconds:7.2f} s" if seconds is not None else f"FAILED: {s.errors[-1]}"
            log(f"  {label} round {rep}/{reps} {method.name:<24} {status}")
    return series


def _once(method: Method, s: Series) -> float | None:
    """One timed run with its untimed preparation, check and cleanup."""
    try:
        if method.prepare:
            method.prepare()
        started = time.perf_counter()
        out = method.run()
        seconds = time.perf_counter() - started
        extra = method.check(out) if method.check else None
    except OverLimit as exc:
        s.errors.append(str(exc))
        s.over_limit = exc.seconds
        return None
    except BenchError as exc:
        s.errors.append(str(exc))
        return None
    finally:
        if method.cleanup:
            try:
                method.cleanup()
            except BenchError as exc:
                s.errors.append(f"cleanup: {exc}")
    s.times.append(seconds)
    for key, value in (extra or {}).items():
        s.extra.setdefault(key, []).append(value)
    return seconds
