"""flaskfleet.transfer: local scanning, target paths, and the remote programs run for real.

The programs that run on a host (observe, receive + verify + rename, list, send) are plain
``python3`` scripts; here they run with the local ``python3`` on temp directories, fed exactly the
bytes ``put``/``get`` send them, and the tests look at the files they leave behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from flaskfleet.inventory import Host
from flaskfleet.remote import program
from flaskfleet.ssh import CommandTimeout
from flaskfleet.transfer import (
    LocalFile,
    LocalTree,
    PayloadCache,
    TransferError,
    _last_words,
    decide,
    manifest,
    needs_connection,
    put,
    remote_target,
    stream_chunks,
)


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


def test_scan_follows_symlinks_to_files_and_directories(tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "x.txt").write_text("x\n")
    (outside / "shared.cfg").write_text("cfg\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "cfg").symlink_to(outside / "shared.cfg")
    (src / "lib").symlink_to(outside / "deep")
    tree = LocalTree.scan(str(src))
    assert [(f.rel, f.sha256) for f in tree.files] == [
        ("cfg", hashlib.sha256(b"cfg\n").hexdigest()),
        ("lib/x.txt", hashlib.sha256(b"x\n").hexdigest()),
    ]
    assert [d for d, _ in tree.dirs] == ["lib"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda src: (src / "dangling").symlink_to(src / "gone"),
            r"holds a broken symlink: dangling; fix or remove it$",
        ),
        (lambda src: (src / "up").symlink_to(src), r"holds a symlink loop: up points to .*/src; remove it$"),
        (lambda src: os.mkfifo(src / "pipe"), r"holds pipe, which is not a regular file; remove it$"),
    ],
    ids=["broken-link", "loop", "fifo"],
)
def test_scan_refuses_what_cannot_be_sent(tmp_path, make, message):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("ok\n")
    make(src)
    with pytest.raises(TransferError, match=rf"^local path {src} {message}"):
        LocalTree.scan(str(src))


def test_remote_target_rules(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x")
    f = LocalTree.scan(str(tmp_path / "f.bin"))
    assert remote_target(f, "/srv/x/g.bin") == ("/srv/x", {"f.bin": "g.bin"})
    assert remote_target(f, "/srv/x/") == ("/srv/x", {"f.bin": "f.bin"})
    d = LocalTree.scan(str(tmp_path))
    assert remote_target(d, "/srv/x/") == ("/srv/x", {"f.bin": "f.bin"})
    with pytest.raises(TransferError, match="remote path is empty"):
        remote_target(f, "")


def run_remote(script: str, stdin: bytes) -> subprocess.CompletedProcess:
    """Run one of the host-side programs the way the host does (``python3 -c``), locally."""
    # NOTE: -I -S: no site-packages, as on a host without flaskfleet: the programs must not need it.
    return subprocess.run([sys.executable, "-I", "-S", "-c", script], input=stdin, capture_output=True, check=False)


def test_observe_creates_directories_and_reports_sums_and_modes(tmp_path):
    root = tmp_path / "target"
    (root / "a").mkdir(parents=True)
    (root / "a" / "same.txt").write_bytes(b"same")
    (root / "a" / "same.txt").chmod(0o600)
    request = {"root": str(root), "dirs": ["a", "a/new", "b"], "names": ["a/same.txt", "a/missing.txt"]}
    proc = run_remote(program("put"), json.dumps(request).encode() + b"\n")  # then EOF: nothing to change
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(b"\n") == 1  # one line: the controller reads it before it decides
    state = json.loads(proc.stdout)
    assert state["files"] == {"a/same.txt": [hashlib.sha256(b"same").hexdigest(), 0o600]}
    assert set(state["dirs"]) == {"a", "a/new", "b"} and (root / "a" / "new").is_dir()


def test_observe_reports_a_file_in_the_way_in_one_line(tmp_path):
    (tmp_path / "blocker").write_text("")
    request = {"root": str(tmp_path / "blocker"), "dirs": [], "names": []}
    proc = run_remote(program("put"), json.dumps(request).encode() + b"\n")
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == f"error creating directory {tmp_path / 'blocker'}: File exists"


def local_tree(tmp_path, files: dict[str, tuple[bytes, int]]) -> list[LocalFile]:
    """Write ``files`` under ``tmp_path/src`` and describe them as put does."""
    described = []
    for rel, (data, mode) in files.items():
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        described.append(LocalFile(rel, path, len(data), mode, hashlib.sha256(data).hexdigest()))
    return described


def receive(root, files: list[LocalFile], uploaded=None, chmods=(), dirs=(), payload=None):
    """Feed the put program what ``put`` sends when ``files`` all differ: the observe request, then
    the manifest and the bytes."""
    uploaded = uploaded or {}
    request = json.dumps({"root": str(root), "dirs": [], "names": []}).encode() + b"\n"
    header = manifest(str(root), [(f, f.rel) for f in files], uploaded, list(chmods), list(dirs))
    inline = [f for f in files if f.rel not in uploaded]
    data = payload if payload is not None else b"".join(stream_chunks(header, inline))
    return run_remote(program("put"), request + data)


def listing(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_receive_writes_verifies_and_renames_a_tree(tmp_path):
    root = tmp_path / "target"
    (root / "conf" / "d").mkdir(parents=True)
    (root / "conf" / "old.txt").write_bytes(b"old")
    (root / "conf" / ".old.txt.ff-tmp-0badf00d").write_bytes(b"left by an interrupted put")
    (root / "conf" / ".keep.ff-tmp-00000000").write_bytes(b"another file's temp: not ours to clear")
    files = local_tree(tmp_path, {
        "conf/old.txt": (b"new content", 0o640),
        "conf/d/run.sh": (b"#!/bin/sh\n" * 5000, 0o755),
        "top.txt": (b"", 0o600),
    })  # fmt: skip
    proc = receive(root, files, dirs=[("conf/d", 0o711)])
    assert proc.returncode == 0, proc.stderr
    assert (root / "conf" / "old.txt").read_bytes() == b"new content"
    assert (root / "conf" / "d" / "run.sh").read_bytes() == b"#!/bin/sh\n" * 5000
    modes = {rel: oct((root / rel).stat().st_mode & 0o777) for rel in ("conf/old.txt", "conf/d/run.sh", "top.txt")}
    assert modes == {"conf/old.txt": "0o640", "conf/d/run.sh": "0o755", "top.txt": "0o600"}
    assert oct((root / "conf" / "d").stat().st_mode & 0o777) == "0o711"
    assert listing(root) == ["conf", "conf/.keep.ff-tmp-00000000", "conf/d", "conf/d/run.sh", "conf/old.txt", "top.txt"]


def test_receive_replaces_nothing_when_one_checksum_is_wrong(tmp_path):
    root = tmp_path / "target"
    root.mkdir()
    (root / "a.txt").write_bytes(b"old a")
    (root / "b.txt").write_bytes(b"old b")
    files = local_tree(tmp_path, {"a.txt": (b"new a", 0o644), "b.txt": (b"new b", 0o644)})
    # The bytes that arrive for b.txt are not the ones we hashed (corrupted on the way).
    header = manifest(str(root), [(f, f.rel) for f in files], {}, [], [])
    payload = json.dumps(header).encode() + b"\n" + b"new a" + b"NEW B"
    proc = receive(root, files, payload=payload)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == f"checksum mismatch after upload: {root}/b.txt; nothing was replaced"
    assert (root / "a.txt").read_bytes() == b"old a" and (root / "b.txt").read_bytes() == b"old b"
    assert listing(root) == ["a.txt", "b.txt"]  # no temp files left


def test_receive_cut_off_mid_stream_leaves_old_files_and_no_temps(tmp_path):
    root = tmp_path / "target"
    root.mkdir()
    (root / "a.txt").write_bytes(b"old a")
    files = local_tree(tmp_path, {"a.txt": (b"A" * 100_000, 0o644), "b.txt": (b"B" * 100_000, 0o644)})
    whole = b"".join(stream_chunks(manifest(str(root), [(f, f.rel) for f in files], {}, [], []), files, PayloadCache()))
    proc = receive(root, files, payload=whole[: len(whole) - 50_000])  # the controller died half-way
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "transfer cut off before all data arrived; nothing was replaced"
    assert listing(root) == ["a.txt"] and (root / "a.txt").read_bytes() == b"old a"


def test_receive_verifies_files_uploaded_beforehand_and_fixes_modes(tmp_path):
    root = tmp_path / "target"
    root.mkdir()
    (root / "big.bin").write_bytes(b"old")
    (root / "same.txt").write_bytes(b"same")
    (root / "same.txt").chmod(0o644)
    (root / ".big.bin.ff-tmp-12345678").write_bytes(b"big new content")  # as scp left it
    files = local_tree(tmp_path, {"big.bin": (b"big new content", 0o600)})
    proc = receive(root, files, uploaded={"big.bin": ".big.bin.ff-tmp-12345678"}, chmods=[("same.txt", 0o600)])
    assert proc.returncode == 0, proc.stderr
    assert (root / "big.bin").read_bytes() == b"big new content"
    assert oct((root / "same.txt").stat().st_mode & 0o777) == "0o600"
    assert listing(root) == ["big.bin", "same.txt"]


def test_stream_stops_when_a_local_file_shrank(tmp_path):
    files = local_tree(tmp_path, {"a.txt": (b"12345", 0o644)})
    (tmp_path / "src" / "a.txt").write_bytes(b"12")
    with pytest.raises(TransferError, match=r"local file .*/a.txt changed during the transfer; run put again$"):
        list(stream_chunks({"root": "/x"}, files))


def test_list_and_send_a_tree_for_get(tmp_path):
    root = tmp_path / "site"
    (root / "bin").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<h1>hi</h1>\n")
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\n")
    (root / "bin" / "tool").chmod(0o750)
    proc = run_remote(program("listing"), json.dumps(str(root)).encode())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "dir": True,
        "files": {
            "bin/tool": [hashlib.sha256(b"#!/bin/sh\n").hexdigest(), 0o750, 10],
            "index.html": [
                hashlib.sha256(b"<h1>hi</h1>\n").hexdigest(),
                (root / "index.html").stat().st_mode & 0o777,
                12,
            ],
        },
    }
    sent = run_remote(program("send"), json.dumps({"root": str(root), "names": ["index.html", "bin/tool"]}).encode())
    assert sent.stdout == b"12\n<h1>hi</h1>\n10\n#!/bin/sh\n"
    missing = run_remote(program("listing"), json.dumps(str(root / "nope")).encode())
    assert missing.returncode == 1 and missing.stderr.decode().strip() == f"remote path {root}/nope does not exist"


def test_missing_python3_on_the_host_is_named():
    assert _last_words("sh: 1: python3: not found\n", "", 127) == (
        "python3 is not installed on the host; transfers need it (install the python3 package)"
    )
    assert _last_words("line one\nerror writing /x: Input/output error\n", "", 1) == (
        "error writing /x: Input/output error"
    )


def test_payload_is_read_once_for_all_hosts(tmp_path, monkeypatch):
    files = local_tree(tmp_path, {"a.txt": (b"aaa", 0o644), "b.txt": (b"bb", 0o644)})
    cache = PayloadCache()
    first = b"".join(bytes(c) for c in stream_chunks({"n": 1}, files, cache))
    assert first == b'{"n": 1}\naaabb'
    (tmp_path / "src" / "a.txt").write_bytes(b"zzz")  # not read again: the second host gets the same bytes
    assert b"".join(bytes(c) for c in stream_chunks({"n": 1}, files, cache)) == first
    monkeypatch.setattr("flaskfleet.transfer.PAYLOAD_CACHE_LIMIT", 4)  # too big to keep: read from disk
    assert cache.get(files) is None
    assert b"".join(bytes(c) for c in stream_chunks({"n": 1}, files, cache)) == b'{"n": 1}\nzzzbb'


def test_decide_sends_changed_chmods_mode_only_and_skips_the_rest(tmp_path):
    src = tmp_path / "app"
    (src / "bin").mkdir(parents=True)
    (src / "same.txt").write_text("same\n")
    (src / "mode.txt").write_text("mode\n")
    (src / "new.txt").write_text("new\n")
    (src / "bin").chmod(0o750)
    tree = LocalTree.scan(str(src))
    sums = {f.rel: f.sha256 for f in tree.files}
    current = {
        "files": {"same.txt": [sums["same.txt"], tree.files[2].mode], "mode.txt": [sums["mode.txt"], 0o600]},
        "dirs": {"bin": 0o755},
    }
    send, chmods, dir_modes = decide(tree, {f.rel: f.rel for f in tree.files}, current)
    assert [(f.rel, target) for f, target in send] == [("new.txt", "new.txt")]
    assert chmods == [("mode.txt", tree.files[0].mode)] and dir_modes == [("bin", 0o750)]


# -- the OpenSSH session: the same put, with ``ssh`` replaced by a stand-in on PATH that runs the
# remote command locally (``sh -c``) after recording its arguments. Everything else is real: the
# session code, the put program, the files. Over real SSH: tests/integration/tasks/test_tree_transfer.py.


@pytest.fixture
def local_ssh(tmp_path, monkeypatch):
    """A stand-in ``ssh`` that records its argv and pid, then runs its last argument locally."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "ssh-argv"
    script = bindir / "ssh"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\0' \"$@\" > {record}\n"
        f"echo $$ > {record}.pid\n"
        "for last; do :; done\n"
        'exec sh -c "$SSH_STANDIN_PREFIX$last"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("SSH_STANDIN_PREFIX", "")
    return record


HOST = Host("web-1", "127.0.0.1", 2201, "admin", "/keys/id_ed25519", "/keys/known_hosts")


def test_auto_put_runs_the_put_program_through_ssh_with_our_strict_options(tmp_path, local_ssh):
    src = tmp_path / "site"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hi</h1>\n")
    (src / "sub" / "tool").write_text("#!/bin/sh\n")
    (src / "sub" / "tool").chmod(0o750)
    target = tmp_path / "target"
    result = put(HOST, None, LocalTree.scan(str(src)), str(target), time.monotonic() + 30)
    assert (result.ok, result.changed, result.detail) == (True, True, {"sent": 2, "skipped": 0, "bytes": 22})
    assert (target / "index.html").read_text() == "<h1>hi</h1>\n"
    assert (target / "sub" / "tool").stat().st_mode & 0o777 == 0o750
    assert listing(target) == ["index.html", "sub", "sub/tool"]  # no temp files
    argv = local_ssh.read_text().split("\0")[:-1]
    assert argv[0] == "-T" and argv[argv.index("-p") + 1] == "2201"
    assert argv[argv.index("-i") + 1] == "/keys/id_ed25519"
    given = {argv[i + 1] for i, arg in enumerate(argv[:-3]) if arg == "-o"}
    assert {"BatchMode=yes", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/keys/known_hosts"} <= given
    assert argv[-3:-1] == ["--", "admin@127.0.0.1"] and argv[-1].startswith("python3 -c ")
    again = put(HOST, None, LocalTree.scan(str(src)), str(target), time.monotonic() + 30)
    assert (again.changed, again.detail["sent"], again.detail["skipped"]) == (False, 0, 2)


def test_auto_put_reports_the_host_programs_error_in_one_line(tmp_path, local_ssh):
    src = tmp_path / "site"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (tmp_path / "blocker").write_text("")
    with pytest.raises(TransferError) as caught:
        put(HOST, None, LocalTree.scan(str(src)), str(tmp_path / "blocker"), time.monotonic() + 30)
    assert str(caught.value) == f"error creating directory {tmp_path / 'blocker'}: File exists"


def test_auto_put_names_ssh_refusing_a_changed_host_key(tmp_path, local_ssh, monkeypatch):
    # What OpenSSH 9 prints (abridged) when the key differs from known_hosts, and its exit status.
    banner = "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.\n"
    monkeypatch.setenv("SSH_STANDIN_PREFIX", f"printf {banner!r} >&2; exit 255; ")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(TransferError) as caught:
        put(HOST, None, LocalTree.scan(str(tmp_path / "f.txt")), str(tmp_path / "out.txt"), time.monotonic() + 30)
    message = str(caught.value)
    assert message.startswith("web-1: HOST KEY CHANGED for [127.0.0.1]:2201 (/keys/known_hosts has another key); ")
    assert "refusing to connect, nothing was run" in message and "\n" not in message
    assert not (tmp_path / "out.txt").exists()


def test_auto_put_past_its_deadline_kills_ssh(tmp_path, local_ssh, monkeypatch):
    monkeypatch.setenv("SSH_STANDIN_PREFIX", "exec sleep 30; ")  # a host that never answers
    (tmp_path / "f.txt").write_text("x")
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="did not finish within the timeout"):
        put(HOST, None, LocalTree.scan(str(tmp_path / "f.txt")), str(tmp_path / "out.txt"), started + 1)
    assert time.monotonic() - started < 5
    pid = int(local_ssh.with_name("ssh-argv.pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: no orphan
        os.kill(pid, 0)


def test_fleet_put_takes_a_scanned_tree_without_reading_it_again(tmp_path, monkeypatch):
    from flaskfleet.group import Fleet

    (tmp_path / "a.txt").write_text("a")
    tree = LocalTree.scan(str(tmp_path))
    scans = []
    monkeypatch.setattr(LocalTree, "scan", classmethod(lambda cls, local: scans.append(local)))
    assert Fleet([]).put(tree, "/srv/x") == [] and scans == []
    Fleet([]).put(str(tmp_path), "/srv/x")
    assert scans == [str(tmp_path)]


def test_fleet_put_under_auto_logs_in_once_per_host_through_ssh(tmp_path, local_ssh, monkeypatch):
    from flaskfleet.group import Fleet

    def no_paramiko(self, host, deadline=None):
        raise AssertionError(f"paramiko connection opened to {host.name}")

    monkeypatch.setattr(Fleet, "connection", no_paramiko)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    with Fleet([HOST]) as fleet:
        [result] = fleet.put(str(tmp_path / "src"), str(tmp_path / "out"))
    assert (result.ok, result.error, result.detail["sent"]) == (True, None, 1)
    assert (tmp_path / "out" / "a.txt").read_text() == "a"
    assert needs_connection("sftp") and needs_connection("scp") and not needs_connection("auto")
