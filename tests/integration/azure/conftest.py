"""Fixtures for the Azure tests: one fake ARM endpoint per session (HTTPS, self-signed, trusted
through REQUESTS_CA_BUNDLE) and ``play(...)`` to run azure_vm tasks with the INSTALLED collection."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import yaml
from armfake import ArmFake
from azureplay import ROOT, azure_env


@pytest.fixture(scope="session")
def arm(tmp_path_factory):
    """The running fake (``.url``, ``.calls``, ``.reset(*faults)``, ``.vms(name)``)."""
    fake = ArmFake(tmp_path_factory.mktemp("arm"))
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def env(ansible_env, arm):
    return azure_env(ansible_env, arm)


@pytest.fixture
def name() -> str:
    """A host name unique to the test, so tests sharing the fake never see each other's VMs."""
    return f"t-az-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def play(tmp_path, env):
    """``play(tasks, check=False, diff=False, extra_env=None)`` -> (process, task results)."""

    def _play(tasks, check=False, diff=False, extra_env=None):
        path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml"
        play = {
            "name": "azure test",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": tasks,
        }
        path.write_text(yaml.safe_dump([play], sort_keys=False))
        args = ["ansible-playbook", "-i", "localhost,", str(path)]
        args += ["--check"] if check else []
        args += ["--diff"] if diff else []
        proc = subprocess.run(
            args, env={**env, **(extra_env or {})}, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{") :])
        except ValueError as exc:
            raise AssertionError(f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}") from exc
        return proc, [t["hosts"]["localhost"] for p in data["plays"] for t in p["tasks"]]

    return _play
