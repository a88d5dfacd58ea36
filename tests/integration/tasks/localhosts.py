"""Local container hosts for the task-library tests: start, trust, describe as an inventory, remove.

The hosts are ``flaskfleet/base`` containers started exactly as docs/architecture.md says, with
the contract's labels plus ``flaskfleet.test=tasks`` so only our own containers are ever removed.
Host keys are read with ``docker exec`` (out of band), not trusted on first use.
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

IMAGE = "flaskfleet/base:latest"
TEST_LABEL = "flaskfleet.test=tasks"


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run a docker command and return its stdout."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def start_container(name: str, app: str, group: str, *extra: str) -> str:
    """Start one host container (``extra``: more ``docker run`` options); returns its id."""
    labels = {
        "flaskfleet.managed": "true",
        "flaskfleet.app": app,
        "flaskfleet.group": group,
        "flaskfleet.name": name.rsplit("-", 1)[0],
        "flaskfleet.user": "admin",
    }
    label_args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    return docker(
        "run", "-d", "--name", name, "--hostname", name, "--label", TEST_LABEL, *label_args,
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "--stop-signal", "SIGRTMIN+3", "-p", "127.0.0.1::22", *extra, IMAGE,
    )  # fmt: skip


def ssh_port(name: str) -> int:
    """The 127.0.0.1 port Docker published for the container's sshd."""
    return int(docker("port", name, "22/tcp").splitlines()[0].rsplit(":", 1)[1])


def host_key(name: str, deadline: float) -> str:
    """The container's ed25519 host public key, once sshd generated it and listens."""
    while time.monotonic() < deadline:
        out = docker("exec", name, "sh", "-c",
                     "cat /etc/ssh/ssh_host_ed25519_key.pub && ss -ltn | grep -q ':22 '", check=False)  # fmt: skip
        if out.startswith("ssh-ed25519"):
            return " ".join(out.split()[:2])
        time.sleep(0.5)
    raise RuntimeError(f"{name}: sshd did not come up")


class LocalHosts:
    """A set of running host containers and the files that describe them."""

    def __init__(self, prefix: str, count: int, workdir: Path, group: str = "web", app: str = "hello"):
        self.prefix, self.count, self.workdir, self.group, self.app = prefix, count, workdir, group, app
        self.names = [f"{prefix}-{i}" for i in range(1, count + 1)]
        self.ports: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.known_hosts = workdir / "known_hosts"
        self.inventory = workdir / "hosts.yml"
        self.key_file = Path(__file__).resolve().parents[3] / ".flaskfleet" / "id_ed25519"

    def start(self) -> LocalHosts:
        """Start all containers in parallel and wait for sshd on each."""
        self.remove()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self.create, self.names))
            deadline = time.monotonic() + 120
            self.keys = dict(zip(self.names, pool.map(lambda n: host_key(n, deadline), self.names), strict=True))
            list(pool.map(self.authorize, self.names))
            list(pool.map(self.wait_booted, self.names))
        self.ports = {name: ssh_port(name) for name in self.names}
        self.write_known_hosts()
        self.write_inventory()
        return self

    def create(self, name: str) -> None:
        """Start one host container (subclasses change how)."""
        start_container(name, self.app, self.group)

    def wait_booted(self, name: str) -> None:
        """Wait (bounded) until systemd finished booting: sshd answers before logind and PAM's
        helpers are up, and a `sudo` in that window can fail."""
        self.exec(name, "timeout 90 systemctl is-system-running --wait", check=False)

    def authorize(self, name: str) -> None:
        """Install the project's public key for ``admin`` (what provisioning does)."""
        pub = self.key_file.with_suffix(".pub").read_text().strip()
        keys = "/home/admin/.ssh/authorized_keys"
        self.exec(name, f"printf '%s\\n' '{pub}' > {keys} && chown admin:admin {keys} && chmod 600 {keys}")

    def write_known_hosts(self, keys: dict[str, str] | None = None) -> None:
        """Record the hosts' keys (or the given ones) in our known_hosts file."""
        keys = keys or self.keys
        lines = [f"[127.0.0.1]:{self.ports[n]} {keys[n]}" for n in self.names]
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def hostvars(self, name: str) -> dict:
        """The host vars the fleet inventory contract gives each host."""
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ports[name],
            "ansible_user": "admin",
            "ansible_ssh_private_key_file": str(self.key_file),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes",
            "flaskfleet_known_hosts_file": str(self.known_hosts),
            "flaskfleet_provider": "docker",
            "flaskfleet_app": self.app,
            "flaskfleet_group": self.group,
        }

    def write_inventory(self) -> None:
        """A static YAML inventory with the fleet contract's host vars and groups."""
        hosts = {n: self.hostvars(n) for n in self.names}
        data = {
            "all": {
                "children": {
                    self.group: {"hosts": hosts},
                    f"app_{self.app}": {"hosts": {n: {} for n in self.names}},
                }
            }
        }
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))

    def remove(self) -> None:
        """Remove our containers of this prefix (never anyone else's)."""
        ids = docker("ps", "-aq", "--filter", f"label={TEST_LABEL}", "--filter", f"name=^{self.prefix}-", check=False)
        if ids:
            docker("rm", "-f", *ids.split(), check=False)

    def exec(self, name: str, command: str, check: bool = True) -> str:
        """Run a shell command inside a host container (the test's out-of-band view)."""
        return docker("exec", name, "sh", "-c", command, check=check)

    def describe(self) -> str:
        """JSON summary for debugging."""
        return json.dumps({"hosts": self.names, "ports": self.ports})
