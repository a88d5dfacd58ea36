"""The deployed app for the deploy and converge measurements: examples/hello on the bench fleet.

``site.yml`` runs once, untimed, on the whole fleet (baseline, nginx, first release); every
measurement after that starts from configured hosts. Release ids are made here so each deploy
is a new release whose id sorts after every earlier one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shlex
import time

from benchlib import ansible, hosts
from benchlib.env import ROOT, WORK, BenchError, Proc, run

APP_DIR = ROOT / "examples" / "hello"
APP_NAME = "hello"
ARTIFACTS = WORK / "artifacts"
_counter = itertools.count(1)


def new_release_id() -> str:
    """Now (UTC) plus a run-wide counter: unique and increasing even within one second."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-b{next(_counter):04d}"


def build(release_id: str):
    """Build the hello artifact for ``release_id`` (flaskfleet.artifact, as invoke deploy does)."""
    from flaskfleet.artifact import ArtifactError
    from flaskfleet.artifact import build as build_artifact

    try:
        return build_artifact(APP_DIR, ARTIFACTS, release_id=release_id)
    except ArtifactError as exc:
        raise BenchError(f"building the hello artifact failed: {exc}") from exc


def site_vars(ctx, artifact_path) -> dict:
    """Extra vars for site.yml: provisioning that matches the running bench fleet (a no-op), the app."""
    return {
        "flaskfleet_provider": "docker",
        "provision_app": hosts.APP,
        "provision_hosts": [
            {"name": hosts.APP, "group": hosts.GROUP, "count": len(ctx.fleet.nodes), "published_ports": [80]}
        ],
        "flask_app_name": APP_NAME,
        "flask_app_artifact": str(artifact_path),
    }


def site(ctx, n: int, artifact_path, tuned: bool = True, control=None) -> Proc:
    """``ansible-playbook flaskfleet.cloud.site`` on the first n hosts."""
    return ansible.playbook(
        "flaskfleet.cloud.site",
        ctx.fleet.ansible_inventory(n),
        site_vars(ctx, artifact_path),
        tuned=tuned,
        control=control,
        timeout=3600,
        extra_env={"FLASKFLEET_STATE_DIR": str(ctx.state_dir)},
    )


def ensure_site(ctx) -> None:
    """Run site.yml once (untimed setup) on the hosts deploy and converge use, collection freshly installed."""
    if getattr(ctx, "site_done", False):
        return
    ansible.install_collection()
    if ctx.args.configured:
        # Hosts kept from an earlier run (--keep-fleet) that already ran site.yml: reuse them.
        ctx.site_artifact = max(ARTIFACTS.glob(f"{APP_NAME}-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        ctx.site_first_run = None
        ctx.site_done = True
        return
    n = max(ctx.args.slow_hosts)
    release = new_release_id()
    artifact = build(release)
    ctx.log(f"   setup: site.yml on the first {n} hosts (first converge, release {release})")
    started = time.monotonic()
    control = ansible.ControlDir()
    try:
        site(ctx, n, artifact.path, control=control)
    finally:
        control.close()
    ctx.site_first_run = time.monotonic() - started
    ctx.site_artifact = artifact.path
    ctx.site_done = True
    ctx.log(f"   setup: first converge took {ctx.site_first_run:.1f} s")


def check_live(ctx, n: int, release_id: str) -> None:
    """Every one of the first n hosts serves ``release_id`` through nginx and ``current`` points at it."""
    ports = ctx.fleet.host_list(n)
    remote = f"readlink /srv/{APP_NAME}/current; curl -fsS --max-time 5 http://localhost/healthz"
    ssh = shlex.join(["ssh", *ctx.fleet.ssh_opts()])
    # One printf per host: a single write() of a short line cannot interleave with other hosts'.
    script = f'out=$({ssh} -p "$1" admin@127.0.0.1 {shlex.quote(remote)} | tr "\\n" " "); printf "%s\\n" "$out"'
    proc = run(["xargs", "-P", n, "-I{}", "-a", ports, "sh", "-c", script, "sh", "{}"], timeout=300, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    good = [ln for ln in lines if ln.startswith(f"releases/{release_id} ") and release_id in ln.split(" ", 1)[1]]
    if len(good) != n:
        bad = next((ln for ln in lines if ln not in good), proc.tail(2))
        raise BenchError(f"release {release_id} live on {len(good)} of {n} hosts (e.g. {bad[:160]!r})")
