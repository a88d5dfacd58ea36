#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ec2_host
short_description: An exact number of EC2 hosts, identified by tags, with secure defaults
version_added: 0.1.0
description:
  - Ensures that exactly O(count) EC2 instances carry the identity tags of O(name), O(group)
    and O(app) (C(flaskfleet.name), C(flaskfleet.group), C(flaskfleet.app), C(flaskfleet.managed)).
  - Missing instances are launched in B(one) C(RunInstances) call (C(MinCount=MaxCount), so
    either all of them start or none); extra instances are terminated, oldest first.
  - The number of API calls does not grow with O(count), it is one paginated C(DescribeInstances) to
    find the hosts, one C(DescribeImages), one C(DescribeInstanceTypes), one C(RunInstances),
    one C(TerminateInstances) and one batched C(DescribeInstances) per poll while waiting.
  - Secure by default, instance metadata needs IMDSv2 session tokens, the root volume is
    encrypted, no public IP address is assigned. Each default can be changed explicitly.
  - Settings such as O(instance_type) apply to instances launched from now on; existing
    instances are kept (replace them by lowering and raising O(count), or with a new O(name)).
    O(tags) are added to existing instances too.
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.identity
  - flaskfleet.cloud.aws
options:
  name:
    description:
      - Name of the hosts; the value of their C(Name) and C(flaskfleet.name) tags.
    type: str
    required: true
  group:
    description:
      - Inventory group of the hosts (tag C(flaskfleet.group)), for example C(web).
      - Defaults to O(name).
    type: str
  user:
    description:
      - The login user of the image, recorded in the tag C(flaskfleet.user) for the inventory.
    type: str
    default: admin
  state:
    description:
      - V(present) keeps exactly O(count) instances and launches missing ones; existing stopped
        instances stay stopped.
      - V(running) does the same and starts stopped instances.
      - V(stopped) does the same and stops running instances.
      - V(absent) terminates every instance with this identity.
    type: str
    choices: [present, running, stopped, absent]
    default: present
  image_id:
    description:
      - The AMI to launch, for example C(ami-0123456789abcdef0).
      - One of O(image_id) or O(image) is required unless O(state=absent).
    type: str
  image:
    description:
      - Find the AMI instead of naming it; the newest matching image wins.
    type: dict
    suboptions:
      owner:
        description: Owner account id or alias (C(amazon), C(self)), for example C(136693071363) for Debian.
        type: str
        required: true
      name:
        description: Name pattern with C(*) wildcards, for example C(debian-12-amd64-*).
        type: str
        required: true
      architecture:
        description: CPU architecture of the image.
        type: str
        default: x86_64
        choices: [x86_64, arm64, i386]
  instance_type:
    description:
      - The instance type. Checked with one C(DescribeInstanceTypes) call before launching.
    type: str
    default: t3.micro
  key_name:
    description:
      - Name of the EC2 key pair to install (see M(flaskfleet.cloud.ec2_keypair)).
    type: str
  subnet_id:
    description:
      - Subnet to launch into. Defaults to a default subnet of the default VPC.
    type: str
  security_groups:
    description:
      - Security group ids (C(sg-...)) or names (see M(flaskfleet.cloud.ec2_firewall)).
    type: list
    elements: str
    default: []
  user_data:
    description:
      - Cloud-init user data (plain text; it is base64-encoded for you).
    type: str
  volume_size:
    description:
      - Size of the root volume in GiB. Defaults to the image's size.
    type: int
  volume_type:
    description:
      - EBS volume type of the root volume.
    type: str
    default: gp3
    choices: [gp2, gp3, io1, io2, st1, sc1, standard]
  encrypt_root_volume:
    description:
      - Encrypt the root volume (with O(kms_key_id), or the account's default EBS key).
      - V(false) leaves encryption to the image and the account default.
    type: bool
    default: true
  kms_key_id:
    description:
      - KMS key for the encrypted root volume. Defaults to the AWS managed EBS key.
    type: str
  metadata_http_tokens:
    description:
      - V(required) enforces IMDSv2 (session tokens) for the instance metadata service;
        V(optional) also allows IMDSv1.
    type: str
    default: required
    choices: [required, optional]
  public_ip:
    description:
      - Assign a public IPv4 address. Off by default, whatever the subnet's setting.
    type: bool
    default: false
  iam_instance_profile:
    description:
      - Instance profile name or ARN.
    type: str
  tags:
    description:
      - More tags for the instances and their volumes; also added to existing instances.
    type: dict
    default: {}
  wait:
    description:
      - Wait until launched, started, stopped or terminated instances reach that state.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, for the state and then for SSH.
    type: int
    default: 300
  wait_for_ssh:
    description:
      - After the instances run, also wait until their SSH port answers with an SSH banner
        (public IP, else private IP). Needs O(wait).
    type: bool
    default: false
  ssh_port:
    description:
      - Port checked by O(wait_for_ssh).
    type: int
    default: 22
notes:
  - A failure after C(RunInstances) (for example the wait timing out) terminates the instances
    launched by this run again, so a failed run leaves no half-created hosts behind.
  - C(RunInstances) is sent with a client token, so botocore's retries can never launch twice.
seealso:
  - module: flaskfleet.cloud.ec2_firewall
  - module: flaskfleet.cloud.ec2_keypair
"""

EXAMPLES = r"""
- name: Five web hosts for the hello app
  flaskfleet.cloud.ec2_host:
    name: hello-web
    group: web
    app: hello
    count: 5
    image:
      owner: "136693071363"
      name: debian-12-amd64-*
    instance_type: t3.small
    key_name: flaskfleet
    security_groups: [hello-web]
    region: eu-west-1
  register: web_hosts

- name: Scale down to three (the two oldest are terminated)
  flaskfleet.cloud.ec2_host:
    name: hello-web
    group: web
    app: hello
    count: 3
    image_id: ami-0123456789abcdef0
    region: eu-west-1

- name: A host with a public IP that accepts IMDSv1 (explicitly weaker)
  flaskfleet.cloud.ec2_host:
    name: bastion
    image_id: ami-0123456789abcdef0
    public_ip: true
    metadata_http_tokens: optional
    wait_for_ssh: true
    region: eu-west-1

- name: Remove every host of the group
  flaskfleet.cloud.ec2_host:
    name: hello-web
    group: web
    app: hello
    state: absent
    region: eu-west-1
"""

RETURN = r"""
instances:
  description: The instances with this identity after the run (terminated ones are not listed).
  returned: always
  type: list
  elements: dict
  sample:
    - instance_id: i-0123456789abcdef0
      state: running
      instance_type: t3.micro
      image_id: ami-0123456789abcdef0
      launch_time: "2025-01-01T10:00:00+00:00"
      public_ip_address: null
      private_ip_address: 10.0.1.17
      public_dns_name: null
      private_dns_name: ip-10-0-1-17.eu-west-1.compute.internal
      availability_zone: eu-west-1a
      subnet_id: subnet-0123456789abcdef0
      vpc_id: vpc-0123456789abcdef0
      key_name: flaskfleet
      security_groups: [sg-0123456789abcdef0]
      metadata_http_tokens: required
      tags: {Name: hello-web, flaskfleet.group: web, flaskfleet.app: hello, flaskfleet.managed: "true"}
launched:
  description: Ids of the instances launched by this run (in check mode, how many would be, as C(new-N)).
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
terminated:
  description: Ids of the instances terminated (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [i-0fedcba9876543210]
started:
  description: Ids of the instances started (or that would be).
  returned: always
  type: list
  elements: str
  sample: []
stopped:
  description: Ids of the instances stopped (or that would be).
  returned: always
  type: list
  elements: str
  sample: []
tagged:
  description: Ids of existing instances that got missing or changed tags.
  returned: always
  type: list
  elements: str
  sample: []
"""

import socket
import time
import uuid

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _identity as identity
from ansible_collections.flaskfleet.cloud.plugins.module_utils._cloud import run_and_exit
from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import TAG_APP
from ansible_collections.flaskfleet.cloud.plugins.module_utils._aws import (
    LIVE_STATES,
    AWSError,
    FleetAWSModule,
    aws_error_handler,
    describe_instances,
    dict_to_tags,
    retry_not_found,
    summarize_instance,
    to_filters,
)

# --- the decisions (pure functions, unit-tested) --------------------------------------------


def wanted_tags(params):
    """Every tag an instance of this identity should carry (identity tags win over ``tags``)."""
    return identity.wanted_tags(params, base={"Name": params["name"]})


def plan_count(instances, count):
    """``(number to launch, [instance ids to terminate])``, oldest ``LaunchTime`` first (then by id)."""
    return identity.plan_count(instances, count, age=lambda i: i["LaunchTime"], key=lambda i: i["InstanceId"])


def plan_power(instances, state):
    """Which kept instances to start (``state=running``) or stop (``state=stopped``)."""
    if state == "running":
        return [i["InstanceId"] for i in instances if i["State"]["Name"] in ("stopped", "stopping")], []
    if state == "stopped":
        return [], [i["InstanceId"] for i in instances if i["State"]["Name"] in ("pending", "running")]
    return [], []


def plan_tags(instances, tags):
    """Ids of instances missing one of ``tags`` (or with another value), and those tags."""
    ids = []
    for instance in instances:
        current = dict((t["Key"], t.get("Value", "")) for t in instance.get("Tags", []))
        if any(current.get(k) != v for k, v in tags.items()):
            ids.append(instance["InstanceId"])
    return ids


def launch_request(params, image, count, security_group_ids, client_token):
    """The ``RunInstances`` keyword arguments: one call for ``count`` hosts, secure defaults applied."""
    tags = dict_to_tags(wanted_tags(params))
    interface = {"DeviceIndex": 0, "AssociatePublicIpAddress": params["public_ip"], "DeleteOnTermination": True}
    if params.get("subnet_id"):
        interface["SubnetId"] = params["subnet_id"]
    if security_group_ids:
        interface["Groups"] = security_group_ids
    ebs = {"DeleteOnTermination": True, "VolumeType": params["volume_type"]}
    if params["encrypt_root_volume"]:
        ebs["Encrypted"] = True
        if params.get("kms_key_id"):
            ebs["KmsKeyId"] = params["kms_key_id"]
    # Some EC2 implementations (moto) insist on a size in an override; the image's is the default.
    size = params.get("volume_size") or root_volume_size(image)
    if size:
        ebs["VolumeSize"] = size
    request = {
        "ImageId": image["ImageId"],
        "InstanceType": params["instance_type"],
        "MinCount": count,
        "MaxCount": count,
        "ClientToken": client_token,
        "NetworkInterfaces": [interface],
        "BlockDeviceMappings": [{"DeviceName": image.get("RootDeviceName") or "/dev/xvda", "Ebs": ebs}],
        "MetadataOptions": {"HttpTokens": params["metadata_http_tokens"], "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }
    if params.get("key_name"):
        request["KeyName"] = params["key_name"]
    if params.get("user_data"):
        request["UserData"] = params["user_data"]
    if params.get("iam_instance_profile"):
        profile = params["iam_instance_profile"]
        request["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    return request


def root_volume_size(image):
    """The size (GiB) of the image's root volume, if the image says."""
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == image.get("RootDeviceName"):
            return mapping.get("Ebs", {}).get("VolumeSize")
    return None


def newest_image(images):
    """The image with the latest ``CreationDate`` (``None`` for no images)."""
    return max(images, key=lambda i: i.get("CreationDate", "")) if images else None


# --- tiny API wrappers ---------------------------------------------------------------------


@aws_error_handler("look up the image")
def find_image(client, params):
    """The AMI to launch, from ``image_id`` or the newest match of ``image``."""
    if params.get("image_id"):
        images = client.describe_images(ImageIds=[params["image_id"]])["Images"]
        wanted = params["image_id"]
    else:
        spec = params["image"]
        filters = {"name": spec["name"], "architecture": spec["architecture"], "state": "available"}
        images = client.describe_images(Owners=[spec["owner"]], Filters=to_filters(filters))["Images"]
        wanted = "an image named %s owned by %s" % (spec["name"], spec["owner"])
    image = newest_image(images)
    if image is None:
        raise AWSError("found no %s in region %s: check image_id/image and region" % (wanted, params["region"]))
    return image


@aws_error_handler("check the instance type")
def check_instance_type(client, instance_type):
    """Fail early (nothing launched) when the instance type does not exist in the region."""
    found = client.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    if not found:
        raise AWSError("instance type %s does not exist in this region: check instance_type" % instance_type)


@aws_error_handler("look up the security groups")
def resolve_security_groups(client, groups):
    """Security group ids for a list of ids and names (names resolved in one call)."""
    names = [g for g in groups if not g.startswith("sg-")]
    ids = [g for g in groups if g.startswith("sg-")]
    if not names:
        return ids
    found = client.describe_security_groups(Filters=to_filters({"group-name": names}))["SecurityGroups"]
    for name in names:
        matches = [g["GroupId"] for g in found if g["GroupName"] == name]
        if not matches:
            raise AWSError("security group %s does not exist: create it with flaskfleet.cloud.ec2_firewall" % name)
        if len(matches) > 1:
            raise AWSError("security group name %s exists in several VPCs: give its id instead" % name)
        ids.extend(matches)
    return ids


@aws_error_handler("launch the instances")
def run_instances(client, request):
    """Launch all new instances at once; all or nothing (``MinCount == MaxCount``)."""
    return client.run_instances(**request)["Instances"]


@aws_error_handler("terminate instances")
def terminate_instances(client, ids):
    """Terminate ``ids`` in one call."""
    client.terminate_instances(InstanceIds=ids)


@aws_error_handler("start instances")
@retry_not_found(("InvalidInstanceID.NotFound",))
def start_instances(client, ids):
    """Start ``ids`` in one call."""
    client.start_instances(InstanceIds=ids)


@aws_error_handler("stop instances")
@retry_not_found(("InvalidInstanceID.NotFound",))
def stop_instances(client, ids):
    """Stop ``ids`` in one call."""
    client.stop_instances(InstanceIds=ids)


@aws_error_handler("tag instances")
@retry_not_found(("InvalidInstanceID.NotFound",))
def tag_instances(client, ids, tags):
    """Put ``tags`` on ``ids`` in one call."""
    client.create_tags(Resources=ids, Tags=dict_to_tags(tags))


# --- waiting -------------------------------------------------------------------------------


def wait_for_state(client, ids, state, deadline):
    """Poll with ONE ``DescribeInstances`` per round for all ``ids`` until all are in ``state``."""
    delay = 1.0
    while True:
        instances = describe_instances(client, instance_ids=ids)
        if len(instances) == len(ids) and all(i["State"]["Name"] == state for i in instances):
            return instances
        if time.time() + delay > deadline:
            late = sorted(i["InstanceId"] for i in instances if i["State"]["Name"] != state)
            raise AWSError("timed out waiting for %s to be %s: raise wait_timeout" % (", ".join(late), state))
        time.sleep(delay)
        delay = min(delay * 1.5, 10.0)


def ssh_banner(address, port):
    """``True`` when ``address:port`` answers with an SSH banner."""
    try:
        with socket.create_connection((address, port), timeout=3) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except (OSError, socket.timeout):
        return False


def wait_for_ssh(instances, port, deadline):
    """Wait until every instance's SSH port answers (no API calls, only TCP)."""
    pending = dict((i["InstanceId"], i.get("PublicIpAddress") or i.get("PrivateIpAddress")) for i in instances)
    while pending:
        pending = dict((iid, addr) for iid, addr in pending.items() if not (addr and ssh_banner(addr, port)))
        if pending and time.time() + 2 > deadline:
            raise AWSError(
                "timed out waiting for SSH on port %s of %s: check the security group, public_ip and subnet route"
                % (port, ", ".join("%s (%s)" % item for item in sorted(pending.items())))
            )
        if pending:
            time.sleep(2)


# --- the module ----------------------------------------------------------------------------


class Ec2Hosts(identity.HostSetRun):
    """Observe the EC2 instances of one identity, decide, act, report."""

    def __init__(self, module):
        super().__init__(module, launched=[], terminated=[], started=[], stopped=[], tagged=[])
        self.client = module.client("ec2")

    def current(self):
        """Live instances with our identity tags (one paginated DescribeInstances)."""
        filters = dict(("tag:%s" % k, v) for k, v in identity.identity_tags(self.params).items())
        filters["instance-state-name"] = list(LIVE_STATES)
        found = describe_instances(self.client, filters=filters)
        # Without ``app`` the identity must not swallow hosts that belong to some app.
        return [i for i in found if self.params.get("app") or TAG_APP not in [t["Key"] for t in i.get("Tags", [])]]

    def run(self):
        """Bring the hosts to the wanted state; returns the module result."""
        instances = self.current()
        count = 0 if self.params["state"] == "absent" else self.params["count"]
        launch, terminate = plan_count(instances, count)
        kept = [i for i in instances if i["InstanceId"] not in terminate]
        start, stop = plan_power(kept, self.params["state"])
        retag = plan_tags(kept, wanted_tags(self.params)) if self.params["state"] != "absent" else []
        self.result["diff"] = self.diff(instances, launch, terminate, start, stop)
        self.result["changed"] = bool(launch or terminate or start or stop or retag)
        if self.module.check_mode:
            return self.planned(kept, launch, terminate, start, stop, retag)
        if terminate:
            self.terminate(terminate)
        if retag:
            tag_instances(self.client, retag, wanted_tags(self.params))
            self.result["tagged"] = retag
        kept = self.power(kept, start, stop)
        if launch:
            kept = kept + self.launch(launch)
        if self.params["wait_for_ssh"] and self.params["wait"] and self.params["state"] != "stopped":
            wait_for_ssh([i for i in kept if i["State"]["Name"] == "running"], self.params["ssh_port"], self.deadline)
        self.result["instances"] = [summarize_instance(i) for i in kept]
        return self.result

    def planned(self, kept, launch, terminate, start, stop, retag):
        """The check-mode result: what would happen, nothing done."""
        self.result.update(
            launched=["new-%d" % (n + 1) for n in range(launch)],
            terminated=terminate,
            started=start,
            stopped=stop,
            tagged=retag,
            instances=[summarize_instance(i) for i in kept],
        )
        return self.result

    @staticmethod
    def diff(instances, launch, terminate, start, stop):
        """``--diff``: instance id -> state, before and after."""
        before = dict((i["InstanceId"], i["State"]["Name"]) for i in instances)
        after = dict((k, v) for k, v in before.items() if k not in terminate)
        after.update(dict((k, "running") for k in start))
        after.update(dict((k, "stopped") for k in stop))
        after.update(dict(("new-%d" % (n + 1), "running") for n in range(launch)))
        return {
            "before": {"count": len(before), "instances": before},
            "after": {"count": len(after), "instances": after},
        }

    def terminate(self, ids):
        """Terminate the extras (oldest first) and wait for them to be gone."""
        terminate_instances(self.client, ids)
        self.result["terminated"] = ids
        if self.params["wait"]:
            wait_for_state(self.client, ids, "terminated", self.deadline)

    def power(self, kept, start, stop):
        """Start or stop kept instances; returns them refreshed when waited on."""
        if start:
            start_instances(self.client, start)
            self.result["started"] = start
        if stop:
            stop_instances(self.client, stop)
            self.result["stopped"] = stop
        if not (start or stop) or not self.params["wait"]:
            return kept
        state = "running" if start else "stopped"
        ids = [i["InstanceId"] for i in kept]
        return wait_for_state(self.client, ids, state, self.deadline)

    def launch(self, count):
        """Launch ``count`` hosts in ONE call; on a later failure terminate them again."""
        image = find_image(self.client, self.params)
        check_instance_type(self.client, self.params["instance_type"])
        groups = resolve_security_groups(self.client, self.params["security_groups"])
        request = launch_request(self.params, image, count, groups, "flaskfleet-%s" % uuid.uuid4())
        launched = run_instances(self.client, request)
        ids = [i["InstanceId"] for i in launched]
        self.result["launched"] = ids
        try:
            if self.params["wait"]:
                launched = wait_for_state(self.client, ids, "running", self.deadline)
            if self.params["state"] == "stopped":
                stop_instances(self.client, ids)
                if self.params["wait"]:
                    launched = wait_for_state(self.client, ids, "stopped", self.deadline)
        except AWSError as e:
            raise AWSError("%s; %s" % (e, self.roll_back(ids))) from e
        return launched

    def roll_back(self, ids):
        """Terminate what this run launched, so a failed run leaves no half-created hosts."""
        try:
            terminate_instances(self.client, ids)
        except AWSError as e:
            return "could NOT terminate the instances launched by this run (%s): %s" % (", ".join(ids), e)
        self.result["launched"] = []
        return "the %d instances launched by this run were terminated again" % len(ids)


def argument_spec():
    """The options of this module (the common AWS ones are added by FleetAWSModule)."""
    return dict(
        identity.identity_argument_spec("admin"),
        state=dict(type="str", default="present", choices=["present", "running", "stopped", "absent"]),
        count=dict(type="int", default=1),
        image_id=dict(type="str"),
        image=dict(
            type="dict",
            options=dict(
                owner=dict(type="str", required=True),
                name=dict(type="str", required=True),
                architecture=dict(type="str", default="x86_64", choices=["x86_64", "arm64", "i386"]),
            ),
        ),
        instance_type=dict(type="str", default="t3.micro"),
        key_name=dict(type="str", no_log=False),
        subnet_id=dict(type="str"),
        security_groups=dict(type="list", elements="str", default=[]),
        user_data=dict(type="str"),
        volume_size=dict(type="int"),
        volume_type=dict(type="str", default="gp3", choices=["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]),
        encrypt_root_volume=dict(type="bool", default=True),
        kms_key_id=dict(type="str"),
        metadata_http_tokens=dict(type="str", default="required", choices=["required", "optional"]),
        public_ip=dict(type="bool", default=False),
        iam_instance_profile=dict(type="str"),
        tags=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        wait_for_ssh=dict(type="bool", default=False),
        ssh_port=dict(type="int", default=22),
    )


def check_params(module):
    """Checks AnsibleModule cannot express: fail with one line before any API call."""
    params = module.params
    problem = identity.count_problem(params, "volume_size")
    if problem:
        module.fail_json(msg=problem)


def main():
    """Entry point: parse, check, run, report."""
    module = FleetAWSModule(
        argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("image_id", "image")],
        required_if=[("state", state, ("image_id", "image"), True) for state in ("present", "running", "stopped")],
    )
    check_params(module)
    run_and_exit(
        module,
        Ec2Hosts(module),
        AWSError,
        lambda done: any(done[key] for key in ("launched", "terminated", "started", "stopped", "tagged")),
    )


if __name__ == "__main__":
    main()
