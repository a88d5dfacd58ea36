"""playbooks provision/teardown with flaskfleet_provider=azure, against the fake ARM endpoint."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from azureplay import ROOT

pytestmark = pytest.mark.azure


def test_provision_records_host_keys_and_teardown_on_azure(tmp_path, env, arm):
    """Three VMs in two groups, their host keys in known_hosts before any SSH contact, idempotent, torn down."""
    app = f"t-az-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id_ed25519")], check=True)
    extra = {
        "flaskfleet_provider": "azure",
        "provision_app": app,
        "provision_state_dir": str(tmp_path),
        "provision_hosts": [{"name": "web", "group": "web", "count": 2}, {"name": "worker", "count": 1}],
        "provision_azure_ssh_cidrs": ["10.0.0.0/8"],
        "provision_azure_wait_for_ssh": False,
    }
    command = ["ansible-playbook", "-i", "localhost,", "flaskfleet.cloud.provision", "-e", json.dumps(extra)]
    env = {**env, "ANSIBLE_STDOUT_CALLBACK": "default"}

    def run(args):
        return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)

    first = run(command)
    assert first.returncode == 0, first.stdout + first.stderr
    vms = [v for v in arm.vms() if v["tags"].get("flaskfleet.app") == app]
    assert sorted(v["tags"]["flaskfleet.group"] for v in vms) == ["web", "web", "worker"]
    nsg = arm.resource("networkSecurityGroups", f"flaskfleet-{app}")
    assert [
        (r["properties"]["sourceAddressPrefix"], r["properties"]["destinationPortRanges"])
        for r in nsg["properties"]["securityRules"]
    ] == [
        ("10.0.0.0/8", ["22"]),
        ("0.0.0.0/0", ["80", "443"]),
    ]
    known = [line for line in (tmp_path / "known_hosts").read_text().splitlines() if not line.startswith("#")]
    assert len(known) == 3 and all(line.split()[1] == "ssh-ed25519" for line in known)
    nics = {
        arm.resource("networkInterfaces", v["name"] + "-nic")["properties"]["ipConfigurations"][0]["properties"][
            "privateIPAddress"
        ]
        for v in vms
    }
    assert {line.split()[0] for line in known} == nics

    again = run(command)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout
    assert [line for line in (tmp_path / "known_hosts").read_text().splitlines() if not line.startswith("#")] == known

    teardown = run([*command[:3], "flaskfleet.cloud.teardown", *command[4:]])
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    assert [v for v in arm.vms() if v["tags"].get("flaskfleet.app") == app] == []
