"""The task library over real SSH against five local hosts (issue 5's "must show" list).

One fleet for the whole module; the test that stops a host runs last.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, docker_exec

from flaskfleet.inventory import unwrap

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[3]


def names(fleet) -> list[str]:
    return [h.name for h in fleet.hosts]


def result_lines(stdout: str) -> dict[str, str]:
    """``host | output`` lines of a run, as {host: output}."""
    found = {}
    for line in stdout.splitlines():
        host, sep, text = line.partition(" | ")
        if sep:
            found[host.strip()] = text
    return found


def test_hosts_lists_what_ansible_inventory_lists(ff, task_fleet):
    listing = unwrap(json.loads(ff.fleet.run(["ansible-inventory", "-i", str(task_fleet.inventory), "--list"]).stdout))
    expected = {name: (v["ansible_host"], v["ansible_port"]) for name, v in listing["_meta"]["hostvars"].items()}
    proc = ff("hosts", "--json")
    assert proc.returncode == 0, proc.stderr
    got = {h["name"]: (h["address"], h["port"]) for h in json.loads(proc.stdout)}
    assert got == expected and len(got) == 5
    table = ff("hosts")
    assert table.returncode == 0 and table.stdout.strip().endswith("5 hosts")
    assert all(name in table.stdout for name in expected)


def test_run_prints_one_result_per_host(ff, task_fleet):
    proc = ff("run", "uname -n", "-H", "web")
    assert proc.returncode == 0, proc.stderr
    assert result_lines(proc.stdout) == {n: n for n in names(task_fleet)}
    assert re.search(r"^5 hosts: 5 ok, 0 failed in [\d.]+ s$", proc.stdout, re.M)
    as_json = ff("run", "id -un", "--sudo", "--json")
    rows = json.loads(as_json.stdout)
    assert as_json.returncode == 0, [(r["host"], r["status"], r["exit_code"], r["error"], r["stderr"]) for r in rows]
    assert [r["stdout"] for r in rows] == ["root\n"] * 5


def test_run_reports_failing_command_per_host(ff, task_fleet):
    first = names(task_fleet)[0]
    proc = ff("run", f'test "$(uname -n)" != {first} || {{ echo broken >&2; exit 7; }}')
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"flaskfleet: 1 of 5 hosts failed: {first}"
    row = next(line.split() for line in proc.stdout.splitlines() if line.split()[:2] == [first, "failed"])
    assert row[2] == "7" and row[4:] == ["exit", "7:", "broken"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote_sums(fleet, path: str) -> dict[str, str]:
    return {n: docker_exec(n, f"sha256sum {path} 2>/dev/null | cut -c1-64").stdout.strip() for n in names(fleet)}


def test_put_100mb_verifies_skips_and_survives_interruption(ff, task_fleet, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(100 * 1024 * 1024))
    first = ff("put", str(big), "/tmp/ff-put/big.bin", "--json", "-t", "300", timeout=600)
    assert first.returncode == 0, first.stderr
    assert [r["detail"]["sent"] for r in json.loads(first.stdout)] == [1] * 5
    assert remote_sums(task_fleet, "/tmp/ff-put/big.bin") == {n: sha256(big) for n in names(task_fleet)}

    again = ff("put", str(big), "/tmp/ff-put/big.bin", "--json", "-t", "300")
    rows = json.loads(again.stdout)
    assert again.returncode == 0 and [(r["changed"], r["detail"]["sent"]) for r in rows] == [(False, 0)] * 5

    # Interrupt a put of new content mid-way: the target keeps the old content, never a partial one.
    new = tmp_path / "new.bin"
    new.write_bytes(os.urandom(100 * 1024 * 1024))
    host1 = names(task_fleet)[0]
    argv = [str(BIN / "flaskfleet"), "put", str(new), "/tmp/ff-put/big.bin"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(argv, cwd=task_fleet.root, env=ff.env, start_new_session=True, **quiet)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and docker_exec(host1, "ls -a /tmp/ff-put | grep -q ff-tmp").returncode != 0:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert remote_sums(task_fleet, "/tmp/ff-put/big.bin") == {n: sha256(big) for n in names(task_fleet)}

    # The next put completes, verifies, and clears the interrupted run's temp files.
    done = ff("put", str(new), "/tmp/ff-put/big.bin", "-t", "300", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_sums(task_fleet, "/tmp/ff-put/big.bin") == {n: sha256(new) for n in names(task_fleet)}
    assert {n: docker_exec(n, "ls -A /tmp/ff-put").stdout.split() for n in names(task_fleet)} == {
        n: ["big.bin"] for n in names(task_fleet)
    }


def test_put_directory_and_get_into_per_host_folders(ff, task_fleet, tmp_path):
    src = tmp_path / "site"
    (src / "bin").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hi</h1>\n")
    (src / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (src / "bin" / "tool").chmod(0o750)
    assert ff("put", str(src), "/tmp/ff-site").returncode == 0
    host1 = names(task_fleet)[0]
    assert docker_exec(host1, "stat -c '%a' /tmp/ff-site/bin/tool; /tmp/ff-site/bin/tool").stdout.split() == [
        "750",
        "tool",
    ]
    dest = tmp_path / "fetched"
    got = ff("get", "/tmp/ff-site", "-d", str(dest))
    assert got.returncode == 0, got.stdout + got.stderr
    for name in names(task_fleet):
        assert (dest / name / "ff-site" / "index.html").read_text() == "<h1>hi</h1>\n"
        assert (dest / name / "ff-site" / "bin" / "tool").stat().st_mode & 0o777 == 0o750
    hostname = ff("get", "/etc/hostname", "-d", str(dest), "--json")
    assert {name: (dest / name / "hostname").read_text().strip() for name in names(task_fleet)} == {
        n: n for n in names(task_fleet)
    }
    assert all(r["ok"] for r in json.loads(hostname.stdout))


def fleet_config(task_fleet, directory: Path, known_hosts: Path) -> Path:
    """A fleet inventory config for the same hosts, checked against another known_hosts file."""
    path = directory / "other.fleet.yml"
    path.write_text(yaml.safe_dump({
        "plugin": "flaskfleet.cloud.fleet",
        "ssh_private_key_file": str(task_fleet.private_key),
        "known_hosts_file": str(known_hosts),
        "providers": [{"type": "docker", "app": task_fleet.app}],
    }))  # fmt: skip
    return path


def test_changed_or_unknown_host_key_is_refused_and_nothing_runs(ff, task_fleet, tmp_path):
    victim, stranger = names(task_fleet)[1], names(task_fleet)[2]
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "fake")], check=True)
    fake = " ".join((tmp_path / "fake.pub").read_text().split()[:2])
    ports = {h.name: h.ssh_port for h in task_fleet.hosts}
    lines = []
    for line in task_fleet.known_hosts.read_text().splitlines():
        if line.startswith(f"[127.0.0.1]:{ports[victim]} "):
            lines.append(f"[127.0.0.1]:{ports[victim]} {fake}")
        elif not line.startswith(f"[127.0.0.1]:{ports[stranger]} "):
            lines.append(line)
    (state / "known_hosts").write_text("\n".join(lines) + "\n")

    proc = ff("run", "touch /tmp/ff-keytest", "-i", str(fleet_config(task_fleet, tmp_path, state / "known_hosts")))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"flaskfleet: 2 of 5 hosts failed: {victim}, {stranger}"
    out = " ".join(proc.stdout.split())
    assert f"{victim}: HOST KEY CHANGED for [127.0.0.1]:{ports[victim]}" in out
    assert "refusing to connect, nothing was run" in out
    assert f"{stranger}: host key for [127.0.0.1]:{ports[stranger]} is not in {state / 'known_hosts'}" in out
    assert f"ssh-keyscan -p {ports[stranger]} 127.0.0.1 >> {state / 'known_hosts'}" in out
    ran = {n: docker_exec(n, "test -e /tmp/ff-keytest").returncode == 0 for n in names(task_fleet)}
    assert ran == {n: n not in (victim, stranger) for n in names(task_fleet)}


def test_ssh_refuses_changed_key_before_opening_a_shell(ff, task_fleet, tmp_path):
    victim = names(task_fleet)[0]
    (tmp_path / "empty_known_hosts").write_text("")
    proc = ff("ssh", "-H", victim, "-i", str(fleet_config(task_fleet, tmp_path, tmp_path / "empty_known_hosts")))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"flaskfleet: {victim}: host key for ")
    assert "Traceback" not in proc.stderr


def test_invoke_from_the_repo_uses_the_same_tasks(ff, task_fleet):
    proc = subprocess.run([str(BIN / "invoke"), "run", "uname -n", "-i", str(task_fleet.inventory), "-H", "web"],
                          cwd=ROOT, env=ff.env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert result_lines(proc.stdout) == {n: n for n in names(task_fleet)}


def test_stopped_host_fails_clearly_within_the_timeout(ff, task_fleet, tmp_path):
    """Runs last: the stopped host comes back on another port."""
    listing = unwrap(json.loads(ff.fleet.run(["ansible-inventory", "-i", str(task_fleet.inventory), "--list"]).stdout))
    hostvars = listing["_meta"]["hostvars"]
    # The inventory as it was before the host died (an EC2 instance that stops stays listed, too).
    static = tmp_path / "before.yml"
    static.write_text(yaml.safe_dump({"all": {"children": {"web": {"hosts": hostvars}}}}))
    dead = names(task_fleet)[3]
    subprocess.run(["docker", "stop", "-t", "5", dead], check=True, capture_output=True)
    try:
        proc = ff("run", "uname -n", "-H", "web", "-i", str(static), "-t", "10")
        assert proc.returncode == 1
        assert result_lines(proc.stdout) == {n: n for n in names(task_fleet) if n != dead}
        row = next(line for line in proc.stdout.splitlines() if line.split()[:2] == [dead, "error"])
        assert (
            "error" in row and "connection refused on 127.0.0.1:" in row and "(host stopped or sshd not running)" in row
        )
        assert proc.stderr.strip() == f"flaskfleet: 1 of 5 hosts failed: {dead}"
        assert proc.elapsed < 10 + 8, proc.elapsed  # per-host timeout plus start-up (inventory, imports)
    finally:
        subprocess.run(["docker", "start", dead], check=False, capture_output=True)
