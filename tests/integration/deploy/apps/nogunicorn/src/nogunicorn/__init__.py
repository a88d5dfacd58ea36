"""A Flask app that does not depend on gunicorn: the artifact builder has to bring the server."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, jsonify


def create_app() -> Flask:
    """App factory: ``/`` names the release and counts visits in the data dir, ``/up`` is the health check."""
    app = Flask(__name__)
    release = os.environ.get("FLASKFLEET_RELEASE_ID", "dev")
    data = Path(os.environ.get("NOGUNICORN_DATA_DIR", "data"))

    @app.get("/up")
    def up():
        return jsonify(status="ok", release=release)

    @app.get("/")
    def index():
        visits = data / "visits"
        count = int(visits.read_text() or "0") + 1 if visits.exists() else 1
        visits.write_text(str(count))
        return jsonify(app="nogunicorn", release=release, visits=count)

    return app
