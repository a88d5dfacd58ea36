"""Bad input to the AWS modules: one clear line naming the cause, exit status 2, nothing launched."""

from __future__ import annotations

import pytest
from awsfake import free_port, live_instances

pytestmark = pytest.mark.aws


def assert_one_line_failure(proc, result, *fragments):
    """The task failed with a one-line message holding ``fragments`` and no Python traceback."""
    assert proc.returncode == 2, proc.stdout
    assert result.get("failed") is True
    message = result["msg"]
    assert "\n" not in message, message
    assert "Traceback" not in proc.stdout + proc.stderr
    for fragment in fragments:
        assert fragment in message, message


def host(name, ami, **options):
    return {"flaskfleet.cloud.ec2_host": {"name": name, "image_id": ami, "count": 2, **options}}


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"image_id": "ami-00000000deadbeef"}, ["InvalidAMIID", "check image_id and region"]),
        ({"instance_type": "t9.bogus"}, ["InvalidInstanceType", "t9.bogus", "check instance_type"]),
        ({"count": 1.5}, ["count", "int"]),
        ({"count": -1}, ["count must be 0 or more"]),
        ({"region": "nowhere"}, ["'nowhere' is not an AWS region name", "fix region"]),
        ({"image": {"owner": "amazon", "name": "no-such-image-*"}}, ["found no an image named no-such-image-*"]),
        ({"security_groups": ["t-aws-missing-group"]}, ["t-aws-missing-group does not exist"]),
        ({"state": "sideways"}, ["state", "present, running, stopped, absent"]),
        ({"image_id": None}, ["image_id", "image"]),
    ],
    ids=[
        "unknown-ami",
        "bad-instance-type",
        "count-1.5",
        "count-negative",
        "bad-region",
        "no-image-match",
        "missing-security-group",
        "bad-state",
        "no-image",
    ],
)
def test_ec2_host_bad_input(play, ec2, ami, name, options, fragments):
    task = host(name, ami, **options)
    if options.get("image") or options.get("image_id", "") is None:
        del task["flaskfleet.cloud.ec2_host"]["image_id"]
    proc, [result] = play([task])
    assert_one_line_failure(proc, result, *fragments)
    assert live_instances(ec2, name) == []


def test_missing_credentials(play, ec2, ami, name):
    proc, [result] = play([host(name, ami)], extra_env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert_one_line_failure(proc, result, "no AWS credentials found", "aws_access_key_id")
    assert live_instances(ec2, name) == []


def test_unreachable_endpoint_fails_fast(play, ec2, ami, name):
    proc, [result] = play([host(name, ami)], endpoint=f"http://127.0.0.1:{free_port()}")
    assert_one_line_failure(proc, result, "cannot reach the AWS endpoint", "check endpoint_url")
    assert live_instances(ec2, name) == []


@pytest.mark.parametrize(
    ("rules", "extra", "fragments"),
    [
        ([{"ports": [22], "cidr_ip": ["0.0.0.0/0"]}], {}, ["refusing to open SSH", "allow_world_ssh: true"]),
        ([{"proto": "all", "cidr_ipv6": ["::/0"]}], {}, ["refusing to open SSH", "all ports from ::/0"]),
        ([{"ports": ["20-30"], "cidr_ip": ["0.0.0.0/0"]}], {}, ["refusing to open SSH", "tcp 20-30"]),
        ([{"ports": [80], "cidr_ip": ["10.0.0.300/8"]}], {}, ["'10.0.0.300/8' is not an IPv4 network"]),
        ([{"ports": [80], "cidr_ip": ["::/0"]}], {}, ["is an IPv6 network: put it in cidr_ipv6"]),
        ([{"ports": ["90-80"], "cidr_ip": ["10.0.0.0/8"]}], {}, ["'90-80' must be within 0-65535"]),
        ([{"ports": ["http"], "cidr_ip": ["10.0.0.0/8"]}], {}, ["'http' is not a number"]),
        ([{"ports": [80]}], {}, ["rule 1 has no source"]),
        ([{"cidr_ip": ["10.0.0.0/8"]}], {}, ["rule 1 (tcp) needs ports"]),
        ([{"ports": [80], "source_groups": ["t-aws-nope"]}], {}, ["source group t-aws-nope does not exist"]),
    ],
    ids=[
        "world-ssh",
        "world-all-v6",
        "world-range",
        "bad-cidr",
        "v6-in-v4",
        "reversed-range",
        "port-name",
        "no-source",
        "no-ports",
        "missing-source-group",
    ],
)
def test_ec2_firewall_bad_input(play, ec2, name, rules, extra, fragments):
    proc, [result] = play([{"flaskfleet.cloud.ec2_firewall": {"name": name, "rules": rules, **extra}}])
    assert_one_line_failure(proc, result, *fragments)
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    assert groups == []


@pytest.mark.parametrize(
    ("key", "fragments"),
    [
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", ["EC2 imports only ssh-ed25519 and ssh-rsa keys, not ssh-dss"]),
        ("ssh-ed25519 !!!notbase64", ["not valid base64"]),
        ("just-one-word", ["expected one line like"]),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQ==", ["truncated key data"]),
        (
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB",
            ["the key data says ssh-ed25519, the line says ssh-rsa"],
        ),
    ],
    ids=["dsa", "bad-base64", "one-word", "truncated", "type-mismatch"],
)
def test_ec2_keypair_bad_key(play, ec2, name, key, fragments):
    proc, [result] = play([{"flaskfleet.cloud.ec2_keypair": {"name": name, "public_key": key}}])
    assert_one_line_failure(proc, result, "public_key is not a usable SSH public key", *fragments)
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"] == []


def test_ec2_keypair_missing_file(play, name, tmp_path):
    proc, [result] = play(
        [{"flaskfleet.cloud.ec2_keypair": {"name": name, "public_key_path": str(tmp_path / "no.pub")}}]
    )
    assert_one_line_failure(proc, result, "cannot read public_key_path", "No such file")
