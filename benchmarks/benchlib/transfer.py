"""Measurement 2, transfer: a big file and a tree of small files to N hosts.

Floors: ``scp`` (big file) and ``rsync`` (tree) over OpenSSH, one process per host, all hosts in
parallel (``xargs -P N``). Before each timing the remote directory is emptied (untimed); after
it every host is checked: size (file) or file count and bytes (tree) on all hosts, and a content
checksum on the first and the last host.
"""

from __future__ import annotations

import hashlib
import os
import random
import shlex
import shutil
from pathlib import Path

from benchlib.env import DRIVERS, ROOT, VENV_BIN, WORK, BenchError, Proc, base_env, run
from benchlib.timing import Method

REMOTE = "/tmp/ffbench-xfer"
PAYLOAD = WORK / "payload"


def _xargs(fleet, n: int, argv_tail: list[str], timeout: float = 1200) -> Proc:
    """``xargs -P n`` over the first n hosts' ports, ``{}`` standing for the port."""
    return run(["xargs", "-P", n, "-I{}", "-a", fleet.host_list(n), *argv_tail], timeout=timeout)


def _ssh_all(fleet, n: int, command: str) -> Proc:
    """One ssh per host in parallel, output lines prefixed with the port."""
    ssh = shlex.join(["ssh", *fleet.ssh_opts()])
    script = f'{ssh} -p "$1" admin@127.0.0.1 {shlex.quote(command)} | sed "s/^/$1 /"'
    return _xargs(fleet, n, ["sh", "-c", script, "sh", "{}"], timeout=600)


class _Transfer:
    """Common shape of the two transfer measurements."""

    KEY = ""
    TITLE = ""
    FLOOR = ""
    NOTE = "All hosts in parallel; throughput ratio = floor time / method time."
    # A transfer 5x slower than scp/rsync (at least 60 s) is stopped: the goal (>= 0.8x the
    # floor's throughput) is missed by then, and N=50 rounds stay within minutes.
    LIMIT_FACTOR = 5
    LIMIT_MIN = 60.0

    def local(self, ctx) -> Path:  # pragma: no cover - overridden
        raise NotImplementedError

    def verify_command(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def expected(self, ctx) -> tuple[str, str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def setup(self, ctx) -> None:
        """Make the payload (once) and learn what every host must hold."""
        self.expected(ctx)

    def methods(self, ctx, n: int) -> list[Method]:
        """scp, rsync, flaskfleet put, invoke put, Fabric put at size n."""
        fleet, local = ctx.fleet, self.local(ctx)
        inv = fleet.ansible_inventory(n)
        opts = fleet.ssh_opts()
        ssh_cmd = shlex.join(["ssh", *opts])
        recurse = ["-r"] if local.is_dir() else []
        dest = f"{REMOTE}/{local.name}"

        def prepare() -> None:
            _ssh_all(fleet, n, f"rm -rf {REMOTE} && mkdir -p {REMOTE}")

        def check(_proc) -> None:
            self.check(ctx, n)

        def scp() -> Proc:
            return _xargs(fleet, n, ["scp", "-q", *recurse, *opts, "-P", "{}", local, f"admin@127.0.0.1:{REMOTE}/"])

        def rsync() -> Proc:
            return _xargs(fleet, n, ["rsync", "-a", "-e", f"{ssh_cmd} -p {{}}", local, f"admin@127.0.0.1:{REMOTE}/"])

        def ff_put() -> Proc:
            argv = [
                VENV_BIN / "python",
                DRIVERS / "flaskfleet_put.py",
                "--inventory",
                inv,
                "--local",
                local,
                "--remote",
                dest,
            ]
            return run(argv, timeout=900)

        def invoke_put() -> Proc:
            argv = [VENV_BIN / "invoke", "put", "--inventory", inv, "--hosts", "web", str(local), dest]
            return run(argv, env=base_env({"FLASKFLEET_STATE_DIR": str(ctx.state_dir)}), timeout=900)

        def fabric_put() -> Proc:
            argv = [
                VENV_BIN / "python",
                DRIVERS / "fabric_put.py",
                "--inventory",
                inv,
                "--local",
                local,
                "--remote",
                REMOTE,
            ]
            return run(argv, timeout=900)

        no_tasks = None if (ROOT / "tasks.py").exists() else "no tasks.py (invoke tasks not landed)"
        no_transfer = None if (ROOT / "flaskfleet" / "transfer.py").exists() else "flaskfleet/transfer.py not landed"
        return [
            Method("scp", scp, check=check, prepare=prepare, floor=self.FLOOR == "scp"),
            Method("rsync", rsync, check=check, prepare=prepare, floor=self.FLOOR == "rsync"),
            Method("flaskfleet put", ff_put, check=check, prepare=prepare, unavailable=no_transfer),
            Method("invoke put", invoke_put, check=check, prepare=prepare, unavailable=no_tasks or no_transfer),
            Method("fabric put", fabric_put, check=check, prepare=prepare),
        ]

    def check(self, ctx, n: int) -> None:
        """Every host holds the payload: cheap stats everywhere, a checksum on the first and last host."""
        want_stat, want_sum = self.expected(ctx)
        proc = _ssh_all(ctx.fleet, n, self.verify_command())
        stats = {}
        for line in proc.stdout.splitlines():
            port, _, rest = line.partition(" ")
            stats.setdefault(port, []).append(rest.strip())
        bad = [p for p, lines in stats.items() if not lines or lines[0] != want_stat]
        if len(stats) != n or bad:
            sample = stats.get(bad[0], ["?"])[0] if bad else "?"
            raise BenchError(
                f"payload wrong on {len(bad) + n - len(stats)} of {n} hosts (got {sample!r}, want {want_stat!r})"
            )
        nodes = ctx.fleet.first(n)
        ends = {nodes[0].port, nodes[-1].port}
        for port in ends:
            proc = run(["ssh", *ctx.fleet.ssh_opts(), "-p", port, "admin@127.0.0.1", self.sum_command()], timeout=300)
            if proc.stdout.split()[0] != want_sum:
                raise BenchError(f"checksum mismatch on port {port}")


def big_file(size_mb: int) -> Path:
    """The big-file payload: ``size_mb`` MiB of random bytes (made once)."""
    path = PAYLOAD / f"file-{size_mb}MB.bin"
    if not path.exists() or path.stat().st_size != size_mb * 1024 * 1024:
        PAYLOAD.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:  # incompressible, like a wheelhouse
            for _ in range(size_mb):
                fh.write(os.urandom(1024 * 1024))
    return path


class _File(_Transfer):
    KEY, FLOOR, TITLE = "transfer-file", "scp", "Transfer: one big file to N hosts"

    def local(self, ctx) -> Path:
        return big_file(ctx.args.file_mb)

    def verify_command(self) -> str:
        return f"stat -c %s {REMOTE}/{self._name}"

    def sum_command(self) -> str:
        return f"sha256sum {REMOTE}/{self._name}"

    def expected(self, ctx) -> tuple[str, str]:
        path = self.local(ctx)
        self._name = path.name
        return str(path.stat().st_size), hashlib.sha256(path.read_bytes()).hexdigest()


def small_files(count: int) -> Path:
    """The tree payload: ``count`` files of 200-8,000 random bytes in 140 folders (made once)."""
    root = PAYLOAD / f"tree-{count}"
    marker = PAYLOAD / f"tree-{count}.complete"  # beside the tree, not part of the payload
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        rng = random.Random(count)  # noqa: S311 - the same payload tree every time, not a secret
        for i in range(count):
            sub = root / f"d{i % 20:02d}" / f"s{i % 7}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.txt").write_bytes(rng.randbytes(rng.randint(200, 8000)))
        marker.write_text("")
    return root


class _Tree(_Transfer):
    KEY, FLOOR, TITLE = "transfer-tree", "rsync", "Transfer: a tree of small files to N hosts"

    def local(self, ctx) -> Path:
        return small_files(ctx.args.tree_files)

    def _files(self, ctx) -> list[Path]:
        return sorted(p for p in self.local(ctx).rglob("*") if p.is_file())

    def verify_command(self) -> str:
        d = f"{REMOTE}/{self._name}"
        return f"echo $(find {d} -type f | wc -l) $(find {d} -type f -printf '%s\\n' | awk '{{s+=$1}} END {{print s}}')"

    def sum_command(self) -> str:
        d = f"{REMOTE}/{self._name}"
        return f"cd {d} && find . -type f | LC_ALL=C sort | xargs cat | sha256sum"

    def expected(self, ctx) -> tuple[str, str]:
        root = self.local(ctx)
        self._name = root.name
        files = sorted(self._files(ctx), key=lambda p: "./" + str(p.relative_to(root)))
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.read_bytes())
        return f"{len(files)} {sum(f.stat().st_size for f in files)}", digest.hexdigest()


FILE = _File()
TREE = _Tree()
