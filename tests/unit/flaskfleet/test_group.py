"""flaskfleet.group and flaskfleet.output: the parallel engine, per-host results, what people see.

The engine tests replace only the SSH connection (``Fleet.connection``): scheduling, deadlines and
result collection are the real code. Real SSH runs in tests/integration/tasks/.
"""

from __future__ import annotations

import threading
import time

import paramiko
import pytest

from flaskfleet import output
from flaskfleet.group import Fleet
from flaskfleet.inventory import Host
from flaskfleet.ssh import CommandTimeout, HostResult, describe_error, sudo_wrap


def make_hosts(n: int) -> list[Host]:
    return [Host(name=f"web-{i}", address="127.0.0.1", port=2200 + i) for i in range(1, n + 1)]


class FakeConn:
    """Stands in for an open Fabric connection; ``close`` unblocks a 'hung' host like a real one."""

    def __init__(self):
        self.closed = threading.Event()
        self.is_connected = True

    def close(self):
        self.closed.set()


@pytest.fixture
def fleet_factory(monkeypatch):
    conns: dict[str, FakeConn] = {}

    def connection(self, host, deadline=None):
        conn = conns.setdefault(host.name, FakeConn())
        self._connections[host.name] = conn  # as the real method does, so the watchdog can cut it
        return conn

    monkeypatch.setattr(Fleet, "connection", connection)
    return lambda n, **kw: (Fleet(make_hosts(n), **kw), conns)


def test_hung_host_fails_at_its_deadline_and_others_finish(fleet_factory):
    fleet, conns = fleet_factory(5, timeout=1, parallel=5)

    def work(host, conn, deadline):
        if host.name == "web-3":
            conn.closed.wait(30)  # a frozen host: only closing its connection ends this
            raise EOFError
        return HostResult(host=host.name, ok=True, exit_code=0, stdout=host.name)

    started = time.monotonic()
    results = fleet.each(work)
    elapsed = time.monotonic() - started
    assert [r.host for r in results] == ["web-1", "web-2", "web-3", "web-4", "web-5"]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert results[2].error == "timed out after 1 s (host hung?)"
    assert elapsed < 1 + 1.5 + 0.8, elapsed  # timeout + watchdog grace, not the 30 s the host would take
    assert conns["web-3"].closed.wait(2)  # its connection was cut
    # a later step skips the hung host at once instead of waiting again
    again = fleet.each(lambda h, c, d: HostResult(host=h.name, ok=True))
    assert again[2].error.startswith("skipped: unreachable earlier (timed out after 1 s")


def test_parallel_bound_is_respected(fleet_factory):
    fleet, _ = fleet_factory(12, parallel=3, timeout=10)
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def work(host, conn, deadline):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return HostResult(host=host.name, ok=True)

    assert all(r.ok for r in fleet.each(work))
    assert state["max"] == 3


def test_deadline_counts_from_when_a_host_starts(fleet_factory):
    # 4 hosts, 2 at a time, each 0.6 s, timeout 1 s: the second pair must not be charged for the wait.
    fleet, _ = fleet_factory(4, parallel=2, timeout=1)
    results = fleet.each(lambda h, c, d: (time.sleep(0.6), HostResult(host=h.name, ok=True))[1])
    assert all(r.ok for r in results), [r.error for r in results]


def test_exceptions_become_that_hosts_result(fleet_factory):
    fleet, _ = fleet_factory(2)

    def work(host, conn, deadline):
        if host.name == "web-1":
            raise CommandTimeout("command did not finish within the timeout: sleep 99")
        return HostResult(host=host.name, ok=False, exit_code=3, stderr="boom\n")

    one, two = fleet.each(work)
    assert (one.status, one.error) == ("error", "command did not finish within the timeout: sleep 99")
    assert (two.status, two.exit_code) == ("failed", 3)


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (TimeoutError(), "no SSH answer within 5 s (host down or hung)"),
        (paramiko.SSHException("Error reading SSH protocol banner"), "no SSH answer within 5 s (host down or hung)"),
        (paramiko.AuthenticationException("Authentication failed."),
         "authentication failed (Authentication failed.); check ansible_user and the SSH key"),
        (paramiko.ssh_exception.NoValidConnectionsError({("127.0.0.1", 2201): ConnectionRefusedError()}),
         "connection refused on 127.0.0.1:2201 (host stopped or sshd not running)"),
        (EOFError(), "connection lost"),
        (ValueError("odd"), "ValueError: odd"),
    ],
)  # fmt: skip
def test_describe_error(exc, text):
    assert describe_error(exc, 5) == text


def test_sudo_wrap_quotes_the_command():
    assert sudo_wrap("echo 'a b' && id") == "sudo -n -H -- sh -c 'echo '\"'\"'a b'\"'\"' && id'"


def test_result_as_dict_and_status():
    r = HostResult(host="web-1", ok=False, exit_code=None, error="connection lost", duration=1.23456)
    assert r.as_dict() == {
        "host": "web-1", "ok": False, "exit_code": None, "stdout": "", "stderr": "", "duration": 1.235,
        "error": "connection lost", "changed": None, "detail": {}, "status": "error",
    }  # fmt: skip


RESULTS = [
    HostResult(host="web-1", ok=True, exit_code=0, stdout="web-1\n", duration=0.2),
    HostResult(host="web-10", ok=False, exit_code=2, stdout="x\n", stderr="no such file\n", duration=0.3),
    HostResult(host="web-2", ok=False, error="connection refused on 127.0.0.1:2202 (host stopped)", duration=0.01),
]


def test_report_prints_outputs_table_and_summary(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    output.report(RESULTS, "run: uname -n", elapsed=1.5)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "web-1  | web-1" in lines and "web-10 | no such file" in lines
    assert "\x1b[" not in out  # no colours when not a terminal
    row = next(line for line in lines if line.lstrip().startswith("web-10 ") and "failed" in line)
    assert row.split() == ["web-10", "failed", "2", "0.30s", "exit", "2:", "no", "such", "file"]
    row = next(line for line in lines if line.lstrip().startswith("web-2 ") and "error" in line)
    assert "connection refused on 127.0.0.1:2202 (host stopped)" in row
    assert lines[-1] == "3 hosts: 1 ok, 2 failed in 1.5 s"


def test_summary_line_counts_changes_for_transfers():
    results = [HostResult(host="a", ok=True, changed=True), HostResult(host="b", ok=True, changed=False)]
    assert output.summary_line(results, 2) == "2 hosts: 2 ok, 0 failed, 1 changed in 2.0 s"


def test_mask_hides_every_secret_value():
    text = "SECRET_KEY=hunter22 TOKEN=abc123 hunter22 again"
    assert output.mask(text, ["hunter22", "abc123", "", "x"]) == "SECRET_KEY=******** TOKEN=******** ******** again"


# -- host keys: known_hosts read once per process, only the host's own keys per connection ----------
def _public(private) -> str:
    """``type base64`` of a new key, as known_hosts holds it."""
    from cryptography.hazmat.primitives import serialization

    encoding, form = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    return private.public_key().public_bytes(encoding, form).decode()


def test_known_keys_gives_each_host_only_its_keys_cheapest_type_first(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from flaskfleet import ssh

    rsa_key = _public(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ed, other = _public(ed25519.Ed25519PrivateKey.generate()), _public(ed25519.Ed25519PrivateKey.generate())
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:2201 {rsa_key}\n[127.0.0.1]:2201 {ed}\n[127.0.0.1]:2202 {other}\n")
    loads = []
    real_load = paramiko.HostKeys.load
    monkeypatch.setattr(paramiko.HostKeys, "load", lambda self, path: (loads.append(path), real_load(self, path)))
    one, two, three = (Host(f"web-{i}", "127.0.0.1", 2200 + i, known_hosts=str(known)) for i in (1, 2, 3))

    def described(keys: dict) -> dict:
        return {key_type: f"{key_type} {key.get_base64()}" for key_type, key in keys.items()}

    keys = ssh.known_keys(one)
    assert list(keys) == ["ssh-ed25519", "ssh-rsa"]  # ed25519 asked for first, whatever the file's order
    assert described(keys) == {"ssh-ed25519": ed, "ssh-rsa": rsa_key}
    assert described(ssh.known_keys(two)) == {"ssh-ed25519": other} and ssh.known_keys(three) == {}
    client_keys = ssh.connect(two).client.get_host_keys()
    assert described(client_keys.lookup("[127.0.0.1]:2202")) == {"ssh-ed25519": other}
    assert client_keys.lookup("[127.0.0.1]:2201") is None  # no other host's keys
    assert loads == [str(known)]  # parsed once for all of them
    known.write_text(f"[127.0.0.1]:2202 {ed}\n# re-provisioned: the file changed\n")
    assert described(ssh.known_keys(two)) == {"ssh-ed25519": ed} and loads == [str(known)] * 2
    assert ssh.known_keys(Host("x", "127.0.0.1", 2202, known_hosts=str(tmp_path / "missing"))) == {}
