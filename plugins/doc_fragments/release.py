# -*- coding: utf-8 -*-
# Copyright (c) 2026, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Text shared by the modules that run on a host against an app's release layout."""

    # The app and where its layout lives: release and release_info.
    DOCUMENTATION = r"""
options:
  app:
    description:
      - Name of the app; the layout lives in O(base_dir)/O(app).
      - A lowercase letter, then up to 31 lowercase letters, digits, C(-) or C(_) (it is also a user
        name, a systemd unit prefix and an nginx upstream name).
    type: str
    required: true
  base_dir:
    description: Root of all apps' layouts.
    type: path
    default: /srv
notes:
  - Release ids sort by time; "older" and "newest" refer to that order.
  - The names of the layout, the release's systemd unit and its socket follow one host contract
    (C(module_utils/_contract.py)); RV(names) reports them.
"""

    # Where these modules run: release, release_info and deploy_lock.
    HOST = r"""
attributes:
  platform:
    platforms: posix
notes:
  - Runs on the managed host and needs only the Python standard library there.
"""
