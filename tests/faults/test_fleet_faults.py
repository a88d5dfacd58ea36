"""Faults under ``flaskfleet run`` (the invoke tasks): a host hangs, a host's key changes, the wrong key.

Each test must show: the run ends within the configured per-host timeout, the faulty host is
reported by name with the reason, and every other host finished its work. What happened on a host
is read out of band with ``docker exec``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "tasks"))

from localhosts import LocalHosts  # noqa: E402

pytestmark = [pytest.mark.faults, pytest.mark.docker]
BIN = Path(sys.executable).parent
TIMEOUT = 8


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    fleet = LocalHosts("t-tasks-faults", 3, tmp_path_factory.mktemp("faults"), app="t-tasks-faults")
    try:
        yield fleet.start()
    finally:
        for name in fleet.names:
            subprocess.run(["docker", "unpause", name], capture_output=True, check=False)
        fleet.remove()


def ff(hosts: LocalHosts, *args: str, inventory: Path | None = None) -> subprocess.CompletedProcess:
    started = time.monotonic()
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "COLUMNS": "220", "NO_COLOR": "1", "HOME": str(hosts.workdir)}
    proc = subprocess.run(
        [str(BIN / "flaskfleet"), *args, "-i", str(inventory or hosts.inventory)],
        cwd=hosts.workdir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    proc.elapsed = time.monotonic() - started
    return proc


def rows(proc) -> dict[str, dict]:
    return {r["host"]: r for r in json.loads(proc.stdout)}


def test_host_paused_mid_command_fails_at_the_timeout_others_finish(hosts):
    frozen = hosts.names[1]
    marker = f"/tmp/ff-pause-{time.time_ns()}"
    command = f"touch {marker}.started; sleep 3; touch {marker}; uname -n"

    def freeze_once_running() -> None:
        # Freeze the host while its command runs, i.e. after the connection is up.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if subprocess.run(["docker", "exec", frozen, "test", "-e", f"{marker}.started"]).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["docker", "pause", frozen], check=True, capture_output=True)

    watcher = threading.Thread(target=freeze_once_running)
    watcher.start()
    try:
        proc = ff(hosts, "run", command, "-t", str(TIMEOUT), "--json")
    finally:
        watcher.join()
        subprocess.run(["docker", "unpause", frozen], check=True, capture_output=True)
    assert proc.returncode == 1, proc.stderr
    result = rows(proc)
    assert {n: r["ok"] for n, r in result.items()} == {n: n != frozen for n in hosts.names}
    assert result[frozen]["error"] == f"command did not finish within the timeout: {command}"
    assert all(result[n]["stdout"] == f"{n}\n" for n in hosts.names if n != frozen)
    assert result[frozen]["duration"] < TIMEOUT + 2
    assert proc.elapsed < TIMEOUT + 10, proc.elapsed  # + process start and the inventory read
    assert proc.stderr.strip() == f"flaskfleet: 1 of 3 hosts failed: {frozen}"
    done = {n: hosts.exec(n, f"test -e {marker} && echo yes", check=False) == "yes" for n in hosts.names}
    assert {n: v for n, v in done.items() if n != frozen} == {n: True for n in hosts.names if n != frozen}


def test_host_paused_before_connect_fails_at_the_timeout(hosts):
    frozen = hosts.names[0]
    subprocess.run(["docker", "pause", frozen], check=True, capture_output=True)
    try:
        proc = ff(hosts, "run", "uname -n", "-t", str(TIMEOUT), "--json")
    finally:
        subprocess.run(["docker", "unpause", frozen], check=True, capture_output=True)
    assert proc.returncode == 1
    result = rows(proc)
    assert result[frozen]["error"] == f"no SSH answer within {TIMEOUT} s (host down or hung)"
    assert [result[n]["stdout"] for n in hosts.names[1:]] == [f"{n}\n" for n in hosts.names[1:]]
    assert proc.elapsed < TIMEOUT + 10, proc.elapsed


def test_changed_host_key_is_refused_and_nothing_runs(hosts, tmp_path):
    victim = hosts.names[2]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = " ".join((tmp_path / "impostor.pub").read_text().split()[:2])
    original = hosts.known_hosts.read_text()
    hosts.write_known_hosts({**hosts.keys, victim: impostor})
    marker = f"/tmp/ff-key-{time.time_ns()}"
    try:
        proc = ff(hosts, "run", f"touch {marker}", "--json")
    finally:
        hosts.known_hosts.write_text(original)
    assert proc.returncode == 1
    error = rows(proc)[victim]["error"]
    assert error.startswith(f"{victim}: HOST KEY CHANGED for [127.0.0.1]:{hosts.ports[victim]} ")
    assert "refusing to connect, nothing was run" in error and "re-provision it" in error
    ran = {n: hosts.exec(n, f"test -e {marker} && echo yes", check=False) == "yes" for n in hosts.names}
    assert ran == {n: n != victim for n in hosts.names}


def test_wrong_ssh_key_is_refused_and_nothing_runs(hosts, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "wrong")], check=True)
    inventory = tmp_path / "wrong-key.yml"
    inventory.write_text(hosts.inventory.read_text().replace(str(hosts.key_file), str(tmp_path / "wrong")))
    marker = f"/tmp/ff-wrongkey-{time.time_ns()}"
    proc = ff(hosts, "run", f"touch {marker}", "--json", inventory=inventory)
    assert proc.returncode == 1
    assert {r["error"] for r in rows(proc).values()} == {
        "authentication failed (Authentication failed.); check ansible_user and the SSH key"
    }
    assert not any(hosts.exec(n, f"test -e {marker} && echo yes", check=False) == "yes" for n in hosts.names)
