"""module_utils/_release_artifact.py: safe paths, the manifest and every file's sha256, before anything is unpacked."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_artifact import verify_artifact
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError
from releasefakes import APP, R1, R2, link, make_artifact


def test_good_artifact_verifies(tmp_path):
    manifest, digest = verify_artifact(str(make_artifact(tmp_path / "a.tar.gz")), APP, R1)
    assert manifest["requirement"] == "hello==0.1.0"
    assert len(digest) == 64


def test_tampered_file_is_named(tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz", manifest={"files": {
        "wheels/hello-0.1.0-py3-none-any.whl": hashlib.sha256(b"wheel").hexdigest(),
        "static/style.css": hashlib.sha256(b"original").hexdigest(),
    }})  # fmt: skip
    with pytest.raises(ReleaseError, match=r"checksum mismatch for static/style.css \(manifest [0-9a-f]{12}"):
        verify_artifact(str(art), APP, R1)


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
def test_unsafe_or_inconsistent_artifacts_are_refused(tmp_path, extra, manifest, message):
    art = make_artifact(tmp_path / "a.tar.gz", manifest=manifest, extra=extra)
    with pytest.raises(ReleaseError) as err:
        verify_artifact(str(art), APP, R1)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_named(tmp_path):
    art = make_artifact(tmp_path / "a.tar.gz", manifest={"files": {"wheels/flask.whl": "0" * 64}}, files={})
    with pytest.raises(ReleaseError, match=r"file listed in the manifest is missing: wheels/flask.whl"):
        verify_artifact(str(art), APP, R1)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"plain text, not gzip", "is not a readable .tar.gz"), (None, "not found on this host: upload it first")],
)
def test_unreadable_artifacts(tmp_path, content, message):
    art = tmp_path / "a.tar.gz"
    if content is not None:
        art.write_bytes(content)
    with pytest.raises(ReleaseError, match=message):
        verify_artifact(str(art), APP, R1)


def test_truncated_artifact(tmp_path):
    files = {"wheels/big.whl": os.urandom(300_000)}
    art = make_artifact(tmp_path / "a.tar.gz", files=files)
    art.write_bytes(art.read_bytes()[:150_000])
    with pytest.raises(ReleaseError, match=r"a.tar.gz is (not a readable .tar.gz|truncated or corrupt)"):
        verify_artifact(str(art), APP, R1)


def test_archive_without_manifest(tmp_path):
    art = tmp_path / "a.tar.gz"
    with tarfile.open(art, "w:gz") as tar:
        info = tarfile.TarInfo("wheels/x.whl")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ReleaseError, match=r"has no manifest.json: build it with flaskfleet.artifact"):
        verify_artifact(str(art), APP, R1)
