"""Unit tests for flaskfleet.cloud.ec2_host: exact-count arithmetic, secure launch request, arguments."""

from __future__ import annotations

import datetime
import json
import socket
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flaskfleet.cloud.plugins.modules import ec2_host

T0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
BASE = {
    "name": "web",
    "group": None,
    "app": "hello",
    "user": "admin",
    "tags": {},
    "public_ip": False,
    "subnet_id": None,
    "volume_type": "gp3",
    "encrypt_root_volume": True,
    "kms_key_id": None,
    "volume_size": None,
    "instance_type": "t3.micro",
    "metadata_http_tokens": "required",
    "key_name": None,
    "user_data": None,
    "iam_instance_profile": None,
}
IMAGE = {
    "ImageId": "ami-1",
    "RootDeviceName": "/dev/xvda",
    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
}


def inst(iid, minutes=0, state="running", tags=None):
    return {
        "InstanceId": iid,
        "LaunchTime": T0 + datetime.timedelta(minutes=minutes),
        "State": {"Name": state},
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }


@pytest.mark.parametrize(
    ("ages", "count", "launch", "terminate"),
    [
        ({}, 5, 5, []),
        ({"i-a": 0, "i-b": 1}, 2, 0, []),
        ({"i-a": 0, "i-b": 1}, 5, 3, []),
        ({"i-new": 9, "i-old": 0, "i-mid": 5}, 1, 0, ["i-old", "i-mid"]),
        ({"i-b": 0, "i-a": 0, "i-c": 0}, 1, 0, ["i-a", "i-b"]),  # same launch: by id, deterministic
        ({"i-a": 0, "i-b": 1}, 0, 0, ["i-a", "i-b"]),
    ],
)
def test_plan_count_terminates_oldest_first(ages, count, launch, terminate):
    instances = [inst(iid, minutes) for iid, minutes in ages.items()]
    assert ec2_host.plan_count(instances, count) == (launch, terminate)


def test_plan_power():
    instances = [inst("i-1", state="stopped"), inst("i-2"), inst("i-3", state="pending")]
    assert ec2_host.plan_power(instances, "running") == (["i-1"], [])
    assert ec2_host.plan_power(instances, "stopped") == ([], ["i-2", "i-3"])
    assert ec2_host.plan_power(instances, "present") == ([], [])


def test_wanted_tags_identity_wins_and_plan_tags():
    params = dict(BASE, tags={"team": "a", "flaskfleet.app": "other"})
    wanted = ec2_host.wanted_tags(params)
    assert wanted == {
        "Name": "web",
        "team": "a",
        "flaskfleet.app": "hello",
        "flaskfleet.group": "web",
        "flaskfleet.name": "web",
        "flaskfleet.managed": "true",
        "flaskfleet.user": "admin",
    }
    assert ec2_host.plan_tags([inst("i-1", tags=wanted), inst("i-2", tags={"Name": "web"})], wanted) == ["i-2"]


def test_launch_request_is_one_call_with_secure_defaults():
    request = ec2_host.launch_request(BASE, IMAGE, 5, ["sg-1"], "token")
    assert request["MinCount"] == request["MaxCount"] == 5
    assert request["ClientToken"] == "token"
    assert request["MetadataOptions"]["HttpTokens"] == "required"
    assert request["NetworkInterfaces"] == [
        {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "DeleteOnTermination": True, "Groups": ["sg-1"]}
    ]
    [mapping] = request["BlockDeviceMappings"]
    assert mapping == {
        "DeviceName": "/dev/xvda",
        "Ebs": {"DeleteOnTermination": True, "VolumeType": "gp3", "Encrypted": True, "VolumeSize": 8},
    }
    assert {t["Key"] for t in request["TagSpecifications"][0]["Tags"]} >= {"flaskfleet.managed", "Name"}
    assert "KeyName" not in request and "UserData" not in request


def test_launch_request_opt_outs_are_explicit():
    params = dict(
        BASE,
        public_ip=True,
        encrypt_root_volume=False,
        metadata_http_tokens="optional",
        volume_size=30,
        key_name="k",
        subnet_id="subnet-1",
        user_data="#cloud-config",
        iam_instance_profile="arn:aws:iam::1:instance-profile/x",
    )
    request = ec2_host.launch_request(params, IMAGE, 1, [], "t")
    assert request["MetadataOptions"]["HttpTokens"] == "optional"
    assert request["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is True
    assert request["NetworkInterfaces"][0]["SubnetId"] == "subnet-1"
    assert "Encrypted" not in request["BlockDeviceMappings"][0]["Ebs"]
    assert request["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 30
    assert request["IamInstanceProfile"] == {"Arn": "arn:aws:iam::1:instance-profile/x"}
    assert request["KeyName"] == "k" and request["UserData"] == "#cloud-config"


def test_newest_image():
    images = [{"ImageId": "a", "CreationDate": "2024-01-01"}, {"ImageId": "b", "CreationDate": "2025-02-01"}]
    assert ec2_host.newest_image(images)["ImageId"] == "b"
    assert ec2_host.newest_image([]) is None


def test_diff_lists_launches_and_terminations():
    diff = ec2_host.Ec2Hosts.diff([inst("i-1"), inst("i-2")], 1, ["i-1"], [], [])
    assert diff["before"] == {"count": 2, "instances": {"i-1": "running", "i-2": "running"}}
    assert diff["after"] == {"count": 2, "instances": {"i-2": "running", "new-1": "running"}}


def run_module(args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        ec2_host.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"count": 1.5}, "count"),
        ({"count": -1}, "count must be 0 or more, got -1"),
        ({"volume_size": 0}, "volume_size must be at least 1"),
        ({"image_id": None}, "state is present but any of the following are missing: image_id, image"),
        ({"image": {"owner": "amazon", "name": "x"}}, "parameters are mutually exclusive: image_id|image"),
        ({"region": "moon-1"}, "'moon-1' is not an AWS region name"),
    ],
)
def test_bad_arguments_fail_before_any_api_call(args, message, capsys, monkeypatch):
    # An endpoint nobody listens on: reaching the API would give another message.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNITTESTKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-test-secret-access-key")
    base = {"name": "web", "image_id": "ami-1", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}
    result = run_module({k: v for k, v in dict(base, **args).items() if v is not None}, capsys)
    assert result["failed"] is True
    assert message in result["msg"] and "\n" not in result["msg"]


@pytest.fixture
def ssh_like_server():
    """A TCP server on 127.0.0.1 that greets like sshd; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_wait_for_ssh_needs_an_ssh_banner(ssh_like_server):
    instance = {"InstanceId": "i-1", "PrivateIpAddress": "127.0.0.1"}
    ec2_host.wait_for_ssh([instance], ssh_like_server, time.time() + 10)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ec2_host.AWSError, match=r"timed out waiting for SSH on port \d+ of i-1 \(127.0.0.1\)"):
        ec2_host.wait_for_ssh([instance], port, time.time() + 1)
