"""Floor: OpenSSH, one ControlMaster per host, the four steps as four multiplexed sessions.

A thread pool runs one host per thread: open a master (``ssh -fNM``), run each step through it
(``ssh -S``), close the master. Prints ``OK <hosts>`` when step 4 succeeded everywhere.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib.jobs import load_hosts, steps


def one_host(host: dict, opts: list[str], token: str, sockdir: str) -> bool:
    """Master up, four steps, master down; True when step 4 printed the token."""
    sock = f"{sockdir}/{host['port']}"
    target = [*opts, "-p", str(host["port"]), "-o", f"ControlPath={sock}", f"{host['user']}@{host['address']}"]
    subprocess.run(["ssh", "-fNM", "-o", "ControlPersist=yes", *target], check=True, timeout=60)
    try:
        out = ""
        for step in steps(token):
            proc = subprocess.run(["ssh", *target, step], capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                return False
            out = proc.stdout
        return out.strip() == token
    finally:
        subprocess.run(["ssh", "-O", "exit", *target], capture_output=True, timeout=30)


def main() -> int:
    """Run the job on every host in parallel; exit 1 if any host failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--opts", required=True, help="JSON list of ssh options")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    hosts = load_hosts(args.inventory)
    opts = json.loads(args.opts)
    with tempfile.TemporaryDirectory(prefix="ffcm-") as sockdir, cf.ThreadPoolExecutor(len(hosts)) as pool:
        good = sum(pool.map(lambda h: one_host(h, opts, args.token, sockdir), hosts))
    print(f"OK {good}")
    return 0 if good == len(hosts) else 1


if __name__ == "__main__":
    sys.exit(main())
