"""module_utils/_releases.py in-process: artifact verification, layout facts, switching, pruning, the lock.

Artifacts here are small hand-made archives (each test needs one specific defect); the modules'
tests stage real artifacts of examples/hello.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

APP = "hello"
R1, R2, R3, R4 = "20261101T080000Z", "20261102T080000Z", "20261103T080000Z-fix", "20261104T080000Z"


@pytest.fixture(scope="module")
def rel(collections_path):
    """The installed collection's releases.py (loaded by path: it only needs the standard library)."""
    path = Path(collections_path) / "ansible_collections/flaskfleet/cloud/plugins/module_utils/_releases.py"
    spec = importlib.util.spec_from_file_location("flaskfleet_releases_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_artifact(path: Path, release_id=R1, files=None, manifest=None, extra=()):
    """Write an artifact: ``files`` {name: bytes} listed in the manifest, ``extra`` TarInfo/bytes pairs not."""
    files = (
        {"wheels/hello-0.1.0-py3-none-any.whl": b"wheel", "static/style.css": b"body {}"} if files is None else files
    )
    doc = {
        "format": 1,
        "app": APP,
        "version": "0.1.0",
        "release_id": release_id,
        "wsgi": "hello:create_app()",
        "requirement": "hello==0.1.0",
        "python": "3.11",
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
    }
    doc.update(manifest or {})
    entries = [(tarfile.TarInfo("manifest.json"), json.dumps(doc).encode())]
    entries += [(tarfile.TarInfo(n), b) for n, b in sorted(files.items())] + list(extra)
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def link(name, target, hard=False):
    """A symlink (or hard link) member."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def fake_release(layout, release_id):
    """A complete release as the layout sees it: directory plus marker (for switching/pruning logic)."""
    path = Path(layout.release_path(release_id))
    path.mkdir(parents=True)
    (path / ".flaskfleet-release.json").write_text(json.dumps({"release_id": release_id, "app": APP}))


@pytest.fixture
def layout(rel, tmp_path):
    return rel.Layout(str(tmp_path / "srv"), APP)


# --------------------------------------------------------------------------- verification


def test_good_artifact_verifies(rel, tmp_path):
    manifest, digest = rel.verify_artifact(str(make_artifact(tmp_path / "a.tar.gz")), APP, R1)
    assert manifest["requirement"] == "hello==0.1.0"
    assert len(digest) == 64


def test_tampered_file_is_named(rel, tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz", manifest={"files": {
        "wheels/hello-0.1.0-py3-none-any.whl": hashlib.sha256(b"wheel").hexdigest(),
        "static/style.css": hashlib.sha256(b"original").hexdigest(),
    }})  # fmt: skip
    with pytest.raises(rel.ReleaseError, match=r"checksum mismatch for static/style.css \(manifest [0-9a-f]{12}"):
        rel.verify_artifact(str(art), APP, R1)


@pytest.mark.parametrize(
    ("extra", "manifest", "message"),
    [
        ([(tarfile.TarInfo("../../etc/passwd"), b"root:x:0:0")], None, "unsafe path '../../etc/passwd' leaves"),
        ([(tarfile.TarInfo("/etc/passwd"), b"root:x:0:0")], None, "unsafe absolute path '/etc/passwd'"),
        ([link("static/passwd", "/etc/passwd")], None, "link 'static/passwd' points outside the release"),
        ([link("static/up", "../../..")], None, "link 'static/up' points outside the release"),
        ([link("static/copy", "static/style.css", hard=True)], None, "link 'static/copy' is not allowed"),
        ([(tarfile.TarInfo("evil.py"), b"import os")], None, "file not listed in the manifest: evil.py"),
        ([(tarfile.TarInfo("static/style.css"), b"body {}")], None, "'static/style.css' appears twice"),
        ([], {"app": "other"}, "is for app 'other', not 'hello'"),
        ([], {"release_id": R2}, "is release '%s', not '%s'" % (R2, R1)),
        ([], {"requirement": ""}, "manifest lacks requirement"),
    ],
)
def test_unsafe_or_inconsistent_artifacts_are_refused(rel, tmp_path, extra, manifest, message):
    art = make_artifact(tmp_path / "a.tar.gz", manifest=manifest, extra=extra)
    with pytest.raises(rel.ReleaseError) as err:
        rel.verify_artifact(str(art), APP, R1)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_named(rel, tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz", manifest={"files": {"wheels/flask.whl": "0" * 64}}, files={})
    with pytest.raises(rel.ReleaseError, match=r"file listed in the manifest is missing: wheels/flask.whl"):
        rel.verify_artifact(str(art), APP, R1)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"plain text, not gzip", "is not a readable .tar.gz"), (None, "not found on this host: upload it first")],
)
def test_unreadable_artifacts(rel, tmp_path, content, message):
    art = tmp_path / "a.tar.gz"
    if content is not None:
        art.write_bytes(content)
    with pytest.raises(rel.ReleaseError, match=message):
        rel.verify_artifact(str(art), APP, R1)


def test_truncated_artifact(rel, tmp_path):
    files = {"wheels/big.whl": os.urandom(300_000)}
    art = make_artifact(tmp_path / "a.tar.gz", files=files)
    art.write_bytes(art.read_bytes()[:150_000])
    with pytest.raises(rel.ReleaseError, match=r"a.tar.gz is (not a readable .tar.gz|truncated or corrupt)"):
        rel.verify_artifact(str(art), APP, R1)


def test_archive_without_manifest(rel, tmp_path):
    art = tmp_path / "a.tar.gz"
    with tarfile.open(art, "w:gz") as tar:
        info = tarfile.TarInfo("wheels/x.whl")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(rel.ReleaseError, match=r"has no manifest.json: build it with flaskfleet.artifact"):
        rel.verify_artifact(str(art), APP, R1)


def test_failed_pip_install_leaves_nothing_behind(rel, layout, tmp_path):
    """The wheelhouse lacks the app: pip fails offline; no partial dir, no release, a clear reason."""
    art = make_artifact(tmp_path / "a.tar.gz", files={"static/style.css": b"body {}"})
    with pytest.raises(rel.ReleaseError) as err:
        rel.stage(layout, R1, str(art))
    assert str(err.value).startswith("pip install hello==0.1.0 failed: ERROR: ")
    assert "hello==0.1.0" in str(err.value)
    assert os.listdir(layout.releases_dir) == []
    assert layout.releases() == []


def test_check_mode_stage_verifies_but_writes_nothing(rel, layout, tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz")
    assert rel.stage(layout, R1, str(art), check_mode=True) is True
    assert not os.path.exists(layout.root)
    bad = make_artifact(tmp_path / "b.tar.gz", extra=[(tarfile.TarInfo("../x"), b"x")])
    with pytest.raises(rel.ReleaseError, match="leaves the release directory"):
        rel.stage(layout, R1, str(bad), check_mode=True)


# --------------------------------------------------------------------------- layout, switching


def test_release_ids_are_validated(rel, layout):
    for bad in ("latest", "20261101", "20261101T080000Z/../x", "20261101T080000Z-"):
        with pytest.raises(rel.ReleaseError, match="invalid release id"):
            rel.activate(layout, bad)
    with pytest.raises(rel.ReleaseError, match="invalid app name"):
        rel.Layout("/srv", "../etc")


def test_only_complete_releases_count(rel, layout):
    fake_release(layout, R1)
    os.makedirs(layout.release_path(R2))  # no marker: incomplete
    os.makedirs(layout.partial_path(R3))
    assert layout.releases() == [R1]
    assert layout.leftovers() == [".%s.partial" % R3]
    with pytest.raises(rel.ReleaseError, match="release %s is incomplete" % R2):
        rel.activate(layout, R2)
    with pytest.raises(
        rel.ReleaseError, match=r"release %s is not staged on this host \(staged releases: %s\)" % (R3, R1)
    ):
        rel.activate(layout, R3)


def test_activate_swaps_symlink_atomically_and_is_idempotent(rel, layout):
    for rid in (R1, R2):
        fake_release(layout, rid)
    assert rel.activate(layout, R1) is True
    assert os.readlink(layout.current_link) == "releases/%s" % R1
    assert rel.activate(layout, R1) is False
    assert rel.activate(layout, R2, check_mode=True) is True
    assert layout.current() == R1
    assert rel.activate(layout, R2) is True
    assert layout.status() == {"current": R2, "previous": R1, "releases": [R1, R2]}
    assert sorted(os.listdir(layout.root)) == ["current", "releases"]  # no temp link left


def test_current_that_is_a_directory_is_refused(rel, layout):
    fake_release(layout, R1)
    os.makedirs(layout.current_link)
    with pytest.raises(rel.ReleaseError, match="current is not a symlink: move it away"):
        rel.activate(layout, R1)


def test_rollback_target(rel, layout):
    with pytest.raises(rel.ReleaseError, match=r"nothing to roll back: .*current does not exist yet"):
        rel.rollback_target(layout)
    for rid in (R1, R2, R3):
        fake_release(layout, rid)
    rel.activate(layout, R1)
    with pytest.raises(rel.ReleaseError, match="no complete release older than %s to roll back to" % R1):
        rel.rollback_target(layout)
    rel.activate(layout, R3)
    assert rel.rollback_target(layout) == R2
    assert rel.rollback_target(layout, R1) == R1


# --------------------------------------------------------------------------- pruning, removal


def test_prune_keeps_newest_current_rollback_target_and_protected(rel, layout):
    releases = ["2026110%dT080000Z" % d for d in range(1, 8)]
    for rid in releases:
        fake_release(layout, rid)
    os.makedirs(layout.artifacts_dir)
    for rid in releases:
        Path(layout.artifact_path(rid)).write_bytes(b"x")
    rel.activate(layout, releases[2])  # current is old: a newer one was staged, then rolled back
    assert rel.prune_plan(layout, 2, protect=[releases[0]]) == [releases[3], releases[4]]
    pruned, _leftovers = rel.prune(layout, 2, protect=[releases[0]], check_mode=True)
    assert pruned == [releases[3], releases[4]] and layout.releases() == releases
    pruned, _leftovers = rel.prune(layout, 2, protect=[releases[0]])
    assert pruned == [releases[3], releases[4]]
    assert layout.releases() == [releases[0], releases[1], releases[2], releases[5], releases[6]]
    assert sorted(os.listdir(layout.artifacts_dir)) == sorted("%s.tar.gz" % r for r in layout.releases())
    assert layout.leftovers() == []
    with pytest.raises(rel.ReleaseError, match="keep_releases must be 1 or more, got 0"):
        rel.prune_plan(layout, 0)


def test_prune_removes_leftovers_of_crashed_runs(rel, layout):
    fake_release(layout, R1)
    os.makedirs(os.path.join(layout.partial_path(R2), "venv"))
    os.makedirs(os.path.join(layout.releases_dir, ".%s.removing" % R3))
    assert rel.prune(layout, 5) == ([], [".%s.partial" % R2, ".%s.removing" % R3])
    assert os.listdir(layout.releases_dir) == [R1]


def test_remove_release_refuses_current(rel, layout):
    fake_release(layout, R1)
    fake_release(layout, R2)
    rel.activate(layout, R2)
    with pytest.raises(rel.ReleaseError, match="release %s is current: activate or roll back" % R2):
        rel.remove_release(layout, R2)
    assert rel.remove_release(layout, R1) is True
    assert rel.remove_release(layout, R1) is False
    assert layout.releases() == [R2]


# --------------------------------------------------------------------------- deploy lock


def test_lock_acquire_refuse_force_release(rel, tmp_path):
    path = str(tmp_path / "srv" / APP / ".deploy.lock")
    changed, lock, broken = rel.acquire_lock(path, "alice@laptop", "run-a", R1)
    assert (changed, broken) == (True, None)
    assert json.loads(Path(path).read_text())["holder"] == "alice@laptop"
    assert rel.acquire_lock(path, "alice@laptop", "run-a", R1)[0] is False
    with pytest.raises(rel.LockHeld) as err:
        rel.acquire_lock(path, "bob@ci", "run-b", R2)
    assert str(err.value) == (
        "deploy lock held by alice@laptop since %s for release %s (run run-a); wait for it or re-run with"
        " flask_app_force_unlock=true to break it" % (lock["time"], R1)
    )
    with pytest.raises(rel.LockHeld, match="belongs to run run-a of alice@laptop, not to run run-b"):
        rel.release_lock(path, "run-b")
    changed, lock, broken = rel.acquire_lock(path, "bob@ci", "run-b", R2, force=True)
    assert broken["run_id"] == "run-a" and lock["run_id"] == "run-b"
    assert rel.release_lock(path, "run-b") == (True, lock)
    assert rel.release_lock(path, "run-b") == (False, None)
    assert os.listdir(os.path.dirname(path)) == []


def test_unreadable_lock_is_reported_not_ignored(rel, tmp_path):
    path = tmp_path / ".deploy.lock"
    path.write_text("{half-written")
    with pytest.raises(rel.LockHeld, match=r"deploy lock held by unknown \(unreadable lock file\)"):
        rel.acquire_lock(str(path), "bob@ci", "run-b", R1)
    assert rel.acquire_lock(str(path), "bob@ci", "run-b", R1, force=True)[0] is True
