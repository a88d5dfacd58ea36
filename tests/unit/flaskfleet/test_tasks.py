"""The task library as users meet it: config precedence and the bad-input corpus (issues 5 and 7).

Every case runs the real ``flaskfleet``/``invoke`` command in a scratch project. The inventory's
hosts point at 127.0.0.1 port 1 (nothing listens), so no case can change any host: each must stop
with its one-line message before it tries to connect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from invoke import Config, Context, Exit

from flaskfleet.config import DEFAULTS, FleetConfig, Settings, SettingsError, config_defaults, settings

BIN = Path(sys.executable).parent


def inventory(path: Path, *names: str, group: str = "web") -> Path:
    hosts = {n: {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "admin"} for n in names}
    path.write_text(yaml.safe_dump({"all": {"children": {group: {"hosts": hosts}}}}))
    return path


def cli(cwd: Path, *args: str, env: dict | None = None, program: str = "flaskfleet") -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKFLEET_", "INVOKE_"))}
    full_env.update(env or {}, COLUMNS="200")
    return subprocess.run([str(BIN / program), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


# -- config precedence -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name in ("yaml", "env", "runtime", "flag", "invokeenv"):
        inventory(root / f"{name}.yml", f"{name}-1")
    (root / "runtime.yaml").write_text(yaml.safe_dump({"flaskfleet": {"inventory": "runtime.yml"}}))
    (root / "tasks.py").write_text("from flaskfleet.tasks import ns  # noqa: F401\n")
    return root


def listed(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return [h["name"] for h in json.loads(proc.stdout)]


def test_precedence_defaults_then_project_file_then_env_then_runtime_file_then_flags(project, tmp_path):
    # defaults: inventory/local.fleet.yml (absent in a fresh directory)
    empty = cli(tmp_path, "hosts")
    assert empty.returncode == 1
    assert (
        empty.stderr.strip()
        == "flaskfleet: inventory inventory/local.fleet.yml not found; create it or pass --inventory PATH"
    )
    (project / "invoke.yaml").write_text(yaml.safe_dump({"flaskfleet": {"inventory": "yaml.yml"}}))
    assert listed(cli(project, "hosts", "--json")) == ["yaml-1"]
    env = {"FLASKFLEET_INVENTORY": "env.yml"}
    assert listed(cli(project, "hosts", "--json", env=env)) == ["env-1"]
    assert listed(cli(project, "-f", "runtime.yaml", "hosts", "--json", env=env)) == ["runtime-1"]
    assert listed(cli(project, "-f", "runtime.yaml", "hosts", "--json", "-i", "flag.yml", env=env)) == ["flag-1"]


def test_plain_invoke_reads_the_same_settings(project):
    (project / "invoke.yaml").write_text(yaml.safe_dump({"flaskfleet": {"inventory": "yaml.yml"}}))
    assert listed(cli(project, "hosts", "--json", program="invoke")) == ["yaml-1"]
    assert listed(cli(project, "hosts", "--json", program="invoke", env={"FLASKFLEET_INVENTORY": "env.yml"})) == [
        "env-1"
    ]
    # invoke's own long form works too
    long_form = {"INVOKE_FLASKFLEET_INVENTORY": "invokeenv.yml"}
    assert listed(cli(project, "hosts", "--json", program="invoke", env=long_form)) == ["invokeenv-1"]


def test_settings_flags_override_config_and_are_validated():
    c = Context(Config(overrides={"flaskfleet": {**DEFAULTS, "parallel": 7, "hosts": "db"}}))
    s = settings(c, parallel="3", timeout=None)
    assert isinstance(s, Settings) and (s.parallel, s.hosts, s.timeout) == (3, "db", DEFAULTS["timeout"])
    assert s.known_hosts.name == "known_hosts" and s.known_hosts.parent.is_absolute()
    with pytest.raises(SettingsError, match=r"^timeout must be a positive whole number, got '-1'$"):
        settings(c, timeout="-1")


def test_transfers_get_their_own_longer_deadline_unless_timeout_is_given():
    from flaskfleet.tasks import transfer_settings

    c = Context(Config(overrides={"flaskfleet": {**DEFAULTS, "timeout": 20, "transfer_timeout": 900}}))
    assert (settings(c).timeout, transfer_settings(c).timeout) == (20, 900)
    assert transfer_settings(c, timeout="5").timeout == 5
    bad = Context(Config(overrides={"flaskfleet": {**DEFAULTS, "transfer_timeout": "soon"}}))
    with pytest.raises(Exit, match=r"^flaskfleet: transfer_timeout must be a positive whole number, got 'soon'$"):
        transfer_settings(bad)


def test_short_env_is_read_by_invokes_own_loader_for_known_keys_only(monkeypatch):
    env = {
        "FLASKFLEET_HOSTS": "db",
        "FLASKFLEET_APP_ENV": "A,B C",
        "FLASKFLEET_TRANSFER_TIMEOUT": "30",
        "FLASKFLEET_BOGUS": "x",
        "FLASKFLEET_PARALLEL": "4",
        "INVOKE_FLASKFLEET_PARALLEL": "9",  # the `invoke` command's long form: it wins there
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = dict(os.environ)
    for config_class, parallel in ((Config, 9), (FleetConfig, 4)):
        config = config_class()
        config.load_collection({"flaskfleet": config_defaults()})
        config.load_shell_env()  # what invoke's executor does before a task runs
        s = settings(Context(config))
        assert (s.hosts, s.app_env, s.transfer_timeout, s.parallel) == ("db", ["A", "B", "C"], 30, parallel)
        assert "bogus" not in config.flaskfleet
        assert dict(os.environ) == before  # the environment is left as it was


def test_a_bad_number_in_the_environment_is_one_line(monkeypatch):
    monkeypatch.setenv("FLASKFLEET_PARALLEL", "lots")
    config = Config()
    config.load_collection({"flaskfleet": config_defaults()})
    with pytest.raises(SettingsError, match=r"^parallel must be a positive whole number, got 'lots'$"):
        settings(Context(config))
    assert FleetConfig.global_defaults()["flaskfleet"]["inventory"] == "inventory/local.fleet.yml"


# -- the bad-input corpus (task arguments) ------------------------------------------------------
NO_MATCH = "flaskfleet: host pattern '{}' matches no host or group in the inventory; groups: all, web"
CASES = {
    "unknown pattern": (["run", "uname -n", "-H", "nope"],
                        NO_MATCH.format("nope")),
    "empty intersection": (["run", "id", "-H", "web:&web-9*"],
                           NO_MATCH.format("web-9*")),
    "exclusion leaves nothing": (["run", "id", "-H", "web:!web-*"],
                                 "flaskfleet: host pattern 'web:!web-*' leaves no hosts after its & and ! terms"),
    "missing inventory": (["run", "id", "-i", "missing.yml"],
                          "flaskfleet: inventory missing.yml not found; create it or pass --inventory PATH"),
    "empty command": (["run", " "], "flaskfleet: the command is empty; give the shell command to run"),
    "parallel zero": (["run", "id", "-p", "0"], "flaskfleet: parallel must be a positive whole number, got '0'"),
    "timeout words": (["run", "id", "-t", "soon"], "flaskfleet: timeout must be a positive whole number, got 'soon'"),
    "parallel from env": (["run", "id"], "flaskfleet: parallel must be a positive whole number, got 'lots'",
                          {"FLASKFLEET_PARALLEL": "lots"}),
    "put missing local": (["put", "/no/such/file", "/tmp/x"], "flaskfleet: local path /no/such/file does not exist"),
    "put relative remote": (["put", "hosts.yml", "tmp/x"],
                            "flaskfleet: remote path 'tmp/x' must be absolute (start with /)"),
    "put bad method": (["put", "hosts.yml", "/tmp/x", "-m", "ftp"],
                       "flaskfleet: transfer_method must be one of auto, sftp, scp, got 'ftp'"),
    "get into a file": (["get", "/etc/hostname", "-d", "hosts.yml"],
                        "flaskfleet: local path hosts.yml exists and is not a directory"),
    "deploy no app dir": (["deploy", "--app-path", "/no/such/app"],
                          "flaskfleet: app path /no/such/app is not a directory; pass --app-path DIR"),
    "deploy dir without app": (["deploy", "--app-path", "emptyapp"],
                               "flaskfleet: no Python app in {cwd}/emptyapp: "
                               "expected a pyproject.toml or a requirements.txt"),
    "deploy unknown pattern": (["deploy", "-H", "db"],
                               NO_MATCH.format("db")),
    "deploy unset env var": (["deploy", "--env", "FF_TEST_NOT_SET"],
                             "flaskfleet: environment variable FF_TEST_NOT_SET is not set; "
                             "export it or drop it from --env/app_env"),
    "deploy missing env file": (["deploy", "--env-file", "/no/such.env"],
                                "flaskfleet: cannot read env file /no/such.env: No such file or directory"),
    "deploy bad env file line": (["deploy", "--env-file", "bad.env"],
                                 "flaskfleet: line in bad.env: 'garbage' is not KEY=VALUE"),
    "rollback bad release id": (["rollback", "--to", "yesterday", "-n", "hello"],
                                "flaskfleet: invalid release id 'yesterday': expected YYYYMMDDTHHMMSSZ or "
                                "YYYYMMDDTHHMMSSZ-<suffix>, e.g. 20261129T101500Z"),
    "bad app name": (["status", "-n", "x;reboot"],
                     "flaskfleet: invalid app name 'x;reboot': use a lowercase letter, then up to 31 lowercase "
                     "letters, digits, '-' or '_'"),
    "logs lines words": (["logs", "-n", "hello", "-l", "many"],
                         "flaskfleet: lines must be a positive whole number, got 'many'"),
    "logs follow many hosts": (["logs", "-n", "hello", "--follow"],
                               "flaskfleet: logs --follow needs exactly one host; 'web' matches 2: web-1, web-2"),
    "ssh many hosts": (["ssh", "-H", "web"], "flaskfleet: ssh needs exactly one host; 'web' matches 2: web-1, web-2"),
    "ssh unknown host": (["ssh", "-H", "web-7"],
                         NO_MATCH.format("web-7")),
    "provision bad extra var": (["provision", "-n", "hello", "-x", "novalue"],
                                "flaskfleet: extra var 'novalue' is not KEY=VALUE"),
    "broken inventory": (["hosts", "-i", "broken.yml"], "flaskfleet: cannot read inventory broken.yml: "),
    "deploy lock wait words": (["deploy", "--lock-wait", "soon"],
                               "flaskfleet: --lock-wait must be a whole number of seconds (0 or more), got 'soon'"),
    "status app name with a dot": (["status", "-n", "my.app"],
                                   "flaskfleet: invalid app name 'my.app': use a lowercase letter, then up to 31 "
                                   "lowercase letters, digits, '-' or '_'"),
    "unknown flag": (["run", "id", "--bogus"], "No idea what '--bogus' is!"),
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """Run every case once (in parallel: each is a separate process)."""
    cwd = tmp_path_factory.mktemp("corpus")
    inventory(cwd / "hosts.yml", "web-1", "web-2")
    (cwd / "invoke.yaml").write_text(yaml.safe_dump({"flaskfleet": {"inventory": "hosts.yml", "app_path": "noapp"}}))
    (cwd / "emptyapp").mkdir()
    (cwd / "bad.env").write_text("# secrets\nGOOD=1\ngarbage\n")
    (cwd / "broken.yml").write_text("all: [unclosed\n")

    def one(name: str) -> subprocess.CompletedProcess:
        args, _, *env = CASES[name]
        return cli(cwd, *args, env=env[0] if env else None)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(CASES, pool.map(one, CASES), strict=True))
    return cwd, results


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_exit_1(corpus, name):
    cwd, results = corpus
    proc, expected = results[name], CASES[name][1].replace("{cwd}", str(cwd))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected) if expected.endswith(": ") else lines[0] == expected
    assert not (cwd / "build").exists()  # no deploy got as far as building an artifact


# -- helpers behind deploy and status -----------------------------------------------------------
def test_describe_vars_masks_the_app_env():
    from flaskfleet.tasks import describe_vars

    text = describe_vars({"flask_app_name": "hello", "flask_app_env": {"SECRET_KEY": "hunter22", "TOKEN": "abc"}})
    assert text == "flask_app_name=hello flask_app_env=<2 values masked>"


def test_extra_vars_are_typed_like_yaml():
    from flaskfleet.tasks import parse_extra_vars

    got = parse_extra_vars(["flask_app_serial=1", "flask_app_keep=true", "name=web-1", "empty=", "list=[1, 2]"])
    assert got == {"flask_app_serial": 1, "flask_app_keep": True, "name": "web-1", "empty": "", "list": [1, 2]}


LIVE = {
    "release_id": "20260101T000001Z",
    "unit_state": "active",
    "health": 200,
    "health_path": "/up",
    "releases": ["20260101T000001Z"],
    "healthy": True,
    "reasons": [],
    "layout": {"root": "/opt/apps/hello"},
}


@pytest.mark.parametrize(
    ("status", "data", "ok", "error"),
    [
        ("ok", LIVE, True, None),
        (
            "ok",
            {
                **LIVE,
                "unit_state": "failed",
                "health": None,
                "healthy": False,
                "reasons": ["unit flaskfleet-hello@20260101T000001Z.service is failed"],
            },
            False,
            "unit flaskfleet-hello@20260101T000001Z.service is failed",
        ),
        (
            "ok",
            {**LIVE, "health": 404, "healthy": False, "reasons": ["/up answered HTTP 404, not 200"]},
            False,
            "/up answered HTTP 404, not 200",
        ),
        (
            "ok",
            {
                "release_id": None,
                "unit_state": None,
                "health": None,
                "releases": [],
                "healthy": False,
                "reasons": ["not deployed: /srv/hello/current does not exist"],
            },
            False,
            "not deployed",
        ),
        ("failed", {"msg": "invalid app name 'x'"}, False, "invalid app name 'x'"),
    ],
)
def test_status_result_reads_the_release_modules_live_inspection(status, data, ok, error):
    from flaskfleet.tasks import status_result

    result = status_result("web-1", status, data)
    assert (result.ok, result.error) == (ok, error)
    if status == "ok":
        assert result.detail["healthy"] is ok


def test_status_result_of_an_unreachable_host_is_its_message():
    from flaskfleet.tasks import status_result

    result = status_result(
        "web-2", "unreachable", {"msg": "Failed to connect to the host via ssh: refused", "unreachable": True}
    )
    assert (result.ok, result.error) == (False, "unreachable: Failed to connect to the host via ssh: refused")
