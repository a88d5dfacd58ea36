"""Several apps on the same two hosts: examples/hello and examples/notes (src layout, app factory,
health at /up, sqlite data dir from an env var), one nginx site each, routed by server name.

The module builds on its own state, in file order: hello is set up the way site.yml does it (base +
nginx, default site, name a.example) and deployed; notes is deployed by the deploy playbook
alone, which creates its site (name b.example). An invalid nginx change for notes is refused
without touching the live configuration (hello then deploys R2), a second default site is
refused, and both apps are deployed and rolled back independently under load.
"""

from __future__ import annotations

import http.client
import re

import pytest
from conftest import R1, R2, R3
from deployhelp import EXAMPLES, PREPARE, deploy, extra, host_sh, output, prepare, rollback, served_release, wait_for
from loadgen import Load

from flaskfleet import artifact as artifacts

pytestmark = [pytest.mark.docker, pytest.mark.slow]

A, B = "hello", "notes"
NAME_A, NAME_B = "a.example", "b.example"
FAST = {"flask_app_drain_seconds": 1, "flask_app_health_retries": 5, "flask_app_health_delay": 1}
HEALTH_B = {"flask_app_health_path": "/up"}
VARS_B = {
    **FAST,
    "flask_app_health_path": "/up",
    "flask_app_env": {"NOTES_DATA_DIR": "/srv/notes/shared/data"},
    "nginx_server_name": [NAME_B],
}
SITE_B = "/etc/nginx/sites-available/flaskfleet-notes.conf"


@pytest.fixture(scope="session")
def notes_artifact(tmp_path_factory):
    """``notes_artifact(release_id) -> Path`` (examples/notes, built once per release)."""
    out = tmp_path_factory.mktemp("notes-artifacts")
    built = {}

    def _build(release_id: str):
        if release_id not in built:
            built[release_id] = artifacts.build(EXAMPLES / B, out / release_id, release_id=release_id).path
        return built[release_id]

    return _build


@pytest.fixture(scope="module")
def fleet(local_fleet, build_artifact, notes_artifact):
    """Two hosts: hello R1 (default site, a.example) and notes R1 (b.example), both live."""
    fleet = local_fleet("t-multi", count=2)
    prepare(fleet, A, nginx_server_name=[NAME_A])
    proc = deploy(fleet, A, build_artifact(A, R1), **FAST)
    assert proc.returncode == 0, output(proc)[-4000:]
    return fleet


def _nginx_t_passes(fleet) -> None:
    for host in fleet.hosts:
        check = host_sh(host, "nginx -t", check=False)
        assert check.returncode == 0, f"{host.name}: nginx -t failed: {check.stderr}"


def _one_line(text: str, pattern: str) -> str:
    """The one output line matching ``pattern`` (the error a user reads); no traceback anywhere."""
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if re.search(pattern, line)]
    assert lines, f"no line matches {pattern!r}:\n{text[-3000:]}"
    return lines[0]


def test_deploy_of_a_new_app_creates_its_site(fleet, notes_artifact):
    proc = deploy(fleet, B, notes_artifact(R1), **VARS_B)
    assert proc.returncode == 0, output(proc)[-4000:]
    for host in fleet.hosts:
        assert served_release(host, name=NAME_B) == R1, "notes answers by its name"
        assert served_release(host, name=NAME_A) == R1, "hello answers by its name"
        conn = http.client.HTTPConnection("127.0.0.1", host.published_ports[80], timeout=10)
        conn.request("GET", "/", headers={"Host": "unknown.example"})
        resp = conn.getresponse()
        assert resp.status == 200 and 'id="release"' in resp.read().decode(), "unknown names go to hello (default)"
        sites = host_sh(host, "ls /etc/nginx/sites-enabled").stdout.split()
        assert sites == ["flaskfleet-hello.conf", "flaskfleet-notes.conf"]
        assert host_sh(host, "ls /srv/notes/shared/data").stdout.split() == ["notes.sqlite3"]
    _nginx_t_passes(fleet)


def test_invalid_nginx_change_for_one_app_changes_nothing(fleet, build_artifact):
    before = [host_sh(h, f"sha256sum {SITE_B}").stdout for h in fleet.hosts]
    proc = prepare_failing(fleet, B, nginx_server_name=[NAME_B], nginx_default_server=False,
                           nginx_extra_config="no_such_directive on;")  # fmt: skip
    text = output(proc)
    assert proc.returncode != 0
    for host in fleet.hosts:
        line = _one_line(text, rf"nginx refused the new site of notes on {host.name}")
        assert 'unknown directive "no_such_directive" in /etc/nginx/sites-enabled/flaskfleet-notes.conf:' in line
    assert [host_sh(h, f"sha256sum {SITE_B}").stdout for h in fleet.hosts] == before, "the live site is unchanged"
    _nginx_t_passes(fleet)
    leftovers = host_sh(fleet.hosts[0], "ls /tmp | grep -c flaskfleet-nginx-check || true").stdout.strip()
    assert leftovers == "0", "the checker cleans up its copy of /etc/nginx"
    proc = deploy(fleet, A, build_artifact(A, R2), **FAST)
    assert proc.returncode == 0, output(proc)[-4000:]
    for host in fleet.hosts:
        assert served_release(host, name=NAME_A) == R2
        assert served_release(host, name=NAME_B) == R1


def test_second_default_site_is_refused(fleet):
    before = [host_sh(h, f"sha256sum {SITE_B}").stdout for h in fleet.hosts]
    proc = prepare_failing(fleet, B, nginx_server_name=[NAME_B], nginx_default_server=True)
    text = output(proc)
    assert proc.returncode != 0
    for host in fleet.hosts:
        line = _one_line(text, rf"{host.name}: app notes cannot be nginx's default site")
        assert "app hello already is; set nginx_default_server=false for one of them" in line
    assert [host_sh(h, f"sha256sum {SITE_B}").stdout for h in fleet.hosts] == before
    _nginx_t_passes(fleet)


def test_both_apps_deploy_and_roll_back_independently_under_load(fleet, build_artifact, notes_artifact, figure):
    host = fleet.hosts[0]
    url = host.url(80, "/")
    # Bounded: 6 clients per app, at most an hour (the four runs take a few minutes each).
    bound = {"clients": 6, "max_seconds": 3600}
    with Load(url, host=NAME_A, **bound) as load_a, Load(url, host=NAME_B, **bound) as load_b:
        load_a.wait_for_requests(30)
        load_b.wait_for_requests(30)
        steps = [
            ("deploy hello R3", lambda: deploy(fleet, A, build_artifact(A, R3), **FAST), {NAME_A: R3, NAME_B: R1}),
            ("deploy notes R2", lambda: deploy(fleet, B, notes_artifact(R2), **VARS_B), {NAME_A: R3, NAME_B: R2}),
            ("roll back hello", lambda: rollback(fleet, A, *extra(**FAST)), {NAME_A: R2, NAME_B: R2}),
            ("roll back notes", lambda: rollback(fleet, B, *extra(**FAST, **HEALTH_B)), {NAME_A: R2, NAME_B: R1}),
        ]
        for what, run, wanted in steps:
            proc = run()
            assert proc.returncode == 0, f"{what}:\n{output(proc)[-4000:]}"
            for h in fleet.hosts:
                served = {name: served_release(h, name=name) for name in wanted}
                assert served == wanted, f"after {what} on {h.name}"
        total = load_a.report.total + load_b.report.total
        wait_for(lambda: load_a.report.total + load_b.report.total > total + 40, what="answers after the last step")
    figure(f"hello under load while both apps changed: {load_a.report.summary()}")
    figure(f"notes under load while both apps changed: {load_b.report.summary()}")
    assert load_a.report.failures == [], load_a.report.summary()
    assert load_b.report.failures == [], load_b.report.summary()
    # Old and new answer side by side during a reload: the first, the last and the new one seen.
    for load, (first, new) in ((load_a, (R2, R3)), (load_b, (R1, R2))):
        seen = load.report.releases_in_order()
        assert (seen[0], seen[-1], new in seen) == (first, first, True), seen


def prepare_failing(fleet, app: str, **variables):
    """The base and nginx roles for ``app``, expected to fail (prepare() asserts success)."""
    return fleet.playbook(str(PREPARE), *extra(nginx_app_name=app, **variables))
