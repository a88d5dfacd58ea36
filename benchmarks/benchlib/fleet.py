"""The benchmark fleet: local container hosts labelled ``flaskfleet.app=bench``, and files describing it.

Hosts come from the collection's provision playbook (``flaskfleet.cloud.provision`` with the
docker provider) when it is installed, else from ``docker run`` with the same image, flags and
labels as docs/architecture.md fixes. Either way the fleet lives in its own state directory
(``benchmarks/.work/state``: own SSH key, own known_hosts) and is found again by its label, so a
benchmark never touches another user's hosts. Every tool gets the same N hosts, described once in
files written here (Ansible YAML inventory, a plain host list, a pyinfra inventory).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib.env import ROOT, WORK, BenchError, base_env, run

APP = "bench"
GROUP = "web"
IMAGE = "flaskfleet/base:latest"
USER = "admin"
STATE = WORK / "state"
LABEL = f"flaskfleet.app={APP}"
_KH_LOCK = threading.Lock()


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


def _docker():
    """A Docker SDK client (the venv has docker 7)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        raise BenchError(f"Docker engine not reachable ({exc}); run scripts/docker-engine.sh") from exc
    return client


def _containers(client):
    """Our containers (label ``flaskfleet.app=bench``), running or not."""
    return client.containers.list(all=True, filters={"label": LABEL})


def _published(container, port: str) -> int | None:
    """The 127.0.0.1 port Docker chose for a container port."""
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return int(bindings[0]["HostPort"]) if bindings else None


def discover() -> Fleet:
    """The bench fleet as it is now (running containers with our label)."""
    client = _docker()
    nodes = []
    for c in _containers(client):
        c.reload()
        if c.status == "running" and _published(c, "22"):
            nodes.append(Node(c.name, _published(c, "22"), _published(c, "80")))
    return Fleet(nodes)


# -- creation ------------------------------------------------------------------------------------
def provision_playbook_available() -> bool:
    """Whether the collection ships the provision playbook with the docker provider (helper A's)."""
    return (ROOT / "playbooks" / "provision.yml").exists() and (
        ROOT / "plugins" / "modules" / "docker_host.py"
    ).exists()


def create(count: int, backend: str = "auto", log=print) -> Fleet:
    """Bring the bench fleet to ``count`` running, reachable hosts (keys recorded, SSH answering)."""
    ensure_state()
    if backend == "auto":
        backend = "playbook" if provision_playbook_available() else "docker"
    started = time.monotonic()
    if backend == "playbook":
        _create_with_playbook(count)
    else:
        _create_with_docker(count)
    fleet = discover()
    if len(fleet.nodes) < count:
        raise BenchError(f"wanted {count} bench hosts, {len(fleet.nodes)} are running")
    fleet.nodes = fleet.nodes[:count]
    wait_for_ssh(fleet)
    log(f"fleet: {count} hosts ready via {backend} in {time.monotonic() - started:.1f} s")
    return fleet


def _create_with_playbook(count: int) -> None:
    """``ansible-playbook flaskfleet.cloud.provision`` (docker provider), app ``bench``, our state dir."""
    from benchlib import ansible

    ansible.install_collection()
    extra = {
        "flaskfleet_provider": "docker",
        "provision_app": APP,
        "provision_hosts": [{"name": APP, "group": GROUP, "count": count, "published_ports": [80]}],
    }
    env = {"FLASKFLEET_STATE_DIR": str(STATE)}
    ansible.playbook("flaskfleet.cloud.provision", inventory=None, extra=extra, tuned=True, timeout=1800, extra_env=env)


def _create_with_docker(count: int) -> None:
    """``docker run`` the hosts that are missing, inject our key, record their host keys."""
    client = _docker()
    have = {c.name for c in _containers(client)}
    want = [f"{APP}-{i}" for i in range(1, count + 1)]
    missing = [name for name in want if name not in have]
    pub = (STATE / "id_ed25519.pub").read_text().strip()
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: _start_container(client, name, pub), missing))


def _start_container(client, name: str, pub: str) -> None:
    """One host, started exactly as docs/architecture.md says, then keyed."""
    container = client.containers.run(
        IMAGE,
        name=name,
        hostname=name,
        detach=True,
        tmpfs={"/run": "", "/run/lock": ""},
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
        stop_signal="SIGRTMIN+3",
        ports={"22/tcp": ("127.0.0.1", None), "80/tcp": ("127.0.0.1", None)},
        labels={
            "flaskfleet.managed": "true",
            "flaskfleet.app": APP,
            "flaskfleet.group": GROUP,
            "flaskfleet.name": APP,
            "flaskfleet.user": USER,
        },
    )
    script = (
        f"printf '%s\\n' '{pub}' > /home/{USER}/.ssh/authorized_keys && "
        f"chown {USER}:{USER} /home/{USER}/.ssh/authorized_keys && chmod 600 /home/{USER}/.ssh/authorized_keys"
    )
    _exec(container, script)
    deadline = time.monotonic() + 120
    while _exec(container, "test -s /etc/ssh/ssh_host_ed25519_key.pub", check=False) != 0:
        if time.monotonic() > deadline:
            raise BenchError(f"{name}: sshd host keys not generated after 120 s")
        time.sleep(0.5)
    container.reload()
    keys = container.exec_run(["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"]).output.decode()
    _record_keys(f"[127.0.0.1]:{_published(container, '22')}", keys)


def _exec(container, script: str, check: bool = True) -> int:
    """Run a root shell snippet inside a container (the trusted channel, before SSH exists)."""
    result = container.exec_run(["sh", "-c", script])
    if check and result.exit_code != 0:
        raise BenchError(f"{container.name}: {script[:40]}... exited {result.exit_code}: {result.output[-200:]!r}")
    return result.exit_code


def _record_keys(endpoint: str, pubkeys: str) -> None:
    """Replace ``endpoint``'s lines in the bench known_hosts (keys read via docker exec, not keyscan)."""
    path = STATE / "known_hosts"
    fresh = [f"{endpoint} {p[0]} {p[1]}" for p in (k.split() for k in pubkeys.splitlines()) if len(p) >= 2]
    with _KH_LOCK:  # several hosts start at once; rewrite the file whole, then rename
        kept = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith(endpoint + " ")]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(kept + fresh) + "\n")
        tmp.replace(path)


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
    """Remove every bench host (label ``flaskfleet.app=bench`` only) and forget their keys."""
    client = _docker()
    doomed = _containers(client)
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.remove(force=True), doomed))
    if (STATE / "known_hosts").exists():
        (STATE / "known_hosts").write_text("")
    shutil.rmtree(WORK / "inventory", ignore_errors=True)
    if doomed:
        log(f"fleet: removed {len(doomed)} bench hosts")


__all__ = ["APP", "Fleet", "Node", "base_env", "create", "discover", "teardown"]
