"""Shared pytest fixtures: where the installed collection is, and how to run Ansible against it.

Every test that runs Ansible uses the collection as installed from the built tarball
(``scripts/test.sh`` sets ``ANSIBLE_COLLECTIONS_PATH``); run alone, pytest installs it once
into a temporary collections path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def _collections_path(tmp_factory) -> str:
    preset = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if preset:
        return preset
    dest = tmp_factory.mktemp("collections")
    subprocess.run([str(ROOT / "scripts" / "install-collection.sh"), str(dest)], check=True, capture_output=True)
    return str(dest)


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> str:
    """The collections path holding flaskfleet.cloud installed from the tarball."""
    return _collections_path(tmp_path_factory)


@pytest.fixture(scope="session")
def ansible_env(collections_path) -> dict[str, str]:
    """Environment for ansible-* commands: the installed collection and the project's ansible.cfg."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(args, env=None, cwd=ROOT, timeout=600, check=False, **kw) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on ``check`` failure show both streams."""
    proc = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, timeout=timeout, capture_output=True, text=True, check=False, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def runner(ansible_env):
    """``runner(args, ...)`` runs a command with the Ansible environment."""

    def _run(args, **kw):
        kw.setdefault("env", ansible_env)
        return run(args, **kw)

    return _run


@pytest.fixture
def figure(capsys):
    """``figure(line)`` prints a measured figure (requests and failures under load, exposure, EC2
    calls) to the test log even while pytest captures output: a passing test shows it too."""

    def _show(line: str) -> None:
        with capsys.disabled():
            print(f"\nfigure: {line}", flush=True)

    return _show
