# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Options of the modules that keep an exact number of cloud hosts per identity (name, group, app)."""

    DOCUMENTATION = r"""
options:
  app:
    description:
      - The app the hosts serve (tag C(flaskfleet.app); on GCE the label C(flaskfleet-app)). Part of the identity
        when set.
    type: str
  count:
    description:
      - The exact number of hosts with this identity (O(name), O(group) and O(app)). A whole number, 0 or more.
      - Missing hosts are created and extra hosts removed, oldest first.
    type: int
    default: 1
"""
