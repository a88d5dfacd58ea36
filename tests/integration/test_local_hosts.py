"""Local container hosts end to end: provision two with the playbook, reach them with ssh, Fabric
and Ansible under strict host key checking, list them through the inventory, tear down.

Runs against the real Docker engine and real sshd in the containers, with the collection
installed from the built tarball.
"""

from __future__ import annotations

import json
import re

import paramiko
import pytest
from fabric import Connection

APP = "t-found-hosts"


@pytest.fixture(scope="module")
def fleet(local_fleet):
    """Two hosts with ports 80 and 443 published, for every test in this module."""
    return local_fleet(APP, count=2, published_ports=(80, 443))


def container_host_key(docker_client, name: str) -> str:
    """The host's ed25519 public key, read out of band from the container (not over SSH)."""
    output = docker_client.containers.get(name).exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).output
    return " ".join(output.decode().split()[:2])


def test_two_hosts_run_unprivileged_with_the_contract_labels(fleet, docker_client):
    assert [h.name for h in fleet.hosts] == [f"{APP}-web-1", f"{APP}-web-2"]
    for host in fleet.hosts:
        attrs = docker_client.containers.get(host.name).attrs
        assert attrs["State"]["Running"] is True
        assert attrs["Config"]["Labels"] == {
            "flaskfleet.managed": "true",
            "flaskfleet.app": APP,
            "flaskfleet.group": "web",
            "flaskfleet.name": f"{APP}-web",
            "flaskfleet.user": "admin",
        }
        assert attrs["Config"]["Hostname"] == host.name
        assert attrs["Config"]["StopSignal"] == "SIGRTMIN+3"
        hostconfig = attrs["HostConfig"]
        assert hostconfig["Privileged"] is False
        assert set(hostconfig["Tmpfs"]) == {"/run", "/run/lock"}
        assert "/sys/fs/cgroup:/sys/fs/cgroup:ro" in hostconfig["Binds"]
        bindings = attrs["NetworkSettings"]["Ports"]
        assert set(bindings) == {"22/tcp", "80/tcp", "443/tcp"}
        assert {b["HostIp"] for port in bindings.values() for b in port} == {"127.0.0.1"}
        assert int(bindings["22/tcp"][0]["HostPort"]) == host.ssh_port
        assert {80: int(bindings["80/tcp"][0]["HostPort"]), 443: int(bindings["443/tcp"][0]["HostPort"])} == (
            host.published_ports
        )


def test_known_hosts_holds_each_hosts_real_key(fleet, docker_client):
    lines = fleet.known_hosts.read_text().splitlines()
    for host in fleet.hosts:
        expected = f"[127.0.0.1]:{host.ssh_port} {container_host_key(docker_client, host.name)}"
        assert expected in lines
        assert len([line for line in lines if line.startswith(f"[127.0.0.1]:{host.ssh_port} ")]) == 3


def test_plain_ssh_with_strict_host_key_checking(fleet, runner):
    for host in fleet.hosts:
        proc = runner(fleet.ssh_command(host, "hostname; id -un"), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [host.name, "admin"]


def test_plain_ssh_refuses_an_unknown_host(fleet, runner, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.touch()
    proc = runner(fleet.ssh_command(fleet.hosts[0], "true", known_hosts=empty), timeout=60)
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr


def fabric_connection(fleet, host, known_hosts) -> Connection:
    """A Fabric connection that only trusts ``known_hosts`` (paramiko RejectPolicy)."""
    conn = Connection(
        host.address,
        port=host.ssh_port,
        user="admin",
        connect_kwargs={"key_filename": str(fleet.private_key), "look_for_keys": False, "allow_agent": False},
        connect_timeout=10,
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    conn.client.load_host_keys(str(known_hosts))
    return conn


def test_fabric_with_strict_host_key_checking(fleet):
    for host in fleet.hosts:
        with fabric_connection(fleet, host, fleet.known_hosts) as conn:
            result = conn.run("hostname", hide=True, in_stream=False)
        assert result.stdout.strip() == host.name


def test_fabric_refuses_a_changed_host_key(fleet, tmp_path):
    # Pretend host 1 answers with host 2's keys: exactly what a reused port or a MITM looks like.
    first, second = fleet.hosts
    lines = fleet.known_hosts.read_text().splitlines()
    swapped = [
        line.replace(f"[127.0.0.1]:{second.ssh_port} ", f"[127.0.0.1]:{first.ssh_port} ")
        for line in lines
        if line.startswith(f"[127.0.0.1]:{second.ssh_port} ")
    ]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("\n".join(swapped) + "\n")
    with pytest.raises(paramiko.BadHostKeyException), fabric_connection(fleet, first, known_hosts) as conn:
        conn.run("true", hide=True, in_stream=False)


def test_inventory_lists_the_hosts_with_the_contract_vars(fleet):
    listing = fleet.inventory_list()
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == [h.name for h in fleet.hosts]
    for host in fleet.hosts:
        got = hostvars[host.name]
        assert got["ansible_host"] == "127.0.0.1"
        assert got["ansible_port"] == host.ssh_port
        assert got["ansible_user"] == "admin"
        assert got["flaskfleet_provider"] == "docker"
        assert got["flaskfleet_app"] == APP
        assert got["flaskfleet_group"] == "web"
        assert got["flaskfleet_published_ports"] == {str(k): v for k, v in host.published_ports.items()}
        assert got["ansible_ssh_private_key_file"] == str(fleet.private_key)
        assert got["ansible_ssh_common_args"] == (
            f"-o UserKnownHostsFile={fleet.known_hosts} -o StrictHostKeyChecking=yes"
        )
        assert got["flaskfleet_known_hosts_file"] == str(fleet.known_hosts)
    assert sorted(listing["web"]["hosts"]) == [h.name for h in fleet.hosts]
    assert sorted(listing[fleet.app_group]["hosts"]) == [h.name for h in fleet.hosts]


def test_ansible_ping_answers_from_every_host(fleet):
    proc = fleet.ansible("all", "-m", "ansible.builtin.ping", "-o", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in fleet.hosts:
        assert re.search(rf"^{re.escape(host.name)} \| SUCCESS => .*\"ping\": \"pong\"", proc.stdout, re.M), proc.stdout


def test_second_provision_run_changes_nothing(fleet, local_fleet):
    before = fleet.known_hosts.read_text()
    again = local_fleet(APP, count=2, published_ports=(80, 443))
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", again.provision_output), (
        again.provision_output
    )
    assert fleet.known_hosts.read_text() == before


def module_play(fleet, tasks: list[dict], check: bool = False):
    """Run docker_host tasks in a play on localhost; return the registered results."""
    play = [
        {
            "name": "docker_host",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [
                *[dict(task, register=f"r{i}", ignore_errors=True) for i, task in enumerate(tasks)],
                {
                    "name": "Save the results",
                    "ansible.builtin.copy": {
                        "dest": str(fleet.root / "results.json"),
                        "content": "{{ [" + ", ".join(f"r{i}" for i in range(len(tasks))) + "] | to_json }}",
                        "mode": "0600",
                    },
                    "check_mode": False,
                },
            ],
        }
    ]
    path = fleet.root / "play.yml"
    path.write_text(json.dumps(play))
    proc = fleet.playbook(path, *(["--check", "--diff"] if check else []))
    assert "Traceback" not in proc.stdout + proc.stderr
    return json.loads((fleet.root / "results.json").read_text())


def scale_task(fleet, count, **extra) -> dict:
    """A docker_host task for a scratch group of the fleet's app."""
    return {
        "name": f"scratch x {count}",
        "flaskfleet.cloud.docker_host": dict(
            name=f"{APP}-scratch",
            app=APP,
            group="scratch",
            count=count,
            ssh_public_key_file=str(fleet.private_key) + ".pub",
            **extra,
        ),
    }


def scratch_containers(docker_client) -> list[str]:
    """Names of the scratch hosts that exist."""
    containers = docker_client.containers.list(all=True, filters={"label": [f"flaskfleet.name={APP}-scratch"]})
    return sorted(c.name for c in containers)


def test_exact_count_check_mode_scale_and_absent(fleet, docker_client):
    names = [f"{APP}-scratch-{n}" for n in (1, 2, 3)]
    (planned,) = module_play(fleet, [scale_task(fleet, 3)], check=True)
    assert planned["changed"] is True and planned["created"] == names
    assert planned["diff"] == {"before": {"hosts": []}, "after": {"hosts": names}}
    assert scratch_containers(docker_client) == []

    up, again, down, gone = module_play(
        fleet,
        [
            scale_task(fleet, 3),
            scale_task(fleet, 3),
            scale_task(fleet, 1),
            {
                "name": "absent",
                "flaskfleet.cloud.docker_host": {"name": f"{APP}-scratch", "app": APP, "state": "absent"},
            },
        ],
    )
    assert up["changed"] is True and [h["name"] for h in up["hosts"]] == names
    assert all(h["host_keys"][0].startswith("ssh-ed25519 ") for h in up["hosts"])
    assert again["changed"] is False and again["created"] == [] and again["removed"] == []
    assert down["changed"] is True and [r["name"] for r in down["removed"]] == names[:0:-1]
    assert [h["name"] for h in down["hosts"]] == names[:1]
    assert gone["changed"] is True and [r["name"] for r in gone["removed"]] == names[:1]
    assert scratch_containers(docker_client) == []
    # The fleet's own hosts were never touched.
    assert all(docker_client.containers.get(h.name).status == "running" for h in fleet.hosts)


def test_restarted_hosts_come_back_with_the_same_keys(fleet, docker_client, runner):
    host = fleet.hosts[0]
    started = docker_client.containers.get(host.name).attrs["State"]["StartedAt"]
    task = {
        "name": "restart",
        "flaskfleet.cloud.docker_host": {"name": f"{APP}-web", "app": APP, "state": "restarted"},
    }
    (result,) = module_play(fleet, [task])
    assert result["changed"] is True and result["restarted"] == [h.name for h in fleet.hosts]
    assert docker_client.containers.get(host.name).attrs["State"]["StartedAt"] != started
    restarted = {h["name"]: h for h in result["hosts"]}
    assert restarted[host.name]["ssh_port"] == host.ssh_port
    proc = runner(fleet.ssh_command(host, "hostname"), timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == host.name, proc.stderr


def test_teardown_removes_hosts_and_their_known_hosts_entries(local_fleet, docker_client):
    small = local_fleet("t-found-teardown", count=1, published_ports=())
    port = small.hosts[0].ssh_port
    assert f"[127.0.0.1]:{port} ssh-ed25519 " in small.known_hosts.read_text()
    proc = small.run(["ansible-playbook", "flaskfleet.cloud.teardown", "-e", f"provision_app={small.app}"])
    assert proc.returncode == 0, proc.stdout
    assert docker_client.containers.list(all=True, filters={"label": f"flaskfleet.app={small.app}"}) == []
    assert f"[127.0.0.1]:{port} " not in small.known_hosts.read_text()
    listing = small.inventory_list()
    assert listing["_meta"]["hostvars"] == {}
