#!/usr/bin/env python3
"""flaskfleet benchmarks: one command, every method side by side, interleaved, with a report.

    make bench                                    # N = 1,10,50, 3 rounds, everything
    make bench BENCH_ARGS="--quick"               # N = 1,5, 2 rounds, smaller payloads (~5 min)
    .venv/bin/python benchmarks/run.py --hosts 1,10,50,100 --only fanout,transfer

Creates its own fleet of local hosts (label ``flaskfleet.app=bench``, own state dir under
benchmarks/.work/), runs each measurement at each N with all methods interleaved, writes
benchmarks/results/<name>.{md,json} and <name>-<measurement>.png, and removes the fleet at the
end (also on error and Ctrl-C) unless --keep-fleet.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import converge, deploy, fanout, hosts, machine, provision, pyinfra_tool, report, transfer
from benchlib.env import RESULTS, ROOT, WORK, BenchError
from benchlib.timing import LIMIT_FACTOR, LIMIT_MIN, Series, interleave

MEASUREMENTS = {
    "fanout": [fanout],
    "transfer": [transfer.FILE, transfer.TREE],
    "transfer-file": [transfer.FILE],
    "transfer-tree": [transfer.TREE],
    "converge": [converge],
    "deploy": [deploy],
    "provision": [provision],
}
DEFAULT_ONLY = ["fanout", "transfer", "converge", "deploy", "provision"]
DOC = ROOT / "docs" / "performance.md"
ORDER = ["fanout", "transfer", "transfer-file", "transfer-tree", "converge", "deploy", "provision"]


def _ints(text: str) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("host counts must be positive")
    return values


def _only(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in MEASUREMENTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown measurement {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; --quick only changes what was not given explicitly."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hosts", type=_ints, help="host counts N (default 1,10,50; --quick 1,5; max 100)")
    p.add_argument("--reps", type=int, help="interleaved rounds per N (default 3; --quick 2)")
    p.add_argument(
        "--only",
        type=_only,
        default=DEFAULT_ONLY,
        help=f"measurements to run (default all: {','.join(DEFAULT_ONLY)}; transfer-file/-tree for one half)",
    )
    p.add_argument("--quick", action="store_true", help="small run for development: N=1,5, 2 rounds, small payloads")
    p.add_argument("--name", help="report name under benchmarks/results/ (default 'latest', or 'quick')")
    p.add_argument("--provision-counts", type=_ints, help="host counts per provider (default 1,20,100; --quick 1,5)")
    p.add_argument("--file-mb", type=int, help="size of the big transfer file in MB (default 100; --quick 10)")
    p.add_argument("--tree-files", type=int, help="files in the small-file tree (default 2000; --quick 200)")
    p.add_argument(
        "--slow-hosts", type=_ints, help="host counts for deploy and converge (default: those of --hosts up to 10)"
    )
    p.add_argument(
        "--deploy-reps", type=int, help="rounds for deploy and converge (default 1: a round at N=50 takes minutes)"
    )
    p.add_argument("--configured", action="store_true", help="the kept fleet already ran site.yml: skip that setup")
    p.add_argument("--keep-fleet", action="store_true", help="leave the bench hosts running at the end")
    p.add_argument("--teardown", action="store_true", help="only remove the bench fleet, then exit")
    p.add_argument("--merge", help="only re-render: combine results/<A>.json,<B>.json,... (first wins) into --name")
    p.add_argument(
        "--methods",
        type=lambda text: {m.strip() for m in text.split(",") if m.strip()},
        default=set(),
        help="only these methods by name, comma-separated (the floor always runs); default all",
    )
    p.add_argument("--notes", default="", help="free text written into the report (e.g. load conditions)")
    args = p.parse_args(argv)
    quick = args.quick
    args.hosts = args.hosts or ([1, 5] if quick else [1, 10, 50])
    args.reps = args.reps or (2 if quick else 3)
    args.provision_counts = args.provision_counts or ([1, 5] if quick else [1, 20, 100])
    args.file_mb = args.file_mb or (10 if quick else 100)
    args.tree_files = args.tree_files or (200 if quick else 2000)
    args.deploy_reps = args.deploy_reps or 1
    # A deploy or site.yml round at N=50 takes 10+ minutes on 2 cores: by default the slow
    # measurements stop at N=10 (ask for more with --slow-hosts 1,10,50).
    args.slow_hosts = args.slow_hosts or ([n for n in args.hosts if n <= 10] or [min(args.hosts)])
    args.name = args.name or ("quick" if quick else "latest")
    if max(args.hosts + args.slow_hosts) > 100:
        p.error("at most 100 hosts (the machine has 2 cores)")
    if args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def log(msg: str) -> None:
    """Progress on stderr with a timestamp."""
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    """Run the suite; the fleet is always removed at the end unless --keep-fleet."""
    args = parse_args(argv)
    if args.merge:
        return _merge(args)
    needs_fleet = any(getattr(m, "NEEDS_FLEET", True) for key in args.only for m in MEASUREMENTS[key])
    lock = _single_run() if needs_fleet or args.teardown else None
    if args.teardown:
        hosts.teardown(log)
        return 0
    signal.signal(signal.SIGTERM, _raise_interrupt)  # make `kill` tear the fleet down like Ctrl-C
    selected = _unique([m for key in ORDER if key in args.only for m in MEASUREMENTS[key]])
    run = {
        "name": args.name,
        "command": "benchmarks/run.py " + shlex.join(argv),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "hosts": args.hosts,
        "slow_hosts": args.slow_hosts,
        "reps": args.reps,
        "notes": args.notes,
        "load_start": machine.load(),
        "foreign_start": machine.foreign_containers(hosts.APP),
        "results": {},
    }
    t0 = time.monotonic()
    ctx = SimpleNamespace(args=args, log=log, fleet=None, state_dir=hosts.STATE)
    code = 0
    try:
        if any(getattr(m, "NEEDS_FLEET", True) for m in selected):
            ctx.fleet = hosts.create(max(args.hosts + args.slow_hosts), log)
        for m in selected:
            code |= _measure(m, ctx, run)
            _finish(run, selected, t0, partial=True)
    except KeyboardInterrupt:
        log("interrupted: tearing down")
        code = 130
    except BenchError as exc:
        log(f"error: {exc}")
        code = 1
    finally:
        for m in selected:
            if hasattr(m, "teardown"):
                try:
                    m.teardown(ctx)
                except Exception as exc:
                    log(f"teardown of {m.KEY}: {exc}")
        if ctx.fleet is not None and not args.keep_fleet:
            hosts.teardown(log)
        if lock is not None:
            lock.close()
    md = _finish(run, selected, t0, partial=False)
    log(f"report: {md}")
    if args.name == "latest" and report.update_doc(run, DOC):
        log(f"goals table updated in {DOC}")
    return code


def _unique(measurements: list) -> list:
    """Each measurement once, in order (``transfer`` and ``transfer-file`` share one)."""
    seen: dict[str, object] = {}
    for m in measurements:
        seen.setdefault(m.KEY, m)
    return list(seen.values())


def _merge(args) -> int:
    """Combine saved runs (measurements missing from the first are taken from the next ones)."""
    import json

    names = [n.strip() for n in args.merge.split(",") if n.strip()]
    runs = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            sys.exit(f"benchmarks: {path} not found; run the suite with --name {name} first")
        runs.append(json.loads(path.read_text()))
    merged = runs[0]
    for other in runs[1:]:
        for key, data in other["results"].items():
            if not merged["results"].get(key):  # absent, or left empty by an interrupted run
                merged["results"][key] = data
                merged["notes"] = (merged.get("notes", "") + f" {key}: from run `{other['name']}` ({other['started']}, "
                                   f"load {other['load_start']} · {other['load_end']}).").strip()  # fmt: skip
    merged["name"] = args.name
    merged["command"] += f" (merged with {', '.join(names[1:])})" if len(names) > 1 else ""
    present = _unique([m for key in ORDER for m in MEASUREMENTS[key] if m.KEY in merged["results"]])
    md = report.write(merged, present, RESULTS)
    log(f"report: {md}")
    if args.name == "latest" and report.update_doc(merged, DOC):
        log(f"goals table updated in {DOC}")
    return 0


def _single_run():
    """Hold ``.work/run.lock`` for the whole run: two runs would share (and tear down) one fleet."""
    import fcntl

    WORK.mkdir(parents=True, exist_ok=True)
    handle = (WORK / "run.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit("benchmarks: another run is in progress (benchmarks/.work/run.lock); wait for it to finish")
    return handle


def _measure(m, ctx, run: dict) -> int:
    """One measurement at every N: setup, interleaved rounds, results into ``run``."""
    args = ctx.args
    log(f"== {m.TITLE}")
    try:
        if hasattr(m, "setup"):
            m.setup(ctx)
    except BenchError as exc:
        log(f"   skipped: setup failed: {exc}")
        run["results"][m.KEY] = {"setup": {"1": {"median": None, "errors": [f"setup failed: {exc}"]}}}
        return 1
    sizes = m.sizes(ctx) if hasattr(m, "sizes") else args.hosts
    reps = m.reps(ctx) if hasattr(m, "reps") else args.reps
    data = run["results"].setdefault(m.KEY, {})
    for method, per_n in (m.extra_series(ctx) if hasattr(m, "extra_series") else {}).items():
        for n, seconds in per_n.items():
            data.setdefault(method, {})[str(n)] = Series(times=[seconds]).as_dict()
    for n in sizes:
        factor = getattr(m, "LIMIT_FACTOR", LIMIT_FACTOR)
        limit_min = getattr(m, "LIMIT_MIN", LIMIT_MIN)
        methods = [x for x in m.methods(ctx, n) if not args.methods or x.floor or x.name in args.methods]
        series = interleave(methods, reps, log, f"{m.KEY} N={n}", factor, limit_min)
        for method, s in series.items():
            data.setdefault(method, {})[str(n)] = s.as_dict()
    return 0


def _finish(run: dict, selected: list, t0: float, partial: bool) -> Path:
    """Fill the machine description and write the report files."""
    run["duration_min"] = (time.monotonic() - t0) / 60
    run["load_end"] = machine.load()
    run["foreign_end"] = machine.foreign_containers(hosts.APP)
    run["partial"] = partial
    if "machine" not in run:
        pyver = "not installed" if pyinfra_tool.unavailable() else pyinfra_tool.VERSION
        run["machine"] = machine.describe(pyver)
    return report.write(run, selected, RESULTS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
