"""hello: the Flask app flaskfleet deploys in its demo and tests.

``create_app()`` is the WSGI entry point (``gunicorn 'hello:create_app()'``). Everything that
differs between hosts and releases comes from the environment the systemd unit sets:

* ``FLASKFLEET_RELEASE_ID``: the release id shown on ``/`` and in ``/healthz``;
* ``SECRET_KEY``, ``HELLO_GREETING_SECRET``: secrets from the shared env file (only reported as
  set / not set, never shown);
* ``HELLO_TITLE``, ``HELLO_ENVIRONMENT``: plain settings;
* ``FLASKFLEET_FORCE_UNHEALTHY``: ``1``/``true`` makes ``/healthz`` answer 500, and so does the
  id of the running release, which lets a test break exactly one release through a shared env file.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from flask import Flask

from hello.views import bp

__all__ = ["DEFAULTS", "create_app"]

#: Settings read from the environment (same name), with their defaults.
DEFAULTS: dict[str, Any] = {
    "HELLO_TITLE": "Hello from flaskfleet",
    "HELLO_ENVIRONMENT": "production",
    "HELLO_GREETING_SECRET": None,
    "SECRET_KEY": None,
    "FLASKFLEET_RELEASE_ID": "unreleased",
    "FLASKFLEET_FORCE_UNHEALTHY": "",
}


def _version() -> str:
    """The installed distribution's version (``0+unknown`` when run from a source tree)."""
    try:
        return metadata.version("hello")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _settings_from_env(environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """Pick the known settings out of the environment; unknown variables are ignored on purpose."""
    return {key: environ[key] for key in DEFAULTS if environ.get(key) not in (None, "")}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults < environment < ``config`` (tests pass overrides here).

    :param config: explicit settings, e.g. ``{"TESTING": True}``.
    :returns: the configured Flask app.
    """
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(_settings_from_env(os.environ))
    app.config.update(config or {})
    app.config["HELLO_VERSION"] = _version()
    app.register_blueprint(bp)
    return app
