#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gce_host
short_description: An exact number of Compute Engine hosts, identified by labels, with secure defaults
version_added: 0.1.0
description:
  - Ensures that exactly O(count) Compute Engine instances in O(zone) carry the identity labels of
    O(name), O(group) and O(app) (C(flaskfleet-name), C(flaskfleet-group), C(flaskfleet-app),
    C(flaskfleet-managed)).
  - GCE label keys must match C([a-z][a-z0-9_-]{0,62}), so flaskfleet's dotted tag names become dashed
    (C(flaskfleet.app) is the label C(flaskfleet-app)); label values are lower-cased and every character
    outside C([a-z0-9_-]) becomes C(-) (at most 63 characters), so O(group=Web.Tier) is the label value
    C(web-tier).
  - Missing instances are created in B(one) C(instances.bulkInsert) call with C(minCount=count), so either
    all of them are created or none, named C(<name>-<n>) with the lowest free numbers; extra instances are
    deleted, oldest first (by creation time).
  - The number of API calls does not grow with O(count) when creating, one paginated C(instances.list) to find
    the hosts, one image lookup, one C(bulkInsert), one C(zoneOperations.wait) per two minutes of waiting and
    one C(instances.list) to report them. Deleting sends one C(instances.delete) per host (GCE has no
    bulk delete), all in parallel, then polls one C(instances.list) per round until they are gone.
  - Secure by default, no external IP address, shielded VM (secure boot, vTPM, integrity monitoring), OS Login
    unless O(ssh_public_key) is given (then only that key, project-wide keys blocked), no service account
    attached, and guest attributes enabled so the guest agent publishes the SSH host keys.
  - SSH is opened only from O(ssh_cidrs) by one firewall rule per identity (C(<name>-ssh)) that targets the
    network tag C(<name>) of the instances; it is never opened to the whole internet unless
    O(allow_world_ssh=true).
  - Settings such as O(machine_type) apply to instances created from now on; existing instances are kept
    (replace them by lowering and raising O(count), or with a new O(name)).
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.identity
  - flaskfleet.cloud.gcp
options:
  name:
    description:
      - Name of the hosts; the instances are called C(<name>-1), C(<name>-2), ... and carry the label
        C(flaskfleet-name=<name>).
      - A GCE name, lower-case letters, digits and C(-), starting with a letter, at most 50 characters.
    type: str
    required: true
  group:
    description:
      - Inventory group of the hosts (label C(flaskfleet-group), value mapped as described above). Defaults to O(name).
    type: str
  user:
    description:
      - The login user, recorded in the label C(flaskfleet-user) for the inventory and used for O(ssh_public_key).
    type: str
    default: admin
  state:
    description:
      - V(present) keeps exactly O(count) instances; V(absent) deletes every instance with this identity and
        its firewall rule.
    type: str
    choices: [present, absent]
    default: present
  zone:
    description:
      - The zone of the instances, for example C(europe-west1-b).
      - If not set, E(GCP_ZONE) or E(CLOUDSDK_COMPUTE_ZONE) is used.
    type: str
  machine_type:
    description:
      - The machine type of new instances.
    type: str
    default: e2-small
  image:
    description:
      - The boot image, C(projects/<project>/global/images/<name>), an image family
        C(projects/<project>/global/images/family/<family>) (the family's newest image is used for all new
        instances), a full URL of either, or C(<name>) / C(family/<family>) in O(project).
      - Checked with one C(images.get) or C(images.getFromFamily) call before anything is created.
    type: str
    default: projects/debian-cloud/global/images/family/debian-12
  disk_size_gb:
    description:
      - Size of the boot disk in GB. Defaults to the image's size.
    type: int
  disk_type:
    description:
      - The boot disk type.
    type: str
    default: pd-balanced
  network:
    description:
      - The VPC network (name or URL) of the instances and the firewall rule.
    type: str
    default: default
  subnetwork:
    description:
      - The subnetwork (C(regions/<region>/subnetworks/<name>) or URL).
      - Defaults to the network's subnet in the zone's region.
    type: str
  public_ip:
    description:
      - Give every instance an ephemeral external IPv4 address. Off by default.
    type: bool
    default: false
  shielded_vm:
    description:
      - Turn on secure boot, vTPM and integrity monitoring.
      - The image must support Shielded VM (Google's public images do).
    type: bool
    default: true
  os_login:
    description:
      - Log in with OS Login (IAM decides who may log in).
      - Defaults to V(true) without O(ssh_public_key) and V(false) with one.
    type: bool
  ssh_public_key:
    description:
      - An SSH public key (C(ssh-ed25519 AAAA...)) that may log in as O(user); put into the instances' C(ssh-keys)
        metadata, with C(block-project-ssh-keys) so project-wide keys cannot log in.
    type: str
  ssh_cidrs:
    description:
      - Networks allowed to reach TCP port 22 of the instances, for example C(203.0.113.0/24). One firewall rule
        C(<name>-ssh) carries them; an empty list removes that rule.
    type: list
    elements: str
    default: []
  allow_world_ssh:
    description:
      - Allow C(0.0.0.0/0) in O(ssh_cidrs) (SSH open to the whole internet).
    type: bool
    default: false
  labels:
    description:
      - More labels for new instances. Keys and values must already be valid GCE labels; the identity labels win.
    type: dict
    default: {}
  wait:
    description:
      - Wait until created instances run and deleted instances are gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the operations (and for the host keys, see O(read_host_keys)).
    type: int
    default: 300
  read_host_keys:
    description:
      - Read each instance's SSH host keys from its guest attributes (C(hostkeys/), published by the guest agent
        of Google's images shortly after boot) and return them as C(host_keys). One C(getGuestAttributes)
        call per instance, in parallel, repeated for instances whose agent has not published yet until
        O(wait_timeout).
    type: bool
    default: false
notes:
  - C(bulkInsert) is sent with C(minCount=count), so GCE creates all the new instances or none of them.
  - Deleting is idempotent; an instance already gone counts as deleted.
seealso:
  - module: flaskfleet.cloud.ec2_host
"""

EXAMPLES = r"""
- name: Five web hosts for the hello app, SSH only from the office
  flaskfleet.cloud.gce_host:
    name: hello-web
    group: web
    app: hello
    count: 5
    zone: europe-west1-b
    project: my-project-123
    machine_type: e2-small
    ssh_public_key: "{{ lookup('ansible.builtin.file', '.flaskfleet/id_ed25519.pub') }}"
    ssh_cidrs: [203.0.113.0/24]
  register: web_hosts

- name: Scale down to three (the two oldest are deleted)
  flaskfleet.cloud.gce_host:
    name: hello-web
    group: web
    app: hello
    count: 3
    zone: europe-west1-b

- name: Remove every host of the group and its firewall rule
  flaskfleet.cloud.gce_host:
    name: hello-web
    group: web
    app: hello
    zone: europe-west1-b
    state: absent

- name: A bastion with an external IP, SSH open to everyone (explicitly weaker)
  flaskfleet.cloud.gce_host:
    name: bastion
    zone: europe-west1-b
    public_ip: true
    ssh_cidrs: [0.0.0.0/0]
    allow_world_ssh: true
    read_host_keys: true
"""

RETURN = r"""
instances:
  description: The instances with this identity after the run (deleted ones are not listed).
  returned: always
  type: list
  elements: dict
  sample:
    - name: hello-web-1
      id: "4000000000000000001"
      status: RUNNING
      zone: europe-west1-b
      machine_type: e2-small
      creation_timestamp: "2026-01-01T08:00:01.000-08:00"
      private_ip_address: 10.132.0.2
      public_ip_address: null
      network: default
      labels: {flaskfleet-managed: "true", flaskfleet-name: hello-web, flaskfleet-group: web, flaskfleet-app: hello}
      network_tags: [hello-web]
      shielded_vm: {secure_boot: true, vtpm: true, integrity_monitoring: true}
      self_link: https://www.googleapis.com/compute/v1/projects/my-project-123/zones/europe-west1-b/instances/hello-web-1
      host_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."]
created:
  description: Names of the instances created by this run (in check mode, the names they would get).
  returned: always
  type: list
  elements: str
  sample: [hello-web-4, hello-web-5]
deleted:
  description: Names of the instances deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [hello-web-1]
deleted_instances:
  description: The instances deleted (or, in check mode, that would be), described like RV(instances) before deletion.
  returned: always
  type: list
  elements: dict
  sample: []
firewall:
  description: What happened to the SSH firewall rule, V(created), V(updated), V(deleted) or V(unchanged).
  returned: always
  type: str
  sample: created
"""

import concurrent.futures
import re
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.flaskfleet.cloud.plugins.module_utils._cloud import if_missing, run_and_exit
from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import (
    HostSetRun,
    count_problem,
    identity_argument_spec,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._gcp import (
    LABEL_APP,
    LABEL_GROUP,
    LABEL_KEY_RE,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_USER,
    LABEL_VALUE_RE,
    REQUEST_TIMEOUT,
    FleetGCPModule,
    GCPError,
    check_zone,
    gcp_error_handler,
    is_not_found,
    label_value,
    list_zone_instances,
    summarize_instance,
    wait_operation,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._world_ssh import (
    WORLD_NETWORKS,
    refuse_world_ssh,
)

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$")
IMAGE_RE = re.compile(
    r"^(?:https://[^/]+/compute/v1/)?(?:projects/([^/]+)/global/images/)?(family/)?([a-z][-a-z0-9]*)$"
)
PARALLEL = 16

# --- the decisions (pure functions) --------------------------------------------------------


def identity_labels(params):
    """The labels that make an instance one of ours for this name/group/app."""
    labels = {
        LABEL_MANAGED: "true",
        LABEL_NAME: params["name"],
        LABEL_GROUP: label_value(params["group"] or params["name"]),
    }
    if params.get("app"):
        labels[LABEL_APP] = label_value(params["app"])
    return labels


def wanted_labels(params):
    """Every label a new instance gets (identity labels win over ``labels``)."""
    labels = dict((k, str(v)) for k, v in (params.get("labels") or {}).items())
    labels[LABEL_USER] = label_value(params["user"])
    labels.update(identity_labels(params))
    return labels


def plan_count(instances, count):
    """Exact-count arithmetic: ``(number to create, [names to delete, oldest first])``."""
    if len(instances) <= count:
        return count - len(instances), []
    oldest_first = sorted(instances, key=lambda i: (i.creation_timestamp, i.name))
    return 0, [i.name for i in oldest_first[: len(instances) - count]]


def free_names(prefix, taken, count):
    """``count`` names ``<prefix>-<n>`` with the lowest numbers not in ``taken``."""
    names, number = [], 1
    while len(names) < count:
        candidate = "%s-%d" % (prefix, number)
        if candidate not in taken:
            names.append(candidate)
        number += 1
    return names


def firewall_name(params):
    """The SSH firewall rule of this identity."""
    return "%s-ssh" % params["name"]


def wanted_firewall(params):
    """The firewall rule body for ``ssh_cidrs`` (``None`` when no rule is wanted)."""
    if params["state"] == "absent" or not params["ssh_cidrs"]:
        return None
    return {
        "name": firewall_name(params),
        "network": resource_path(params["network"], "global/networks"),
        "direction": "INGRESS",
        "priority": 1000,
        "description": "flaskfleet: SSH to %s from the given networks" % params["name"],
        "allowed": [{"I_p_protocol": "tcp", "ports": ["22"]}],
        "source_ranges": sorted(params["ssh_cidrs"]),
        "target_tags": [params["name"]],
    }


def firewall_differs(current, wanted):
    """Does the existing rule (a ``compute_v1.Firewall``) differ from ``wanted`` where it matters?"""
    allowed = sorted((a.I_p_protocol, tuple(a.ports)) for a in current.allowed)
    return (
        sorted(current.source_ranges) != wanted["source_ranges"]
        or list(current.target_tags) != wanted["target_tags"]
        or allowed != [("tcp", ("22",))]
        or current.direction != "INGRESS"
    )


def resource_path(value, collection):
    """``default`` -> ``global/networks/default``; paths and URLs are kept."""
    return value if "/" in value else "%s/%s" % (collection, value)


def metadata_items(params):
    """Instance metadata: OS Login or our one key, and guest attributes for the host keys."""
    os_login = params["os_login"] if params["os_login"] is not None else not params.get("ssh_public_key")
    items = [
        {"key": "enable-oslogin", "value": "TRUE" if os_login else "FALSE"},
        {"key": "enable-guest-attributes", "value": "TRUE"},
    ]
    if params.get("ssh_public_key"):
        items.append({"key": "ssh-keys", "value": "%s:%s" % (params["user"], params["ssh_public_key"].strip())})
        items.append({"key": "block-project-ssh-keys", "value": "TRUE"})
    return items


def bulk_request(params, project, image_link, names):
    """The ``bulkInsert`` request: all ``names`` in one call, all or nothing, secure defaults applied."""
    interface = {"network": resource_path(params["network"], "global/networks")}
    if params.get("subnetwork"):
        interface["subnetwork"] = params["subnetwork"]
    if params["public_ip"]:
        interface["access_configs"] = [{"name": "External NAT", "type_": "ONE_TO_ONE_NAT"}]
    disk = {"source_image": image_link, "disk_type": params["disk_type"]}
    if params.get("disk_size_gb"):
        disk["disk_size_gb"] = params["disk_size_gb"]
    properties = {
        "machine_type": params["machine_type"],
        "disks": [{"boot": True, "auto_delete": True, "initialize_params": disk}],
        "network_interfaces": [interface],
        "labels": wanted_labels(params),
        "metadata": {"items": metadata_items(params)},
        "tags": {"items": [params["name"]]},
        "shielded_instance_config": {
            "enable_secure_boot": params["shielded_vm"],
            "enable_vtpm": params["shielded_vm"],
            "enable_integrity_monitoring": params["shielded_vm"],
        },
    }
    return {
        "project": project,
        "zone": params["zone"],
        "bulk_insert_instance_resource_resource": {
            "count": len(names),
            "min_count": len(names),
            "per_instance_properties": dict((name, {}) for name in names),
            "instance_properties": properties,
        },
    }


# --- tiny API wrappers ---------------------------------------------------------------------


@gcp_error_handler("look up the image")
def find_image(clients, image):
    """The self link of ``image`` (one ``images.get`` or ``images.getFromFamily``)."""
    project, family, name = IMAGE_RE.match(image).groups()
    request = {"project": project or clients.project}
    images = clients.get("images")
    try:
        if family:
            found = images.get_from_family(
                request=dict(request, family=name), retry=clients.retry, timeout=REQUEST_TIMEOUT
            )
        else:
            found = images.get(request=dict(request, image=name), retry=clients.retry, timeout=REQUEST_TIMEOUT)
    except Exception as e:
        if is_not_found(e):
            raise GCPError(
                "image %s does not exist or is not readable by project %s: check image" % (image, clients.project)
            ) from e
        raise
    return found.self_link


@gcp_error_handler("create the instances")
def bulk_insert(clients, request):
    """Create all new instances with ONE call; returns the zone operation."""
    return clients.get("instances").bulk_insert_unary(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@gcp_error_handler("delete an instance")
@if_missing(is_not_found)
def delete_instance(clients, zone, name):
    """Delete one instance; ``None`` when it is already gone."""
    request = {"project": clients.project, "zone": zone, "instance": name}
    return clients.get("instances").delete_unary(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@gcp_error_handler("read the firewall rule")
@if_missing(is_not_found)
def get_firewall(clients, name):
    """The firewall rule ``name`` or ``None``."""
    request = {"project": clients.project, "firewall": name}
    return clients.get("firewalls").get(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@gcp_error_handler("write the firewall rule")
def put_firewall(clients, current, body):
    """Insert or patch the rule; returns the global operation."""
    firewalls = clients.get("firewalls")
    if current is None:
        request = {"project": clients.project, "firewall_resource": body}
        return firewalls.insert_unary(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)
    request = {"project": clients.project, "firewall": body["name"], "firewall_resource": body}
    return firewalls.patch_unary(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@gcp_error_handler("delete the firewall rule")
def delete_firewall(clients, name):
    """Delete the rule; returns the global operation."""
    request = {"project": clients.project, "firewall": name}
    return clients.get("firewalls").delete_unary(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@if_missing(is_not_found)
def guest_attributes(clients, request):
    """The instance's guest attributes for ``request``, ``None`` when there are none (yet)."""
    return clients.get("instances").get_guest_attributes(request=request, retry=clients.retry, timeout=REQUEST_TIMEOUT)


@gcp_error_handler("read the host keys")
def host_keys(clients, zone, name):
    """``["<type> <base64>", ...]`` from the guest attributes ``hostkeys/`` (empty until published)."""
    request = {"project": clients.project, "zone": zone, "instance": name, "query_path": "hostkeys/"}
    found = guest_attributes(clients, request)
    if found is None:
        return []
    return sorted("%s %s" % (item.key, item.value) for item in found.query_value.items if item.value)


def in_parallel(func, items):
    """``[func(item)]`` computed by a thread pool; the first error is raised after all finished."""
    if not items:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
        futures = [pool.submit(func, item) for item in items]
        concurrent.futures.wait(futures)
    for future in futures:
        if future.exception():
            raise future.exception()
    return [future.result() for future in futures]


# --- the module ----------------------------------------------------------------------------


class GceHosts(HostSetRun):
    """Observe the Compute Engine instances of one identity, decide, act, report."""

    def __init__(self, module):
        super().__init__(module, created=[], deleted=[], deleted_instances=[], firewall="unchanged", instances=[])
        self.clients = module.clients
        self.zone = self.params["zone"]

    def current(self):
        """Our instances in the zone (one paginated list); without ``app`` hosts of an app are not ours."""
        found = list_zone_instances(self.clients, self.zone, identity_labels(self.params))
        return [i for i in found if self.params.get("app") or LABEL_APP not in i.labels]

    def run(self):
        """Bring the hosts to the wanted state; returns the module result."""
        instances = self.current()
        count = 0 if self.params["state"] == "absent" else self.params["count"]
        create, delete = plan_count(instances, count)
        names = free_names(self.params["name"], [i.name for i in instances], create)
        rule = wanted_firewall(self.params)
        current_rule = get_firewall(self.clients, firewall_name(self.params))
        firewall = self.plan_firewall(current_rule, rule)
        kept = [i for i in instances if i.name not in delete]
        self.result["deleted_instances"] = [summarize_instance(i) for i in instances if i.name in delete]
        self.result["diff"] = self.diff(instances, names, delete, firewall)
        self.result["changed"] = bool(create or delete or firewall != "unchanged")
        if self.module.check_mode:
            self.result.update(created=names, deleted=delete, firewall=firewall)
            self.result["instances"] = [summarize_instance(i) for i in kept]
            return self.result
        if delete:
            self.delete(delete)
        if firewall != "unchanged":
            self.apply_firewall(current_rule, rule, firewall)
        if names:
            self.create(names)
            kept = self.current()
        self.result["instances"] = [summarize_instance(i) for i in kept]
        if self.params["read_host_keys"] and self.params["state"] != "absent":
            self.add_host_keys(self.result["instances"])
        return self.result

    @staticmethod
    def plan_firewall(current, wanted):
        """``created``/``updated``/``deleted``/``unchanged`` for the SSH rule."""
        if wanted is None:
            return "unchanged" if current is None else "deleted"
        if current is None:
            return "created"
        return "updated" if firewall_differs(current, wanted) else "unchanged"

    @staticmethod
    def diff(instances, names, delete, firewall):
        """``--diff``: instance name -> status, before and after, and the firewall rule."""
        before = dict((i.name, i.status) for i in instances)
        after = dict((k, v) for k, v in before.items() if k not in delete)
        after.update(dict((name, "RUNNING") for name in names))
        return {
            "before": {"count": len(before), "instances": before},
            "after": {"count": len(after), "instances": after, "firewall": firewall},
        }

    def delete(self, names):
        """Delete the extras in parallel (one call each) and poll one list per round until gone."""
        in_parallel(lambda name: delete_instance(self.clients, self.zone, name), names)
        self.result["deleted"] = names
        if not self.params["wait"]:
            return
        delay = 0.5
        while True:
            left = sorted(set(names) & set(i.name for i in self.current()))
            if not left:
                return
            if time.time() + delay > self.deadline:
                raise GCPError("timed out waiting for %s to be deleted: raise wait_timeout" % ", ".join(left))
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)

    def apply_firewall(self, current, rule, action):
        """Create, patch or delete the SSH rule and wait for its global operation."""
        if action == "deleted":
            operation = delete_firewall(self.clients, firewall_name(self.params))
        else:
            operation = put_firewall(self.clients, current, rule)
        self.result["firewall"] = action
        wait_operation(self.clients, operation, self.deadline, "%s the firewall rule" % action.rstrip("d"))

    def create(self, names):
        """Create ``names`` with ONE bulkInsert and wait for its zone operation."""
        image = find_image(self.clients, self.params["image"])
        operation = bulk_insert(self.clients, bulk_request(self.params, self.clients.project, image, names))
        self.result["created"] = names
        if self.params["wait"]:
            try:
                wait_operation(self.clients, operation, self.deadline, "create the instances")
            except GCPError:
                # bulkInsert with minCount=count: on failure GCE created none of them.
                self.result["created"] = []
                raise

    def add_host_keys(self, summaries):
        """Put ``host_keys`` into each summary; ask again for hosts whose agent has not published yet."""
        pending = dict((s["name"], s) for s in summaries)
        delay = 1.0
        while pending:
            names = sorted(pending)
            found = in_parallel(lambda n: host_keys(self.clients, self.zone, n), names)
            for name, keys in ((names[i], found[i]) for i in range(len(names))):
                pending[name]["host_keys"] = keys
                if keys:
                    del pending[name]
            if pending and time.time() + delay > self.deadline:
                self.module.warn(
                    "no host keys published yet by %s: record them out of band" % ", ".join(sorted(pending))
                )
                return
            if pending:
                time.sleep(delay)
                delay = min(delay * 1.5, 10.0)


def argument_spec():
    """The options of this module (the common GCP ones are added by FleetGCPModule)."""
    return dict(
        identity_argument_spec("admin"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        count=dict(type="int", default=1),
        zone=dict(type="str", fallback=(env_fallback, ["GCP_ZONE", "CLOUDSDK_COMPUTE_ZONE"])),
        machine_type=dict(type="str", default="e2-small"),
        image=dict(type="str", default="projects/debian-cloud/global/images/family/debian-12"),
        disk_size_gb=dict(type="int"),
        disk_type=dict(type="str", default="pd-balanced"),
        network=dict(type="str", default="default"),
        subnetwork=dict(type="str"),
        public_ip=dict(type="bool", default=False),
        shielded_vm=dict(type="bool", default=True),
        os_login=dict(type="bool"),
        ssh_public_key=dict(type="str", no_log=False),
        ssh_cidrs=dict(type="list", elements="str", default=[]),
        allow_world_ssh=dict(type="bool", default=False),
        labels=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        read_host_keys=dict(type="bool", default=False),
    )


def check_params(module):
    """Checks AnsibleModule cannot express: fail with one line before any API call."""
    params = module.params
    if not NAME_RE.match(params["name"]):
        module.fail_json(
            msg="name %r is not usable for GCE instances: lower-case letters, digits and '-', starting with a "
            "letter, at most 50 characters" % params["name"]
        )
    problem = count_problem(params, "disk_size_gb")
    if problem:
        module.fail_json(msg=problem)
    if params["os_login"] and params.get("ssh_public_key"):
        module.fail_json(msg="os_login and ssh_public_key exclude each other: OS Login ignores metadata keys")
    if not IMAGE_RE.match(params["image"]):
        module.fail_json(
            msg="image %r is not an image path: use projects/P/global/images/NAME or "
            "projects/P/global/images/family/FAMILY" % params["image"]
        )
    for key, value in params["labels"].items():
        if not LABEL_KEY_RE.match(key) or not LABEL_VALUE_RE.match(str(value)):
            module.fail_json(
                msg="label %s=%s is not a valid GCE label: keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}"
                % (key, value)
            )
    try:
        world = set(params["ssh_cidrs"]) & set(WORLD_NETWORKS)
        refuse_world_ssh(("tcp 22 from %s" % cidr for cidr in world), params["allow_world_ssh"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    try:
        check_zone(params["zone"])
    except GCPError as e:
        module.fail_json(msg=str(e))


def main():
    """Entry point: parse, check, run, report."""
    module = FleetGCPModule(argument_spec(), supports_check_mode=True)
    check_params(module)
    run_and_exit(
        module,
        GceHosts(module),
        GCPError,
        lambda done: bool(done["created"] or done["deleted"] or done["firewall"] != "unchanged"),
        keep_diff=False,
    )


if __name__ == "__main__":
    main()
