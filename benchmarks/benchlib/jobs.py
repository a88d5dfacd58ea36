"""The fan-out job, defined once so every tool runs exactly the same four steps.

Step 4 reads the file back and checks it holds this run's token, so a tool that skipped a host
or a step cannot pass: every method must report n hosts whose step 4 succeeded.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

REMOTE_FILE = "/tmp/ffbench-fanout.txt"


def steps(token: str) -> list[str]:
    """uname, df, write a file, read it back (and check it)."""
    return [
        "uname -sr",
        "df -P /",
        f"printf '%s\\n' {shlex.quote(token)} > {REMOTE_FILE}",
        f"grep -x {shlex.quote(token)} {REMOTE_FILE}",
    ]


def chained(token: str) -> str:
    """The four steps as one shell command line (for tools that run one command per session)."""
    return " && ".join(steps(token))


def load_hosts(inventory: str | Path) -> list[dict]:
    """The hosts of a bench inventory file: name, port, user, key, known_hosts."""
    data = json.loads(Path(inventory).read_text())
    hosts = []
    for name, hv in data["all"]["children"]["web"]["hosts"].items():
        args = shlex.split(hv["ansible_ssh_common_args"])
        known = next(a.split("=", 1)[1] for a in args if a.startswith("UserKnownHostsFile="))
        hosts.append(
            {
                "name": name,
                "address": hv["ansible_host"],
                "port": int(hv["ansible_port"]),
                "user": hv["ansible_user"],
                "key": hv["ansible_ssh_private_key_file"],
                "known_hosts": known,
            }
        )
    return hosts


def load_fleet_hosts(inventory: str | Path) -> list:
    """The same hosts as :class:`flaskfleet.inventory.Host` objects (for the flaskfleet drivers)."""
    from flaskfleet.inventory import Host

    return [
        Host(h["name"], h["address"], h["port"], h["user"], key_file=h["key"], known_hosts=h["known_hosts"])
        for h in load_hosts(inventory)
    ]


def connect_timeout() -> float:
    """The flaskfleet drivers' connect timeout: ``FLASKFLEET_CONNECT_TIMEOUT`` as ``invoke`` reads it
    (10 s when unset). On a machine loaded far past its 2 cores sshd's banner can take longer, and
    the Fabric and OpenSSH methods wait for it without a bound."""
    return float(os.environ.get("FLASKFLEET_CONNECT_TIMEOUT", "10"))
