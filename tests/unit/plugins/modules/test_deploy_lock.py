"""flaskfleet.cloud.deploy_lock, run as its own process like Ansible runs it on a host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

R1, R2 = "20261129T101500Z", "20261129T111500Z"


def _command():
    return [sys.executable, "-m", "ansible_collections.flaskfleet.cloud.plugins.modules.deploy_lock"]


def _stdin(args, check):
    return json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)})


@pytest.fixture
def lock(collections_path, tmp_path):
    """``lock(**args)`` runs the module against ``<tmp>/srv/hello/.deploy.lock``; returns its JSON result."""
    path = tmp_path / "srv" / "hello" / ".deploy.lock"
    env = dict(os.environ, PYTHONPATH=collections_path)

    def _run(check=False, **args):
        proc = subprocess.run(_command(), input=_stdin(dict({"path": str(path)}, **args), check), capture_output=True,
                              text=True, env=env, timeout=60, check=False)  # fmt: skip
        assert "Traceback" not in proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    _run.path = path
    _run.env = env
    return _run


def test_acquire_is_atomic_idempotent_and_refuses_others(lock):
    taken = lock(holder="alice@laptop", run_id="run-a", release_id=R1)
    assert taken["changed"] is True and taken["broken"] is None
    on_disk = json.loads(lock.path.read_text())
    assert on_disk == taken["lock"]
    assert {k: on_disk[k] for k in ("holder", "run_id", "release_id")} == {
        "holder": "alice@laptop",
        "run_id": "run-a",
        "release_id": R1,
    }
    assert lock(holder="alice@laptop", run_id="run-a", release_id=R1)["changed"] is False

    refused = lock(holder="bob@ci", run_id="run-b", release_id=R2)
    assert refused["failed"] is True
    assert refused["msg"] == (
        "deploy lock held by alice@laptop since %s for release %s (run run-a); wait for it or re-run with"
        " flask_app_force_unlock=true to break it" % (on_disk["time"], R1)
    )
    assert refused["lock"]["holder"] == "alice@laptop"
    assert json.loads(lock.path.read_text()) == on_disk


def test_release_only_by_its_run(lock):
    taken = lock(holder="alice@laptop", run_id="run-a", release_id=R1)["lock"]
    other = lock(run_id="run-b", state="absent")
    assert other["failed"] is True
    assert "belongs to run run-a of alice@laptop, not to run run-b: not releasing it" in other["msg"]
    assert lock.path.exists()
    released = lock(run_id="run-a", state="absent")
    assert (released["changed"], released["lock"]) == (True, taken)
    assert not lock.path.exists()
    assert lock(run_id="run-a", state="absent") == {**lock(run_id="run-a", state="absent"), "changed": False}


def test_force_breaks_a_lock_and_reports_whose(lock):
    stale = lock(holder="alice@laptop", run_id="run-a", release_id=R1)["lock"]
    broken = lock(holder="bob@ci", run_id="run-b", release_id=R2, force=True)
    assert broken["changed"] is True
    assert broken["broken"] == stale
    assert json.loads(lock.path.read_text())["run_id"] == "run-b"
    warnings = json.dumps(broken.get("warnings"))
    assert "broke the deploy lock of run run-a held by alice@laptop" in warnings
    assert lock(run_id="someone", state="absent", force=True)["lock"]["run_id"] == "run-b"


def test_check_mode_writes_nothing(lock):
    assert lock(check=True, holder="alice@laptop", run_id="run-a")["changed"] is True
    assert not lock.path.exists()
    lock(holder="alice@laptop", run_id="run-a")
    assert lock(check=True, holder="bob@ci", run_id="run-b")["failed"] is True
    assert lock(check=True, run_id="run-a", state="absent")["changed"] is True
    assert lock.path.exists()


def test_holder_is_required_to_take_it(lock):
    assert lock(run_id="run-a")["msg"] == "state is present but all of the following are missing: holder"


def test_concurrent_runs_exactly_one_wins(lock):
    procs = [
        subprocess.Popen(
            _command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lock.env
        )
        for _attempt in range(8)
    ]
    for n, proc in enumerate(procs):
        proc.stdin.write(_stdin({"path": str(lock.path), "holder": "dev%d" % n, "run_id": "run-%d" % n}, False))
        proc.stdin.close()
    results = [json.loads(proc.stdout.read()) for proc in procs]
    for proc in procs:
        proc.wait(timeout=60)
    winners = [r for r in results if r.get("changed")]
    assert len(winners) == 1
    winner = winners[0]["lock"]
    assert json.loads(Path(lock.path).read_text()) == winner
    for loser in (r for r in results if not r.get("changed")):
        assert loser["msg"].startswith("deploy lock held by %s since " % winner["holder"])
    assert sorted(os.listdir(lock.path.parent)) == [".deploy.lock"]  # no temp files left


def test_wait_takes_the_lock_once_the_other_run_releases_it(lock):
    lock(holder="alice@laptop", run_id="run-a", release_id=R1)
    # Another run (a real process) releases its lock 1.5 s from now; bob waits up to 20 s for it.
    releaser = subprocess.Popen(["sh", "-c", f"sleep 1.5; rm -f '{lock.path}'"])
    started = time.monotonic()
    taken = lock(holder="bob@ci", run_id="run-b", release_id=R2, wait=20)
    waited = time.monotonic() - started
    releaser.wait(timeout=10)
    assert taken["changed"] is True, taken
    assert json.loads(lock.path.read_text())["run_id"] == "run-b"
    assert 1.2 <= waited < 10


def test_wait_still_fails_with_the_holders_details_after_the_wait(lock):
    held = lock(holder="alice@laptop", run_id="run-a", release_id=R1)["lock"]
    started = time.monotonic()
    refused = lock(holder="bob@ci", run_id="run-b", release_id=R2, wait=2)
    assert time.monotonic() - started >= 2
    assert refused["failed"] is True
    assert refused["msg"] == (
        "deploy lock held by alice@laptop since %s for release %s (run run-a); wait for it or re-run with"
        " flask_app_force_unlock=true to break it (waited 2 s)" % (held["time"], R1)
    )
    assert json.loads(lock.path.read_text())["run_id"] == "run-a"
