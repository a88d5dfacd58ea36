"""flaskfleet.remote: the host programs are real modules; their functions are tested directly here
(test_transfer.py runs them whole, the way a host does)."""

from __future__ import annotations

import ast
import hashlib

import pytest

from flaskfleet import remote
from flaskfleet.remote import listing, put


@pytest.mark.parametrize("name", remote.PROGRAMS)
def test_each_program_is_one_valid_python_source_that_needs_no_flaskfleet(name):
    source = remote.program(name)
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"contextlib", "errno", "hashlib", "json", "os", "stat", "sys"}
    assert source.index("def sha(") < source.index("def main(")  # the common helpers come first
    assert remote.command(name).startswith("python3 -c '")


def test_an_unknown_program_is_refused():
    with pytest.raises(ValueError, match="no host program called 'nope'"):
        remote.program("nope")


def test_clear_stale_removes_only_temps_of_the_renamed_targets(tmp_path):
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / f".a.txt{put.MARK}dead").write_text("old temp")
    (tmp_path / f".b.txt{put.MARK}dead").write_text("another target's temp")
    put.clear_stale([str(tmp_path / "a.txt")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".b.txt{put.MARK}dead", "a.txt"]


def test_temp_path_is_hidden_beside_its_target():
    assert put.temp_path({"token": "t0k"}, {"target": "dir/app.whl"}) == f"dir/.app.whl{put.MARK}t0k"


def test_walk_lists_regular_files_sorted_with_sum_mode_size(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_bytes(b"xx")
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    files = listing.walk(str(tmp_path))
    assert list(files) == ["a", "b/x"]
    assert files["b/x"][0] == hashlib.sha256(b"xx").hexdigest() and files["b/x"][2] == 2
