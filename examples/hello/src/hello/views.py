"""The hello blueprint: the index page and the health endpoint."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

bp = Blueprint("hello", __name__)

_TRUE = {"1", "true", "yes", "on"}


def unhealthy_reason() -> str | None:
    """Why this release should report itself unhealthy, or ``None`` when it is healthy."""
    forced = str(current_app.config.get("FLASKFLEET_FORCE_UNHEALTHY") or "").strip()
    release = current_app.config["FLASKFLEET_RELEASE_ID"]
    if forced.lower() in _TRUE:
        return "forced unhealthy by FLASKFLEET_FORCE_UNHEALTHY"
    if forced and forced == release:
        return "forced unhealthy for release %s by FLASKFLEET_FORCE_UNHEALTHY" % release
    return None


@bp.get("/healthz")
def healthz():
    """200 ``{"status": "ok", "release": ...}`` when healthy, 500 with the reason otherwise."""
    release = current_app.config["FLASKFLEET_RELEASE_ID"]
    reason = unhealthy_reason()
    if reason:
        return jsonify(status="unhealthy", release=release, reason=reason), 500
    return jsonify(status="ok", release=release, version=current_app.config["HELLO_VERSION"])


@bp.get("/")
def index():
    """The page people see: release id, settings, and whether the secrets are set (not their values)."""
    config = current_app.config
    return render_template(
        "index.html",
        release=config["FLASKFLEET_RELEASE_ID"],
        version=config["HELLO_VERSION"],
        secret_set=bool(config.get("HELLO_GREETING_SECRET")),
        secret_key_set=bool(config.get("SECRET_KEY")),
    )
