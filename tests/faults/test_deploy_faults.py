"""Fault injection during deploys: a host killed, a host frozen, a full disk, a wrong key or host key.

One small fleet for the whole module: three web hosts (``tfd-1..3``) and one host whose releases
directory is a small tmpfs (``tfdisk-1``, group ``disk``), all running release A of the example
app behind nginx. Each test injects one fault with Docker (``kill``, ``pause``, a full tmpfs) or
with the controller's SSH files, then checks what the user sees (exit status, the host named
with the reason) and what is on the hosts (read with ``docker exec``, never over the SSH path
under test): ``current`` of every host always points at a complete, verified release.
"""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT
from faultfleet import FaultFleet, ansible_playbook, build_artifact, deploy_args, recap, setup_playbook

pytestmark = [pytest.mark.faults, pytest.mark.docker, pytest.mark.slow]

APP = "tfdeploy"
TAG = "faults-deploy"
RELEASE_A = "20260101T000000Z"
RELEASE_B = "20260102T000000Z"
WEB = ["tfd-1", "tfd-2", "tfd-3"]
DISK = "tfdisk-1"
TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(scope="module")
def env(ansible_env):
    """Ansible's environment, with SSH control sockets of our own (no other test's masters)."""
    # NOTE: a short path: a control socket's path must fit in 108 bytes.
    control = tempfile.mkdtemp(prefix="ffcp-")
    yield {**ansible_env, "ANSIBLE_SSH_CONTROL_PATH_DIR": control}
    shutil.rmtree(control, ignore_errors=True)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """Releases A and B of the example app, built as ``invoke deploy`` builds them."""
    out = tmp_path_factory.mktemp("artifacts")
    return {RELEASE_A: build_artifact(APP, RELEASE_A, out), RELEASE_B: build_artifact(APP, RELEASE_B, out)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, env, artifacts):
    """Four hosts with base + nginx and release A live; removed at the end, also when tests fail."""
    fleet = FaultFleet(TAG, APP, tmp_path_factory.mktemp("fleet"))
    try:
        small = {f"/srv/{APP}/releases": "size=48m,exec,mode=0755"}
        fleet.start([(name, "web", None) for name in WEB] + [(DISK, "disk", small)])
        proc = ansible_playbook(env, "-i", fleet.inventory, setup_playbook(fleet.workdir, APP))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        proc = ansible_playbook(env, *deploy_args(fleet, artifacts[RELEASE_A], "web:disk"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for name in [*WEB, DISK]:
            assert fleet.verify_current(name) == RELEASE_A
        yield fleet
    finally:
        fleet.remove()


def marker_play(path: Path, marker: str, pattern: str) -> Path:
    """A playbook whose only effect is a marker file on the hosts."""
    path.write_text(
        f"- name: Leave a marker\n  hosts: {pattern}\n  gather_facts: false\n  tasks:\n"
        f"    - name: Write the marker\n      ansible.builtin.command: touch {marker}\n"
        f"      args: {{creates: {marker}}}\n"
    )
    return path


def ssh_timeouts() -> tuple[int, int]:
    """(connect timeout, seconds until a silent server is given up) from the project's ansible.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    args = cfg.get("ssh_connection", "ssh_args")
    interval = int(args.split("ServerAliveInterval=")[1].split()[0])
    count = int(args.split("ServerAliveCountMax=")[1].split()[0])
    return cfg.getint("defaults", "timeout"), interval * count


def fresh_env(env: dict, tmp_path: Path) -> dict:
    """The environment with an empty SSH control path dir: every connection authenticates anew.

    NOTE: an established ControlMaster connection (ControlPersist) is reused without a new key
    exchange or login, so identity checks happen only when a connection is set up.
    """
    control = tempfile.mkdtemp(prefix="f", dir=env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
    return {**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": control}


# --------------------------------------------------------------------------- (d) wrong key, changed host key


def test_wrong_key_or_changed_host_key_is_refused_and_nothing_runs(fleet, env, tmp_path):
    host = "tfd-1"
    ok_marker, markers = f"/tmp/ff-ok-{uuid.uuid4().hex[:8]}", {}

    # The same play with the right key and host key does write its marker: the check below can fail.
    proc = ansible_playbook(fresh_env(env, tmp_path), "-i", fleet.inventory, marker_play(tmp_path / "ok.yml",
                            ok_marker, host))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fleet.sh(host, f"test -e {ok_marker}")[0] == 0

    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    other_host_key = " ".join((tmp_path / "stranger_key.pub").read_text().split()[:2])
    changed = fleet.write_known_hosts(tmp_path / "known_hosts.changed", override={host: other_host_key})
    unknown = tmp_path / "known_hosts.empty"
    unknown.write_text("")
    strict = "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}"
    cases = {
        "wrong-key": (["-e", f"ansible_ssh_private_key_file={stranger}"], "Permission denied (publickey)"),
        "changed-host-key": (
            ["-e", f"ansible_ssh_common_args='{strict.format(changed)}'"],
            "Host key verification failed",
        ),
        "unknown-host-key": (
            ["-e", f"ansible_ssh_common_args='{strict.format(unknown)}'"],
            "Host key verification failed",
        ),
    }
    for case, (extra, reason) in cases.items():
        markers[case] = f"/tmp/ff-{case}-{uuid.uuid4().hex[:8]}"
        play = marker_play(tmp_path / f"{case}.yml", markers[case], host)
        proc = ansible_playbook(fresh_env(env, tmp_path), "-i", fleet.inventory, play, *extra, timeout=120)
        out = proc.stdout + proc.stderr
        print(f"{case}: exit {proc.returncode}")
        assert proc.returncode == 4, out  # 4: a host was unreachable
        assert f"fatal: [{host}]: UNREACHABLE!" in out, out
        assert reason in out, out
        assert TRACEBACK not in out
        assert recap(out)[host]["unreachable"] == 1
        assert fleet.sh(host, f"test -e {markers[case]}")[0] != 0, f"{case}: the play ran on {host}"


# --------------------------------------------------------------------------- (c) full disk while staging


def test_full_disk_while_staging_leaves_no_partial_release(fleet, env, artifacts):
    host, root = DISK, f"/srv/{APP}"
    _code, df = fleet.sh(host, f"df -k --output=size,used,avail {root}/releases | tail -1")
    print(f"{host} releases tmpfs (KiB size used avail): {df.strip()}")
    # Leave 1 MiB: the upload (elsewhere) fits, the unpacked release and its venv do not.
    _code, out = fleet.sh(
        host,
        f"cd {root}/releases && avail=$(df -k --output=avail . | tail -1) && "
        "dd if=/dev/zero of=.filler bs=1k count=$((avail - 1024)) status=none; df -k --output=avail . | tail -1",
    )
    print(f"{host}: {out.strip()} KiB left after filling")

    proc = ansible_playbook(env, *deploy_args(fleet, artifacts[RELEASE_B], "disk"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert TRACEBACK not in out
    assert f"no space left on device while staging release {RELEASE_B} in {root}/releases" in out, out
    assert "free space (prune old releases) and retry" in out
    assert f"[{host}] Unpack the release and build its venv offline: no space left on device" in out, out
    assert "stopped before any host switched; every host keeps serving its live release" in out

    assert fleet.release_dirs(host) == sorted([".filler", RELEASE_A]), "a partial release was left behind"
    assert fleet.verify_current(host) == RELEASE_A
    assert fleet.serving(host) == RELEASE_A
    unit = f"flaskfleet-{APP}@{RELEASE_B}.service"
    assert fleet.sh(host, f"systemctl is-active {unit}")[1].strip() in ("inactive", "failed", "unknown")
    assert fleet.sh(host, f"test -e {root}/.deploy.lock")[0] != 0, "the deploy lock was not released"

    # Once there is space again, the very same deploy goes through.
    fleet.sh(host, f"rm -f {root}/releases/.filler")
    proc = ansible_playbook(env, *deploy_args(fleet, artifacts[RELEASE_B], "disk"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fleet.verify_current(host) == RELEASE_B
    assert fleet.serving(host) == RELEASE_B


# --------------------------------------------------------------------------- (b) a frozen host


def test_paused_host_fails_within_the_ssh_timeout_and_the_others_finish(fleet, env, tmp_path):
    victim, others = "tfd-2", ["tfd-1", "tfd-3"]
    tag = uuid.uuid4().hex[:8]
    started, done = f"/tmp/ff-started-{tag}", f"/tmp/ff-done-{tag}"
    play = tmp_path / "pause.yml"
    play.write_text(
        "- name: Work on every web host\n  hosts: web\n  gather_facts: false\n  tasks:\n"
        f"    - name: Start\n      ansible.builtin.command: touch {started}\n"
        "    - name: Work for a while\n      ansible.builtin.command: sleep 6\n"
        f"    - name: Finish\n      ansible.builtin.command: touch {done}\n"
    )
    connect_timeout, silent_limit = ssh_timeouts()
    log = tmp_path / "pause.log"
    try:
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(fleet.inventory), str(play)],
                env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
            deadline = time.monotonic() + 120
            while fleet.sh(victim, f"test -e {started}")[0] != 0:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            fleet.container(victim).pause()
            paused_at = time.monotonic()
            rc = proc.wait(timeout=300)
            took = time.monotonic() - paused_at
    finally:
        if fleet.container(victim).status == "paused" or _paused(fleet, victim):
            fleet.container(victim).unpause()
    out = log.read_text()
    bound = silent_limit + connect_timeout + 20
    print(f"run ended {took:.1f} s after {victim} froze (ServerAlive gives up after {silent_limit} s; bound {bound} s)")
    assert took < bound, out
    assert rc == 4, out
    assert f"fatal: [{victim}]: UNREACHABLE!" in out, out
    assert TRACEBACK not in out
    table = recap(out)
    assert table[victim]["unreachable"] == 1, out
    for name in others:
        assert table[name]["failed"] == 0 and table[name]["unreachable"] == 0, out
        assert fleet.sh(name, f"test -e {done}")[0] == 0, f"{name} did not finish"
    assert fleet.sh(victim, f"test -e {done}")[0] != 0


def _paused(fleet: FaultFleet, name: str) -> bool:
    container = fleet.container(name)
    container.reload()
    return container.status == "paused"


# --------------------------------------------------------------------------- (a) a host killed mid-deploy


def _holder() -> str:
    """Who holds a lock this controller took: ``<user>@<controller host>`` (the role's default)."""
    return f"{os.environ.get('USER') or 'unknown'}@{socket.gethostname()}"


class CurrentWatch:
    """Polls ``current`` of hosts during a deploy: it must always be a complete release."""

    def __init__(self, fleet: FaultFleet, names: list[str]) -> None:
        self.fleet, self.names = fleet, list(names)
        self.violations: list[str] = []
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def check(self, name: str) -> None:
        code, out = self.fleet.sh(
            name,
            f"t=$(readlink -f /srv/{self.fleet.app}/current) && test -f $t/.flaskfleet-release.json "
            "&& test -x $t/venv/bin/python && echo complete $t",
        )
        if code != 0 and name in self.names:  # a killed host answers nothing: not a violation
            self.violations.append(f"{name}: {out.strip() or 'current is not a complete release'}")
        self.samples += 1

    def run(self) -> None:
        while not self.stop.is_set():
            for name in list(self.names):
                self.check(name)
            time.sleep(0.3)

    def __enter__(self) -> CurrentWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_host_killed_mid_deploy(fleet, env, artifacts, tmp_path):
    victim, survivors = "tfd-3", ["tfd-1", "tfd-2"]
    root, partial = f"/srv/{APP}", f".{RELEASE_B}.partial"
    args = deploy_args(fleet, artifacts[RELEASE_B], "web", "-e", "flask_app_max_fail_percentage=34")
    log = tmp_path / "deploy.log"
    with CurrentWatch(fleet, WEB) as watch, log.open("w") as sink:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/ansible-playbook"), *map(str, args)],
            env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        # Kill the host while its new release is half built: unpacked, venv being made.
        while fleet.sh(victim, f"test -d {root}/releases/{partial}/venv")[0] != 0:
            assert proc.poll() is None and time.monotonic() < deadline, (
                f"deploy ended before the kill\n{log.read_text()}"
            )
            time.sleep(0.2)
        watch.names.remove(victim)
        fleet.container(victim).kill()
        rc = proc.wait(timeout=600)
    out = log.read_text()
    print(f"deploy exit {rc}; {watch.samples} samples of current, violations: {watch.violations}")
    assert watch.violations == [], watch.violations
    assert rc != 0, out
    assert TRACEBACK not in out
    # The dead host is named, with the reason.
    assert f"fatal: [{victim}]: UNREACHABLE!" in out, out
    assert recap(out)[victim]["unreachable"] == 1, out
    # The others finished on the new release, and serve it.
    for name in survivors:
        assert fleet.verify_current(name) == RELEASE_B
        assert fleet.serving(name) == RELEASE_B

    # Back from the dead: still on the old, complete release; the half-built one never became current.
    fleet.revive(victim)
    assert partial in fleet.release_dirs(victim), "the kill did not happen mid-staging"
    assert fleet.verify_current(victim) == RELEASE_A
    assert fleet.serving(victim) == RELEASE_A

    # The same deploy again (on that host: the others are done): the dead run's lock is still
    # there and is never broken silently.
    proc = ansible_playbook(env, *deploy_args(fleet, artifacts[RELEASE_B], victim))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert TRACEBACK not in out
    assert f"[{victim}] Take the deploy lock: deploy lock held by {_holder()} since" in out, out
    assert "wait for it or re-run with flask_app_force_unlock=true to break it" in out
    assert fleet.verify_current(victim) == RELEASE_A
    assert fleet.serving(victim) == RELEASE_A

    # Breaking it on purpose, the same deploy brings the host to the new release.
    with CurrentWatch(fleet, WEB) as watch:
        proc = ansible_playbook(env, *args, "-e", "flask_app_force_unlock=true")
    out = proc.stdout + proc.stderr
    assert watch.violations == [], watch.violations
    assert proc.returncode == 0, out
    assert "broke the deploy lock of run" in out, out
    for name in WEB:
        assert fleet.verify_current(name) == RELEASE_B
        assert fleet.serving(name) == RELEASE_B
    assert partial not in fleet.release_dirs(victim)
