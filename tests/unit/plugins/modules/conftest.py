"""Fixtures of the release modules' tests: real artifacts of examples/hello and a host to run them on."""

from __future__ import annotations

import pytest
from releasehost import R1, R2, R3, ROOT, ReleaseHost

from flaskfleet.artifact import build


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Three real artifacts of examples/hello, one per release id."""
    out = tmp_path_factory.mktemp("artifacts")
    return {rid: build(ROOT / "examples" / "hello", out, release_id=rid).path for rid in (R1, R2, R3)}


@pytest.fixture
def host(tmp_path, artifacts, collections_path):
    """A fresh base_dir with the artifacts at hand."""
    return ReleaseHost(tmp_path / "srv", artifacts, collections_path)
