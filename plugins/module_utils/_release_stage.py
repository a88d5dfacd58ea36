# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging: an artifact becomes a complete release under ``releases/<id>``, or nothing does.

Staging builds in ``.<id>.partial`` and renames it into place only after the completion marker
is written, so nothing ever sees a half-built release under its real name; a failure removes
what it built.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import errno
import os
import posixpath
import shutil
import sys

from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_artifact import (
    manifest_digest,
    unpack_artifact,
    verify_artifact,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_install import build_venv
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    MARKER_NAME,
    ReleaseError,
    chown,
    chown_tree,
    ensure_dir,
    fsync_dir,
    remove_tree,
    utc_now,
    validate_release_id,
    write_json,
)


def _safe_relative(path, what):
    """A relative path that stays inside its directory (for shared_paths)."""
    norm = posixpath.normpath(path or "")
    if not path or posixpath.isabs(path) or norm == "." or norm == ".." or norm.startswith("../"):
        raise ReleaseError("invalid %s %r: use a relative path inside the release, e.g. data or var/log" % (what, path))
    return norm


def link_shared(layout, build_dir, shared_paths, uid, gid):
    """Create ``shared/<p>`` (owned by the app user) and link ``<release>/<p>`` to it, relatively."""
    for raw in shared_paths:
        rel = _safe_relative(raw, "shared path")
        shared = os.path.join(layout.shared_dir, rel)
        ensure_dir(shared, 0o750, uid, gid)
        link = os.path.join(build_dir, rel)
        if os.path.lexists(link):
            raise ReleaseError(
                "shared path %r also exists in the artifact: remove it from the app or from shared_paths" % rel
            )
        if not os.path.isdir(os.path.dirname(link)):
            os.makedirs(os.path.dirname(link), 0o755)
        # NOTE: relative from the release's final location; same depth as .partial, so the rename keeps it valid.
        final_link_dir = os.path.dirname(os.path.join(layout.release_path("x"), rel))
        os.symlink(os.path.relpath(shared, final_link_dir), link)


def _disk_full(layout, release_id):
    """The one-line message for ENOSPC while staging."""
    try:
        stat = os.statvfs(layout.releases_dir)
        free = " (%d MB free)" % (stat.f_bavail * stat.f_frsize // (1024 * 1024))
    except OSError:
        free = ""
    return "no space left on device while staging release %s in %s%s: free space (prune old releases) and retry" % (
        release_id,
        layout.releases_dir,
        free,
    )


def _already_staged(layout, release_id, artifact):
    """True when the release is complete; refuses a different artifact under the same id."""
    if not layout.is_complete(release_id):
        return False
    wanted = layout.read_marker(release_id).get("manifest_sha256")
    offered = manifest_digest(artifact) if artifact and os.path.isfile(artifact) else None
    if offered and wanted and offered != wanted:
        raise ReleaseError(
            "release %s is already staged from a different artifact (manifest sha256 %s... != %s...): deploy the"
            " new build under a new release id" % (release_id, wanted[:12], offered[:12])
        )
    return True


def prepare_layout(layout, owner_ids):
    """Create the layout's directories when missing: code dirs for root, shared/ for the app user."""
    uid, gid = owner_ids
    for path in (layout.root, layout.releases_dir):
        ensure_dir(path, 0o755, None, gid)
    ensure_dir(layout.artifacts_dir, 0o750, None, gid)
    ensure_dir(layout.shared_dir, 0o750, uid, gid)


def _build_release(layout, release_id, artifact, manifest, digest, options):
    """Unpack, build the venv, link shared paths, write the marker, rename into place."""
    build_dir, final = layout.partial_path(release_id), layout.release_path(release_id)
    uid, gid = options["owner_ids"]
    os.mkdir(build_dir, 0o755)
    unpack_artifact(artifact, manifest, build_dir)
    build_venv(options.get("python") or sys.executable, build_dir, final, manifest)
    link_shared(layout, build_dir, options.get("shared_paths") or [], uid, gid)
    # NOTE: code belongs to the deploying user (root) and the app's group: readable, not writable, by the app.
    chown_tree(build_dir, None, gid)
    marker = dict(
        (k, manifest.get(k)) for k in ("app", "version", "release_id", "wsgi", "requirement", "static", "python")
    )
    marker.update(manifest_sha256=digest, completed=utc_now(), venv=os.path.join(final, "venv"))
    write_json(os.path.join(build_dir, MARKER_NAME), marker)
    chown(os.path.join(build_dir, MARKER_NAME), None, gid)
    os.rename(build_dir, final)
    fsync_dir(layout.releases_dir)


def stage(layout, release_id, artifact=None, check_mode=False, **options):
    """Ensure ``releases/<release_id>`` is a complete release built from ``artifact``.

    :param options: ``python``, ``shared_paths``, ``owner_ids`` (``(uid, gid)``).
    :returns: True when something changed.
    """
    validate_release_id(release_id)
    options.setdefault("owner_ids", (None, None))
    if _already_staged(layout, release_id, artifact):
        return False
    if not artifact:
        raise ReleaseError("release %s is not staged on this host yet: give artifact to stage it" % release_id)
    manifest, digest = verify_artifact(artifact, layout.app, release_id)
    if check_mode:
        return True
    if os.path.lexists(layout.release_path(release_id)):
        if layout.current() == release_id:
            raise ReleaseError(
                "release %s is current but incomplete (no %s): repair it by hand" % (release_id, MARKER_NAME)
            )
        remove_tree(layout, release_id)
    old_umask = os.umask(0o022)
    try:
        prepare_layout(layout, options["owner_ids"])
        remove_tree(layout, posixpath.basename(layout.partial_path(release_id)))
        _build_release(layout, release_id, artifact, manifest, digest, options)
    except BaseException as exc:
        shutil.rmtree(layout.partial_path(release_id), ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise ReleaseError(_disk_full(layout, release_id)) from exc
        if isinstance(exc, OSError) and not isinstance(exc, ReleaseError):
            raise ReleaseError("staging release %s failed: %s" % (release_id, exc)) from exc
        raise
    finally:
        os.umask(old_umask)
    return True
