"""The benchmark fleet: local container hosts labelled ``flaskfleet.app=bench``, and files describing it.

The product makes and finds them, exactly as a user's fleet: ``flaskfleet.cloud.provision`` (docker
provider) creates the hosts, the fleet inventory plugin lists them from ``benchmarks/.work/bench.fleet.yml``
(read by :class:`flaskfleet.inventory.Inventory`, as the invoke tasks do) and
``flaskfleet.cloud.teardown`` removes them. The fleet lives in its own state directory
(``benchmarks/.work/state``: own SSH key, own known_hosts) and app label, so a benchmark never
touches another user's hosts. Every tool gets the same N hosts, described once in
files written here (Ansible YAML inventory, a plain host list, a pyinfra inventory).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib.env import VENV_BIN, WORK, BenchError, base_env, run
from flaskfleet.inventory import Inventory, InventoryError, unwrap

#: The fleet's app label (and host name prefix). Another checkout benchmarking at the same time on the
#: same Docker engine sets FLASKFLEET_BENCH_APP so that the two fleets never share hosts.
APP = os.environ.get("FLASKFLEET_BENCH_APP", "bench")
GROUP = "web"
USER = "admin"
STATE = WORK / "state"
FLEET_FILE = WORK / "bench.fleet.yml"


@dataclass(frozen=True)
class Node:
    """One bench host as seen from the controller."""

    name: str
    port: int
    http_port: int | None

    @property
    def endpoint(self) -> str:
        """How known_hosts names it."""
        return f"[127.0.0.1]:{self.port}"


class Fleet:
    """N local hosts and the inventory files every tool reads."""

    def __init__(self, nodes: list[Node]):
        self.nodes = sorted(nodes, key=lambda n: int(n.name.rsplit("-", 1)[1]))
        self.key = STATE / "id_ed25519"
        self.known_hosts = STATE / "known_hosts"
        self.files = WORK / "inventory"

    # -- per-N views ---------------------------------------------------------------------------
    def first(self, n: int) -> list[Node]:
        """The first ``n`` hosts (every measurement at size n uses exactly these)."""
        if n > len(self.nodes):
            raise BenchError(f"fleet has {len(self.nodes)} hosts, {n} asked")
        return self.nodes[:n]

    def ssh_opts(self) -> list[str]:
        """OpenSSH options every floor command uses: our key, strict checking, no prompts."""
        return [
            "-i", str(self.key),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def ansible_inventory(self, n: int) -> Path:
        """A static YAML inventory of the first n hosts, with the hostvars of the fleet contract."""
        path = self.files / f"hosts-{n}.yml"
        hosts = {}
        for node in self.first(n):
            hosts[node.name] = {
                "ansible_host": "127.0.0.1",
                "ansible_port": node.port,
                "ansible_user": USER,
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes",
                "flaskfleet_provider": "docker",
                "flaskfleet_app": APP,
                "flaskfleet_group": GROUP,
                "flaskfleet_published_ports": {"80": node.http_port} if node.http_port else {},
            }
        data = {"all": {"children": {GROUP: {"hosts": hosts}, f"app_{APP}": {"hosts": dict.fromkeys(hosts)}}}}
        self.files.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1))  # JSON is YAML; Ansible reads it as such
        return path

    def host_list(self, n: int) -> Path:
        """``port`` per line, for xargs."""
        path = self.files / f"ports-{n}.txt"
        self.files.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{node.port}\n" for node in self.first(n)))
        return path

    def pyinfra_inventory(self, n: int) -> Path:
        """A pyinfra inventory module (``hosts = [(name, data), ...]``) for the first n hosts."""
        path = self.files / f"pyinfra_{n}.py"
        hosts = [
            (
                node.name,
                {
                    "ssh_hostname": "127.0.0.1",
                    "ssh_port": node.port,
                    "ssh_user": USER,
                    "ssh_key": str(self.key),
                    "ssh_known_hosts_file": str(self.known_hosts),
                    "ssh_strict_host_key_checking": "yes",
                    "ssh_allow_agent": False,
                    "ssh_look_for_keys": False,
                },
            )
            for node in self.first(n)
        ]
        self.files.mkdir(parents=True, exist_ok=True)
        path.write_text(f"hosts = {hosts!r}\n")
        return path


# -- state dir -------------------------------------------------------------------------------------
def ensure_state() -> None:
    """The bench state dir: its own SSH key pair (made once) and known_hosts."""
    STATE.mkdir(parents=True, exist_ok=True)
    key = STATE / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flaskfleet-bench", "-f", key])
    (STATE / "known_hosts").touch()


def write_fleet_file() -> Path:
    """The bench fleet's inventory config: the product's plugin, our state dir, our app only."""
    FLEET_FILE.parent.mkdir(parents=True, exist_ok=True)
    FLEET_FILE.write_text(
        f"plugin: flaskfleet.cloud.fleet\nstate_dir: {STATE}\nproviders:\n  - type: docker\n    app: {APP}\n"
    )
    return FLEET_FILE


def discover() -> Fleet:
    """The bench fleet as the product's inventory lists it (``ansible-inventory`` + ``Inventory``)."""
    from benchlib import ansible

    argv = [VENV_BIN / "ansible-inventory", "-i", write_fleet_file(), "--list"]
    proc = run(argv, env=ansible.env(tuned=True), timeout=120)
    try:
        hosts = Inventory(unwrap(json.loads(proc.stdout))).select(f"app_{APP}")
    except InventoryError:
        hosts = []  # no bench host yet
    return Fleet([Node(h.name, h.port, (h.vars.get("flaskfleet_published_ports") or {}).get("80")) for h in hosts])


# -- creation and removal: the product's playbooks -------------------------------------------------
def _provision(count: int, timeout: float) -> None:
    """``ansible-playbook flaskfleet.cloud.provision`` (docker provider), app ``bench``, our state dir."""
    from benchlib import ansible

    ansible.install_collection()
    extra = {
        "provision_app": APP,
        "provision_state_dir": str(STATE),
        "provision_hosts": [{"name": APP, "group": GROUP, "count": count, "published_ports": [80]}],
    }
    ansible.playbook("flaskfleet.cloud.provision", inventory=None, extra=extra, tuned=True, timeout=timeout)


def create(count: int, log=print) -> Fleet:
    """Bring the bench fleet to ``count`` running, reachable hosts (keys recorded, SSH answering)."""
    ensure_state()
    started = time.monotonic()
    _provision(count, timeout=1800)
    fleet = discover()
    if len(fleet.nodes) < count:
        raise BenchError(f"wanted {count} bench hosts, {len(fleet.nodes)} are running")
    fleet.nodes = fleet.nodes[:count]
    wait_for_ssh(fleet)
    log(f"fleet: {count} hosts ready via flaskfleet.cloud.provision in {time.monotonic() - started:.1f} s")
    return fleet


def wait_for_ssh(fleet: Fleet, timeout: float = 180) -> None:
    """Until every host answers ``ssh true`` with strict host key checking."""
    deadline = time.monotonic() + timeout

    def probe(node: Node) -> None:
        while True:
            proc = run(
                ["ssh", *fleet.ssh_opts(), "-o", "ConnectTimeout=5", "-p", node.port, f"{USER}@127.0.0.1", "true"],
                check=False,
                timeout=30,
            )
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{node.name}: ssh not answering: {proc.tail(2)}")
            time.sleep(1)

    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(probe, fleet.nodes))


# -- teardown ------------------------------------------------------------------------------------
def teardown(log=print) -> None:
    """Remove every bench host (``flaskfleet.cloud.teardown`` of app ``bench`` only) and their keys."""
    had = len(discover().nodes) if STATE.exists() else 0
    if had:
        from benchlib import ansible

        extra = {"provision_app": APP, "provision_state_dir": str(STATE)}
        ansible.playbook("flaskfleet.cloud.teardown", inventory=None, extra=extra, tuned=True, timeout=600)
    shutil.rmtree(WORK / "inventory", ignore_errors=True)
    if had:
        log(f"fleet: removed {had} bench hosts")


__all__ = ["APP", "Fleet", "Node", "base_env", "create", "discover", "teardown"]
