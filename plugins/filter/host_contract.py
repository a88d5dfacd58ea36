# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host contract for templates and roles: ``app | flaskfleet.cloud.host_contract(base_dir)``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract


def host_contract(app, base_dir=None, release_id=None):
    """The contract's names for ``app`` (and ``release_id``), with ``app_name_problem`` ('' when valid)."""
    if not isinstance(app, str):
        raise AnsibleFilterError("host_contract expects the app name as a string, got %s" % type(app).__name__)
    if release_id and contract.release_id_problem(release_id):
        raise AnsibleFilterError(contract.release_id_problem(release_id))
    names = contract.names(app, base_dir or None, release_id or None)
    names["app_name_problem"] = contract.app_name_problem(app) or ""
    return names


class FilterModule(object):
    """flaskfleet.cloud's filters."""

    def filters(self):
        """Filter name to function."""
        return {"host_contract": host_contract}
