# -*- coding: utf-8 -*-
# Copyright (c) 2026, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The refusal to open SSH (tcp 22) to the whole internet: one rule for every firewall module.

``ec2_firewall``, ``azure_vm`` and ``gce_host`` each describe their world-open SSH rules in their
own words (``tcp 22 from 0.0.0.0/0``); whether that is allowed, and the message when it is not,
live here. Private to the collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

WORLD_NETWORKS = ("0.0.0.0/0", "::/0")


def opens_port_22(low: int, high: int | None = None) -> bool:
    """Does the port range ``low``-``high`` (one port when ``high`` is None) cover 22?"""
    return int(low) <= 22 <= int(low if high is None else high)


def refuse_world_ssh(open_rules, allowed: bool) -> None:
    """``ValueError`` naming the rules that open SSH to the whole internet, unless ``allowed``."""
    described = sorted(set(open_rules))
    if described and not allowed:
        raise ValueError(
            "refusing to open SSH to the whole internet (%s): restrict the source to your networks "
            "or set allow_world_ssh: true" % "; ".join(described)
        )
