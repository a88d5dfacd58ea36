"""Deploying examples/hello onto a real local host over SSH with the installed collection.

One host, provisioned once for the module; the tests run in file order and build on each other's
state (R1 live after site.yml, R2 after the zero-downtime deploy, ...), so every deploy is paid once.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import R1, R2, R3, R4
from deployhelp import (
    deploy,
    extra,
    host_sh,
    output,
    rollback,
    served_release,
    wait_for,
)
from loadgen import Load

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = "hello"
SECRET1 = "greeting-secret-1-Zq8v"
SECRET2 = "greeting-secret-2-Xk4p"
ENV1 = {"HELLO_GREETING_SECRET": SECRET1, "HELLO_ENVIRONMENT": "test"}
ENV2 = {"HELLO_GREETING_SECRET": SECRET2, "HELLO_ENVIRONMENT": "test"}
FAST = {"flask_app_drain_seconds": 1, "flask_app_health_retries": 2, "flask_app_health_delay": 1}
STATE: dict[str, object] = {}


@pytest.fixture(scope="module")
def fleet(local_fleet, build_artifact):
    """One host, brought from nothing to serving R1 by ``ansible-playbook flaskfleet.cloud.site``."""
    fleet = local_fleet("t-deploy-hello", count=1)
    hosts = [{"name": "t-deploy-hello-web", "group": "web", "count": 1, "published_ports": [80, 443]}]
    proc = fleet.playbook(
        "flaskfleet.cloud.site",
        *extra(
            provision_app=fleet.app,
            provision_hosts=hosts,
            provision_state_dir=str(fleet.state_dir),
            flask_app_name=APP,
            flask_app_artifact=str(build_artifact(APP, R1)),
            flask_app_env=ENV1,
        ),
    )
    STATE["site"] = proc
    return fleet


@pytest.fixture(scope="module")
def host(fleet):
    """The one host."""
    return fleet.hosts[0]


def test_site_playbook_serves_first_release(fleet, host):
    proc = STATE["site"]
    assert proc.returncode == 0, output(proc)[-4000:]
    assert served_release(host) == R1
    css = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", host.url(80, "/static/style.css")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert css.stdout == "200", "nginx serves the release's static files"
    script = "readlink /srv/hello/current; ls /srv/hello/releases; stat -c '%a %U' /srv/hello/shared/.env"
    layout = host_sh(host, script)
    assert layout.stdout.split() == [f"releases/{R1}", R1, "600", "hello"]


def test_zero_downtime_deploy(fleet, host, build_artifact, figure):
    artifact = build_artifact(APP, R2)
    with Load(host.url(80, "/"), clients=20) as load:
        load.wait_for_requests(50)
        proc = deploy(fleet, APP, artifact, **FAST, flask_app_env=ENV1)
        wait_for(lambda: load.report.counts().get(R2, 0) >= 50, what="50 answers from the new release")
    figure(f"zero-downtime deploy {R1} -> {R2}: {load.report.summary()}")
    assert proc.returncode == 0, output(proc)[-4000:]
    assert load.report.failures == [], load.report.summary()
    seen = load.report.releases_in_order()
    assert (seen[0], seen[-1]) == (R1, R2), "answers went from the old release to the new one"
    assert load.report.switch_overlap(R1, R2) < 5, "old and new answered side by side only during the reload"
    units = host_sh(host, "systemctl is-active flaskfleet-hello@%s flaskfleet-hello@%s || true" % (R1, R2))
    assert units.stdout.split() == ["inactive", "active"], "the old release drained and stopped"


# Actions Ansible runs on the controller: they cost the host no module run.
_LOCAL = ("set_fact", "assert", "fail", "debug", "meta", "include_tasks", "include_role", "validate_argument_spec")
CONTROLLER_ACTIONS = {f"{prefix}{name}" for prefix in ("", "ansible.builtin.", "ansible.legacy.") for name in _LOCAL}


def _deploy_json(fleet, artifact, **variables) -> tuple[subprocess.CompletedProcess, dict]:
    """The deploy playbook with the json callback: ``(process, report)``."""
    env = dict(fleet.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    args = ["ansible-playbook", "-i", fleet.inventory, "flaskfleet.cloud.deploy",
            *extra(flask_app_name=APP, flask_app_artifact=str(artifact), **variables)]  # fmt: skip
    proc = fleet.runner(args, env=env, cwd=fleet.root, timeout=600)
    assert proc.returncode == 0, output(proc)[-4000:]
    return proc, json.loads(proc.stdout)


def _module_runs(report: dict, host: str) -> list[str]:
    """Names of the tasks that ran a module on ``host`` (not skipped, not controller-only), without role prefix."""
    return [
        task["task"]["name"].split(" : ", 1)[-1]
        for play in report["plays"]
        for task in play["tasks"]
        if host in task["hosts"]
        and not task["hosts"][host].get("skipped")
        and task["hosts"][host].get("action") not in CONTROLLER_ACTIONS
    ]


def test_redeploy_of_the_live_release_is_one_module_run(fleet, host, build_artifact):
    _, report = _deploy_json(fleet, build_artifact(APP, R2), **FAST, flask_app_env=ENV1)
    assert report["stats"][host.name]["changed"] == 0
    assert _module_runs(report, host.name) == ["Inspect the live release"]
    assert served_release(host) == R2


def test_redeploy_repairs_a_stopped_release_through_the_full_flow(fleet, host, build_artifact):
    host_sh(host, f"systemctl stop flaskfleet-hello@{R2}")
    _, report = _deploy_json(fleet, build_artifact(APP, R2), **FAST, flask_app_env=ENV1)
    runs = _module_runs(report, host.name)
    assert runs[0] == "Inspect the live release" and "Start the release beside the live one" in runs, runs
    # What the inspection found in place is not done again: identity, settings, env and unit files.
    skipped = {"Create the app's user", "Write gunicorn's settings", "Write the environment file",
               "Install the unit template"}  # fmt: skip
    assert skipped.isdisjoint(runs), runs
    assert report["stats"][host.name]["changed"] >= 1
    assert served_release(host) == R2
    assert host_sh(host, f"systemctl is-active flaskfleet-hello@{R2}").stdout.strip() == "active"


def test_unhealthy_release_fails_and_old_keeps_serving(fleet, host, build_artifact, figure):
    artifact = build_artifact(APP, R3)
    env = dict(ENV1, FLASKFLEET_FORCE_UNHEALTHY=R3)  # hello's /healthz answers 500 for exactly R3
    with Load(host.url(80, "/"), clients=20) as load:
        load.wait_for_requests(50)
        proc = deploy(fleet, APP, artifact, **FAST, flask_app_env=env)
        load.wait_for_requests(load.report.total + 50)
    figure(f"unhealthy release {R3}: {load.report.summary()}")
    text = output(proc)
    assert proc.returncode != 0
    assert f"[{host.name}] Check the release's health through its own socket" in text
    assert "HTTP 500" in text and f"forced unhealthy for release {R3}" in text
    assert load.report.failures == [], load.report.summary()
    assert set(load.report.counts()) == {R2}, "only the old release answered, during and after"
    assert served_release(host) == R2
    left = host_sh(host, f"ls /srv/hello/releases /srv/hello/artifacts; systemctl is-active flaskfleet-hello@{R3} || :")
    assert R3 not in left.stdout.replace(f"flaskfleet-hello@{R3}", ""), "the failed release was removed"
    assert left.stdout.split()[-1] in ("inactive", "failed")
    assert host_sh(host, "test -e /srv/hello/.deploy.lock", check=False).returncode == 1, "lock released"


def test_release_that_does_not_import_fails_with_the_reason(fleet, host, build_artifact):
    artifact = build_artifact(APP, R4, wsgi="hello.missing:create_app()")
    proc = deploy(fleet, APP, artifact, **FAST, flask_app_env=ENV1)
    text = output(proc)
    assert proc.returncode != 0
    assert f"[{host.name}] Start the release beside the live one" in text
    assert "No module named 'hello.missing'" in text
    assert served_release(host) == R2
    assert R4 not in host_sh(host, "ls /srv/hello/releases").stdout


def test_second_deploy_is_refused_while_one_runs(fleet, host, build_artifact, tmp_path):
    gate = "/tmp/flaskfleet-test-gate"
    hook = tmp_path / "hold.yml"
    hook.write_text(
        "- name: Hold the switch until the test opens the gate\n"
        f"  ansible.builtin.wait_for:\n    path: {gate}\n    timeout: 900\n"
    )
    first_vars = dict(FAST, flask_app_env=ENV2, flask_app_lock_holder="first@deploy-test",
                      flask_app_hooks_before_switch=str(hook))  # fmt: skip
    args = ["ansible-playbook", "-i", fleet.inventory, "flaskfleet.cloud.deploy", "-vvv",
            *extra(flask_app_name=APP, flask_app_artifact=str(build_artifact(APP, R3)), **first_vars)]  # fmt: skip
    log = tmp_path / "first-deploy.log"
    with log.open("w") as sink:  # a file, not a pipe: -vvv output would fill a pipe nobody reads yet
        first = subprocess.Popen([str(a) for a in args], env=fleet.env, cwd=fleet.root, stdout=sink, stderr=sink)
        try:
            wait_for(lambda: _staged_or_exited(host, first), timeout=600, what="the first deploy to stage")
            assert first.poll() is None, f"the first deploy ended early:\n{log.read_text()[-4000:]}"
            second = deploy(fleet, APP, build_artifact(APP, R1), flask_app_lock_holder="second@deploy-test")
        finally:
            host_sh(host, f"touch {gate}")
            first.wait(timeout=600)
    host_sh(host, f"rm -f {gate}")
    first_out = log.read_text()
    STATE["verbose_deploy"] = first_out
    text = output(second)
    assert second.returncode != 0
    held = rf"deploy lock held by first@deploy-test since \S+ for release {R3} \(run \S+\)"
    assert re.search(held, text), text[-3000:]
    assert first.returncode == 0, first_out[-4000:]
    assert served_release(host) == R3


def _staged_or_exited(host, proc) -> bool:
    """True once the deploy holds the lock with its new release running, or has ended."""
    probe = f"test -e /srv/hello/.deploy.lock && systemctl is-active flaskfleet-hello@{R3}"
    return proc.poll() is not None or host_sh(host, probe, check=False).returncode == 0


def test_secret_never_printed_even_with_vvv(host):
    verbose = STATE["verbose_deploy"]
    assert "ESTABLISH SSH CONNECTION" in verbose, "the run really was -vvv"
    assert SECRET2 not in verbose
    assert SECRET1 not in output(STATE["site"])
    journal = host_sh(host, "journalctl --no-pager -o cat")
    assert SECRET2 not in journal.stdout and SECRET1 not in journal.stdout
    env = host_sh(host, "stat -c '%a %U:%G' /srv/hello/shared/.env; cat /srv/hello/shared/.env")
    assert env.stdout.splitlines()[0] == "600 hello:hello"
    assert f'HELLO_GREETING_SECRET="{SECRET2}"' in env.stdout, "the secret did reach the host"
    page = subprocess.run(["curl", "-s", host.url(80, "/")], capture_output=True, text=True, check=True).stdout
    assert "greeting secret: <code>set</code>" in page and SECRET2 not in page


def test_rollback_returns_to_previous_release_in_one_run(fleet, host):
    proc = rollback(fleet, APP, *extra(flask_app_drain_seconds=1))
    assert proc.returncode == 0, output(proc)[-4000:]
    assert served_release(host) == R2
    state = host_sh(host, f"readlink /srv/hello/current; systemctl is-active flaskfleet-hello@{R3} || true")
    assert state.stdout.split() == [f"releases/{R2}", "inactive"]


def test_hardening_of_the_deployed_host(fleet, host, figure):
    report = host_sh(host, f"systemd-analyze security --no-pager flaskfleet-hello@{R2}.service").stdout
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", report).group(1))
    figure(f"systemd-analyze security flaskfleet-hello@{R2}.service: exposure {exposure}")
    assert exposure <= 2.0
    users = host_sh(host, "ps -o user= -C gunicorn | sort -u").stdout.split()
    assert users == ["hello"], "gunicorn runs as the app's own user"
    assert host_sh(host, "getent passwd hello | cut -d: -f7").stdout.strip() == "/usr/sbin/nologin"
    head = subprocess.run(["curl", "-sI", host.url(80, "/")], capture_output=True, text=True, check=True).stdout
    pairs = (line.split(":", 1) for line in head.splitlines()[1:] if ":" in line)
    headers = {k.strip().lower(): v.strip() for k, v in pairs}
    assert headers["server"] == "nginx", "no version in the Server header"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "referrer-policy" in headers and "default-src 'self'" in headers["content-security-policy"]
    sshd = host_sh(host, "sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin) '")
    assert sorted(sshd.stdout.split("\n")[:3]) == [
        "kbdinteractiveauthentication no", "passwordauthentication no", "permitrootlogin no"]  # fmt: skip
    for user in ("root", "admin"):
        attempt = subprocess.run(
            ["ssh", "-p", str(host.ssh_port), "-o", f"UserKnownHostsFile={fleet.known_hosts}",
             "-o", "StrictHostKeyChecking=yes", "-o", "PubkeyAuthentication=no", "-o", "BatchMode=yes",
             "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "ControlPath=none",
             f"{user}@127.0.0.1", "true"], capture_output=True, text=True, timeout=30)  # fmt: skip
        assert attempt.returncode == 255
        assert "Permission denied (publickey)" in attempt.stderr, "the server offers key logins only"
