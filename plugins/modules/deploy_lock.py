#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take or release the per-host deploy lock of an app
version_added: 0.1.0
description:
  - A deploy lock is a small JSON file (holder, run id, release id, time) created atomically on the
    host, by default C(/srv/<app>/.deploy.lock).
  - O(state=present) takes the lock for O(run_id). If another run holds it the task fails and names
    that run's holder, start time, release and run id. Taking it again with the same O(run_id)
    changes nothing.
  - O(state=absent) releases the lock, only when O(run_id) holds it.
  - A lock held by someone else is broken only on purpose, with O(force); the result reports whose
    lock was broken.
author:
  - flaskfleet developers (@flaskfleet)
extends_documentation_fragment:
  - action_common_attributes
  - flaskfleet.cloud.release.host
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken, broken or released; nothing is written.
  diff_mode:
    support: none
options:
  path:
    description:
      - The lock file. Its directory is created when missing.
    type: path
    required: true
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description:
      - Who deploys, shown to anyone refused by the lock, for example C(alice@laptop).
      - Required for O(state=present).
    type: str
  run_id:
    description:
      - Unique id of this deploy run; the same run may take the lock again and release it.
    type: str
    required: true
  release_id:
    description: The release being deployed, recorded in the lock.
    type: str
  force:
    description:
      - Break a lock held by another run (O(state=present)) or release it anyway (O(state=absent)).
      - Use on purpose only, for example after a crashed run; the broken lock is returned.
    type: bool
    default: false
  wait:
    description:
      - For O(state=present), seconds to wait for another run to release the lock before failing.
      - The lock is checked twice a second; after the wait the task fails naming the holder, as
        with V(0) (fail at once).
    type: int
    default: 0
seealso:
  - module: flaskfleet.cloud.release
  - module: flaskfleet.cloud.release_info
"""

EXAMPLES = r"""
- name: Take the deploy lock
  flaskfleet.cloud.deploy_lock:
    path: /srv/hello/.deploy.lock
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ lookup('ansible.builtin.pipe', 'hostname') }}"
    run_id: "{{ flaskfleet_run_id }}"
    release_id: 20261129T101500Z
    wait: 300

- name: Break a lock left behind by a crashed run, on purpose
  flaskfleet.cloud.deploy_lock:
    path: /srv/hello/.deploy.lock
    holder: alice@laptop
    run_id: "{{ flaskfleet_run_id }}"
    release_id: 20261129T101500Z
    force: true
  register: lock

- name: Release the deploy lock
  flaskfleet.cloud.deploy_lock:
    path: /srv/hello/.deploy.lock
    run_id: "{{ flaskfleet_run_id }}"
    state: absent
"""

RETURN = r"""
lock:
  description:
    - The lock after O(state=present) (ours), or the lock removed by O(state=absent); null if there was none.
    - On failure because another run holds it, that run's lock.
  returned: always
  type: dict
  sample:
    holder: alice@laptop
    run_id: 2f1c6c1e-5b0e-4a57-9a55-8a3c7d0e9f10
    release_id: 20261129T101500Z
    time: "2026-11-29T10:15:02Z"
    pid: 4242
broken:
  description: The lock of another run that O(force) broke, or null.
  returned: always
  type: dict
  sample:
    holder: bob@ci
    run_id: 0b6c7c1e-5b0e-4a57-9a55-8a3c7d0e9f10
    release_id: 20261128T090000Z
    time: "2026-11-28T09:00:01Z"
    pid: 777
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_lock import (
    LockHeld,
    acquire_lock,
    release_lock,
)


def _apply(module):
    """Take or release the lock; returns ``(changed, lock, broken)``."""
    p = module.params
    if p["state"] == "absent":
        changed, lock = release_lock(p["path"], p["run_id"], p["force"], module.check_mode)
        return changed, lock, None
    return acquire_lock(p["path"], p["holder"], p["run_id"], p["release_id"], p["force"], module.check_mode,
                        wait=p["wait"])  # fmt: skip


def main():
    """Entry point."""
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            holder=dict(type="str"),
            run_id=dict(type="str", required=True),
            release_id=dict(type="str"),
            force=dict(type="bool", default=False),
            wait=dict(type="int", default=0),
        ),
        required_if=[("state", "present", ["holder"])],
        supports_check_mode=True,
    )
    try:
        changed, lock, broken = _apply(module)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock=exc.lock, broken=None)
    except ReleaseError as exc:
        module.fail_json(msg=str(exc), lock=None, broken=None)
    if broken:
        module.warn(
            "broke the deploy lock of run %s held by %s since %s"
            % (broken.get("run_id"), broken.get("holder"), broken.get("time"))
        )
    module.exit_json(changed=changed, lock=lock, broken=broken)


if __name__ == "__main__":
    main()
