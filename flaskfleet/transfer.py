"""Verified, atomic, idempotent file transfers to and from fleet hosts.

Every transfer reads first, then acts only where needed (like a pyinfra operation):

1. **observe** — one remote command lists the sha256 and mode of every target file;
2. **decide** — files whose content already matches are skipped, mode-only differences are fixed
   with ``chmod``, everything else is sent;
3. **act** — each file goes to a temporary name beside its target (``.NAME.ff-tmp-XXXX``), then one
   remote script checks its sha256 against ours and only then renames it over the target
   (``mv`` within a directory is atomic). A broken or interrupted transfer therefore never leaves
   a partial file at the target path; leftovers under the temp name are removed by the next put.

Large files go through OpenSSH's ``scp`` when it is installed (``transfer_method: auto``): it
encrypts in its own process, outside the GIL, which is what makes five parallel 100 MB uploads
as fast as plain ``scp`` (see docs/transfers.md for the measurements); small files and
directories use SFTP over the host's already open connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import paramiko
from fabric import Connection

from flaskfleet.fleet import CommandTimeout, FleetError, HostResult, exec_command
from flaskfleet.inventory import Host

#: Files at least this big go through ``scp`` under ``transfer_method: auto``.
SCP_THRESHOLD = 16 * 1024 * 1024
#: SFTP channel window: paramiko's 2 MiB default stalls a fast link waiting for window adjusts.
SFTP_WINDOW = 16 * 1024 * 1024
_CHUNK = 1 << 20
TEMP_MARK = ".ff-tmp-"


class TransferError(FleetError):
    """A transfer cannot start (bad local path) or failed on a host; the message says why."""


@dataclass(frozen=True)
class LocalFile:
    """One file to send: path relative to the tree root, size, permission bits, sha256."""

    rel: str
    path: Path
    size: int
    mode: int
    sha256: str


def sha256_file(path: Path) -> str:
    """sha256 of a local file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LocalTree:
    """A local file or directory, scanned and hashed once for all hosts."""

    root: Path
    is_dir: bool
    files: tuple[LocalFile, ...]
    dirs: tuple[tuple[str, int], ...]

    @classmethod
    def scan(cls, local: str) -> LocalTree:
        """Scan ``local``.

        :raises TransferError: when it does not exist, is not a regular file or directory, or a
            name holds a newline (the remote scripts read one name per line).
        """
        root = Path(local).expanduser()
        if not root.exists():
            raise TransferError(f"local path {local} does not exist")
        if root.is_file():
            return cls(root, False, (cls._file(root, root.name),), ())
        if not root.is_dir():
            raise TransferError(f"local path {local} is neither a file nor a directory")
        files, dirs = [], []
        for current, subdirs, names in os.walk(root):
            subdirs.sort()
            base = Path(current)
            for name in subdirs:
                dirs.append((str((base / name).relative_to(root)), stat.S_IMODE((base / name).stat().st_mode)))
            files.extend(cls._file(base / name, str((base / name).relative_to(root))) for name in sorted(names))
        if any("\n" in f.rel for f in files):
            raise TransferError(f"local path {local} holds a file name with a newline; rename it")
        return cls(root, True, tuple(files), tuple(dirs))

    @staticmethod
    def _file(path: Path, rel: str) -> LocalFile:
        """Describe one local file."""
        info = path.stat()
        return LocalFile(rel, path, info.st_size, stat.S_IMODE(info.st_mode), sha256_file(path))

    @property
    def total_bytes(self) -> int:
        """Sum of all file sizes."""
        return sum(f.size for f in self.files)


def remote_target(tree: LocalTree, remote: str) -> tuple[str, dict[str, str]]:
    """The remote root directory and, for each local file, its remote path relative to that root.

    A file goes to ``remote`` (or into it when ``remote`` ends with ``/``); a directory's contents
    go into ``remote``.
    """
    if not remote:
        raise TransferError("remote path is empty; give where the file should go on the hosts")
    if tree.is_dir:
        return remote.rstrip("/") or "/", {f.rel: f.rel for f in tree.files}
    target = PurePosixPath(remote.rstrip("/")) / tree.root.name if remote.endswith("/") else PurePosixPath(remote)
    return str(target.parent), {tree.files[0].rel: target.name}


_SUMS_SCRIPT = """
mkdir -p -- {dirs} || exit 2
cd {root} || exit 2
names=$(cat)
printf '%s\\n' "$names" | xargs -d '\\n' -r sha256sum -- 2>/dev/null
echo ==
printf '%s\\n' "$names" | xargs -d '\\n' -r stat -c '%a %n' -- 2>/dev/null
exit 0
"""


def parse_sums(output: str) -> dict[str, tuple[str, int | None]]:
    """Parse ``sha256sum`` then ``==`` then ``stat -c '%a %n'`` output into ``{name: (sha, mode)}``."""
    sums_part, _, modes_part = output.partition("==\n")
    sums = {}
    for line in sums_part.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and len(digest) == 64:
            sums[name] = digest
    modes = {}
    for line in modes_part.splitlines():
        mode, _, name = line.partition(" ")
        if name:
            modes[name] = int(mode, 8)
    return {name: (digest, modes.get(name)) for name, digest in sums.items()}


def run_checked(transport: paramiko.Transport, command: str, deadline: float, stdin: str = "") -> str:
    """Run a remote command (with stdin), return stdout; non-zero exit raises :class:`TransferError`."""
    code, out, err = exec_command(transport, command, deadline, stdin.encode())
    if code != 0:
        raise TransferError((err.strip() or out.strip() or f"remote command failed with exit code {code}")[-300:])
    return out


def _remote_state(conn: Connection, root: str, dirs: list[str], names: list[str], deadline: float) -> dict:
    """Create ``root`` and ``dirs`` under it; sha256 and mode of the named files (missing ones absent)."""
    q = shlex.quote
    all_dirs = " ".join(q(d) for d in [root, *(f"{root}/{d}" for d in dirs)])
    script = _SUMS_SCRIPT.format(root=q(root), dirs=all_dirs)
    out = run_checked(conn.transport, script, deadline, "\n".join(names))
    return parse_sums(out)


def _temp_name(target: str) -> str:
    """A hidden temporary name next to ``target`` (same filesystem, so the rename is atomic)."""
    path = PurePosixPath(target)
    return str(path.parent / f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}")


def _sftp(conn: Connection, deadline: float, window: int | None = SFTP_WINDOW) -> paramiko.SFTPClient:
    """An SFTP session on the host's open transport, with a deadline (and a bigger window for puts).

    NOTE: downloads keep paramiko's default window: prefetching with a 16 MiB window measured
    slower (docs/transfers.md).
    """
    sftp = paramiko.SFTPClient.from_transport(conn.transport, window_size=window)
    sftp.get_channel().settimeout(max(1.0, deadline - time.monotonic()))
    return sftp


def _sftp_upload(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
    """Stream one file with pipelined writes (no round trip per 32 KiB block)."""
    with local.open("rb") as src, sftp.open(remote, "wb") as dst:
        dst.set_pipelined(True)
        while chunk := src.read(_CHUNK):
            dst.write(chunk)


def ssh_options(host: Host, deadline: float) -> list[str]:
    """OpenSSH options equivalent to our strict paramiko connection."""
    options = [
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
        "-o", f"ConnectTimeout={max(1, int(deadline - time.monotonic()))}",
    ]  # fmt: skip
    if host.known_hosts:
        options += ["-o", f"UserKnownHostsFile={host.known_hosts}"]
    if host.key_file:
        options += ["-i", host.key_file]
    return options


def _scp_upload(host: Host, local: Path, remote: str, deadline: float) -> None:
    """Upload one file with OpenSSH ``scp`` (same key, same strict known_hosts)."""
    dest = f"{host.user + '@' if host.user else ''}{host.address}:{remote}"
    _scp(["scp", "-q", "-P", str(host.port), *ssh_options(host, deadline), str(local), dest], local.name, deadline)


def _scp_download(host: Host, remote: str, local: Path, deadline: float) -> None:
    """Download one file with OpenSSH ``scp``."""
    src = f"{host.user + '@' if host.user else ''}{host.address}:{remote}"
    _scp(["scp", "-q", "-P", str(host.port), *ssh_options(host, deadline), src, str(local)], remote, deadline)


def _scp(cmd: list[str], what: str, deadline: float) -> None:
    """Run one scp command before ``deadline``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeout(f"transfer of {what} did not finish within the timeout") from exc
    if proc.returncode != 0:
        raise TransferError(f"scp failed: {proc.stderr.strip()[-300:]}")


def choose_method(method: str, size: int) -> str:
    """``scp`` or ``sftp`` for one file under ``method`` (``auto`` measures by size)."""
    if method == "auto":
        return "scp" if size >= SCP_THRESHOLD and shutil.which("scp") else "sftp"
    return method


_FINISH_FUNCTIONS = r"""
fail=0
v() { if [ "$(sha256sum < "$1" | cut -c1-64)" = "$2" ] && chmod "$3" "$1" && mv -f -- "$1" "$4"; then
        d=$(dirname -- "$4"); b=$(basename -- "$4"); rm -f -- "$d/.$b.ff-tmp-"*
      else rm -f -- "$1"; echo "checksum mismatch after upload: $4" >&2; fail=1; fi; }
"""


def _finish_script(root: str, moves: list[tuple[str, LocalFile, str]], chmods: list[tuple[str, int]], dirs) -> str:
    """One remote script: verify each temp file, then chmod + rename it over its target."""
    q = shlex.quote
    lines = [_FINISH_FUNCTIONS, f"cd {q(root)} || exit 2"]
    lines += [f"v {q(tmp)} {f.sha256} {f.mode:o} {q(target)}" for tmp, f, target in moves]
    lines += [f"chmod {mode:o} -- {q(target)} || fail=1" for target, mode in chmods]
    lines += [f"chmod {mode:o} -- {q(rel)} || fail=1" for rel, mode in dirs]
    lines.append("exit $fail")
    return "\n".join(lines)


def put(
    host: Host, conn: Connection, tree: LocalTree, remote: str, deadline: float, method: str = "auto"
) -> HostResult:
    """Make ``remote`` on ``host`` hold ``tree``: observe, send only what differs, verify, rename."""
    root, targets = remote_target(tree, remote)
    dirs = [rel for rel, _ in tree.dirs]
    current = _remote_state(conn, root, dirs, list(targets.values()), deadline)
    send, chmods = [], []
    for f in tree.files:
        target = targets[f.rel]
        digest, mode = current.get(target, (None, None))
        if digest != f.sha256:
            send.append((f, target))
        elif mode != f.mode:
            chmods.append((target, f.mode))
    moves = _upload(host, conn, root, send, deadline, method)
    if moves or chmods:
        run_checked(conn.transport, "sh -s", deadline, _finish_script(root, moves, chmods, tree.dirs if send else ()))
    detail = {"sent": len(send), "skipped": len(tree.files) - len(send), "bytes": sum(f.size for f, _ in send)}
    summary = f"sent {detail['sent']}, unchanged {detail['skipped']}" + (f", chmod {len(chmods)}" if chmods else "")
    return HostResult(host=host.name, ok=True, changed=bool(send or chmods), stdout=summary, detail=detail)


def _upload(host: Host, conn: Connection, root: str, send, deadline: float, method: str) -> list:
    """Send files to their temp names; on any failure remove the temps already written."""
    moves: list[tuple[str, LocalFile, str]] = []
    sftp = None
    try:
        for f, target in send:
            tmp = _temp_name(target)
            moves.append((tmp, f, target))
            if choose_method(method, f.size) == "scp":
                _scp_upload(host, f.path, f"{root}/{tmp}", deadline)
            else:
                sftp = sftp or _sftp(conn, deadline)
                _sftp_upload(sftp, f.path, f"{root}/{tmp}")
    except BaseException:
        _cleanup(conn, root, [tmp for tmp, _, _ in moves], deadline)
        raise
    finally:
        if sftp is not None:
            sftp.close()
    return moves


def _cleanup(conn: Connection, root: str, temps: list[str], deadline: float) -> None:
    """Best effort: remove temp files of a failed upload (the host may be gone)."""
    if not temps or conn.transport is None or not conn.transport.is_active():
        return
    command = f"cd {shlex.quote(root)} && rm -f -- {' '.join(map(shlex.quote, temps))}"
    with contextlib.suppress(Exception):  # cleanup must never hide the real error
        exec_command(conn.transport, command, min(deadline, time.monotonic() + 5))


_LIST_SCRIPT = r"""
R={remote}
if [ -d "$R" ]; then cd "$R" || exit 2; echo D; find . -type f -printf '%m %s ./%P\n'; echo ==
  find . -type f -print0 | xargs -0 -r sha256sum --
elif [ -f "$R" ]; then cd "$(dirname -- "$R")" || exit 2; b=$(basename -- "$R"); echo F; stat -c '%a %s %n' -- "$b"
  echo ==; sha256sum -- "$b"
else echo "remote path $R does not exist" >&2; exit 2; fi
"""


def _remote_listing(conn: Connection, remote: str, deadline: float) -> tuple[bool, dict, dict[str, int]]:
    """Whether ``remote`` is a directory, ``{name: (sha256, mode)}`` and ``{name: size}`` of its files."""
    out = run_checked(conn.transport, _LIST_SCRIPT.format(remote=shlex.quote(remote)), deadline)
    kind, _, rest = out.partition("\n")
    stats_part, _, sums_part = rest.partition("==\n")
    sizes, modes = {}, []
    for line in stats_part.splitlines():
        mode, size, name = [*line.split(" ", 2), "", ""][:3]
        if name:
            sizes[name.removeprefix("./")] = int(size)
            modes.append(f"{mode} {name}")
    parsed = parse_sums(sums_part + "==\n" + "\n".join(modes))
    files = {name.removeprefix("./"): (d, m or 0o644) for name, (d, m) in parsed.items()}
    return kind == "D", files, sizes


def get(host: Host, conn: Connection, remote: str, local_dir: str, deadline: float, method: str = "auto") -> HostResult:
    """Copy ``remote`` from ``host`` into ``local_dir/<host>/``; verified, atomic, skips same content."""
    is_dir, files, sizes = _remote_listing(conn, remote, deadline)
    base = Path(local_dir) / host.name
    name = PurePosixPath(remote.rstrip("/")).name or "root"
    dest_root = base / name if is_dir else base
    remote_root = remote.rstrip("/") if is_dir else str(PurePosixPath(remote).parent)
    fetched = 0
    sftp = None
    try:
        for rel, (digest, mode) in sorted(files.items()):
            dest = dest_root / rel
            if dest.is_file() and sha256_file(dest) == digest:
                continue
            source = f"{remote_root}/{rel}"
            if choose_method(method, sizes.get(rel, 0)) == "scp":
                _fetch(lambda src, tmp: _scp_download(host, src, Path(tmp), deadline), source, dest, digest, mode)
            else:
                sftp = sftp or _sftp(conn, deadline, window=None)
                _fetch(sftp.get, source, dest, digest, mode)
            fetched += 1
    finally:
        if sftp is not None:
            sftp.close()
    detail = {"fetched": fetched, "skipped": len(files) - fetched, "path": str(dest_root / ("" if is_dir else name))}
    return HostResult(host=host.name, ok=True, changed=fetched > 0, stdout=f"fetched {fetched}, unchanged "
                      f"{len(files) - fetched} -> {detail['path']}", detail=detail)  # fmt: skip


def _fetch(download, remote: str, dest: Path, digest: str, mode: int) -> None:
    """``download(remote, tmp)`` to a temp name beside ``dest``, check sha256, set mode, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}{TEMP_MARK}{secrets.token_hex(4)}"
    try:
        download(remote, str(tmp))
        if sha256_file(tmp) != digest:
            raise TransferError(f"checksum mismatch after download of {remote}")
        tmp.chmod(mode)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
