"""playbooks provision/teardown with flaskfleet_provider=gcp, against the fake Compute Engine API."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from gcefake import HOST_KEYS, PROJECT, ZONE

pytestmark = pytest.mark.gcp


def run(command, env):
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def app_instances(gce, app):
    return [d for d in gce.instances() if d["labels"].get("flaskfleet-app") == app]


def test_provision_and_teardown_on_gcp(tmp_path, env, gce):
    app = f"t-gcp-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id_ed25519")], check=True)
    public_key = (tmp_path / "id_ed25519.pub").read_text().strip()
    extra = {
        "flaskfleet_provider": "gcp",
        "provision_app": app,
        "provision_state_dir": str(tmp_path),
        "provision_hosts": [{"name": "web", "group": "web", "count": 2}, {"name": "worker", "count": 1}],
        "provision_gcp_api_endpoint": gce.url,
        "provision_gcp_zone": ZONE,
        "provision_gcp_project": PROJECT,
        "provision_gcp_ssh_cidrs": ["10.0.0.0/8"],
        "provision_gcp_wait_for_ssh": False,
    }
    command = ["ansible-playbook", "-i", "localhost,", "flaskfleet.cloud.provision", "-e", json.dumps(extra)]
    env = {**env, "ANSIBLE_STDOUT_CALLBACK": "default"}
    first = run(command, env)
    assert first.returncode == 0, first.stdout + first.stderr
    instances = app_instances(gce, app)
    assert sorted(d["name"] for d in instances) == [f"{app}-web-1", f"{app}-web-2", f"{app}-worker-1"]
    assert sorted(d["labels"]["flaskfleet-group"] for d in instances) == ["web", "web", "worker"]
    for doc in instances:
        metadata = {item["key"]: item["value"] for item in doc["metadata"]["items"]}
        assert metadata["ssh-keys"] == f"admin:{public_key}"
        assert "accessConfigs" not in doc["networkInterfaces"][0]
    assert gce.firewall(f"{app}-web-ssh", PROJECT)["sourceRanges"] == ["10.0.0.0/8"]

    known = (tmp_path / "known_hosts").read_text().splitlines()
    for doc in instances:
        address = doc["networkInterfaces"][0]["networkIP"]
        for key_type, key in HOST_KEYS.items():
            assert f"{address} {key_type} {key}" in known, known

    again = run(command, env)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout

    teardown = run([*command[:3], "flaskfleet.cloud.teardown", *command[4:]], env)
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    assert app_instances(gce, app) == []
    assert gce.firewall(f"{app}-web-ssh", PROJECT) is None
    known = (tmp_path / "known_hosts").read_text() if (tmp_path / "known_hosts").exists() else ""
    assert all(doc["networkInterfaces"][0]["networkIP"] not in known for doc in instances), known
