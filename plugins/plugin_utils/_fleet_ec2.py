# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``ec2`` provider of the ``flaskfleet.cloud.fleet`` inventory plugin.

``list_ec2_hosts(options)`` takes the provider entry of the inventory config and returns the
provider-neutral host dicts described in ``fleet_docker.py``. One ``DescribeInstances``
paginator per region, never a call per host. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import (
    TAG_MANAGED,
)
from ansible_collections.flaskfleet.cloud.plugins.plugin_utils._fleet_entries import check_entry_options, vm_host_entry
from ansible_collections.flaskfleet.cloud.plugins.module_utils._aws import (
    create_client,
    describe_instances,
    summarize_instance,
)

PROVIDER = "ec2"
DEFAULT_USER = "admin"
DEFAULT_HOSTNAMES = ["dns-name", "private-dns-name", "instance-id"]
OPTIONS = {
    "type": str,
    "regions": list,
    "filters": dict,
    "hostnames": list,
    "managed_only": bool,
    "use_private_ip": bool,
    "user": str,
    "ssh_private_key_file": str,
    "endpoint_url": str,
    "profile": str,
    "aws_access_key_id": str,
    "aws_secret_access_key": str,
    "session_token": str,
    "max_attempts": int,
}
# hostnames preference -> the summary key it reads ("tag:KEY" reads a tag).
HOSTNAME_SOURCES = {
    "public-ip": "public_ip_address",
    "private-ip": "private_ip_address",
    "dns-name": "public_dns_name",
    "private-dns-name": "private_dns_name",
    "instance-id": "instance_id",
}


def check_options(options: dict) -> None:
    """Raise ValueError naming the first unknown, mistyped or invalid key of an ec2 entry."""
    check_entry_options(PROVIDER, options, OPTIONS)
    for preference in options.get("hostnames") or []:
        if not isinstance(preference, str) or not (preference in HOSTNAME_SOURCES or preference.startswith("tag:")):
            known = ", ".join(sorted(HOSTNAME_SOURCES))
            raise ValueError("hostnames entry %r is not one of %s or tag:KEY" % (preference, known))


def regions_of(options: dict) -> list:
    """The regions to list: the option, else AWS_REGION / AWS_DEFAULT_REGION."""
    regions = options.get("regions") or [os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")]
    if not all(regions):
        raise ValueError("provider ec2 needs regions (e.g. regions: [eu-west-1]) or AWS_REGION")
    return regions


def instance_filters(options: dict) -> dict:
    """EC2 filters: the user's, plus running/pending and (by default) flaskfleet-managed only."""
    filters = {"instance-state-name": ["pending", "running"]}
    if options.get("managed_only", True):
        filters["tag:%s" % TAG_MANAGED] = "true"
    filters.update(options.get("filters") or {})
    return filters


def preferred_name(summary: dict, preferences: list):
    """The first non-empty value named by ``preferences`` (``None`` if none has one)."""
    for preference in preferences:
        if preference.startswith("tag:"):
            value = summary["tags"].get(preference[4:])
        else:
            value = summary.get(HOSTNAME_SOURCES[preference])
        if value:
            return value
    return None


def unique_names(summaries: list, preferences: list) -> list:
    """Host names for ``summaries``; a name shared by several instances gets ``_<instance id>``."""
    names = [preferred_name(s, preferences) or s["instance_id"] for s in summaries]
    shared = set(n for n in names if names.count(n) > 1)
    return [
        "%s_%s" % (names[i], summary["instance_id"]) if names[i] in shared else names[i]
        for i, summary in enumerate(summaries)
    ]


def host_entry(name: str, summary: dict, region: str, options: dict) -> dict:
    """The provider-neutral host dict of one instance; ``ec2_*`` vars carry the EC2 facts."""
    return vm_host_entry(PROVIDER, name, summary, options, DEFAULT_USER, extra_vars={"ec2_region": region})


def list_ec2_hosts(options: dict) -> list:
    """EC2 instances selected by an inventory provider entry, sorted by host name.

    :param options: the provider entry (``type: ec2``, ``regions``, ``filters``, ``hostnames``, ...).
    :returns: host dicts as described in ``fleet_docker.py``.
    :raises ValueError: for a bad entry; ``AWSError`` (one line) when AWS fails.
    """
    check_options(options)
    preferences = options.get("hostnames") or DEFAULT_HOSTNAMES
    filters = instance_filters(options)
    found = []
    for region in regions_of(options):
        client = create_client("ec2", options, region=region)
        found.extend((summarize_instance(i), region) for i in describe_instances(client, filters=filters))
    names = unique_names([summary for summary, _region in found], preferences)
    hosts = [host_entry(names[i], summary, region, options) for i, (summary, region) in enumerate(found)]
    return sorted(hosts, key=lambda host: host["name"])
