"""The fleet inventory's ec2 provider against moto: keyed groups, host vars, hostnames, bad config."""

from __future__ import annotations

import json

import pytest
import yaml
from awsfake import run

pytestmark = pytest.mark.aws


@pytest.fixture
def hosts(play, ami, name):
    """Two web hosts and one worker host of a unique app, removed afterwards."""
    tasks = [
        {
            "flaskfleet.cloud.ec2_host": {
                "name": f"{name}-web",
                "group": "web",
                "app": name,
                "count": 2,
                "image_id": ami,
            }
        },
        {"flaskfleet.cloud.ec2_host": {"name": f"{name}-wk", "group": "worker", "app": name, "image_id": ami}},
    ]
    proc, results = play(tasks)
    assert proc.returncode == 0, proc.stdout
    yield [i for r in results for i in r["instances"]]
    play([{**t, "flaskfleet.cloud.ec2_host": {**t["flaskfleet.cloud.ec2_host"], "state": "absent"}} for t in tasks])


def plain(value):
    """Drop ``{"__ansible_unsafe": ...}`` wrappers from ``ansible-inventory --list`` JSON."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, env, config, *args):
    path = tmp_path / "aws.fleet.yml"
    path.write_text(yaml.safe_dump({"plugin": "flaskfleet.cloud.fleet", **config}))
    return run(["ansible-inventory", "-i", str(path), *args], env=env)


def test_graph_shows_keyed_groups(tmp_path, env, proxy, hosts, name):
    config = {
        "providers": [
            {
                "type": "ec2",
                "regions": ["us-east-1"],
                "endpoint_url": proxy.url,
                "filters": {"tag:flaskfleet.app": name},
            }
        ],
        "keyed_groups": [{"key": "ec2_tags['flaskfleet.group']", "prefix": "tag_group"}],
    }
    proxy.reset()
    graph = inventory(tmp_path, env, config, "--graph")
    assert graph.returncode == 0, graph.stderr
    print(graph.stdout)
    assert "@tag_group_web:" in graph.stdout and "@tag_group_worker:" in graph.stdout
    assert "@web:" in graph.stdout and f"@app_{name.replace('-', '_')}:" in graph.stdout
    assert proxy.count("DescribeInstances") == 1  # one paginator, not one call per host

    listing = plain(json.loads(inventory(tmp_path, env, config, "--list").stdout))
    by_id = {i["instance_id"]: i for i in hosts}
    assert len(listing["tag_group_web"]["hosts"]) == 2 and len(listing["tag_group_worker"]["hosts"]) == 1
    for hostname, hostvars in listing["_meta"]["hostvars"].items():
        instance = by_id[hostvars["ec2_instance_id"]]
        assert hostname == instance["private_dns_name"]
        assert hostvars["ansible_host"] == instance["private_ip_address"]
        assert hostvars["ansible_port"] == 22 and hostvars["ansible_user"] == "admin"
        assert hostvars["flaskfleet_provider"] == "ec2" and hostvars["flaskfleet_app"] == name
        assert "StrictHostKeyChecking=yes" in hostvars["ansible_ssh_common_args"]


def test_hostnames_by_tag_are_made_unique(tmp_path, env, moto, hosts, name):
    config = {
        "providers": [
            {
                "type": "ec2",
                "endpoint_url": moto.url,
                "filters": {"tag:flaskfleet.app": name},
                "hostnames": ["tag:Name"],
            }
        ]
    }
    listing = plain(json.loads(inventory(tmp_path, env, config, "--list").stdout))
    names = sorted(listing["_meta"]["hostvars"])
    web = sorted(f"{name}-web_{i['instance_id']}" for i in hosts if i["tags"]["flaskfleet.group"] == "web")
    assert names == sorted([*web, f"{name}-wk"])


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"hostnames": ["ipv9"]}, "hostnames entry 'ipv9' is not one of"),
        ({"regions": "us-east-1"}, "option 'regions' of provider ec2 must be a list"),
        ({"colour": "blue"}, "unknown option 'colour' for provider ec2"),
        ({"regions": ["mars-1"]}, "'mars-1' is not an AWS region name"),
    ],
    ids=["bad-hostnames", "regions-not-list", "unknown-option", "bad-region"],
)
def test_bad_inventory_config(tmp_path, env, moto, entry, fragment):
    config = {"providers": [{"type": "ec2", "endpoint_url": moto.url, **entry}]}
    proc = inventory(tmp_path, env, {**config, "strict": True}, "--list")
    assert fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_endpoint_in_inventory(tmp_path, env):
    from awsfake import free_port

    config = {"providers": [{"type": "ec2", "endpoint_url": f"http://127.0.0.1:{free_port()}"}]}
    proc = inventory(tmp_path, env, config, "--list")
    assert "cannot reach the AWS endpoint" in proc.stderr, proc.stderr
