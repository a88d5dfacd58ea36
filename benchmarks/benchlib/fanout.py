"""Measurement 1, fan-out: the four-step ad-hoc job of benchlib/jobs.py on N hosts.

Floor: OpenSSH through ``xargs -P N``, one session per host running the chained steps.
"""

from __future__ import annotations

import json
import uuid

from benchlib import ansible, pyinfra_tool
from benchlib.env import BENCH, DRIVERS, ROOT, VENV_BIN, BenchError, Proc, base_env, run
from benchlib.jobs import chained
from benchlib.timing import Method

KEY = "fanout"
TITLE = "Fan-out: 4-step ad-hoc job (uname, df, write a file, read it back)"
FLOOR = "ssh-xargs"
PLAYBOOK = BENCH / "plays" / "fanout.yml"


def _ok_count(proc: Proc, n: int) -> None:
    """Drivers print ``OK <hosts>``; all n must be there."""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("OK ")]
    if not lines or int(lines[-1].split()[1]) != n:
        raise BenchError(f"expected OK {n}, got {lines[-1] if lines else proc.tail(2)}")


def _token_count(proc: Proc, token: str, n: int) -> None:
    """The token must come back once per host."""
    # pyinfra prints host output on stderr, the others on stdout: count both.
    got = sum(1 for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip().endswith(token))
    if got != n:
        raise BenchError(f"token read back from {got} of {n} hosts")


def _host_lines(proc: Proc, token: str, n: int) -> None:
    """``invoke run`` prints ``HOST | line``; the token must come back from n distinct hosts."""
    hosts = {ln.split(" | ", 1)[0] for ln in proc.stdout.splitlines() if ln.rstrip().endswith(f" | {token}")}
    if len(hosts) != n:
        raise BenchError(f"token read back from {len(hosts)} of {n} hosts")


class _Tokened:
    """A fresh token per run, so a stale file from an earlier run cannot pass step 4."""

    def __init__(self) -> None:
        self.value = ""

    def new(self) -> None:
        self.value = f"ff-{uuid.uuid4().hex[:12]}"


def methods(ctx, n: int) -> list[Method]:
    """Every fan-out method at size n."""
    inv = ctx.fleet.ansible_inventory(n)
    ports = ctx.fleet.host_list(n)
    opts = ctx.fleet.ssh_opts()
    tok = _Tokened()

    def xargs() -> Proc:
        argv = ["xargs", "-P", n, "-I{}", "-a", ports, "ssh", *opts, "-p", "{}", "admin@127.0.0.1", chained(tok.value)]
        return run(argv, timeout=600)

    def driver(script: str, *extra: str):
        return lambda: run(
            [VENV_BIN / "python", DRIVERS / script, "--inventory", inv, "--token", tok.value, *extra], timeout=600
        )

    def invoke_run() -> Proc:
        argv = [VENV_BIN / "invoke", "run", "--inventory", inv, "--hosts", "web", chained(tok.value)]
        return run(argv, env=base_env({"FLASKFLEET_STATE_DIR": str(ctx.state_dir)}), timeout=600)

    def ansible_job(tuned: bool):
        control = {}

        def go() -> Proc:
            control["dir"] = ansible.ControlDir()
            return ansible.playbook(
                PLAYBOOK, inv, {"token": tok.value}, tuned=tuned, control=control["dir"], timeout=900
            )

        def done() -> None:
            if "dir" in control:
                control.pop("dir").close()

        return go, done

    stock_go, stock_done = ansible_job(False)
    tuned_go, tuned_done = ansible_job(True)
    pyinfra_reason = pyinfra_tool.unavailable()

    def pyinfra_exec() -> Proc:
        return pyinfra_tool.run_cli([ctx.fleet.pyinfra_inventory(n), "exec", "--", chained(tok.value)], parallel=n)

    return [
        Method(FLOOR, xargs, check=lambda p: _token_count(p, tok.value, n), prepare=tok.new, floor=True),
        Method(
            "ssh-controlmaster",
            driver("ssh_pool.py", "--opts", json.dumps(opts)),
            check=lambda p: _ok_count(p, n),
            prepare=tok.new,
        ),
        Method("flaskfleet", driver("flaskfleet_job.py"), check=lambda p: _ok_count(p, n), prepare=tok.new),
        Method(
            "invoke run",
            invoke_run,
            check=lambda p: _host_lines(p, tok.value, n),
            prepare=tok.new,
            unavailable=None if (ROOT / "tasks.py").exists() else "no tasks.py (invoke tasks not landed)",
        ),
        Method(
            "fabric ThreadingGroup",
            driver("fabric_job.py", "--group", "threading"),
            check=lambda p: _ok_count(p, n),
            prepare=tok.new,
        ),
        Method(
            "fabric SerialGroup",
            driver("fabric_job.py", "--group", "serial"),
            check=lambda p: _ok_count(p, n),
            prepare=tok.new,
        ),
        Method(
            "ansible stock", stock_go, check=lambda p: ansible.check_recap(p, n), prepare=tok.new, cleanup=stock_done
        ),
        Method(
            "ansible tuned", tuned_go, check=lambda p: ansible.check_recap(p, n), prepare=tok.new, cleanup=tuned_done
        ),
        Method(
            "pyinfra exec",
            pyinfra_exec,
            check=lambda p: _token_count(p, tok.value, n),
            prepare=tok.new,
            unavailable=pyinfra_reason,
        ),
    ]
