# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Google Cloud plumbing shared by the flaskfleet GCE module and the fleet inventory plugin.

Private to this collection. One client factory for the official ``google-cloud-compute`` library
(credentials the ecosystem way, REST transport, optional ``api_endpoint``), one retry policy
(429/503 with exponential backoff), one error translation (-> one line saying what to do), the
zone-operation wait, the label mapping and a thin module class like ``aws.FleetAWSModule``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _cloud as cloud

try:
    import google.auth
    import google.auth.credentials
    import google.auth.exceptions
    import requests.exceptions
    from google.api_core import exceptions as api_exceptions
    from google.api_core import retry as api_retry
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1
    from google.oauth2 import service_account

    HAS_GCP = True
    GCP_IMPORT_ERROR = None
except ImportError:
    HAS_GCP = False
    GCP_IMPORT_ERROR = traceback.format_exc()

SCOPES = ["https://www.googleapis.com/auth/compute"]
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Seconds one HTTP request may take; the retry policy bounds all attempts of one call.
REQUEST_TIMEOUT = 60
RETRY_DEADLINE = 120

GCP_COMMON_ARGUMENT_SPEC = dict(
    project=dict(
        type="str",
        fallback=(env_fallback, ["GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"]),
    ),
    auth_kind=dict(
        type="str",
        choices=["application", "serviceaccount", "anonymous"],
        fallback=(env_fallback, ["GCP_AUTH_KIND"]),
    ),
    service_account_file=dict(
        type="path",
        fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE", "GOOGLE_APPLICATION_CREDENTIALS"]),
    ),
    service_account_contents=dict(
        type="str",
        no_log=True,
        fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"]),
    ),
    api_endpoint=dict(type="str", fallback=(env_fallback, ["GCP_API_ENDPOINT"])),
    retry_timeout=dict(type="int", default=RETRY_DEADLINE, fallback=(env_fallback, ["GCP_RETRY_TIMEOUT"])),
)

CREDENTIAL_HINT = (
    "run 'gcloud auth application-default login', set GOOGLE_APPLICATION_CREDENTIALS or "
    "service_account_file to a service-account key file, or run on GCE with a service account"
)

# --- labels ----------------------------------------------------------------------------------
# GCE label keys must match [a-z][a-z0-9_-]{0,62}: our dotted tag names become dashed.
LABEL_MANAGED = "flaskfleet-managed"
LABEL_APP = "flaskfleet-app"
LABEL_GROUP = "flaskfleet-group"
LABEL_NAME = "flaskfleet-name"
LABEL_USER = "flaskfleet-user"
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
LIVE_STATUSES = ("PROVISIONING", "STAGING", "RUNNING", "STOPPING", "SUSPENDING", "SUSPENDED", "TERMINATED")


class GCPError(cloud.CloudError):
    """A failed Google Cloud call, already explained in one line (``str(err)``)."""


def label_value(text):
    """A GCE label value for ``text``: lower case, characters outside ``[a-z0-9_-]`` become ``-``, 63 max."""
    return re.sub(r"[^a-z0-9_-]", "-", str(text).lower())[:63]


def label_key(text):
    """A GCE label key for ``text`` (``flaskfleet.app`` -> ``flaskfleet-app``); ``ValueError`` if impossible."""
    key = label_value(text)
    if not LABEL_KEY_RE.match(key):
        raise ValueError("label key %r cannot be made a GCE label key (must start with a letter)" % text)
    return key


# --- errors ----------------------------------------------------------------------------------


def _reasons(exc):
    """The ``reason`` strings of a Google API error (``notFound``, ``quotaExceeded``, ...)."""
    reasons = [e.get("reason", "") for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict)]
    if getattr(exc, "reason", None):
        reasons.append(exc.reason)
    return [r for r in reasons if r]


def _api_error_hint(exc, message):
    """What the user should do about a Google API error (``None`` when we have no advice)."""
    text = message.lower()
    reasons = [r.lower() for r in _reasons(exc)]
    if "quotaexceeded" in reasons or "quota_exceeded" in reasons or "quota" in text:
        return (
            "a project quota was reached: lower count, use a smaller machine_type or another region, or raise the quota"
        )
    if isinstance(exc, api_exceptions.TooManyRequests) or "ratelimitexceeded" in reasons:
        return "Google Cloud kept throttling after all retries: retry later or run with fewer forks"
    if isinstance(exc, (api_exceptions.Unauthorized, api_exceptions.Forbidden)):
        return "Google Cloud refused the credentials or the permission: check the account and its IAM roles"
    if "/zones/" in text and "not found" in text:
        return "the zone does not exist or is not available to this project: check zone"
    if "/images/" in text and ("not found" in text or "invalid" in text):
        return "the image does not exist or is not readable by this project: check image"
    if "machinetypes" in text.replace(" ", "") or "machine type" in text:
        return "the machine type does not exist in this zone: check machine_type"
    if "/projects/" in text and "not found" in text:
        return "the project does not exist or is not visible to these credentials: check project"
    return None


def explain(exc, action):
    """Turn an exception raised while doing ``action`` into one actionable line."""
    return cloud.explain_with(exc, action, GCPError, HAS_GCP, _explain_google)


def _explain_google(exc, action):
    if isinstance(exc, google.auth.exceptions.DefaultCredentialsError):
        text = "no usable Google Cloud credentials (%s): %s" % (exc, CREDENTIAL_HINT)
    elif isinstance(exc, google.auth.exceptions.GoogleAuthError):
        text = "Google Cloud credentials failed while trying to %s (%s): %s" % (action, exc, CREDENTIAL_HINT)
    elif isinstance(exc, api_exceptions.RetryError):
        cause = exc.cause if exc.cause is not None else exc
        text = "%s failed after all retries: %s" % (action, explain(cause, action))
    elif isinstance(exc, api_exceptions.GoogleAPICallError):
        details = [e.get("message") for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict)]
        message = (details and details[0]) or getattr(exc, "message", None) or str(exc)
        code = getattr(exc, "code", None)
        reasons = ", ".join(_reasons(exc))
        text = "%s failed: HTTP %s%s: %s" % (
            action,
            int(code) if code else "?",
            " " + reasons if reasons else "",
            message,
        )
        hint = _api_error_hint(exc, message)
        if hint:
            text = "%s (%s)" % (text, hint)
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = "cannot reach the Google Cloud endpoint while trying to %s (%s): check api_endpoint and the network" % (
            action,
            type(exc).__name__,
        )
    elif isinstance(exc, requests.exceptions.Timeout):
        text = "the Google Cloud endpoint did not answer in time while trying to %s: retry later" % action
    else:
        text = None
    return text


def _handled_errors():
    return (
        api_exceptions.GoogleAPIError,
        google.auth.exceptions.GoogleAuthError,
        requests.exceptions.RequestException,
    )


# Decorator for tiny API wrappers: library errors leave as ``GCPError`` with an explained message.
gcp_error_handler = cloud.error_handler(GCPError, explain, _handled_errors)


def is_not_found(exc):
    """Is ``exc`` Google's 404?"""
    return HAS_GCP and isinstance(exc, api_exceptions.NotFound)


def retry_policy(deadline=RETRY_DEADLINE):
    """Retry on 429 and 503 (and 500/502/504) with exponential backoff; nothing else is retried."""
    return api_retry.Retry(
        predicate=api_retry.if_exception_type(
            api_exceptions.TooManyRequests,
            api_exceptions.ServiceUnavailable,
            api_exceptions.InternalServerError,
            api_exceptions.BadGateway,
            api_exceptions.GatewayTimeout,
        ),
        initial=0.25,
        maximum=8.0,
        multiplier=2.0,
        timeout=deadline,
    )


# --- credentials and clients -----------------------------------------------------------------


def check_zone(zone):
    """Raise ``GCPError`` unless ``zone`` looks like a GCE zone name (catches typos before any call)."""
    cloud.require_name(
        zone,
        ZONE_RE,
        GCPError,
        "no GCE zone given: set zone (for example europe-west1-b)",
        "'%s' is not a GCE zone name (like europe-west1-b): fix zone",
    )


def auth_kind_of(params):
    """The credential kind: the option, else a service account when a key is given, else ADC."""
    if params.get("auth_kind"):
        return params["auth_kind"]
    if params.get("service_account_contents") or params.get("service_account_file"):
        return "serviceaccount"
    return "application"


def load_credentials(params):
    """``(credentials, project from the credentials or None)`` for module params/inventory options.

    :raises GCPError: when no credentials can be found or the key is unusable.
    """
    kind = auth_kind_of(params)
    try:
        if kind == "anonymous":
            if not params.get("api_endpoint"):
                raise GCPError("auth_kind anonymous only works with api_endpoint (a local or emulated API)")
            return google.auth.credentials.AnonymousCredentials(), None
        if kind == "serviceaccount":
            if params.get("service_account_contents"):
                info = json.loads(params["service_account_contents"])
                creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            elif params.get("service_account_file"):
                creds = service_account.Credentials.from_service_account_file(
                    params["service_account_file"], scopes=SCOPES
                )
            else:
                raise GCPError(
                    "auth_kind serviceaccount needs service_account_file (or GOOGLE_APPLICATION_CREDENTIALS) "
                    "or service_account_contents"
                )
            return creds, creds.project_id
        creds, project = google.auth.default(scopes=SCOPES)
        return creds, project
    except (ValueError, OSError) as e:
        raise GCPError(
            cloud.one_line(
                "the service-account key is not usable (%s): give the JSON key file of a service account" % e
            )
        ) from e
    except google.auth.exceptions.GoogleAuthError as e:
        raise GCPError(explain(e, "load credentials")) from e


class ComputeClients:
    """The one place ``google-cloud-compute`` clients are made: REST transport, shared credentials.

    ``clients.get("instances")`` returns a cached ``compute_v1.InstancesClient``; ``project`` is
    the project to work in (option, environment, then the credentials' own project).
    """

    CLASSES = {  # noqa: RUF012 (read-only table)
        "instances": "InstancesClient",
        "zone_operations": "ZoneOperationsClient",
        "global_operations": "GlobalOperationsClient",
        "firewalls": "FirewallsClient",
        "images": "ImagesClient",
        "zones": "ZonesClient",
    }

    def __init__(self, params):
        self.params = params
        self.credentials, own_project = load_credentials(params)
        self.project = params.get("project") or own_project
        self.retry = retry_policy(int(params.get("retry_timeout") or RETRY_DEADLINE))
        if not self.project:
            raise GCPError("no Google Cloud project given: set project (or GCP_PROJECT/GOOGLE_CLOUD_PROJECT)")
        self._clients = {}

    def get(self, name):
        """A cached client by short name (see ``CLASSES``)."""
        if name not in self._clients:
            options = (
                ClientOptions(api_endpoint=self.params["api_endpoint"]) if self.params.get("api_endpoint") else None
            )
            cls = getattr(compute_v1, self.CLASSES[name])
            try:
                self._clients[name] = cls(credentials=self.credentials, transport="rest", client_options=options)
            except (ValueError, google.auth.exceptions.GoogleAuthError) as e:
                raise GCPError(cloud.one_line("cannot create the %s client: %s: check api_endpoint" % (name, e))) from e
        return self._clients[name]


# --- operations ------------------------------------------------------------------------------


def operation_done(operation):
    """Has this ``compute_v1.Operation`` finished?"""
    return operation.status == compute_v1.Operation.Status.DONE


def operation_errors(operation):
    """``[(code, message)]`` of a finished operation (empty when it succeeded)."""
    if "error" not in operation:
        return []
    return [(e.code, e.message) for e in operation.error.errors]


def raise_operation_errors(operation, action):
    """Raise ``GCPError`` with the operation's first error, explained."""
    errors = operation_errors(operation)
    if not errors:
        return
    code, message = errors[0]
    hints = {
        "QUOTA_EXCEEDED": "a project quota was reached: lower count, use a smaller machine_type or another region, "
        "or raise the quota",
        "ZONE_RESOURCE_POOL_EXHAUSTED": "the zone has no capacity for this machine type now: try another zone or type",
        "RESOURCE_NOT_FOUND": "something the request names does not exist: check image, network and zone",
    }
    text = "%s failed: %s: %s" % (action, code, message)
    if code in hints:
        text = "%s (%s)" % (text, hints[code])
    raise GCPError(cloud.one_line(text))


def wait_operation(clients, operation, deadline, action):
    """Wait for a zone or global operation with the API's ``wait`` method (no fixed sleep).

    ``wait`` returns when the operation is DONE or after at most two minutes; it is called again
    until ``deadline`` (a ``time.time()`` value). Operation errors raise ``GCPError``.
    """
    zone = operation.zone.rsplit("/", 1)[-1] if operation.zone else None
    delay = 0.5
    while not operation_done(operation):
        if time.time() > deadline:
            raise GCPError("timed out waiting to %s (operation %s): raise wait_timeout" % (action, operation.name))
        request = {"project": clients.project, "operation": operation.name}
        if zone:
            request["zone"] = zone
            operation = _wait(clients.get("zone_operations"), request, clients.retry, action)
        else:
            operation = _wait(clients.get("global_operations"), request, clients.retry, action)
        if not operation_done(operation):
            # NOTE: an API that answers ``wait`` at once (not long-polling) must not be hammered.
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise_operation_errors(operation, action)
    return operation


def _wait(client, request, retry, action):
    @gcp_error_handler("wait to %s" % action)
    def call():
        return client.wait(request=request, retry=retry, timeout=REQUEST_TIMEOUT + 120)

    return call()


class FleetGCPModule(cloud.CloudModule):
    """``AnsibleModule`` plus the common GCP options, the clients and ``fail_gcp``.

    Modules call ``module.clients.get("instances")`` and never build a client themselves.
    """

    def __init__(self, argument_spec, **kwargs):
        super().__init__(
            GCP_COMMON_ARGUMENT_SPEC, argument_spec, (HAS_GCP, "google-cloud-compute", GCP_IMPORT_ERROR), **kwargs
        )
        self._clients = None

    @property
    def clients(self):
        """The ``ComputeClients``; fails the module with an explained message on error."""
        if self._clients is None:
            self._clients = self.connected(ComputeClients, GCPError)
        return self._clients

    def fail_gcp(self, exc, action, **result):
        """Fail with one line built from a library exception or a ``GCPError``."""
        self._module.fail_json(msg=explain(exc, action), **result)


# --- instances -------------------------------------------------------------------------------


def label_filter(labels):
    """A ``list``/``aggregatedList`` filter matching all ``labels`` (``{key: value}``)."""
    return " AND ".join('(labels.%s = "%s")' % (k, v) for k, v in sorted(labels.items()))


def short_name(url):
    """The last path segment of a GCE resource URL (``.../machineTypes/e2-small`` -> ``e2-small``)."""
    return url.rsplit("/", 1)[-1] if url else url


def summarize_instance(instance):
    """The stable, snake_case view of a ``compute_v1.Instance`` that modules return and the inventory uses."""
    interfaces = list(instance.network_interfaces)
    first = interfaces[0] if interfaces else None
    access = list(first.access_configs) if first is not None else []
    shielded = instance.shielded_instance_config
    return {
        "name": instance.name,
        "id": str(instance.id) if instance.id else None,
        "status": instance.status,
        "zone": short_name(instance.zone),
        "machine_type": short_name(instance.machine_type),
        "creation_timestamp": instance.creation_timestamp or None,
        "private_ip_address": (first.network_i_p or None) if first is not None else None,
        "public_ip_address": (access[0].nat_i_p or None) if access else None,
        "network": short_name(first.network) if first is not None else None,
        "labels": dict(instance.labels),
        "network_tags": list(instance.tags.items),
        "shielded_vm": {
            "secure_boot": bool(shielded.enable_secure_boot),
            "vtpm": bool(shielded.enable_vtpm),
            "integrity_monitoring": bool(shielded.enable_integrity_monitoring),
        },
        "self_link": instance.self_link or None,
    }


def list_zone_instances(clients, zone, labels, action="list GCE instances"):
    """Instances of ``zone`` carrying ``labels`` (one paginated ``instances.list``)."""

    @gcp_error_handler(action)
    def call():
        request = {"project": clients.project, "zone": zone, "filter": label_filter(labels), "max_results": 500}
        pager = clients.get("instances").list(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)
        return list(pager)

    return call()


def list_all_instances(clients, labels, action="list GCE instances"):
    """``[(zone, instance)]`` of every zone carrying ``labels`` (one paginated ``aggregatedList``)."""

    @gcp_error_handler(action)
    def call():
        request = {"project": clients.project, "filter": label_filter(labels), "max_results": 500}
        pager = clients.get("instances").aggregated_list(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)
        found = []
        for scope, scoped in pager:
            found.extend((short_name(scope), instance) for instance in scoped.instances)
        return found

    return call()
