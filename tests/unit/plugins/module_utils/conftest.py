"""Fixtures of the ``_release_*`` module_utils tests."""

from __future__ import annotations

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import Layout
from releasefakes import APP


@pytest.fixture
def layout(tmp_path):
    """An app's layout under a fresh base_dir (nothing exists on disk yet)."""
    return Layout(str(tmp_path / "srv"), APP)
