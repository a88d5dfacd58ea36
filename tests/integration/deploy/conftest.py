"""Fixtures for the deploy tests: artifacts built once per session, fleets provisioned once per module."""

from __future__ import annotations

import deployhelp
import pytest

# Release ids sort by time; fixed ids keep the expected order obvious in the assertions.
R1, R2, R3, R4 = "20260101T000001Z", "20260101T000002Z", "20260101T000003Z", "20260101T000004Z"


@pytest.fixture(scope="session")
def build_artifact(tmp_path_factory):
    """``build_artifact(app, release_id, wsgi=None) -> Path``, each artifact built once per session."""
    out = tmp_path_factory.mktemp("artifacts")

    def _build(app: str, release_id: str, wsgi: str | None = None):
        return deployhelp.build(out, app, release_id, wsgi)

    return _build
