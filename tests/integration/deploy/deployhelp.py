"""Helpers for the deploy tests: build artifacts, run the collection's playbooks, look inside hosts."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from loadgen import request

from flaskfleet import artifact as artifacts

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
PREPARE = Path(__file__).with_name("prepare.yml")


def build(out: Path, app: str, release_id: str, wsgi: str | None = None):
    """Build ``examples/<app>`` as release ``release_id`` (cached by file name)."""
    name = f"{app}-{release_id}{'-' + str(abs(hash(wsgi))) if wsgi else ''}"
    target = out / name
    existing = sorted(target.glob("*.tar.gz")) if target.exists() else []
    if existing:
        return existing[0]
    return artifacts.build(EXAMPLES / app, target, release_id=release_id, wsgi=wsgi).path


def extra(**variables) -> list[str]:
    """``-e <json>`` for ansible-playbook (JSON keeps types and quoting exact)."""
    return ["-e", json.dumps(variables)]


def deploy(fleet, app: str, artifact: Path, *args: str, timeout: int = 600, **variables):
    """``ansible-playbook flaskfleet.cloud.deploy`` with the variables ``invoke deploy`` uses."""
    variables = {"flask_app_name": app, "flask_app_artifact": str(artifact), **variables}
    return fleet.playbook("flaskfleet.cloud.deploy", *extra(**variables), *args, timeout=timeout)


def rollback(fleet, app: str, *args: str, **variables):
    """``ansible-playbook flaskfleet.cloud.rollback``."""
    return fleet.playbook("flaskfleet.cloud.rollback", *extra(flask_app_name=app, **variables), *args)


def prepare(fleet, app: str, **variables):
    """Run the base and nginx roles on the fleet (what site.yml does between provision and deploy)."""
    proc = fleet.playbook(str(PREPARE), *extra(nginx_app_name=app, **variables))
    assert proc.returncode == 0, f"prepare failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return proc


def output(proc) -> str:
    """Both streams of a finished command."""
    return proc.stdout + proc.stderr


def host_sh(host, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a shell script inside a host's container as root (out of band, not through Ansible)."""
    proc = subprocess.run(
        ["docker", "exec", host.name, "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{host.name}: {script!r} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc


def served_release(host, port: int = 80, scheme: str = "http", name: str | None = None) -> str | None:
    """The release id the host's nginx serves on ``/`` right now (for server name ``name`` when given)."""
    sample = request(urlsplit(f"{scheme}://127.0.0.1:{host.published_ports[port]}/"), host=name)
    assert sample.status == 200, f"{host.name} ({name or 'default site'}) answered {sample.status} {sample.error}"
    return sample.release


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
