"""A small local fleet for the fault tests: hosts we can kill, pause, fill up and look inside.

Hosts are ``flaskfleet/base`` containers started through the Docker SDK exactly as
docs/architecture.md says (unprivileged, systemd, sshd, ports on 127.0.0.1 only), with the
contract's labels so the ``flaskfleet.cloud.fleet`` inventory plugin finds them, plus
``flaskfleet.test=<tag>`` so only our own containers are ever removed. Host keys are read with
``docker exec`` (out of band) and written to a known_hosts file of the fleet's own; Ansible then
checks them strictly, like on a provisioned fleet.

Everything we observe on a host (release links, files, the journal) is read with ``docker exec``,
never through the SSH path under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from conftest import ROOT, VENV_BIN

IMAGE = "flaskfleet/base:latest"
KEY_FILE = ROOT / ".flaskfleet" / "id_ed25519"
MARKER = ".flaskfleet-release.json"


class FaultFleet:
    """Containers ``<prefix>-1..N`` of one app, their known_hosts file and a fleet inventory."""

    def __init__(self, tag: str, app: str, workdir: Path) -> None:
        self.tag, self.app, self.workdir = tag, app, workdir
        self.client = docker.from_env(timeout=120)
        self.names: list[str] = []
        self.known_hosts = workdir / "known_hosts"
        self.inventory = workdir / "hosts.fleet.yml"
        self.keys: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def labels(self, prefix: str, group: str) -> dict[str, str]:
        """The contract's labels plus our test label."""
        return {
            "flaskfleet.managed": "true",
            "flaskfleet.app": self.app,
            "flaskfleet.group": group,
            "flaskfleet.name": prefix,
            "flaskfleet.user": "admin",
            "flaskfleet.test": self.tag,
        }

    def create(self, name: str, group: str, tmpfs: dict[str, str] | None = None) -> None:
        """Start one host the only way it works here (unprivileged); ``tmpfs`` adds small mounts."""
        self.client.containers.run(
            IMAGE,
            detach=True,
            name=name,
            hostname=name,
            labels=self.labels(name.rsplit("-", 1)[0], group),
            tmpfs={"/run": "", "/run/lock": "", **(tmpfs or {})},
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
            stop_signal="SIGRTMIN+3",
            ports={"22/tcp": ("127.0.0.1",), "80/tcp": ("127.0.0.1",)},
        )
        self.names.append(name)

    def start(self, hosts: list[tuple[str, str, dict | None]]) -> FaultFleet:
        """Create ``(name, group, tmpfs)`` hosts, wait for sshd, trust them, write the inventory."""
        self.remove()
        for name, group, tmpfs in hosts:
            self.create(name, group, tmpfs)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.wait_ssh, self.names))
            list(pool.map(self.authorize, self.names))
        self.write_known_hosts()
        self.write_inventory()
        return self

    def remove(self) -> None:
        """Remove every container carrying our test label and app (never anyone else's)."""
        filters = {"label": [f"flaskfleet.test={self.tag}", f"flaskfleet.app={self.app}"]}
        for container in self.client.containers.list(all=True, filters=filters):
            container.remove(force=True, v=True)

    # -- host state ------------------------------------------------------------------------------
    def container(self, name: str):
        return self.client.containers.get(name)

    def port(self, name: str, container_port: int) -> int:
        """The 127.0.0.1 port Docker published for ``container_port`` (changes when a host restarts)."""
        container = self.container(name)
        container.reload()
        return int(container.ports[f"{container_port}/tcp"][0]["HostPort"])

    def sh(self, name: str, script: str) -> tuple[int, str]:
        """Run a shell script as root inside the host (out of band); returns (exit code, output)."""
        code, out = self.container(name).exec_run(["sh", "-c", script], user="root")
        return code, out.decode("utf-8", "replace")

    def wait_ssh(self, name: str, timeout: float = 120) -> None:
        """Wait until the host has its host key and sshd answers with its banner on the published port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, out = self.sh(name, "cat /etc/ssh/ssh_host_ed25519_key.pub")
            if code == 0 and out.startswith("ssh-ed25519") and self._banner(self.port(name, 22)):
                self.keys[name] = " ".join(out.split()[:2])
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name}: sshd did not come up within {timeout} s")

    @staticmethod
    def _banner(port: int) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.settimeout(2)
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def authorize(self, name: str) -> None:
        """Install the project's public key for ``admin`` (what provisioning does)."""
        pub = KEY_FILE.with_suffix(".pub").read_text().strip()
        code, out = self.sh(
            name,
            f"install -d -m 700 -o admin -g admin /home/admin/.ssh && printf '%s\\n' '{pub}' "
            "> /home/admin/.ssh/authorized_keys && chown admin:admin /home/admin/.ssh/authorized_keys "
            "&& chmod 600 /home/admin/.ssh/authorized_keys",
        )
        assert code == 0, out

    def write_known_hosts(self, path: Path | None = None, override: dict[str, str] | None = None) -> Path:
        """known_hosts with each host's key at its current SSH port (``override`` replaces some keys)."""
        keys = {**self.keys, **(override or {})}
        lines = [f"[127.0.0.1]:{self.port(n, 22)} {keys[n]}" for n in self.names]
        path = path or self.known_hosts
        path.write_text("\n".join(lines) + "\n")
        return path

    def write_inventory(self) -> None:
        """A fleet inventory config that lists exactly our hosts."""
        self.inventory.write_text(
            "plugin: flaskfleet.cloud.fleet\n"
            "providers:\n"
            "  - type: docker\n"
            f"    app: {self.app}\n"
            f"    labels: {{flaskfleet.test: {self.tag}}}\n"
            f"known_hosts_file: {self.known_hosts}\n"
            f"ssh_private_key_file: {KEY_FILE}\n"
        )

    def revive(self, name: str) -> None:
        """Start a killed host again and trust it at its new port (its host key did not change)."""
        self.container(name).start()
        self.wait_ssh(name)
        self.write_known_hosts()

    # -- the app ---------------------------------------------------------------------------------
    def current(self, name: str) -> str | None:
        """The release id ``current`` points at (read on the host), or None."""
        code, out = self.sh(name, f"readlink /srv/{self.app}/current")
        return out.strip().rsplit("/", 1)[-1] if code == 0 and out.strip() else None

    def release_dirs(self, name: str) -> list[str]:
        """Names in ``releases/`` (complete releases, leftovers, anything)."""
        code, out = self.sh(name, f"ls -A /srv/{self.app}/releases 2>/dev/null")
        return sorted(out.split()) if code == 0 else []

    def verify_current(self, name: str) -> str:
        """Check that ``current`` is a complete, verified release; return its id.

        Complete means: the completion marker names the release, ``venv/bin/python`` runs and the
        app's package imports from that venv.
        """
        root = f"/srv/{self.app}"
        code, out = self.sh(
            name,
            f"set -e; target=$(readlink -f {root}/current); cat $target/{MARKER}; echo; "
            f"$target/venv/bin/python -c 'import hello, flask, gunicorn; print(\"IMPORT-OK\", hello.__file__)'",
        )
        assert code == 0, f"{name}: current is not a complete release:\n{out}"
        marker = json.loads(out[: out.index("}") + 1])
        release = self.current(name)
        assert marker["release_id"] == release, f"{name}: marker names {marker['release_id']}, current is {release}"
        assert f"IMPORT-OK {root}/releases/{release}/venv/" in out, out
        return release

    def http(self, name: str, path: str = "/healthz", timeout: float = 5) -> tuple[int, str]:
        """GET through the host's nginx (published port 80 on 127.0.0.1)."""
        url = f"http://127.0.0.1:{self.port(name, 80)}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def serving(self, name: str, timeout: float = 60) -> str | None:
        """The release nginx serves on ``/healthz`` (waits for a healthy answer), or None."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.http(name)
            if status == 200:
                return json.loads(body).get("release")
            if time.monotonic() > deadline:
                return None
            time.sleep(1)


def ansible_playbook(env: dict, *args, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ansible-playbook with the test environment; output captured as text."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), *map(str, args)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def setup_playbook(workdir: Path, app: str, pattern: str = "all") -> Path:
    """The baseline and proxy of the site playbook (base + nginx), as a play of its own."""
    path = workdir / "setup.yml"
    path.write_text(
        "- name: Baseline and proxy\n"
        f"  hosts: {pattern}\n"
        "  gather_facts: false\n"
        "  become: true\n"
        "  roles:\n"
        "    - role: flaskfleet.cloud.base\n"
        "    - role: flaskfleet.cloud.nginx\n"
        f"      vars: {{nginx_app_name: {app}}}\n"
    )
    return path


def deploy_args(fleet: FaultFleet, artifact: Path, pattern: str, *extra: str) -> list[str]:
    """Arguments of ``ansible-playbook flaskfleet.cloud.deploy`` for this fleet."""
    return [
        "flaskfleet.cloud.deploy", "-i", fleet.inventory, "-e", f"flask_app_name={fleet.app}",
        "-e", f"flask_app_artifact={artifact}", "-e", f"flaskfleet_hosts={pattern}", *extra,
    ]  # fmt: skip


def build_artifact(app: str, release_id: str, out: Path) -> Path:
    """The example app's artifact under app name ``app``, built as ``invoke deploy`` builds it."""
    from flaskfleet.artifact import build

    return build(ROOT / "examples" / "hello", out, release_id=release_id, app_name=app).path


def recap(output: str) -> dict[str, dict[str, int]]:
    """``PLAY RECAP`` counters per host."""
    table = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, flags=re.M):
        table[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    return table
