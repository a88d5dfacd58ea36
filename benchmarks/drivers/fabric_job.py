"""The fan-out job with plain Fabric, as a user would write it: ThreadingGroup or SerialGroup.

Prints ``OK <hosts>`` when step 4 succeeded on every host. Host keys are checked strictly
against the bench known_hosts (RejectPolicy), as flaskfleet does, so both pay the same.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paramiko
from benchlib.jobs import load_hosts, steps
from fabric import Config, Connection, SerialGroup, ThreadingGroup


def connection(host: dict) -> Connection:
    """A Connection that uses only the inventory's key and rejects unknown host keys."""
    conn = Connection(
        host["address"],
        user=host["user"],
        port=host["port"],
        config=Config(lazy=True),
        connect_kwargs={"key_filename": host["key"], "look_for_keys": False, "allow_agent": False},
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    conn.client.get_host_keys().load(host["known_hosts"])
    return conn


def main() -> int:
    """Run the four steps on every host; exit 1 if any host failed any step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--group", choices=["threading", "serial"], required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    conns = [connection(h) for h in load_hosts(args.inventory)]
    group = (ThreadingGroup if args.group == "threading" else SerialGroup).from_connections(conns)
    try:
        for step in steps(args.token):
            results = group.run(step, hide=True, warn=True)
        good = sum(1 for r in results.values() if r.ok and r.stdout.strip() == args.token)
    finally:
        group.close()
    print(f"OK {good}")
    return 0 if good == len(conns) else 1


if __name__ == "__main__":
    sys.exit(main())
