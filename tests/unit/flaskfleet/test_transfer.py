"""flaskfleet.transfer: local scanning, target paths, parsing remote sums, the finishing script.

The finishing script is also run for real here with ``sh`` on local files: it must rename only a
file whose sha256 matches and leave the target untouched otherwise.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from flaskfleet.transfer import LocalFile, LocalTree, TransferError, _finish_script, parse_sums, remote_target


def test_scan_file_and_directory(tmp_path):
    (tmp_path / "app" / "bin").mkdir(parents=True)
    (tmp_path / "app" / "a.txt").write_text("hello\n")
    (tmp_path / "app" / "bin" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "app" / "bin" / "run").chmod(0o750)
    (tmp_path / "app" / "bin").chmod(0o711)
    tree = LocalTree.scan(str(tmp_path / "app"))
    assert tree.is_dir and [f.rel for f in tree.files] == ["a.txt", "bin/run"]
    assert tree.files[0].sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert tree.files[1].mode == 0o750 and tree.dirs == (("bin", 0o711),)
    single = LocalTree.scan(str(tmp_path / "app" / "a.txt"))
    assert not single.is_dir and single.files[0].rel == "a.txt" and single.total_bytes == 6


def test_scan_refuses_missing_path():
    with pytest.raises(TransferError, match=r"^local path /no/such/file does not exist$"):
        LocalTree.scan("/no/such/file")


def test_remote_target_rules(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x")
    f = LocalTree.scan(str(tmp_path / "f.bin"))
    assert remote_target(f, "/srv/x/g.bin") == ("/srv/x", {"f.bin": "g.bin"})
    assert remote_target(f, "/srv/x/") == ("/srv/x", {"f.bin": "f.bin"})
    d = LocalTree.scan(str(tmp_path))
    assert remote_target(d, "/srv/x/") == ("/srv/x", {"f.bin": "f.bin"})
    with pytest.raises(TransferError, match="remote path is empty"):
        remote_target(f, "")


def test_parse_sums():
    out = f"{'a' * 64}  x.txt\n{'b' * 64}  sub/y\n==\n644 x.txt\n755 sub/y\n"
    assert parse_sums(out) == {"x.txt": ("a" * 64, 0o644), "sub/y": ("b" * 64, 0o755)}
    assert parse_sums("==\n") == {}


def _file(path, rel, data: bytes, mode=0o640) -> LocalFile:
    return LocalFile(rel, path, len(data), mode, hashlib.sha256(data).hexdigest())


def test_finish_script_renames_only_verified_files(tmp_path):
    (tmp_path / ".good.ff-tmp-1").write_bytes(b"new")
    (tmp_path / ".good.ff-tmp-old").write_bytes(b"leftover of an interrupted put")
    (tmp_path / ".bad.ff-tmp-2").write_bytes(b"truncat")
    (tmp_path / "bad").write_bytes(b"old content")
    moves = [
        (".good.ff-tmp-1", _file(tmp_path / "src", "good", b"new"), "good"),
        (".bad.ff-tmp-2", _file(tmp_path / "src", "bad", b"truncated"), "bad"),
    ]
    proc = subprocess.run(["sh", "-s"], input=_finish_script(str(tmp_path), moves, [], ()), text=True,
                          capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "checksum mismatch after upload: bad"
    assert (tmp_path / "good").read_bytes() == b"new" and oct((tmp_path / "good").stat().st_mode & 0o777) == "0o640"
    assert (tmp_path / "bad").read_bytes() == b"old content"  # target untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good"]  # no temp files left
