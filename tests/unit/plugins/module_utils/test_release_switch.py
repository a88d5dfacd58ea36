"""module_utils/_release_switch.py: ``current`` swapped atomically, rollback targets, pruning and removal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_switch import (
    activate,
    prune,
    prune_plan,
    remove_release,
    rollback_target,
)
from releasefakes import R1, R2, R3, fake_release


def test_release_ids_are_validated(layout):
    for bad in ("latest", "20261101", "20261101T080000Z/../x", "20261101T080000Z-"):
        with pytest.raises(ReleaseError, match="invalid release id"):
            activate(layout, bad)


def test_only_complete_releases_can_be_activated(layout):
    fake_release(layout, R1)
    os.makedirs(layout.release_path(R2))  # no marker: incomplete
    with pytest.raises(ReleaseError, match="release %s is incomplete" % R2):
        activate(layout, R2)
    with pytest.raises(ReleaseError, match=r"release %s is not staged on this host \(staged releases: %s\)" % (R3, R1)):
        activate(layout, R3)


def test_activate_swaps_symlink_atomically_and_is_idempotent(layout):
    for rid in (R1, R2):
        fake_release(layout, rid)
    assert activate(layout, R1) is True
    assert os.readlink(layout.current_link) == "releases/%s" % R1
    assert activate(layout, R1) is False
    assert activate(layout, R2, check_mode=True) is True
    assert layout.current() == R1
    assert activate(layout, R2) is True
    assert layout.status() == {"current": R2, "previous": R1, "releases": [R1, R2]}
    assert sorted(os.listdir(layout.root)) == ["current", "releases"]  # no temp link left


def test_rollback_target(layout):
    with pytest.raises(ReleaseError, match=r"nothing to roll back: .*current does not exist yet"):
        rollback_target(layout)
    for rid in (R1, R2, R3):
        fake_release(layout, rid)
    activate(layout, R1)
    with pytest.raises(ReleaseError, match="no complete release older than %s to roll back to" % R1):
        rollback_target(layout)
    activate(layout, R3)
    assert rollback_target(layout) == R2
    assert rollback_target(layout, R1) == R1


def test_prune_keeps_newest_current_rollback_target_and_protected(layout):
    releases = ["2026110%dT080000Z" % d for d in range(1, 8)]
    for rid in releases:
        fake_release(layout, rid)
    os.makedirs(layout.artifacts_dir)
    for rid in releases:
        Path(layout.artifact_path(rid)).write_bytes(b"x")
    activate(layout, releases[2])  # current is old: a newer one was staged, then rolled back
    assert prune_plan(layout, 2, protect=[releases[0]]) == [releases[3], releases[4]]
    pruned, _leftovers = prune(layout, 2, protect=[releases[0]], check_mode=True)
    assert pruned == [releases[3], releases[4]] and layout.releases() == releases
    pruned, _leftovers = prune(layout, 2, protect=[releases[0]])
    assert pruned == [releases[3], releases[4]]
    assert layout.releases() == [releases[0], releases[1], releases[2], releases[5], releases[6]]
    assert sorted(os.listdir(layout.artifacts_dir)) == sorted("%s.tar.gz" % r for r in layout.releases())
    assert layout.leftovers() == []
    with pytest.raises(ReleaseError, match="keep_releases must be 1 or more, got 0"):
        prune_plan(layout, 0)


def test_prune_removes_leftovers_of_crashed_runs(layout):
    fake_release(layout, R1)
    os.makedirs(os.path.join(layout.partial_path(R2), "venv"))
    os.makedirs(os.path.join(layout.releases_dir, ".%s.removing" % R3))
    assert prune(layout, 5) == ([], [".%s.partial" % R2, ".%s.removing" % R3])
    assert os.listdir(layout.releases_dir) == [R1]


def test_remove_release_refuses_current(layout):
    fake_release(layout, R1)
    fake_release(layout, R2)
    activate(layout, R2)
    with pytest.raises(ReleaseError, match="release %s is current: activate or roll back" % R2):
        remove_release(layout, R2)
    assert remove_release(layout, R1) is True
    assert remove_release(layout, R1) is False
    assert layout.releases() == [R2]
