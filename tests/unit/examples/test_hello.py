"""examples/hello through Flask's test client: health, release id, config and secrets from the environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HELLO_SRC = Path(__file__).resolve().parents[3] / "examples" / "hello" / "src"


@pytest.fixture
def make_client(monkeypatch):
    """``make_client(env={...}, config={...})``: a test client of a freshly created app."""
    monkeypatch.syspath_prepend(str(HELLO_SRC))
    for key in ("FLASKFLEET_RELEASE_ID", "FLASKFLEET_FORCE_UNHEALTHY", "SECRET_KEY", "HELLO_GREETING_SECRET"):
        monkeypatch.delenv(key, raising=False)

    def _make(env=None, config=None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        from hello import create_app

        return create_app({"TESTING": True, **(config or {})}).test_client()

    yield _make
    for name in [m for m in sys.modules if m == "hello" or m.startswith("hello.")]:
        sys.modules.pop(name)


def test_healthz_reports_ok_and_release(make_client):
    resp = make_client(env={"FLASKFLEET_RELEASE_ID": "20261129T101500Z"}).get("/healthz")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"
    assert resp.json["release"] == "20261129T101500Z"


def test_index_shows_release_and_whether_secrets_are_set(make_client):
    client = make_client(env={"FLASKFLEET_RELEASE_ID": "20261129T101500Z", "HELLO_GREETING_SECRET": "s3cr3t-value"})
    page = client.get("/").get_data(as_text=True)
    assert '<span class="release" id="release">20261129T101500Z</span>' in page
    assert "greeting secret: <code>set</code>" in page
    assert "secret key: <code>not set</code>" in page
    assert "s3cr3t-value" not in page


def test_index_without_environment(make_client):
    page = make_client().get("/").get_data(as_text=True)
    assert "unreleased" in page
    assert "greeting secret: <code>not set</code>" in page


def test_config_comes_from_environment_and_overrides(make_client):
    client = make_client(env={"HELLO_TITLE": "Staging hello"}, config={"HELLO_ENVIRONMENT": "staging"})
    page = client.get("/").get_data(as_text=True)
    assert "<h1>Staging hello</h1>" in page
    assert "environment: <code>staging</code>" in page


@pytest.mark.parametrize("flag", ["1", "true", "YES", "20261129T101500Z"])
def test_forced_unhealthy(make_client, flag):
    client = make_client(env={"FLASKFLEET_RELEASE_ID": "20261129T101500Z", "FLASKFLEET_FORCE_UNHEALTHY": flag})
    resp = client.get("/healthz")
    assert resp.status_code == 500
    assert resp.json["status"] == "unhealthy"
    assert "FLASKFLEET_FORCE_UNHEALTHY" in resp.json["reason"]


def test_unhealthy_flag_for_another_release_leaves_this_one_healthy(make_client):
    env = {"FLASKFLEET_RELEASE_ID": "20261129T111500Z", "FLASKFLEET_FORCE_UNHEALTHY": "20261129T101500Z"}
    client = make_client(env=env)
    assert client.get("/healthz").status_code == 200


def test_unhealthy_by_config(make_client):
    assert make_client(config={"FLASKFLEET_FORCE_UNHEALTHY": "1"}).get("/healthz").status_code == 500


def test_static_file_is_served(make_client):
    resp = make_client().get("/static/style.css")
    assert resp.status_code == 200
    assert "font-family" in resp.get_data(as_text=True)
