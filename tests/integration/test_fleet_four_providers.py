"""One fleet inventory file, four providers: docker, ec2 (moto), azure (ARM fake), gcp (GCE fake).

The hosts are made the way users make them: a local container host by the ``local_fleet``
fixture (``flaskfleet.cloud.provision``), and one ``ec2_host``, ``azure_vm`` and ``gce_host``
task each in a single playbook against the fakes of their own test areas (imported from
tests/integration/{aws,azure,gcp}, not copied). Then ``ansible-inventory --list``/``--graph`` and
``flaskfleet hosts --json`` (the Invoke side, ``flaskfleet.inventory.Inventory``) read the same
``*.fleet.yml`` and must agree.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import boto3
import pytest
import yaml

HERE = Path(__file__).resolve().parent
for area in ("aws", "azure", "gcp"):  # the fakes and helpers of those areas (plain modules, no package)
    if str(HERE / area) not in sys.path:
        sys.path.append(str(HERE / area))

from armfake import ArmFake  # noqa: E402
from awsfake import REGION, MotoServer, aws_env  # noqa: E402
from azureplay import azure_env, vm_task  # noqa: E402
from gcefake import PROJECT, ZONE, GceFake, gcp_env  # noqa: E402

pytestmark = [pytest.mark.aws, pytest.mark.azure, pytest.mark.gcp]

APP = "t-fleet-all"
APP_GROUP = "app_t_fleet_all"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    """The three cloud fakes, started once for this module (``moto``, ``arm``, ``gce``)."""
    moto = MotoServer()
    arm = ArmFake(tmp_path_factory.mktemp("arm-four"))
    gce = GceFake()
    yield {"moto": moto, "arm": arm, "gce": gce}
    gce.close()
    arm.close()
    moto.stop()


@pytest.fixture(scope="module")
def four(local_fleet, clouds):
    """A docker host (local_fleet) plus one host on each cloud fake, all of app ``t-fleet-all``.

    Returns the fleet, the environment that reaches all four, the cloud hosts the modules
    reported and the path of the four-provider ``*.fleet.yml`` (in the fleet's directory).
    """
    fleet = local_fleet(APP, count=1, published_ports=(80,), group="web")
    moto, arm, gce = clouds["moto"], clouds["arm"], clouds["gce"]
    env = aws_env(azure_env(gcp_env(fleet.env), arm))
    ec2 = boto3.client(
        "ec2", region_name=REGION, endpoint_url=moto.url, aws_access_key_id="k", aws_secret_access_key="s"
    )
    ami = sorted(ec2.describe_images(Owners=["099720109477"])["Images"], key=lambda i: i["ImageId"])[0]["ImageId"]
    tasks = [
        {"flaskfleet.cloud.ec2_host": {"name": f"{APP}-ec2", "group": "api", "app": APP, "image_id": ami}},
        vm_task(f"{APP}-az", app=APP, group="api"),
        {"flaskfleet.cloud.gce_host": {"name": f"{APP}-gcp", "group": "worker", "app": APP, "count": 1}},
    ]
    play = {
        "name": "one host per cloud",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "module_defaults": {
            "group/flaskfleet.cloud.aws": {"endpoint_url": moto.url, "region": REGION},
            "group/flaskfleet.cloud.gcp": {"api_endpoint": gce.url, "zone": ZONE},
        },
        "tasks": tasks,
    }
    playbook = fleet.root / "clouds.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    proc = fleet.runner(["ansible-playbook", "-i", "localhost,", playbook], env=env, cwd=fleet.root, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{") :])
    ec2_r, az_r, gcp_r = (t["hosts"]["localhost"] for p in results["plays"] for t in p["tasks"])
    made = {
        "ec2": {i["private_dns_name"]: i["private_ip_address"] for i in ec2_r["instances"]},
        "azure": {v["name"]: v["private_ip_address"] for v in az_r["vms"]},
        "gcp": {i["name"]: i["private_ip_address"] for i in gcp_r["instances"]},
        "docker": {h.name: h.address for h in fleet.hosts},
    }
    config = {
        "plugin": "flaskfleet.cloud.fleet",
        "state_dir": ".flaskfleet",
        "providers": [
            {"type": "docker", "app": APP},
            {"type": "ec2", "regions": [REGION], "endpoint_url": moto.url, "filters": {"tag:flaskfleet.app": APP}},
            {"type": "azure", "app": APP},
            {"type": "gcp", "api_endpoint": gce.url, "projects": [PROJECT], "labels": {"flaskfleet-app": APP}},
        ],
        "keyed_groups": [{"key": "flaskfleet_provider", "prefix": "provider"}],
    }
    inventory = fleet.root / "four.fleet.yml"
    inventory.write_text(yaml.safe_dump(config, sort_keys=False))
    return fleet, env, made, inventory


def test_one_file_lists_docker_ec2_azure_and_gcp_hosts(four):
    """--list: every host once, with the contract variables; groups by group, app and provider."""
    fleet, env, made, inventory = four
    assert all(len(hosts) == 1 for hosts in made.values()), made
    listing = dataclasses.replace(fleet, inventory=inventory, env=env).inventory_list()
    hostvars = listing["_meta"]["hostvars"]
    expected = {name: (provider, address) for provider, hosts in made.items() for name, address in hosts.items()}
    assert sorted(hostvars) == sorted(expected)
    users = {"docker": "admin", "ec2": "admin", "azure": "azureuser", "gcp": "admin"}
    for name, (provider, address) in expected.items():
        hv = hostvars[name]
        assert hv["flaskfleet_provider"] == provider
        assert hv["ansible_host"] == address
        assert hv["ansible_user"] == users[provider]
        assert hv["flaskfleet_app"] == APP
        assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
        assert hv["ansible_ssh_private_key_file"] == str(fleet.private_key)
        if provider == "docker":
            assert hv["ansible_host"] == "127.0.0.1" and int(hv["ansible_port"]) == fleet.hosts[0].ssh_port
        else:
            assert hv["ansible_port"] == 22
    groups = {name: hostvars[name]["flaskfleet_group"] for name in expected}
    assert sorted(groups.values()) == ["api", "api", "web", "worker"]
    for group in ("web", "api", "worker"):
        assert sorted(listing[group]["hosts"]) == sorted(n for n, g in groups.items() if g == group)
    assert sorted(listing[APP_GROUP]["hosts"]) == sorted(expected)
    for provider, hosts in made.items():
        assert listing[f"provider_{provider}"]["hosts"] == list(hosts)


def test_graph_and_invoke_see_the_same_fleet(four):
    """--graph shows the same groups, and ``flaskfleet hosts --json`` (Invoke) the same hosts."""
    fleet, env, made, inventory = four
    proc = fleet.runner(["ansible-inventory", "-i", inventory, "--graph"], env=env, cwd=fleet.root, timeout=180)
    assert proc.returncode == 0, proc.stderr
    for group in ("web", "api", "worker", APP_GROUP, *(f"provider_{p}" for p in made)):
        assert f"@{group}:" in proc.stdout, proc.stdout
    for hosts in made.values():
        assert all(f"--{name}\n" in proc.stdout for name in hosts), proc.stdout

    cli_env = dict(env, FLASKFLEET_STATE_DIR=str(fleet.state_dir), NO_COLOR="1", COLUMNS="220")
    cli_env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    proc = fleet.runner(
        [BIN / "flaskfleet", "hosts", "--json", "--inventory", inventory], env=cli_env, cwd=fleet.root, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = {h["name"]: h for h in json.loads(proc.stdout)}
    assert sorted(seen) == sorted(name for hosts in made.values() for name in hosts)
    for provider, hosts in made.items():
        for name, address in hosts.items():
            assert seen[name]["provider"] == provider and seen[name]["address"] == address
            assert seen[name]["app"] == APP and APP_GROUP in seen[name]["groups"]
            assert f"provider_{provider}" in seen[name]["groups"]
