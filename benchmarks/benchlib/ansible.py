"""Running Ansible two ways: with flaskfleet's shipped ansible.cfg and with Ansible's stock settings.

"Stock" is an empty config file (forks 5, no pipelining, implicit fact gathering, interpreter
discovery, Ansible's default ssh_args); "tuned" is the repo's ``ansible.cfg`` unchanged. Both get
the same inventory, the same collections path (not a performance setting) and a fresh
ControlPath directory per run, whose masters are closed afterwards so no run starts warm.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchlib.env import BENCH, ROOT, VENV_BIN, WORK, BenchError, Proc, base_env, run

STOCK_CFG = BENCH / "plays" / "stock.cfg"
TUNED_CFG = ROOT / "ansible.cfg"
COLLECTIONS = WORK / "collections"
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def install_collection() -> None:
    """Build and install the working tree's collection into the bench collections path."""
    COLLECTIONS.mkdir(parents=True, exist_ok=True)
    run([ROOT / "scripts" / "install-collection.sh", COLLECTIONS], timeout=600)


def env(tuned: bool, control_dir: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for one ansible run."""
    values = {
        "ANSIBLE_CONFIG": str(TUNED_CFG if tuned else STOCK_CFG),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_LOCAL_TEMP": str(WORK / "ansible-tmp"),
    }
    if control_dir is not None:
        values["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    values.update(extra or {})
    return base_env(values)


class ControlDir:
    """A fresh ControlPath directory; ``close()`` stops every master left in it."""

    def __init__(self) -> None:
        (WORK / "cp").mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="cp-", dir=WORK / "cp"))

    def close(self) -> None:
        """``ssh -O exit`` on each socket (masters persist 60-120 s otherwise), then remove the dir."""
        for sock in self.path.iterdir():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=10, check=False
            )
        shutil.rmtree(self.path, ignore_errors=True)


def playbook(
    name: str | Path,
    inventory: Path | None,
    extra: dict | None = None,
    tuned: bool = True,
    timeout: float = 1800,
    control: ControlDir | None = None,
    args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Proc:
    """``ansible-playbook`` with extra vars as JSON; raises BenchError on failure."""
    import json

    argv = [VENV_BIN / "ansible-playbook", name]
    if inventory is not None:
        argv += ["-i", inventory]
    if extra:
        argv += ["-e", json.dumps(extra)]
    argv += args or []
    return run(argv, env=env(tuned, control.path if control else None, extra_env), timeout=timeout)


def adhoc(
    pattern: str, inventory: Path, module: str, module_args: str | None, tuned: bool, control: ControlDir, timeout=900
) -> Proc:
    """``ansible PATTERN -m MODULE [-a ARGS]``."""
    argv = [VENV_BIN / "ansible", pattern, "-i", inventory, "-m", module]
    if module_args is not None:
        argv += ["-a", module_args]
    return run(argv, env=env(tuned, control.path), timeout=timeout)


def recap(proc: Proc) -> dict[str, dict[str, int]]:
    """PLAY RECAP per host: ok, changed, unreachable, failed."""
    return {
        m.group(1): {
            "ok": int(m.group(2)),
            "changed": int(m.group(3)),
            "unreachable": int(m.group(4)),
            "failed": int(m.group(5)),
        }
        for m in _RECAP.finditer(proc.stdout)
    }


def check_recap(proc: Proc, n: int, changed: int | None = None) -> dict[str, int]:
    """Every one of the n hosts ran clean (and, if given, reported exactly ``changed`` changes)."""
    hosts = recap(proc)
    bad = {h: r for h, r in hosts.items() if r["failed"] or r["unreachable"]}
    if len(hosts) != n or bad:
        raise BenchError(f"expected {n} clean hosts in PLAY RECAP, got {len(hosts)} ({len(bad)} failed)")
    total_changed = sum(r["changed"] for r in hosts.values())
    if changed is not None and total_changed != changed:
        raise BenchError(f"expected changed={changed} in total, PLAY RECAP says {total_changed}")
    return {"changed": total_changed}


def check_adhoc(proc: Proc, n: int) -> None:
    """Every host answered SUCCESS (or CHANGED)."""
    good = len(re.findall(r"^\S+ \| (SUCCESS|CHANGED)", proc.stdout, re.M))
    if good != n:
        raise BenchError(f"expected {n} hosts SUCCESS, got {good}")
