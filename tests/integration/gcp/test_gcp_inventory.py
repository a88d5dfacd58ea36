"""The fleet inventory's gcp provider against the fake Compute Engine API: contract variables, groups, bad config."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from gcefake import PROJECT

pytestmark = pytest.mark.gcp


def host_task(name, app, group, zone, count, state="present"):
    args = {"name": name, "group": group, "app": app, "count": count, "zone": zone, "state": state}
    return {"flaskfleet.cloud.gce_host": args}


@pytest.fixture
def hosts(play, name):
    """Two web hosts in one zone and one worker host in another zone, of a unique app; removed afterwards."""
    specs = [(f"{name}-web", "web", "europe-west1-b", 2), (f"{name}-wk", "worker", "europe-west1-c", 1)]
    proc, results = play([host_task(n, name, g, z, c) for n, g, z, c in specs])
    assert proc.returncode == 0, proc.stdout
    yield [i for r in results for i in r["instances"]]
    play([host_task(n, name, g, z, 0, state="absent") for n, g, z, _c in specs])


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
    path = tmp_path / "gcp.fleet.yml"
    path.write_text(yaml.safe_dump({"plugin": "flaskfleet.cloud.fleet", **config}))
    return subprocess.run(
        ["ansible-inventory", "-i", str(path), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_gcp_hosts_with_contract_variables_and_groups(tmp_path, env, gce, hosts, name):
    """Every instance of the app is listed once with the same variables and groups as EC2/docker hosts."""
    config = {
        "providers": [
            {"type": "gcp", "api_endpoint": gce.url, "projects": [PROJECT], "labels": {"flaskfleet-app": name}}
        ],
        "keyed_groups": [{"key": "gcp_zone", "prefix": "zone"}],
    }
    gce.reset()
    proc = inventory(tmp_path, env, config, "--list")
    assert proc.returncode == 0, proc.stderr
    assert gce.methods() == ["instances.aggregatedList"]  # one call for all zones, not one per host
    listing = plain(json.loads(proc.stdout))
    by_name = {i["name"]: i for i in hosts}
    assert sorted(listing["_meta"]["hostvars"]) == sorted(by_name)
    assert sorted(listing["web"]["hosts"]) == [f"{name}-web-1", f"{name}-web-2"]
    assert listing["worker"]["hosts"] == [f"{name}-wk-1"]
    assert sorted(listing[f"app_{name.replace('-', '_')}"]["hosts"]) == sorted(by_name)
    assert listing["zone_europe_west1_c"]["hosts"] == [f"{name}-wk-1"]
    for hostname, hostvars in listing["_meta"]["hostvars"].items():
        instance = by_name[hostname]
        assert hostvars["ansible_host"] == instance["private_ip_address"]
        assert hostvars["ansible_port"] == 22 and hostvars["ansible_user"] == "admin"
        assert hostvars["flaskfleet_provider"] == "gcp" and hostvars["flaskfleet_app"] == name
        assert hostvars["flaskfleet_group"] in ("web", "worker")
        assert hostvars["gcp_project"] == PROJECT and hostvars["gcp_zone"] == instance["zone"]
        assert "StrictHostKeyChecking=yes" in hostvars["ansible_ssh_common_args"]
        assert "ansible_ssh_private_key_file" not in hostvars  # no key in the state dir: ssh-agent (docs/awx.md)

    config["providers"][0]["zones"] = ["europe-west1-b"]
    gce.reset()
    listing = plain(json.loads(inventory(tmp_path, env, config, "--list").stdout))
    assert sorted(listing["_meta"]["hostvars"]) == [f"{name}-web-1", f"{name}-web-2"]
    assert gce.methods() == ["instances.list"]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"zones": "europe-west1-b"}, "option 'zones' of provider gcp must be a list"),
        ({"colour": "blue"}, "unknown option 'colour' for provider gcp"),
        ({"zones": ["mars-1"]}, "'mars-1' is not a GCE zone name"),
        ({"zones": ["mars-north1-a"]}, "the zone does not exist"),
        ({"auth_kind": "magic"}, "auth_kind of provider gcp must be"),
    ],
    ids=["zones-not-list", "unknown-option", "bad-zone", "unknown-zone", "bad-auth-kind"],
)
def test_bad_inventory_config(tmp_path, env, gce, entry, fragment):
    config = {"providers": [{"type": "gcp", "api_endpoint": gce.url, **entry}], "strict": True}
    proc = inventory(tmp_path, env, config, "--list")
    assert fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
