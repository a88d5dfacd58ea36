"""The fleet inventory's azure provider against the fake ARM endpoint: host vars, groups, bad config."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from azureplay import ROOT, vm_task

pytestmark = pytest.mark.azure


def plain(value):
    """Drop ``{"__ansible_unsafe": ...}`` wrappers from ``ansible-inventory --list`` JSON."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, env, config):
    path = tmp_path / "azure.fleet.yml"
    path.write_text(yaml.safe_dump({"plugin": "flaskfleet.cloud.fleet", **config}))
    return subprocess.run(
        ["ansible-inventory", "-i", str(path), "--list"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_azure_vms_listed_with_contract_vars_and_groups(tmp_path, play, env, arm, name):
    """Two web VMs and one worker of a unique app: address, user, provider, app/group and groups."""
    tasks = [vm_task(f"{name}-web", app=name, count=2), vm_task(f"{name}-wk", app=name, group="worker")]
    proc, results = play(tasks)
    assert proc.returncode == 0, proc.stdout
    made = {v["name"]: v for r in results for v in r["vms"]}
    try:
        arm.reset()
        proc = inventory(tmp_path, env, {"providers": [{"type": "azure", "app": name}]})
        assert proc.returncode == 0, proc.stderr
        assert arm.count() == 3  # VMs, NICs, public IPs: one list each, whatever the number of VMs
        data = plain(json.loads(proc.stdout))
        hostvars = data["_meta"]["hostvars"]
        assert sorted(hostvars) == sorted(made)
        for host, vm in made.items():
            hv = hostvars[host]
            assert hv["ansible_host"] == vm["private_ip_address"]
            assert hv["ansible_port"] == 22 and hv["ansible_user"] == "azureuser"
            assert hv["flaskfleet_provider"] == "azure" and hv["flaskfleet_app"] == name
            assert hv["azure_resource_group"] == vm["resource_group"]
            assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
        web = sorted(v["name"] for v in made.values() if v["tags"]["flaskfleet.group"] == "web")
        assert sorted(data["web"]["hosts"]) == web
        assert len(data["worker"]["hosts"]) == 1
        assert sorted(data["app_" + name.replace("-", "_")]["hosts"]) == sorted(made)
    finally:
        play([{**t, "flaskfleet.cloud.azure_vm": {**t["flaskfleet.cloud.azure_vm"], "state": "absent"}} for t in tasks])


def test_bad_entry_and_bad_credentials_are_one_line(tmp_path, env, arm):
    """An unknown option and a refused secret each give one clear line."""
    proc = inventory(tmp_path, env, {"providers": [{"type": "azure", "regions": ["westeurope"]}]})
    assert "unknown option 'regions' for provider azure" in proc.stderr
    proc = inventory(tmp_path, {**env, "AZURE_SECRET": "wrong"}, {"providers": [{"type": "azure"}]})
    assert "no usable Azure credentials" in proc.stderr, proc.stderr
