#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_info
short_description: Report whether a host runs a release as asked, or what it serves now
version_added: 0.1.0
description:
  - Reads the release layout C(<base_dir>/<app>/) that M(flaskfleet.cloud.release) manages and
    changes nothing, ever (in check mode too).
  - With O(release_id), RV(up_to_date) tells whether the host already runs that release exactly as
    asked - no deploy lock held, C(current) points at the complete release built from the artifact
    whose manifest digest is O(manifest_sha256), O(owner) and O(group) exist with O(group_members)
    in the group, every entry of O(directories) and O(files) has its content, mode and owner, the
    O(unit) is active and enabled with no other instance running, and one request through
    O(health_socket) answers O(health_status). A deploy uses it to skip every other step on hosts
    that are up to date, in one module run; RV(reasons) says why a host is not.
  - Without O(release_id), it reports what the host serves now (for status reports), the live
    release (RV(release_id)), the state of its unit (RV(unit_state)), the HTTP status O(health_path)
    answers through its socket (RV(health)) and the deploy lock (RV(lock)); RV(healthy) and
    RV(reasons) sum it up.
author:
  - flaskfleet developers (@flaskfleet)
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs and reports the same in check mode.
  diff_mode:
    support: none
options:
  release_id:
    description:
      - The release that should run, C(YYYYMMDDTHHMMSSZ) optionally followed by C(-<suffix>).
      - Omit it to report on the live release (status).
    type: str
  manifest_sha256:
    description:
      - The sha256 of the artifact's C(manifest.json); the current release must have been staged
        from that artifact. Omit to skip this check.
    type: str
  owner:
    description: User the app runs as; it must exist.
    type: str
  group:
    description: Group of the app; it must exist.
    type: str
  group_members:
    description: Users that must be members of O(group) (e.g. the proxy's user).
    type: list
    elements: str
    default: []
  unit:
    description:
      - The systemd unit of the release, for example C(flaskfleet-hello@20261129T101500Z.service).
      - It must be active and enabled, and no other instance of its template may be active.
      - Omit to skip this check.
    type: str
  health_socket:
    description: The unix socket the release answers on; omit to skip the health check.
    type: path
  service_checks:
    description:
      - With O(release_id), check the unit and the socket the host contract names for that release
        (as if O(unit) and O(health_socket) were given with those names).
    type: bool
    default: false
  health_path:
    description: Path requested through the release's socket.
    type: str
    default: /healthz
  health_status:
    description: HTTP status O(health_path) must answer.
    type: int
    default: 200
  health_timeout:
    description: Seconds to wait for the health answer.
    type: int
    default: 5
  directories:
    description: Directories that must exist with the given mode and owner.
    type: list
    elements: dict
    default: []
    suboptions: &path_attributes
      path:
        description: Absolute path of the directory or file.
        type: path
        required: true
      mode:
        description: Expected mode as an octal string, e.g. C(0755).
        type: str
      owner:
        description: Expected owner (user name).
        type: str
      group:
        description: Expected group name.
        type: str
  files:
    description:
      - Files that must hold exactly the given content digest, mode and owner.
      - The digests are computed on the controller from the templates the role would write, so no
        content (and no secret) travels for the comparison.
    type: list
    elements: dict
    default: []
    suboptions:
      <<: *path_attributes
      sha256:
        description: sha256 of the whole expected content.
        type: str
        required: true
seealso:
  - module: flaskfleet.cloud.release
  - module: flaskfleet.cloud.deploy_lock
extends_documentation_fragment:
  - action_common_attributes
  - flaskfleet.cloud.release
  - flaskfleet.cloud.release.host
"""

EXAMPLES = r"""
- name: Check whether the host already runs the release as asked
  flaskfleet.cloud.release_info:
    app: hello
    release_id: 20261129T101500Z
    owner: hello
    group: hello
    group_members: [www-data]
    unit: flaskfleet-hello@20261129T101500Z.service
    health_socket: /run/hello/20261129T101500Z/gunicorn.sock
    files:
      - path: /srv/hello/gunicorn.conf.py
        sha256: "{{ lookup('ansible.builtin.template', 'gunicorn.conf.py.j2') | hash('sha256') }}"
        mode: "0644"
        owner: root
        group: root
  register: inspected

- name: Deploy only where it is needed
  ansible.builtin.debug:
    msg: "not up to date: {{ inspected.reasons | join('; ') }}"
  when: not inspected.up_to_date

- name: Report what the host serves now, with the app's health path
  flaskfleet.cloud.release_info:
    app: hello
    base_dir: /opt/apps
    health_path: /up
  register: live
"""

RETURN = r"""
release_id:
  description: O(release_id) when given, else the live release (C(current)), or null before the first activation.
  returned: always
  type: str
  sample: 20261129T101500Z
release_path:
  description: Directory of RV(release_id).
  returned: when RV(release_id) is not null
  type: str
  sample: /srv/hello/releases/20261129T101500Z
venv_path:
  description: Virtualenv of RV(release_id).
  returned: when RV(release_id) is not null
  type: str
  sample: /srv/hello/releases/20261129T101500Z/venv
manifest:
  description:
    - App, version, WSGI entry point and static directory of RV(release_id), from its completion marker.
    - Empty when that release is not staged.
  returned: when RV(release_id) is not null
  type: dict
  sample: {"app": "hello", "version": "0.1.0", "wsgi": "hello:create_app()", "static": "static"}
current:
  description: The release C(current) points at, or null.
  returned: always
  type: str
  sample: 20261129T101500Z
previous:
  description: The default rollback target, the newest complete release older than RV(current), or null.
  returned: always
  type: str
  sample: 20261128T090000Z
releases:
  description: The complete releases on the host, oldest first.
  returned: always
  type: list
  elements: str
  sample: [20261128T090000Z, 20261129T101500Z]
up_to_date:
  description: True when the host already runs O(release_id) exactly as asked (always false without O(release_id)).
  returned: always
  type: bool
  sample: true
reasons:
  description:
    - With O(release_id), why the host is not up to date (empty when it is).
    - Without O(release_id), why the live release is not healthy (empty when it is).
  returned: always
  type: list
  elements: str
  sample: ["current release is 20261128T090000Z"]
identity_ok:
  description:
    - True when O(owner) and O(group) exist, every O(group_members) user is in the group and every
      entry of O(directories) is as asked.
    - A deploy that has to run anyway skips creating them when true.
  returned: with O(release_id)
  type: bool
  sample: true
files_matching:
  description:
    - The paths of O(files) whose content, mode and owner match.
    - A deploy that has to run anyway skips writing them.
  returned: with O(release_id)
  type: list
  elements: str
  sample: [/srv/hello/gunicorn.conf.py, /srv/hello/shared/.env]
healthy:
  description:
    - True when the live release's unit is active and O(health_path) answers O(health_status)
      through its socket.
  returned: without O(release_id)
  type: bool
  sample: true
unit:
  description: The live release's systemd unit, or null when nothing is live.
  returned: without O(release_id)
  type: str
  sample: flaskfleet-hello@20261129T101500Z.service
unit_state:
  description: systemd's C(ActiveState) of the live release's unit, or null when nothing is live.
  returned: without O(release_id)
  type: str
  sample: active
socket:
  description: The live release's unix socket, or null when nothing is live.
  returned: without O(release_id)
  type: str
  sample: /run/hello/20261129T101500Z/gunicorn.sock
health_path:
  description: O(health_path), as requested.
  returned: without O(release_id)
  type: str
  sample: /healthz
health:
  description: The HTTP status O(health_path) answered, or null.
  returned: without O(release_id)
  type: int
  sample: 200
lock:
  description: The deploy lock when one is held, else null.
  returned: without O(release_id)
  type: dict
  sample: {"holder": "alice@laptop", "release_id": "20261129T101500Z", "time": "2026-11-29T10:15:02Z"}
names:
  description: The host contract's names for this app and RV(release_id), with O(health_path).
  returned: always
  type: dict
  sample: {"root": "/srv/hello", "unit": "flaskfleet-hello@20261129T101500Z.service", "health_path": "/healthz"}
layout:
  description: Paths of the app's layout (C(root), C(releases), C(shared), C(artifacts), C(current), C(lock)).
  returned: always
  type: dict
  sample: {"root": "/srv/hello", "current": "/srv/hello/current", "lock": "/srv/hello/.deploy.lock"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_inspect import inspect, inspect_live
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    LAYOUT_ARGUMENT_SPEC,
    Layout,
    ReleaseError,
)

PATH_OPTIONS = dict(path=dict(type="path", required=True), mode=dict(type="str"), owner=dict(type="str"),
                    group=dict(type="str"))  # fmt: skip
# NOTE: the digest of the env file is derived from secrets: never shown in any output.
FILE_OPTIONS = dict(PATH_OPTIONS, sha256=dict(type="str", required=True, no_log=True))
CHECK_KEYS = ("manifest_sha256", "owner", "group", "group_members", "directories", "files")


def _checks(p):
    """The checks an inspection of O(release_id) makes, from the module's options."""
    health, unit, socket_path = None, p["unit"], p["health_socket"]
    if p["service_checks"]:
        unit = unit or contract.unit_name(p["app"], p["release_id"])
        socket_path = socket_path or contract.socket_path(p["app"], p["release_id"])
    if socket_path:
        health = dict(socket=socket_path, path=p["health_path"], status=p["health_status"],
                      timeout=p["health_timeout"])  # fmt: skip
    return dict(health=health, unit=unit, **dict((k, p[k]) for k in CHECK_KEYS))


def facts(layout, p):
    """What the module reports; reads the host, writes nothing."""
    result = dict(layout.status(), changed=False, layout=layout.paths())
    if p["release_id"]:
        found = inspect(layout, p["release_id"], _checks(p))
        result.update(found, release_id=p["release_id"], up_to_date=not found["reasons"])
    else:
        result.update(inspect_live(layout, p["health_path"], p["health_status"], p["health_timeout"]), up_to_date=False)
    if result["release_id"]:
        result.update(layout.release_facts(result["release_id"]))
    result["names"] = dict(
        contract.names(layout.app, p["base_dir"], result["release_id"]), health_path=p["health_path"]
    )
    return result


def main():
    """Entry point: inspect and report; nothing on the host changes."""
    module = AnsibleModule(
        argument_spec=dict(
            LAYOUT_ARGUMENT_SPEC,
            release_id=dict(type="str"),
            manifest_sha256=dict(type="str"),
            owner=dict(type="str"),
            group=dict(type="str"),
            group_members=dict(type="list", elements="str", default=[]),
            unit=dict(type="str"),
            health_socket=dict(type="path"),
            service_checks=dict(type="bool", default=False),
            health_path=dict(type="str", default=contract.DEFAULT_HEALTH_PATH),
            health_status=dict(type="int", default=200),
            health_timeout=dict(type="int", default=5),
            directories=dict(type="list", elements="dict", default=[], options=PATH_OPTIONS),
            files=dict(type="list", elements="dict", default=[], options=FILE_OPTIONS),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**facts(Layout(module.params["base_dir"], module.params["app"]), module.params))
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
