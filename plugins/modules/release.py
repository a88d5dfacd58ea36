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
  - O(state=inspected) changes nothing and reports in RV(up_to_date) whether the host already
    runs O(release_id) exactly as asked (no deploy lock held, C(current) points at the complete
    release built from the artifact whose manifest digest is O(manifest_sha256), O(owner) and
    O(group) exist with O(group_members) in the group, every entry of O(directories) and O(files) has
    its content, mode and owner, the O(unit) is active and enabled with no other instance running, and one request
    through O(health_socket) answers O(health_status)). A deploy uses it to skip every other step
    on hosts that are up to date, in one module run; RV(reasons) says why a host is not.
  - O(state=inspected) without O(release_id) reports what the host serves now (for status reports),
    the live release (RV(release_id)), the state of its unit (RV(unit_state)) and the HTTP status
    O(health_path) answers through its socket (RV(health)); RV(healthy) and RV(reasons) sum it up.
  - The names of the layout, the release's systemd unit and its socket follow one host contract
    (C(module_utils/_contract.py)); RV(names) reports them, and O(app) must follow its name rule.
  - Needs only the Python standard library on the host, and C(python3-venv).
author:
  - flaskfleet developers (@flaskfleet)
extends_documentation_fragment:
  - action_common_attributes
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
  platform:
    platforms: posix
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
  state:
    description:
      - V(staged) builds the release, V(active) makes it current, V(rolled_back) returns to an older
        release, V(pruned) removes old ones, V(absent) removes one release, V(inspected) only
        reports whether the host already runs O(release_id) as asked.
    type: str
    choices: [staged, active, rolled_back, pruned, absent, inspected]
    default: staged
  release_id:
    description:
      - The release, C(YYYYMMDDTHHMMSSZ) optionally followed by C(-<suffix>).
      - Required for O(state=staged), O(state=active) and O(state=absent).
      - For O(state=inspected), omit it to report on the live release (status).
      - For O(state=rolled_back), defaults to the newest complete release older than the current one.
    type: str
  artifact:
    description:
      - Path of the artifact C(.tar.gz) on the host, usually C(<base_dir>/<app>/artifacts/<release_id>.tar.gz).
      - Required for O(state=staged) unless the release is already staged.
    type: path
  owner:
    description:
      - User the app runs as. Owns C(shared/) and the O(shared_paths) directories (writable).
      - Release code stays owned by the user running the module, so the app cannot change it.
      - Omit to leave ownership alone (for example when not running as root).
      - With O(state=inspected), the user must exist.
    type: str
  group:
    description:
      - Group of the release tree and C(shared/). Defaults to the primary group of O(owner).
      - With O(state=inspected), the group must exist.
    type: str
  python:
    description:
      - Python interpreter that creates the release's venv (C(python -m venv)).
      - Defaults to the interpreter running this module.
    type: path
  shared_paths:
    description:
      - Directories under C(shared/) linked into each release at the same relative path (created
        when missing, owned by O(owner)).
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
  manifest_sha256:
    description:
      - For O(state=inspected), the sha256 of the artifact's C(manifest.json); the current release
        must have been staged from that artifact. Omit to skip this check.
    type: str
  group_members:
    description: For O(state=inspected), users that must be members of O(group) (e.g. the proxy's user).
    type: list
    elements: str
    default: []
  unit:
    description:
      - For O(state=inspected), the systemd unit of the release, for example
        C(flaskfleet-hello@20261129T101500Z.service).
      - It must be active and enabled, and no other instance of its template may be active.
      - Omit to skip this check.
    type: str
  health_socket:
    description: For O(state=inspected), the unix socket the release answers on; omit to skip the health check.
    type: path
  service_checks:
    description:
      - For O(state=inspected) with O(release_id), check the unit and the socket the host contract
        names for that release (as if O(unit) and O(health_socket) were given with those names).
    type: bool
    default: false
  health_path:
    description: Path requested through O(health_socket).
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
    description: For O(state=inspected), directories that must exist with the given mode and owner.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
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
      - For O(state=inspected), files that must hold exactly the given content digest, mode and owner.
      - The digests are computed on the controller from the templates the role would write, so no
        content (and no secret) travels for the comparison.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      sha256:
        description: sha256 of the whole expected content.
        type: str
        required: true
      mode:
        description: Expected mode as an octal string, e.g. C(0644).
        type: str
      owner:
        description: Expected owner (user name).
        type: str
      group:
        description: Expected group name.
        type: str
notes:
  - Release ids sort by time; "older" and "newest" refer to that order.
  - Run one deploy at a time per host; M(flaskfleet.cloud.deploy_lock) enforces it.
seealso:
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

- name: Check whether the host already runs the release as asked
  flaskfleet.cloud.release:
    app: hello
    release_id: 20261129T101500Z
    state: inspected
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

- name: Report what the host serves now, with the app's health path
  flaskfleet.cloud.release:
    app: hello
    base_dir: /opt/apps
    state: inspected
    health_path: /up
  register: live

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
up_to_date:
  description: For O(state=inspected), true when the host already runs O(release_id) exactly as asked.
  returned: when O(state=inspected)
  type: bool
  sample: true
reasons:
  description:
    - For O(state=inspected), why the host is not up to date (empty when it is).
    - Without O(release_id), why the live release is not healthy (empty when it is).
  returned: when O(state=inspected)
  type: list
  elements: str
  sample: ["current release is 20261128T090000Z"]
identity_ok:
  description:
    - For O(state=inspected), true when O(owner) and O(group) exist, every O(group_members) user is
      in the group and every entry of O(directories) is as asked.
    - A deploy that has to run anyway skips creating them when true.
  returned: when O(state=inspected)
  type: bool
  sample: true
files_matching:
  description:
    - For O(state=inspected), the paths of O(files) whose content, mode and owner match.
    - A deploy that has to run anyway skips writing them.
  returned: when O(state=inspected)
  type: list
  elements: str
  sample: [/srv/hello/gunicorn.conf.py, /srv/hello/shared/.env]
healthy:
  description:
    - For O(state=inspected) without O(release_id), true when the live release's unit is active
      and O(health_path) answers O(health_status) through its socket.
  returned: when O(state=inspected) without O(release_id)
  type: bool
  sample: true
unit_state:
  description: For O(state=inspected) without O(release_id), systemd's C(ActiveState) of the live release's unit.
  returned: when O(state=inspected) without O(release_id)
  type: str
  sample: active
health:
  description: For O(state=inspected) without O(release_id), the HTTP status O(health_path) answered, or null.
  returned: when O(state=inspected) without O(release_id)
  type: int
  sample: 200
lock:
  description: For O(state=inspected) without O(release_id), the deploy lock when one is held, else null.
  returned: when O(state=inspected) without O(release_id)
  type: dict
  sample: {"holder": "alice@laptop", "release_id": "20261129T101500Z", "time": "2026-11-29T10:15:02Z"}
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
    health_path: /healthz
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
from ansible_collections.flaskfleet.cloud.plugins.module_utils._releases import (
    Layout,
    ReleaseError,
    activate,
    inspect,
    inspect_live,
    prune,
    remove_release,
    resolve_owner,
    rollback_target,
    stage,
    verify_artifact,
)

MANIFEST_KEYS = ("app", "version", "wsgi", "static")
STATES = ("staged", "active", "rolled_back", "pruned", "absent", "inspected")
DIRECTORY_OPTIONS = dict(
    path=dict(type="path", required=True),
    mode=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
)
FILE_OPTIONS = dict(
    path=dict(type="path", required=True),
    # NOTE: the digest of the env file is derived from secrets: never shown in any output.
    sha256=dict(type="str", required=True, no_log=True),
    mode=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
)


def _manifest(layout, release_id, artifact):
    """The release's manifest summary: from its marker, else (check mode) from the artifact."""
    data = layout.read_marker(release_id)
    if not data and artifact:
        data = verify_artifact(artifact, layout.app, release_id)[0]
    return dict((k, data.get(k)) for k in MANIFEST_KEYS) if data else {}


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
    if state == "inspected":
        return False, release_id, [], []
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


def _checks(p):
    """The checks O(state=inspected) makes, from the module's options."""
    health, unit, socket_path = None, p["unit"], p["health_socket"]
    if p["service_checks"]:
        unit = unit or contract.unit_name(p["app"], p["release_id"])
        socket_path = socket_path or contract.socket_path(p["app"], p["release_id"])
    if socket_path:
        health = dict(socket=socket_path, path=p["health_path"], status=p["health_status"],
                      timeout=p["health_timeout"])  # fmt: skip
    keys = ("manifest_sha256", "owner", "group", "group_members", "directories", "files")
    return dict(health=health, unit=unit, **dict((k, p[k]) for k in keys))


def _result(module, layout, before, outcome):
    """Build the module result, including diff when asked."""
    changed, release_id, pruned, leftovers = outcome
    p = module.params
    after = layout.status()
    if module.check_mode:
        after = _predicted(before, p["state"], release_id, pruned, changed)
    replaced = before["current"] if after["current"] != before["current"] else None
    result = dict(changed=changed, pruned=pruned, leftovers=leftovers, replaced=replaced, **after)
    result["layout"] = dict(
        root=layout.root,
        releases=layout.releases_dir,
        shared=layout.shared_dir,
        artifacts=layout.artifacts_dir,
        current=layout.current_link,
        lock=layout.lock_path,
    )
    if release_id:
        path = layout.release_path(release_id)
        result.update(release_id=release_id, release_path=path, venv_path=path + "/venv")
        if p["state"] != "absent":
            result["manifest"] = _manifest(layout, release_id, p["artifact"])
    result["names"] = contract.names(layout.app, p["base_dir"], release_id or None)
    result["names"]["health_path"] = p["health_path"]
    if p["state"] == "inspected" and release_id:
        result.update(inspect(layout, release_id, _checks(p)))
        result["up_to_date"] = not result["reasons"]
    elif p["state"] == "inspected":
        live = inspect_live(layout, p["health_path"], p["health_status"], p["health_timeout"])
        result.update(live, up_to_date=False)
        if live["release_id"]:
            path = layout.release_path(live["release_id"])
            result.update(
                release_path=path, venv_path=path + "/venv", manifest=_manifest(layout, live["release_id"], None)
            )
            result["names"] = dict(
                contract.names(layout.app, p["base_dir"], live["release_id"]), health_path=p["health_path"]
            )
    if module._diff:
        keys = ("current", "releases")
        result["diff"] = dict(before=dict((k, before[k]) for k in keys), after=dict((k, after[k]) for k in keys))
    return result


def main():
    """Entry point: observe the layout, apply ``state``, report."""
    module = AnsibleModule(
        argument_spec=dict(
            app=dict(type="str", required=True),
            base_dir=dict(type="path", default=contract.DEFAULT_BASE_DIR),
            state=dict(type="str", default="staged", choices=list(STATES)),
            release_id=dict(type="str"),
            artifact=dict(type="path"),
            owner=dict(type="str"),
            group=dict(type="str"),
            python=dict(type="path"),
            shared_paths=dict(type="list", elements="str", default=[]),
            keep_releases=dict(type="int", default=5),
            protect=dict(type="list", elements="str", default=[]),
            manifest_sha256=dict(type="str"),
            group_members=dict(type="list", elements="str", default=[]),
            unit=dict(type="str"),
            health_socket=dict(type="path"),
            service_checks=dict(type="bool", default=False),
            health_path=dict(type="str", default=contract.DEFAULT_HEALTH_PATH),
            health_status=dict(type="int", default=200),
            health_timeout=dict(type="int", default=5),
            directories=dict(type="list", elements="dict", default=[], options=DIRECTORY_OPTIONS),
            files=dict(type="list", elements="dict", default=[], options=FILE_OPTIONS),
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
