"""Upload a file or a tree to every host with Fabric's ``Connection.put``, one thread per host.

Fabric has no recursive put, so a tree is what a Fabric user writes: one ``mkdir -p`` for the
directories, then ``put`` per file over the connection's (cached) SFTP session.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib.jobs import load_hosts

from drivers.fabric_job import connection


def put_tree(conn, local: Path, remote: str) -> None:
    """mkdir -p every directory once, then put each file."""
    dirs = sorted({str(Path(remote) / local.name / p.relative_to(local)) for p in local.rglob("*") if p.is_dir()})
    conn.run("mkdir -p " + " ".join(shlex.quote(d) for d in [f"{remote}/{local.name}", *dirs]), hide=True)
    for root, _dirs, files in os.walk(local):
        for name in files:
            src = Path(root) / name
            conn.put(str(src), f"{remote}/{local.name}/{src.relative_to(local)}")


def one_host(host: dict, local: Path, remote: str) -> bool:
    """Upload to one host; True when done."""
    conn = connection(host)
    try:
        if local.is_dir():
            put_tree(conn, local, remote)
        else:
            conn.put(str(local), f"{remote}/{local.name}")
        return True
    finally:
        conn.close()


def main() -> int:
    """Upload everywhere in parallel; exit 1 if any host failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--local", required=True)
    parser.add_argument("--remote", required=True, help="existing remote directory")
    args = parser.parse_args()
    hosts = load_hosts(args.inventory)
    with cf.ThreadPoolExecutor(len(hosts)) as pool:
        good = sum(pool.map(lambda h: one_host(h, Path(args.local), args.remote), hosts))
    print(f"OK {good}")
    return 0 if good == len(hosts) else 1


if __name__ == "__main__":
    sys.exit(main())
