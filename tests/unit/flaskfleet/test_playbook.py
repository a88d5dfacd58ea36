"""flaskfleet.playbook: collection playbooks run through ansible-runner, read from their events.

The runs are real (the installed collection, ``ansible_runner.run``); they use plays that stay on
the controller: the provision role's preflight refusing an unknown provider, and a teardown of an
app that has no hosts (the Docker engine answers that nothing is there).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from flaskfleet import output, playbook

SECRET = "s3cr3t-value-for-the-runner-test"


@pytest.fixture
def installed(collections_path, monkeypatch, tmp_path):
    """The installed collection for ansible-runner's ansible-playbook; temp files under tmp_path."""
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", collections_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return tmp_path / "tmp"


def test_failure_is_read_from_the_events(installed, capsys):
    result = playbook.run(
        "provision", "localhost,", {"flaskfleet_provider": "nope", "flask_app_env": {"KEY": SECRET}}, secrets=[SECRET]
    )
    assert not result.ok
    assert result.status == "failed" and result.rc == 2
    [host] = result.hosts
    assert (host.host, host.status, host.failed) == ("localhost", "failed", 1)
    assert "provision_provider must be one of: docker, ec2" in host.detail and "got: nope" in host.detail
    streamed = capsys.readouterr().err
    assert "TASK [flaskfleet.cloud.provision : Validating arguments against arg spec" in streamed
    assert SECRET not in streamed
    # The variables travelled in a 0600 file of a private data dir; nothing is left behind.
    assert list(installed.iterdir()) == []


def test_success_and_the_summary_table(installed, capsys):
    result = playbook.run("teardown", "localhost,", {"provision_app": "t-runner-nothing-here"})
    assert result.ok, result
    [host] = result.hosts
    assert (host.host, host.status, host.failed, host.unreachable) == ("localhost", "ok", 0, 0)
    assert host.ok > 0
    console = output.console()
    with console.capture() as captured:
        console.print(playbook.summary_table(result))
    rows = [line.split() for line in captured.get().splitlines()]
    assert ["localhost", "ok", str(host.ok), str(host.changed), "0", "0"] in rows
    assert list(installed.iterdir()) == []


def test_summary_masks_secrets_in_failure_reasons():
    unreachable = {"host": "web-3", "task": "Gather", "res": {"msg": "Host key verification failed."}}
    events = [
        {"event": "runner_on_ok", "event_data": {"host": "web-1", "task": "a"}},
        {"event": "runner_on_failed", "event_data": {"host": "web-2", "task": "b", "ignore_errors": True,
                                                     "res": {"msg": "ignored"}}},
        {"event": "runner_on_failed", "event_data": {"host": "web-2", "task": "Start",
                                                     "res": {"msg": f"bad {SECRET}\nmore"}}},
        {"event": "runner_on_unreachable", "event_data": unreachable},
        {"event": "playbook_on_stats", "event_data": {"ok": {"web-1": 3, "web-2": 1}, "changed": {"web-1": 1},
                                                      "failures": {"web-2": 1}, "dark": {"web-3": 1}, "skipped": {},
                                                      "artifact_data": {"flaskfleet_known_hosts": "x"}}},
    ]  # fmt: skip
    hosts, artifact_data = playbook.summarize(events)
    assert [(h.host, h.status, h.ok, h.changed, h.detail) for h in hosts] == [
        ("web-1", "ok", 3, 1, ""),
        ("web-2", "failed", 1, 0, f"Start: bad {SECRET} more"),
        ("web-3", "unreachable", 0, 0, "Gather: Host key verification failed."),
    ]
    assert artifact_data == {"flaskfleet_known_hosts": "x"}
    result = playbook.PlaybookResult("deploy", "failed", 2, hosts)
    console = output.console()
    with console.capture() as captured:
        console.print(playbook.summary_table(result, [SECRET]))
    text = captured.get()
    assert SECRET not in text and f"Start: bad {output.MASK}" in text


def test_missing_ansible_playbook_is_one_line(monkeypatch):
    monkeypatch.setattr(playbook.sys, "executable", str(Path("/nonexistent/python")))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(playbook.PlaybookError, match=r"^ansible-playbook not found; install ansible-core"):
        playbook.run("deploy", "localhost,", {})
