"""flaskfleet.cloud.release_info: what a host runs, read from a real layout of examples/hello; nothing changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from releasehost import ME, MY_GROUP, R1, R2


def snapshot(top: Path) -> dict[str, tuple]:
    """Every path under ``top`` with its type, mode, size and mtime (what any write would change)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[path] = (st.st_mode, st.st_size, st.st_mtime_ns, os.readlink(path) if os.path.islink(path) else None)
    return found


@pytest.fixture
def live(host):
    """R1 staged and current: a host after one deploy."""
    host.stage(R1, owner=ME, group=MY_GROUP, shared_paths=["data"])
    host.release(release_id=R1, state="active")
    return host


def test_live_inspection_reports_the_current_release_by_the_contracts_names(host):
    nothing = host.info(health_path="/up")
    assert (nothing["changed"], nothing["release_id"], nothing["healthy"]) == (False, None, False)
    assert nothing["reasons"] == ["not deployed: %s does not exist" % (host.app / "current")]
    assert nothing["names"]["unit_template"] == "flaskfleet-hello@.service"
    assert (nothing["releases"], nothing["current"]) == ([], None)

    host.stage(R1)
    host.release(release_id=R1, state="active")
    live = host.info(health_path="/up")
    assert (live["changed"], live["release_id"], live["healthy"], live["up_to_date"]) == (False, R1, False, False)
    assert (live["current"], live["releases"], live["previous"]) == (R1, [R1], None)
    assert live["release_path"] == str(host.app / "releases" / R1)
    assert live["manifest"] == {"app": "hello", "version": "0.1.0", "wsgi": "hello:create_app()", "static": "static"}
    assert live["names"]["unit"] == live["unit"] == "flaskfleet-hello@%s.service" % R1
    assert live["names"]["socket"] == live["socket"] == "/run/hello/%s/gunicorn.sock" % R1
    assert (live["names"]["root"], live["names"]["health_path"]) == (str(host.app), "/up")
    assert live["layout"]["lock"] == str(host.app / ".deploy.lock")
    # Nothing runs here: the unit is not active and the socket does not answer, and both are said.
    assert live["reasons"][0].startswith("unit flaskfleet-hello@%s.service is " % R1)
    assert live["reasons"][1].startswith("health check through /run/hello/%s/gunicorn.sock failed: " % R1)
    assert live["health"] is None and live["lock"] is None


def test_live_inspection_shows_a_held_lock(live):
    lock = {"holder": "alice@laptop", "run_id": "run-a", "release_id": R2, "time": "2026-11-29T10:15:02Z"}
    (live.app / ".deploy.lock").write_text(json.dumps(lock))
    assert live.info()["lock"] == lock


def test_up_to_date_when_the_release_files_and_identity_are_as_asked(live):
    conf = live.app / "gunicorn.conf.py"
    conf.write_text("bind = 'unix:/run/hello/sock'\n")
    conf.chmod(0o644)
    marker = json.loads((live.app / "releases" / R1 / ".flaskfleet-release.json").read_text())
    digest = hashlib.sha256(conf.read_bytes()).hexdigest()
    mode = "%04o" % (os.stat(live.app / "shared").st_mode & 0o7777)
    asked = dict(release_id=R1, manifest_sha256=marker["manifest_sha256"], owner=ME, group=MY_GROUP,
                 directories=[{"path": str(live.app / "shared"), "mode": mode, "owner": ME, "group": MY_GROUP}],
                 files=[{"path": str(conf), "sha256": digest, "mode": "0644", "owner": ME}])  # fmt: skip
    result = live.info(**asked)
    assert (result["changed"], result["up_to_date"], result["reasons"]) == (False, True, []), result
    assert (result["identity_ok"], result["files_matching"]) == (True, [str(conf)])
    assert (result["release_id"], result["current"], result["releases"]) == (R1, R1, [R1])
    assert result["manifest"]["version"] == "0.1.0"
    # The file digest is derived from secrets in a deploy (the env file): never shown.
    assert digest not in json.dumps(result)

    conf.write_text("bind = 'unix:/elsewhere'\n")
    conf.chmod(0o600)
    changed = live.info(**asked)
    assert (changed["up_to_date"], changed["reasons"], changed["files_matching"]) == (
        False, ["%s has other content" % conf], []
    )  # fmt: skip
    assert changed["identity_ok"] is True


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        ({"release_id": R2}, "current release is %s" % R1),
        ({"release_id": R1, "manifest_sha256": "0" * 64}, "release %s is incomplete or was built from another" % R1),
        ({"release_id": R1, "owner": "no-such-user-ff"}, "owner 'no-such-user-ff' does not exist on this host"),
        ({"release_id": R1, "group": MY_GROUP, "group_members": ["no-such-user-ff"]}, "no-such-user-ff not in group"),
        ({"release_id": R1, "directories": [{"path": "/nonexistent/ff"}]}, "/nonexistent/ff is missing"),
        ({"release_id": R1, "service_checks": True}, "unit flaskfleet-hello@%s.service is " % R1),
        ({"release_id": R1, "health_socket": "/nonexistent/ff.sock"}, "health check through /nonexistent/ff.sock"),
    ],
)
def test_reasons_say_why_a_host_is_not_up_to_date(live, asked, reason):
    result = live.info(**asked)
    assert (result["changed"], result["up_to_date"]) == (False, False)
    assert result["reasons"][0].startswith(reason), result["reasons"]


def test_a_held_lock_means_not_up_to_date(live):
    (live.app / ".deploy.lock").write_text("{}")
    assert live.info(release_id=R1)["reasons"] == ["the deploy lock %s is held" % (live.app / ".deploy.lock")]


@pytest.mark.parametrize("check", [False, True])
def test_nothing_on_the_host_changes(live, check):
    (live.app / "releases" / (".%s.partial" % R2)).mkdir()  # a crashed run's leftover stays
    before = snapshot(live.base)
    for args in ({}, {"release_id": R1, "service_checks": True, "owner": ME, "group": MY_GROUP},
                 {"release_id": R2, "files": [{"path": str(live.app / "missing"), "sha256": "0" * 64}]}):  # fmt: skip
        assert live.info(check=check, **args)["changed"] is False
    assert snapshot(live.base) == before


def test_bad_input_is_one_line_and_the_inspection_state_is_gone_from_release(host):
    bad = host.info(release_id="latest")
    assert bad["failed"] is True and "\n" not in bad["msg"]
    assert bad["msg"].startswith("invalid release id 'latest'")
    assert host.info(app="../etc")["msg"].startswith("invalid app name")
    assert "Unsupported parameters" in host.info(state="inspected")["msg"]
    gone = host.release(state="inspected")
    assert gone["msg"] == ("value of state must be one of: staged, active, rolled_back, pruned, absent, got: inspected")
    assert not host.base.exists()
