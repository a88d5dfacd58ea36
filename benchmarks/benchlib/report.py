"""Write a run's results: ``<name>.json`` (raw), ``<name>.md`` (tables, goals) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchlib import goals


def _cell(series: dict, floor: dict | None, unit_note: str = "") -> str:
    """``median s (min-max) · ratiox`` or why there is no number."""
    if series.get("unavailable"):
        return "n/a"
    if series.get("median") is None:
        if series.get("over_limit"):
            return f"> {series['over_limit']:.0f} s (stopped)"
        return "failed" if series.get("errors") else "-"
    text = f"{series['median']:.2f} s ({series['min']:.2f}-{series['max']:.2f})"
    if floor and floor.get("median"):
        text += f" · {series['median'] / floor['median']:.2f}x"
    return text + unit_note


def _extra_cell(series: dict) -> str:
    """Extra numbers a method reported (e.g. API calls), as ``key=value``."""
    extra = series.get("extra") or {}
    parts = []
    for key, values in extra.items():
        if values and isinstance(values[-1], dict):  # e.g. API calls per action: the last round's
            parts.append(f"{key}: " + " ".join(f"{k}x{v}" for k, v in values[-1].items()))
            continue
        vals = sorted(set(values))
        parts.append(f"{key}={vals[0] if len(vals) == 1 else vals}")
    return ", ".join(parts)


def markdown(run: dict[str, Any], measurements: list) -> str:
    """The report page."""
    out = [f"# flaskfleet benchmarks: `{run['name']}`", ""]
    out += [
        f"Command: `{run['command']}`  ",
        f"Started {run['started']}, took {run['duration_min']:.1f} min; "
        f"{run['reps']} interleaved rounds per N; host counts {', '.join(map(str, run['hosts']))}.",
        "",
    ]
    out += ["## Machine", "", "| | |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in run["machine"].items()]
    out += [f"| Load (1/5/15 min) at start / end | {run['load_start']} · {run['load_end']} |"]
    out += [
        f"| Other containers running (not ours) at start / end | {run['foreign_start']} / {run['foreign_end']} |",
        "",
    ]
    if run.get("notes"):
        out += ["Notes: " + run["notes"], ""]
    out += ["Each cell: median seconds (min-max) · ratio to the floor measured in the same rounds.", ""]
    nmax = max(run["hosts"] + run.get("slow_hosts", []))
    out += ["## Goals", "", f"At the largest N measured for each (N={nmax} unless the figure says otherwise).", ""]
    out += [goals_table(run), ""]
    for m in measurements:
        data = run["results"].get(m.KEY)
        if not data:
            continue
        ns = sorted({int(n) for s in data.values() for n in s}, key=int)
        out += [f"## {m.TITLE}", "", f"Floor: **{m.FLOOR}**. {getattr(m, 'NOTE', '')}".rstrip(), ""]
        out += ["| method | " + " | ".join(f"N={n}" for n in ns) + " |", "| --- |" + " --- |" * len(ns)]
        for method, per_n in data.items():
            cells = [_cell(per_n.get(str(n), {}), data.get(m.FLOOR, {}).get(str(n))) for n in ns]
            out.append(f"| {method} | " + " | ".join(cells) + " |")
        extras = [
            (method, n, _extra_cell(s)) for method, per_n in data.items() for n, s in per_n.items() if _extra_cell(s)
        ]
        if extras:
            out += ["", "Reported by the methods: " + "; ".join(f"{meth} N={n}: {e}" for meth, n, e in extras) + "."]
        problems = [
            (method, n, s.get("unavailable") or (s.get("errors") or [None])[0])
            for method, per_n in data.items()
            for n, s in per_n.items()
            if s.get("unavailable") or s.get("errors")
        ]
        if problems:
            out += ["", "Not measured / failed:", ""]
            seen = set()
            for method, n, why in problems:
                if (method, why) not in seen:
                    seen.add((method, why))
                    out.append(f"- {method} (N={n}): {why}")
        out += ["", f"![{m.KEY}]({run['name']}-{m.KEY}.png)", ""]
    return "\n".join(out) + "\n"


def plot(run: dict[str, Any], measurement, path: Path) -> bool:
    """Time against N per method (linear axes, and log time), min-max as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = run["results"].get(measurement.KEY) or {}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    drawn = False
    for method, per_n in data.items():
        pts = sorted((int(n), s) for n, s in per_n.items() if s.get("median") is not None)
        if not pts:
            continue
        drawn = True
        xs = [n for n, _ in pts]
        ys = [s["median"] for _, s in pts]
        err = [
            [y - s["min"] for (_, s), y in zip(pts, ys, strict=True)],
            [s["max"] - y for (_, s), y in zip(pts, ys, strict=True)],
        ]
        style = "--" if method == measurement.FLOOR else "-"
        for ax in axes:
            ax.errorbar(xs, ys, yerr=err, marker="o", linestyle=style, capsize=3, label=method)
    if not drawn:
        plt.close(fig)
        return False
    ns = sorted({int(n) for per_n in data.values() for n in per_n})
    for ax in axes:
        ax.set_xticks(ns)
    axes[0].set_title("time vs N")
    axes[1].set_title("time vs N (log scale)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel(getattr(measurement, "XLABEL", "hosts (N)"))
        ax.set_ylabel("seconds (median, min-max)")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.suptitle(measurement.TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def goals_table(run: dict[str, Any]) -> str:
    """The goals as a markdown table (also embedded in docs/performance.md)."""
    nmax = max(run["hosts"] + run.get("slow_hosts", []))
    out = ["| goal | figure | target | met |", "| --- | --- | --- | --- |"]
    for row in goals.evaluate(run["results"], nmax):
        met = {True: "met", False: "**not met**", None: "not measured"}[row["met"]]
        out.append(f"| {row['goal']} | {row['figure']} | {row['target']} | {met} |")
    return "\n".join(out)


DOC_START = "<!-- goals:start (written by benchmarks/run.py from results/latest.json) -->"
DOC_END = "<!-- goals:end -->"


def update_doc(run: dict[str, Any], doc: Path) -> bool:
    """Replace the goals table between the markers in ``doc``; False when the markers are missing."""
    if not doc.exists():
        return False
    text = doc.read_text()
    if DOC_START not in text or DOC_END not in text:
        return False
    head, rest = text.split(DOC_START, 1)
    _, tail = rest.split(DOC_END, 1)
    stamp = f"Run `{run['name']}` of {run['started']} (see benchmarks/results/{run['name']}.md)."
    doc.write_text(f"{head}{DOC_START}\n{stamp}\n\n{goals_table(run)}\n{DOC_END}{tail}")
    return True


def write(run: dict[str, Any], measurements: list, outdir: Path) -> Path:
    """Write JSON, markdown and plots; return the markdown path."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{run['name']}.json").write_text(json.dumps(run, indent=1, sort_keys=False) + "\n")
    for m in measurements:
        png = outdir / f"{run['name']}-{m.KEY}.png"
        if not plot(run, m, png) and png.exists():
            png.unlink()
    md = outdir / f"{run['name']}.md"
    md.write_text(markdown(run, measurements))
    return md
