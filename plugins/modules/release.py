#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release
short_description: Stage, activate, roll back and prune releases of a Python web app on a host
version_added: 0.1.0
description:
  - Manages the release layout C(<base_dir>/<app>/) on the managed host, C(releases/<release_id>/)
    (unpacked artifact and its C(venv/)), C(shared/) (persistent data, owned by the app user),
    C(artifacts/) and the C(current) symlink.
  - O(state=staged) verifies an artifact built by C(flaskfleet.artifact) (sha256 of every file,
    no missing or extra files, no absolute paths, path traversal or links), unpacks it into
    C(releases/.<release_id>.partial), builds the venv offline
    (C(pip install --no-index --find-links wheels/)), links O(shared_paths), writes the completion
    marker C(.flaskfleet-release.json) last and renames the directory to C(releases/<release_id>).
    C(current) can therefore never point at a half-built release. A leftover C(.partial) directory
    of a crashed run is removed and rebuilt; a failure removes what it built.
  - O(state=active) points C(current) at a complete release atomically (new symlink, renamed over
    the old one).
  - O(state=rolled_back) activates O(release_id), or by default the newest complete release older
    than the current one.
  - O(state=pruned) removes old releases (and their artifacts) beyond O(keep_releases), never the
    current release, its rollback target, nor those in O(protect).
  - O(state=absent) removes one release; the current release is refused.
  - To ask, without changing anything, whether a host already runs a release as asked or what it
    serves now, use M(flaskfleet.cloud.release_info).
  - Needs C(python3-venv) on the host to build venvs.
author:
  - flaskfleet developers (@flaskfleet)
extends_documentation_fragment:
  - action_common_attributes
  - flaskfleet.cloud.release
  - flaskfleet.cloud.release.host
attributes:
  check_mode:
    support: full
    details:
      - In check mode the artifact is still verified (read only); nothing is written.
      - Activating a release that is not staged yet reports a change and a warning in check mode,
        since an earlier task of the same run would have staged it.
  diff_mode:
    support: full
    details: Reports C(current) and the list of complete releases before and after.
options:
  state:
    description:
      - V(staged) builds the release, V(active) makes it current, V(rolled_back) returns to an older
        release, V(pruned) removes old ones, V(absent) removes one release.
    type: str
    choices: [staged, active, rolled_back, pruned, absent]
    default: staged
  release_id:
    description:
      - The release, C(YYYYMMDDTHHMMSSZ) optionally followed by C(-<suffix>).
      - Required for O(state=staged), O(state=active) and O(state=absent).
      - For O(state=rolled_back), defaults to the newest complete release older than the current one.
    type: str
  artifact:
    description:
      - For O(state=staged), path of the artifact C(.tar.gz) on the host, usually
        C(<base_dir>/<app>/artifacts/<release_id>.tar.gz).
      - Required unless the release is already staged.
    type: path
  owner:
    description:
      - For O(state=staged), the user the app runs as. Owns C(shared/) and the O(shared_paths)
        directories (writable).
      - Release code stays owned by the user running the module, so the app cannot change it.
      - Omit to leave ownership alone (for example when not running as root).
    type: str
  group:
    description:
      - For O(state=staged), group of the release tree and C(shared/).
      - Defaults to the primary group of O(owner).
    type: str
  python:
    description:
      - For O(state=staged), the Python interpreter that creates the release's venv (C(python -m venv)).
      - Defaults to the interpreter running this module.
    type: path
  shared_paths:
    description:
      - For O(state=staged), directories under C(shared/) linked into the release at the same
        relative path (created when missing, owned by O(owner)).
    type: list
    elements: str
    default: []
  keep_releases:
    description: How many of the newest complete releases O(state=pruned) keeps.
    type: int
    default: 5
  protect:
    description: Release ids O(state=pruned) never removes.
    type: list
    elements: str
    default: []
notes:
  - Run one deploy at a time per host; M(flaskfleet.cloud.deploy_lock) enforces it.
seealso:
  - module: flaskfleet.cloud.release_info
  - module: flaskfleet.cloud.deploy_lock
  - name: Release layout contract
    description: docs/architecture.md in the flaskfleet repository.
    link: https://github.com/flaskfleet/flaskfleet/blob/main/docs/architecture.md
"""

EXAMPLES = r"""
- name: Stage the uploaded release
  flaskfleet.cloud.release:
    app: hello
    release_id: 20261129T101500Z
    artifact: /srv/hello/artifacts/20261129T101500Z.tar.gz
    owner: hello
    group: hello
    python: /usr/bin/python3
    shared_paths: [data, log]
    state: staged
  register: staged

- name: Make it the current release
  flaskfleet.cloud.release:
    app: hello
    release_id: 20261129T101500Z
    state: active

- name: Roll back to the previous release
  flaskfleet.cloud.release:
    app: hello
    state: rolled_back

- name: Keep the five newest releases
  flaskfleet.cloud.release:
    app: hello
    state: pruned
    keep_releases: 5
    protect: ["{{ staged.release_id }}"]

- name: Remove a release that failed its health check
  flaskfleet.cloud.release:
    app: hello
    release_id: 20261129T101500Z
    state: absent
"""

RETURN = r"""
release_id:
  description: The release the task acted on (for V(rolled_back), the release rolled back to).
  returned: when a release is concerned
  type: str
  sample: 20261129T101500Z
release_path:
  description: Directory of that release.
  returned: when a release is concerned
  type: str
  sample: /srv/hello/releases/20261129T101500Z
venv_path:
  description: The release's virtualenv.
  returned: when a release is concerned
  type: str
  sample: /srv/hello/releases/20261129T101500Z/venv
current:
  description: The current release after the task (in check mode, as it would be), or null.
  returned: always
  type: str
  sample: 20261129T101500Z
previous:
  description: The newest complete release older than RV(current), the default rollback target, or null.
  returned: always
  type: str
  sample: 20261128T090000Z
replaced:
  description: The release that was current before this task, when the task changed C(current).
  returned: always
  type: str
  sample: 20261128T090000Z
releases:
  description: Complete releases after the task, oldest first.
  returned: always
  type: list
  elements: str
  sample: [20261128T090000Z, 20261129T101500Z]
pruned:
  description: Releases removed by O(state=pruned) (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [20261120T080000Z]
leftovers:
  description: Half-built or half-removed directories of crashed runs removed by O(state=pruned).
  returned: always
  type: list
  elements: str
  sample: [.20261127T080000Z.partial]
manifest:
  description: What the release holds, from its artifact's manifest (absent in check mode before staging).
  returned: when a release is concerned
  type: dict
  contains:
    app:
      description: App name.
      type: str
      sample: hello
    version:
      description: App version.
      type: str
      sample: 0.1.0
    wsgi:
      description: WSGI entry point.
      type: str
      sample: hello:create_app()
    static:
      description: Directory of static files inside the release, or null.
      type: str
      sample: static
  sample: {"app": "hello", "version": "0.1.0", "wsgi": "hello:create_app()", "static": "static"}
names:
  description:
    - The host contract's names for this app (and for RV(release_id) when there is one).
    - C(unit) and C(socket) appear only with a release.
  returned: always
  type: dict
  sample:
    root: /srv/hello
    unit_template: flaskfleet-hello@.service
    unit_pattern: flaskfleet-hello@*
    unit: flaskfleet-hello@20261129T101500Z.service
    socket: /run/hello/20261129T101500Z/gunicorn.sock
layout:
  description: Paths of the app's layout on the host.
  returned: always
  type: dict
  sample:
    root: /srv/hello
    releases: /srv/hello/releases
    shared: /srv/hello/shared
    artifacts: /srv/hello/artifacts
    current: /srv/hello/current
    lock: /srv/hello/.deploy.lock
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_artifact import verify_artifact
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    LAYOUT_ARGUMENT_SPEC,
    MANIFEST_SUMMARY_KEYS,
    Layout,
    ReleaseError,
    resolve_owner,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_stage import stage
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_switch import (
    activate,
    prune,
    remove_release,
    rollback_target,
)

STATES = ("staged", "active", "rolled_back", "pruned", "absent")


def _apply(module, layout):
    """Carry out ``state``; returns ``(changed, release_id, pruned, leftovers)``."""
    p, check = module.params, module.check_mode
    state, release_id = p["state"], p["release_id"]
    if state == "staged":
        owner_ids = resolve_owner(p["owner"], p["group"])
        changed = stage(layout, release_id, p["artifact"], check, python=p["python"],
                        shared_paths=p["shared_paths"], owner_ids=owner_ids)  # fmt: skip
        return changed, release_id, [], []
    if state in ("active", "rolled_back"):
        release_id = release_id if state == "active" else rollback_target(layout, release_id)
        if check and not layout.is_complete(release_id):
            module.warn("release %s is not staged yet; check mode assumes an earlier task stages it" % release_id)
        return activate(layout, release_id, check), release_id, [], []
    if state == "absent":
        return remove_release(layout, release_id, check), release_id, [], []
    pruned, leftovers = prune(layout, p["keep_releases"], p["protect"], check)
    return bool(pruned or leftovers), None, pruned, leftovers


def _predicted(before, state, release_id, pruned, changed):
    """The status check mode would leave: the module predicts, it does not write."""
    after = dict(before, releases=list(before["releases"]))
    if changed and state == "staged":
        after["releases"] = sorted(set(after["releases"]) | set([release_id]))
    if changed and state in ("active", "rolled_back"):
        after["current"] = release_id
    if state in ("absent", "pruned"):
        after["releases"] = [r for r in after["releases"] if r not in set(pruned) | set([release_id])]
    older = [r for r in after["releases"] if after["current"] and r < after["current"]]
    after["previous"] = older[-1] if older else None
    return after


def _result(module, layout, before, outcome):
    """Build the module result, including diff when asked."""
    changed, release_id, pruned, leftovers = outcome
    p = module.params
    after = layout.status()
    if module.check_mode:
        after = _predicted(before, p["state"], release_id, pruned, changed)
    replaced = before["current"] if after["current"] != before["current"] else None
    result = dict(changed=changed, pruned=pruned, leftovers=leftovers, replaced=replaced, **after)
    result["layout"] = layout.paths()
    if release_id:
        result.update(layout.release_facts(release_id))
        if p["state"] == "absent":
            del result["manifest"]
        elif not result["manifest"] and p["artifact"]:
            # NOTE: in check mode the release is not built: its manifest comes from the verified artifact.
            manifest = verify_artifact(p["artifact"], layout.app, release_id)[0]
            result["manifest"] = dict((k, manifest.get(k)) for k in MANIFEST_SUMMARY_KEYS)
    result["names"] = contract.names(layout.app, p["base_dir"], release_id or None)
    if module._diff:
        keys = ("current", "releases")
        result["diff"] = dict(before=dict((k, before[k]) for k in keys), after=dict((k, after[k]) for k in keys))
    return result


def main():
    """Entry point: observe the layout, apply ``state``, report."""
    module = AnsibleModule(
        argument_spec=dict(
            LAYOUT_ARGUMENT_SPEC,
            state=dict(type="str", default="staged", choices=list(STATES)),
            release_id=dict(type="str"),
            artifact=dict(type="path"),
            owner=dict(type="str"),
            group=dict(type="str"),
            python=dict(type="path"),
            shared_paths=dict(type="list", elements="str", default=[]),
            keep_releases=dict(type="int", default=5),
            protect=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("state", s, ["release_id"]) for s in ("staged", "active", "absent")],
        supports_check_mode=True,
    )
    try:
        layout = Layout(module.params["base_dir"], module.params["app"])
        before = layout.status()
        module.exit_json(**_result(module, layout, before, _apply(module, layout)))
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
