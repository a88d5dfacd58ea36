"""module_utils/_release_layout.py: the layout's paths and facts, ids and app names checked, removal by rename."""

from __future__ import annotations

import os

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    Layout,
    ReleaseError,
    remove_tree,
    validate_release_id,
)
from releasefakes import APP, R1, R2, R3, fake_release


def test_release_ids_and_app_names_are_validated():
    assert validate_release_id(R3) == R3
    for bad in ("latest", "20261101", "20261101T080000Z/../x", "20261101T080000Z-"):
        with pytest.raises(ReleaseError, match="invalid release id"):
            validate_release_id(bad)
    with pytest.raises(ReleaseError, match="invalid app name"):
        Layout("/srv", "../etc")


def test_facts_of_an_empty_and_a_staged_layout(layout, tmp_path):
    root = str(tmp_path / "srv" / APP)
    assert layout.status() == {"current": None, "previous": None, "releases": []}
    assert layout.paths() == dict(root=root, releases=root + "/releases", shared=root + "/shared",
                                  artifacts=root + "/artifacts", current=root + "/current",
                                  lock=root + "/.deploy.lock")  # fmt: skip
    fake_release(layout, R1)
    facts = layout.release_facts(R1)
    assert facts == dict(release_id=R1, release_path=root + "/releases/" + R1,
                         venv_path=root + "/releases/%s/venv" % R1,
                         manifest={"app": APP, "version": None, "wsgi": None, "static": None})  # fmt: skip
    assert layout.release_facts(R2)["manifest"] == {}


def test_only_complete_releases_count_and_leftovers_are_named(layout):
    fake_release(layout, R1)
    os.makedirs(layout.release_path(R2))  # no marker: incomplete
    os.makedirs(layout.partial_path(R3))
    assert layout.releases() == [R1]
    assert layout.leftovers() == [".%s.partial" % R3]


def test_current_that_is_a_directory_is_refused(layout):
    fake_release(layout, R1)
    os.makedirs(layout.current_link)
    with pytest.raises(ReleaseError, match="current is not a symlink: move it away"):
        layout.current()


def test_remove_tree_renames_first_then_removes(layout):
    fake_release(layout, R1)
    assert remove_tree(layout, R1) is True
    assert os.listdir(layout.releases_dir) == []
    assert remove_tree(layout, R1) is False
