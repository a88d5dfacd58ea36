"""Unit tests for the flaskfleet.cloud.fleet inventory plugin: config, state dir, vars, groups.

Providers are replaced by small listing functions here so the host-variable and group logic is
checked on its own; tests/integration/test_local_hosts.py runs the real docker provider.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible_collections.flaskfleet.cloud.plugins.inventory import fleet
from ansible_collections.flaskfleet.cloud.plugins.plugin_utils import _fleet_docker as fleet_docker


def docker_host(name, port, app="hello", group="web", published=None):
    """A host as a provider returns it."""
    return {
        "name": name,
        "address": "127.0.0.1",
        "port": port,
        "user": "admin",
        "provider": "docker",
        "app": app,
        "group": group,
        "vars": {"flaskfleet_published_ports": published or {}},
    }


def parse(tmp_path, config: str, monkeypatch, providers: dict | None = None):
    """Parse ``config`` (written as x.fleet.yml) with the given provider functions; return the inventory."""
    if providers is not None:
        monkeypatch.setattr(fleet, "load_provider", lambda provider_type: providers[provider_type])
    path = tmp_path / "inventory" / "x.fleet.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(config)
    plugin = inventory_loader.get("flaskfleet.cloud.fleet")
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=False)
    return inventory


def hostvars(inventory, name):
    return inventory.get_host(name).get_vars()


def test_verify_file_accepts_only_fleet_configs(tmp_path):
    plugin = inventory_loader.get("flaskfleet.cloud.fleet")
    for name, accepted in [("a.fleet.yml", True), ("a.fleet.yaml", True), ("fleet.yml", False), ("a.yml", False)]:
        path = tmp_path / name
        path.write_text("plugin: flaskfleet.cloud.fleet\n")
        assert plugin.verify_file(str(path)) is accepted, name


def test_state_dir_is_the_nearest_flaskfleet_dir(tmp_path):
    (tmp_path / ".flaskfleet").mkdir()
    nested = tmp_path / "inventory" / "prod"
    nested.mkdir(parents=True)
    assert fleet.find_state_dir(str(nested)) == str(tmp_path / ".flaskfleet")
    lonely = tmp_path.parent / (tmp_path.name + "-lonely")
    lonely.mkdir()
    assert fleet.find_state_dir(str(lonely)) == str(lonely / ".flaskfleet")


def test_hosts_get_the_contract_vars_and_groups(tmp_path, monkeypatch):
    monkeypatch.delenv("FLASKFLEET_STATE_DIR", raising=False)
    (tmp_path / ".flaskfleet").mkdir()
    (tmp_path / ".flaskfleet" / "id_ed25519").touch()
    hosts = [
        docker_host("web-1", 32768, published={"80": 32769}),
        docker_host("db-1", 32770, group="db", app="hello-world"),
    ]
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    known_hosts = tmp_path / ".flaskfleet" / "known_hosts"
    got = {k: v for k, v in hostvars(inventory, "web-1").items() if not k.startswith(("inventory_", "group_names"))}
    assert got == {
        "ansible_host": "127.0.0.1",
        "ansible_port": 32768,
        "ansible_user": "admin",
        "ansible_ssh_private_key_file": str(tmp_path / ".flaskfleet" / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes",
        "flaskfleet_known_hosts_file": str(known_hosts),
        "ansible_ssh_host_key_checking": True,
        "flaskfleet_provider": "docker",
        "flaskfleet_app": "hello",
        "flaskfleet_group": "web",
        "flaskfleet_published_ports": {"80": 32769},
    }
    groups = inventory.groups
    assert [h.name for h in groups["web"].get_hosts()] == ["web-1"]
    assert [h.name for h in groups["db"].get_hosts()] == ["db-1"]
    assert [h.name for h in groups["app_hello"].get_hosts()] == ["web-1"]
    assert [h.name for h in groups["app_hello_world"].get_hosts()] == ["db-1"]


def test_state_dir_option_and_env(tmp_path, monkeypatch):
    hosts = [docker_host("web-1", 32768)]
    monkeypatch.setenv("FLASKFLEET_STATE_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "id_ed25519").touch()
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    assert hostvars(inventory, "web-1")["ansible_ssh_private_key_file"] == str(tmp_path / "elsewhere" / "id_ed25519")
    config = "plugin: flaskfleet.cloud.fleet\nstate_dir: ../state\n"
    inventory = parse(tmp_path, config, monkeypatch, {"docker": lambda options: hosts})
    assert (
        "UserKnownHostsFile=%s " % (tmp_path / "state" / "known_hosts")
        in hostvars(inventory, "web-1")["ansible_ssh_common_args"]
    )


def test_constructed_features_and_provider_options(tmp_path, monkeypatch):
    seen = []

    def listing(options):
        seen.append(options)
        return [docker_host("web-1", 32768, published={"80": 32769})]

    config = """
plugin: flaskfleet.cloud.fleet
providers:
  - type: docker
    app: hello
    groups: [web]
keyed_groups:
  - key: flaskfleet_provider
    prefix: provider
groups:
  frontends: flaskfleet_group == 'web'
compose:
  http_url: "'http://127.0.0.1:' ~ flaskfleet_published_ports['80']"
"""
    inventory = parse(tmp_path, config, monkeypatch, {"docker": listing})
    assert seen == [{"type": "docker", "app": "hello", "groups": ["web"]}]
    assert [h.name for h in inventory.groups["provider_docker"].get_hosts()] == ["web-1"]
    assert [h.name for h in inventory.groups["frontends"].get_hosts()] == ["web-1"]
    assert hostvars(inventory, "web-1")["http_url"] == "http://127.0.0.1:32769"


def test_provider_errors_become_one_line_ansible_errors(tmp_path, monkeypatch):
    def broken(options):
        raise RuntimeError("Docker engine is not reachable at unix:///x.sock: start it (make setup)")

    with pytest.raises(AnsibleError) as err:
        parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": broken})
    assert "providers[0] (docker): could not list hosts: Docker engine is not reachable at unix:///x.sock" in str(
        err.value
    )
    assert isinstance(err.value.__cause__, RuntimeError)


def test_unknown_provider_type_is_refused(tmp_path, monkeypatch):
    expected = r"each provider needs a type, one of docker, ec2, azure, gcp \(got \{'type': 'gce'\}\)"
    with pytest.raises(AnsibleError, match=expected):
        parse(tmp_path, "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: gce\n", monkeypatch, {})


def test_missing_provider_module_is_a_clear_error():
    with pytest.raises(
        AnsibleError,
        match=r"^provider type 'nope' is not available in this version of flaskfleet.cloud: No module named ",
    ):
        fleet.load_provider("nope")


def test_docker_provider_refuses_unknown_options():
    with pytest.raises(ValueError, match=r"^unknown option 'aap' for provider docker \(known: "):
        fleet_docker.check_options({"type": "docker", "aap": "hello"})
    with pytest.raises(ValueError, match=r"^option 'groups' of provider docker must be a list$"):
        fleet_docker.check_options({"type": "docker", "groups": "web"})


def test_docker_provider_unreachable_engine_through_the_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(AnsibleError) as err:
        parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch)
    assert str(err.value).endswith(
        "providers[0] (docker): could not list hosts: Docker engine is not reachable at "
        "unix:///nonexistent/docker.sock: start it (make setup) or point docker_host/DOCKER_HOST at a running "
        "engine (No such file or directory)"
    )


def test_duplicate_hosts_are_kept_once(tmp_path, monkeypatch):
    config = "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n  - type: docker\n"
    inventory = parse(tmp_path, config, monkeypatch, {"docker": lambda options: [docker_host("web-1", 32768)]})
    assert list(inventory.hosts) == ["web-1"]
    assert hostvars(inventory, "web-1")["ansible_port"] == 32768


# -- state that travels (AWX / ansible-runner jobs without the project's .flaskfleet/) -------------
KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q"


def common_args_file(inventory, name="web-1") -> str:
    """The UserKnownHostsFile the host is checked against."""
    args = hostvars(inventory, name)["ansible_ssh_common_args"]
    return args.split("UserKnownHostsFile=", 1)[1].split()[0]


def test_without_a_key_file_no_key_var_is_set(tmp_path, monkeypatch):
    """A fresh job: the key comes from the machine credential (ssh-agent), not a missing file."""
    monkeypatch.delenv("FLASKFLEET_STATE_DIR", raising=False)
    monkeypatch.delenv("FLASKFLEET_SSH_PRIVATE_KEY_FILE", raising=False)
    hosts = [docker_host("web-1", 32768)]
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    got = hostvars(inventory, "web-1")
    assert "ansible_ssh_private_key_file" not in got
    assert got["ansible_ssh_host_key_checking"] is True
    assert "StrictHostKeyChecking=yes" in got["ansible_ssh_common_args"]
    # A key named explicitly is passed on, present or not (ssh then says what is wrong).
    monkeypatch.setenv("FLASKFLEET_SSH_PRIVATE_KEY_FILE", str(tmp_path / "job" / "key"))
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    assert hostvars(inventory, "web-1")["ansible_ssh_private_key_file"] == str(tmp_path / "job" / "key")


def test_known_hosts_content_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)
    content = "# recorded by provision\n[127.0.0.1]:32768 %s\n\n[127.0.0.1]:32770 %s\n" % (KEY_LINE, KEY_LINE)
    monkeypatch.setenv("FLASKFLEET_KNOWN_HOSTS", content)
    hosts = [docker_host("web-1", 32768)]
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    path = common_args_file(inventory)
    assert path.startswith(str(tmp_path / "tmp" / "flaskfleet-known-hosts-"))
    with open(path) as handle:
        assert handle.read() == "[127.0.0.1]:32768 %s\n[127.0.0.1]:32770 %s\n" % (KEY_LINE, KEY_LINE)
    # The same content gives the same file (a refresh_inventory in the same job).
    again = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    assert common_args_file(again) == path
    # Content wins over a file named in the config.
    config = "plugin: flaskfleet.cloud.fleet\nknown_hosts_file: /elsewhere/known_hosts\n"
    inventory = parse(tmp_path, config, monkeypatch, {"docker": lambda options: hosts})
    assert common_args_file(inventory) == path


def test_known_hosts_file_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("FLASKFLEET_KNOWN_HOSTS", raising=False)
    monkeypatch.setenv("FLASKFLEET_KNOWN_HOSTS_FILE", str(tmp_path / "credential" / "known_hosts"))
    hosts = [docker_host("web-1", 32768)]
    inventory = parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    assert common_args_file(inventory) == str(tmp_path / "credential" / "known_hosts")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[127.0.0.1]:32768 %s\nnot a key line\n" % KEY_LINE, "line 2 is not a known_hosts entry"),
        ("127.0.0.1 AAAAC3NzaC1lZDI1NTE5 ssh-ed25519\n", "line 1 is not a known_hosts entry"),
        ("# only a comment\n", "it holds no host key"),
    ],
)
def test_bad_known_hosts_content_is_one_line(tmp_path, monkeypatch, content, reason):
    monkeypatch.setenv("FLASKFLEET_KNOWN_HOSTS", content)
    hosts = [docker_host("web-1", 32768)]
    with pytest.raises(AnsibleError) as error:
        parse(tmp_path, "plugin: flaskfleet.cloud.fleet\n", monkeypatch, {"docker": lambda options: hosts})
    message = str(error.value)
    assert message.startswith("fleet inventory: known_hosts content (FLASKFLEET_KNOWN_HOSTS): " + reason)
    assert "\n" not in message
