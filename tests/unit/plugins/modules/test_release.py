"""flaskfleet.cloud.release: real artifacts of examples/hello staged, switched, rolled back and pruned.

The module runs as Ansible runs it on a host (its own process, JSON arguments, the installed
collection on the path), against a temporary base_dir owned by the current user.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from releasehost import ME, MY_GROUP, R1, R2, R3, run_module


def rewrite(source: Path, dest: Path, mutate) -> Path:
    """Copy an artifact member by member, letting ``mutate(entries)`` alter the (TarInfo, bytes) list."""
    with tarfile.open(source, "r:gz") as tar:
        entries = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    with tarfile.open(dest, "w:gz") as tar:
        for info, data in mutate(entries):
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return dest


def page_of(release_dir: Path, release_id: str) -> str:
    """Render ``/`` of the installed app with the release's own venv interpreter."""
    code = "import hello; print(hello.create_app().test_client().get('/').get_data(as_text=True))"
    env = {"FLASKFLEET_RELEASE_ID": release_id, "PATH": os.environ["PATH"]}
    proc = subprocess.run([str(release_dir / "venv" / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, env=env, cwd="/", check=True)  # fmt: skip
    return proc.stdout


def test_stage_builds_a_complete_release_offline(host):
    result = host.stage(R1, owner=ME, group=MY_GROUP, shared_paths=["data", "var/log"])
    assert result["changed"] is True, result
    release = host.app / "releases" / R1
    assert result["release_path"] == str(release)
    assert result["venv_path"] == str(release / "venv")
    assert result["releases"] == [R1] and result["current"] is None
    assert result["manifest"] == {"app": "hello", "version": "0.1.0", "wsgi": "hello:create_app()", "static": "static"}
    assert sorted(os.listdir(host.app / "releases")) == [R1]
    assert (release / "static" / "style.css").is_file()
    assert os.readlink(release / "data") == "../../shared/data"
    assert os.readlink(release / "var" / "log") == "../../../shared/var/log"
    assert (host.app / "shared" / "var" / "log").is_dir()
    marker = json.loads((release / ".flaskfleet-release.json").read_text())
    assert marker["release_id"] == R1 and marker["requirement"] == "hello==0.1.0"
    # scripts point at the final path, not the .partial dir they were built in
    assert (release / "venv" / "bin" / "gunicorn").read_text().splitlines()[0] == "#!%s/venv/bin/python" % release
    assert not (release / "venv" / "bin" / "pip").exists()  # installed with the interpreter's pip, offline
    assert '<span class="release" id="release">%s</span>' % R1 in page_of(release, R1)
    version = subprocess.run([str(release / "venv" / "bin" / "gunicorn"), "--version"], capture_output=True,
                             text=True, check=True)  # fmt: skip
    assert "27.0.1" in version.stdout + version.stderr


def _restyle(entries):
    """A legitimately different build of the same release: new CSS, manifest updated to match."""
    css = b"body { color: red; }\n"
    out = []
    for info, data in entries:
        if info.name == "manifest.json":
            doc = json.loads(data)
            doc["files"]["static/style.css"] = hashlib.sha256(css).hexdigest()
            data = json.dumps(doc).encode()
        elif info.name == "static/style.css":
            data = css
        out.append((info, data))
    return out


def test_stage_is_idempotent_and_refuses_a_different_build_under_the_same_id(host, artifacts, tmp_path):
    assert host.stage(R1)["changed"] is True
    again = host.stage(R1)
    assert again["changed"] is False
    assert again["manifest"]["version"] == "0.1.0"
    assert host.release(release_id=R1, state="staged")["changed"] is False  # no artifact needed once staged
    other = rewrite(artifacts[R1], tmp_path / "restyled.tar.gz", _restyle)
    result = host.release(release_id=R1, artifact=str(other), state="staged")
    assert result["failed"] is True
    assert result["msg"].startswith("release %s is already staged from a different artifact (manifest sha256 " % R1)
    assert result["msg"].endswith("deploy the new build under a new release id")


def test_check_mode_reports_and_writes_nothing(host):
    artifact = host.upload(R1)
    result = host.release(release_id=R1, artifact=artifact, state="staged", check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"current": None, "releases": []}, "after": {"current": None, "releases": [R1]}}
    assert result["manifest"]["wsgi"] == "hello:create_app()"
    assert sorted(os.listdir(host.app)) == ["artifacts"]


def _drop(name):
    return lambda entries: [(i, d) for i, d in entries if i.name != name]


def _add(name, data=b"x", linkname=None):
    info = tarfile.TarInfo(name)
    if linkname:
        info.type, info.linkname, data = tarfile.SYMTYPE, linkname, None
    return lambda entries: [*entries, (info, data)]


def _corrupt(name):
    return lambda entries: [(i, d + b"tampered" if i.name == name else d) for i, d in entries]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_corrupt("wheels/flask-3.1.3-py3-none-any.whl"), "checksum mismatch for wheels/flask-3.1.3-py3-none-any.whl"),
        (_drop("wheels/click-8.5.1-py3-none-any.whl"), "file listed in the manifest is missing: wheels/click-8.5.1"),
        (_add("wheels/evil-1.0-py3-none-any.whl"), "file not listed in the manifest: wheels/evil-1.0-py3-none-any.whl"),
        (_add("../../etc/passwd"), "unsafe path '../../etc/passwd' leaves the release directory"),
        (_add("/etc/cron.d/evil"), "unsafe absolute path '/etc/cron.d/evil'"),
        (_add("static/shadow", linkname="/etc/shadow"), "link 'static/shadow' points outside the release"),
    ],
)
def test_bad_artifacts_are_refused_and_leave_nothing(host, artifacts, tmp_path, mutate, message):
    bad = rewrite(artifacts[R1], tmp_path / "bad.tar.gz", mutate)
    result = host.release(release_id=R1, artifact=host.upload(R1, bad), state="staged")
    assert result["failed"] is True
    assert message in result["msg"]
    assert "\n" not in result["msg"]
    assert not (host.app / "releases").exists() or os.listdir(host.app / "releases") == []
    assert not Path("/etc/cron.d/evil").exists()


def test_leftovers_of_a_crashed_run_are_rebuilt(host):
    partial = host.app / "releases" / (".%s.partial" % R1)
    (partial / "venv").mkdir(parents=True)
    (partial / "half-written.whl").write_bytes(b"")
    unfinished = host.app / "releases" / R1  # renamed but without marker: never completed (or tampered with)
    (unfinished / "venv").mkdir(parents=True)
    assert (
        host.release(release_id=R1, state="active")["msg"]
        == "release %s is incomplete (no .flaskfleet-release.json): stage it again" % R1
    )
    assert host.stage(R1)["changed"] is True
    assert sorted(os.listdir(host.app / "releases")) == [R1]
    assert (unfinished / ".flaskfleet-release.json").is_file()
    assert host.release(release_id=R1, state="active")["current"] == R1


def test_switch_rollback_prune_and_remove(host):
    for rid in (R1, R2, R3):
        assert host.stage(rid)["changed"] is True
    current = host.app / "current"

    first = host.release(release_id=R1, state="active", diff=True)
    assert first["changed"] is True
    assert first["diff"]["before"]["current"] is None and first["diff"]["after"]["current"] == R1
    assert os.readlink(current) == "releases/%s" % R1
    assert host.release(release_id=R1, state="active")["changed"] is False

    preview = host.release(release_id=R2, state="active", check=True)
    assert (preview["changed"], preview["current"], os.readlink(current)) == (True, R2, "releases/%s" % R1)

    switched = host.release(release_id=R2, state="active")
    assert (switched["current"], switched["replaced"], switched["previous"]) == (R2, R1, R1)
    assert R2 in page_of(current, R2)

    back = host.release(state="rolled_back", diff=True)
    assert (back["changed"], back["release_id"], back["current"], back["replaced"]) == (True, R1, R1, R2)
    assert back["diff"] == {"before": {"current": R2, "releases": [R1, R2, R3]},
                            "after": {"current": R1, "releases": [R1, R2, R3]}}  # fmt: skip
    assert '<span class="release" id="release">%s</span>' % R1 in page_of(current, R1)
    nothing = host.release(state="rolled_back")
    assert nothing["failed"] is True
    assert nothing["msg"] == "no complete release older than %s to roll back to (releases: %s, %s, %s)" % (
        R1,
        R1,
        R2,
        R3,
    )

    assert host.release(release_id=R3, state="active")["current"] == R3
    refused = host.release(release_id=R3, state="absent")
    assert refused["msg"] == "release %s is current: activate or roll back to another release before removing it" % R3

    pruned = host.release(state="pruned", keep_releases=1)
    assert (pruned["changed"], pruned["pruned"], pruned["releases"]) == (True, [R1], [R2, R3])
    assert sorted(os.listdir(host.app / "artifacts")) == ["%s.tar.gz" % R2, "%s.tar.gz" % R3]
    assert host.release(state="pruned", keep_releases=1)["changed"] is False  # R2 is the rollback target

    removed = host.release(release_id=R2, state="absent")
    assert (removed["changed"], removed["releases"]) == (True, [R3])
    assert sorted(os.listdir(host.app / "releases")) == [R3]
    assert host.release(release_id=R2, state="absent")["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"release_id": "latest", "state": "active"}, "invalid release id 'latest': expected YYYYMMDDTHHMMSSZ"),
        ({"state": "active"}, "state is active but all of the following are missing: release_id"),
        ({"release_id": R1, "state": "staged"}, "release %s is not staged on this host yet: give artifact" % R1),
        ({"release_id": R1, "artifact": "/nonexistent/a.tar.gz"}, "artifact /nonexistent/a.tar.gz not found on"),
        ({"release_id": R1, "state": "active"}, "release %s is not staged on this host (staged releases: none)" % R1),
        ({"release_id": R1, "owner": "no-such-user-ff"}, "owner 'no-such-user-ff' does not exist on this host"),
        ({"state": "pruned", "keep_releases": 0}, "keep_releases must be 1 or more, got 0"),
        ({"app": "../etc", "state": "pruned"}, "invalid app name '../etc'"),
    ],
)
def test_bad_input_gives_one_clear_line(host, args, message):
    result = host.release(**args)
    assert result["failed"] is True
    assert message in result["msg"]


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs as base_dir (needs root to mount; skipped elsewhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % proc.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.faults
def test_disk_full_fails_clearly_and_leaves_nothing(collections_path, artifacts, small_disk):
    (small_disk / "hello" / "artifacts").mkdir(parents=True)
    artifact = small_disk / "hello" / "artifacts" / ("%s.tar.gz" % R1)
    shutil.copyfile(artifacts[R1], artifact)
    args = {"app": "hello", "base_dir": str(small_disk), "release_id": R1, "artifact": str(artifact)}
    result = run_module(collections_path, "release", args)
    assert result["failed"] is True
    assert result["msg"].startswith(
        "no space left on device while staging release %s in %s/hello/releases" % (R1, small_disk)
    )
    assert os.listdir(small_disk / "hello" / "releases") == []


def test_through_ansible_playbook_idempotent_with_check_and_diff(runner, artifacts, tmp_path):
    base = tmp_path / "srv"
    (base / "hello" / "artifacts").mkdir(parents=True)
    shutil.copyfile(artifacts[R1], base / "hello" / "artifacts" / ("%s.tar.gz" % R1))
    playbook = tmp_path / "deploy.yml"
    playbook.write_text(
        """
- name: Deploy hello locally
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Stage
      flaskfleet.cloud.release:
        app: hello
        base_dir: %(base)s
        release_id: %(rid)s
        artifact: %(base)s/hello/artifacts/%(rid)s.tar.gz
        shared_paths: [data]
    - name: Activate
      flaskfleet.cloud.release:
        app: hello
        base_dir: %(base)s
        release_id: %(rid)s
        state: active
    - name: Prune
      flaskfleet.cloud.release:
        app: hello
        base_dir: %(base)s
        state: pruned
"""
        % {"base": base, "rid": R1}
    )
    interpreter = "ansible_python_interpreter=%s" % sys.executable
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", interpreter, str(playbook)]
    preview = runner([*cmd, "--check", "--diff"], check=True)
    assert "changed=2" in preview.stdout
    assert (
        "release %s is not staged yet; check mode assumes an earlier task stages it" % R1
        in preview.stdout + preview.stderr
    )
    assert '+    "current": "%s",' % R1 in preview.stdout  # the diff of the Activate task
    assert not (base / "hello" / "releases").exists()
    first = runner(cmd, check=True)
    assert "changed=2" in first.stdout and "failed=0" in first.stdout
    assert os.readlink(base / "hello" / "current") == "releases/%s" % R1
    second = runner(cmd, check=True)
    assert "changed=0" in second.stdout and "failed=0" in second.stdout
