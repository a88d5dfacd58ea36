"""Directory trees through ``flaskfleet put``/``get`` over real SSH, against two local hosts.

``put`` under the default ``auto`` method runs its host program through an OpenSSH ``ssh``
process; without ``ssh`` on PATH (or with ``-m sftp``/``-m scp``) through the paramiko connection.
Both paths are run here.

The second host has a small tmpfs at ``/srv/small`` (owned by the login user) to fill up. What
ends up on a host is read out of band with ``docker exec``, never through the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from localhosts import LocalHosts, start_container

from flaskfleet.inventory import Host
from flaskfleet.transfer import LocalTree, TransferError, put

pytestmark = pytest.mark.docker
BIN = Path(sys.executable).parent
SMALL = "/srv/small"


class TreeHosts(LocalHosts):
    """``t-xfer-1`` and ``t-xfer-2``; the second with a 3 MiB tmpfs at /srv/small."""

    def create(self, name: str) -> None:
        small = ["--tmpfs", f"{SMALL}:size=3m,uid=1000,gid=1000,mode=0755"] if name == self.names[-1] else []
        start_container(name, self.app, self.group, *small)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    fleet = TreeHosts("t-xfer", 2, tmp_path_factory.mktemp("xfer"), app="t-xfer")
    try:
        yield fleet.start()
    finally:
        fleet.remove()


def ff(hosts: LocalHosts, *args: str, path: str = f"{BIN}:/usr/bin:/bin") -> subprocess.CompletedProcess:
    """``flaskfleet ARGS -i <the hosts' inventory>`` as a user runs it (``path``: its PATH)."""
    env = {"PATH": path, "COLUMNS": "220", "NO_COLOR": "1", "HOME": str(hosts.workdir)}
    return subprocess.run(
        [str(BIN / "flaskfleet"), *args, "-i", str(hosts.inventory)],
        cwd=hosts.workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def rows(proc) -> dict[str, dict]:
    assert "Traceback" not in proc.stdout + proc.stderr
    return {r["host"]: r for r in json.loads(proc.stdout)}


def make_tree(root: Path, count: int, seed: int = 0, size: int = 3000) -> None:
    """``count`` files of about ``size`` bytes in nested directories (three levels)."""
    for i in range(count):
        path = root / f"d{i % 5}" / f"e{i % 3}" / f"f{i:04d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(f"{seed}-{i}".encode()).digest() * (size // 32))


def local_state(root: Path) -> dict[str, str]:
    """``{relative path: "mode sha256"}`` of every file and ``{dir: mode}`` of every directory."""
    state = {}
    found = [Path(d) / n for d, subdirs, names in os.walk(root, followlinks=True) for n in subdirs + names]
    for path in sorted(found):
        rel = str(path.relative_to(root))
        mode = f"{path.stat().st_mode & 0o777:o}"
        state[rel] = f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}" if path.is_file() else mode
    return state


def remote_state(hosts: LocalHosts, name: str, root: str) -> dict[str, str]:
    """The same, read on the host with docker exec (files: mode and sha256; dirs: mode)."""
    script = (f"cd {root} && find . -mindepth 1 -type d -printf '%P %m\\n' && "
              "find . -type f -printf '%P %m ' -exec sh -c 'sha256sum < \"$1\" | cut -c1-64' _ {} \\;")  # fmt: skip
    state = {}
    for line in hosts.exec(name, script).splitlines():
        rel, _, rest = line.partition(" ")
        state[rel] = rest
    return state


def test_tree_with_nested_dirs_modes_and_symlinks_lands_and_then_is_skipped(hosts, tmp_path):
    src = tmp_path / "site"
    make_tree(src, 40)
    (src / "d2" / "e1" / "f0007.dat").chmod(0o750)
    (src / "d3").chmod(0o700)
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "lib" / "util.py").write_text("print('util')\n")
    (outside / "settings.cfg").write_text("debug = false\n")
    (src / "settings.cfg").symlink_to(outside / "settings.cfg")  # symlinks are followed
    (src / "lib").symlink_to(outside / "lib")
    first = ff(hosts, "put", str(src), "/tmp/ff-tree", "--json")
    assert first.returncode == 0, first.stderr
    assert {n: (r["changed"], r["detail"]["sent"]) for n, r in rows(first).items()} == {
        n: (True, 42) for n in hosts.names
    }
    want = local_state(src)  # reads through the links: what the host must hold as regular files
    assert want["settings.cfg"].endswith(hashlib.sha256(b"debug = false\n").hexdigest())
    for name in hosts.names:
        assert remote_state(hosts, name, "/tmp/ff-tree") == want
        assert hosts.exec(name, "find /tmp/ff-tree -type l -o -name '*.ff-tmp-*'") == ""  # no links, no temps

    again = ff(hosts, "put", str(src), "/tmp/ff-tree", "--json")
    assert again.returncode == 0, again.stderr
    assert {n: (r["changed"], r["detail"]["sent"], r["detail"]["skipped"]) for n, r in rows(again).items()} == {
        n: (False, 0, 42) for n in hosts.names
    }


def test_changed_file_in_a_big_tree_is_the_only_one_rewritten(hosts, tmp_path):
    src = tmp_path / "big"
    make_tree(src, 600, seed=1, size=1000)
    assert ff(hosts, "put", str(src), "/tmp/ff-big").returncode == 0
    inodes = "cd /tmp/ff-big && find . -type f -printf '%P %i\\n' | sort"
    before = {n: dict(line.split() for line in hosts.exec(n, inodes).splitlines()) for n in hosts.names}
    changed = src / "d2" / "e1" / "f0007.dat"
    changed.write_bytes(b"changed\n")
    changed.chmod(0o600)
    proc = ff(hosts, "put", str(src), "/tmp/ff-big", "--json")
    assert proc.returncode == 0, proc.stderr
    details = {n: r["detail"] for n, r in rows(proc).items()}
    assert details == {n: {"sent": 1, "skipped": 599, "bytes": 8} for n in hosts.names}
    for name in hosts.names:
        after = dict(line.split() for line in hosts.exec(name, inodes).splitlines())
        assert {rel for rel in after if after[rel] != before[name][rel]} == {"d2/e1/f0007.dat"}
        assert hosts.exec(name, "stat -c '%a' /tmp/ff-big/d2/e1/f0007.dat; cat /tmp/ff-big/d2/e1/f0007.dat") == (
            "600\nchanged"
        )


@pytest.fixture
def no_ssh_path(tmp_path) -> str:
    """A PATH with the venv's tools but no OpenSSH client: put falls back to the paramiko channel."""
    bindir = tmp_path / "no-ssh-bin"
    bindir.mkdir()
    for tool in ("sh", "env", "cat"):
        (bindir / tool).symlink_to(f"/bin/{tool}")
    return f"{BIN}:{bindir}"


@pytest.mark.parametrize("via", ["openssh", "paramiko"])
def test_full_disk_midway_leaves_the_previous_tree_and_no_temp_files(hosts, tmp_path, via, no_ssh_path):
    small = hosts.names[-1]
    old, new = tmp_path / "v1", tmp_path / "v2"
    make_tree(old, 30, seed=2, size=30_000)  # ~0.9 MB
    make_tree(new, 90, seed=3, size=30_000)  # ~2.7 MB of changed files: temps + old tree > 3 MiB
    target = f"{SMALL}/site"
    path = {"openssh": f"{BIN}:/usr/bin:/bin", "paramiko": no_ssh_path}[via]
    first = ff(hosts, "put", str(old), target, "-H", small, path=path)
    assert first.returncode == 0, first.stdout + first.stderr
    proc = ff(hosts, "put", str(new), target, "-H", small, "--json", path=path)
    assert proc.returncode == 1
    error = rows(proc)[small]["error"]
    assert error.startswith(f"disk full on the host: no space left writing {target}/d"), error
    assert error.endswith(".dat") and "\n" not in error
    assert proc.stderr.strip() == f"flaskfleet: 1 of 1 hosts failed: {small}"
    assert remote_state(hosts, small, target) == local_state(old)  # the old tree, untouched
    assert hosts.exec(small, f"find {SMALL} -name '*.ff-tmp-*'") == ""
    hosts.exec(small, f"rm -rf {target}")


def test_permission_denied_and_missing_source_are_one_line(hosts, tmp_path):
    src = tmp_path / "tiny"
    make_tree(src, 2)
    proc = ff(hosts, "put", str(src), "/root/ff-denied", "--json")
    assert proc.returncode == 1
    assert {r["error"] for r in rows(proc).values()} == {
        "permission denied creating directory /root/ff-denied (Permission denied)"
    }
    missing = ff(hosts, "put", str(tmp_path / "nothing"), "/tmp/x")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == f"flaskfleet: local path {tmp_path / 'nothing'} does not exist"


def test_get_tree_from_each_host_into_its_folder_then_skips(hosts, tmp_path):
    for name in hosts.names:
        setup = ("mkdir -p /tmp/ff-get/sub && uname -n > /tmp/ff-get/sub/who && chmod 640 /tmp/ff-get/sub/who"
                 " && head -c 300000 /dev/urandom > /tmp/ff-get/blob && chown -R admin: /tmp/ff-get")  # fmt: skip
        hosts.exec(name, setup)
    dest = tmp_path / "fetched"
    proc = ff(hosts, "get", "/tmp/ff-get", "-d", str(dest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {n: r["detail"]["fetched"] for n, r in rows(proc).items()} == {n: 2 for n in hosts.names}
    for name in hosts.names:
        who = dest / name / "ff-get" / "sub" / "who"
        assert who.read_text() == f"{name}\n" and who.stat().st_mode & 0o777 == 0o640
        blob_sum = hosts.exec(name, "sha256sum /tmp/ff-get/blob | cut -c1-64")
        assert hashlib.sha256((dest / name / "ff-get" / "blob").read_bytes()).hexdigest() == blob_sum
        assert not [p for p in (dest / name).rglob("*") if ".ff-tmp-" in p.name]
    again = ff(hosts, "get", "/tmp/ff-get", "-d", str(dest), "--json")
    assert {n: (r["changed"], r["detail"]["skipped"]) for n, r in rows(again).items()} == {
        n: (False, 2) for n in hosts.names
    }


@pytest.mark.parametrize("method", ["sftp", "scp"])
def test_forced_methods_land_the_same_tree_through_the_same_verification(hosts, tmp_path, method):
    src = tmp_path / "forced"
    make_tree(src, 6, seed=4)
    (src / "d1" / "e1" / "f0001.dat").chmod(0o700)
    target = f"/tmp/ff-forced-{method}"
    proc = ff(hosts, "put", str(src), target, "-m", method, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {n: r["detail"]["sent"] for n, r in rows(proc).items()} == {n: 6 for n in hosts.names}
    for name in hosts.names:
        assert remote_state(hosts, name, target) == local_state(src)
        assert hosts.exec(name, f"find {target} -name '*.ff-tmp-*'") == ""


def test_openssh_stream_refuses_a_changed_host_key_and_writes_nothing(hosts, tmp_path):
    name, other = hosts.names
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{hosts.ports[name]} {hosts.keys[other]}\n")  # a real key, of another host
    host = Host(name, "127.0.0.1", hosts.ports[name], "admin", str(hosts.key_file), str(known))
    src = tmp_path / "site"
    make_tree(src, 3, seed=5)
    with pytest.raises(TransferError) as caught:  # no paramiko connection: the ssh process alone decides
        put(host, None, LocalTree.scan(str(src)), "/tmp/ff-keycheck", time.monotonic() + 60)
    message = str(caught.value)
    assert message.startswith(
        f"{name}: HOST KEY CHANGED for [127.0.0.1]:{hosts.ports[name]} ({known} has another key); "
        "refusing to connect, nothing was run. If the host was rebuilt, "
    ), message
    assert "\n" not in message
    assert hosts.exec(name, "test -e /tmp/ff-keycheck && echo there || echo absent") == "absent"
