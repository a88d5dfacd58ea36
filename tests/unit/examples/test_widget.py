"""examples/widget (flat module, ``application`` object) through Flask's test client."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

WIDGET_DIR = Path(__file__).resolve().parents[3] / "examples" / "widget"


@pytest.fixture
def load(monkeypatch):
    """``load(env)``: import widget_app afresh with ``env`` set; returns its test client."""
    monkeypatch.syspath_prepend(str(WIDGET_DIR))
    monkeypatch.delenv("FLASKFLEET_FORCE_UNHEALTHY", raising=False)

    def _load(env=None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        sys.modules.pop("widget_app", None)
        return importlib.import_module("widget_app").application.test_client()

    yield _load
    sys.modules.pop("widget_app", None)


def test_index_reports_release(load):
    body = load({"FLASKFLEET_RELEASE_ID": "20261129T101500Z"}).get("/").json
    assert body == {"app": "widget", "release": "20261129T101500Z", "widgets": 2}


def test_widgets_and_health(load):
    client = load()
    assert [w["name"] for w in client.get("/widgets").json] == ["sprocket", "flange"]
    assert client.get("/healthz").json["status"] == "ok"


def test_forced_unhealthy_for_this_release(load):
    client = load({"FLASKFLEET_RELEASE_ID": "20261129T101500Z", "FLASKFLEET_FORCE_UNHEALTHY": "20261129T101500Z"})
    assert client.get("/healthz").status_code == 500
