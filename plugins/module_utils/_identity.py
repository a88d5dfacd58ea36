# -*- coding: utf-8 -*-
# Copyright (c) 2026, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which cloud hosts are flaskfleet's, and how many to make or remove: shared by every provider.

A host belongs to an identity (name + group + app) through its tags: the same keys on EC2
instances, Azure VMs and, as Docker labels, local hosts (GCE spells them with dashes, see
``gcp.py``). Exact count keeps the newest and removes the oldest first. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import time

TAG_MANAGED = "flaskfleet.managed"
TAG_APP = "flaskfleet.app"
TAG_GROUP = "flaskfleet.group"
TAG_NAME = "flaskfleet.name"
TAG_USER = "flaskfleet.user"


def identity_tags(params: dict) -> dict:
    """The tags that make a host one of ours for this name/group/app."""
    tags = {TAG_MANAGED: "true", TAG_NAME: params["name"], TAG_GROUP: params["group"] or params["name"]}
    if params.get("app"):
        tags[TAG_APP] = params["app"]
    return tags


def wanted_tags(params: dict, base: dict | None = None) -> dict:
    """Every tag a host of this identity carries: ``base``, the login user, the user's ``tags``,
    then the identity tags (which win)."""
    tags = dict(base or {})
    tags[TAG_USER] = params["user"]
    tags.update(dict((k, str(v)) for k, v in (params.get("tags") or {}).items()))
    tags.update(identity_tags(params))
    return tags


def plan_count(hosts: list, count: int, age, key) -> tuple:
    """Exact-count arithmetic: ``(number to create, [keys of the hosts to remove])``, oldest first.

    :param age: a host's creation time (sortable); ties are broken by ``key`` so the choice is
        deterministic (hosts made by one call share their creation time).
    :param key: what identifies a host to the remove call (instance id, VM name).
    """
    if len(hosts) <= count:
        return count - len(hosts), []
    oldest_first = sorted(hosts, key=lambda h: (age(h), key(h)))
    return 0, [key(h) for h in oldest_first[: len(hosts) - count]]


def identity_argument_spec(user_default: str) -> dict:
    """The options that name a host set (``name``, ``group``, ``app``) and its login ``user``."""
    return dict(
        name=dict(type="str", required=True),
        group=dict(type="str"),
        app=dict(type="str"),
        user=dict(type="str", default=user_default),
    )


def count_problem(params: dict, disk_option: str) -> str | None:
    """The one line for the first bad ``count``, ``wait_timeout`` or disk size (GiB) option, else ``None``."""
    if params["count"] < 0:
        return "count must be 0 or more, got %d" % params["count"]
    if params["wait_timeout"] < 1:
        return "wait_timeout must be at least 1 second"
    if params[disk_option] is not None and params[disk_option] < 1:
        return "%s must be at least 1 (GiB), got %d" % (disk_option, params[disk_option])
    return None


class HostSetRun:
    """One run of an exact-count module: observe the hosts of one identity, decide, act, report.

    Holds the module, its params, the run's deadline (``wait_timeout`` from now) and the result
    built up as it goes (what was done by then, if a call fails).
    """

    def __init__(self, module, **result) -> None:
        self.module = module
        self.params = module.params
        self.deadline = time.time() + self.params["wait_timeout"]
        self.result = dict(changed=False, **result)
