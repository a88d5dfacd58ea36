"""Fixtures for the task-library tests: one provisioned 5-host fleet per session, and a CLI runner.

The fleet comes from ``local_fleet`` (tests/integration/conftest.py): provisioned with
``flaskfleet.cloud.provision`` into a private state directory, described by a
``flaskfleet.cloud.fleet`` inventory config. The ``flaskfleet`` command runs in the fleet's
directory with ``FLASKFLEET_STATE_DIR``/``FLASKFLEET_INVENTORY`` pointing at it, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
APP = "t-tasks"


@dataclass
class Cli:
    """Runs ``flaskfleet`` (or ``invoke``) against one fleet and times it."""

    fleet: object
    env: dict

    def __call__(self, *args: str, timeout: float = 300, env: dict | None = None, program: str = "flaskfleet"):
        started = time.monotonic()
        proc = subprocess.run(
            [str(BIN / program), *args], cwd=self.fleet.root, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        proc.elapsed = time.monotonic() - started
        return proc


def cli_env(fleet) -> dict:
    """The fleet's Ansible environment plus our settings, no colours, wide tables."""
    env = dict(fleet.env)
    env.update(
        FLASKFLEET_STATE_DIR=str(fleet.state_dir),
        FLASKFLEET_INVENTORY=str(fleet.inventory),
        FLASKFLEET_HOSTS="web",
        COLUMNS="220",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="module")
def task_fleet(local_fleet):
    """Five local hosts in group ``web`` for app ``t-tasks``."""
    return local_fleet(APP, count=5, published_ports=(80,))


@pytest.fixture(scope="module")
def ff(task_fleet) -> Cli:
    """``ff("run", "uname -n", "-H", "web")`` runs the flaskfleet command against the fleet."""
    return Cli(task_fleet, cli_env(task_fleet))


def docker_exec(name: str, command: str) -> subprocess.CompletedProcess:
    """Look at a host out of band (not through the code under test)."""
    return subprocess.run(["docker", "exec", name, "sh", "-c", command], capture_output=True, text=True, check=False)
