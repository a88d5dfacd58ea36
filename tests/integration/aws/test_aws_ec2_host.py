"""ec2_host against moto_server through ansible-playbook and the installed collection."""

from __future__ import annotations

import pytest
from awsfake import live_instances

pytestmark = pytest.mark.aws


def host_task(name, ami, **options):
    """An ec2_host task for ``name`` (group web, app t-aws)."""
    args = {"name": name, "group": "web", "app": "t-aws", "image_id": ami, **options}
    return {"name": "hosts", "flaskfleet.cloud.ec2_host": args, "register": "result"}


def test_exact_count_launch_idempotent_scale_down_absent(play, proxy, ec2, ami, name):
    """5 hosts in ONE RunInstances (changed), again unchanged, 3 terminates the 2 oldest, absent leaves none."""
    proxy.reset()
    proc, [first] = play([host_task(name, ami, count=5)], endpoint=proxy.url)
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True
    assert len(first["launched"]) == 5 and len(first["instances"]) == 5
    assert proxy.count("RunInstances") == 1
    assert len(live_instances(ec2, name)) == 5

    proc, [second] = play([host_task(name, ami, count=5)])
    assert proc.returncode == 0 and second["changed"] is False
    assert second["launched"] == [] and second["terminated"] == []

    before = sorted(live_instances(ec2, name), key=lambda i: (i["LaunchTime"], i["InstanceId"]))
    proc, [third] = play([host_task(name, ami, count=3)])
    assert proc.returncode == 0 and third["changed"] is True
    assert third["terminated"] == [i["InstanceId"] for i in before[:2]]
    assert sorted(i["InstanceId"] for i in live_instances(ec2, name)) == sorted(i["InstanceId"] for i in before[2:])

    proc, [fourth] = play([host_task(name, ami, state="absent")])
    assert proc.returncode == 0 and fourth["changed"] is True and len(fourth["terminated"]) == 3
    assert live_instances(ec2, name) == []


def test_secure_defaults_and_explicit_opt_out(play, ec2, ami, name):
    """IMDSv2 required, encrypted root volume, no public IP by default; each can be turned off."""
    proc, [secure, relaxed] = play(
        [
            host_task(name, ami, count=1),
            host_task(
                name + "-relaxed",
                ami,
                count=1,
                metadata_http_tokens="optional",
                encrypt_root_volume=False,
                public_ip=True,
            ),
        ]
    )
    assert proc.returncode == 0, proc.stdout
    assert secure["instances"][0]["metadata_http_tokens"] == "required"
    assert relaxed["instances"][0]["metadata_http_tokens"] == "optional"
    [instance] = live_instances(ec2, name)
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert "PublicIpAddress" not in instance
    volume_id = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Encrypted"] is True

    [other] = live_instances(ec2, name + "-relaxed")
    assert other["MetadataOptions"]["HttpTokens"] == "optional"
    assert other.get("PublicIpAddress")
    volume_id = other["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Encrypted"] is False


def test_check_mode_and_diff_launch_nothing(play, ec2, ami, name):
    """--check --diff reports what would launch and terminate, and moto stays untouched."""
    proc, [result] = play([host_task(name, ami, count=2)], check=True, diff=True)
    assert proc.returncode == 0 and result["changed"] is True
    assert result["launched"] == ["new-1", "new-2"]
    assert result["diff"]["before"]["count"] == 0 and result["diff"]["after"]["count"] == 2
    assert live_instances(ec2, name) == []

    play([host_task(name, ami, count=2)])
    proc, [result] = play([host_task(name, ami, count=1)], check=True, diff=True)
    assert result["changed"] is True and len(result["terminated"]) == 1
    assert result["diff"]["after"]["count"] == 1
    assert len(live_instances(ec2, name)) == 2
    play([host_task(name, ami, state="absent")])


def test_api_calls_do_not_grow_with_count(play, proxy, ami, name, figure):
    """Provisioning 20 hosts costs the same EC2 calls as 1 host (give or take a wait poll)."""
    calls = {}
    for count in (1, 20):
        proxy.reset()
        proc, [result] = play([host_task(f"{name}-{count}", ami, count=count)], endpoint=proxy.url)
        assert proc.returncode == 0 and len(result["launched"]) == count
        calls[count] = (proxy.count(), proxy.count("RunInstances"), list(proxy.actions))
    figure(f"EC2 API calls: 1 host -> {calls[1][2]}; 20 hosts -> {calls[20][2]}")
    assert calls[1][1] == calls[20][1] == 1
    assert abs(calls[20][0] - calls[1][0]) <= 2
    for count in (1, 20):
        proxy.reset()
        play([host_task(f"{name}-{count}", ami, state="absent")], endpoint=proxy.url)
        assert proxy.count("TerminateInstances") == 1


def test_running_and_stopped_states(play, ec2, ami, name):
    """state=stopped stops the hosts, state=running starts them again; both idempotent."""
    play([host_task(name, ami, count=2)])
    proc, [stopped] = play([host_task(name, ami, count=2, state="stopped")])
    assert proc.returncode == 0 and len(stopped["stopped"]) == 2
    assert {i["State"]["Name"] for i in live_instances(ec2, name)} == {"stopped"}
    proc, [running, again] = play([host_task(name, ami, count=2, state="running")] * 2)
    assert len(running["started"]) == 2 and again["changed"] is False
    assert {i["State"]["Name"] for i in live_instances(ec2, name)} == {"running"}
    play([host_task(name, ami, state="absent")])


def test_image_filter_picks_newest(play, ec2, name):
    """``image`` (owner + name pattern) launches the newest matching AMI."""
    images = ec2.describe_images(Owners=["099720109477"], Filters=[{"Name": "name", "Values": ["ubuntu/*"]}])
    newest = max(images["Images"], key=lambda i: i["CreationDate"])
    task = host_task(name, None, count=1, image={"owner": "099720109477", "name": "ubuntu/*"})
    del task["flaskfleet.cloud.ec2_host"]["image_id"]
    proc, [first, second] = play([task, task])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and second["changed"] is False
    assert live_instances(ec2, name)[0]["ImageId"] == newest["ImageId"]
    play([host_task(name, "ami-unused", state="absent")])
