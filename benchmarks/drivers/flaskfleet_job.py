"""The fan-out job with ``flaskfleet.group.Fleet`` (the library behind ``invoke run``).

Hosts are built from the bench inventory file directly, as the Fabric driver builds its
Connections, so both pay the same for the inventory (``invoke run`` is measured separately,
end to end). Prints ``OK <hosts>`` when step 4 succeeded everywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib.jobs import connect_timeout, load_fleet_hosts, steps

from flaskfleet.group import Fleet


def main() -> int:
    """Run the four steps with one Fleet; exit 1 if any host failed any step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    hosts = load_fleet_hosts(args.inventory)
    with Fleet(hosts, parallel=max(1, len(hosts)), connect_timeout=connect_timeout()) as fleet:
        for step in steps(args.token):
            results = fleet.run(step)
    good = sum(1 for r in results if r.ok and r.stdout.strip() == args.token)
    for r in results:
        if not r.ok:
            print(f"{r.host}: {r.error or r.stderr.strip()}", file=sys.stderr)
    print(f"OK {good}")
    return 0 if good == len(hosts) else 1


if __name__ == "__main__":
    sys.exit(main())
