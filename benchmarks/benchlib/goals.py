"""The goals of issue 6, evaluated from one run's medians (at the largest N unless said)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """``num``/``den`` medians (seconds) compared with ``target`` by ``op`` at the largest N.

    For a throughput goal put the floor in ``num``: time(floor)/time(method) is the method's
    throughput relative to the floor's.
    """

    text: str
    measurement: str
    num: str
    den: str
    op: str
    target: float


GOALS = [
    Goal("Fan-out: flaskfleet vs Fabric ThreadingGroup", "fanout", "flaskfleet", "fabric ThreadingGroup", "<=", 1.0),
    Goal("Fan-out: flaskfleet vs OpenSSH xargs", "fanout", "flaskfleet", "ssh-xargs", "<=", 0.65),
    Goal("Fan-out: `invoke run` vs OpenSSH xargs", "fanout", "invoke run", "ssh-xargs", "<=", 0.65),
    Goal(
        "Fan-out: Ansible with our ansible.cfg vs stock settings",
        "fanout",
        "ansible tuned",
        "ansible stock",
        "<=",
        0.75,
    ),
    Goal("Transfer 100 MB: flaskfleet put throughput vs scp", "transfer-file", "scp", "flaskfleet put", ">=", 0.8),
    Goal(
        "Transfer 2,000 files: flaskfleet put throughput vs rsync",
        "transfer-tree",
        "rsync",
        "flaskfleet put",
        ">=",
        0.8,
    ),
    Goal("Deploy: `invoke deploy` vs shell floor", "deploy", "invoke deploy", "shell floor", "<=", 3.0),
    Goal("Deploy: Ansible (our cfg) vs shell floor", "deploy", "ansible tuned", "shell floor", "<=", 5.0),
    Goal("Deploy: Ansible stock settings vs our cfg (speed-up)", "deploy", "ansible stock", "ansible tuned", ">=", 3.0),
    Goal(
        "No-change converge: site.yml vs `ansible -m ping`",
        "converge",
        "site.yml (2nd run)",
        "ansible -m ping",
        "<=",
        4.0,
    ),
]

#: (measurement, method) whose growth in N must be linear or better.
GROWTH = [
    ("fanout", "flaskfleet"),
    ("fanout", "ansible tuned"),
    ("transfer-file", "flaskfleet put"),
    ("transfer-tree", "flaskfleet put"),
    ("deploy", "invoke deploy"),
    ("deploy", "ansible tuned"),
    ("converge", "site.yml (2nd run)"),
    ("provision", "ec2_host"),
]


def _median(results: dict, measurement: str, method: str, n: int) -> float | None:
    return results.get(measurement, {}).get(method, {}).get(str(n), {}).get("median")


def _largest_common(results: dict, goal: Goal, nmax: int) -> int:
    """The largest N (up to nmax) where both methods of a goal have a result (a median or a limit hit)."""
    data = results.get(goal.measurement, {})

    def has(method: str, n: str) -> bool:
        series = data.get(method, {}).get(n, {})
        return bool(series.get("median") or series.get("over_limit"))

    both = [int(n) for n in data.get(goal.num, {}) if int(n) <= nmax and has(goal.num, n) and has(goal.den, n)]
    return max(both) if both else nmax


def _over_limit(results: dict, goal: Goal, n: int) -> dict[str, Any] | None:
    """A goal whose method was stopped at its time limit: the limit gives a bound on the ratio."""
    data = results.get(goal.measurement, {})
    for name, other in ((goal.num, goal.den), (goal.den, goal.num)):
        limit = data.get(name, {}).get(str(n), {}).get("over_limit")
        other_t = _median(results, goal.measurement, other, n)
        if limit and other_t:
            if name == goal.num:  # ratio = limit/other or more
                ratio, sign = limit / other_t, ">"
                met = False if goal.op == "<=" and ratio > goal.target else None
            else:  # ratio = other/limit or less
                ratio, sign = other_t / limit, "<"
                met = False if goal.op == ">=" and ratio < goal.target else None
            return {
                "goal": goal.text,
                "figure": f"{sign} {ratio:.2f}x ({name} stopped after {limit:.0f} s, N={n})",
                "target": f"{goal.op} {goal.target:g}x",
                "met": met,
            }
    return None


def _cmp(value: float, op: str, target: float) -> bool:
    return value <= target if op == "<=" else value >= target


def evaluate(results: dict[str, Any], nmax: int) -> list[dict[str, Any]]:
    """One row per goal: figure, target, met (True/False/None when not measured)."""
    rows = []
    for goal in GOALS:
        n = _largest_common(results, goal, nmax)
        a = _median(results, goal.measurement, goal.num, n)
        b = _median(results, goal.measurement, goal.den, n)
        bound = _over_limit(results, goal, n)
        if bound is not None:
            rows.append(bound)
            continue
        if a is None or b is None or not a or not b:
            missing = goal.num if a is None else goal.den
            rows.append(
                {
                    "goal": goal.text,
                    "figure": f"not measured ({missing} has no result)",
                    "target": f"{goal.op} {goal.target:g}x",
                    "met": None,
                }
            )
            continue
        ratio = a / b
        rows.append(
            {
                "goal": goal.text,
                "figure": f"{ratio:.2f}x ({a:.2f} s vs {b:.2f} s, N={n})",
                "target": f"{goal.op} {goal.target:g}x",
                "met": _cmp(ratio, goal.op, goal.target),
            }
        )
    rows.append(_provision_calls(results))
    rows.extend(_growth(results, m, meth) for m, meth in GROWTH)
    return rows


def _provision_calls(results: dict) -> dict[str, Any]:
    """API calls for the largest count <= calls for 1 instance + 5."""
    series = results.get("provision", {}).get("ec2_host", {})
    calls = {
        int(n): s["extra"].get("api_calls", [None])[0] for n, s in series.items() if s.get("extra", {}).get("api_calls")
    }
    goal = "Provisioning: EC2 API calls for the largest N vs for 1 instance"
    if 1 not in calls or len(calls) < 2:
        return {"goal": goal, "figure": "not measured", "target": "<= calls(1) + 5", "met": None}
    top = max(calls)
    return {
        "goal": goal,
        "figure": f"{calls[top]} calls for N={top}, {calls[1]} for N=1",
        "target": "<= calls(1) + 5",
        "met": calls[top] <= calls[1] + 5,
    }


def _growth(results: dict, measurement: str, method: str) -> dict[str, Any]:
    """Linear or better: t(N_max) <= t(N_prev) * N_max / N_prev between the two largest N."""
    series = results.get(measurement, {}).get(method, {})
    points = sorted((int(n), s["median"]) for n, s in series.items() if s.get("median"))
    goal = f"Growth linear or better: {measurement} / {method}"
    if len(points) < 2:
        return {"goal": goal, "figure": "not measured at two sizes", "target": "time ratio <= hosts ratio", "met": None}
    (n1, t1), (n2, t2) = points[-2], points[-1]
    factor = (t2 / t1) / (n2 / n1)
    return {
        "goal": goal,
        "figure": f"x{t2 / t1:.2f} time for x{n2 / n1:g} hosts (N {n1}→{n2})",
        "target": "time ratio <= hosts ratio",
        "met": factor <= 1.0,
    }
