"""SSH to fleet hosts, in one place: connections, host keys and their messages, commands, results.

Every way flaskfleet reaches a host goes through here: paramiko/Fabric connections that check host
keys strictly against the host's known_hosts (:func:`connect`, :func:`open_connection`), one lean
channel loop for commands (:func:`exec_command`, :func:`collect`), the per-host result
(:class:`HostResult`) and its one-line error text (:func:`describe_error`), and the OpenSSH argv
with the same strict settings (:func:`ssh_options`, :func:`ssh_command`, :func:`shell_command`).
Dependencies run one way, as in Fabric: ``inventory`` <- ``ssh`` <- ``transfer`` <- ``fleet``.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import paramiko
from fabric import Config as FabricConfig
from fabric import Connection

from flaskfleet.inventory import Host, InventoryError

_READ_SIZE = 1 << 16


# -- errors ---------------------------------------------------------------------------------------
class HostKeyError(Exception):
    """A host's key is unknown or changed; the message says how to trust the host."""


class FleetError(Exception):
    """A per-host failure whose message is already fit for people (no type name needed)."""


class CommandTimeout(FleetError):
    """A command did not finish before the host's deadline."""


# -- results ------------------------------------------------------------------------------------
@dataclass
class HostResult:
    """What happened on one host: exit code and output for commands, counts for transfers."""

    host: str
    ok: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    error: str | None = None
    changed: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok``, ``failed`` (ran, non-zero) or ``error`` (could not run)."""
        if self.ok:
            return "ok"
        return "failed" if self.exit_code is not None else "error"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        data = asdict(self)
        data["status"] = self.status
        data["duration"] = round(self.duration, 3)
        return data


def describe_error(exc: BaseException, connect_timeout: float) -> str:
    """A one-line reason for a host failure, without a traceback."""
    text = str(exc)
    if isinstance(exc, HostKeyError | InventoryError | FleetError):
        return text
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed ({text}); check ansible_user and the SSH key"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        address = next(iter(exc.errors), ("?", "?"))
        return f"connection refused on {address[0]}:{address[1]} (host stopped or sshd not running)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (host stopped or sshd not running)"
    hung = ("banner", "no existing session", "timed out", "timeout")
    if isinstance(exc, socket.timeout | TimeoutError) or (
        isinstance(exc, paramiko.SSHException) and any(word in text.lower() for word in hung)
    ):
        return f"no SSH answer within {connect_timeout:g} s (host down or hung)"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return "connection lost"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- connections and host keys --------------------------------------------------------------------
class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):
    """Refuse a host whose key is not in known_hosts, saying how to trust it."""

    def __init__(self, host: Host):
        self._host = host

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        """Raise :class:`HostKeyError` (paramiko's ``RejectPolicy`` with a useful message)."""
        raise HostKeyError(unknown_key_message(self._host, _described(key)))


def trust_hint(host: Host) -> str:
    """How to (re)trust a host after checking its key out of band."""
    known = host.known_hosts or "~/.ssh/known_hosts"
    return (
        f"re-provision it (records the new key) or, after verifying the key, "
        f"ssh-keygen -f {known} -R '{host.endpoint}' && ssh-keyscan -p {host.port} {host.address} >> {known}"
    )


def unknown_key_message(host: Host, offered: str | None = None) -> str:
    """The refusal text for a host whose key is not in known_hosts.

    :param offered: the key the host offered (type and fingerprint), when the client can tell.
    """
    seen = f" ({offered})" if offered else ""
    return (
        f"{host.name}: host key for {host.endpoint} is not in {host.known_hosts or 'known_hosts'}{seen}; "
        f"refusing to connect. To trust it, {trust_hint(host)}"
    )


def changed_key_message(host: Host, offered: str | None = None, expected: str | None = None) -> str:
    """The refusal text for a host whose key changed.

    :param offered: the key the host offered now; ``expected``: the fingerprint known_hosts has.
    """
    known = host.known_hosts or "known_hosts"
    seen = f"got {offered}, {known} has {expected}" if offered and expected else f"{known} has another key"
    return (
        f"{host.name}: HOST KEY CHANGED for {host.endpoint} ({seen}); refusing to connect, nothing was run. "
        f"If the host was rebuilt, {trust_hint(host)}"
    )


def _described(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:...``: a key as the messages name it."""
    return f"{key.get_name()} {key.fingerprint}"


_PKEYS: dict[str, paramiko.PKey] = {}


def _private_key(path: str) -> paramiko.PKey:
    """Load a private key once per process (50 hosts share one key: parse it once)."""
    if path not in _PKEYS:
        try:
            _PKEYS[path] = paramiko.PKey.from_path(path)
        except FileNotFoundError as exc:
            raise InventoryError(
                f"SSH key {path} not found; run `make setup` or set ansible_ssh_private_key_file"
            ) from exc
        except (paramiko.SSHException, ValueError) as exc:
            raise InventoryError(f"cannot read SSH key {path}: {exc}") from exc
    return _PKEYS[path]


def connect(host: Host, connect_timeout: float = 10, config: FabricConfig | None = None) -> Connection:
    """A Fabric Connection to ``host`` that checks its key strictly; not opened yet.

    Agent and ~/.ssh keys are not tried (``look_for_keys=False``): the inventory names the key, and
    trying others first costs a round trip each and can trip MaxAuthTries.
    """
    connect_kwargs: dict[str, Any] = {
        "allow_agent": False,
        "look_for_keys": False,
        "banner_timeout": connect_timeout,
        "auth_timeout": connect_timeout,
    }
    if host.key_file:
        connect_kwargs["pkey"] = _private_key(host.key_file)
    # lazy: no ~/.ssh/config or /etc/ssh/ssh_config; the inventory is the one source of truth.
    config = config or FabricConfig(lazy=True)
    conn = Connection(
        host.address,
        user=host.user,
        port=host.port,
        config=config,
        connect_timeout=connect_timeout,
        connect_kwargs=connect_kwargs,
    )
    client = conn.client
    client.set_missing_host_key_policy(_RefuseUnknownHost(host))
    # get_host_keys().add, not load_host_keys: the latter would write keys back on save.
    known = client.get_host_keys()
    for key_type, key in known_keys(host).items():
        known.add(host.endpoint, key_type, key)
    return conn


#: Host key types in the order we ask a host for them: the cheapest to sign (host) and check
#: (controller) first. paramiko asks for the first type known_hosts lists for the host otherwise,
#: often ``ssh-rsa`` (an RSA-3072 signature per connection on the host).
_KEY_TYPE_ORDER = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")

_KNOWN_HOSTS: dict[str, tuple[tuple[int, int, int], paramiko.HostKeys]] = {}
_KNOWN_HOSTS_LOCK = threading.Lock()


def known_keys(host: Host) -> dict[str, paramiko.PKey]:
    """The keys ``host.known_hosts`` records for the host's endpoint, cheapest type first.

    The file is parsed once per process (again when it changes): paramiko's ``HostKeys.load``
    compares every entry with every earlier one, so loading a 100-host known_hosts for each of
    100 connections cost seconds of CPU under the GIL. Each connection gets only its host's keys,
    so strictness is unchanged: an unknown or changed key is still refused.
    """
    if not host.known_hosts:
        return {}
    try:
        info = os.stat(host.known_hosts)
    except OSError:
        return {}
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    with _KNOWN_HOSTS_LOCK:
        cached = _KNOWN_HOSTS.get(host.known_hosts)
        if cached is None or cached[0] != stamp:
            parsed = paramiko.HostKeys()
            parsed.load(host.known_hosts)
            cached = _KNOWN_HOSTS[host.known_hosts] = (stamp, parsed)
    found = cached[1].lookup(host.endpoint) or {}
    rank = {key_type: i for i, key_type in enumerate(_KEY_TYPE_ORDER)}
    return {key_type: found[key_type] for key_type in sorted(found.keys(), key=lambda t: rank.get(t, len(rank)))}


def open_connection(host: Host, conn: Connection) -> Connection:
    """Open ``conn``, turning host key problems into :class:`HostKeyError`."""
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        conn.close()
        raise HostKeyError(changed_key_message(host, _described(exc.key), exc.expected_key.fingerprint)) from exc
    return conn


# -- commands -------------------------------------------------------------------------------------
def sudo_wrap(command: str) -> str:
    """``command`` under non-interactive sudo (fails fast instead of prompting for a password)."""
    return f"sudo -n -H -- sh -c {shlex.quote(command)}"


def exec_command(
    transport: paramiko.Transport, command: str, deadline: float, stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run ``command`` on one channel and collect exit code, stdout and stderr before ``deadline``.

    ``stdin`` (small: file lists, scripts) is sent, then EOF.

    NOTE: a lean loop over one channel instead of invoke's Runner (three threads and polling
    sleeps per command) — this is where a many-host ad-hoc job spends its time.

    :raises CommandTimeout: when the deadline passes first (the channel is closed).
    """
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    try:
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()  # then EOF: a command reading stdin never waits for more
        return collect(chan, deadline, f"command did not finish within the timeout: {command}")
    finally:
        chan.close()


def collect(chan: paramiko.Channel, deadline: float, timeout_message: str) -> tuple[int, str, str]:
    """Read a running channel's stdout and stderr to the end, then its exit status.

    NOTE: the output is complete only at EOF (or close), never at the exit status alone: sshd
    may send the status before the last bytes of a pipe it has not drained yet.

    :raises CommandTimeout: with ``timeout_message`` when the deadline passes first.
    """
    out, err = bytearray(), bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CommandTimeout(timeout_message)
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.status_event.wait(remaining):
                break
            continue
        select.select([chan], [], [], min(remaining, 1.0))
        while chan.recv_ready():
            out += chan.recv(_READ_SIZE)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(_READ_SIZE)
    return chan.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")


# -- OpenSSH argv (same key, known_hosts and strictness as the connections above) ------------------
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


def ssh_command(host: Host, deadline: float, command: str) -> list[str]:
    """``ssh`` running ``command`` (a shell string) on ``host``, no tty, our strict options."""
    return ["ssh", "-T", "-p", str(host.port), *ssh_options(host, deadline), "--", host.destination, command]


def shell_command(host: Host, connect_timeout: float) -> list[str]:
    """``ssh`` opening an interactive login shell on ``host`` (tty), our strict options."""
    deadline = time.monotonic() + connect_timeout
    return ["ssh", "-p", str(host.port), *ssh_options(host, deadline), host.destination]
