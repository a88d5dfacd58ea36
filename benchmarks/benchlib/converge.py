"""Measurement 4, no-change converge: a second ``site.yml`` on configured hosts vs ``ansible -m ping``.

Both with our shipped ansible.cfg, a cold ControlPath each time, the same static inventory.
The site.yml run must report changed=0 on every host, or it does not count.
"""

from __future__ import annotations

from benchlib import ansible, app
from benchlib.timing import Method

KEY = "converge"
TITLE = "No-change converge: second run of site.yml (changed=0) vs ansible -m ping"
FLOOR = "ansible -m ping"
NOTE = "site.yml includes its provision play (the bench fleet already has its hosts: a no-op)."


def setup(ctx) -> None:
    """site.yml once on every host (untimed)."""
    app.ensure_site(ctx)


def methods(ctx, n: int) -> list[Method]:
    """ping and the no-change site.yml at size n."""
    inv = ctx.fleet.ansible_inventory(n)
    control: dict[str, ansible.ControlDir] = {}

    def fresh() -> None:
        control["dir"] = ansible.ControlDir()

    def close() -> None:
        if "dir" in control:
            control.pop("dir").close()

    def ping():
        return ansible.adhoc("web", inv, "ansible.builtin.ping", None, tuned=True, control=control["dir"])

    def site():
        return app.site(ctx, n, ctx.site_artifact, control=control["dir"])

    def site_check(proc):
        return ansible.check_recap(proc, n + 1, changed=0)  # + localhost (the provision play)

    return [
        Method(FLOOR, ping, check=lambda p: ansible.check_adhoc(p, n), prepare=fresh, cleanup=close, floor=True),
        Method("site.yml (2nd run)", site, check=site_check, prepare=fresh, cleanup=close),
    ]


def reps(ctx) -> int:
    """Rounds for this measurement (--deploy-reps: a site.yml round at N=50 takes minutes)."""
    return ctx.args.deploy_reps


def sizes(ctx) -> list[int]:
    """Host counts for this measurement (--slow-hosts, default --hosts)."""
    return ctx.args.slow_hosts


def extra_series(ctx) -> dict[str, dict[int, float]]:
    """The untimed-by-design first site.yml run, reported for information (one sample)."""
    if getattr(ctx, "site_first_run", None) is None:
        return {}
    return {"site.yml (1st run, setup)": {max(ctx.args.slow_hosts): ctx.site_first_run}}
