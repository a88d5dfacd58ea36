"""Verified, atomic, idempotent file transfers to and from fleet hosts.

Every transfer reads first, then acts only where needed (like a pyinfra operation), in a fixed
number of round trips per host whatever the size of the tree:

1. **observe** — one remote ``python3`` pass creates the target directories and returns the sha256
   and mode of every target file and directory (JSON);
2. **decide** — files whose content already matches are skipped, mode-only differences are fixed
   with ``chmod``, everything else is sent;
3. **act** — one remote ``python3`` process reads a manifest (path, size, sha256, mode per file)
   and then the files' bytes as one stream on its stdin, over the host's already open SSH
   connection. It writes each file to a temporary name beside its target
   (``.NAME.ff-tmp-XXXXXXXX``), checks every temp file's sha256 against ours, and only when all
   match sets the modes and renames them over their targets (``rename`` within a directory is
   atomic). Any failure — disk full, permission denied, a checksum mismatch, the stream cut off
   because the controller died — removes the temp files and replaces nothing.

Big files (16 MiB and more) go through OpenSSH's ``scp`` when it is installed
(``transfer_method: auto``): it encrypts in its own process, outside the GIL, which is what makes
parallel 100 MB uploads as fast as plain ``scp``. They land on a temp name first and are verified
and renamed by the same single remote process. ``transfer_method: sftp`` sends every file with
SFTP (pipelined writes), ``scp`` every file with ``scp``; see docs/transfers.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import paramiko
from fabric import Connection

from flaskfleet.inventory import Host
from flaskfleet.remote import command as host_program
from flaskfleet.ssh import (
    CommandTimeout,
    FleetError,
    HostResult,
    changed_key_message,
    collect,
    exec_command,
    ssh_command,
    ssh_options,
    unknown_key_message,
)

#: Files at least this big go through ``scp`` under ``transfer_method: auto``.
SCP_THRESHOLD = 16 * 1024 * 1024
#: SFTP channel window: paramiko's 2 MiB default stalls a fast link waiting for window adjusts.
SFTP_WINDOW = 16 * 1024 * 1024
_CHUNK = 1 << 20
#: Bytes gathered before one channel write, so a tree of small files costs a few hundred channel
#: writes, not one per file.
_SEND_BUFFER = 256 * 1024
#: Trees up to this size are read once for all hosts (:class:`PayloadCache`).
PAYLOAD_CACHE_LIMIT = 64 * 1024 * 1024
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
    """A local file or directory, scanned and hashed once for all hosts.

    Symlinks are followed (the content they point at is sent as regular files and directories,
    like ``rsync -L``); a broken link, a link back into its own ancestors (a loop) and special
    files (fifos, sockets, devices) are refused before anything is sent.
    """

    root: Path
    is_dir: bool
    files: tuple[LocalFile, ...]
    dirs: tuple[tuple[str, int], ...]
    #: The files' bytes, read once for all hosts (see :class:`PayloadCache`).
    payloads: PayloadCache = field(default_factory=lambda: PayloadCache(), compare=False, repr=False)

    @classmethod
    def scan(cls, local: str) -> LocalTree:
        """Scan ``local``.

        :raises TransferError: when it does not exist, is not a regular file or directory, holds
            something that cannot be sent (see the class docstring), or a name holds a newline.
        """
        root = Path(local).expanduser()
        if not root.exists():
            if root.is_symlink():
                raise TransferError(f"local path {local} is a broken symlink; fix or remove it")
            raise TransferError(f"local path {local} does not exist")
        if root.is_file():
            return cls(root, False, (cls._file(root, root.name, local),), ())
        if not root.is_dir():
            raise TransferError(f"local path {local} is neither a file nor a directory")
        files, dirs = [], []
        for current, subdirs, names in os.walk(root, followlinks=True):
            base = Path(current)
            subdirs[:] = cls._walkable(base, sorted(subdirs), root, local)
            for name in subdirs:
                dirs.append((str((base / name).relative_to(root)), stat.S_IMODE((base / name).stat().st_mode)))
            files.extend(cls._file(base / name, str((base / name).relative_to(root)), local) for name in sorted(names))
        if any("\n" in f.rel for f in files) or any("\n" in d for d, _ in dirs):
            raise TransferError(f"local path {local} holds a file name with a newline; rename it")
        return cls(root, True, tuple(files), tuple(dirs))

    @staticmethod
    def _walkable(base: Path, subdirs: list[str], root: Path, local: str) -> list[str]:
        """``subdirs`` of ``base``; a symlink to ``base`` itself or to one of its parents is a loop."""
        here = base.resolve()
        for name in subdirs:
            real = (base / name).resolve()
            if real == here or real in here.parents:
                rel = (base / name).relative_to(root)
                raise TransferError(f"local path {local} holds a symlink loop: {rel} points to {real}; remove it")
        return subdirs

    @staticmethod
    def _file(path: Path, rel: str, local: str) -> LocalFile:
        """Describe one local file (following a symlink)."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise TransferError(f"local path {local} holds a broken symlink: {rel}; fix or remove it") from None
        except OSError as exc:
            raise TransferError(f"cannot read local file {path}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise TransferError(f"local path {local} holds {rel}, which is not a regular file; remove it")
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise TransferError(f"cannot read local file {path}: {exc.strerror}") from None
        return LocalFile(rel, path, info.st_size, stat.S_IMODE(info.st_mode), digest)

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


# -- the remote side: the host programs live in flaskfleet/remote/ (see there).


def run_checked(transport: paramiko.Transport, command: str, deadline: float, stdin: str = "") -> str:
    """Run a remote command (with stdin), return stdout; non-zero exit raises :class:`TransferError`."""
    code, out, err = exec_command(transport, command, deadline, stdin.encode())
    if code != 0:
        raise TransferError(_last_words(err, out, code))
    return out


def _last_words(err: str, out: str, code: int) -> str:
    """The one line that says why a remote step failed."""
    text = (err.strip() or out.strip() or f"remote command failed with exit code {code}").splitlines()
    if code == 127 or any("python3: not found" in line or "python3: command not found" in line for line in text):
        return "python3 is not installed on the host; transfers need it (install the python3 package)"
    return text[-1][-300:]


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


def _scp_upload(host: Host, local: Path, remote: str, deadline: float) -> None:
    """Upload one file with OpenSSH ``scp`` (same key, same strict known_hosts)."""
    dest = f"{host.destination}:{remote}"
    _scp(["scp", "-q", "-P", str(host.port), *ssh_options(host, deadline), str(local), dest], local.name, deadline)


def _scp_download(host: Host, remote: str, local: Path, deadline: float) -> None:
    """Download one file with OpenSSH ``scp``."""
    src = f"{host.destination}:{remote}"
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
    """How one file travels under ``method``: ``scp``, ``sftp`` or ``stream`` (one stream per host).

    ``auto`` sends big files with ``scp`` when it is installed and everything else in the stream.
    """
    if method == "auto":
        return "scp" if size >= SCP_THRESHOLD and shutil.which("scp") else "stream"
    return method


def put(
    host: Host, conn: Connection | None, tree: LocalTree, remote: str, deadline: float, method: str = "auto"
) -> HostResult:
    """Make ``remote`` on ``host`` hold ``tree``: observe, send only what differs, verify, rename.

    One remote process does all of it (see :mod:`flaskfleet.remote.put`), reached through :func:`open_session`;
    big files may travel beforehand with ``scp``/SFTP while it waits for the manifest. ``conn`` may
    be ``None`` when :func:`needs_connection` says the method does not use it.
    """
    root, targets = remote_target(tree, remote)
    request = {"root": root, "dirs": [rel for rel, _ in tree.dirs], "names": list(targets.values())}
    session = open_session(host, conn, deadline, method)
    try:
        send, chmods, dir_modes = decide(tree, targets, session.observe(request))
        chunks: Iterable[bytes] = ()
        if send or chmods or dir_modes:
            by_file = [s for s in send if choose_method(method, s[0].size) != "stream"]
            uploaded = _upload(host, conn, root, by_file, deadline, method)
            inline = [f for f, target in send if target not in uploaded]
            chunks = stream_chunks(manifest(root, send, uploaded, chmods, dir_modes), inline, tree.payloads)
        code, out, err = session.finish(chunks)
        if code != 0:
            raise TransferError(_last_words(err, out, code))
    finally:
        session.close()
    detail = {"sent": len(send), "skipped": len(tree.files) - len(send), "bytes": sum(f.size for f, _ in send)}
    summary = f"sent {detail['sent']}, unchanged {detail['skipped']}" + (f", chmod {len(chmods)}" if chmods else "")
    changed = bool(send or chmods or dir_modes)
    return HostResult(host=host.name, ok=True, changed=changed, stdout=summary, detail=detail)


def open_session(host: Host, conn: Connection | None, deadline: float, method: str = "auto") -> _Session:
    """The remote :mod:`flaskfleet.remote.put` process for one put.

    Under ``auto`` with OpenSSH's ``ssh`` installed it runs in an ``ssh`` subprocess: encryption
    then happens in that process, on any core, instead of in this one, where paramiko encrypts
    every host's stream under one GIL (measured: docs/performance.md). Otherwise (no ``ssh``,
    or ``sftp``/``scp`` asked for) it runs on a channel of the host's open paramiko connection.
    """
    if not needs_connection(method):
        return OpenSshSession(host, deadline)
    return ChannelSession(conn, deadline)


def needs_connection(method: str) -> bool:
    """Whether a ``put`` under ``method`` uses the host's paramiko connection.

    Under ``auto`` with OpenSSH installed it does not: the put program runs in an ``ssh``
    subprocess and big files travel with ``scp`` (or, without ``scp``, in the same stream), so
    :meth:`flaskfleet.group.Fleet.put` skips the paramiko handshake (one SSH login per host, not two).
    """
    return not (method == "auto" and shutil.which("ssh"))


class _Session:
    """A running :mod:`flaskfleet.remote.put`: ``observe`` once, then ``finish`` once, ``close`` always."""

    def observe(self, request: dict) -> dict:  # pragma: no cover - interface
        """Send the observe request (line 1); the host's one-line JSON answer."""
        raise NotImplementedError

    def finish(self, chunks: Iterable[bytes]) -> tuple[int, str, str]:  # pragma: no cover - interface
        """Send ``chunks`` (manifest and bytes; nothing: no change), then EOF; exit code, stdout, stderr."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        """Stop the remote process if it still runs (it then removes its temp files itself)."""
        raise NotImplementedError


class ChannelSession(_Session):
    """:mod:`flaskfleet.remote.put` on a channel of the host's open paramiko connection."""

    def __init__(self, conn: Connection, deadline: float) -> None:
        self.deadline = deadline
        self.chan = _start(conn.transport, host_program("put"), deadline)

    def observe(self, request: dict) -> dict:
        """See :meth:`_Session.observe`."""
        return _observe(self.chan, request, self.deadline)

    def finish(self, chunks: Iterable[bytes]) -> tuple[int, str, str]:
        """See :meth:`_Session.finish`."""
        return _stream(self.chan, chunks, self.deadline)

    def close(self) -> None:
        """See :meth:`_Session.close`."""
        self.chan.close()


class OpenSshSession(_Session):
    """:mod:`flaskfleet.remote.put` in an OpenSSH ``ssh`` subprocess (same key, known_hosts, port and user).

    ``ssh_options`` make it exactly as strict as our paramiko connection (``BatchMode``,
    ``StrictHostKeyChecking=yes`` with the project's known_hosts). A timer kills the process at
    the host's deadline, so every blocking read or write below ends by then; ``close`` kills it
    too, so no ``ssh`` outlives its put. stderr goes to a temp file: a pipe nobody drains while
    we write could fill up and stall both sides.
    """

    def __init__(self, host: Host, deadline: float) -> None:
        self.host = host
        self.expired = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        try:
            self.proc = subprocess.Popen(
                ssh_command(host, deadline, host_program("put")),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            )  # fmt: skip
        except BaseException:
            self._stderr.close()
            raise
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        """The deadline passed: stop ``ssh`` (the host's process sees its input end and cleans up)."""
        self.expired = True
        with contextlib.suppress(OSError):
            self.proc.kill()

    def observe(self, request: dict) -> dict:
        """See :meth:`_Session.observe`."""
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except OSError:
            line = b""  # ssh or the host process already ended: the exit status says why
        if not line.endswith(b"\n"):
            code, out, err = self._wait()
            raise TransferError(self._why(err, out, code or 1))
        return json.loads(line)

    def finish(self, chunks: Iterable[bytes]) -> tuple[int, str, str]:
        """See :meth:`_Session.finish`; a failure of ``ssh`` itself becomes one clear line."""
        try:
            for chunk in chunks:
                self.proc.stdin.write(chunk)
            self.proc.stdin.close()
        except OSError:
            pass  # the host process stopped reading (disk full, ...): its exit status says why
        code, out, err = self._wait()
        if code == 255:  # ssh's own failure (the host process exits with 0 or 1)
            raise TransferError(self._why(err, out, code))
        return code, out, err

    def _wait(self) -> tuple[int, str, str]:
        """Read the rest of stdout, wait for ``ssh`` to end; exit code, stdout, stderr."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # EOF: a host process still waiting for its manifest ends
        try:
            out = self.proc.stdout.read()
        except OSError:
            out = b""
        code = self.proc.wait()
        if self.expired:
            raise CommandTimeout("transfer did not finish within the timeout")
        self._stderr.seek(0)
        return code, out.decode(errors="replace"), self._stderr.read().decode(errors="replace")

    def _why(self, err: str, out: str, code: int) -> str:
        """The one line that says why, ``ssh``'s refusals in the words of our paramiko connection."""
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            return changed_key_message(self.host)
        if "Host key verification failed" in err:
            return unknown_key_message(self.host)
        if code == 255:
            lines = [line for line in err.strip().splitlines() if line.strip()] or ["connection lost"]
            return f"ssh failed: {lines[-1][-300:]}"
        return _last_words(err, out, code)

    def close(self) -> None:
        """See :meth:`_Session.close`."""
        self._timer.cancel()
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()


def decide(tree: LocalTree, targets: dict[str, str], current: dict) -> tuple[list, list, list]:
    """From what the host has: files to send ``(file, target)``, ``(target, mode)`` to chmod and
    ``(dir, mode)`` to set."""
    send, chmods = [], []
    for f in tree.files:
        target = targets[f.rel]
        digest, mode = current["files"].get(target, (None, None))
        if digest != f.sha256:
            send.append((f, target))
        elif mode != f.mode:
            chmods.append((target, f.mode))
    dir_modes = [(rel, mode) for rel, mode in tree.dirs if current["dirs"].get(rel) != mode]
    return send, chmods, dir_modes


def _start(transport: paramiko.Transport, command: str, deadline: float) -> paramiko.Channel:
    """A session channel running ``command``."""
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    chan.exec_command(command)
    return chan


def _observe(chan: paramiko.Channel, request: dict, deadline: float) -> dict:
    """Send the observe request (line 1), read the host's one-line JSON answer."""
    try:
        _send(chan, json.dumps(request).encode() + b"\n", deadline)
        line = chan.makefile("rb").readline()
    except TimeoutError:
        raise CommandTimeout("transfer did not finish within the timeout") from None
    except OSError:
        line = b""  # the host process already ended: its exit status says why
    if not line.endswith(b"\n"):
        code, out, err = _finish_channel(chan, deadline)
        raise TransferError(_last_words(err, out, code or 1))
    return json.loads(line)


def manifest(root: str, send, uploaded: dict[str, str], chmods, dir_modes) -> dict:
    """What the receiving process needs: per file target, size, sha256, mode (and its temp name
    when it was uploaded beforehand); the files without a temp name follow in the stream, in order.
    """
    files = []
    for f, target in send:
        entry = {"target": target, "size": f.size, "sha256": f.sha256, "mode": f.mode}
        if target in uploaded:
            entry["tmp"] = uploaded[target]
        files.append(entry)
    return {"root": root, "token": secrets.token_hex(4), "files": files, "chmods": chmods, "dirs": dir_modes}


def stream_chunks(header: dict, files: list[LocalFile], cache: PayloadCache | None = None) -> Iterator[bytes]:
    """The manifest line, then the files' bytes back to back, in chunks of about ``_SEND_BUFFER``.

    Exactly ``size`` bytes go out per file (the receiver counts them): a file that shrank since it
    was scanned stops the transfer; one that changed content fails the remote checksum. With a
    ``cache``, the bytes are read from disk once for all hosts that need the same files.
    """
    yield json.dumps(header).encode() + b"\n"
    body = cache.get(files) if cache is not None else None
    if body is not None:
        view = memoryview(body)
        for start in range(0, len(view), _SEND_BUFFER):
            yield view[start : start + _SEND_BUFFER]
        return
    buffer = bytearray()
    for chunk in _file_bytes(files):
        buffer += chunk
        if len(buffer) >= _SEND_BUFFER:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _file_bytes(files: Iterable[LocalFile]) -> Iterator[bytes]:
    """Exactly ``size`` bytes of each file, in order."""
    for f in files:
        left = f.size
        with f.path.open("rb") as src:
            while left > 0:
                chunk = src.read(min(left, _CHUNK))
                if not chunk:
                    raise TransferError(f"local file {f.path} changed during the transfer; run put again")
                left -= len(chunk)
                yield chunk


class PayloadCache:
    """The concatenated bytes of one list of small files, read once and shared by all hosts' threads.

    Most puts send the same files to every host; reading them once instead of once per host saves
    thousands of opens on the controller. Only lists up to :data:`PAYLOAD_CACHE_LIMIT` are kept,
    and only the latest one (it lives as long as its :class:`LocalTree`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._body = b""

    def get(self, files: list[LocalFile]) -> bytes | None:
        """The files' bytes, or ``None`` when they are too big to keep in memory."""
        if sum(f.size for f in files) > PAYLOAD_CACHE_LIMIT:
            return None
        key = tuple((f.path, f.size, f.sha256) for f in files)
        with self._lock:
            if key != self._key:
                self._body, self._key = b"".join(_file_bytes(files)), key
            return self._body


def _stream(chan: paramiko.Channel, chunks: Iterable[bytes], deadline: float) -> tuple[int, str, str]:
    """Send ``chunks`` then EOF on ``chan``; its exit code, stdout and stderr.

    When the remote process stops reading early (it failed: disk full, ...), sending stops and its
    own exit status and message are returned.

    :raises CommandTimeout: when the deadline passes first.
    """
    try:
        for chunk in chunks:
            _send(chan, chunk, deadline)
        chan.shutdown_write()
    except OSError as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
            raise CommandTimeout("transfer did not finish within the timeout") from None
        if not (chan.closed or chan.exit_status_ready()):
            raise
    return _finish_channel(chan, deadline)


def _send(chan: paramiko.Channel, data: bytes, deadline: float) -> None:
    """``sendall`` bounded by ``deadline``; raises ``OSError`` when the remote side went away."""
    view = memoryview(data)
    while view:
        chan.settimeout(max(0.1, deadline - time.monotonic()))
        sent = chan.send(view[:_SEND_BUFFER])
        if sent == 0:
            raise OSError("channel closed by the host")
        view = view[sent:]


def _finish_channel(chan: paramiko.Channel, deadline: float) -> tuple[int, str, str]:
    """Collect the rest of stdout/stderr and the exit status of a channel before ``deadline``."""
    return collect(chan, deadline, "transfer did not finish within the timeout")


def _upload(host: Host, conn: Connection | None, root: str, send, deadline: float, method: str) -> dict[str, str]:
    """Send files one by one (scp or SFTP) to temp names; ``{target: temp}``; on failure remove them."""
    uploaded: dict[str, str] = {}
    sftp = None
    try:
        for f, target in send:
            tmp = _temp_name(target)
            uploaded[target] = tmp
            if choose_method(method, f.size) == "scp":
                _scp_upload(host, f.path, f"{root}/{tmp}", deadline)
            else:
                sftp = sftp or _sftp(conn, deadline)
                _sftp_upload(sftp, f.path, f"{root}/{tmp}")
    except BaseException:
        _cleanup(host, conn, root, list(uploaded.values()), deadline)
        raise
    finally:
        if sftp is not None:
            sftp.close()
    return uploaded


def _cleanup(host: Host, conn: Connection | None, root: str, temps: list[str], deadline: float) -> None:
    """Best effort: remove temp files of a failed upload (the host may be gone).

    Over the paramiko connection when there is one, else with OpenSSH (``put`` under ``auto``).
    """
    if not temps:
        return
    command = f"cd {shlex.quote(root)} && rm -f -- {' '.join(map(shlex.quote, temps))}"
    until = min(deadline, time.monotonic() + 5)
    with contextlib.suppress(Exception):  # cleanup must never hide the real error
        if conn is None:
            subprocess.run(ssh_command(host, until, command), capture_output=True, timeout=5, check=False)
        elif conn.transport is not None and conn.transport.is_active():
            exec_command(conn.transport, command, until)


def _remote_listing(conn: Connection, remote: str, deadline: float) -> tuple[bool, dict[str, tuple[str, int, int]]]:
    """Whether ``remote`` is a directory, and ``{name: (sha256, mode, size)}`` of its files."""
    listing = json.loads(run_checked(conn.transport, host_program("listing"), deadline, json.dumps(remote)))
    return listing["dir"], {name: tuple(info) for name, info in listing["files"].items()}


def get(host: Host, conn: Connection, remote: str, local_dir: str, deadline: float, method: str = "auto") -> HostResult:
    """Copy ``remote`` from ``host`` into ``local_dir/<host>/``; verified, atomic, skips same content."""
    is_dir, files = _remote_listing(conn, remote, deadline)
    base = Path(local_dir) / host.name
    name = PurePosixPath(remote.rstrip("/")).name or "root"
    dest_root = base / name if is_dir else base
    remote_root = remote.rstrip("/") if is_dir else str(PurePosixPath(remote).parent)
    wanted = [rel for rel, (digest, _, _) in sorted(files.items())
              if not ((dest_root / rel).is_file() and sha256_file(dest_root / rel) == digest)]  # fmt: skip
    streamed = [rel for rel in wanted if choose_method(method, files[rel][2]) == "stream"]
    if streamed:
        _stream_download(conn, remote_root, streamed, files, dest_root, deadline)
    sftp = None
    try:
        for rel in (rel for rel in wanted if rel not in set(streamed)):
            digest, mode, size = files[rel]
            source = f"{remote_root}/{rel}"
            if choose_method(method, size) == "scp":
                _fetch(lambda src, tmp: _scp_download(host, src, Path(tmp), deadline), source, dest_root / rel,
                       digest, mode)  # fmt: skip
            else:
                sftp = sftp or _sftp(conn, deadline, window=None)
                _fetch(sftp.get, source, dest_root / rel, digest, mode)
    finally:
        if sftp is not None:
            sftp.close()
    fetched = len(wanted)
    detail = {"fetched": fetched, "skipped": len(files) - fetched, "path": str(dest_root / ("" if is_dir else name))}
    return HostResult(host=host.name, ok=True, changed=fetched > 0, stdout=f"fetched {fetched}, unchanged "
                      f"{len(files) - fetched} -> {detail['path']}", detail=detail)  # fmt: skip


def _stream_download(conn: Connection, remote_root: str, names: list[str], files: dict, dest_root: Path, deadline):
    """Fetch ``names`` in one remote process writing them back to back; each verified and renamed."""
    chan = conn.transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    try:
        chan.exec_command(host_program("send"))
        chan.sendall(json.dumps({"root": remote_root, "names": names}).encode())
        chan.shutdown_write()
        reader = chan.makefile("rb")
        for rel in names:
            chan.settimeout(max(0.1, deadline - time.monotonic()))
            header = reader.readline()
            if not header.strip().isdigit():
                code, out, err = _finish_channel(chan, deadline)
                raise TransferError(_last_words(err, out, code or 1))
            digest, mode, _ = files[rel]
            _fetch(lambda _src, tmp, size=int(header): _read_exact(reader, tmp, size), f"{remote_root}/{rel}",
                   dest_root / rel, digest, mode)  # fmt: skip
        code, out, err = _finish_channel(chan, deadline)
        if code != 0:
            raise TransferError(_last_words(err, out, code))
    except TimeoutError:
        raise CommandTimeout("transfer did not finish within the timeout") from None
    finally:
        chan.close()


def _read_exact(reader, path: str, size: int) -> None:
    """Copy exactly ``size`` bytes from ``reader`` into a new file at ``path``."""
    with open(path, "wb") as out:
        while size > 0:
            chunk = reader.read(min(size, _CHUNK))
            if not chunk:
                raise TransferError("connection closed during the download")
            out.write(chunk)
            size -= len(chunk)


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
