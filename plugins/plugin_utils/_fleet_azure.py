# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``azure`` provider of the ``flaskfleet.cloud.fleet`` inventory plugin.

``list_azure_hosts(options)`` takes the provider entry of the inventory config and returns the
provider-neutral host dicts described in ``fleet_docker.py``. Three paged lists per subscription
(VMs, NICs, public IPs), or per resource group when ``resource_groups`` is set; never a call per
host. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import (
    TAG_APP,
    TAG_MANAGED,
)
from ansible_collections.flaskfleet.cloud.plugins.plugin_utils._fleet_entries import check_entry_options, vm_host_entry
from ansible_collections.flaskfleet.cloud.plugins.module_utils._azure import (
    AzureClients,
    addresses_by_vm,
    as_dict,
    azure_error_handler,
    summarize_vm,
)

PROVIDER = "azure"
DEFAULT_USER = "azureuser"
OPTIONS = {
    "type": str,
    "resource_groups": list,
    "app": str,
    "managed_only": bool,
    "use_private_ip": bool,
    "user": str,
    "ssh_private_key_file": str,
    "subscription_id": str,
    "client_id": str,
    "secret": str,
    "tenant": str,
    "auth_source": str,
    "base_url": str,
    "authority_host": str,
    "max_attempts": int,
}
# Options read from the environment when the entry does not set them (as the module does).
ENV_FALLBACKS = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "auth_source": ("ANSIBLE_AZURE_AUTH_SOURCE",),
    "base_url": ("AZURE_BASE_URL",),
    "authority_host": ("AZURE_AUTHORITY_HOST",),
}


def check_options(options: dict) -> None:
    """Raise ValueError naming the first unknown or mistyped key of an azure entry."""
    check_entry_options(PROVIDER, options, OPTIONS)
    if options.get("auth_source") not in (None, "auto", "credentials", "default"):
        raise ValueError("auth_source of provider azure must be auto, credentials or default")


def connection_params(options: dict, environ: dict) -> dict:
    """The client parameters: the entry's values, else the environment's."""
    params = dict((key, options.get(key)) for key in ENV_FALLBACKS)
    for key, names in ENV_FALLBACKS.items():
        if not params[key]:
            params[key] = next((environ[n] for n in names if environ.get(n)), None)
    params["max_attempts"] = options.get("max_attempts")
    return params


@azure_error_handler("list the Azure VMs")
def list_everything(clients: AzureClients, groups: list) -> tuple:
    """``(vms, nics, public ips)`` as dicts: three lists per subscription or per resource group."""
    compute, network = clients.compute, clients.network
    if not groups:
        return (
            [as_dict(v) for v in compute.virtual_machines.list_all()],
            [as_dict(n) for n in network.network_interfaces.list_all()],
            [as_dict(p) for p in network.public_ip_addresses.list_all()],
        )
    vms, nics, ips = [], [], []
    for group in groups:
        vms.extend(as_dict(v) for v in compute.virtual_machines.list(group))
        nics.extend(as_dict(n) for n in network.network_interfaces.list(group))
        ips.extend(as_dict(p) for p in network.public_ip_addresses.list(group))
    return vms, nics, ips


def selected(summary: dict, options: dict) -> bool:
    """Managed (unless ``managed_only: false``), of ``app`` when given, and running or being made."""
    tags = summary["tags"]
    if options.get("managed_only", True) and tags.get(TAG_MANAGED) != "true":
        return False
    if options.get("app") and tags.get(TAG_APP) != options["app"]:
        return False
    return summary["provisioning_state"] not in ("Deleting", "Failed")


def host_entry(summary: dict, options: dict) -> dict:
    """The provider-neutral host dict of one VM; ``azure_*`` vars carry the Azure facts."""
    return vm_host_entry(PROVIDER, summary["name"], summary, options, DEFAULT_USER)


def list_azure_hosts(options: dict, environ: dict | None = None) -> list:
    """Azure VMs selected by an inventory provider entry, sorted by host name.

    :param options: the provider entry (``type: azure``, ``resource_groups``, ``app``, ...).
    :param environ: where credentials fall back to (``os.environ`` when not given).
    :returns: host dicts as described in ``fleet_docker.py``.
    :raises ValueError: for a bad entry; ``AzureError`` (one line) when Azure fails.
    """
    import os

    check_options(options)
    clients = AzureClients(connection_params(options, os.environ if environ is None else environ))
    vms, nics, ips = list_everything(clients, options.get("resource_groups") or [])
    addresses = addresses_by_vm(nics, ips)
    summaries = [summarize_vm(vm, addresses) for vm in vms]
    hosts = [host_entry(s, options) for s in summaries if selected(s, options)]
    return sorted(hosts, key=lambda host: host["name"])
