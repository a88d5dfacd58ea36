# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS plumbing shared by the flaskfleet EC2 modules and the fleet inventory plugin.

Private to this collection. One client factory (credentials, region, endpoint, botocore's
``standard`` retry mode), one error translation (botocore exception -> one-line message saying
what to do), and a thin module class in the spirit of amazon.aws' ``AnsibleAWSModule``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _cloud as cloud

try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

# Connection errors are retried only this often (a wrong endpoint or region should fail in
# seconds); throttling and 5xx errors get the full ``max_attempts`` with standard backoff.
CONNECT_ATTEMPTS = 3
DEFAULT_MAX_ATTEMPTS = 10
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")

AWS_COMMON_ARGUMENT_SPEC = dict(
    region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
    profile=dict(type="str", aliases=["aws_profile"], fallback=(env_fallback, ["AWS_PROFILE"])),
    aws_access_key_id=dict(
        type="str",
        aliases=["access_key", "aws_access_key"],
        no_log=True,
        fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"]),
    ),
    aws_secret_access_key=dict(
        type="str",
        aliases=["secret_key", "aws_secret_key"],
        no_log=True,
        fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"]),
    ),
    session_token=dict(
        type="str", aliases=["aws_session_token"], no_log=True, fallback=(env_fallback, ["AWS_SESSION_TOKEN"])
    ),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url"], fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
    max_attempts=dict(type="int", default=DEFAULT_MAX_ATTEMPTS, fallback=(env_fallback, ["AWS_MAX_ATTEMPTS"])),
)

CREDENTIAL_HINT = (
    "set aws_access_key_id and aws_secret_access_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
    "a profile, or run where an instance role is available"
)
AUTH_CODES = (
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredToken",
    "RequestExpired",
)
THROTTLE_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException")
LIMIT_CODES = (
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "SecurityGroupLimitExceeded",
    "ResourceLimitExceeded",
    "InsufficientInstanceCapacity",
)


class AWSError(cloud.CloudError):
    """A failed AWS call, already explained in one line (``str(err)``)."""


def error_code(exc):
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def _client_error_hint(code, message):
    """What the user should do about an AWS API error code (``None`` when we have no advice)."""
    if code in AUTH_CODES:
        return "AWS refused the credentials or the permission: check the key pair/profile and its IAM policy"
    if code in THROTTLE_CODES:
        return "AWS kept throttling after all retries: run with fewer forks or raise max_attempts"
    if code.startswith("InvalidAMIID"):
        return "the image does not exist in this region or is not shared with this account: check image_id and region"
    if code in LIMIT_CODES:
        return "an account limit or capacity was reached: lower count, use another type or zone, or ask AWS for more"
    if code.startswith("InvalidInstanceType") or (
        code == "InvalidParameterValue" and "instance type" in message.lower()
    ):
        return "the instance type does not exist in this region: check instance_type"
    if code == "InvalidKeyPair.Format":
        return "the public key is not in a format EC2 accepts: use an ssh-ed25519 or ssh-rsa key"
    if code.startswith("InvalidKeyPair"):
        return "the key pair does not exist in this region: create it with flaskfleet.cloud.ec2_keypair or fix key_name"
    if code.startswith("InvalidSubnet"):
        return "check subnet_id and region"
    if code.startswith("InvalidGroup"):
        return "the security group does not exist: check security_groups and the VPC"
    if code == "DependencyViolation":
        return "it is still in use: remove what uses it first (e.g. terminate the instances)"
    return None


def explain(exc, action):
    """Turn a botocore/boto3 exception raised while doing ``action`` into one actionable line."""
    return cloud.explain_with(exc, action, AWSError, HAS_BOTO3, _explain_botocore)


def _explain_botocore(exc, action):
    exceptions = botocore.exceptions
    if isinstance(exc, (exceptions.NoCredentialsError, exceptions.PartialCredentialsError)):
        text = "no usable AWS credentials (%s): %s" % (exc, CREDENTIAL_HINT)
    elif isinstance(exc, exceptions.ProfileNotFound):
        text = "%s: check profile/AWS_PROFILE against ~/.aws/config and ~/.aws/credentials" % exc
    elif isinstance(exc, exceptions.NoRegionError):
        text = "no AWS region given: set region (or AWS_REGION)"
    elif isinstance(exc, (exceptions.EndpointConnectionError, exceptions.ConnectTimeoutError)):
        text = "cannot reach the AWS endpoint (%s) while trying to %s: check endpoint_url, region and the network" % (
            exc,
            action,
        )
    elif isinstance(exc, exceptions.ReadTimeoutError):
        text = "the AWS endpoint did not answer in time while trying to %s (%s): retry later" % (action, exc)
    elif isinstance(exc, exceptions.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        text = cloud.api_failure(action, code, message, _client_error_hint(code, message))
    elif isinstance(exc, exceptions.WaiterError):
        text = "timed out waiting to %s: %s" % (action, exc)
    else:
        text = None
    return text


# Decorator for tiny API wrappers: botocore errors leave as ``AWSError`` with an explained message.
aws_error_handler = cloud.error_handler(
    AWSError, explain, lambda: (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError), error_code
)


def none_if_missing(*codes):
    """Decorator: return ``None`` when AWS answers one of ``codes`` (the thing does not exist)."""

    def wrapper(func):
        @functools.wraps(func)
        def handler(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except botocore.exceptions.ClientError as e:
                if error_code(e) in codes:
                    return None
                raise

        return handler

    return wrapper


def retry_not_found(codes, attempts=8, delay=1.0):
    """Decorator: retry while AWS answers one of ``codes`` (EC2 is eventually consistent).

    botocore's standard retries cover throttling and 5xx; a resource that was just created but
    is not yet visible to the next call (``InvalidInstanceID.NotFound``) needs this on top.
    """

    def wrapper(func):
        @functools.wraps(func)
        def retrying(*args, **kwargs):
            for attempt in range(attempts):
                try:
                    return func(*args, **kwargs)
                except botocore.exceptions.ClientError as e:
                    if error_code(e) not in codes or attempt == attempts - 1:
                        raise
                    time.sleep(min(delay * (2**attempt), 10))
            return None  # not reached: the last attempt returns or raises

        return retrying

    return wrapper


def _stop_retrying_unreachable(attempts, caught_exception=None, **kwargs):
    """``needs-retry`` hook: give up on connection errors after ``CONNECT_ATTEMPTS`` tries.

    Returning ``False`` ends botocore's retry loop; ``None`` leaves the decision to the
    standard retry handler registered after this one.
    """
    connection_errors = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)
    if isinstance(caught_exception, connection_errors) and attempts >= CONNECT_ATTEMPTS:
        return False
    return None


def check_region(region):
    """Raise ``AWSError`` unless ``region`` looks like an AWS region name (catches typos early)."""
    cloud.require_name(
        region,
        REGION_RE,
        AWSError,
        "no AWS region given: set region (or AWS_REGION/AWS_DEFAULT_REGION)",
        "'%s' is not an AWS region name (like us-east-1): fix region",
    )


def create_session(params):
    """A boto3 session from module params/inventory options (unset values fall back to boto3's chain)."""
    try:
        return boto3.session.Session(
            profile_name=params.get("profile") or None,
            aws_access_key_id=params.get("aws_access_key_id") or None,
            aws_secret_access_key=params.get("aws_secret_access_key") or None,
            aws_session_token=params.get("session_token") or None,
        )
    except botocore.exceptions.BotoCoreError as e:
        raise AWSError(explain(e, "create an AWS session")) from e


def create_client(service, params, region=None):
    """The one place a boto3 client is made: standard retries, timeouts, optional endpoint_url.

    :param service: boto3 service name, e.g. ``"ec2"``.
    :param params: module params (or inventory options) with the common AWS keys.
    :param region: overrides ``params["region"]`` (the inventory walks several regions).
    :returns: a botocore client.
    :raises AWSError: for missing region or credentials, with a message saying what to set.
    """
    region = region or params.get("region")
    check_region(region)
    session = create_session(params)
    if session.get_credentials() is None:
        raise AWSError("no AWS credentials found: %s" % CREDENTIAL_HINT)
    config = botocore.config.Config(
        retries={
            "mode": "standard",
            "total_max_attempts": max(1, int(params.get("max_attempts") or DEFAULT_MAX_ATTEMPTS)),
        },
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="flaskfleet.cloud",
    )
    try:
        client = session.client(
            service, region_name=region, endpoint_url=params.get("endpoint_url") or None, config=config
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise AWSError(
            cloud.one_line("cannot create the %s client: %s: check endpoint_url and region" % (service, e))
        ) from e
    client.meta.events.register_first("needs-retry.%s" % service, _stop_retrying_unreachable)
    return client


class FleetAWSModule(cloud.CloudModule):
    """``AnsibleModule`` plus the common AWS options, a client cache and ``fail_aws``.

    Modules call ``module.client("ec2")`` and never build a client themselves.
    """

    def __init__(self, argument_spec, **kwargs):
        super().__init__(
            AWS_COMMON_ARGUMENT_SPEC, argument_spec, (HAS_BOTO3, "boto3 and botocore", BOTO3_IMPORT_ERROR), **kwargs
        )
        self._clients = {}

    def client(self, service):
        """A cached client for ``service``; fails the module with an explained message on error."""
        if service not in self._clients:
            self._clients[service] = self.connected(lambda params: create_client(service, params), AWSError)
        return self._clients[service]

    def fail_aws(self, exc, action, **result):
        """Fail with one line built from a botocore exception or an ``AWSError``."""
        self._module.fail_json(msg=explain(exc, action), **result)


# --- EC2 -----------------------------------------------------------------------------------
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# DescribeInstances accepts at most this many instance ids per call.
ID_BATCH = 1000


def tags_to_dict(tag_list):
    """``[{"Key": k, "Value": v}]`` -> ``{k: v}``."""
    return dict((t["Key"], t.get("Value", "")) for t in tag_list or [])


def dict_to_tags(tags):
    """``{k: v}`` -> ``[{"Key": k, "Value": v}]`` (sorted, so requests are stable)."""
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


def to_filters(filters):
    """``{"tag:Name": "web", "instance-state-name": ["running"]}`` -> EC2 ``Filters``."""
    result = []
    for name, values in sorted((filters or {}).items()):
        values = values if isinstance(values, (list, tuple)) else [values]
        result.append({"Name": name, "Values": [str(v) for v in values]})
    return result


@aws_error_handler("describe EC2 instances")
@retry_not_found(("InvalidInstanceID.NotFound",))
def describe_instances(client, filters=None, instance_ids=None):
    """All instances matching ``filters`` or ``instance_ids``, one paginated call per 1000 ids."""
    paginator = client.get_paginator("describe_instances")
    batches = (
        [instance_ids[i : i + ID_BATCH] for i in range(0, len(instance_ids), ID_BATCH)] if instance_ids else [None]
    )
    instances = []
    for batch in batches:
        kwargs = {"Filters": to_filters(filters)} if filters else {}
        if batch:
            kwargs["InstanceIds"] = batch
        for page in paginator.paginate(**kwargs):
            for reservation in page.get("Reservations", []):
                instances.extend(reservation.get("Instances", []))
    return instances


def security_group_ids(instance):
    """Group ids of an instance; from its network interfaces when the API leaves the list empty."""
    groups = instance.get("SecurityGroups") or [
        group for interface in instance.get("NetworkInterfaces", []) for group in interface.get("Groups", [])
    ]
    ids = []
    for group in groups:
        if group.get("GroupId") not in ids:
            ids.append(group.get("GroupId"))
    return ids


def summarize_instance(instance):
    """The stable, snake_case view of an instance that modules return and the inventory uses."""
    launch_time = instance.get("LaunchTime")
    return {
        "instance_id": instance["InstanceId"],
        "state": instance.get("State", {}).get("Name"),
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "launch_time": launch_time.isoformat() if hasattr(launch_time, "isoformat") else launch_time,
        "public_ip_address": instance.get("PublicIpAddress"),
        "private_ip_address": instance.get("PrivateIpAddress"),
        "public_dns_name": instance.get("PublicDnsName") or None,
        "private_dns_name": instance.get("PrivateDnsName") or None,
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
        "subnet_id": instance.get("SubnetId"),
        "vpc_id": instance.get("VpcId"),
        "key_name": instance.get("KeyName"),
        "security_groups": security_group_ids(instance),
        "metadata_http_tokens": instance.get("MetadataOptions", {}).get("HttpTokens"),
        "tags": tags_to_dict(instance.get("Tags")),
    }
