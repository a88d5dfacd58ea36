"""widget: a second example app with a different layout than hello.

One flat module, a module-level WSGI object named ``application`` (``widget_app:application``),
a ``requirements.txt`` instead of a ``pyproject.toml``, and a JSON API instead of HTML pages. It
proves the roles take any WSGI app, not just ``examples/hello``.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify

WIDGETS = [{"id": 1, "name": "sprocket"}, {"id": 2, "name": "flange"}]


def _release() -> str:
    """The release id the systemd unit passes in, or ``unreleased`` outside a deploy."""
    return os.environ.get("FLASKFLEET_RELEASE_ID", "unreleased")


def _build() -> Flask:
    """Build the widget app (flat module: no factory is exported on purpose)."""
    app = Flask(__name__, static_folder=None)

    @app.get("/")
    def index():
        """The release id and the widget count, as JSON."""
        return jsonify(app="widget", release=_release(), widgets=len(WIDGETS))

    @app.get("/widgets")
    def widgets():
        """All widgets."""
        return jsonify(WIDGETS)

    @app.get("/healthz")
    def healthz():
        """Health endpoint used by the deploy before switching traffic."""
        forced = os.environ.get("FLASKFLEET_FORCE_UNHEALTHY", "").strip()
        if forced.lower() in {"1", "true", "yes"} or forced == _release():
            return jsonify(status="unhealthy", release=_release(), reason="forced by FLASKFLEET_FORCE_UNHEALTHY"), 500
        return jsonify(status="ok", release=_release())

    return app


application = _build()
