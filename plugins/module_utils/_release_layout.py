# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-host release layout: its paths, ids and read-only facts, and the directory primitives.

Layout under ``<base_dir>/<app>/`` (docs/architecture.md, "Release layout on a host")::

    releases/<release_id>/          unpacked artifact + venv/ + links to shared paths
    releases/<release_id>/.flaskfleet-release.json   completion marker, written last
    releases/.<release_id>.partial  a release being staged (never a valid target)
    shared/                         persistent data, owned by the app user
    artifacts/<release_id>.tar.gz   uploaded artifacts
    current -> releases/<release_id>   swapped by rename (atomic)
    .deploy.lock                    the deploy lock (JSON)

A release is *complete* when ``releases/<id>`` exists and holds the marker. Every other
``_release_*`` module builds on this one (never the other way). Pure standard library: this
runs on the host.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import grp
import json
import os
import posixpath
import pwd
import shutil

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract

MARKER_NAME = ".flaskfleet-release.json"
MANIFEST_NAME = "manifest.json"
RELEASE_ID_RE = contract.RELEASE_ID_RE
#: The part of a release's manifest every module result reports.
MANIFEST_SUMMARY_KEYS = ("app", "version", "wsgi", "static")
#: The options naming an app's layout, common to the modules built on it.
LAYOUT_ARGUMENT_SPEC = dict(
    app=dict(type="str", required=True),
    base_dir=dict(type="path", default=contract.DEFAULT_BASE_DIR),
)


class ReleaseError(Exception):
    """A failure the user can act on; the message is one line and says what to fix."""


def utc_now():
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_release_id(release_id):
    """Return ``release_id`` when it has the contract's shape, else raise :class:`ReleaseError`."""
    problem = contract.release_id_problem(release_id)
    if problem:
        raise ReleaseError(problem)
    return release_id


def fsync_dir(path):
    """Flush a directory entry change (rename, new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path, data, mode=0o644):
    """Write JSON to ``path`` and flush it to disk before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------- layout


class Layout:
    """Paths and read-only facts of one app's release layout on this host."""

    def __init__(self, base_dir, app):
        problem = contract.app_name_problem(app)
        if problem:
            raise ReleaseError(problem)
        self.app = app
        self.names = contract.names(app, os.path.abspath(base_dir))
        self.root = self.names["root"]
        self.releases_dir = self.names["releases"]
        self.shared_dir = self.names["shared"]
        self.artifacts_dir = self.names["artifacts"]
        self.current_link = self.names["current"]
        self.lock_path = self.names["lock"]

    def release_path(self, release_id):
        """``releases/<id>``."""
        return os.path.join(self.releases_dir, release_id)

    def partial_path(self, release_id):
        """``releases/.<id>.partial``, where a release is built."""
        return os.path.join(self.releases_dir, ".%s.partial" % release_id)

    def artifact_path(self, release_id):
        """``artifacts/<id>.tar.gz``."""
        return os.path.join(self.artifacts_dir, "%s.tar.gz" % release_id)

    def marker_path(self, release_id):
        """The completion marker of a release."""
        return os.path.join(self.release_path(release_id), MARKER_NAME)

    def is_complete(self, release_id):
        """True when the release dir is a real directory holding its marker."""
        path = self.release_path(release_id)
        return os.path.isdir(path) and not os.path.islink(path) and os.path.isfile(self.marker_path(release_id))

    def read_marker(self, release_id):
        """The marker of a complete release (``{}`` when unreadable)."""
        try:
            with open(self.marker_path(release_id)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def releases(self):
        """Complete release ids, oldest first (ids sort by time)."""
        try:
            names = os.listdir(self.releases_dir)
        except OSError:
            return []
        return sorted(n for n in names if RELEASE_ID_RE.match(n) and self.is_complete(n))

    def leftovers(self):
        """Names of half-built or half-removed release dirs (``.<id>.partial``, ``.<id>.removing``)."""
        try:
            names = os.listdir(self.releases_dir)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith(".") and n.endswith((".partial", ".removing")))

    def current(self):
        """Id of the release ``current`` points at, or ``None`` before the first activation."""
        if not os.path.islink(self.current_link):
            if os.path.exists(self.current_link):
                raise ReleaseError("%s is not a symlink: move it away so releases can be switched" % self.current_link)
            return None
        target = os.readlink(self.current_link)
        return posixpath.basename(posixpath.normpath(target)) or None

    def previous(self, current=None):
        """Newest complete release older than ``current`` (the default rollback target), or ``None``."""
        current = self.current() if current is None else current
        older = [r for r in self.releases() if current is not None and r < current]
        return older[-1] if older else None

    def status(self):
        """``current``, ``previous`` and ``releases``: what every module result reports."""
        current = self.current()
        return {"current": current, "previous": self.previous(current), "releases": self.releases()}

    def paths(self):
        """The layout's paths, as module results report them (``layout``)."""
        return dict(root=self.root, releases=self.releases_dir, shared=self.shared_dir,
                    artifacts=self.artifacts_dir, current=self.current_link, lock=self.lock_path)  # fmt: skip

    def release_facts(self, release_id):
        """``release_id``, ``release_path``, ``venv_path`` and ``manifest`` (summary of its marker, ``{}`` if none)."""
        marker = self.read_marker(release_id)
        manifest = dict((k, marker.get(k)) for k in MANIFEST_SUMMARY_KEYS) if marker else {}
        path = self.release_path(release_id)
        return dict(release_id=release_id, release_path=path, venv_path=path + "/venv", manifest=manifest)


# --------------------------------------------------------------------------- ownership


def resolve_owner(owner=None, group=None):
    """``(uid, gid)`` for owner/group names; ``None`` for what is not given.

    Without ``group`` the owner's primary group is used.
    """
    uid = gid = None
    if owner:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            raise ReleaseError("owner %r does not exist on this host: create the user first" % owner) from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ReleaseError("group %r does not exist on this host: create the group first" % group) from None
    return uid, gid


def chown(path, uid, gid):
    """``lchown`` that turns a permission error into an actionable message."""
    if uid is None and gid is None:
        return
    try:
        os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    except PermissionError:
        raise ReleaseError("cannot change the owner of %s: permission denied (run with become: true)" % path) from None


def ensure_dir(path, mode, uid=None, gid=None):
    """Create ``path`` (and parents) if missing with ``mode`` and owner; existing dirs are left alone.

    :returns: True when the directory was created.
    """
    if os.path.isdir(path):
        return False
    if os.path.lexists(path):
        raise ReleaseError("%s exists but is not a directory" % path)
    os.makedirs(path)
    os.chmod(path, mode)
    chown(path, uid, gid)
    return True


def chown_tree(top, uid, gid):
    """Give a whole release tree to ``uid:gid`` (symlinks themselves, never their targets)."""
    if uid is None and gid is None:
        return
    chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            chown(os.path.join(dirpath, name), uid, gid)


# --------------------------------------------------------------------------- removal


def remove_tree(layout, name):
    """Remove ``releases/<name>``: renamed to ``.<name>.removing`` first so it stops counting at once."""
    path = os.path.join(layout.releases_dir, name)
    if not os.path.lexists(path):
        return False
    doomed = path
    if not name.startswith("."):
        doomed = os.path.join(layout.releases_dir, ".%s.removing" % name)
        if os.path.lexists(doomed):
            shutil.rmtree(doomed, ignore_errors=True)
        os.rename(path, doomed)
    if os.path.islink(doomed) or not os.path.isdir(doomed):
        os.unlink(doomed)
    else:
        shutil.rmtree(doomed)
    return True
