"""playbooks provision/teardown with flaskfleet_provider=ec2, against moto_server."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from awsfake import REGION, run

pytestmark = pytest.mark.aws


def live_app_instances(ec2, app):
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:flaskfleet.app", "Values": [app]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def test_provision_and_teardown_on_ec2(tmp_path, env, moto, ec2, ami):
    app = f"t-aws-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id_ed25519")], check=True)
    extra = {
        "flaskfleet_provider": "ec2",
        "provision_app": app,
        "provision_state_dir": str(tmp_path),
        "provision_hosts": [{"name": "web", "group": "web", "count": 2}, {"name": "worker", "count": 1}],
        "provision_ec2_endpoint_url": moto.url,
        "provision_ec2_region": REGION,
        "provision_ec2_image_id": ami,
        "provision_ec2_ssh_cidrs": ["10.0.0.0/8"],
        "provision_ec2_wait_for_ssh": False,
    }
    command = ["ansible-playbook", "-i", "localhost,", "flaskfleet.cloud.provision", "-e", json.dumps(extra)]
    env = {**env, "ANSIBLE_STDOUT_CALLBACK": "default"}
    first = run(command, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    instances = live_app_instances(ec2, app)
    assert sorted(i["Tags"] and {t["Key"]: t["Value"] for t in i["Tags"]}["flaskfleet.group"] for i in instances) == [
        "web",
        "web",
        "worker",
    ]
    assert {i["KeyName"] for i in instances} == {f"flaskfleet-{app}"}
    [group] = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"flaskfleet-{app}"]}])[
        "SecurityGroups"
    ]
    assert {i["NetworkInterfaces"][0]["Groups"][0]["GroupId"] for i in instances} == {group["GroupId"]}
    ssh = [p for p in group["IpPermissions"] if p.get("FromPort") == 22]
    assert [r["CidrIp"] for r in ssh[0]["IpRanges"]] == ["10.0.0.0/8"]

    again = run(command, env=env)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout

    teardown = run([*command[:3], "flaskfleet.cloud.teardown", *command[4:]], env=env)
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    assert live_app_instances(ec2, app) == []
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"flaskfleet-{app}"]}])[
            "SecurityGroups"
        ]
        == []
    )
