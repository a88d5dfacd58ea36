"""``invoke deploy`` -> ``invoke status`` -> ``invoke rollback`` on two local hosts, end to end.

The hosts get their baseline and nginx first (what site.yml does before deploying); then every
step goes through the flaskfleet command, which drives the collection's playbooks. Secrets passed
with ``--env`` must reach the host's env file and never appear in any output, even with ``-vvv``.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, Cli, cli_env, docker_exec

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
PREPARE = ROOT / "tests" / "integration" / "deploy" / "prepare.yml"
R1, R2 = "20260201T000001Z", "20260201T000002Z"
SECRET = "s3cr3t-tasks-0d5b1e"
FAST = ["-x", "flask_app_drain_seconds=1", "-x", "flask_app_health_retries=5", "-x", "flask_app_health_delay=1"]


@pytest.fixture(scope="module")
def deploy_fleet(local_fleet):
    fleet = local_fleet("t-tasks-deploy", count=2, published_ports=(80,))
    proc = fleet.playbook(str(PREPARE), "-e", json.dumps({"nginx_app_name": "hello"}))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return fleet


@pytest.fixture(scope="module")
def dff(deploy_fleet) -> Cli:
    env = cli_env(deploy_fleet)
    env.update(
        FLASKFLEET_APP_PATH=str(ROOT / "examples" / "hello"), FLASKFLEET_ARTIFACT_DIR=str(deploy_fleet.root / "dist")
    )
    env["HELLO_SECRET_KEY"] = SECRET
    return Cli(deploy_fleet, env)


def status(dff) -> dict[str, tuple[str, bool]]:
    proc = dff("status", "--json")
    return {row["host"]: (row["release"], row["healthy"]) for row in json.loads(proc.stdout)}


def test_deploy_status_rollback(dff, deploy_fleet):
    hosts = [h.name for h in deploy_fleet.hosts]
    first = dff("deploy", "--release-id", R1, "--env", "HELLO_SECRET_KEY", *FAST, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert f"deployed hello release {R1} to web" in first.stdout
    assert status(dff) == {h: (R1, True) for h in hosts}

    second = dff("deploy", "--release-id", R2, "--env", "HELLO_SECRET_KEY", "-vvv", *FAST, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    shown = dff("status")
    assert shown.returncode == 0
    for host in hosts:
        row = next(line.split() for line in shown.stdout.splitlines() if line.split()[:1] == [host])
        assert row[1:4] == [R2, "active", "healthy"]

    back = dff("rollback", timeout=600)
    assert back.returncode == 0, back.stdout[-3000:]
    assert status(dff) == {h: (R1, True) for h in hosts}

    # The journal of the app units, from every host, and streamed from one.
    logs = dff("logs", "-l", "20")
    assert logs.returncode == 0, logs.stderr
    assert {line.split(" | ")[0].strip() for line in logs.stdout.splitlines() if " | " in line} == set(hosts)
    follow = subprocess.Popen([str(BIN / "flaskfleet"), "logs", "--follow", "-H", hosts[0]], cwd=deploy_fleet.root,
                              env=dff.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, _ = follow.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        follow.send_signal(signal.SIGINT)
        out, _ = follow.communicate(timeout=30)
    assert "flaskfleet-hello@" in out

    # The secret reached the app's env file, and no output (not even -vvv) shows it.
    for host in hosts:
        assert docker_exec(host, f"grep -c {SECRET} /srv/hello/shared/.env").stdout.strip() == "1"
    for proc in (first, second, back, logs):
        assert SECRET not in proc.stdout + proc.stderr
    assert not list(Path("/tmp").glob("flaskfleet-vars-*"))  # the 0600 vars file is gone


def test_status_of_a_host_pattern_without_the_app(dff, deploy_fleet):
    proc = dff("status", "-n", "nothere", "--json")
    assert proc.returncode == 1
    rows = json.loads(proc.stdout)
    assert [(r["release"], r["unit"], r["healthy"]) for r in rows] == [("", "not deployed", False)] * 2
    assert proc.stderr.strip().startswith("flaskfleet: 2 of 2 hosts not healthy: ")
