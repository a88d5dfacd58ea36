"""Bad input to gce_host: one clear line naming the cause, exit status 2, nothing created."""

from __future__ import annotations

import socket

import pytest
from gcefake import Fault

pytestmark = pytest.mark.gcp


def assert_one_line_failure(proc, result, *fragments):
    """The task failed with a one-line message holding ``fragments`` and no Python traceback."""
    assert proc.returncode == 2, proc.stdout
    assert result.get("failed") is True
    message = result["msg"]
    assert "\n" not in message, message
    assert "Traceback" not in proc.stdout + proc.stderr
    for fragment in fragments:
        assert fragment in message, message


def host(host_name, **options):
    return {"flaskfleet.cloud.gce_host": {"name": host_name, "count": 2, **options}}


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"zone": "mars-north1-a"}, ["HTTP 404", "mars-north1-a", "the zone does not exist"]),
        ({"zone": "nowhere"}, ["'nowhere' is not a GCE zone name", "fix zone"]),
        ({"image": "projects/debian-cloud/global/images/family/debian-99"}, ["does not exist", "check image"]),
        ({"image": "projects/debian-cloud/global/images/no-such-image"}, ["no-such-image does not exist"]),
        ({"image": "debian 12!"}, ["is not an image path"]),
        ({"count": -1}, ["count must be 0 or more"]),
        ({"name": "Web_1"}, ["is not usable for GCE instances"]),
        ({"ssh_cidrs": ["0.0.0.0/0"]}, ["refusing to open SSH to the whole internet", "allow_world_ssh"]),
        ({"labels": {"Team": "x"}}, ["is not a valid GCE label"]),
        ({"os_login": True, "ssh_public_key": "ssh-ed25519 AAAA x"}, ["exclude each other"]),
    ],
    ids=[
        "unknown-zone",
        "bad-zone-name",
        "unknown-image-family",
        "unknown-image",
        "bad-image-path",
        "count-negative",
        "bad-name",
        "world-ssh",
        "bad-label",
        "oslogin-and-key",
    ],
)
def test_gce_host_bad_input(play, gce, name, options, fragments):
    gce.reset()
    proc, [result] = play([host(name, **options)])
    assert_one_line_failure(proc, result, *fragments)
    assert gce.instances(name) == [] and gce.mutating() == []


def test_quota_exceeded(play, gce, name):
    """A quota error from bulkInsert names the quota and what to do; nothing is created."""
    message = "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1."
    gce.reset(Fault(403, "instances.bulkInsert", message=message, reason="quotaExceeded"))
    proc, [result] = play([host(name, count=20)])
    assert_one_line_failure(proc, result, "create the instances failed", "Quota 'CPUS' exceeded", "raise the quota")
    assert gce.instances(name) == [] and result["created"] == []


def test_quota_exceeded_in_the_operation(play, gce, name):
    """bulkInsert accepted, then its operation ends with QUOTA_EXCEEDED: one line, nothing created."""
    message = "Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 4.0 in region europe-west1."
    fault = Fault(403, "instances.bulkInsert", message=message, operation_error="QUOTA_EXCEEDED")
    gce.reset(fault)
    proc, [result] = play([host(name, count=6)])
    assert_one_line_failure(proc, result, "create the instances failed: QUOTA_EXCEEDED", "IN_USE_ADDRESSES")
    assert "raise the quota" in result["msg"]
    assert gce.instances(name) == [] and result["created"] == []
    assert gce.count("zoneOperations.wait") >= 1


def test_missing_credentials(play, gce, name):
    """Application Default Credentials that are not there: one line saying how to provide them."""
    gce.reset()
    proc, [result] = play([host(name)], extra_env={"GCP_AUTH_KIND": "application"})
    assert_one_line_failure(proc, result, "no usable Google Cloud credentials", "GOOGLE_APPLICATION_CREDENTIALS")
    assert gce.methods() == []


def test_unreadable_service_account_key(play, gce, name, tmp_path):
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account", "private_key": "not a key"}')
    proc, [result] = play([host(name, service_account_file=str(key))], extra_env={"GCP_AUTH_KIND": "serviceaccount"})
    assert_one_line_failure(proc, result, "service-account key is not usable")
    assert "not a key" not in proc.stdout
    assert gce.instances(name) == []


def test_unreachable_endpoint(play, name):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc, [result] = play([host(name)], defaults={"api_endpoint": f"http://127.0.0.1:{port}"})
    assert_one_line_failure(proc, result, "cannot reach the Google Cloud endpoint", "check api_endpoint")


def test_permanent_throttling_gives_up_with_one_line(play, gce, name):
    gce.reset(Fault(429, "instances.list"))
    proc, [result] = play([host(name)], extra_env={"GCP_RETRY_TIMEOUT": "3"})
    assert_one_line_failure(proc, result, "throttling")
    assert gce.mutating() == []
