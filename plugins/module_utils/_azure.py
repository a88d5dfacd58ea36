# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure plumbing shared by the flaskfleet Azure module and the fleet inventory plugin.

Private to this collection. One credential/client factory (explicit service principal or
azure-identity's ``DefaultAzureCredential``, an endpoint for Azure Stack or a local fake, the
SDK's retry policy for 429/503 with ``Retry-After``), one error translation (Azure exception ->
one line saying what to do), and a thin module class like ``FleetAWSModule``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _cloud as cloud

try:
    from azure.core.rest import HttpRequest
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.mgmt.core.exceptions import ARMErrorFormat
    from azure.identity import AzureAuthorityHosts, ClientSecretCredential, DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    HAS_AZURE = True
    AZURE_IMPORT_ERROR = None
except ImportError:
    HAS_AZURE = False
    AZURE_IMPORT_ERROR = traceback.format_exc()

DEFAULT_MAX_ATTEMPTS = 10
# A wrong endpoint or no network should fail in seconds, not after the full retry budget.
CONNECT_ATTEMPTS = 2
# Seconds between LRO polls when Azure sends no Retry-After header (it usually does).
POLL_INTERVAL = 5
# Template deployments (Microsoft.Resources/deployments), sent through the resource client's pipeline.
DEPLOYMENTS_API_VERSION = "2024-03-01"

AZURE_COMMON_ARGUMENT_SPEC = dict(
    subscription_id=dict(type="str", fallback=(env_fallback, ["AZURE_SUBSCRIPTION_ID"])),
    client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
    secret=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_SECRET", "AZURE_CLIENT_SECRET"])),
    tenant=dict(type="str", fallback=(env_fallback, ["AZURE_TENANT", "AZURE_TENANT_ID"])),
    auth_source=dict(
        type="str",
        default="auto",
        choices=["auto", "credentials", "default"],
        fallback=(env_fallback, ["ANSIBLE_AZURE_AUTH_SOURCE"]),
    ),
    base_url=dict(type="str", fallback=(env_fallback, ["AZURE_BASE_URL"])),
    authority_host=dict(type="str", fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
    max_attempts=dict(type="int", default=DEFAULT_MAX_ATTEMPTS, fallback=(env_fallback, ["AZURE_MAX_ATTEMPTS"])),
)

CREDENTIAL_HINT = (
    "set client_id, secret and tenant (or AZURE_CLIENT_ID/AZURE_SECRET/AZURE_TENANT), "
    "or sign in with 'az login' or a managed identity and use auth_source auto"
)
LOCATION_CODES = (
    "NoRegisteredProviderFound",
    "LocationNotAvailableForResourceType",
    "InvalidLocation",
    "LocationRequired",
    "LocationNotAvailableForResourceGroup",
)
IMAGE_CODES = ("ImageNotFound", "PlatformImageNotFound", "ArtifactNotFound", "InvalidImageReference")
QUOTA_CODES = ("QuotaExceeded", "OperationNotAllowed", "SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed")
AUTH_CODES = (
    "AuthenticationFailed",
    "InvalidAuthenticationToken",
    "InvalidAuthenticationTokenTenant",
    "AuthorizationFailed",
    "ExpiredAuthenticationToken",
)
SIZE_CODES = ("InvalidVmSize", "VMSizeNotSupported")


class AzureError(cloud.CloudError):
    """A failed Azure call, already explained in one line (``str(err)``)."""


def error_code(exc):
    """The ARM error code of an ``HttpResponseError`` (the innermost detail's when it has one)."""
    error = getattr(exc, "error", None)
    if error is None:
        return ""
    details = getattr(error, "details", None) or []
    for detail in details:
        if getattr(detail, "code", None):
            return detail.code
    return getattr(error, "code", None) or ""


def error_message(exc):
    """The ARM error message of an ``HttpResponseError`` (innermost detail first)."""
    error = getattr(exc, "error", None)
    if error is None:
        return str(getattr(exc, "message", exc))
    for detail in getattr(error, "details", None) or []:
        if getattr(detail, "message", None):
            return detail.message
    return getattr(error, "message", None) or str(exc)


def _http_error_hint(code, message):
    """What the user should do about an ARM error code (``None`` when we have no advice)."""
    lowered = message.lower()
    if code in LOCATION_CODES:
        return "unknown or unavailable location: check location (for example westeurope)"
    if code in IMAGE_CODES or ("image" in lowered and code in ("InvalidParameter", "NotFound", "ResourceNotFound")):
        return "the image does not exist in this location: check image (publisher, offer, sku, version)"
    if code in QUOTA_CODES or "quota" in lowered:
        return (
            "a subscription quota or capacity was reached: lower count, use another vm_size or location, "
            "or ask Azure for more"
        )
    if code in SIZE_CODES:
        return "the VM size does not exist in this location: check vm_size"
    if code in AUTH_CODES:
        return "Azure refused the credentials or the permission: check the service principal and its role"
    if code in ("SubscriptionNotFound", "InvalidSubscriptionId"):
        return "check subscription_id (or AZURE_SUBSCRIPTION_ID)"
    if code in ("TooManyRequests", "RetryableError", "ServerBusy"):
        return "Azure kept throttling after all retries: run with fewer forks or raise max_attempts"
    return None


def explain(exc, action):
    """Turn an azure-core/azure-identity exception raised while doing ``action`` into one line."""
    return cloud.explain_with(exc, action, AzureError, HAS_AZURE, _explain_azure_sdk)


def _explain_azure_sdk(exc, action):
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no credential worked"
        text = "no usable Azure credentials while trying to %s (%s): %s" % (action, first, CREDENTIAL_HINT)
    elif isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        text = "cannot reach the Azure endpoint while trying to %s (%s): check base_url and the network" % (
            action,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
    elif isinstance(exc, HttpResponseError):
        code = error_code(exc) or str(getattr(exc, "status_code", ""))
        message = error_message(exc)
        text = cloud.api_failure(action, code, message, _http_error_hint(code, message))
    else:
        text = None
    return text


# Decorator for tiny API wrappers: Azure errors leave as ``AzureError`` with an explained message.
azure_error_handler = cloud.error_handler(
    AzureError,
    explain,
    lambda: (
        (HttpResponseError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError) if HAS_AZURE else ()
    ),
    error_code,
)


def deployment_error_text(error):
    """``code: message`` of a failed deployment's ARM error document, innermost detail first."""
    error = error or {}
    inner = error
    while inner.get("details"):
        inner = inner["details"][0] or {}
    code = inner.get("code") or error.get("code") or "DeploymentFailed"
    message = inner.get("message") or error.get("message") or "no message"
    hint = _http_error_hint(code, message)
    text = "%s: %s" % (code, message)
    return cloud.one_line("%s (%s)" % (text, hint) if hint else text)


def _raise_for(response):
    """An ``HttpResponseError`` with the ARM error parsed (like the generated clients raise)."""
    if response.status_code >= 400:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)


def _retry_after(response):
    """Seconds the service asks us to wait before the next poll (``POLL_INTERVAL`` when it says nothing)."""
    try:
        return max(0, int(response.headers.get("Retry-After")))
    except (TypeError, ValueError):
        return POLL_INTERVAL


@azure_error_handler("start the template deployment")
def start_deployment(azure, group, name, template, parameters):
    """Start an incremental template deployment in ``group``: one ``PUT``; returns its operation.

    The SDK dropped the deployments operations from azure-mgmt-resource, so the request goes through
    the resource client's ``send_request`` (same credential, retries for 429/503 and endpoint).
    """
    url = "/subscriptions/%s/resourcegroups/%s/providers/Microsoft.Resources/deployments/%s" % (
        quote(azure.params["subscription_id"], safe=""),
        quote(group, safe=""),
        quote(name, safe=""),
    )
    body = {"properties": {"mode": "Incremental", "template": template, "parameters": parameters}}
    request = HttpRequest("PUT", url, params={"api-version": DEPLOYMENTS_API_VERSION}, json=body)
    response = azure.resource.send_request(request)
    _raise_for(response)
    operation = response.headers.get("Azure-AsyncOperation")
    state = ((response.json() or {}).get("properties") or {}).get("provisioningState")
    return {"name": name, "operation": operation, "state": state, "retry_after": _retry_after(response)}


@azure_error_handler("wait for the template deployment")
def wait_deployment(azure, started, deadline, sleep=time.sleep):
    """Poll the deployment's operation (paced by ``Retry-After``) until it ends, whatever it deploys.

    :raises AzureError: when the deployment failed (one line naming the ARM error) or ``deadline`` passed.
    """
    if started["operation"] is None:
        status, error = started["state"] or "Succeeded", None
    else:
        status, error, delay = "InProgress", None, started["retry_after"]
        while status not in ("Succeeded", "Failed", "Canceled"):
            if time.time() + delay > deadline:
                raise AzureError("timed out waiting for deployment %s: raise wait_timeout" % started["name"])
            sleep(delay)
            response = azure.resource.send_request(HttpRequest("GET", started["operation"]))
            _raise_for(response)
            document = response.json() or {}
            status, error, delay = document.get("status"), document.get("error"), _retry_after(response)
    if status != "Succeeded":
        raise AzureError(
            "deployment %s %s: %s" % (started["name"], (status or "failed").lower(), deployment_error_text(error)),
            code=(error or {}).get("code"),
        )


def is_not_found(exc):
    """Does ``exc`` say the thing (or its resource group) does not exist?"""
    return getattr(exc, "status_code", None) == 404


def _authority(params):
    """The authority host, and whether to skip instance discovery (a sovereign or private cloud)."""
    authority = params.get("authority_host") or None
    known = (
        AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
        AzureAuthorityHosts.AZURE_CHINA,
        AzureAuthorityHosts.AZURE_GOVERNMENT,
    )
    custom = bool(authority) and authority.rstrip("/").replace("https://", "") not in [h.rstrip("/") for h in known]
    return authority, custom


def create_credential(params):
    """The credential: an explicit service principal when given, else ``DefaultAzureCredential``.

    :raises AzureError: when ``auth_source=credentials`` and a part of the service principal is missing.
    """
    explicit = [params.get(key) for key in ("client_id", "secret", "tenant")]
    source = params.get("auth_source") or "auto"
    authority, custom = _authority(params)
    options = {"authority": authority} if authority else {}
    if custom:
        options["disable_instance_discovery"] = True
    if source == "credentials" or (source == "auto" and any(explicit)):
        if not all(explicit):
            missing = [k for k in ("client_id", "secret", "tenant") if not params.get(k)]
            raise AzureError("no Azure credentials: %s not set; %s" % (", ".join(missing), CREDENTIAL_HINT))
        return ClientSecretCredential(params["tenant"], params["client_id"], params["secret"], **options)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True, **options)


def client_options(params):
    """Keyword arguments every management client gets: endpoint, retries, polling."""
    options = dict(
        retry_total=max(0, int(params.get("max_attempts") or DEFAULT_MAX_ATTEMPTS) - 1),
        retry_connect=CONNECT_ATTEMPTS,
        retry_backoff_factor=0.5,
        retry_backoff_max=30,
        polling_interval=POLL_INTERVAL,
        user_agent="flaskfleet.cloud",
    )
    if params.get("base_url"):
        base_url = params["base_url"].rstrip("/")
        options["base_url"] = base_url
        options["credential_scopes"] = [base_url + "/.default"]
    return options


class AzureClients:
    """The three management clients, made once on first use (credentials are checked then)."""

    def __init__(self, params):
        if not params.get("subscription_id"):
            raise AzureError("no Azure subscription given: set subscription_id (or AZURE_SUBSCRIPTION_ID)")
        self.params = params
        self._credential = None
        self._clients = {}

    def _make(self, kind):
        if self._credential is None:
            self._credential = create_credential(self.params)
        factory = {
            "compute": ComputeManagementClient,
            "network": NetworkManagementClient,
            "resource": ResourceManagementClient,
        }[kind]
        options = client_options(self.params)
        base_url = options.pop("base_url", None)
        return factory(self._credential, self.params["subscription_id"], base_url, **options)

    def get(self, kind):
        """The cached client of ``kind`` (``compute``, ``network`` or ``resource``)."""
        if kind not in self._clients:
            self._clients[kind] = self._make(kind)
        return self._clients[kind]

    @property
    def compute(self):
        return self.get("compute")

    @property
    def network(self):
        return self.get("network")

    @property
    def resource(self):
        return self.get("resource")


class FleetAzureModule(cloud.CloudModule):
    """``AnsibleModule`` plus the common Azure options and the clients (``module.azure.compute``)."""

    def __init__(self, argument_spec, **kwargs):
        requirement = "azure-identity, azure-mgmt-compute, azure-mgmt-network, azure-mgmt-resource"
        sdk = (HAS_AZURE, requirement, AZURE_IMPORT_ERROR)
        super().__init__(AZURE_COMMON_ARGUMENT_SPEC, argument_spec, sdk, **kwargs)
        self.azure = self.connected(AzureClients, AzureError)


# --- VMs -------------------------------------------------------------------------------------


def as_dict(obj):
    """A plain dict (ARM JSON names) from an SDK model, a dict or ``None``."""
    if obj is None:
        return {}
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    return dict(obj)


def resource_group_of(resource_id):
    """The resource group named in an ARM resource id (``""`` if none)."""
    parts = (resource_id or "").split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered:
        index = lowered.index("resourcegroups")
        if index + 1 < len(parts):
            return parts[index + 1]
    return ""


def addresses_by_vm(nics, public_ips):
    """``{vm id (lower case): (private ip, public ip)}`` from NIC and public IP listings."""
    public = dict((p.get("id", "").lower(), p.get("properties", {}).get("ipAddress")) for p in public_ips)
    result = {}
    for nic in nics:
        props = nic.get("properties", {})
        vm_id = (props.get("virtualMachine") or {}).get("id", "").lower()
        if not vm_id:
            continue
        configs = props.get("ipConfigurations") or []
        primary = next((c for c in configs if c.get("properties", {}).get("primary")), configs[0] if configs else {})
        cprops = primary.get("properties", {})
        pip_id = (cprops.get("publicIPAddress") or {}).get("id", "").lower()
        result[vm_id] = (cprops.get("privateIPAddress"), public.get(pip_id))
    return result


def summarize_vm(vm, addresses=None):
    """The stable, snake_case view of a VM that the module returns and the inventory uses."""
    props = vm.get("properties", {})
    image = props.get("storageProfile", {}).get("imageReference", {})
    private_ip, public_ip = (addresses or {}).get(vm.get("id", "").lower(), (None, None))
    linux = props.get("osProfile", {}).get("linuxConfiguration", {})
    return {
        "name": vm.get("name"),
        "id": vm.get("id"),
        "resource_group": resource_group_of(vm.get("id")),
        "location": vm.get("location"),
        "vm_size": props.get("hardwareProfile", {}).get("vmSize"),
        "provisioning_state": props.get("provisioningState"),
        "time_created": props.get("timeCreated"),
        "image": "%s:%s:%s:%s"
        % (
            image.get("publisher"),
            image.get("offer"),
            image.get("sku"),
            image.get("exactVersion") or image.get("version"),
        )
        if image.get("publisher")
        else image.get("id"),
        "admin_username": props.get("osProfile", {}).get("adminUsername"),
        "password_authentication": not linux.get("disablePasswordAuthentication", False),
        "encryption_at_host": bool(props.get("securityProfile", {}).get("encryptionAtHost")),
        "private_ip_address": private_ip,
        "public_ip_address": public_ip,
        "tags": dict(vm.get("tags") or {}),
    }
