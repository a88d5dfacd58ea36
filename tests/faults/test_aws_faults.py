"""AWS faults through a proxy in front of moto_server: throttling is retried with backoff and
succeeds; a permanent error fails with its message and leaves no half-created instances."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "aws"))
from awsfake import REGION, AwsProxy, Fault, MotoServer, aws_env, playbook, run, task_results

pytestmark = [pytest.mark.faults, pytest.mark.aws]


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(moto):
    front = AwsProxy(moto.url)
    yield front
    front.close()


@pytest.fixture(scope="module")
def ec2(moto):
    return boto3.client(
        "ec2", region_name=REGION, endpoint_url=moto.url, aws_access_key_id="k", aws_secret_access_key="s"
    )


@pytest.fixture(scope="module")
def ami(ec2):
    return sorted(i["ImageId"] for i in ec2.describe_images(Owners=["099720109477"])["Images"])[0]


@pytest.fixture
def name():
    return f"t-awsfault-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def play(tmp_path, ansible_env, proxy):
    env = aws_env(ansible_env)

    def _play(tasks, **defaults):
        path = playbook(tmp_path / f"{uuid.uuid4().hex[:6]}.yml", proxy.url, tasks, defaults)
        proc = run(["ansible-playbook", "-i", "localhost,", str(path)], env=env)
        return proc, task_results(proc.stdout)

    return _play


def live(ec2, name):
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:flaskfleet.name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def hosts(name, ami, **options):
    return {"flaskfleet.cloud.ec2_host": {"name": name, "image_id": ami, "count": 3, **options}}


def test_throttling_is_retried_and_launches_once(play, proxy, ec2, ami, name, figure):
    """The first calls and the first RunInstances are throttled: the run succeeds, 3 hosts, not 6."""
    proxy.reset(
        Fault("RequestLimitExceeded", status=503, times=2),
        Fault("RequestLimitExceeded", status=503, action="RunInstances", times=2),
    )
    proc, [result] = play([hosts(name, ami)])
    figure(f"injected {proxy.injected} throttling errors; actions: {proxy.actions}")
    assert proc.returncode == 0, proc.stdout
    assert proxy.injected == 4 and proxy.count("RunInstances") == 3
    assert result["changed"] is True and len(result["launched"]) == 3
    assert len(live(ec2, name)) == 3


def test_throttling_without_end_fails_with_advice(play, proxy, ec2, ami, name):
    proxy.reset(Fault("Throttling", status=400))
    proc, [result] = play([hosts(name, ami)], max_attempts=2)
    assert proc.returncode == 2
    assert result["msg"].startswith("describe EC2 instances failed: Throttling")
    assert "AWS kept throttling after all retries: run with fewer forks or raise max_attempts" in result["msg"]
    assert proxy.count() == 2, proxy.actions  # max_attempts honoured
    assert live(ec2, name) == []


def test_permanent_error_on_launch_creates_nothing(play, proxy, ec2, ami, name):
    proxy.reset(Fault("UnauthorizedOperation", status=403, action="RunInstances"))
    proc, [result] = play([hosts(name, ami)])
    assert proc.returncode == 2 and "\n" not in result["msg"]
    assert result["msg"].startswith("launch the instances failed: UnauthorizedOperation")
    assert "check the key pair/profile and its IAM policy" in result["msg"]
    assert proxy.count("RunInstances") == 1  # a permanent error is not retried
    assert live(ec2, name) == [] and result["changed"] is False


def test_permanent_error_after_launch_rolls_back(play, proxy, ec2, ami, name):
    """RunInstances succeeds, then every DescribeInstances is refused: the new hosts are terminated again."""
    proxy.reset(Fault("UnauthorizedOperation", status=403, action="DescribeInstances", after="RunInstances"))
    proc, [result] = play([hosts(name, ami)])
    assert proc.returncode == 2, proc.stdout
    assert "describe EC2 instances failed: UnauthorizedOperation" in result["msg"]
    assert result["msg"].endswith("the 3 instances launched by this run were terminated again")
    assert proxy.count("TerminateInstances") == 1
    assert live(ec2, name) == []


def test_inventory_retries_throttling(tmp_path, ansible_env, proxy, play, ami, name):
    proxy.reset()
    proc, _results = play([hosts(name, ami, count=2)])
    assert proc.returncode == 0, proc.stdout
    proxy.reset(Fault("RequestLimitExceeded", status=503, action="DescribeInstances", times=2))
    config = tmp_path / "aws.fleet.yml"
    entry = {"type": "ec2", "endpoint_url": proxy.url, "filters": {"tag:flaskfleet.name": name}}
    config.write_text(yaml.safe_dump({"plugin": "flaskfleet.cloud.fleet", "providers": [entry]}))
    proc = run(["ansible-inventory", "-i", str(config), "--list"], env=aws_env(ansible_env))
    assert proc.returncode == 0, proc.stderr
    assert proxy.injected == 2 and proxy.count("DescribeInstances") == 3
    assert len(json.loads(proc.stdout)["_meta"]["hostvars"]) == 2
    proxy.reset()
    play([hosts(name, ami, state="absent")])
