"""Integration fixtures: real local container hosts, provisioned the way users provision them.

``local_fleet`` is the fixture other test areas (deploy, invoke tasks, faults) build on: it runs
``ansible-playbook flaskfleet.cloud.provision`` from the installed collection into a private
state directory (own SSH key, own known_hosts) and writes a fleet inventory config that lists
only that app's hosts. Everything is torn down at the end of the session with
``flaskfleet.cloud.teardown``, and as a safety net every container labelled with the app is
removed through the Docker SDK, so a failed test never leaves hosts behind.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

PROVISION_TIMEOUT = 600


@dataclass
class FleetHost:
    """One provisioned host, as the inventory describes it."""

    name: str
    group: str
    address: str
    ssh_port: int
    published_ports: dict[int, int] = field(default_factory=dict)

    def url(self, port: int = 80, path: str = "/") -> str:
        """``http://127.0.0.1:<published port>/path`` for a container port published on the host."""
        return f"http://{self.address}:{self.published_ports[port]}{path}"


@dataclass
class LocalFleet:
    """A provisioned local fleet: where its files are, its hosts, and how to run Ansible against it."""

    app: str
    root: Path
    state_dir: Path
    inventory: Path
    known_hosts: Path
    private_key: Path
    env: dict[str, str]
    runner: object
    hosts: list[FleetHost] = field(default_factory=list)
    provision_output: str = ""

    @property
    def app_group(self) -> str:
        """The inventory group of all the app's hosts (``app_<app>`` with ``-`` turned into ``_``)."""
        return "app_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in self.app)

    def host(self, name: str) -> FleetHost:
        """The host called ``name``."""
        return next(h for h in self.hosts if h.name == name)

    def ansible(self, *args, timeout: int = 300, check: bool = False) -> subprocess.CompletedProcess:
        """Run ``ansible <args>`` against this fleet's inventory."""
        return self.run(["ansible", "-i", self.inventory, *args], timeout=timeout, check=check)

    def playbook(self, playbook, *args, timeout: int = PROVISION_TIMEOUT, check: bool = False):
        """Run ``ansible-playbook <playbook> <args>`` against this fleet's inventory."""
        return self.run(["ansible-playbook", "-i", self.inventory, playbook, *args], timeout=timeout, check=check)

    def run(self, args, timeout: int = PROVISION_TIMEOUT, check: bool = False) -> subprocess.CompletedProcess:
        """Run any command in the fleet's directory with the fleet's environment."""
        return self.runner(args, env=self.env, cwd=self.root, timeout=timeout, check=check)

    def inventory_list(self) -> dict:
        """``ansible-inventory -i <inventory> --list``, parsed and unwrapped."""
        proc = self.run(["ansible-inventory", "-i", self.inventory, "--list"], timeout=120, check=True)
        return unwrap(json.loads(proc.stdout))

    def ssh_command(self, host: FleetHost, *command: str, known_hosts: Path | None = None) -> list[str]:
        """A plain ``ssh`` command line to ``host`` with strict host key checking (no shared masters)."""
        return [
            "ssh", "-i", str(self.private_key), "-p", str(host.ssh_port),
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=10",
            f"admin@{host.address}", *command,
        ]  # fmt: skip


def unwrap(value):
    """``ansible-inventory --list`` marks untrusted strings as ``{"__ansible_unsafe": ...}``; undo that."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def remove_app_containers(app: str) -> None:
    """Safety net: remove every container labelled with ``app`` (only ours: apps are unique per test area)."""
    client = docker.from_env()
    try:
        for container in client.containers.list(all=True, filters={"label": f"flaskfleet.app={app}"}):
            container.remove(force=True, v=True)
    finally:
        client.close()


def write_config(root: Path, app: str) -> Path:
    """The fleet inventory config of one app, using the state directory next to it."""
    path = root / "local.fleet.yml"
    path.write_text(
        f"plugin: flaskfleet.cloud.fleet\nstate_dir: .flaskfleet\nproviders:\n  - type: docker\n    app: {app}\n"
    )
    return path


def make_state_dir(root: Path) -> Path:
    """A private state directory with its own SSH key pair and an empty known_hosts."""
    state = root / ".flaskfleet"
    state.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flaskfleet-test", "-f", str(state / "id_ed25519")],
        check=True,
    )
    (state / "known_hosts").touch()
    return state


@pytest.fixture(scope="session")
def local_fleet(tmp_path_factory, ansible_env, runner):
    """Factory: ``local_fleet(app, count=2, published_ports=(80, 443), group="web") -> LocalFleet``.

    Provisions ``count`` local container hosts for ``app`` through ``ansible-playbook
    flaskfleet.cloud.provision`` (installed collection), named ``<app>-<group>-1..N``, in group
    ``group`` and ``app_<app>``, with ``published_ports`` published on 127.0.0.1. Each app gets its
    own temporary directory holding:

    * ``.flaskfleet/`` (``fleet.state_dir``): a fresh SSH key (``fleet.private_key``) and the
      known_hosts file (``fleet.known_hosts``) the host keys were recorded in;
    * ``local.fleet.yml`` (``fleet.inventory``): a ``flaskfleet.cloud.fleet`` config listing only
      this app's hosts, with strict host key checking against that known_hosts.

    ``fleet.env`` is the Ansible environment for the installed collection plus
    ``FLASKFLEET_STATE_DIR`` and ``ANSIBLE_INVENTORY`` pointing at this fleet, so
    ``run(["ansible-playbook", ...], env=fleet.env, cwd=fleet.root)`` (or ``fleet.playbook(...)``,
    ``fleet.ansible(...)``) targets it. ``fleet.hosts`` lists :class:`FleetHost` objects (``name``,
    ``ssh_port``, ``published_ports`` as ``{80: 32771}``, ``url(80, "/healthz")``), read back through
    ``ansible-inventory --list``.

    Use an app name unique to your test area (e.g. ``t-deploy-rolling``): the hosts are removed
    by app label at the end of the session. Calling the factory again with the same arguments
    returns the same fleet; with another ``count`` it re-provisions (exact count).
    """
    fleets: dict[str, LocalFleet] = {}

    def factory(app: str, count: int = 2, published_ports=(80, 443), group: str = "web") -> LocalFleet:
        fleet = fleets.get(app)
        if fleet is None:
            root = tmp_path_factory.mktemp(f"fleet-{app}")
            state = make_state_dir(root)
            env = dict(ansible_env, FLASKFLEET_STATE_DIR=str(state))
            inventory = write_config(root, app)
            env["ANSIBLE_INVENTORY"] = str(inventory)
            fleet = LocalFleet(app, root, state, inventory, state / "known_hosts", state / "id_ed25519", env, runner)
            fleets[app] = fleet
        provision(fleet, count, list(published_ports), group)
        return fleet

    yield factory

    errors = []
    for fleet in fleets.values():
        proc = fleet.run(["ansible-playbook", "flaskfleet.cloud.teardown", "-e", f"provision_app={fleet.app}"])
        if proc.returncode != 0:
            errors.append(f"teardown of {fleet.app} failed:\n{proc.stdout[-2000:]}")
        remove_app_containers(fleet.app)
    assert not errors, "\n".join(errors)


def provision(fleet: LocalFleet, count: int, published_ports: list[int], group: str) -> None:
    """Run the provision playbook for the fleet and read its hosts back from the inventory."""
    hosts = [{"name": f"{fleet.app}-{group}", "group": group, "count": count, "published_ports": published_ports}]
    extra = {"provision_app": fleet.app, "provision_hosts": hosts, "provision_state_dir": str(fleet.state_dir)}
    proc = fleet.run(["ansible-playbook", "flaskfleet.cloud.provision", "-e", json.dumps(extra)])
    if proc.returncode != 0:
        remove_app_containers(fleet.app)
        raise AssertionError(f"provisioning {fleet.app} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    fleet.provision_output = proc.stdout
    listing = fleet.inventory_list()
    hostvars = listing["_meta"]["hostvars"]
    fleet.hosts = [
        FleetHost(
            name=name,
            group=hostvars[name]["flaskfleet_group"],
            address=hostvars[name]["ansible_host"],
            ssh_port=int(hostvars[name]["ansible_port"]),
            published_ports={int(k): int(v) for k, v in hostvars[name]["flaskfleet_published_ports"].items()},
        )
        for name in sorted(hostvars, key=lambda n: (len(n), n))
    ]


@pytest.fixture(scope="session")
def docker_client():
    """A Docker SDK client for looking at containers out of band."""
    client = docker.from_env()
    yield client
    client.close()


def pytest_collection_modifyitems(items):
    """Tests in this directory need the Docker engine (marker ``docker``) unless marked otherwise."""
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.parent == here:
            item.add_marker(pytest.mark.docker)
