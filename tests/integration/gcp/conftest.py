"""Fixtures for the GCP tests: one fake Compute Engine API per session and ``play(...)`` to run a
playbook of flaskfleet.cloud GCP tasks with the INSTALLED collection against it."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from gcefake import ZONE, GceFake, gcp_env

ROOT = Path(__file__).resolve().parents[3]


def task_results(stdout: str) -> list[dict]:
    """The localhost result of every task from ``ansible.posix.json`` output."""
    data = json.loads(stdout[stdout.index("{") :])
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture(scope="session")
def gce():
    """The fake Compute Engine API (``.url``, ``.methods()``, ``.bodies()``, ``.reset(*faults)``)."""
    fake = GceFake()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def env(ansible_env):
    return gcp_env(ansible_env)


@pytest.fixture
def name() -> str:
    """A host name unique to the test, so tests sharing one fake never see each other's hosts."""
    return f"t-gcp-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def play(tmp_path, env, gce):
    """``play(tasks, check=False, diff=False, extra_env=None, defaults=None)`` -> (process, task results)."""

    def _play(tasks, check=False, diff=False, extra_env=None, defaults=None):
        module_defaults = {"api_endpoint": gce.url, "zone": ZONE}
        module_defaults.update(defaults or {})
        playbook = {
            "name": "gcp test",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "module_defaults": {"group/flaskfleet.cloud.gcp": module_defaults},
            "tasks": tasks,
        }
        path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml"
        path.write_text(yaml.safe_dump([playbook], sort_keys=False))
        args = ["ansible-playbook", "-i", "localhost,", str(path)]
        args += ["--check"] if check else []
        args += ["--diff"] if diff else []
        proc = subprocess.run(
            args, env={**env, **(extra_env or {})}, cwd=ROOT, timeout=300, capture_output=True, text=True, check=False
        )
        try:
            results = task_results(proc.stdout)
        except ValueError as exc:
            raise AssertionError(f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}") from exc
        return proc, results

    return _play
