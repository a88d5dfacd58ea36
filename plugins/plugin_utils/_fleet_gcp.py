# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``gcp`` provider of the ``flaskfleet.cloud.fleet`` inventory plugin.

``list_gcp_hosts(options)`` takes the provider entry of the inventory config and returns the
provider-neutral host dicts described in ``fleet_docker.py``. One paginated ``aggregatedList``
per project (or one ``list`` per given zone), never a call per host. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.flaskfleet.cloud.plugins.plugin_utils._fleet_entries import check_entry_options, vm_host_entry
from ansible_collections.flaskfleet.cloud.plugins.module_utils._gcp import (
    LABEL_APP,
    LABEL_GROUP,
    LABEL_MANAGED,
    LABEL_USER,
    ComputeClients,
    check_zone,
    list_all_instances,
    list_zone_instances,
    summarize_instance,
)

PROVIDER = "gcp"
DEFAULT_USER = "admin"
# Instances that are (about to be) up; stopped (TERMINATED) and suspended ones have no SSH.
UP_STATUSES = ("PROVISIONING", "STAGING", "RUNNING")
OPTIONS = {
    "type": str,
    "projects": list,
    "zones": list,
    "labels": dict,
    "managed_only": bool,
    "use_private_ip": bool,
    "user": str,
    "ssh_private_key_file": str,
    "api_endpoint": str,
    "auth_kind": str,
    "service_account_file": str,
    "service_account_contents": str,
}
# Where a missing option comes from (as for the modules' env fallbacks).
ENV = {
    "auth_kind": ("GCP_AUTH_KIND",),
    "service_account_file": ("GCP_SERVICE_ACCOUNT_FILE",),
    "service_account_contents": ("GCP_SERVICE_ACCOUNT_CONTENTS",),
    "api_endpoint": ("GCP_API_ENDPOINT",),
    "project": ("GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
}


def check_options(options: dict) -> None:
    """Raise ValueError naming the first unknown, mistyped or invalid key of a gcp entry."""
    check_entry_options(PROVIDER, options, OPTIONS)
    if options.get("auth_kind") not in (None, "application", "serviceaccount", "anonymous"):
        raise ValueError("auth_kind of provider gcp must be application, serviceaccount or anonymous")
    for zone in options.get("zones") or []:
        check_zone(zone)


def connection_params(options: dict, project) -> dict:
    """Client parameters for one project: the entry's options, else the environment."""
    params = {}
    for key, names in ENV.items():
        value = options.get(key) if key != "project" else project
        params[key] = value or next((os.environ[n] for n in names if os.environ.get(n)), None)
    return params


def label_filter_of(options: dict) -> dict:
    """The labels every listed instance must carry (``flaskfleet-managed=true`` by default)."""
    labels = dict((k, str(v)) for k, v in (options.get("labels") or {}).items())
    if options.get("managed_only", True):
        labels[LABEL_MANAGED] = "true"
    return labels


def instances_of(clients, options: dict, labels: dict) -> list:
    """``[(zone, instance)]``: one list per given zone, else one aggregatedList for all zones."""
    if options.get("zones"):
        return [(zone, i) for zone in options["zones"] for i in list_zone_instances(clients, zone, labels)]
    return list_all_instances(clients, labels)


def host_entry(name: str, summary: dict, project: str, options: dict) -> dict:
    """The provider-neutral host dict of one instance; ``gcp_*`` vars carry the GCE facts."""
    keys = (LABEL_USER, LABEL_APP, LABEL_GROUP)
    extra_vars = {"gcp_project": project}
    return vm_host_entry(PROVIDER, name, summary, options, DEFAULT_USER, "labels", keys, extra_vars)


def unique_names(summaries: list) -> list:
    """Host names: the instance name; one shared by several zones/projects gets ``_<zone>`` (and ``_<id>``)."""
    names = [s["name"] for s in summaries]
    shared = set(n for n in names if names.count(n) > 1)
    names = ["%s_%s" % (s["name"], s["zone"]) if s["name"] in shared else s["name"] for s in summaries]
    shared = set(n for n in names if names.count(n) > 1)
    return ["%s_%s" % (n, summaries[i]["id"]) if n in shared else n for i, n in enumerate(names)]


def list_gcp_hosts(options: dict) -> list:
    """GCE instances selected by an inventory provider entry, sorted by host name.

    :param options: the provider entry (``type: gcp``, ``projects``, ``zones``, ``labels``, ...).
    :returns: host dicts as described in ``fleet_docker.py``.
    :raises ValueError: for a bad entry; ``GCPError`` (one line) when Google Cloud fails.
    """
    check_options(options)
    labels = label_filter_of(options)
    found = []
    for project in options.get("projects") or [None]:
        clients = ComputeClients(connection_params(options, project))
        for _zone, instance in instances_of(clients, options, labels):
            if instance.status in UP_STATUSES:
                found.append((summarize_instance(instance), clients.project))
    names = unique_names([summary for summary, _project in found])
    hosts = [host_entry(names[i], summary, project, options) for i, (summary, project) in enumerate(found)]
    return sorted(hosts, key=lambda host: host["name"])
