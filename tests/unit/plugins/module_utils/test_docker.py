"""Unit tests for module_utils/_docker.py: describing hosts, label filters, SSH waits, errors."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _docker as docker_hosts

# A container summary in the shape GET /containers/json returns (trimmed to what we read).
SUMMARY = {
    "Id": "f27cdb9ff20dcb683951fda8dec27c8396cc0e114bad145bf980156af6032d66",
    "Names": ["/web-1"],
    "State": "running",
    "Labels": {
        "flaskfleet.managed": "true",
        "flaskfleet.app": "hello",
        "flaskfleet.group": "web",
        "flaskfleet.name": "web",
        "flaskfleet.user": "admin",
    },
    "Ports": [
        {"IP": "127.0.0.1", "PrivatePort": 443, "PublicPort": 32770, "Type": "tcp"},
        {"IP": "127.0.0.1", "PrivatePort": 22, "PublicPort": 32768, "Type": "tcp"},
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 32769, "Type": "tcp"},
        {"PrivatePort": 8080, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 9000, "PublicPort": 39000, "Type": "tcp"},  # noqa: S104 - data, not a bind
    ],
}


def test_describe_host_follows_the_contract():
    assert docker_hosts.describe_host(SUMMARY) == {
        "name": "web-1",
        "address": "127.0.0.1",
        "ssh_port": 32768,
        "published_ports": {"80": 32769, "443": 32770},
        "container_id": SUMMARY["Id"],
        "state": "running",
        "app": "hello",
        "group": "web",
        "user": "admin",
    }


def test_stopped_host_has_no_ports():
    stopped = dict(SUMMARY, State="exited", Ports=[])
    host = docker_hosts.describe_host(stopped)
    assert host["ssh_port"] is None and host["published_ports"] == {} and host["state"] == "exited"


def test_label_filters_narrow_by_what_is_given():
    assert docker_hosts.label_filters() == ["flaskfleet.managed=true"]
    assert docker_hosts.label_filters(app="hello", name="web", labels={"team": "a"}) == [
        "flaskfleet.managed=true",
        "flaskfleet.app=hello",
        "flaskfleet.name=web",
        "team=a",
    ]


def test_short_reason_keeps_one_line():
    nested = Exception(
        "Error while fetching server API version: "
        "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
    )
    assert docker_hosts.short_reason(nested) == "No such file or directory"
    assert docker_hosts.short_reason(Exception("line one\nline two")) == "line one line two"


def test_connect_to_missing_engine_says_what_to_do():
    with pytest.raises(docker_hosts.DockerHostsError) as err:
        docker_hosts.connect("unix:///nonexistent/docker.sock", timeout=5)
    assert str(err.value) == (
        "Docker engine is not reachable at unix:///nonexistent/docker.sock: start it (make setup) or point "
        "docker_host/DOCKER_HOST at a running engine (No such file or directory)"
    )


def test_run_concurrently_reports_each_failure():
    def half(value):
        if value % 2:
            raise RuntimeError(f"odd {value}")
        return value * 10

    outcomes = docker_hosts.run_concurrently(half, range(6))
    assert [(item, result) for item, result, error in outcomes if error is None] == [(0, 0), (2, 20), (4, 40)]
    assert [str(error) for _item, _result, error in outcomes if error is not None] == ["odd 1", "odd 3", "odd 5"]
    assert docker_hosts.run_concurrently(half, []) == []


class FakeServer:
    """A TCP server on 127.0.0.1 that behaves like docker-proxy in front of a booting sshd:
    it accepts and closes connections until ``banner_after`` seconds passed, then sends a banner."""

    def __init__(self, banner_after: float | None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.start = time.monotonic()
        self.banner_after = banner_after
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                ready = self.banner_after is not None and time.monotonic() - self.start >= self.banner_after
                if ready:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")

    def close(self):
        self.sock.close()


def test_wait_for_ssh_needs_the_banner_not_just_an_open_port():
    server = FakeServer(banner_after=0.8)
    try:
        started = time.monotonic()
        assert docker_hosts.wait_for_ssh(server.port, timeout=10)
        assert time.monotonic() - started >= 0.7
    finally:
        server.close()


def test_wait_for_ssh_is_bounded():
    server = FakeServer(banner_after=None)
    try:
        started = time.monotonic()
        assert docker_hosts.wait_for_ssh(server.port, timeout=1.0) is False
        assert time.monotonic() - started < 4
    finally:
        server.close()


def test_read_banner_of_closed_port_is_empty():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert docker_hosts.read_banner("127.0.0.1", port, 0.5) == ""
