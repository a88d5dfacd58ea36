"""Upload a file or a tree to every host with ``flaskfleet.group.Fleet.put`` (behind ``invoke put``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib.jobs import connect_timeout, load_fleet_hosts

from flaskfleet.group import Fleet


def main() -> int:
    """Upload everywhere; exit 1 if any host failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--local", required=True)
    parser.add_argument("--remote", required=True, help="remote path the file or tree lands at")
    parser.add_argument("--method", default="auto")
    args = parser.parse_args()
    hosts = load_fleet_hosts(args.inventory)
    with Fleet(hosts, parallel=len(hosts), timeout=600, connect_timeout=connect_timeout()) as fleet:
        results = fleet.put(args.local, args.remote, method=args.method)
    for r in results:
        if not r.ok:
            print(f"{r.host}: {r.error or r.stderr.strip()}", file=sys.stderr)
    good = sum(1 for r in results if r.ok)
    print(f"OK {good}")
    return 0 if good == len(hosts) else 1


if __name__ == "__main__":
    sys.exit(main())
