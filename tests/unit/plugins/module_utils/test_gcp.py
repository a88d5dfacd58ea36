"""Unit tests for module_utils/_gcp.py (labels, credentials, error mapping, operation wait) and fleet_gcp.py."""

from __future__ import annotations

import pytest
import requests
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _gcp as gcp
from ansible_collections.flaskfleet.cloud.plugins.plugin_utils import _fleet_gcp as fleet_gcp
from google.api_core import exceptions as api_exceptions
from google.cloud import compute_v1


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("hello", "hello"),
        ("Web.Tier", "web-tier"),
        ("app_1-x", "app_1-x"),
        ("ünïcode app", "-n-code-app"),
        ("x" * 80, "x" * 63),
    ],
)
def test_label_value_is_always_valid(text, label):
    assert gcp.label_value(text) == label
    assert gcp.LABEL_VALUE_RE.match(label)


def test_label_keys_of_our_tags_are_valid():
    for key in (gcp.LABEL_MANAGED, gcp.LABEL_APP, gcp.LABEL_GROUP, gcp.LABEL_NAME, gcp.LABEL_USER):
        assert gcp.LABEL_KEY_RE.match(key)
    assert gcp.label_key("flaskfleet.app") == "flaskfleet-app"
    with pytest.raises(ValueError, match="must start with a letter"):
        gcp.label_key("1abc")


def api_error(cls, message, reason):
    return cls(message, errors=[{"message": message, "domain": "global", "reason": reason}])


@pytest.mark.parametrize(
    ("exc", "fragments"),
    [
        (
            api_error(api_exceptions.NotFound, "The resource 'projects/p/zones/xx-yy1-z' was not found", "notFound"),
            ["HTTP 404 notFound", "the zone does not exist"],
        ),
        (
            api_error(api_exceptions.Forbidden, "Quota 'CPUS' exceeded. Limit: 8.0", "quotaExceeded"),
            ["HTTP 403 quotaExceeded", "raise the quota"],
        ),
        (
            api_error(api_exceptions.Forbidden, "Required 'compute.instances.create' permission", "forbidden"),
            ["refused the credentials or the permission"],
        ),
        (
            api_error(api_exceptions.TooManyRequests, "Rate Limit Exceeded", "rateLimitExceeded"),
            ["kept throttling"],
        ),
        (requests.exceptions.ConnectionError("refused"), ["cannot reach the Google Cloud endpoint", "api_endpoint"]),
    ],
)
def test_explain_gives_one_line_with_advice(exc, fragments):
    text = gcp.explain(exc, "create the instances")
    assert "\n" not in text and text.startswith(("create the instances failed", "cannot reach"))
    for fragment in fragments:
        assert fragment in text, text


def test_retry_policy_retries_only_throttling_and_5xx():
    policy = gcp.retry_policy(5)
    assert policy._predicate(api_exceptions.TooManyRequests("x"))
    assert policy._predicate(api_exceptions.ServiceUnavailable("x"))
    assert not policy._predicate(api_exceptions.NotFound("x"))
    assert not policy._predicate(api_exceptions.Forbidden("x"))


def test_check_zone():
    gcp.check_zone("europe-west1-b")
    with pytest.raises(gcp.GCPError, match="is not a GCE zone name"):
        gcp.check_zone("europe-west1")
    with pytest.raises(gcp.GCPError, match="no GCE zone given"):
        gcp.check_zone(None)


def test_credentials_kinds(monkeypatch, tmp_path):
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(gcp.GCPError, match="only works with api_endpoint"):
        gcp.load_credentials({"auth_kind": "anonymous"})
    with pytest.raises(gcp.GCPError, match="needs service_account_file"):
        gcp.load_credentials({"auth_kind": "serviceaccount"})
    with pytest.raises(gcp.GCPError, match="no usable Google Cloud credentials"):
        gcp.load_credentials({})
    with pytest.raises(gcp.GCPError, match="service-account key is not usable"):
        gcp.load_credentials({"service_account_contents": '{"type": "service_account"}'})
    with pytest.raises(gcp.GCPError, match="no Google Cloud project given"):
        gcp.ComputeClients({"auth_kind": "anonymous", "api_endpoint": "http://127.0.0.1:9"})


def test_operation_errors_are_explained():
    operation = compute_v1.Operation(
        name="operation-1",
        status=compute_v1.Operation.Status.DONE,
        error=compute_v1.Error(errors=[compute_v1.Errors(code="QUOTA_EXCEEDED", message="Quota 'CPUS' exceeded.")]),
    )
    with pytest.raises(gcp.GCPError, match=r"create the instances failed: QUOTA_EXCEEDED.*raise the quota"):
        gcp.wait_operation(None, operation, 0, "create the instances")
    done = compute_v1.Operation(name="operation-2", status=compute_v1.Operation.Status.DONE)
    assert gcp.wait_operation(None, done, 0, "x") is done


def test_label_filter():
    assert gcp.label_filter({"b": "2", "a": "1"}) == '(labels.a = "1") AND (labels.b = "2")'


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"zones": "europe-west1-b"}, "must be a list"),
        ({"region": "x"}, "unknown option 'region' for provider gcp"),
        ({"auth_kind": "magic"}, "auth_kind of provider gcp must be"),
    ],
)
def test_fleet_gcp_bad_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        fleet_gcp.check_options({"type": "gcp", **entry})


def test_fleet_gcp_unique_names():
    summaries = [
        {"name": "web-1", "zone": "europe-west1-b", "id": "1"},
        {"name": "web-1", "zone": "europe-west1-c", "id": "2"},
        {"name": "web-2", "zone": "europe-west1-b", "id": "3"},
    ]
    assert fleet_gcp.unique_names(summaries) == ["web-1_europe-west1-b", "web-1_europe-west1-c", "web-2"]
