# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``docker`` provider of the ``flaskfleet.cloud.fleet`` inventory plugin.

A provider module is ``module_utils/fleet_<type>.py`` with one function
``list_<type>_hosts(options: dict) -> list[dict]``. ``options`` is the provider's entry from the
inventory config (``type`` included). It returns one dict per host::

    {"name": "web-1",            # inventory host name (unique)
     "address": "127.0.0.1",     # -> ansible_host
     "port": 32768,              # -> ansible_port
     "user": "admin",            # -> ansible_user (None: leave unset)
     "provider": "docker",       # -> flaskfleet_provider
     "app": "hello",             # -> flaskfleet_app, group app_<app>
     "group": "web",             # -> flaskfleet_group, group <group>
     "vars": {...}}              # more host vars, set as they are (they win over the plugin's)

and raises ``ValueError`` for a bad entry and any other exception (with a one-line message) when
the backend fails. The plugin turns both into ``AnsibleError``. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.flaskfleet.cloud.plugins.plugin_utils._fleet_entries import check_entry_options
from ansible_collections.flaskfleet.cloud.plugins.module_utils._docker import (
    DockerException,
    DockerHostsError,
    connect,
    describe_host,
    list_host_summaries,
    short_reason,
)

PROVIDER = "docker"
OPTIONS = {
    "type": str,
    "app": str,
    "groups": list,
    "labels": dict,
    "docker_host": str,
    "api_timeout": int,
    "include_stopped": bool,
    "ssh_private_key_file": str,
}


def check_options(options: dict) -> None:
    """Raise ValueError naming the first unknown or mistyped key of a docker provider entry."""
    check_entry_options(PROVIDER, options, OPTIONS)


def host_entry(host: dict, options: dict) -> dict:
    """The provider-neutral host dict (see the module docstring) of one described container."""
    extra = {
        "flaskfleet_published_ports": host["published_ports"],
        "flaskfleet_container_id": host["container_id"],
        "flaskfleet_container_state": host["state"],
    }
    if options.get("ssh_private_key_file"):
        extra["ansible_ssh_private_key_file"] = options["ssh_private_key_file"]
    return {
        "name": host["name"],
        "address": host["address"],
        "port": host["ssh_port"],
        "user": host["user"],
        "provider": PROVIDER,
        "app": host["app"],
        "group": host["group"],
        "vars": extra,
    }


def list_docker_hosts(options: dict) -> list:
    """Local container hosts selected by an inventory provider entry, sorted by name."""
    check_options(options)
    client = connect(options.get("docker_host"), options.get("api_timeout") or 30)
    try:
        summaries = list_host_summaries(
            client,
            include_stopped=bool(options.get("include_stopped")),
            app=options.get("app"),
            labels=options.get("labels"),
        )
    except DockerException as exc:
        raise DockerHostsError("listing containers failed: %s" % short_reason(exc)) from None
    finally:
        client.close()
    wanted_groups = options.get("groups")
    hosts = []
    for host in map(describe_host, summaries):
        if wanted_groups and host["group"] not in wanted_groups:
            continue
        hosts.append(host_entry(host, options))
    return sorted(hosts, key=lambda entry: entry["name"])
