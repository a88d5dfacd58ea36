"""notes: a second example app, to run beside ``hello`` on the same hosts.

``create_app()`` is the WSGI entry point (src layout, app factory, JSON API). It differs from
``hello`` where a second app on a host usually does:

* its health endpoint is ``/up`` (deploy with ``-e flask_app_health_path=/up``);
* it keeps data: a sqlite database in ``NOTES_DATA_DIR`` (default ``./data``; on a host e.g.
  ``/srv/<app>/shared/data``, the one directory the hardened unit lets the app write);
* it works below a path prefix: links are built from ``SCRIPT_NAME`` (``/n/notes``).

``FLASKFLEET_RELEASE_ID`` is shown on ``/``; ``FLASKFLEET_FORCE_UNHEALTHY`` (``1`` or the running
release's id) makes ``/up`` answer 500.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from flask import Flask, g, jsonify, request, url_for

__all__ = ["create_app"]


def _release() -> str:
    """The release id the systemd unit passes in, or ``unreleased`` outside a deploy."""
    return os.environ.get("FLASKFLEET_RELEASE_ID", "unreleased")


def create_app(data_dir: str | None = None) -> Flask:
    """Build the app; the database lives in ``data_dir`` (default ``NOTES_DATA_DIR`` or ``./data``)."""
    app = Flask(__name__, static_folder=None)
    root = Path(data_dir or os.environ.get("NOTES_DATA_DIR") or "data")
    root.mkdir(parents=True, exist_ok=True)
    database = root / "notes.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")

    def db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(database, timeout=10)
        return g.db

    @app.teardown_appcontext
    def close(_exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.get("/")
    def index():
        """The release id, the number of notes and where they are listed."""
        count = db().execute("SELECT COUNT(*) FROM notes").fetchone()[0]
        return jsonify(app="notes", release=_release(), notes=count, list=url_for("list_notes"))

    @app.get("/notes")
    def list_notes():
        """Every note."""
        rows = db().execute("SELECT id, text FROM notes ORDER BY id").fetchall()
        return jsonify([{"id": i, "text": t} for i, t in rows])

    @app.post("/notes")
    def add_note():
        """Add a note from ``{"text": ...}``."""
        text = str((request.get_json(silent=True) or {}).get("text", "")).strip()
        if not text:
            return jsonify(error="text is required"), 400
        with db() as conn:
            note_id = conn.execute("INSERT INTO notes (text) VALUES (?)", (text,)).lastrowid
        return jsonify(id=note_id, text=text), 201

    @app.get("/up")
    def up():
        """Health endpoint (the deploy checks it before switching traffic)."""
        forced = os.environ.get("FLASKFLEET_FORCE_UNHEALTHY", "").strip()
        if forced.lower() in {"1", "true", "yes"} or forced == _release():
            return jsonify(status="unhealthy", release=_release()), 500
        db().execute("SELECT 1")
        return jsonify(status="ok", release=_release())

    return app
