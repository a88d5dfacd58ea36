"""Bad input to docker_host, the provision playbook and the fleet inventory: each gives a one-line
reason, no Python traceback, and creates nothing (checked in the Docker engine)."""

from __future__ import annotations

import json

import pytest

APP = "t-found-bad"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory with a real public key, for the cases that need one."""
    path = tmp_path_factory.mktemp("bad-input")
    (path / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx3i0cRtmQ8n4R5Yp1QwJ6bZfT2m9Qe7m0kz0Yl1kRp t\n")
    return path


def task(workdir, **args) -> dict:
    """A docker_host task for the bad-input app, with sane defaults that ``args`` override."""
    params = {"name": f"{APP}-web", "app": APP, "count": 1, "ssh_public_key_file": str(workdir / "id.pub")}
    params.update(args)
    return {"flaskfleet.cloud.docker_host": params}


CASES = {
    "negative count": (
        {"count": -1},
        {},
        "count must be 0 or more (got -1): it is the exact number of hosts to keep",
    ),
    "fractional count": (
        {"count": 1.5},
        {},
        "count must be a whole number of hosts, 0 or more (got 1.5)",
    ),
    "unknown image": (
        {"image": "flaskfleet/does-not-exist:1"},
        {},
        "image flaskfleet/does-not-exist:1 was not found in the Docker engine: build it with "
        "scripts/build-image.sh (make setup) or set image to an existing one",
    ),
    "missing key file": (
        {"ssh_public_key_file": "/nonexistent/id_ed25519.pub"},
        {},
        "ssh_public_key_file /nonexistent/id_ed25519.pub does not exist: create a key pair (make setup creates "
        ".flaskfleet/id_ed25519.pub) or point ssh_public_key_file at an existing public key",
    ),
    "docker not reachable": (
        {},
        {"DOCKER_HOST": "unix:///nonexistent.sock"},
        "Docker engine is not reachable at unix:///nonexistent.sock: start it (make setup) or point "
        "docker_host/DOCKER_HOST at a running engine (No such file or directory)",
    ),
}


@pytest.fixture(scope="module")
def results(workdir, runner):
    """Run every case as one task of one playbook (ignore_errors) and return the registered results."""
    tasks = []
    for index, (case, (args, environment, _)) in enumerate(CASES.items()):
        tasks.append(dict(task(workdir, **args), name=case, register=f"r{index}", ignore_errors=True,
                          environment=environment))  # fmt: skip
    names = ", ".join(f"r{i}" for i in range(len(CASES)))
    tasks.append(
        {
            "name": "Save the results",
            "ansible.builtin.copy": {
                "dest": str(workdir / "results.json"),
                "content": f"{{{{ [{names}] | to_json }}}}",
            },
        }
    )
    play = [{"name": "bad input", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]  # fmt: skip
    (workdir / "play.yml").write_text(json.dumps(play))
    proc = runner(["ansible-playbook", workdir / "play.yml"], cwd=workdir, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return dict(zip(CASES, json.loads((workdir / "results.json").read_text()), strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_and_creates_nothing(case, results, docker_client):
    result = results[case]
    assert result["failed"] is True
    assert result["msg"] == CASES[case][2]
    assert "\n" not in result["msg"]
    assert "Traceback" not in str(result.get("exception", "")) and "module_stderr" not in result
    assert docker_client.containers.list(all=True, filters={"label": f"flaskfleet.app={APP}"}) == []


def test_provision_playbook_with_negative_count_stops_before_creating(workdir, runner, docker_client):
    extra = {"provision_app": APP, "provision_hosts": [{"name": f"{APP}-web", "count": -1}],
             "provision_state_dir": str(workdir)}  # fmt: skip
    proc = runner(["ansible-playbook", "flaskfleet.cloud.provision", "-e", json.dumps(extra)], cwd=workdir, timeout=300)
    assert proc.returncode != 0
    assert (
        "provision_hosts entry t-found-bad-web: name must be letters, digits and '-', and count a whole" in proc.stdout
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert docker_client.containers.list(all=True, filters={"label": f"flaskfleet.app={APP}"}) == []


def test_provision_playbook_with_missing_key_file(workdir, runner, docker_client):
    extra = {"provision_app": APP, "provision_state_dir": str(workdir / "empty-state"),
             "provision_hosts": [{"name": f"{APP}-web", "count": 1}]}  # fmt: skip
    proc = runner(["ansible-playbook", "flaskfleet.cloud.provision", "-e", json.dumps(extra)], cwd=workdir, timeout=300)
    assert proc.returncode != 0
    assert f"ssh_public_key_file {workdir}/empty-state/id_ed25519.pub does not exist" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert docker_client.containers.list(all=True, filters={"label": f"flaskfleet.app={APP}"}) == []


def test_inventory_with_docker_not_reachable_says_so(workdir, runner, ansible_env):
    config = workdir / "down.fleet.yml"
    config.write_text(
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n    docker_host: unix:///nonexistent.sock\n"
    )
    proc = runner(["ansible-inventory", "-i", config, "--list"], cwd=workdir, timeout=120,
                  env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"))  # fmt: skip
    assert proc.returncode != 0
    assert (
        "providers[0] (docker): could not list hosts: Docker engine is not reachable at unix:///nonexistent.sock: "
        "start it (make setup)" in " ".join(proc.stderr.split())
    )
    assert "Traceback" not in proc.stdout + proc.stderr


def test_inventory_with_unknown_provider_option(workdir, runner, ansible_env):
    config = workdir / "typo.fleet.yml"
    config.write_text("plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n    aap: hello\n")
    proc = runner(["ansible-inventory", "-i", config, "--list"], cwd=workdir, timeout=120,
                  env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"))  # fmt: skip
    assert proc.returncode != 0
    assert "providers[0] (docker): unknown option 'aap' for provider docker" in " ".join(proc.stderr.split())
