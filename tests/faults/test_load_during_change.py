"""Load during change: 10 deploys in a row, alternating two releases, then a rollback, while 20
clients keep requesting the app through nginx. Nothing may fail, and every answer must come from
a complete release (one of the two ids). Totals, failures and p99 latency are printed.

The host is a ``flaskfleet/base`` container made by the fault suite's :class:`FaultFleet`; the
load generator is the deploy tests' (``tests/integration/deploy/loadgen.py``).
"""

from __future__ import annotations

import sys
import time

import pytest
from conftest import ROOT
from faultfleet import FaultFleet, ansible_playbook, build_artifact, deploy_args, setup_playbook

sys.path.insert(0, str(ROOT / "tests" / "integration" / "deploy"))
from loadgen import Load

pytestmark = [pytest.mark.faults, pytest.mark.docker]

APP = "tfchurn"
TAG = "faults-churn"
HOST = "tfchurn-1"
RELEASE_A = "20260101T000001Z"
RELEASE_B = "20260101T000002Z"
FAST = ["-e", "flask_app_drain_seconds=1", "-e", "flask_app_health_delay=1"]


@pytest.fixture(scope="module")
def churn(ansible_env, tmp_path_factory):
    """One host serving release B, with release A staged beside it (both complete on disk)."""
    out = tmp_path_factory.mktemp("artifacts")
    artifacts = {rid: build_artifact(APP, rid, out) for rid in (RELEASE_A, RELEASE_B)}
    env = {**ansible_env, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path_factory.mktemp("cp"))}
    fleet = FaultFleet(TAG, APP, tmp_path_factory.mktemp("fleet"))
    try:
        fleet.start([(HOST, "web", None)])
        proc = ansible_playbook(env, "-i", fleet.inventory, setup_playbook(fleet.workdir, APP))
        assert proc.returncode == 0, proc.stdout[-4000:]
        for rid in (RELEASE_A, RELEASE_B):
            proc = ansible_playbook(env, *deploy_args(fleet, artifacts[rid], "web", *FAST))
            assert proc.returncode == 0, proc.stdout[-4000:]
        assert fleet.serving(HOST) == RELEASE_B
        yield fleet, env, artifacts
    finally:
        fleet.remove()


def _change(env, fleet, args: list) -> tuple[float, float]:
    """Run one deploy or rollback; returns its (start, end) on the load's clock."""
    start = time.monotonic()
    proc = ansible_playbook(env, *args)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return start, time.monotonic()


def test_ten_alternating_deploys_and_a_rollback_under_load(churn, figure):
    fleet, env, artifacts = churn
    url = f"http://127.0.0.1:{fleet.port(HOST, 80)}/"
    order = [RELEASE_A if i % 2 == 0 else RELEASE_B for i in range(10)]
    windows = []
    # Bounded: 20 clients, at most 40 minutes (the changes take a few minutes on an idle machine).
    with Load(url, clients=20, max_seconds=2400) as load:
        load.wait_for_requests(50)
        for rid in order:
            windows.append(_change(env, fleet, deploy_args(fleet, artifacts[rid], "web", *FAST)))
            assert fleet.current(HOST) == rid
        rollback = ["flaskfleet.cloud.rollback", "-i", fleet.inventory, "-e", f"flask_app_name={APP}",
                    "-e", "flaskfleet_hosts=web", *FAST]  # fmt: skip
        windows.append(_change(env, fleet, rollback))
        load.wait_for_requests(load.report.total + 50)
    report = load.report
    during = [sum(1 for s in report.samples if start <= s.started <= end) for start, end in windows]
    figure(
        f"load during change: 10 deploys ({' '.join(r[-3:] for r in order)}) + rollback under 20 clients: "
        f"total {report.total} requests, failed {len(report.failures)}, p99 {report.p99() * 1000:.0f} ms, "
        f"requests during each change {during}, answers per release {dict(report.counts())}"
    )
    assert all(count >= 20 for count in during), "the load ran through every deploy and the rollback"
    assert report.failures == [], report.summary()
    assert set(report.counts()) == {RELEASE_A, RELEASE_B}, "every answer came from one of the complete releases"
    assert len(report.releases_in_order()) >= 11, "the answers switched at every deploy and at the rollback"
    assert fleet.current(HOST) == RELEASE_A, "the rollback went back from B to A"
    assert fleet.verify_current(HOST) == RELEASE_A
