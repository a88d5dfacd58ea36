#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: azure_vm
short_description: An exact number of Azure VMs, identified by tags, with secure defaults
version_added: 0.2.0
description:
  - Ensures that exactly O(count) Azure virtual machines in O(resource_group) carry the identity
    tags of O(name), O(group) and O(app) (C(flaskfleet.name), C(flaskfleet.group), C(flaskfleet.app),
    C(flaskfleet.managed)), the same tags as M(flaskfleet.cloud.ec2_host) uses.
  - The resource group, the virtual network with its subnet and the network security group are
    created when missing. Each VM gets its own network interface (and, only when asked, its own
    public IP), made by Azure from the VM's network interface configuration and deleted with it.
  - All missing VMs are created together in ONE Azure Resource Manager template deployment (one
    C(PUT) of C(Microsoft.Resources/deployments) in incremental mode, its template a C(copy) loop
    over the new VMs' names), then the deployment's long-running operation is polled until it ends
    (Azure's C(Retry-After) paces the polls, no fixed sleep). When the deployment fails, the VMs of
    this run are deleted again and the task fails with one line naming the deployment's error.
  - Extra VMs are deleted with one C(DELETE) each, all in parallel, oldest first.
  - So the number of API calls does not grow with O(count) when creating, one list of the group's
    VMs (and one more after the deployment), one image lookup, one VM size list, one usage (quota)
    list, one GET each for the network and the security group, the deployment and its polls, one
    list each of NICs and public IPs for the addresses.
  - Secure by default, login only with the SSH key (C(disablePasswordAuthentication)), no public IP,
    SSH allowed only from O(ssh_cidrs) (never from the whole internet unless O(allow_world_ssh=true)),
    encryption at host for the managed disks. Each default can be changed explicitly.
  - Every new VM gets an SSH host key made by this module and handed to cloud-init in the VM's custom
    data (which ARM never returns); its public half is returned in RV(host_keys) so the host can be
    checked strictly from the first connection.
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.identity
  - flaskfleet.cloud.azure
options:
  name:
    description:
      - Name of the hosts (tag C(flaskfleet.name)); VM names are C(<name>-<8 hex digits>).
      - Letters, digits and C(-), at most 50 characters.
    type: str
    required: true
  group:
    description:
      - Inventory group of the hosts (tag C(flaskfleet.group)), for example C(web). Defaults to O(name).
    type: str
  user:
    description:
      - The admin user created on the VMs (recorded in the tag C(flaskfleet.user) for the inventory).
      - Azure refuses some names, for example C(admin) and C(root).
    type: str
    default: azureuser
  state:
    description:
      - V(present) keeps exactly O(count) VMs; V(absent) deletes every VM with this identity.
    type: str
    choices: [present, absent]
    default: present
  resource_group:
    description:
      - The resource group of the VMs and their network; created in O(location) when missing.
    type: str
    required: true
  location:
    description:
      - The Azure region, for example C(westeurope). Required unless O(state=absent).
    type: str
  vm_size:
    description:
      - The VM size, checked against the location's sizes and the vCPU quota before anything is made.
    type: str
    default: Standard_B1s
  image:
    description:
      - The marketplace image. The default is Debian 12.
    type: dict
    default: {}
    suboptions:
      publisher:
        description: The image publisher.
        type: str
        default: Debian
      offer:
        description: The image offer.
        type: str
        default: debian-12
      sku:
        description: The image SKU.
        type: str
        default: 12-gen2
      version:
        description: An image version, or V(latest).
        type: str
        default: latest
  ssh_public_key:
    description:
      - The OpenSSH public key that may log in as O(user). Required when VMs are created.
    type: str
  ssh_cidrs:
    description:
      - Networks allowed to reach SSH (port 22), for example C(203.0.113.0/24).
      - Empty means no SSH rule, the VMs are then reachable only from inside the virtual network.
    type: list
    elements: str
    default: []
  allow_world_ssh:
    description:
      - Allow a rule that opens SSH (port 22) to the whole internet (C(0.0.0.0/0), C(*), C(Internet)).
    type: bool
    default: false
  rules:
    description:
      - More inbound TCP rules of the security group.
    type: list
    elements: dict
    default: []
    suboptions:
      ports:
        description: Ports or ranges such as C(8000-8010).
        type: list
        elements: str
        required: true
      cidrs:
        description: Source networks, for example C(0.0.0.0/0) for a public web port.
        type: list
        elements: str
        required: true
  network_security_group:
    description:
      - Name of the network security group of the VMs' NICs. Defaults to C(<name>-nsg).
    type: str
  virtual_network:
    description:
      - The virtual network; created with O(address_prefix) when missing, left as it is when it exists.
    type: str
    default: flaskfleet-vnet
  address_prefix:
    description:
      - Address space of a new O(virtual_network).
    type: str
    default: 10.42.0.0/16
  subnet:
    description:
      - The subnet of the VMs (in O(virtual_network)).
    type: str
    default: default
  subnet_prefix:
    description:
      - Address range of the subnet when the network is created.
    type: str
    default: 10.42.0.0/24
  public_ip:
    description:
      - Give each VM a public IP address (Standard SKU, static). Off by default.
    type: bool
    default: false
  encryption_at_host:
    description:
      - Encrypt the VM's disks and caches on the host (C(securityProfile.encryptionAtHost)).
      - The subscription needs the C(Microsoft.Compute/EncryptionAtHost) feature registered.
      - V(false) leaves the managed disks encrypted at rest with platform-managed keys only.
    type: bool
    default: true
  disk_encryption_set_id:
    description:
      - Resource id of a disk encryption set, to encrypt the OS disk with a customer-managed key.
    type: str
  os_disk_size:
    description:
      - Size of the OS disk in GiB. Defaults to the image's size.
    type: int
  custom_data:
    description:
      - Cloud-init user data (plain text; it is base64-encoded for you).
      - When set, the module does not make host keys (RV(host_keys) stays empty).
    type: str
  tags:
    description:
      - More tags for new VMs (the identity tags always win).
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds to wait for all creations and deletions together.
    type: int
    default: 900
notes:
  - Settings such as O(vm_size) apply to VMs created from now on; existing VMs are kept.
  - The security group's rules are brought to the wanted set on every run with O(state=present).
  - When a creation fails, the VMs this run created are deleted again, so a failed run leaves no
    half-made hosts behind.
seealso:
  - module: flaskfleet.cloud.ec2_host
"""

EXAMPLES = r"""
- name: Five web hosts for the hello app, SSH only from the office
  flaskfleet.cloud.azure_vm:
    name: hello-web
    group: web
    app: hello
    count: 5
    resource_group: flaskfleet-hello
    location: westeurope
    ssh_public_key: "{{ lookup('ansible.builtin.file', '.flaskfleet/id_ed25519.pub') }}"
    ssh_cidrs: [203.0.113.0/24]
    rules:
      - ports: ["80", "443"]
        cidrs: [0.0.0.0/0]
  register: web_hosts

- name: Scale down to three (the two oldest are deleted)
  flaskfleet.cloud.azure_vm:
    name: hello-web
    group: web
    app: hello
    count: 3
    resource_group: flaskfleet-hello
    location: westeurope
    ssh_public_key: "{{ lookup('ansible.builtin.file', '.flaskfleet/id_ed25519.pub') }}"

- name: Remove every host of the group
  flaskfleet.cloud.azure_vm:
    name: hello-web
    group: web
    app: hello
    resource_group: flaskfleet-hello
    state: absent

- name: A bastion with a public IP (explicitly asked for)
  flaskfleet.cloud.azure_vm:
    name: bastion
    resource_group: flaskfleet-hello
    location: westeurope
    public_ip: true
    ssh_cidrs: [198.51.100.7/32]
    ssh_public_key: "{{ lookup('ansible.builtin.file', '.flaskfleet/id_ed25519.pub') }}"
"""

RETURN = r"""
vms:
  description: The VMs with this identity after the run (deleted ones are not listed).
  returned: always
  type: list
  elements: dict
  sample:
    - name: hello-web-1a2b3c4d
      id: /subscriptions/.../resourceGroups/flaskfleet-hello/providers/Microsoft.Compute/virtualMachines/hello-web-1a2b
      resource_group: flaskfleet-hello
      location: westeurope
      vm_size: Standard_B1s
      provisioning_state: Succeeded
      time_created: "2025-01-01T10:00:00.000000+00:00"
      image: Debian:debian-12:12-gen2:0.20250201.2
      admin_username: azureuser
      password_authentication: false
      encryption_at_host: true
      private_ip_address: 10.42.0.4
      public_ip_address: null
      tags: {flaskfleet.name: hello-web, flaskfleet.group: web, flaskfleet.app: hello, flaskfleet.managed: "true"}
created:
  description: Names of the VMs created by this run (in check mode, how many would be, as C(new-N)).
  returned: always
  type: list
  elements: str
  sample: [hello-web-1a2b3c4d]
deleted:
  description: Names of the VMs deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [hello-web-9f8e7d6c]
host_keys:
  description: VM name -> the public SSH host key the module gave the new VM (C(ssh-ed25519 AAAA...)).
  returned: always
  type: dict
  sample: {hello-web-1a2b3c4d: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...}
deployment:
  description: Name of the template deployment that created this run's VMs.
  returned: when VMs were created
  type: str
  sample: hello-web-5e6f7a8b
security_rules:
  description: The inbound rules of the security group after the run, one readable line each.
  returned: when O(state=present)
  type: list
  elements: str
  sample: ["tcp 22 from 203.0.113.0/24", "tcp 80 from 0.0.0.0/0"]
"""

import base64
import ipaddress
import re
import time
import uuid

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _identity as identity
from ansible_collections.flaskfleet.cloud.plugins.module_utils._cloud import if_missing, run_and_exit
from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import TAG_APP, TAG_MANAGED, TAG_NAME
from ansible_collections.flaskfleet.cloud.plugins.module_utils._azure import (
    AzureError,
    FleetAzureModule,
    addresses_by_vm,
    as_dict,
    azure_error_handler,
    is_not_found,
    start_deployment,
    summarize_vm,
    wait_deployment,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._world_ssh import (
    WORLD_NETWORKS,
    opens_port_22,
    refuse_world_ssh,
)

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError:  # cryptography comes with azure-identity; without it no host keys are made
    Ed25519PrivateKey = None

WORLD = (*WORLD_NETWORKS, "*", "internet", "any")
NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,48}[A-Za-z0-9])?$")
NETWORK_API_VERSION = "2020-11-01"
VM_API_VERSION = "2024-07-01"

# --- the decisions (pure functions) ----------------------------------------------------------


def wanted_tags(params):
    """Every tag a new VM of this identity gets (identity tags win over ``tags``)."""
    return identity.wanted_tags(params)


def ours(vms, params):
    """The VMs carrying this identity (without ``app``, VMs of some app are not ours)."""
    wanted = identity.identity_tags(params)
    found = []
    for vm in vms:
        tags = vm.get("tags") or {}
        if all(tags.get(k) == v for k, v in wanted.items()) and (params.get("app") or TAG_APP not in tags):
            found.append(vm)
    return found


def plan_count(vms, count):
    """``(number to create, [names to delete])``: the oldest (``timeCreated``, then name) go first."""
    return identity.plan_count(vms, count, age=lambda v: v.get("properties", {}).get("timeCreated") or "",
                               key=lambda v: v["name"])  # fmt: skip


def parse_ports(ports):
    """``["80", "8000-8010"]`` -> ARM port strings; ``ValueError`` names a bad one."""
    result = []
    for item in ports:
        text = str(item).strip()
        low, sep, high = text.partition("-")
        if not (low.isdigit() and (not sep or high.isdigit())):
            raise ValueError("port %r is not a number or a range like 8000-8010" % text)
        if not (0 < int(low) <= int(high if sep else low) <= 65535):
            raise ValueError("port range %r must be within 1-65535, low to high" % text)
        result.append(text)
    return result


def parse_cidr(text):
    """A normalised source (network, or an ARM tag like ``Internet``); ``ValueError`` when bad."""
    if str(text).lower() in WORLD[2:]:
        return str(text)
    try:
        return str(ipaddress.ip_network(str(text), strict=False))
    except ValueError:
        raise ValueError("%r is not a network like 203.0.113.0/24" % text) from None


def opens_ssh(ports):
    """Does one of these port strings cover 22?"""
    for port in ports:
        low, _sep, high = port.partition("-")
        if opens_port_22(low, high or None):
            return True
    return False


def wanted_rules(params):
    """``[(ports tuple, source)]`` for SSH from ``ssh_cidrs`` plus ``rules``; refuses world-open SSH."""
    rules = [(("22",), parse_cidr(c)) for c in params["ssh_cidrs"]]
    for rule in params["rules"]:
        ports = tuple(parse_ports(rule["ports"]))
        rules.extend((ports, parse_cidr(c)) for c in rule["cidrs"])
    refuse_world_ssh(
        (describe_rule(r) for r in rules if r[1].lower() in WORLD and opens_ssh(r[0])), params["allow_world_ssh"]
    )
    unique = []
    for rule in rules:
        if rule not in unique:
            unique.append(rule)
    return unique


def describe_rule(rule):
    """One readable line for a rule, e.g. ``tcp 22 from 203.0.113.0/24``."""
    return "tcp %s from %s" % (",".join(rule[0]), rule[1])


def security_rules(rules):
    """ARM ``securityRules`` for wanted rules (priorities from 100, in order)."""
    result = []
    for number, (ports, source) in enumerate(rules):
        result.append(
            {
                "name": "flaskfleet-%d" % (number + 1),
                "properties": {
                    "protocol": "Tcp",
                    "access": "Allow",
                    "direction": "Inbound",
                    "priority": 100 + number,
                    "sourceAddressPrefix": source,
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRanges": list(ports),
                },
            }
        )
    return result


def current_rules(nsg):
    """``[(ports tuple, source)]`` of an existing security group's inbound allow rules."""
    rules = []
    ordered = sorted(
        (nsg.get("properties") or {}).get("securityRules") or [], key=lambda r: r["properties"].get("priority", 0)
    )
    for rule in ordered:
        props = rule.get("properties", {})
        if props.get("direction") != "Inbound" or props.get("access") != "Allow":
            continue
        ports = props.get("destinationPortRanges") or [props.get("destinationPortRange")]
        sources = props.get("sourceAddressPrefixes") or [props.get("sourceAddressPrefix")]
        rules.extend((tuple(ports), source) for source in sources)
    return rules


def new_host_key():
    """``(private OpenSSH text, public "ssh-ed25519 ..." line)`` of a fresh ed25519 host key."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def host_key_cloud_config(private, public):
    """Cloud-init custom data installing this host key (and no other) before sshd first starts."""
    indented = "".join("    %s\n" % line for line in private.strip().splitlines())
    return (
        "#cloud-config\n"
        "ssh_deletekeys: true\n"
        "ssh_genkeytypes: []\n"
        "ssh_keys:\n"
        "  ed25519_private: |\n%s"
        "  ed25519_public: %s\n" % (indented, public)
    )


def vm_body(params, vm_name, subnet_id, nsg_id, custom_data):
    """The ARM document of one new VM, secure defaults applied."""
    image = params["image"]
    nic_config = {
        "name": "%s-nic" % vm_name,
        "properties": {
            "primary": True,
            "deleteOption": "Delete",
            "networkSecurityGroup": {"id": nsg_id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": True, "subnet": {"id": subnet_id}}}],
        },
    }
    if params["public_ip"]:
        nic_config["properties"]["ipConfigurations"][0]["properties"]["publicIPAddressConfiguration"] = {
            "name": "%s-ip" % vm_name,
            "sku": {"name": "Standard"},
            "properties": {"deleteOption": "Delete", "publicIPAllocationMethod": "Static"},
        }
    managed_disk = {"storageAccountType": "StandardSSD_LRS"}
    if params.get("disk_encryption_set_id"):
        managed_disk["diskEncryptionSet"] = {"id": params["disk_encryption_set_id"]}
    os_disk = {"createOption": "FromImage", "deleteOption": "Delete", "managedDisk": managed_disk}
    if params.get("os_disk_size"):
        os_disk["diskSizeGB"] = params["os_disk_size"]
    os_profile = {
        "computerName": vm_name,
        "adminUsername": params["user"],
        "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "provisionVMAgent": True,
            "ssh": {
                "publicKeys": [
                    {"path": "/home/%s/.ssh/authorized_keys" % params["user"], "keyData": params["ssh_public_key"]}
                ]
            },
        },
    }
    if custom_data:
        os_profile["customData"] = base64.b64encode(custom_data.encode()).decode()
    return {
        "location": params["location"],
        "tags": wanted_tags(params),
        "properties": {
            "hardwareProfile": {"vmSize": params["vm_size"]},
            "storageProfile": {
                "imageReference": {
                    "publisher": image["publisher"],
                    "offer": image["offer"],
                    "sku": image["sku"],
                    "version": image["version"],
                },
                "osDisk": os_disk,
            },
            "osProfile": os_profile,
            "securityProfile": {"encryptionAtHost": bool(params["encryption_at_host"])},
            "networkProfile": {
                "networkApiVersion": NETWORK_API_VERSION,
                "networkInterfaceConfigurations": [nic_config],
            },
        },
    }


def vms_template(params, subnet_id, nsg_id, with_custom_data):
    """The ARM template creating every new VM (and, from its NIC configuration, its NIC) in one deployment.

    One resource with a C(copy) loop over the ``vmNames`` parameter; the per-VM custom data (each
    VM's private host key) travels in the ``customData`` secureObject parameter, which ARM never
    returns nor logs in the deployment history.
    """
    body = vm_body(params, "VMNAME", subnet_id, nsg_id, None)
    name = "[parameters('vmNames')[copyIndex()]]"
    props = body["properties"]
    props["osProfile"]["computerName"] = name
    nic = props["networkProfile"]["networkInterfaceConfigurations"][0]
    nic["name"] = "[format('{0}-nic', parameters('vmNames')[copyIndex()])]"
    pip = nic["properties"]["ipConfigurations"][0]["properties"].get("publicIPAddressConfiguration")
    if pip:
        pip["name"] = "[format('{0}-ip', parameters('vmNames')[copyIndex()])]"
    template_parameters = {"vmNames": {"type": "array"}}
    if with_custom_data:
        props["osProfile"]["customData"] = "[parameters('customData').values[copyIndex()]]"
        template_parameters["customData"] = {"type": "secureObject"}
    resource = {
        "type": "Microsoft.Compute/virtualMachines",
        "apiVersion": VM_API_VERSION,
        "name": name,
        "copy": {"name": "vms", "count": "[length(parameters('vmNames'))]", "mode": "Parallel"},
    }
    resource.update(body)
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": template_parameters,
        "resources": [resource],
    }


# --- tiny API wrappers -----------------------------------------------------------------------


@azure_error_handler("list the VMs of the resource group")
@if_missing(is_not_found)
def list_vms(azure, group):
    """The resource group's VMs, or ``None`` when the group does not exist (one paged list)."""
    return [as_dict(vm) for vm in azure.compute.virtual_machines.list(group)]


@azure_error_handler("look up the image")
def check_image(azure, location, image):
    """Fail early (nothing made) when the image (version) does not exist in the location."""
    versions = azure.compute.virtual_machine_images.list(
        location, image["publisher"], image["offer"], image["sku"], orderby="name desc"
    )
    names = [as_dict(v).get("name") for v in versions]
    if not names or (image["version"] != "latest" and image["version"] not in names):
        raise AzureError(
            "image %s:%s:%s:%s does not exist in %s: check image (publisher, offer, sku, version) and location"
            % (image["publisher"], image["offer"], image["sku"], image["version"], location)
        )


@azure_error_handler("check the VM size and the vCPU quota")
def check_capacity(azure, location, vm_size, count):
    """Fail early when the size does not exist or ``count`` more VMs exceed the regional vCPU quota."""
    sizes = dict(
        (as_dict(s)["name"].lower(), as_dict(s).get("numberOfCores") or 1)
        for s in azure.compute.virtual_machine_sizes.list(location)
    )
    if vm_size.lower() not in sizes:
        raise AzureError("VM size %s does not exist in %s: check vm_size" % (vm_size, location))
    needed = sizes[vm_size.lower()] * count
    for usage in azure.compute.usage.list(location):
        usage = as_dict(usage)
        if usage.get("name", {}).get("value") == "cores" and usage["currentValue"] + needed > usage["limit"]:
            raise AzureError(
                "quota exceeded: %d more vCPUs (%d x %s) would pass the limit of %d Total Regional vCPUs in %s "
                "(%d in use): lower count, use a smaller vm_size or ask Azure for more"
                % (needed, count, vm_size, usage["limit"], location, usage["currentValue"])
            )


@azure_error_handler("look up the resource group")
@if_missing(is_not_found, False)
def group_exists(azure, group):
    """Does the resource group exist?"""
    azure.resource.resource_groups.get(group)
    return True


@azure_error_handler("create the resource group")
def create_group(azure, group, location):
    """Create the resource group (one synchronous PUT)."""
    azure.resource.resource_groups.create_or_update(group, {"location": location, "tags": {TAG_MANAGED: "true"}})


@azure_error_handler("look up the network")
@if_missing(is_not_found)
def get_network_resource(operations, group, name):
    """A network resource as a dict, ``None`` when it (or its group) does not exist."""
    return as_dict(operations.get(group, name))


@azure_error_handler("start the creation or deletion")
def begin(operation, *args):
    """Start one long-running operation; returns its poller (the SDK polls in a background thread)."""
    return operation(*args)


@azure_error_handler("wait for Azure")
def wait_all(pollers, deadline):
    """Wait for every poller; each keeps polling in parallel. Returns their results in order."""
    results = []
    for label, poller in pollers:
        poller.wait(timeout=max(1, deadline - time.time()))
        if not poller.done():
            raise AzureError("timed out waiting for %s: raise wait_timeout" % label)
        results.append(poller.result())
    return results


@azure_error_handler("read the VMs' addresses")
def vm_addresses(azure, group):
    """``{vm id: (private ip, public ip)}`` from one NIC list and one public IP list."""
    nics = [as_dict(n) for n in azure.network.network_interfaces.list(group)]
    ips = [as_dict(p) for p in azure.network.public_ip_addresses.list(group)]
    return addresses_by_vm(nics, ips)


# --- the module ------------------------------------------------------------------------------


class AzureVms(identity.HostSetRun):
    """Observe the VMs of one identity, decide, act, report."""

    def __init__(self, module):
        super().__init__(module, created=[], deleted=[], host_keys={}, vms=[])
        self.azure = module.azure
        self.group = self.params["resource_group"]

    def run(self):
        """Bring the VMs to the wanted state; returns the module result."""
        found = list_vms(self.azure, self.group)
        group_exists_now = found is not None
        vms = ours(found or [], self.params)
        count = 0 if self.params["state"] == "absent" else self.params["count"]
        create, delete = plan_count(vms, count)
        kept = [v for v in vms if v["name"] not in delete]
        self.result["diff"] = self.diff(vms, create, delete)
        if self.params["state"] == "present":
            rules = wanted_rules(self.params)
            nsg = get_network_resource(self.azure.network.network_security_groups, self.group, self.nsg_name())
            rules_differ = nsg is None or current_rules(nsg) != rules
            self.result["security_rules"] = [describe_rule(r) for r in rules]
            if create:
                check_image(self.azure, self.params["location"], self.params["image"])
                check_capacity(self.azure, self.params["location"], self.params["vm_size"], create)
        else:
            rules_differ = False
        self.result["changed"] = bool(create or delete or (rules_differ and (create or kept)))
        if self.module.check_mode:
            self.result.update(created=["new-%d" % (n + 1) for n in range(create)], deleted=delete)
            self.result["vms"] = [summarize_vm(v) for v in kept]
            return self.result
        if delete:
            self.delete(delete)
        if create or (rules_differ and kept):
            self.ensure_network(group_exists_now, rules, rules_differ)
        if create:
            kept = kept + self.create(create)
        self.result["vms"] = self.summaries(kept)
        return self.result

    def nsg_name(self):
        return self.params["network_security_group"] or "%s-nsg" % self.params["name"]

    @staticmethod
    def diff(vms, create, delete):
        """``--diff``: VM name -> provisioning state, before and after."""
        before = dict((v["name"], v.get("properties", {}).get("provisioningState")) for v in vms)
        after = dict((k, s) for k, s in before.items() if k not in delete)
        after.update(dict(("new-%d" % (n + 1), "Succeeded") for n in range(create)))
        return {"before": {"count": len(before), "vms": before}, "after": {"count": len(after), "vms": after}}

    def ensure_network(self, group_exists_now, rules, rules_differ):
        """The resource group, virtual network (with subnet) and security group, when missing or different."""
        params, network = self.params, self.azure.network
        if not group_exists_now and not group_exists(self.azure, self.group):
            create_group(self.azure, self.group, params["location"])
        pollers = []
        vnet = get_network_resource(network.virtual_networks, self.group, params["virtual_network"])
        if vnet is None:
            body = {
                "location": params["location"],
                "tags": {TAG_MANAGED: "true"},
                "properties": {
                    "addressSpace": {"addressPrefixes": [params["address_prefix"]]},
                    "subnets": [{"name": params["subnet"], "properties": {"addressPrefix": params["subnet_prefix"]}}],
                },
            }
            pollers.append(
                (
                    "the virtual network",
                    begin(network.virtual_networks.begin_create_or_update, self.group, params["virtual_network"], body),
                )
            )
        elif not any(s.get("name") == params["subnet"] for s in vnet.get("properties", {}).get("subnets", [])):
            raise AzureError(
                "virtual network %s has no subnet %s: name an existing subnet or another virtual_network"
                % (params["virtual_network"], params["subnet"])
            )
        if rules_differ:
            body = {
                "location": params["location"],
                "tags": {TAG_MANAGED: "true", TAG_NAME: params["name"]},
                "properties": {"securityRules": security_rules(rules)},
            }
            pollers.append(
                (
                    "the security group",
                    begin(network.network_security_groups.begin_create_or_update, self.group, self.nsg_name(), body),
                )
            )
        wait_all(pollers, self.deadline)

    def ids(self):
        """The subnet and security group ids new VMs refer to."""
        prefix = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network" % (
            self.params["subscription_id"],
            self.group,
        )
        subnet = "%s/virtualNetworks/%s/subnets/%s" % (prefix, self.params["virtual_network"], self.params["subnet"])
        return subnet, "%s/networkSecurityGroups/%s" % (prefix, self.nsg_name())

    def create(self, count):
        """Create ``count`` VMs in ONE template deployment and wait on it; on failure delete what it made."""
        subnet_id, nsg_id = self.ids()
        names = ["%s-%s" % (self.params["name"], uuid.uuid4().hex[:8]) for _n in range(count)]
        custom = [self.params.get("custom_data") or self.host_key(name) for name in names]
        template = vms_template(self.params, subnet_id, nsg_id, any(custom))
        parameters = {"vmNames": {"value": names}}
        if any(custom):
            parameters["customData"] = {"value": {"values": [base64.b64encode(c.encode()).decode() for c in custom]}}
        deployment = "%s-%s" % (self.params["name"], uuid.uuid4().hex[:8])
        started = start_deployment(self.azure, self.group, deployment, template, parameters)
        self.result["created"] = list(names)
        self.result["deployment"] = deployment
        try:
            wait_deployment(self.azure, started, self.deadline)
            made = dict((v["name"], v) for v in list_vms(self.azure, self.group) or [])
        except AzureError as e:
            raise AzureError("%s; %s" % (e, self.roll_back())) from e
        missing = [n for n in names if n not in made]
        if missing:
            lost = ", ".join(missing)
            undone = self.roll_back()
            raise AzureError("deployment %s succeeded but VMs %s are missing; %s" % (deployment, lost, undone))
        return [made[n] for n in names]

    def host_key(self, name):
        """Cloud-init data with a new host key for ``name`` (public half kept for the result)."""
        if Ed25519PrivateKey is None:
            return None
        private, public = new_host_key()
        self.result["host_keys"][name] = public
        return host_key_cloud_config(private, public)

    def delete(self, names):
        """Delete ``names`` (with their NICs, IPs and disks) in parallel; wait for all."""
        pollers = [
            ("deleting VM %s" % n, begin(self.azure.compute.virtual_machines.begin_delete, self.group, n))
            for n in names
        ]
        self.result["deleted"] = list(names)
        wait_all(pollers, self.deadline)

    def roll_back(self):
        """Delete the VMs this run started to create, so a failed run leaves none behind."""
        names = list(self.result["created"])
        if not names:
            return "nothing was created"
        try:
            self.delete(names)
        except AzureError as e:
            self.result["deleted"] = []
            return "could NOT delete the VMs this run created (%s): %s" % (", ".join(names), e)
        self.result["created"], self.result["host_keys"], self.result["deleted"] = [], {}, []
        return "the %d VMs this run started to create were deleted again" % len(names)

    def summaries(self, vms):
        """Summaries of ``vms`` with their addresses (two list calls, whatever the number)."""
        if not vms:
            return []
        addresses = vm_addresses(self.azure, self.group)
        return [summarize_vm(v, addresses) for v in sorted(vms, key=lambda v: v["name"])]


def argument_spec():
    """The options of this module (the common Azure ones are added by FleetAzureModule)."""
    return dict(
        identity.identity_argument_spec("azureuser"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        count=dict(type="int", default=1),
        resource_group=dict(type="str", required=True),
        location=dict(type="str"),
        vm_size=dict(type="str", default="Standard_B1s"),
        image=dict(
            type="dict",
            default={},
            options=dict(
                publisher=dict(type="str", default="Debian"),
                offer=dict(type="str", default="debian-12"),
                sku=dict(type="str", default="12-gen2"),
                version=dict(type="str", default="latest"),
            ),
        ),
        ssh_public_key=dict(type="str", no_log=False),
        ssh_cidrs=dict(type="list", elements="str", default=[]),
        allow_world_ssh=dict(type="bool", default=False),
        rules=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                ports=dict(type="list", elements="str", required=True),
                cidrs=dict(type="list", elements="str", required=True),
            ),
        ),
        network_security_group=dict(type="str"),
        virtual_network=dict(type="str", default="flaskfleet-vnet"),
        address_prefix=dict(type="str", default="10.42.0.0/16"),
        subnet=dict(type="str", default="default"),
        subnet_prefix=dict(type="str", default="10.42.0.0/24"),
        public_ip=dict(type="bool", default=False),
        encryption_at_host=dict(type="bool", default=True),
        disk_encryption_set_id=dict(type="str"),
        os_disk_size=dict(type="int"),
        custom_data=dict(type="str"),
        tags=dict(type="dict", default={}),
        wait_timeout=dict(type="int", default=900),
    )


def check_params(module):
    """Checks AnsibleModule cannot express: fail with one line before any API call."""
    params = module.params
    if not NAME_RE.match(params["name"]):
        module.fail_json(msg="name %r must be letters, digits and '-', at most 50 characters" % params["name"])
    problem = identity.count_problem(params, "os_disk_size")
    if problem:
        module.fail_json(msg=problem)
    if params["state"] == "present":
        if not params["location"]:
            module.fail_json(msg="location is required with state present (for example westeurope)")
        if params["count"] > 0 and not (params["ssh_public_key"] or "").startswith(("ssh-", "ecdsa-")):
            module.fail_json(
                msg="ssh_public_key must be an OpenSSH public key (ssh-ed25519 AAAA... or ssh-rsa AAAA...)"
            )
        try:
            wanted_rules(params)
        except ValueError as e:
            module.fail_json(msg=str(e))


def main():
    """Entry point: parse, check, run, report."""
    module = FleetAzureModule(argument_spec(), supports_check_mode=True)
    check_params(module)
    run_and_exit(module, AzureVms(module), AzureError, lambda done: bool(done["created"] or done["deleted"]))


if __name__ == "__main__":
    main()
