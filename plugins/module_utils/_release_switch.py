# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switching and pruning: ``current`` swapped atomically, rollback targets, old releases removed."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os
import posixpath

from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    MARKER_NAME,
    ReleaseError,
    fsync_dir,
    remove_tree,
    validate_release_id,
)


def _swap_current(layout, release_id):
    """Point ``current`` at the release: a new symlink under a temp name, renamed over the old one."""
    tmp = os.path.join(layout.root, ".current.%d.tmp" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(posixpath.join("releases", release_id), tmp)
    os.rename(tmp, layout.current_link)
    fsync_dir(layout.root)


def activate(layout, release_id, check_mode=False):
    """Make ``release_id`` current; refuses releases that are not complete.

    :returns: True when ``current`` changed (or would, in check mode).
    """
    validate_release_id(release_id)
    if not layout.is_complete(release_id):
        if check_mode and not os.path.lexists(layout.release_path(release_id)):
            # NOTE: in check mode an earlier task's staging was only simulated; report the switch it would make.
            return True
        if os.path.lexists(layout.release_path(release_id)):
            raise ReleaseError("release %s is incomplete (no %s): stage it again" % (release_id, MARKER_NAME))
        known = ", ".join(layout.releases()) or "none"
        raise ReleaseError("release %s is not staged on this host (staged releases: %s)" % (release_id, known))
    if layout.current() == release_id:
        return False
    if not check_mode:
        _swap_current(layout, release_id)
    return True


def rollback_target(layout, release_id=None):
    """The release a rollback goes to: the one named, else the newest complete one older than current."""
    if release_id:
        return validate_release_id(release_id)
    current = layout.current()
    if current is None:
        raise ReleaseError(
            "nothing to roll back: %s does not exist yet (no release was activated)" % layout.current_link
        )
    target = layout.previous(current)
    if target is None:
        raise ReleaseError(
            "no complete release older than %s to roll back to (releases: %s)"
            % (current, ", ".join(layout.releases()) or "none")
        )
    return target


# --------------------------------------------------------------------------- pruning and removal


def prune_plan(layout, keep, protect=()):
    """Release ids to remove: all but the newest ``keep``, never current, its rollback target or ``protect``."""
    if keep < 1:
        raise ReleaseError("keep_releases must be 1 or more, got %d" % keep)
    releases, current = layout.releases(), layout.current()
    kept = set(releases[-keep:]) | set(protect) | set([current, layout.previous(current)])
    return [r for r in releases if r not in kept]


def remove_release(layout, release_id, check_mode=False):
    """Remove a release (its directory, leftovers and uploaded artifact); refuses the current one.

    :returns: True when something was removed (or would be).
    """
    validate_release_id(release_id)
    if layout.current() == release_id:
        raise ReleaseError(
            "release %s is current: activate or roll back to another release before removing it" % release_id
        )
    paths = [layout.release_path(release_id), layout.partial_path(release_id), layout.artifact_path(release_id)]
    if not any(os.path.lexists(p) for p in paths):
        return False
    if not check_mode:
        remove_tree(layout, release_id)
        remove_tree(layout, posixpath.basename(layout.partial_path(release_id)))
        if os.path.lexists(layout.artifact_path(release_id)):
            os.unlink(layout.artifact_path(release_id))
    return True


def prune(layout, keep, protect=(), check_mode=False):
    """Remove old releases and leftovers of crashed runs.

    :returns: ``(pruned release ids, removed leftover dir names)``.
    """
    doomed, leftovers = prune_plan(layout, keep, protect), layout.leftovers()
    if not check_mode:
        for release_id in doomed:
            remove_release(layout, release_id)
        for name in leftovers:
            remove_tree(layout, name)
    return doomed, leftovers
