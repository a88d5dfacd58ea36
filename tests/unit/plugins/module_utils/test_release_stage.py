"""module_utils/_release_stage.py: a release is built completely or not at all."""

from __future__ import annotations

import os
import tarfile

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_stage import stage
from releasefakes import R1, make_artifact


def test_failed_pip_install_leaves_nothing_behind(layout, tmp_path):
    """The wheelhouse lacks the app: pip fails offline; no partial dir, no release, a clear reason."""
    art = make_artifact(tmp_path / "a.tar.gz", files={"static/style.css": b"body {}"})
    with pytest.raises(ReleaseError) as err:
        stage(layout, R1, str(art))
    assert str(err.value).startswith("pip install hello==0.1.0 failed: ERROR: ")
    assert "hello==0.1.0" in str(err.value)
    assert os.listdir(layout.releases_dir) == []
    assert layout.releases() == []


def test_check_mode_stage_verifies_but_writes_nothing(layout, tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz")
    assert stage(layout, R1, str(art), check_mode=True) is True
    assert not os.path.exists(layout.root)
    bad = make_artifact(tmp_path / "b.tar.gz", extra=[(tarfile.TarInfo("../x"), b"x")])
    with pytest.raises(ReleaseError, match="leaves the release directory"):
        stage(layout, R1, str(bad), check_mode=True)
