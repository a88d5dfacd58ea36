"""Unit tests for module_utils/_aws.py (client factory, retries, error mapping) and fleet_ec2.py."""

from __future__ import annotations

import datetime
import socket

import botocore.exceptions
import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _aws as aws
from ansible_collections.flaskfleet.cloud.plugins.plugin_utils import _fleet_ec2 as fleet_ec2


def client_error(code: str, message: str = "boom", operation: str = "RunInstances"):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.fixture
def no_aws_env(monkeypatch, tmp_path):
    """No credentials anywhere, and no probing of the instance metadata service."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("AuthFailure"), "(AWS refused the credentials or the permission"),
        (client_error("UnauthorizedOperation"), "check the key pair/profile and its IAM policy"),
        (client_error("RequestLimitExceeded"), "run with fewer forks or raise max_attempts"),
        (client_error("InvalidAMIID.NotFound"), "check image_id and region"),
        (client_error("InstanceLimitExceeded"), "lower count"),
        (client_error("InvalidInstanceType"), "check instance_type"),
        (client_error("InvalidParameterValue", "Invalid instance type: x"), "check instance_type"),
        (client_error("InvalidKeyPair.NotFound"), "create it with flaskfleet.cloud.ec2_keypair"),
        (client_error("InvalidKeyPair.Format"), "use an ssh-ed25519 or ssh-rsa key"),
        (client_error("DependencyViolation"), "remove what uses it first"),
        (botocore.exceptions.NoCredentialsError(), "no usable AWS credentials"),
        (botocore.exceptions.NoRegionError(), "set region"),
        (botocore.exceptions.ProfileNotFound(profile="nope"), "check profile/AWS_PROFILE"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), "check endpoint_url, region"),
    ],
)
def test_explain_gives_one_actionable_line(exc, expected):
    message = aws.explain(exc, "launch the instances")
    assert expected in message
    assert "\n" not in message


def test_explain_unknown_code_keeps_code_and_message():
    message = aws.explain(client_error("SomethingNew", "details\nacross lines"), "tag instances")
    assert message == "tag instances failed: SomethingNew: details across lines"


def test_error_handler_turns_botocore_errors_into_awserror():
    @aws.aws_error_handler("describe things")
    def failing():
        raise client_error("AuthFailure")

    with pytest.raises(aws.AWSError) as info:
        failing()
    assert str(info.value).startswith("describe things failed: AuthFailure: boom")
    assert info.value.code == "AuthFailure"


def test_retry_not_found_retries_only_listed_codes(monkeypatch):
    monkeypatch.setattr(aws.time, "sleep", lambda _seconds: None)
    calls = []

    @aws.retry_not_found(("InvalidInstanceID.NotFound",), attempts=3)
    def eventually():
        calls.append(1)
        if len(calls) < 3:
            raise client_error("InvalidInstanceID.NotFound")
        return "found"

    assert eventually() == "found" and len(calls) == 3

    @aws.retry_not_found(("InvalidInstanceID.NotFound",), attempts=3)
    def denied():
        calls.append(2)
        raise client_error("AuthFailure")

    with pytest.raises(botocore.exceptions.ClientError):
        denied()
    assert calls.count(2) == 1


def test_none_if_missing():
    @aws.none_if_missing("InvalidKeyPair.NotFound")
    def lookup(code):
        raise client_error(code)

    assert lookup("InvalidKeyPair.NotFound") is None
    with pytest.raises(botocore.exceptions.ClientError):
        lookup("AuthFailure")


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"])
def test_check_region_accepts_region_names(region):
    aws.check_region(region)


@pytest.mark.parametrize("region", ["", None, "nowhere", "US-EAST-1", "us-east", "us_east_1"])
def test_check_region_rejects_typos(region):
    with pytest.raises(aws.AWSError):
        aws.check_region(region)


def test_create_client_uses_standard_retries_and_endpoint():
    params = {"aws_access_key_id": "a", "aws_secret_access_key": "b", "region": "eu-west-1", "max_attempts": 4}
    client = aws.create_client("ec2", dict(params, endpoint_url="http://127.0.0.1:9"))
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-1"


def test_create_client_without_credentials_says_what_to_set(no_aws_env):
    with pytest.raises(aws.AWSError, match="no AWS credentials found: set aws_access_key_id"):
        aws.create_client("ec2", {"region": "us-east-1"})


def test_unknown_profile_is_explained(no_aws_env):
    with pytest.raises(aws.AWSError, match="check profile/AWS_PROFILE"):
        aws.create_client("ec2", {"region": "us-east-1", "profile": "nope"})


def test_unreachable_endpoint_gives_up_after_three_attempts():
    """A closed port: botocore would retry max_attempts times; we stop after CONNECT_ATTEMPTS."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    params = {"aws_access_key_id": "a", "aws_secret_access_key": "b", "region": "us-east-1", "max_attempts": 10}
    client = aws.create_client("ec2", dict(params, endpoint_url="http://127.0.0.1:%d" % port))
    sent = []
    client.meta.events.register("before-send.ec2", lambda **kw: sent.append(1))
    with pytest.raises(aws.AWSError, match="cannot reach the AWS endpoint"):
        aws.describe_instances(client)
    assert len(sent) == aws.CONNECT_ATTEMPTS


def test_tags_and_filters_conversions():
    assert aws.tags_to_dict([{"Key": "a", "Value": "1"}, {"Key": "b"}]) == {"a": "1", "b": ""}
    assert aws.dict_to_tags({"b": 2, "a": "1"}) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert aws.to_filters({"tag:x": "y", "state": ["a", "b"]}) == [
        {"Name": "state", "Values": ["a", "b"]},
        {"Name": "tag:x", "Values": ["y"]},
    ]


def instance(iid="i-1", public=None, private="10.0.0.5", tags=None, groups_on_interface=False):
    data = {
        "InstanceId": iid,
        "State": {"Name": "running"},
        "LaunchTime": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
        "PrivateIpAddress": private,
        "PrivateDnsName": "ip-10-0-0-5.ec2.internal",
        "PublicDnsName": "",
        "MetadataOptions": {"HttpTokens": "required"},
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if public:
        data["PublicIpAddress"] = public
    group = [{"GroupId": "sg-1", "GroupName": "web"}]
    if groups_on_interface:
        data["NetworkInterfaces"] = [{"Groups": group}]
    else:
        data["SecurityGroups"] = group
    return data


def test_summarize_instance():
    summary = aws.summarize_instance(instance(tags={"Name": "web"}, groups_on_interface=True))
    assert summary["instance_id"] == "i-1" and summary["state"] == "running"
    assert summary["launch_time"] == "2025-01-01T00:00:00+00:00"
    assert summary["public_dns_name"] is None and summary["security_groups"] == ["sg-1"]
    assert summary["tags"] == {"Name": "web"} and summary["metadata_http_tokens"] == "required"


# --- fleet_ec2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": "ec2", "colour": "x"}, "unknown option 'colour' for provider ec2"),
        ({"type": "ec2", "regions": "us-east-1"}, "option 'regions' of provider ec2 must be a list"),
        ({"type": "ec2", "hostnames": ["ipv9"]}, "hostnames entry 'ipv9' is not one of"),
    ],
)
def test_fleet_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        fleet_ec2.check_options(options)


def test_fleet_regions_fall_back_to_environment(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ValueError, match="provider ec2 needs regions"):
        fleet_ec2.regions_of({})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert fleet_ec2.regions_of({}) == ["eu-west-3"]
    assert fleet_ec2.regions_of({"regions": ["us-east-1", "us-west-2"]}) == ["us-east-1", "us-west-2"]


def test_fleet_filters_default_to_running_managed_hosts():
    assert fleet_ec2.instance_filters({"filters": {"tag:flaskfleet.app": "hello"}}) == {
        "instance-state-name": ["pending", "running"],
        "tag:flaskfleet.managed": "true",
        "tag:flaskfleet.app": "hello",
    }
    assert "tag:flaskfleet.managed" not in fleet_ec2.instance_filters({"managed_only": False})


def test_fleet_hostnames_preference_and_uniqueness():
    summaries = [
        aws.summarize_instance(instance("i-1", tags={"Name": "web"})),
        aws.summarize_instance(instance("i-2", public="203.0.113.9", tags={"Name": "web"})),
        aws.summarize_instance(instance("i-3", tags={"Name": "db"})),
    ]
    assert fleet_ec2.unique_names(summaries, ["tag:Name"]) == ["web_i-1", "web_i-2", "db"]
    assert fleet_ec2.unique_names(summaries, ["public-ip", "instance-id"]) == ["i-1", "203.0.113.9", "i-3"]
    assert fleet_ec2.unique_names(summaries, ["dns-name"]) == ["i-1", "i-2", "i-3"]


def test_fleet_host_entry_has_the_contract_vars():
    tags = {"flaskfleet.app": "hello", "flaskfleet.group": "web", "flaskfleet.user": "debian"}
    summary = aws.summarize_instance(instance(public="203.0.113.9", tags=tags))
    host = fleet_ec2.host_entry("web-a", summary, "eu-west-1", {})
    assert host["address"] == "203.0.113.9" and host["port"] == 22 and host["user"] == "debian"
    assert (host["provider"], host["app"], host["group"]) == ("ec2", "hello", "web")
    assert host["vars"]["ec2_instance_id"] == "i-1" and host["vars"]["ec2_region"] == "eu-west-1"
    assert host["vars"]["ec2_tags"] == tags
    private = fleet_ec2.host_entry("web-a", summary, "eu-west-1", {"use_private_ip": True, "user": "admin"})
    assert private["address"] == "10.0.0.5" and private["user"] == "admin"
