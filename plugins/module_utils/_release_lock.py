# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host deploy lock: a small JSON file created atomically, taken and released per run."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import errno
import json
import os
import time

from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    ReleaseError,
    fsync_dir,
    utc_now,
    write_json,
)


class LockHeld(ReleaseError):
    """The deploy lock belongs to another run."""

    def __init__(self, msg, lock):
        super(LockHeld, self).__init__(msg)
        self.lock = lock


def read_lock(path):
    """The lock's content, ``None`` when free; an unreadable lock is reported, not ignored."""
    try:
        with open(path) as fh:
            data = fh.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise ReleaseError("cannot read deploy lock %s: %s" % (path, exc.strerror)) from exc
    try:
        lock = json.loads(data)
        if not isinstance(lock, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"holder": "unknown (unreadable lock file)", "time": "unknown", "release_id": None, "run_id": None}
    return lock


def lock_held_message(lock):
    """The refusal users see when another run holds the lock."""
    return (
        "deploy lock held by %s since %s for release %s (run %s);"
        " wait for it or re-run with flask_app_force_unlock=true to break it"
        % (lock.get("holder"), lock.get("time"), lock.get("release_id"), lock.get("run_id"))
    )


def _create_lock(path, lock):
    """Create the lock file atomically and complete: written to a temp file, hard-linked into place.

    ``link()`` fails with EEXIST like ``O_EXCL`` but never exposes a half-written file.
    """
    tmp = "%s.%d.tmp" % (path, os.getpid())
    write_json(tmp, lock)
    try:
        os.link(tmp, path)
        fsync_dir(os.path.dirname(path))
        return True
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise ReleaseError("cannot create deploy lock %s: %s" % (path, exc.strerror)) from exc
    finally:
        os.unlink(tmp)


def acquire_lock(path, holder, run_id, release_id=None, force=False, check_mode=False, wait=0):
    """Take the deploy lock for ``run_id``, waiting up to ``wait`` seconds for another run to release it.

    :returns: ``(changed, lock, broken)``; ``broken`` is the lock that ``force`` replaced.
    :raises LockHeld: when another run still holds it after ``wait`` seconds and ``force`` is false.
    """
    deadline = time.monotonic() + max(wait or 0, 0)
    while True:
        try:
            return _acquire_once(path, holder, run_id, release_id, force, check_mode)
        except LockHeld as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait:
                    raise LockHeld("%s (waited %d s)" % (exc, wait), exc.lock) from None
                raise
            time.sleep(min(0.5, left))


def _acquire_once(path, holder, run_id, release_id, force, check_mode):
    """One attempt of :func:`acquire_lock`."""
    wanted = {"holder": holder, "run_id": run_id, "release_id": release_id, "time": utc_now(), "pid": os.getpid()}
    current = read_lock(path)
    if current is not None and current.get("run_id") == run_id:
        return False, current, None
    if current is not None and not force:
        raise LockHeld(lock_held_message(current), current)
    if check_mode:
        return True, wanted, current
    # NOTE: exist_ok: runs that start together all find the directory missing.
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if current is not None:
        os.unlink(path)
    if not _create_lock(path, wanted):
        # NOTE: another run took it between our read and our link: report that run, not ours.
        raise LockHeld(lock_held_message(read_lock(path) or {}), read_lock(path))
    return True, wanted, current


def release_lock(path, run_id, force=False, check_mode=False):
    """Release the deploy lock if this run holds it (or ``force``).

    :returns: ``(changed, lock)`` where ``lock`` is what was removed.
    """
    current = read_lock(path)
    if current is None:
        return False, None
    if current.get("run_id") != run_id and not force:
        raise LockHeld(
            "deploy lock %s belongs to run %s of %s, not to run %s: not releasing it (use force to remove it anyway)"
            % (path, current.get("run_id"), current.get("holder"), run_id),
            current,
        )
    if not check_mode:
        os.unlink(path)
    return True, current
