"""Unit tests for flaskfleet.cloud.docker_host: argument handling and exact-count arithmetic.

Everything here runs without a Docker engine; the module's bad-input paths must fail before
they ever talk to one (nothing may be created), so these tests also prove that ordering.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flaskfleet.cloud.plugins.modules import docker_host

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx3i0cRtmQ8n4R5Yp1QwJ6bZfT2m9Qe7m0kz0Yl1kRp test@example"


def run_module(args: dict, capsys) -> dict:
    """Run the module's main() with ``args`` and return its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        docker_host.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("existing", "count", "to_create", "to_remove"),
    [
        ([], 2, [1, 2], []),
        ([1, 2], 2, [], []),
        ([1, 2, 3], 1, [], [3, 2]),
        ([1, 3], 3, [2], []),
        ([1, 3, 5], 2, [], [5]),
        ([2], 0, [], [2]),
        ([4], 3, [1, 2], []),
        ([], 0, [], []),
    ],
)
def test_exact_count_fills_lowest_numbers_and_removes_highest(existing, count, to_create, to_remove):
    assert docker_host.plan_exact_count(existing, count) == (to_create, to_remove)


def test_exact_count_of_fifty_creates_fifty_distinct_numbers():
    to_create, to_remove = docker_host.plan_exact_count([7, 9], 50)
    assert len(to_create) == 48 and not to_remove
    assert sorted(set(to_create) | {7, 9}) == list(range(1, 51))


@pytest.mark.parametrize(
    ("name", "number"),
    [("web-1", 1), ("web-12", 12), ("web-0", None), ("web-01", None), ("webx-1", None), ("web-1-2", None)],
)
def test_host_number_only_for_our_own_names(name, number):
    assert docker_host.host_number(name, "web") == number


@pytest.mark.parametrize(
    ("value", "expected"), [(2, 2), ("2", 2), (2.0, 2), (" 3 ", 3), (0, 0), (-1, -1), (None, None)]
)
def test_count_accepts_whole_numbers(value, expected):
    assert docker_host.parse_count(value) == expected


@pytest.mark.parametrize("value", [1.5, "1.5", "two", True, [2]])
def test_count_refuses_anything_else(value):
    with pytest.raises(ValueError, match=r"^count must be a whole number of hosts, 0 or more \(got "):
        docker_host.parse_count(value)


def base_params(**overrides) -> dict:
    """Parameters as AnsibleModule would hand them over, with defaults."""
    params = dict(
        name="web",
        app="hello",
        group=None,
        count=2,
        state="present",
        published_ports=[80],
        wait_timeout=120,
        ssh_user="admin",
    )
    params.update(overrides)
    return params


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"count": -1}, "count must be 0 or more (got -1): it is the exact number of hosts to keep"),
        ({"count": 1.5}, "count must be a whole number of hosts, 0 or more (got 1.5)"),
        (
            {"name": "web_1"},
            "name 'web_1' is not a valid host name: use letters, digits and '-', at most 50 (e.g. web)",
        ),
        ({"published_ports": [0, 80, 70000]}, "published_ports must be TCP ports between 1 and 65535 (got 0, 70000)"),
        ({"wait_timeout": 0}, "wait_timeout must be between 1 and 3600 seconds (got 0)"),
        ({"app": "my app"}, "app 'my app' must be a non-empty word without spaces"),
    ],
)
def test_check_params_names_the_problem(overrides, message):
    assert docker_host.check_params(base_params(**overrides)) == [message]


def test_check_params_accepts_good_parameters():
    assert docker_host.check_params(base_params(count="3")) == []


def test_public_key_file_missing(tmp_path):
    missing = tmp_path / "nope.pub"
    with pytest.raises(ValueError) as err:
        docker_host.read_public_key({"ssh_public_key_file": str(missing)})
    assert str(err.value) == (
        f"ssh_public_key_file {missing} does not exist: create a key pair (make setup creates "
        ".flaskfleet/id_ed25519.pub) or point ssh_public_key_file at an existing public key"
    )


def test_private_key_given_as_public_key_is_refused_without_echoing_it(tmp_path):
    private = tmp_path / "id_ed25519"
    private.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(ValueError) as err:
        docker_host.read_public_key({"ssh_public_key_file": str(private)})
    assert "does not hold one SSH public key" in str(err.value)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(err.value)


def test_public_key_from_file_and_string(tmp_path):
    pub = tmp_path / "id.pub"
    pub.write_text(PUBLIC_KEY + "\n")
    assert docker_host.read_public_key({"ssh_public_key_file": str(pub)}) == PUBLIC_KEY
    assert docker_host.read_public_key({"ssh_public_key": "  " + PUBLIC_KEY + "\n"}) == PUBLIC_KEY
    assert docker_host.read_public_key({}) is None


def test_module_refuses_negative_count_before_docker(capsys, monkeypatch):
    # An engine that cannot exist: the count check must come first and be the only message.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = run_module({"name": "web", "app": "hello", "count": -1, "ssh_public_key": PUBLIC_KEY}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "count must be 0 or more (got -1): it is the exact number of hosts to keep"


def test_module_refuses_fractional_count(capsys):
    result = run_module({"name": "web", "app": "hello", "count": 1.5, "ssh_public_key": PUBLIC_KEY}, capsys)
    assert result["msg"] == "count must be a whole number of hosts, 0 or more (got 1.5)"


def test_module_requires_a_key_and_a_count_for_present(capsys):
    result = run_module({"name": "web", "app": "hello", "count": 1}, capsys)
    assert result["failed"] is True
    assert "ssh_public_key" in result["msg"] and "ssh_public_key_file" in result["msg"]
    result = run_module({"name": "web", "app": "hello", "ssh_public_key": PUBLIC_KEY}, capsys)
    assert "count" in result["msg"]


def test_module_reports_unreachable_engine_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = run_module({"name": "web", "app": "hello", "count": 1, "ssh_public_key": PUBLIC_KEY}, capsys)
    assert result["msg"] == (
        "Docker engine is not reachable at unix:///nonexistent/docker.sock: start it (make setup) or point "
        "docker_host/DOCKER_HOST at a running engine (No such file or directory)"
    )
    assert "\n" not in result["msg"]
