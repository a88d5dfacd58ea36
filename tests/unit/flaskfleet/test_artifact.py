"""flaskfleet.artifact: real wheelhouse builds of the example apps, reproducibility, clear errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from flaskfleet import artifact as art

ROOT = Path(__file__).resolve().parents[3]
HELLO = ROOT / "examples" / "hello"
WIDGET = ROOT / "examples" / "widget"
RID = "20261129T101500Z"


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> art.Artifact:
    """The hello app built once for the module."""
    return art.build(HELLO, tmp_path_factory.mktemp("hello"), release_id=RID)


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def _read(path: Path, name: str) -> bytes:
    with tarfile.open(path, "r:gz") as tar:
        return tar.extractfile(name).read()


def test_hello_artifact_holds_manifest_wheels_and_static(hello):
    assert hello.path.name == f"hello-{RID}.tar.gz"
    assert hello.sha256 == hashlib.sha256(hello.path.read_bytes()).hexdigest()
    manifest = json.loads(_read(hello.path, "manifest.json"))
    assert manifest == hello.manifest
    assert {k: manifest[k] for k in ("app", "version", "release_id", "wsgi", "requirement", "static", "python")} == {
        "app": "hello",
        "version": "0.1.0",
        "release_id": RID,
        "wsgi": "hello:create_app()",
        "requirement": "hello==0.1.0",
        "static": "static",
        "python": "%d.%d" % sys.version_info[:2],
    }
    assert manifest["created"] == "2026-11-29T10:15:00Z"
    wheels = sorted(n for n in manifest["files"] if n.startswith("wheels/"))
    names = {w.split("/")[1].split("-")[0].lower() for w in wheels}
    assert {"hello", "flask", "gunicorn", "werkzeug", "jinja2", "click", "itsdangerous", "markupsafe"} <= names
    assert "static/style.css" in manifest["files"]


def test_manifest_lists_the_sha256_of_every_file(hello):
    with tarfile.open(hello.path, "r:gz") as tar:
        files = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar if m.isfile()}
    files.pop("manifest.json")
    assert files == hello.manifest["files"]


def test_archive_is_normalised(hello):
    members = _members(hello.path)
    assert members[0].name == "manifest.json"
    names = [m.name for m in members[1:]]
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mtime for m in members} == {1795947300}  # 2026-11-29T10:15:00Z, the release id's time
    raw = hello.path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0


def test_same_input_and_release_id_give_identical_bytes(hello, tmp_path):
    again = art.build(HELLO, tmp_path, release_id=RID)
    assert again.path.read_bytes() == hello.path.read_bytes()
    assert again.sha256 == hello.sha256


def test_source_date_epoch_fixes_mtimes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    built = art.build(HELLO, tmp_path, release_id="20261129T101501Z-ci")
    assert {m.mtime for m in _members(built.path)} == {1700000000}
    assert built.manifest["release_id"] == "20261129T101501Z-ci"
    app_wheel = next(n for n in built.manifest["files"] if n.startswith("wheels/hello-"))
    with zipfile.ZipFile(io.BytesIO(_read(built.path, app_wheel))) as whl:
        assert {i.date_time[:3] for i in whl.infolist()} == {(2023, 11, 14)}  # the app wheel is reproducible too


def test_build_leaves_the_app_directory_untouched(hello):
    leftovers = [p.name for p in HELLO.rglob("*") if p.name in {"build", "dist"} or p.name.endswith(".egg-info")]
    assert leftovers == []


@pytest.fixture(scope="module")
def widget(tmp_path_factory) -> art.Artifact:
    """The widget app (requirements.txt + flat module) built once for the module."""
    return art.build(WIDGET, tmp_path_factory.mktemp("widget"), release_id=RID)


def test_requirements_only_app_is_wrapped_into_a_wheel(widget):
    assert widget.app == "widget"
    assert widget.manifest["wsgi"] == "widget_app:application"
    assert widget.manifest["requirement"] == "widget==2.4.0"
    assert "static/widget.css" in widget.manifest["files"]
    wheel = next(n for n in widget.manifest["files"] if n.startswith("wheels/widget-2.4.0-"))
    with zipfile.ZipFile(io.BytesIO(_read(widget.path, wheel))) as whl:
        assert "widget_app.py" in whl.namelist()
        metadata = whl.read("widget-2.4.0.dist-info/METADATA").decode()
    assert "Requires-Dist: Flask==3.1.3" in metadata
    assert "Requires-Dist: gunicorn==27.0.1" in metadata


def test_default_release_id_is_utc_timestamp():
    assert art.RELEASE_ID_RE.match(art.new_release_id())
    assert art.new_release_id("canary").endswith("-canary")
    with pytest.raises(art.ArtifactError, match="invalid release id suffix"):
        art.new_release_id("no/slashes")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"release_id": "2026-11-29"}, "invalid release id '2026-11-29': expected YYYYMMDDTHHMMSSZ"),
        ({"wsgi": "not an entry point"}, "invalid WSGI entry point 'not an entry point'"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(art.ArtifactError, match=message):
        art.build(HELLO, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_directory_without_an_app_is_refused(tmp_path):
    (tmp_path / "README").write_text("not an app")
    with pytest.raises(art.ArtifactError, match=r"no Python app in .*: expected a pyproject.toml or a requirements"):
        art.build(tmp_path, tmp_path / "out")
    with pytest.raises(art.ArtifactError, match=r"app directory .*missing does not exist"):
        art.build(tmp_path / "missing", tmp_path / "out")


def test_app_without_entry_point_asks_for_wsgi(tmp_path):
    (tmp_path / "requirements.txt").write_text("Flask==3.1.3\n")
    (tmp_path / "tool.py").write_text("def helper():\n    return 1\n")
    with pytest.raises(art.ArtifactError, match=r"cannot find the WSGI entry point .*pass --wsgi MODULE:OBJECT"):
        art.build(tmp_path, tmp_path / "out")


def test_unresolvable_requirement_fails_with_pips_reason(tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    (app / "requirements.txt").write_text("flaskfleet-no-such-package-xyz==1.0\n")
    (app / "broken_app.py").write_text("app = object()\n")
    with pytest.raises(art.ArtifactError) as err:
        art.build(app, tmp_path / "out", release_id=RID)
    assert str(err.value).startswith("pip wheel failed for broken: ")
    assert "flaskfleet-no-such-package-xyz" in str(err.value)
    assert not list((tmp_path / "out").glob("*.tar.gz"))


def test_cli_builds_with_explicit_name_and_entry_point(tmp_path):
    """``--app-name`` renames the app on the host; pip still installs the project's distribution."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "flaskfleet.artifact", "build", str(HELLO), "--out", str(tmp_path),
           "--release-id", RID, "--app-name", "greeter", "--wsgi", "wsgi_unused:app", "--json"]  # fmt: skip
    summary = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    assert summary["path"] == str(tmp_path / f"greeter-{RID}.tar.gz")
    assert summary["sha256"] == hashlib.sha256(Path(summary["path"]).read_bytes()).hexdigest()
    assert summary["manifest"]["app"] == "greeter"
    assert summary["manifest"]["requirement"] == "hello==0.1.0"
    assert summary["manifest"]["wsgi"] == "wsgi_unused:app"
    cmd = [sys.executable, "-m", "flaskfleet.artifact", "show", summary["path"]]
    shown = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    assert shown["release_id"] == RID
    assert len(shown["files"]) == summary["files"]


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "flaskfleet.artifact", "build", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"flaskfleet.artifact: error: no Python app in {tmp_path}: expected a pyproject.toml or a requirements.txt"
    ]


def test_read_manifest_refuses_other_files(tmp_path):
    bogus = tmp_path / "x.tar.gz"
    with gzip.open(bogus, "wb") as fh:
        fh.write(b"not a tar")
    with pytest.raises(art.ArtifactError, match="is not a flaskfleet artifact"):
        art.read_manifest(bogus)


NOGUNICORN = ROOT / "tests" / "integration" / "deploy" / "apps" / "nogunicorn"


def test_an_app_that_brings_gunicorn_gets_nothing_added(hello):
    assert "extra_requirements" not in hello.manifest
    assert len([n for n in hello.manifest["files"] if n.startswith("wheels/gunicorn-")]) == 1


def test_an_app_without_gunicorn_gets_the_pinned_one(tmp_path):
    built = art.build(NOGUNICORN, tmp_path, release_id=RID)
    assert built.manifest["extra_requirements"] == [art.WSGI_SERVER_PIN]
    version = art.WSGI_SERVER_PIN.split("==")[1]
    assert f"wheels/gunicorn-{version}-py3-none-any.whl" in built.manifest["files"]
    assert json.loads(_read(built.path, "manifest.json"))["extra_requirements"] == [art.WSGI_SERVER_PIN]


def test_a_wsgi_server_that_cannot_be_added_is_refused_at_build_time(tmp_path, monkeypatch):
    monkeypatch.setattr(art, "WSGI_SERVER_PIN", "gunicorn==999.0.0")
    with pytest.raises(art.ArtifactError) as refused:
        art.build(NOGUNICORN, tmp_path / "out", release_id=RID)
    message = str(refused.value)
    assert message.startswith("the app does not depend on gunicorn, which its unit runs, and gunicorn==999.0.0 could")
    assert message.endswith(": add gunicorn to the app's dependencies")
    assert "\n" not in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
