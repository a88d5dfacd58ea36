"""Unit tests for module_utils/_azure: one-line error explanations, credentials, VM summaries."""

from __future__ import annotations

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _azure as azure
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.identity import ClientSecretCredential, DefaultAzureCredential


class Detail:
    def __init__(self, code, message, details=()):
        self.code, self.message, self.details = code, message, list(details)


def http_error(code, message, inner=None):
    exc = HttpResponseError(message=message)
    exc.error = Detail(code, message, [inner] if inner else [])
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (http_error("NoRegisteredProviderFound", "No registered resource provider"), "unknown or unavailable location"),
        (http_error("NotFound", "Artifact: VMImage was not found."), "the image does not exist in this location"),
        (
            http_error("DeploymentFailed", "failed", Detail("OperationNotAllowed", "exceeding approved quota")),
            "OperationNotAllowed: exceeding approved quota (a subscription quota or capacity was reached",
        ),
        (http_error("AuthorizationFailed", "no role"), "Azure refused the credentials or the permission"),
        (ClientAuthenticationError("DefaultAzureCredential failed\nmore\nlines"), "no usable Azure credentials"),
        (ServiceRequestError("Connection refused"), "cannot reach the Azure endpoint"),
    ],
)
def test_explain_is_one_line_with_advice(exc, expected):
    text = azure.explain(exc, "create the VMs")
    assert expected in text and "\n" not in text


def test_credentials_explicit_default_and_missing_parts():
    base = {"client_id": "c", "secret": "s", "tenant": "t", "auth_source": "auto", "authority_host": None}
    assert isinstance(azure.create_credential(base), ClientSecretCredential)
    assert isinstance(
        azure.create_credential(dict(base, client_id=None, secret=None, tenant=None)), DefaultAzureCredential
    )
    with pytest.raises(azure.AzureError, match="secret not set"):
        azure.create_credential(dict(base, secret=None))
    with pytest.raises(azure.AzureError, match="client_id, secret, tenant not set"):
        azure.create_credential({"auth_source": "credentials"})
    with pytest.raises(azure.AzureError, match="no Azure subscription given"):
        azure.AzureClients({"subscription_id": None})


def test_client_options_point_scope_at_the_endpoint():
    options = azure.client_options({"base_url": "https://127.0.0.1:9/", "max_attempts": 4})
    assert options["base_url"] == "https://127.0.0.1:9"
    assert options["credential_scopes"] == ["https://127.0.0.1:9/.default"]
    assert options["retry_total"] == 3 and options["retry_connect"] == azure.CONNECT_ATTEMPTS


def test_summarize_vm_with_addresses():
    vm_id = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/web-1"
    vm = {
        "id": vm_id,
        "name": "web-1",
        "location": "westeurope",
        "tags": {"flaskfleet.group": "web"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B1s"},
            "osProfile": {"adminUsername": "azureuser", "linuxConfiguration": {"disablePasswordAuthentication": True}},
            "storageProfile": {
                "imageReference": {"publisher": "Debian", "offer": "o", "sku": "s", "version": "latest"}
            },
            "securityProfile": {"encryptionAtHost": True},
        },
    }
    nic = {
        "properties": {
            "virtualMachine": {"id": vm_id},
            "ipConfigurations": [
                {"properties": {"primary": True, "privateIPAddress": "10.0.0.4", "publicIPAddress": {"id": "PIP"}}}
            ],
        }
    }
    summary = azure.summarize_vm(
        vm, azure.addresses_by_vm([nic], [{"id": "pip", "properties": {"ipAddress": "20.1.2.3"}}])
    )
    assert summary["resource_group"] == "RG" and summary["image"] == "Debian:o:s:latest"
    assert (summary["private_ip_address"], summary["public_ip_address"]) == ("10.0.0.4", "20.1.2.3")
    assert summary["password_authentication"] is False and summary["encryption_at_host"] is True


class Answer:
    """One HTTP answer of the fake resource client below."""

    def __init__(self, document, retry_after=None, status=200):
        self.status_code, self.document = status, document
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}

    def json(self):
        return self.document


class OperationClient:
    """Answers the deployment's operation polls in order and records the polled URLs."""

    def __init__(self, *answers):
        self.answers, self.urls = list(answers), []

    def send_request(self, request):
        self.urls.append((request.method, request.url))
        return self.answers.pop(0)


class Clients:
    def __init__(self, resource):
        self.resource = resource


STARTED = {"name": "web-1a2b", "operation": "https://arm/op/1", "state": "Accepted", "retry_after": 1}


def test_wait_deployment_polls_paced_by_retry_after_until_success():
    client = OperationClient(Answer({"status": "InProgress"}, retry_after=3), Answer({"status": "Succeeded"}))
    sleeps = []
    azure.wait_deployment(Clients(client), STARTED, 10**10, sleep=sleeps.append)
    assert sleeps == [1, 3] and client.urls == [("GET", "https://arm/op/1")] * 2


def test_wait_deployment_failure_names_the_innermost_error_in_one_line():
    error = {
        "code": "DeploymentFailed",
        "message": "At least one resource deployment operation failed.",
        "details": [{"code": "QuotaExceeded", "message": "Operation could not be completed\nas it exceeds quota."}],
    }
    client = OperationClient(Answer({"status": "Failed", "error": error}))
    with pytest.raises(azure.AzureError) as failed:
        azure.wait_deployment(Clients(client), STARTED, 10**10, sleep=lambda s: None)
    assert str(failed.value) == (
        "deployment web-1a2b failed: QuotaExceeded: Operation could not be completed as it exceeds quota. "
        "(a subscription quota or capacity was reached: lower count, use another vm_size or location, "
        "or ask Azure for more)"
    )


def test_wait_deployment_gives_up_at_the_deadline_without_sleeping_past_it():
    client = OperationClient(Answer({"status": "InProgress"}, retry_after=30))
    with pytest.raises(azure.AzureError, match="timed out waiting for deployment web-1a2b: raise wait_timeout"):
        azure.wait_deployment(Clients(client), dict(STARTED, retry_after=30), 0, sleep=lambda s: None)
    assert client.urls == []
