"""Measurement 3, deploy: a new release of examples/hello to N configured hosts.

Every timing deploys a new release id. The floor, and both Ansible runs, get an artifact built
before the clock starts; ``invoke deploy`` builds its own (that is what a user runs), so its
figure includes the build (about 4 s here; see the report's notes). After each deploy every
host must serve the new release through nginx, or the timing does not count.
"""

from __future__ import annotations

from benchlib import ansible, app
from benchlib.env import BENCH, VENV_BIN, base_env, run
from benchlib.timing import Method

KEY = "deploy"
TITLE = "Deploy: a new release of examples/hello to N hosts"
FLOOR = "shell floor"
NOTE = (
    "`invoke deploy` builds its artifact inside the timing; the others get it prebuilt. "
    "Ansible runs use the deploy playbook (flaskfleet.cloud.deploy)."
)


def setup(ctx) -> None:
    """Configured hosts (site.yml once, untimed)."""
    app.ensure_site(ctx)


def reps(ctx) -> int:
    """Rounds for this measurement (--deploy-reps)."""
    return ctx.args.deploy_reps


def methods(ctx, n: int) -> list[Method]:
    """Floor, invoke deploy, ansible tuned, ansible stock at size n."""
    inv = ctx.fleet.ansible_inventory(n)
    ports = ctx.fleet.host_list(n)
    state: dict = {}

    def prebuilt() -> None:
        state["id"] = app.new_release_id()
        state["artifact"] = app.build(state["id"]).path
        state["control"] = ansible.ControlDir()

    def id_only() -> None:
        state["id"] = app.new_release_id()
        state["control"] = ansible.ControlDir()

    def close() -> None:
        if "control" in state:
            state.pop("control").close()

    def check(_proc) -> None:
        app.check_live(ctx, n, state["id"])

    def floor():
        env = base_env({"SSH_KEY": str(ctx.fleet.key), "KNOWN_HOSTS": str(ctx.fleet.known_hosts)})
        return run([BENCH / "floor_deploy.sh", state["artifact"], ports], env=env, timeout=1800)

    def invoke_deploy():
        env = ansible.env(True, state["control"].path, {
            "FLASKFLEET_STATE_DIR": str(ctx.state_dir),
            "FLASKFLEET_ARTIFACT_DIR": str(app.ARTIFACTS),
        })  # fmt: skip
        argv = [VENV_BIN / "invoke", "deploy", "--inventory", inv, "--hosts", "web",
                "--app-path", app.APP_DIR, "--release-id", state["id"]]  # fmt: skip
        return run(argv, env=env, timeout=1800)

    def playbook(tuned: bool):
        def go():
            extra = {"flask_app_name": app.APP_NAME, "flask_app_artifact": str(state["artifact"])}
            return ansible.playbook(
                "flaskfleet.cloud.deploy", inv, extra, tuned=tuned, control=state["control"], timeout=1800
            )

        return go

    return [
        Method(FLOOR, floor, check=check, prepare=prebuilt, cleanup=close, floor=True),
        Method("invoke deploy", invoke_deploy, check=check, prepare=id_only, cleanup=close),
        Method("ansible tuned", playbook(True), check=check, prepare=prebuilt, cleanup=close),
        Method("ansible stock", playbook(False), check=check, prepare=prebuilt, cleanup=close),
    ]


def sizes(ctx) -> list[int]:
    """Host counts for this measurement (--slow-hosts, default --hosts)."""
    return ctx.args.slow_hosts
