"""AWX-style jobs through ansible-runner's Python API, on local container hosts.

Each job is ``ansible_runner.run()`` on a private_data_dir copied from ``examples/runner/`` (the
project's playbooks import the collection's). The SSH key comes in as ``env/ssh_key`` (what an AWX
machine credential becomes: ssh-agent, no key file), success is read from the job's EVENTS.

1. Data dir A: provision -> site -> deploy -> rollback. Provisioning hands the host keys back
   (the ``flaskfleet_known_hosts`` set_stats artifact and a file in the job's artifacts).
2. Data dir B, fresh (no ``.flaskfleet/``): the keys come only from ``FLASKFLEET_KNOWN_HOSTS``
   (a custom credential in AWX); a deploy succeeds with strict host keys on the same hosts.
3. Data dir C, fresh, with another host key in ``FLASKFLEET_KNOWN_HOSTS``: every host is refused
   (unreachable), no task runs on any host, and the live release does not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import ansible_runner
import docker
import pytest
import yaml

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"
EXAMPLE = ROOT / "examples" / "runner"
APP = "t-runner"
R1, R2, R3 = "20261204T100000Z", "20261204T110000Z", "20261204T120000Z"
FAST = {"flask_app_drain_seconds": 1, "flask_app_health_retries": 10, "flask_app_health_delay": 1}
HOSTS = [f"{APP}-web-1", f"{APP}-web-2"]
# Actions that run on the controller without connecting to the host.
CONTROLLER_ACTIONS = {
    f"ansible.builtin.{name}"
    for name in ("validate_argument_spec", "set_fact", "assert", "include_role", "include_tasks", "debug", "meta")
}


class Job:
    """The outcome of one ``ansible_runner.run``, read from its events."""

    def __init__(self, result):
        self.result = result
        self.events = list(result.events)
        self.stats = next(e["event_data"] for e in self.events if e["event"] == "playbook_on_stats")

    def count(self, event: str, host: str | None = None) -> int:
        return sum(1 for e in self.events if e["event"] == event and host in (None, e["event_data"].get("host")))

    @property
    def failed_tasks(self) -> list[str]:
        return [
            f"{e['event_data'].get('host')}: {e['event_data'].get('task')}: {e['event_data'].get('res', {}).get('msg')}"
            for e in self.events
            if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")
        ]

    def assert_success(self) -> None:
        assert self.result.status == "successful" and self.result.rc == 0, (
            f"job {self.result.config.playbook} {self.result.status} rc={self.result.rc}: failed={self.failed_tasks} "
            f"dark={self.stats.get('dark')}\n{self.result.stdout.read()[-4000:]}"
        )
        assert self.failed_tasks == []
        assert self.stats["failures"] == {} and self.stats["dark"] == {}


def published_http_ports() -> dict[str, int]:
    client = docker.from_env()
    try:
        containers = client.containers.list(filters={"label": f"flaskfleet.app={APP}"})
        return {c.name: int(c.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]) for c in containers}
    finally:
        client.close()


def served_releases() -> dict[str, str]:
    """The release each host's nginx serves on /healthz, over HTTP on 127.0.0.1."""
    served = {}
    for name, port in sorted(published_http_ports().items()):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            served[name] = json.loads(resp.read())["release"]
    return served


@pytest.fixture(scope="module")
def world(tmp_path_factory, collections_path):
    """Key pair, artifacts, and a factory of private_data_dirs; the app's hosts are removed at the end."""
    from flaskfleet.artifact import build

    root = tmp_path_factory.mktemp("runner")
    key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t-runner", "-f", str(key)], check=True)
    artifacts = {rid: build(ROOT / "examples" / "hello", root / "dist", release_id=rid, app_name=APP).path
                 for rid in (R1, R2, R3)}  # fmt: skip

    def data_dir(name: str) -> Path:
        """A fresh private_data_dir from examples/runner, for app t-runner, with the key as env/ssh_key."""
        path = root / name
        shutil.copytree(EXAMPLE, path)
        assert not (path / "project" / ".flaskfleet").exists()
        inventory = path / "inventory" / "fleet.fleet.yml"
        inventory.write_text(inventory.read_text().replace("app: hello", f"app: {APP}"))
        extravars = yaml.safe_load((path / "env" / "extravars").read_text())
        web = {"name": f"{APP}-web", "group": "web", "count": 2, "published_ports": [80]}
        public_key = key.with_suffix(".pub").read_text().strip()
        extravars.update(
            provision_app=APP, flask_app_name=APP, provision_hosts=[web], provision_ssh_public_key=public_key
        )
        (path / "env" / "extravars").write_text(yaml.safe_dump(extravars))
        (path / "env" / "ssh_key").write_text(key.read_text())
        return path

    def job(path: Path, playbook: str, known_hosts: str | None = None, **extravars) -> Job:
        envvars = {
            "ANSIBLE_COLLECTIONS_PATH": collections_path,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            # NOTE: one SSH master dir per data dir, as a fresh AWX job container has: a master
            # from an earlier job must not carry a connection past the host key check.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(path / "cp"),
        }
        if known_hosts is not None:
            envvars["FLASKFLEET_KNOWN_HOSTS"] = known_hosts
        result = ansible_runner.run(private_data_dir=str(path), playbook=f"{playbook}.yml", envvars=envvars,
                                    extravars=extravars or None, quiet=True, timeout=1500)  # fmt: skip
        return Job(result)

    world = type("World", (), {"root": root, "artifacts": artifacts, "data_dir": staticmethod(data_dir),
                               "job": staticmethod(job)})()  # fmt: skip
    yield world
    if published_http_ports():
        job(data_dir("teardown"), "teardown")
    # Safety net: only this test's app label (unique to this area).
    client = docker.from_env()
    try:
        for container in client.containers.list(all=True, filters={"label": f"flaskfleet.app={APP}"}):
            container.remove(force=True, v=True)
    finally:
        client.close()


def test_jobs_from_fresh_data_dirs(world, figure):
    # 1. Data dir A: provision, then site (baseline, proxy, first release), deploy, rollback.
    a = world.data_dir("a")
    provision = world.job(a, "provision")
    provision.assert_success()
    assert provision.count("runner_on_ok", "localhost") > 0
    handed_back = provision.stats["artifact_data"]["flaskfleet_known_hosts"]
    artifact_file = Path(provision.result.config.artifact_dir) / "flaskfleet_known_hosts"
    assert artifact_file.read_text().strip() == handed_back.strip()
    ports = {name: c for name, c in published_http_ports().items()}
    assert sorted(ports) == HOSTS
    ssh_ports = {
        c.name: c.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"]
        for c in docker.from_env().containers.list(filters={"label": f"flaskfleet.app={APP}"})
    }
    for name, port in ssh_ports.items():
        assert f"[127.0.0.1]:{port} ssh-ed25519 " in handed_back, f"{name}'s key was not handed back"
    assert not (a / "project" / ".flaskfleet" / "id_ed25519").exists()  # the key came from env/ssh_key only

    site = world.job(a, "site", flask_app_artifact=str(world.artifacts[R1]), **FAST)
    site.assert_success()
    assert all(site.count("runner_on_ok", host) > 0 for host in HOSTS)
    assert served_releases() == dict.fromkeys(HOSTS, R1)

    deploy = world.job(a, "deploy", flask_app_artifact=str(world.artifacts[R2]), **FAST)
    deploy.assert_success()
    assert served_releases() == dict.fromkeys(HOSTS, R2)

    rollback = world.job(a, "rollback", **FAST)
    rollback.assert_success()
    assert served_releases() == dict.fromkeys(HOSTS, R1)
    figure(
        "runner jobs in data dir A (events): "
        + ", ".join(
            f"{job.result.config.playbook} {job.result.status} ok={job.count('runner_on_ok')} "
            f"failed={job.count('runner_on_failed')} unreachable={job.count('runner_on_unreachable')}"
            for job in (provision, site, deploy, rollback)
        )
    )

    # 2. Data dir B, fresh: no .flaskfleet/, the host keys only from the credential's content.
    b = world.data_dir("b")
    fresh = world.job(b, "deploy", known_hosts=handed_back, flask_app_artifact=str(world.artifacts[R3]), **FAST)
    fresh.assert_success()
    assert not (b / "project" / ".flaskfleet").exists() and not (b / "inventory" / ".flaskfleet").exists()
    assert all(fresh.count("runner_on_ok", host) > 0 for host in HOSTS)
    assert served_releases() == dict.fromkeys(HOSTS, R3)

    # 3. Data dir C, fresh, with a host key that is not theirs: refused, nothing runs on the hosts.
    c = world.data_dir("c")
    # ansible-runner's own default (ANSIBLE_HOST_KEY_CHECKING=False) applies: the inventory's
    # per-host ansible_ssh_host_key_checking must keep the check on.
    (c / "env" / "envvars").write_text("ANSIBLE_NOCOLOR: '1'\n")
    other = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(c / "other")], check=True)
    assert other.returncode == 0
    wrong_key = " ".join((c / "other.pub").read_text().split()[:2])
    wrong = "\n".join(f"[127.0.0.1]:{port} {wrong_key}" for port in ssh_ports.values())
    refused = world.job(c, "rollback", known_hosts=wrong, **FAST)
    assert refused.result.status == "failed"
    assert refused.result.config.env["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    assert sorted(refused.stats["dark"]) == HOSTS
    # Only controller-side steps (argument checks, facts, includes) are "ok"; nothing ran on a host.
    on_hosts = [e["event_data"]["task"] for e in refused.events if e["event"] == "runner_on_ok"
                and e["event_data"].get("task_action") not in CONTROLLER_ACTIONS]  # fmt: skip
    assert on_hosts == []
    assert refused.stats["changed"] == {}
    unreachable = [e["event_data"]["res"]["msg"] for e in refused.events if e["event"] == "runner_on_unreachable"]
    assert unreachable and all("Host key verification failed" in msg for msg in unreachable), unreachable
    assert served_releases() == dict.fromkeys(HOSTS, R3)
    figure(
        f"fresh data dir B (FLASKFLEET_KNOWN_HOSTS, strict): deploy {fresh.result.status}, "
        f"ok={fresh.count('runner_on_ok')}; data dir C (wrong key, ANSIBLE_HOST_KEY_CHECKING=False): "
        f"{refused.result.status}, unreachable={sorted(refused.stats['dark'])}, changed={refused.stats['changed']}"
    )
