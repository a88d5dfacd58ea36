"""Run a ``flaskfleet.cloud`` playbook through ansible-runner's Python API.

The invoke tasks read the job's structured events instead of parsing ``ansible-playbook`` output:
each event's display text goes to stderr as it happens (masked), and the summary table is built
from ``playbook_on_stats`` plus the ``runner_on_failed`` / ``runner_on_unreachable`` events.

Variables travel in ``env/extravars`` of a private 0700 data directory (never on the command line,
where ``ps`` would show them), and that directory, with the job's artifacts (events hold task
results), is removed afterwards. The playbook runs from the current directory, so the project's
``ansible.cfg`` applies as it does for ``ansible-playbook`` itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flaskfleet import output


class PlaybookError(Exception):
    """The playbook could not be started (ansible-playbook is missing)."""


@dataclass
class HostSummary:
    """One host's line of the recap, with the first failure's reason."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    detail: str = ""

    @property
    def status(self) -> str:
        """``ok``, ``failed`` or ``unreachable``."""
        return "unreachable" if self.unreachable else "failed" if self.failed else "ok"


@dataclass
class PlaybookResult:
    """What a playbook run did, from its events."""

    playbook: str
    status: str
    rc: int
    hosts: list[HostSummary] = field(default_factory=list)
    artifact_data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The run succeeded and no host failed or was unreachable."""
        return self.rc == 0 and self.status == "successful" and all(h.status == "ok" for h in self.hosts)


def ansible_playbook() -> str:
    """``ansible-playbook`` next to our interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise PlaybookError("ansible-playbook not found; install ansible-core in this environment")
    return found


def _reason(event_data: dict[str, Any]) -> str:
    """The reason of a failed or unreachable task result, on one line (at most 300 characters)."""
    res = event_data.get("res") or {}
    message = res.get("msg") or res.get("stderr") or res.get("reason") or "failed"
    text = " ".join(str(message).split()) or "failed"
    return f"{event_data.get('task', '?')}: {text if len(text) <= 300 else text[:297] + '...'}"


def summarize(events: Iterable[dict[str, Any]]) -> tuple[list[HostSummary], dict[str, Any]]:
    """Per-host counters from ``playbook_on_stats`` and the first failure reason per host."""
    reasons: dict[str, str] = {}
    stats: dict[str, Any] = {}
    for event in events:
        data = event.get("event_data") or {}
        kind = event.get("event")
        if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            reasons.setdefault(data.get("host", "?"), _reason(data))
        elif kind == "playbook_on_stats":
            stats = data
    names = sorted({h for key in ("ok", "changed", "failures", "dark", "skipped") for h in stats.get(key) or {}})
    hosts = [
        HostSummary(
            host=name,
            ok=(stats.get("ok") or {}).get(name, 0),
            changed=(stats.get("changed") or {}).get(name, 0),
            failed=(stats.get("failures") or {}).get(name, 0),
            unreachable=(stats.get("dark") or {}).get(name, 0),
            skipped=(stats.get("skipped") or {}).get(name, 0),
            detail=reasons.get(name, ""),
        )
        for name in names
    ]
    return hosts, dict(stats.get("artifact_data") or {})


def summary_table(result: PlaybookResult, secrets: Sequence[str] = ()) -> output.Table:
    """HOST / STATUS / OK / CHANGED / FAILED / UNREACHABLE / DETAIL, one row per host."""
    table = output.Table(title=f"flaskfleet.cloud.{result.playbook}", box=output.box.SIMPLE_HEAD,
                         title_justify="left", pad_edge=False)  # fmt: skip
    for name in ("HOST", "STATUS", "OK", "CHANGED", "FAILED", "UNREACHABLE", "DETAIL"):
        table.add_column(name, justify="right" if name in ("OK", "CHANGED", "FAILED", "UNREACHABLE") else "left")
    styles = {"ok": "green", "failed": "red", "unreachable": "bold red"}
    for h in result.hosts:
        table.add_row(output.escape(h.host), f"[{styles[h.status]}]{h.status}[/]", str(h.ok), str(h.changed),
                      str(h.failed), str(h.unreachable), output.escape(output.mask(h.detail, secrets)))  # fmt: skip
    return table


#: The events :func:`summarize` reads; the handler keeps these (in memory) and drops the rest.
_SUMMARY_EVENTS = frozenset(("runner_on_failed", "runner_on_unreachable", "playbook_on_stats"))


def _event_printer(secrets: Sequence[str], kept: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """An ansible-runner ``event_handler``: each event's display text to stderr, secrets masked.

    The events :func:`summarize` needs go into ``kept``; no event is written to the job's artifact
    directory (returning ``False``): a deploy at N=10 emits hundreds, each one a JSON file written
    and read back, and their task results have no reason to touch the disk.
    """
    err = output.console(stderr=True)

    def _print(event: dict[str, Any]) -> bool:
        text = event.get("stdout") or ""
        if text.strip():
            err.print(output.from_ansi(output.mask(text, secrets)))
        if event.get("event") in _SUMMARY_EVENTS:
            kept.append(event)
        return False

    return _print


@contextlib.contextmanager
def _private_job(extravars: dict[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    """A 0700 private data dir holding ``extravars`` (0600), and the job's env vars; removed after."""
    # NOTE: the prefix is the one the vars file had before ansible-runner: tests check it is gone.
    data_dir = tempfile.mkdtemp(prefix="flaskfleet-vars-")
    try:
        env_dir = Path(data_dir) / "env"
        env_dir.mkdir(mode=0o700)
        extravars_file = env_dir / "extravars"
        extravars_file.touch(mode=0o600)
        extravars_file.write_text(yaml.safe_dump(extravars))
        envvars = {
            "PATH": os.pathsep.join((os.path.dirname(ansible_playbook()), os.environ.get("PATH", os.defpath))),
            # ansible-runner turns host key checking off unless told; the project's setting stays.
            "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
        }
        yield data_dir, envvars
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _inventory(inventory: str) -> str:
    """An inventory path made absolute (the job runs from its own directory), or a host list as is."""
    return os.path.abspath(inventory) if os.path.exists(inventory) else inventory


def run(playbook: str, inventory: str, extravars: dict[str, Any], verbose: int = 0,
        secrets: Sequence[str] = ()) -> PlaybookResult:  # fmt: skip
    """Run ``flaskfleet.cloud.PLAYBOOK`` on ``inventory`` through ``ansible_runner.run``.

    :param secrets: values never to print (they are masked in every line shown).
    :raises PlaybookError: when ansible-playbook is missing.
    """
    import ansible_runner  # NOTE: imported here: `flaskfleet hosts` and friends never pay for it

    events: list[dict[str, Any]] = []
    with _private_job(extravars) as (data_dir, envvars):
        job = ansible_runner.run(
            private_data_dir=data_dir,
            project_dir=os.getcwd(),
            playbook=f"flaskfleet.cloud.{playbook}",
            inventory=_inventory(inventory),
            cmdline="-" + "v" * min(verbose, 4) if verbose else None,
            envvars=envvars,
            event_handler=_event_printer(secrets, events),
            quiet=True,
            suppress_env_files=True,
        )
        hosts, artifact_data = summarize(events)
        return PlaybookResult(playbook, job.status, job.rc if job.rc is not None else 1, hosts, artifact_data)


def run_module(module: str, module_args: str, pattern: str, inventory: str, extravars: dict[str, Any],
               cmdline: str = "") -> dict[str, tuple[str, dict[str, Any]]]:  # fmt: skip
    """Run one module ad hoc (``ansible PATTERN -m MODULE -a ARGS``) through ansible-runner, quietly.

    :returns: per host, ``("ok" | "failed" | "unreachable", the module's result)``.
    :raises PlaybookError: when ansible is missing, or the run gave no host result (the reason).
    """
    import ansible_runner

    outcome = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable"}
    with _private_job(extravars) as (data_dir, envvars):
        job = ansible_runner.run(
            private_data_dir=data_dir,
            host_pattern=pattern,
            module=module,
            module_args=module_args,
            inventory=_inventory(inventory),
            cmdline=cmdline or None,
            envvars=envvars,
            quiet=True,
            suppress_env_files=True,
        )
        results = {}
        for event in job.events:
            data = event.get("event_data") or {}
            if event.get("event") in outcome and "host" in data:
                results[data["host"]] = (outcome[event["event"]], data.get("res") or {})
        if not results:
            lines = [ln for ln in job.stdout.read().splitlines() if ln.strip()]
            raise PlaybookError(f"{module} gave no host result: {(lines or ['no output'])[-1].strip()}")
        return results
