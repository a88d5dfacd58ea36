"""``flaskfleet provision`` -> ``hosts`` -> ``run`` -> ``teardown``: the tasks drive the playbooks.

A fresh project directory with its own state directory (key, empty known_hosts) and fleet config,
as a new user would have; provisioning records the host keys, so the strict ``run`` afterwards
connects without any manual trust step.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import Cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
APP = "t-tasks-prov"


def containers() -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=flaskfleet.app={APP}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.split()


@pytest.fixture
def project(tmp_path, ansible_env):
    state = tmp_path / ".flaskfleet"
    state.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(state / "id_ed25519")], check=True)
    (state / "known_hosts").touch()
    (tmp_path / "local.fleet.yml").write_text(
        f"plugin: flaskfleet.cloud.fleet\nstate_dir: .flaskfleet\nproviders:\n  - type: docker\n    app: {APP}\n"
    )
    env = dict(ansible_env, FLASKFLEET_STATE_DIR=str(state), FLASKFLEET_INVENTORY="local.fleet.yml", COLUMNS="220")
    fleet = type("Project", (), {"root": tmp_path})()
    yield Cli(fleet, env), state
    if containers():
        subprocess.run(["docker", "rm", "-f", *containers()], capture_output=True, check=False)


def test_provision_hosts_run_teardown(project):
    ff, state = project
    made = ff("provision", "-n", APP, "--count", "2", timeout=900)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-2000:]
    listed = ff("hosts", "--json")
    assert [h["name"] for h in json.loads(listed.stdout)] == [f"{APP}-web-1", f"{APP}-web-2"]
    assert len((state / "known_hosts").read_text().splitlines()) >= 2
    ran = ff("run", "uname -n", "-H", "web", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert [r["stdout"].strip() for r in json.loads(ran.stdout)] == [f"{APP}-web-1", f"{APP}-web-2"]
    gone = ff("teardown", "-n", APP, timeout=600)
    assert gone.returncode == 0, gone.stdout[-3000:]
    assert containers() == []
    assert ff("hosts").stderr.strip() == (
        "flaskfleet: the inventory has no hosts; provision some (invoke provision) or check its source"
    )
