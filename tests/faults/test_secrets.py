"""Secrets never show: not in verbose Ansible output, not in ``invoke --debug``, not in the journal,
not in the artifact, not in temp files; only in the host's env file (0600, owned by the app user).

One host (``tfsec-1``) gets the example app twice: first with ``ansible-playbook -vvv`` and the
secrets in a vars file (as they come out of Ansible Vault), then with ``invoke --debug deploy -vvv``
and the secrets in controller environment variables (``--env NAME``). Each run carries fresh random
tokens; every captured byte is searched for all of them. Positive controls prove the search can
fail: the tokens do reach the env file on the host, and the app reports them as set.
"""

from __future__ import annotations

import gzip
import json
import secrets
import shutil
import tempfile

import pytest
from conftest import ROOT, VENV_BIN, run
from faultfleet import FaultFleet, ansible_playbook, build_artifact, deploy_args, setup_playbook

pytestmark = [pytest.mark.faults, pytest.mark.docker]

APP = "tfsecret"
TAG = "faults-secrets"
HOST = "tfsec-1"
RELEASE_PLAYBOOK = "20260201T000000Z"
RELEASE_INVOKE = "20260202T000000Z"
ENV_FILE = f"/srv/{APP}/shared/.env"
# Where anything written during a deploy could end up on the host (the env file itself is excluded).
HOST_DIRS = "/tmp /var/tmp /home /root /var/log /etc /run /srv /var/lib/systemd"


def token(kind: str) -> str:
    """A random secret value that cannot appear anywhere by chance."""
    return f"ff-{kind}-{secrets.token_hex(16)}"


@pytest.fixture(scope="module")
def world(tmp_path_factory, ansible_env):
    """The host (base + nginx, nothing deployed yet) and a controller temp dir we can search."""
    work = tmp_path_factory.mktemp("secrets")
    controller_tmp = work / "controller-tmp"
    controller_tmp.mkdir()
    env = {
        **ansible_env,
        "TMPDIR": str(controller_tmp),
        "ANSIBLE_LOCAL_TEMP": str(controller_tmp / "ansible-local"),
        # NOTE: a short path: a control socket's path must fit in 108 bytes.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(prefix="ffcp-"),
    }
    fleet = FaultFleet(TAG, APP, work)
    try:
        fleet.start([(HOST, "secret", None)])
        proc = ansible_playbook(env, "-i", fleet.inventory, setup_playbook(work, APP))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield fleet, env, work
    finally:
        fleet.remove()
        shutil.rmtree(env["ANSIBLE_SSH_CONTROL_PATH_DIR"], ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(world):
    """Both deploys, verbose; returns what was captured and the tokens of each run."""
    fleet, env, work = world
    captured: dict[str, str] = {}
    tokens: dict[str, dict[str, str]] = {}

    # 1. ansible-playbook -vvv with the secrets in a vars file.
    tokens["playbook"] = {"SECRET_KEY": token("key"), "HELLO_GREETING_SECRET": token("greeting")}
    vars_file = work / "secrets.yml"
    vars_file.write_text(json.dumps({"flask_app_env": tokens["playbook"]}))
    vars_file.chmod(0o600)
    artifact = build_artifact(APP, RELEASE_PLAYBOOK, work / "artifacts")
    proc = ansible_playbook(env, *deploy_args(fleet, artifact, "secret", "-e", f"@{vars_file}", "-vvv"))
    captured["ansible-playbook -vvv"] = proc.stdout + proc.stderr
    assert proc.returncode == 0, captured["ansible-playbook -vvv"][-5000:]
    assert fleet.verify_current(HOST) == RELEASE_PLAYBOOK
    vars_file.unlink()  # the test's own copy: searched places must not hold it
    tokens["playbook"]["env file after"] = open_env_file(fleet)

    # 2. invoke --debug deploy -vvv with the secrets in controller environment variables.
    tokens["invoke"] = {"SECRET_KEY": token("key"), "HELLO_GREETING_SECRET": token("greeting")}
    invoke_env = {**env, **tokens["invoke"], "FLASKFLEET_ARTIFACT_DIR": str(work / "invoke-artifacts")}
    proc = run(
        [VENV_BIN / "invoke", "--debug", "deploy", "-vvv", "--env", "SECRET_KEY", "--env", "HELLO_GREETING_SECRET",
         "--app-path", ROOT / "examples" / "hello", "--app-name", APP, "--release-id", RELEASE_INVOKE,
         "-H", "secret", "-i", fleet.inventory],
        env=invoke_env, timeout=900,
    )  # fmt: skip
    captured["invoke --debug deploy -vvv"] = proc.stdout + proc.stderr
    assert proc.returncode == 0, captured["invoke --debug deploy -vvv"][-5000:]
    assert fleet.verify_current(HOST) == RELEASE_INVOKE
    return captured, tokens


def open_env_file(fleet: FaultFleet) -> str:
    """The env file's mode, owner and group (as ``stat`` prints them)."""
    return fleet.sh(HOST, f"stat -c '%a %U %G' {ENV_FILE}")[1].strip()


def all_tokens(tokens: dict[str, dict[str, str]]) -> list[str]:
    return [v for run_tokens in tokens.values() for k, v in run_tokens.items() if k.isupper()]


def test_verbose_output_never_shows_secrets(deployed):
    captured, tokens = deployed
    for what, text in captured.items():
        print(f"{what}: {len(text)} characters captured, {text.count(chr(10))} lines")
        assert "-vvv" in what and ("<127.0.0.1> SSH: EXEC" in text or "ESTABLISH SSH CONNECTION" in text), (
            f"{what} was not verbose"
        )
        # NOTE: rich wraps long lines; without whitespace a wrapped token is whole again.
        squeezed = "".join(text.split())
        for value in all_tokens(tokens):
            assert value not in text and value not in squeezed, f"{what} printed a secret"
    # invoke announces what it passes, with the secrets masked.
    assert "flask_app_env=<2 values masked>" in " ".join(captured["invoke --debug deploy -vvv"].split())


def test_secrets_reach_only_the_env_file(world, deployed):
    fleet, _env, _work = world
    _captured, tokens = deployed
    # Positive control: the latest run's secrets are in the env file, with the right owner and mode.
    assert tokens["playbook"]["env file after"] == f"600 {APP} {APP}"
    assert open_env_file(fleet) == f"600 {APP} {APP}"
    code, content = fleet.sh(HOST, f"cat {ENV_FILE}")
    assert code == 0 and all(value in content for value in tokens["invoke"].values())
    # ... the same search as below does find them there, so it would find them anywhere else.
    patterns = "\n".join(all_tokens(tokens))
    fleet.sh(HOST, f"printf '%s\\n' '{patterns}' > /root/.ff-patterns")
    code, found = fleet.sh(HOST, f"grep -rlsaF -f /root/.ff-patterns {HOST_DIRS} | grep -v '^/root/.ff-patterns$'")
    assert found.split() == [ENV_FILE], f"secrets found outside the env file: {found}"
    fleet.sh(HOST, "rm -f /root/.ff-patterns")
    # Code releases never hold an env file.
    assert fleet.sh(HOST, f"find /srv/{APP}/releases -name '.env*' | grep -q .")[0] != 0


def test_journal_never_shows_secrets(world, deployed):
    fleet, _env, _work = world
    _captured, tokens = deployed
    code, journal = fleet.sh(HOST, "journalctl --no-pager -o json --all")
    assert code == 0
    # The journal does hold the deploy: the app's unit logged its start for both releases.
    assert f"flaskfleet-{APP}@{RELEASE_INVOKE}.service" in journal
    assert f"flaskfleet-{APP}@{RELEASE_PLAYBOOK}.service" in journal
    for value in all_tokens(tokens):
        assert value not in journal, "the journal holds a secret"


def test_artifacts_and_controller_temp_never_hold_secrets(world, deployed):
    _fleet, _env, work = world
    _captured, tokens = deployed
    artifacts = sorted(work.glob("*artifacts/*.tar.gz"))
    assert len(artifacts) == 2, artifacts
    for path in artifacts:
        raw = path.read_bytes()
        unpacked = gzip.decompress(raw)
        assert b"manifest.json" in unpacked
        for value in all_tokens(tokens):
            assert value.encode() not in raw and value.encode() not in unpacked, f"{path.name} holds a secret"
    leftovers = [p for p in (work / "controller-tmp").rglob("*") if p.is_file()]
    for path in leftovers:
        data = path.read_bytes()
        assert not any(value.encode() in data for value in all_tokens(tokens)), f"{path} holds a secret"


def test_app_uses_the_secrets_without_showing_them(world, deployed):
    fleet, _env, _work = world
    _captured, tokens = deployed
    status, page = fleet.http(HOST, "/")
    assert status == 200
    assert "greeting secret: <code>set</code>" in page and "secret key: <code>set</code>" in page
    assert RELEASE_INVOKE in page
    for value in all_tokens(tokens):
        assert value not in page


def test_role_argument_errors_do_not_print_secrets(ansible_env, tmp_path):
    """A wrong variable next to a secret: the error names the variable, never the secret's value."""
    secret = token("beside-an-error")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    nowhere: {ansible_host: 127.0.0.1, ansible_port: 9}\n")
    play = tmp_path / "play.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "name": "Deploy with one wrong variable",
                    "hosts": "nowhere",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run the flask_app role",
                            "ansible.builtin.include_role": {"name": "flaskfleet.cloud.flask_app"},
                            "vars": {
                                "flask_app_name": APP,
                                "flask_app_workers": "many",
                                "flask_app_env": {"SECRET_KEY": secret},
                            },
                        }
                    ],
                }
            ]
        )
    )
    proc = ansible_playbook(ansible_env, "-i", inventory, play, "-vvv", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "argument 'flask_app_workers' is of type str" in out, out
    assert secret not in out and secret not in "".join(out.split())
