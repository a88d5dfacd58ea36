"""module_utils/_release_lock.py: the deploy lock taken, refused, broken on purpose and released."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_lock import LockHeld, acquire_lock, release_lock
from releasefakes import APP, R1, R2


def test_lock_acquire_refuse_force_release(tmp_path):
    path = str(tmp_path / "srv" / APP / ".deploy.lock")
    changed, lock, broken = acquire_lock(path, "alice@laptop", "run-a", R1)
    assert (changed, broken) == (True, None)
    assert json.loads(Path(path).read_text())["holder"] == "alice@laptop"
    assert acquire_lock(path, "alice@laptop", "run-a", R1)[0] is False
    with pytest.raises(LockHeld) as err:
        acquire_lock(path, "bob@ci", "run-b", R2)
    assert str(err.value) == (
        "deploy lock held by alice@laptop since %s for release %s (run run-a); wait for it or re-run with"
        " flask_app_force_unlock=true to break it" % (lock["time"], R1)
    )
    with pytest.raises(LockHeld, match="belongs to run run-a of alice@laptop, not to run run-b"):
        release_lock(path, "run-b")
    changed, lock, broken = acquire_lock(path, "bob@ci", "run-b", R2, force=True)
    assert broken["run_id"] == "run-a" and lock["run_id"] == "run-b"
    assert release_lock(path, "run-b") == (True, lock)
    assert release_lock(path, "run-b") == (False, None)
    assert os.listdir(os.path.dirname(path)) == []


def test_unreadable_lock_is_reported_not_ignored(tmp_path):
    path = tmp_path / ".deploy.lock"
    path.write_text("{half-written")
    with pytest.raises(LockHeld, match=r"deploy lock held by unknown \(unreadable lock file\)"):
        acquire_lock(str(path), "bob@ci", "run-b", R1)
    assert acquire_lock(str(path), "bob@ci", "run-b", R1, force=True)[0] is True
