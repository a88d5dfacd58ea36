"""One host contract: invoke, the artifact builder, the modules and the roles accept and refuse the
same app names, and name units, sockets and paths the same way."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Config, Context, Exit

from flaskfleet import contract as package_contract
from flaskfleet.artifact import ArtifactError, inspect_app
from flaskfleet.config import DEFAULTS, settings

ROOT = Path(__file__).resolve().parents[4]
HELLO = ROOT / "examples" / "hello"

NAMES = {
    "hello": True,
    "my-app": True,
    "my_app": True,
    "a" * 32: True,
    "my.app": False,
    "My_App": False,
    "1app": False,
    "a" * 33: False,
    "x;reboot": False,
    "-app": False,
}


def invoke_accepts(name: str) -> bool:
    from flaskfleet.tasks import app_name_for

    try:
        return app_name_for(settings(Context(Config(overrides={"flaskfleet": dict(DEFAULTS, app_name=name)})))) == name
    except Exit:
        return False


def builder_accepts(name: str) -> bool:
    try:
        return inspect_app(HELLO, app_name=name).name == name
    except ArtifactError:
        return False


def module_accepts(collections_path: str, base: Path, name: str) -> bool:
    """``flaskfleet.cloud.release state=pruned`` (read-mostly; an empty layout stays empty)."""
    args = {"app": name, "base_dir": str(base), "state": "pruned"}
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.flaskfleet.cloud.plugins.modules.release"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=collections_path), timeout=120, check=False,
    )  # fmt: skip
    result = json.loads(proc.stdout)
    assert not result.get("failed") or "invalid app name" in result["msg"], result
    return not result.get("failed")


@pytest.fixture(scope="module")
def role_verdicts(ansible_env, tmp_path_factory) -> dict[str, bool]:
    """The flask_app role's controller check (validate entry point) of every name, in one run.

    One inventory host per name; the check runs only on the controller, so none is contacted.
    """
    tmp = tmp_path_factory.mktemp("names")
    hosts = {f"n{i}": {"flask_app_name": n, "ansible_connection": "local"} for i, n in enumerate(NAMES)}
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    (tmp / "play.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
        "        name: flaskfleet.cloud.flask_app\n        tasks_from: validate.yml\n"
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(tmp / "inventory.json"), str(tmp / "play.yml"), "-e", "flask_app_artifact=/x"],
        capture_output=True, text=True, env=ansible_env, cwd=tmp, timeout=300, check=False,
    )  # fmt: skip
    failed = set(re.findall(r"^fatal: \[(n\d+)\]", proc.stdout, re.MULTILINE))
    assert "ERROR! " not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return {host["flask_app_name"]: key not in failed for key, host in hosts.items()}


@pytest.mark.parametrize("name", list(NAMES))
def test_one_app_name_rule_everywhere(name, collections_path, role_verdicts, tmp_path):
    expected = NAMES[name]
    verdicts = {
        "contract": package_contract.app_name_problem(name) is None,
        "invoke": invoke_accepts(name),
        "artifact builder": builder_accepts(name),
        "release module": module_accepts(collections_path, tmp_path, name),
        "flask_app role": role_verdicts[name],
    }
    assert verdicts == dict.fromkeys(verdicts, expected)


def test_the_package_reads_the_collections_own_contract_file():
    assert Path(package_contract.contract.__file__).resolve() == ROOT / "plugins" / "module_utils" / "_contract.py"


def test_names_of_one_release():
    names = package_contract.names("hello", "/opt/apps", "20261129T101500Z")
    assert names["root"] == "/opt/apps/hello"
    assert names["unit"] == "flaskfleet-hello@20261129T101500Z.service"
    assert names["socket"] == "/run/hello/20261129T101500Z/gunicorn.sock"
    assert names["unit_format"] % "20261129T101500Z" == names["unit"]
    assert names["socket_format"] % "20261129T101500Z" == names["socket"]
    assert names["health_path"] == package_contract.DEFAULT_HEALTH_PATH == "/healthz"
    assert package_contract.names("hello")["root"] == "/srv/hello"


def test_the_refusal_is_one_line_naming_the_rule():
    assert package_contract.app_name_problem("my.app") == (
        "invalid app name 'my.app': use a lowercase letter, then up to 31 lowercase letters, digits, '-' or '_'"
    )
