"""Paths, the work directory and subprocess helpers shared by every measurement."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
DRIVERS = BENCH / "drivers"


class BenchError(Exception):
    """A method could not run or gave a wrong answer; the message says why (one line)."""


class OverLimit(BenchError):
    """A method ran past its time limit (a multiple of the floor's time in the same round)."""

    def __init__(self, message: str, seconds: float):
        super().__init__(message)
        self.seconds = seconds


#: Seconds the method being timed may still take (set by benchlib.timing around each timing).
LIMIT: dict[str, float | None] = {"seconds": None, "why": ""}


@dataclass
class Proc:
    """What a finished command left behind."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 6) -> str:
        """The last lines of stderr (or stdout), for a one-line failure reason."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(text[-lines:])[-600:]


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: the venv first on PATH, no colour, no pager."""
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PYTHONUNBUFFERED="1",
        PAGER="cat",
    )
    env.pop("ANSIBLE_CONFIG", None)
    if extra:
        env.update(extra)
    return env


def run(args, env=None, cwd=ROOT, timeout: float = 900, check: bool = True, stdin=None) -> Proc:
    """Run a command to completion in its own process group; kill the whole group on timeout.

    :raises BenchError: when ``check`` and it exits non-zero, or when it times out.
    """
    argv = [str(a) for a in args]
    limited = LIMIT["seconds"] is not None and LIMIT["seconds"] < timeout
    if limited:
        timeout = LIMIT["seconds"]
    with subprocess.Popen(
        argv,
        env=env or base_env(),
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as popen:
        try:
            out, err = popen.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(popen)
            if limited:
                raise OverLimit(f"stopped after {timeout:.0f} s ({LIMIT['why']})", timeout) from exc
            raise BenchError(f"{shlex.join(argv[:4])} ... did not finish within {timeout:.0f} s") from exc
        except BaseException:
            _kill_group(popen)  # Ctrl-C: leave no orphaned ssh/ansible behind
            raise
    proc = Proc(argv, popen.returncode, out, err)
    if check and proc.returncode != 0:
        raise BenchError(f"{Path(argv[0]).name} exited {proc.returncode}: {proc.tail()}")
    return proc


def _kill_group(popen: subprocess.Popen) -> None:
    """Kill a child's whole process group (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait()
