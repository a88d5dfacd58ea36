# -*- coding: utf-8 -*-
# Copyright (c) 2026, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every provider of the ``flaskfleet.cloud.fleet`` inventory plugin shares: checking its
entry's options and building the provider-neutral host dict of a cloud VM (see ``fleet_docker.py``
for that dict). Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import TAG_APP, TAG_GROUP, TAG_USER


def check_entry_options(provider: str, options: dict, known: dict) -> None:
    """Raise ValueError naming the first unknown or mistyped key of a ``provider`` entry.

    :param known: option name -> the Python type its value must have.
    """
    for key, value in options.items():
        if key not in known:
            raise ValueError(
                "unknown option %r for provider %s (known: %s)" % (key, provider, ", ".join(sorted(known)))
            )
        if value is not None and not isinstance(value, known[key]):
            raise ValueError("option %r of provider %s must be a %s" % (key, provider, known[key].__name__))


def vm_host_entry(
    provider: str,
    name: str,
    summary: dict,
    options: dict,
    default_user: str,
    marks_of="tags",
    keys=(TAG_USER, TAG_APP, TAG_GROUP),
    extra_vars=None,
) -> dict:
    """The provider-neutral host dict of one cloud VM; ``<provider>_*`` vars carry its facts.

    :param summary: the VM's facts (``public_ip_address`` and ``private_ip_address`` among them).
    :param marks_of: the key of ``summary`` holding the VM's tags (GCE: ``labels``), where ``keys``
        name its ``user``, ``app`` and ``group``.
    :param extra_vars: more host vars (the region or project the VM was found in).
    """
    marks = summary[marks_of]
    user_key, app_key, group_key = keys
    identity = {"user": marks.get(user_key), "app": marks.get(app_key), "group": marks.get(group_key)}
    if options.get("use_private_ip"):
        address = summary["private_ip_address"]
    else:
        address = summary["public_ip_address"] or summary["private_ip_address"]
    extra = dict(("%s_%s" % (provider, key), value) for key, value in summary.items())
    if options.get("ssh_private_key_file"):
        extra["ansible_ssh_private_key_file"] = options["ssh_private_key_file"]
    extra.update(extra_vars or {})
    return {
        "name": name,
        "address": address,
        "port": 22,
        "user": options.get("user") or identity.get("user") or default_user,
        "provider": provider,
        "app": identity.get("app"),
        "group": identity.get("group"),
        "vars": extra,
    }
