"""pyinfra in its own virtualenv (it pins an older paramiko than ours), made on first use."""

from __future__ import annotations

import os
from pathlib import Path

from benchlib.env import WORK, BenchError, Proc, base_env, run

VERSION = "3.10.0"
VENV = WORK / "pyinfra-venv"
PYINFRA = VENV / "bin" / "pyinfra"
_reason: list[str | None] = []


def ensure(log=print) -> str | None:
    """Create the venv and install pyinfra when missing; return why it cannot run, or None."""
    if PYINFRA.exists():
        return None
    log(f"pyinfra: creating {VENV} (pip install pyinfra=={VERSION})")
    try:
        run(["python3", "-m", "venv", VENV], timeout=300)
        run([VENV / "bin" / "pip", "install", "-q", f"pyinfra=={VERSION}"], timeout=900)
    except BenchError as exc:
        return f"could not install pyinfra: {exc}"
    return None


def unavailable() -> str | None:
    """Why pyinfra cannot run (cached), or None."""
    if not _reason:
        _reason.append(ensure())
    return _reason[0]


def run_cli(args: list, parallel: int, timeout: float = 600) -> Proc:
    """``pyinfra -y --parallel P ARGS`` without our venv on PATH (its own paramiko)."""
    env = base_env()
    env["PATH"] = f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"
    return run([PYINFRA, "-y", "--parallel", parallel, *args], env=env, timeout=timeout, cwd=Path(WORK))
