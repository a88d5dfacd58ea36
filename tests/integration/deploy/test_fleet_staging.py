"""Three hosts, one of which cannot stage: all or nothing by default, a threshold lets the others switch.

How the host is broken (for real, as root cannot be stopped by file modes): its
``/srv/hello/artifacts`` is replaced by a link into a read-only filesystem (the container's
``/sys/fs/cgroup`` mount), so uploading the new release's artifact fails with "Read-only file
system", exactly what a disk remounted read-only does. The live release (in ``releases/``) keeps
running. See docs/deploy.md.
"""

from __future__ import annotations

import pytest
from conftest import R1, R2
from deployhelp import deploy, host_sh, output, prepare, served_release

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = "hello"
FAST = {"flask_app_drain_seconds": 1, "flask_app_health_retries": 2}
BREAK = "mv /srv/hello/artifacts /srv/hello/artifacts.rw && ln -s /sys/fs/cgroup /srv/hello/artifacts"
REPAIR = "rm /srv/hello/artifacts && mv /srv/hello/artifacts.rw /srv/hello/artifacts"


@pytest.fixture(scope="module")
def trio(local_fleet, build_artifact):
    """Three hosts serving R1, the second one with a read-only artifact path."""
    fleet = local_fleet("t-deploy-trio", count=3)
    prepare(fleet, APP)
    proc = deploy(fleet, APP, build_artifact(APP, R1), **FAST)
    assert proc.returncode == 0, output(proc)[-4000:]
    host_sh(fleet.hosts[1], BREAK)
    yield fleet
    host_sh(fleet.hosts[1], REPAIR, check=False)


def test_one_failing_host_stops_every_switch(trio, build_artifact):
    broken = trio.hosts[1]
    proc = deploy(trio, APP, build_artifact(APP, R2), **FAST)
    text = output(proc)
    assert proc.returncode != 0
    assert "stopped before any host switched" in text
    assert f"Staging failed on 1 of 3 host(s) (allowed: 0%): [{broken.name}] Upload the artifact:" in text
    assert "Destination /srv/hello/artifacts not writable" in text, "the read-only path is named"
    for host in trio.hosts:
        assert served_release(host) == R1, f"{host.name} still serves the old release"
        left = host_sh(host, f"ls /srv/hello/releases; systemctl is-active flaskfleet-hello@{R2} || true; "
                             "test -e /srv/hello/.deploy.lock && echo locked || true")  # fmt: skip
        assert left.stdout.split() == [R1, "inactive"], f"{host.name}: staged release removed, lock released"


def test_threshold_lets_the_healthy_hosts_switch_in_batches(trio, build_artifact):
    broken = trio.hosts[1]
    proc = deploy(trio, APP, build_artifact(APP, R2), **FAST, flask_app_max_fail_percentage=34, flask_app_serial=1)
    text = output(proc)
    assert proc.returncode != 0, "the run reports the host that did not switch"
    assert f"staging hello {R2} failed on {broken.name}, which keeps its live release" in text
    assert "Destination /srv/hello/artifacts not writable" in text
    assert [served_release(h) for h in trio.hosts] == [R2, R1, R2]
