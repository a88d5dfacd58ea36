"""Fixtures for the Azure tests: one fake ARM endpoint per session (HTTPS, self-signed, trusted
through REQUESTS_CA_BUNDLE) and ``play(...)`` to run azure_vm tasks with the INSTALLED collection."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from armfake import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, ArmFake

ROOT = Path(__file__).resolve().parents[3]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheAzureTestsOnly0000000000000000 t@azure"


@pytest.fixture(scope="session")
def arm(tmp_path_factory):
    """The running fake (``.url``, ``.calls``, ``.reset(*faults)``, ``.vms(name)``)."""
    fake = ArmFake(tmp_path_factory.mktemp("arm"))
    yield fake
    fake.close()


def azure_env(base_env: dict, arm: ArmFake) -> dict:
    """Ansible's environment plus the fake's service principal; nothing may reach real Azure."""
    env = {k: v for k, v in base_env.items() if not k.startswith(("AZURE_", "ANSIBLE_AZURE_"))}
    env.update(
        AZURE_SUBSCRIPTION_ID=SUBSCRIPTION,
        AZURE_CLIENT_ID=CLIENT_ID,
        AZURE_SECRET=SECRET,
        AZURE_TENANT=TENANT,
        AZURE_BASE_URL=arm.url,
        AZURE_AUTHORITY_HOST=arm.url,
        REQUESTS_CA_BUNDLE=str(arm.cert),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    return env


@pytest.fixture(scope="session")
def env(ansible_env, arm):
    return azure_env(ansible_env, arm)


@pytest.fixture
def name() -> str:
    """A host name unique to the test, so tests sharing the fake never see each other's VMs."""
    return f"t-az-{uuid.uuid4().hex[:8]}"


def vm_task(name: str, **options) -> dict:
    """An azure_vm task for ``name`` (group web, app t-azure) in westeurope."""
    args = {
        "name": name,
        "group": "web",
        "app": "t-azure",
        "resource_group": f"rg-{name}",
        "location": "westeurope",
        "ssh_public_key": KEY,
        "ssh_cidrs": ["203.0.113.0/24"],
        **options,
    }
    return {"name": "vms", "flaskfleet.cloud.azure_vm": args, "register": "result"}


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
