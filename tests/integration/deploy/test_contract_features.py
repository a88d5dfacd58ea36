"""An app without gunicorn, under a non-default base dir and health path, on two hosts: built and
deployed from a URL, with a run-once migration and a pause between rolling batches; ``invoke
status`` reads the role's settings; bad input, a failed migration and a wrong checksum change nothing."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import sys
import threading
from pathlib import Path

import pytest
from conftest import R1, R2, R3
from deployhelp import deploy, host_sh, output, prepare, served_release

from flaskfleet import artifact as artifacts

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = "nogunicorn"
SOURCE = Path(__file__).with_name("apps") / APP
BASE = "/opt/apps"
ROOT = f"{BASE}/{APP}"
BIN = Path(sys.executable).parent
# Runs in the new release: imports the app from its venv, reads the shared env file, appends to shared/.
MIGRATE = (
    "python -c \"import os, nogunicorn; open('data/migrations.log', 'a').write("
    "os.environ['FLASKFLEET_RELEASE_ID'] + ' ' + os.environ['GREETING'] + chr(10))\""
)
PAUSE = 12


@pytest.fixture(scope="module")
def fleet(local_fleet):
    """Two hosts with the baseline and nginx for the app; the role's settings in the inventory's group_vars."""
    fleet = local_fleet("t-nogunicorn", count=2, published_ports=(80,))
    (fleet.root / "group_vars").mkdir(exist_ok=True)
    (fleet.root / "group_vars" / "web.yml").write_text(
        f"flask_app_base_dir: {BASE}\nflask_app_health_path: /up\nflask_app_env:\n  GREETING: hello-from-env\n"
    )
    prepare(fleet, APP, nginx_base_dir=BASE)
    return fleet


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Artifacts of the app for R1, R2, R3, in a directory served over HTTP on 127.0.0.1."""
    out = tmp_path_factory.mktemp("served")
    return {rid: artifacts.build(SOURCE, out, release_id=rid) for rid in (R1, R2, R3)}


@pytest.fixture(scope="module")
def server(built):
    """``http://127.0.0.1:<port>/`` serving the artifacts' directory."""
    directory = next(iter(built.values())).path.parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def switched_at(host) -> int:
    """When the host's ``current`` link was last swapped (the link's own mtime)."""
    return int(host_sh(host, f"stat -c %Y {ROOT}/current").stdout)


def migration_lines(fleet) -> dict[str, list[str]]:
    """The lines each host's migration log holds (hosts without the file are left out)."""
    found = {}
    for host in fleet.hosts:
        proc = host_sh(host, f"cat {ROOT}/shared/data/migrations.log", check=False)
        if proc.returncode == 0:
            found[host.name] = proc.stdout.splitlines()
    return found


def releases_on(fleet) -> dict[str, list[str]]:
    return {h.name: host_sh(h, f"ls {ROOT}/releases").stdout.split() for h in fleet.hosts}


def test_build_adds_the_pinned_wsgi_server_when_the_app_lacks_it(built):
    art = built[R1]
    assert art.manifest["extra_requirements"] == [artifacts.WSGI_SERVER_PIN]
    version = artifacts.WSGI_SERVER_PIN.split("==")[1]
    assert f"wheels/gunicorn-{version}-py3-none-any.whl" in art.manifest["files"]


def test_deploy_from_url_runs_the_migration_once_and_pauses_between_batches(fleet, built, server):
    proc = deploy(
        fleet, APP, Path(""), flask_app_artifact="", flask_app_artifact_url=f"{server}/{built[R1].path.name}",
        flask_app_artifact_sha256=built[R1].sha256, flask_app_serial=1, flask_app_batch_pause=PAUSE,
        flask_app_migrate_command=MIGRATE,
    )  # fmt: skip
    assert proc.returncode == 0, output(proc)[-4000:]
    # Built without gunicorn in its dependencies, serving through gunicorn on every host.
    assert {h.name: served_release(h) for h in fleet.hosts} == {h.name: R1 for h in fleet.hosts}
    # Exactly one line, on exactly one host: the new release's id and a value from the shared env file.
    lines = migration_lines(fleet)
    assert list(lines.values()) == [[f"{R1} hello-from-env"]], lines
    # Two batches of one host: the second switched at least PAUSE seconds after the first.
    first, second = sorted(switched_at(h) for h in fleet.hosts)
    assert second - first >= PAUSE, (first, second)
    assert output(proc).count("TASK [Pause before the next batch]") == 2  # reached once per batch


def test_status_reports_health_with_the_roles_path_and_base_dir(fleet):
    env = {**fleet.env, "FLASKFLEET_STATE_DIR": str(fleet.state_dir), "FLASKFLEET_INVENTORY": str(fleet.inventory)}

    def status(*extra: str):
        proc = fleet.runner(
            [str(BIN / "flaskfleet"), "status", "-n", APP, "-H", "web", "--json", *extra],
            env=env, cwd=fleet.root, timeout=300,
        )  # fmt: skip
        return proc, json.loads(proc.stdout) if proc.stdout.strip().startswith("[") else []

    proc, rows = status()
    assert proc.returncode == 0, output(proc)
    assert {(r["host"], r["release"], r["health"], r["healthy"]) for r in rows} == {
        (h.name, R1, 200, True) for h in fleet.hosts
    }
    assert {r["root"] for r in rows} == {ROOT}
    # The same hosts asked for the default health path: the app has none, and status says so.
    proc, rows = status("-x", "flask_app_health_path=/healthz")
    assert proc.returncode == 1
    assert {r["error"] for r in rows} == {"/healthz answered HTTP 404, not 200"}


def test_invalid_role_input_stops_on_the_controller_before_any_host_changes(fleet, built):
    before = releases_on(fleet)
    proc = deploy(fleet, APP, built[R2].path, flask_app_workers="abc")
    assert proc.returncode != 0
    assert "argument 'flask_app_workers' is of type str and we were unable to convert to int" in output(proc)
    assert "Stage the release on every targeted host" not in output(proc)
    assert releases_on(fleet) == before


def test_a_failed_migration_stops_the_deploy_with_nothing_switched(fleet, built):
    proc = deploy(fleet, APP, built[R2].path, flask_app_migrate_command="echo 'schema is locked' >&2; exit 3")
    assert proc.returncode != 0
    assert "migration command failed on t-nogunicorn-web-1 (exit 3): schema is locked" in output(proc)
    assert "before any host switched" in output(proc)
    assert {h.name: served_release(h) for h in fleet.hosts} == {h.name: R1 for h in fleet.hosts}
    assert releases_on(fleet) == {h.name: [R1] for h in fleet.hosts}
    for host in fleet.hosts:
        assert host_sh(host, f"test -e {ROOT}/.deploy.lock", check=False).returncode == 1


def test_a_wrong_checksum_is_refused_before_any_host_changes(fleet, built, server):
    wrong = hashlib.sha256(b"not the artifact").hexdigest()
    proc = deploy(
        fleet, APP, Path(""), flask_app_artifact="", flask_app_artifact_url=f"{server}/{built[R3].path.name}",
        flask_app_artifact_sha256=wrong,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"sha256 mismatch (expected {wrong[:12]}..., got {built[R3].sha256[:12]}...)" in output(proc)
    assert releases_on(fleet) == {h.name: [R1] for h in fleet.hosts}
    for host in fleet.hosts:
        assert host_sh(host, f"test -e {ROOT}/artifacts/{R3}.tar.gz", check=False).returncode == 1
    assert {h.name: served_release(h) for h in fleet.hosts} == {h.name: R1 for h in fleet.hosts}
