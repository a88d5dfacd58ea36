# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet
short_description: The flaskfleet fleet, from local container hosts and EC2, as one inventory
version_added: 0.1.0
author:
  - flaskfleet developers (@flaskfleet)
description:
  - Lists the hosts of a flaskfleet fleet from one or more providers and gives every host the same variables,
    whatever its provider, so Ansible and flaskfleet's Fabric/Invoke tasks (which read this inventory) always agree.
  - The provider V(docker) lists the local container hosts made by M(flaskfleet.cloud.docker_host), found by their
    C(flaskfleet.*) labels. The provider V(ec2) lists EC2 instances by tags.
  - The provider V(azure) lists Azure VMs made by M(flaskfleet.cloud.azure_vm), by the same tags.
  - The provider V(gcp) lists Compute Engine instances by labels (C(flaskfleet-app), C(flaskfleet-group), ...,
    see M(flaskfleet.cloud.gce_host)); its hosts get C(flaskfleet_provider=gcp) and C(gcp_*) variables.
  - Every host gets C(ansible_host), C(ansible_port), C(ansible_user), C(flaskfleet_provider), C(flaskfleet_app),
    C(flaskfleet_group), C(ansible_ssh_private_key_file) and C(ansible_ssh_common_args) with strict host key checking
    against the project's known_hosts file (whose path is also C(flaskfleet_known_hosts_file), read by the
    C(flaskfleet) task library), and C(ansible_ssh_host_key_checking=true) so an environment that turns
    host key checking off (ansible-runner and AWX do by default) cannot; local hosts also get
    C(flaskfleet_published_ports) (container port to port on C(127.0.0.1), for example C(80) to C(32771)).
  - Every host is put into the group named by its C(flaskfleet_group) (for example C(web)) and into C(app_<app>);
    characters other than letters, digits and C(_) become C(_) (app C(hello-world) gives C(app_hello_world)).
    O(keyed_groups), O(groups) and O(compose) add more.
  - Uses a YAML configuration file whose name ends with C(.fleet.yml) or C(.fleet.yaml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - docker >= 7.0 (the Docker SDK for Python) for the V(docker) provider
  - boto3 and botocore for the V(ec2) provider
  - azure-identity, azure-mgmt-compute and azure-mgmt-network for the V(azure) provider
  - google-cloud-compute for the V(gcp) provider
options:
  plugin:
    description: The name of this plugin; it must be V(flaskfleet.cloud.fleet).
    type: str
    required: true
    choices: [flaskfleet.cloud.fleet]
  providers:
    description:
      - Where the hosts come from, one entry per source; entries of the same type may repeat (for example two apps).
      - A host listed by two entries is kept once (the first), with a warning.
    type: list
    elements: dict
    default: [{type: docker}]
    suboptions:
      type:
        description: The provider.
        type: str
        required: true
        choices: [docker, ec2, azure, gcp]
      app:
        description:
          - V(docker) only. List only hosts of this app (label C(flaskfleet.app)); all apps when not set.
        type: str
      groups:
        description:
          - V(docker) only. List only hosts in these groups (label C(flaskfleet.group)).
        type: list
        elements: str
      labels:
        description:
          - V(docker) and V(gcp). More container labels (V(docker)) or GCE labels (V(gcp), for example
            C(flaskfleet-app) with the value C(hello); GCE label keys are dashed, see M(flaskfleet.cloud.gce_host))
            the hosts must carry, as a mapping of label to value.
        type: dict
      include_stopped:
        description:
          - V(docker) only. Also list stopped hosts (they have no SSH port until started again).
        type: bool
        default: false
      docker_host:
        description:
          - V(docker) only. The Docker engine, for example V(unix:///var/run/docker.sock).
          - Defaults to E(DOCKER_HOST), then the local socket.
        type: str
      api_timeout:
        description:
          - V(docker) only. Timeout in seconds for a Docker API call.
        type: int
        default: 30
      ssh_private_key_file:
        description:
          - The SSH private key for this entry's hosts; overrides the top-level O(ssh_private_key_file).
        type: str
      regions:
        description:
          - V(ec2) only. The regions to list, one C(DescribeInstances) paginator each.
          - Defaults to E(AWS_REGION), then E(AWS_DEFAULT_REGION).
        type: list
        elements: str
      filters:
        description:
          - V(ec2) only. EC2 C(DescribeInstances) filters as a mapping of filter name to value or list of values,
            for example the filter C(tag:flaskfleet.app) with the value C(hello), or C(instance-type) with
            C([t3.micro, t3.small]). Only C(pending) and C(running) instances are listed.
        type: dict
      hostnames:
        description:
          - V(ec2) only. Inventory host name preference; the first entry with a value wins. Entries are
            V(dns-name) (public DNS), V(private-dns-name), V(public-ip), V(private-ip), V(instance-id) or
            C(tag:KEY) (for example V(tag:Name)). A name shared by several instances gets C(_<instance id>).
        type: list
        elements: str
        default: [dns-name, private-dns-name, instance-id]
      managed_only:
        description:
          - V(ec2) only. List only instances tagged C(flaskfleet.managed=true) (made by M(flaskfleet.cloud.ec2_host)).
        type: bool
        default: true
      use_private_ip:
        description:
          - V(ec2) only. Connect to the private IP even when the instance has a public one (controller inside the VPC).
        type: bool
        default: false
      user:
        description:
          - V(ec2) only. The login user; defaults to the instance's C(flaskfleet.user) tag, then V(admin).
        type: str
      endpoint_url:
        description:
          - V(ec2) only. An EC2-compatible endpoint instead of AWS (for example C(moto_server)); defaults to
            E(AWS_ENDPOINT_URL).
        type: str
      profile:
        description:
          - V(ec2) only. The AWS profile; without credentials options boto3's usual chain applies
            (E(AWS_ACCESS_KEY_ID)/E(AWS_SECRET_ACCESS_KEY), E(AWS_PROFILE), instance role).
        type: str
      aws_access_key_id:
        description:
          - V(ec2) only. The AWS access key id (prefer the environment or a profile to keeping keys in this file).
        type: str
      aws_secret_access_key:
        description:
          - V(ec2) only. The AWS secret access key (prefer the environment or a profile).
        type: str
      session_token:
        description:
          - V(ec2) only. The AWS session token for temporary credentials.
        type: str
      max_attempts:
        description:
          - V(ec2) only. Attempts per API call with botocore's standard retry mode (backoff on throttling).
        type: int
        default: 10
      projects:
        description:
          - V(gcp) only. The projects to list, one paginated C(aggregatedList) each (or one C(list) per zone of
            O(providers[].zones)).
          - Defaults to E(GCP_PROJECT), E(GOOGLE_CLOUD_PROJECT), then the project of the credentials.
          - V(gcp) entries also read O(providers[].managed_only) (label C(flaskfleet-managed=true)),
            O(providers[].use_private_ip), O(providers[].user) (default the C(flaskfleet-user) label) and
            O(providers[].ssh_private_key_file). Only C(PROVISIONING), C(STAGING) and C(RUNNING) instances are listed.
        type: list
        elements: str
      zones:
        description:
          - V(gcp) only. List only these zones (one C(instances.list) each) instead of all zones.
        type: list
        elements: str
      api_endpoint:
        description:
          - V(gcp) only. Another Compute Engine endpoint (an emulator or local fake, with its scheme); defaults to
            E(GCP_API_ENDPOINT).
        type: str
      auth_kind:
        description:
          - V(gcp) only. V(application) (Application Default Credentials), V(serviceaccount) or V(anonymous)
            (only with O(providers[].api_endpoint)); defaults to E(GCP_AUTH_KIND), then V(serviceaccount) when a
            key is given, else V(application).
        type: str
      service_account_file:
        description:
          - V(gcp) only. A service-account JSON key file; defaults to E(GCP_SERVICE_ACCOUNT_FILE) (ADC reads
            E(GOOGLE_APPLICATION_CREDENTIALS)).
        type: str
      service_account_contents:
        description:
          - V(gcp) only. The service-account JSON key as a string (prefer the environment or a file).
        type: str
      resource_groups:
        description:
          - V(azure) only. List the VMs of these resource groups (three lists each); all of the subscription's
            VMs when not set (three lists). V(azure) also reads O(providers[].app), O(providers[].managed_only),
            O(providers[].use_private_ip), O(providers[].user) (default the VM's C(flaskfleet.user) tag, then
            V(azureuser)) and O(providers[].max_attempts).
        type: list
        elements: str
      subscription_id:
        description:
          - V(azure) only. The subscription; defaults to E(AZURE_SUBSCRIPTION_ID).
        type: str
      client_id:
        description:
          - V(azure) only. Service principal client id; defaults to E(AZURE_CLIENT_ID). Without a service principal,
            azure-identity's C(DefaultAzureCredential) is used (managed identity, C(az login), ...).
        type: str
      secret:
        description:
          - V(azure) only. Service principal secret; defaults to E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET)
            (prefer the environment to keeping it in this file).
        type: str
      tenant:
        description:
          - V(azure) only. Tenant id; defaults to E(AZURE_TENANT) or E(AZURE_TENANT_ID).
        type: str
      auth_source:
        description:
          - V(azure) only. V(auto), V(credentials) or V(default), as for M(flaskfleet.cloud.azure_vm);
            defaults to E(ANSIBLE_AZURE_AUTH_SOURCE), then V(auto).
        type: str
      base_url:
        description:
          - V(azure) only. The Azure Resource Manager endpoint (sovereign cloud, Azure Stack, a local fake);
            defaults to E(AZURE_BASE_URL), then C(https://management.azure.com).
        type: str
      authority_host:
        description:
          - V(azure) only. The Microsoft Entra authority; defaults to E(AZURE_AUTHORITY_HOST).
        type: str
  state_dir:
    description:
      - The project's state directory, holding the SSH key C(id_ed25519) and the C(known_hosts) file.
      - A relative path is relative to the directory of the configuration file.
      - Defaults to the nearest C(.flaskfleet/) directory in the configuration file's directory or one of its
        parents, else C(.flaskfleet/) next to the configuration file.
    type: str
    env:
      - name: FLASKFLEET_STATE_DIR
  ssh_private_key_file:
    description:
      - The SSH private key the hosts are reached with (C(ansible_ssh_private_key_file)).
      - Defaults to C(id_ed25519) in the state directory (see O(state_dir)) when that file exists. When it does not
        (a job in a fresh AWX or ansible-runner directory), no key file is set and the connection uses the machine
        credential's key (ssh-agent) or C(ansible_ssh_private_key_file) given as a variable.
    type: str
    env:
      - name: FLASKFLEET_SSH_PRIVATE_KEY_FILE
  known_hosts_file:
    description:
      - The known_hosts file host keys are strictly checked against (in C(ansible_ssh_common_args)).
      - Defaults to C(known_hosts) in the state directory (see O(state_dir)); the C(flaskfleet.cloud.provision)
        role records the host keys there.
      - An AWX custom credential with a C(file) injector sets E(FLASKFLEET_KNOWN_HOSTS_FILE) (see the awx docs page).
    type: str
    env:
      - name: FLASKFLEET_KNOWN_HOSTS_FILE
  known_hosts:
    description:
      - The known_hosts content itself (lines C(host keytype base64key)), for a controller without the project's
        state directory, for example a job in an execution environment; wins over O(known_hosts_file).
      - The content is written to a file only the current user can write, named after its digest, in the temporary
        directory, and the hosts are strictly checked against that file.
      - Content that is not known_hosts lines is refused with the number of the first bad line.
    type: str
    env:
      - name: FLASKFLEET_KNOWN_HOSTS
notes:
  - Host keys are checked strictly (C(StrictHostKeyChecking=yes)); a host whose key was not recorded by the
    C(flaskfleet.cloud.provision) role is refused, as is a host whose key changed.
  - With caching on, run C(ansible-inventory --flush-cache) after provisioning or tearing down hosts.
seealso:
  - module: flaskfleet.cloud.docker_host
"""

EXAMPLES = r"""
---
# inventory/local.fleet.yml: every local container host of the Docker engine
plugin: flaskfleet.cloud.fleet

---
# Only the hosts of one app, with the state directory given explicitly
plugin: flaskfleet.cloud.fleet
state_dir: ../.flaskfleet
providers:
  - type: docker
    app: hello

---
# Groups by container state and a variable built from the published ports
plugin: flaskfleet.cloud.fleet
providers:
  - type: docker
    app: hello
    groups: [web]
keyed_groups:
  - key: flaskfleet_provider
    prefix: provider
groups:
  frontends: flaskfleet_group == 'web'
compose:
  http_url: "'http://127.0.0.1:' ~ flaskfleet_published_ports['80']"

---
# Local hosts and EC2 instances in one fleet (see the ec2 provider's options)
plugin: flaskfleet.cloud.fleet
providers:
  - type: docker
    app: hello
  - type: ec2
    regions: [eu-west-1]
    filters:
      tag:flaskfleet.app: hello

---
# Local hosts and Compute Engine instances of one app
plugin: flaskfleet.cloud.fleet
providers:
  - type: docker
    app: hello
  - type: gcp
    projects: [my-project-123]
    labels:
      flaskfleet-app: hello
"""

import importlib
import os
import re
import shlex

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _known_hosts as known_hosts

PROVIDER_TYPES = ("docker", "ec2", "azure", "gcp")
PROVIDER_PACKAGE = "ansible_collections.flaskfleet.cloud.plugins.plugin_utils"
STATE_DIR_NAME = ".flaskfleet"


def safe_group_name(name: str) -> str:
    """A valid Ansible group name: letters, digits and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def find_state_dir(config_dir: str) -> str:
    """The nearest ``.flaskfleet/`` in ``config_dir`` or above, else ``config_dir/.flaskfleet``."""
    directory = config_dir
    while True:
        candidate = os.path.join(directory, STATE_DIR_NAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.path.join(config_dir, STATE_DIR_NAME)
        directory = parent


def load_provider(provider_type: str):
    """The ``list_<type>_hosts`` function of ``module_utils/fleet_<type>.py``.

    NOTE: imported on demand, so a fleet without EC2 entries never needs boto3, and a provider
    this version does not ship gives a clear error instead of an import crash.
    """
    module_name = "%s._fleet_%s" % (PROVIDER_PACKAGE, provider_type)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise AnsibleError(
                "provider %s needs the Python package %s: pip install it" % (provider_type, exc.name)
            ) from exc
        raise AnsibleError(
            "provider type %r is not available in this version of flaskfleet.cloud" % provider_type
        ) from exc
    return getattr(module, "list_%s_hosts" % provider_type)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """The fleet inventory: providers list hosts, this class gives them the common variables and groups."""

    NAME = "flaskfleet.cloud.fleet"

    def verify_file(self, path):
        """Accept only ``*.fleet.yml`` / ``*.fleet.yaml`` files."""
        return super().verify_file(path) and path.endswith((".fleet.yml", ".fleet.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        """Read the config, list the hosts (or take them from the cache), add them."""
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self._refuse_unknown_options(loader, path)
        self._config_dir = os.path.dirname(os.path.abspath(path))
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        hosts = None
        if use_cache:
            try:
                hosts = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if hosts is None:
            hosts = self._query(path)
        if update_cache:
            self._cache[cache_key] = hosts
        self._populate(hosts)

    def _refuse_unknown_options(self, loader, path):
        """A misspelt option must not silently fall back to a default (e.g. every Docker host)."""
        raw = loader.load_from_file(path, cache="none") or {}
        unknown = sorted(set(raw) - set(self._options) - {"plugin"})
        if unknown:
            raise AnsibleError(
                "%s: unknown option(s) %s; valid options are: %s"
                % (path, ", ".join(unknown), ", ".join(sorted(set(self._options) | {"plugin"})))
            )

    # -- listing ---------------------------------------------------------------------------------
    def _query(self, path: str) -> list:
        """All hosts of all provider entries, each host once."""
        hosts, seen = [], set()
        for index, entry in enumerate(self.get_option("providers") or []):
            for host in self._list_entry(path, index, entry):
                if host["name"] in seen:
                    self.display.warning(
                        "fleet inventory %s: host %s is listed twice; keeping the first" % (path, host["name"])
                    )
                    continue
                seen.add(host["name"])
                hosts.append(host)
        return hosts

    def _list_entry(self, path: str, index: int, entry) -> list:
        """Hosts of one provider entry; any provider failure becomes a one-line ``AnsibleError``."""
        where = "fleet inventory %s, providers[%d]" % (path, index)
        if not isinstance(entry, dict) or entry.get("type") not in PROVIDER_TYPES:
            raise AnsibleError(
                "%s: each provider needs a type, one of %s (got %r)" % (where, ", ".join(PROVIDER_TYPES), entry)
            )
        list_hosts = load_provider(entry["type"])
        # NOTE: AnsibleError appends the cause's one-line message itself ("...: <cause>").
        try:
            return list_hosts(dict(entry))
        except (ValueError, TypeError) as exc:
            raise AnsibleError("%s (%s)" % (where, entry["type"])) from exc
        except Exception as exc:  # any backend failure: the provider's message is one line
            raise AnsibleError("%s (%s): could not list hosts" % (where, entry["type"])) from exc

    # -- populating ------------------------------------------------------------------------------
    def _state_dir(self) -> str:
        """The configured state directory (relative to the config file), else the nearest ``.flaskfleet/``."""
        configured = self.get_option("state_dir")
        if configured:
            return os.path.normpath(os.path.join(self._config_dir, os.path.expanduser(configured)))
        return find_state_dir(self._config_dir)

    def _common_vars(self) -> dict:
        """Connection variables every host shares: the key, strict checking against our known_hosts."""
        state_dir = self._state_dir()
        known_hosts_file = self._known_hosts_path(state_dir)
        common = {
            # The path itself for the flaskfleet task library; the same path in ssh's words for Ansible.
            "flaskfleet_known_hosts_file": known_hosts_file,
            "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"
            % shlex.quote(known_hosts_file),
            # NOTE: ansible-runner (and so AWX) exports ANSIBLE_HOST_KEY_CHECKING=False unless told
            # otherwise; ansible then passes StrictHostKeyChecking=no *before* the common args, and
            # ssh keeps the first value. A host variable wins over that environment variable.
            "ansible_ssh_host_key_checking": True,
        }
        configured_key = self.get_option("ssh_private_key_file")
        key_file = os.path.join(self._config_dir, os.path.expanduser(configured_key or "")) if configured_key else None
        default_key = os.path.join(state_dir, "id_ed25519")
        # NOTE: without a state directory (a fresh AWX/runner job) the key comes from the machine
        # credential (ssh-agent): naming a missing default file would only add a warning per host.
        if key_file or os.path.exists(default_key):
            common["ansible_ssh_private_key_file"] = key_file or default_key
        return common

    def _known_hosts_path(self, state_dir: str) -> str:
        """The known_hosts file to check against: from O(known_hosts) content, O(known_hosts_file), the state dir."""
        content = self.get_option("known_hosts")
        if content:
            try:
                return known_hosts.write_content_file(content)
            except ValueError as exc:
                raise AnsibleError("fleet inventory: known_hosts content (FLASKFLEET_KNOWN_HOSTS): %s" % exc) from None
        path = self.get_option("known_hosts_file") or os.path.join(state_dir, "known_hosts")
        return os.path.join(self._config_dir, os.path.expanduser(path))

    def _populate(self, hosts: list) -> None:
        """Add hosts with their variables, the group and app groups, then the constructed features."""
        common = self._common_vars()
        strict = self.get_option("strict")
        for host in hosts:
            name = host["name"]
            hostvars = self._host_vars(host, common)
            self.inventory.add_host(name)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            for group in self._host_groups(host):
                self.inventory.add_group(group)
                self.inventory.add_host(name, group=group)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)

    @staticmethod
    def _host_vars(host: dict, common: dict) -> dict:
        """The variables of one host: the contract's names, then the provider's own."""
        hostvars = dict(common)
        hostvars.update(
            ansible_host=host["address"],
            ansible_port=host["port"],
            flaskfleet_provider=host["provider"],
            flaskfleet_app=host.get("app"),
            flaskfleet_group=host.get("group"),
        )
        if host.get("user"):
            hostvars["ansible_user"] = host["user"]
        hostvars.update(host.get("vars") or {})
        return hostvars

    @staticmethod
    def _host_groups(host: dict) -> list:
        """The group named by the host's group, and ``app_<app>``."""
        groups = []
        if host.get("group"):
            groups.append(safe_group_name(host["group"]))
        if host.get("app"):
            groups.append("app_" + safe_group_name(host["app"]))
        return groups
