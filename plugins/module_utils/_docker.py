# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Local container hosts through the Docker SDK: one client factory, one error mapping.

This is the docker counterpart of amazon.aws' ``AnsibleAWSModule``: modules build a
:class:`DockerHostsModule` (common options, lazily created client, ``fail_docker``), and both
the ``docker_host`` module and the ``fleet`` inventory plugin describe containers with the same
:func:`list_host_summaries` / :func:`describe_host` pair, so they can never disagree about what a
"local host" is. The contract (labels, names, ports) is in ``docs/architecture.md``.

Private to the collection: the surface may change between minor releases.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import contextlib
import os
import re
import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import env_fallback
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _cloud as cloud
from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import (
    TAG_APP,
    TAG_GROUP,
    TAG_MANAGED,
    TAG_NAME,
    TAG_USER,
)

try:
    import docker
    from docker.errors import DockerException, ImageNotFound, NotFound

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only without the SDK
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):
        """Stand-in so ``except DockerException`` stays valid without the SDK."""

    ImageNotFound = NotFound = DockerException

DEFAULT_IMAGE = "flaskfleet/base:latest"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
LOCAL_ADDRESS = "127.0.0.1"
SSH_PORT = 22
# NOTE: the SDK's connection pool holds 10 connections by default; more workers would only queue.
MAX_WORKERS = 8
BANNER_POLL_SECONDS = 0.25
PORT_ATTEMPTS = 3

# Host keys and the login user's authorized_keys in one exec per host: the key comes in through
# the environment (never the command line) and only missing keys are appended.
HOST_SCRIPT = r"""
set -u
entry=$(getent passwd "$FF_USER") || { echo "key:no-user"; exit 0; }
home=$(printf '%s' "$entry" | cut -d: -f6)
file="$home/.ssh/authorized_keys"
if [ -z "$FF_KEY" ]; then
    echo "key:skipped"
elif [ -f "$file" ] && grep -qxF -- "$FF_KEY" "$file"; then
    echo "key:unchanged"
elif [ -n "$FF_CHECK" ]; then
    echo "key:changed"
else
    install -d -m 0700 -o "$FF_USER" -g "$(id -gn "$FF_USER")" "$home/.ssh"
    printf '%s\n' "$FF_KEY" >> "$file"
    chown "$FF_USER:$(id -gn "$FF_USER")" "$file"
    chmod 0600 "$file"
    echo "key:changed"
fi
for pub in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_rsa_key.pub; do
    [ -s "$pub" ] && cut -d' ' -f1,2 "$pub"
done
exit 0
"""


class DockerHostsError(cloud.CloudError):
    """A failure with a one-line message that says what to fix."""


def docker_argument_spec() -> dict:
    """Options every module talking to the Docker engine takes (see the ``docker`` doc fragment)."""
    return dict(
        docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
        api_timeout=dict(type="int", default=60),
    )


def engine_url(docker_host: str | None = None) -> str:
    """The engine address we talk to, for messages: explicit, then ``DOCKER_HOST``, then the socket."""
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def short_reason(exc: BaseException) -> str:
    """One line out of a Docker/requests exception, without nested reprs where we know better."""
    text = getattr(exc, "explanation", None) or str(exc)
    text = " ".join(str(text).split())
    for known in ("No such file or directory", "Connection refused", "Permission denied", "timed out"):
        if known in text:
            return known
    return text[:300]


def connect(docker_host: str | None = None, timeout: int = 60):
    """Return a ``docker.DockerClient`` that has answered a ping, or raise :class:`DockerHostsError`."""
    if not HAS_DOCKER:
        raise DockerHostsError("the Python 'docker' SDK is not installed: pip install docker (requirements.txt)")
    url = engine_url(docker_host)
    try:
        if docker_host:
            client = docker.DockerClient(base_url=docker_host, timeout=timeout, max_pool_size=MAX_WORKERS + 2)
        else:
            # from_env also honours DOCKER_TLS_VERIFY / DOCKER_CERT_PATH.
            client = docker.from_env(timeout=timeout, max_pool_size=MAX_WORKERS + 2)
        client.ping()
    except DockerException as exc:
        # NOTE: "from None": the message carries the reason; Ansible would append the SDK's nested repr.
        raise DockerHostsError(
            "Docker engine is not reachable at %s: start it (make setup) or point docker_host/DOCKER_HOST "
            "at a running engine (%s)" % (url, short_reason(exc))
        ) from None
    return client


def label_filters(app: str | None = None, name: str | None = None, group: str | None = None, labels=None) -> list:
    """Docker ``label=`` filters selecting managed hosts, narrowed by app/name/group/extra labels."""
    wanted = [(TAG_MANAGED, "true"), (TAG_APP, app), (TAG_NAME, name), (TAG_GROUP, group)]
    wanted += sorted((labels or {}).items())
    return ["%s=%s" % (key, value) for key, value in wanted if value is not None]


def list_host_summaries(client, include_stopped: bool = True, **selectors) -> list:
    """Container summaries (one ``GET /containers/json``, no per-container inspect) of managed hosts."""
    filters = {"label": label_filters(**selectors)}
    return client.api.containers(all=include_stopped, filters=filters)


def container_name(summary: dict) -> str:
    """The container's name without Docker's leading slash."""
    names = summary.get("Names") or ["/" + summary["Id"][:12]]
    return names[0].lstrip("/")


def local_ports(summary: dict) -> dict:
    """``{container port: host port}`` of TCP ports published on 127.0.0.1."""
    ports = {}
    for entry in summary.get("Ports") or []:
        if entry.get("Type") == "tcp" and entry.get("PublicPort") and entry.get("IP") == LOCAL_ADDRESS:
            ports[int(entry["PrivatePort"])] = int(entry["PublicPort"])
    return ports


def describe_host(summary: dict) -> dict:
    """The provider-neutral description of one local host, from a container summary."""
    labels = summary.get("Labels") or {}
    ports = local_ports(summary)
    return {
        "name": container_name(summary),
        "address": LOCAL_ADDRESS,
        "ssh_port": ports.get(SSH_PORT),
        "published_ports": {str(port): ports[port] for port in sorted(ports) if port != SSH_PORT},
        "container_id": summary["Id"],
        "state": summary.get("State", "unknown"),
        "app": labels.get(TAG_APP),
        "group": labels.get(TAG_GROUP),
        "user": labels.get(TAG_USER),
    }


def run_concurrently(func, items, workers: int = MAX_WORKERS) -> list:
    """``[(item, result, exception)]`` for ``func(item)`` over items, a few at a time."""
    items = list(items)
    if not items:
        return []

    def call(item):
        try:
            return item, func(item), None
        except Exception as exc:  # reported per item by the caller
            return item, None, exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(call, items))


def ensure_image(client, image: str) -> None:
    """Fail clearly when the image is not there; we never pull (hosts must work offline)."""
    try:
        client.images.get(image)
    except ImageNotFound:
        raise DockerHostsError(
            "image %s was not found in the Docker engine: build it with scripts/build-image.sh (make setup) "
            "or set image to an existing one" % image
        ) from None


def free_local_ports(count: int) -> list:
    """``count`` ports on 127.0.0.1 that nothing listens on right now (the kernel picks them)."""
    sockets = []
    try:
        for _index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOCAL_ADDRESS, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_taken(exc: BaseException) -> bool:
    """Whether Docker refused to start because a host port was taken meanwhile."""
    text = short_reason(exc).lower()
    return "already allocated" in text or "address already in use" in text


def create_host(client, name: str, image: str, labels: dict, ports, attempts: int = PORT_ATTEMPTS) -> str:
    """Create and start one host container the only way it works here (unprivileged); return its id.

    NOTE: host ports are picked here (free ports on 127.0.0.1) rather than left to Docker, because
    Docker picks new random ports on every restart, which would orphan the host's known_hosts
    entry (``[127.0.0.1]:<port>``). A port grabbed by someone else in between means a retry.
    """
    container_ports = sorted({SSH_PORT, *ports})
    for attempt in range(1, attempts + 1):
        host_ports = free_local_ports(len(container_ports))
        bindings = {"%d/tcp" % port: (LOCAL_ADDRESS, host_ports[i]) for i, port in enumerate(container_ports)}
        container = client.containers.create(
            image,
            name=name,
            hostname=name,
            labels=labels,
            tmpfs={"/run": "", "/run/lock": ""},
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
            stop_signal="SIGRTMIN+3",
            ports=bindings,
        )
        try:
            container.start()
            return container.id
        except DockerException as exc:
            remove_container(client, container.id)
            if attempt == attempts or not port_taken(exc):
                raise
    raise DockerHostsError("could not find free ports for %s" % name)  # not reached: the loop returns or raises


def remove_container(client, container_id: str) -> None:
    """Remove a container and its anonymous volumes; already gone is fine."""
    with contextlib.suppress(NotFound):
        client.api.remove_container(container_id, force=True, v=True)


def wait_for_ssh(port: int, timeout: float, address: str = LOCAL_ADDRESS) -> bool:
    """Wait until an SSH banner comes from ``address:port``; ``False`` when ``timeout`` passed.

    NOTE: docker-proxy accepts connections before sshd listens and then closes them, so an open
    port proves nothing; only the ``SSH-`` banner does.
    """
    deadline = time.monotonic() + timeout
    while True:
        if read_banner(address, port, min(2.0, max(0.1, deadline - time.monotonic()))).startswith("SSH-"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(BANNER_POLL_SECONDS)


def read_banner(address: str, port: int, timeout: float) -> str:
    """The first line the server sends, or ``""`` when it sends nothing in time."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(256).decode("ascii", "replace")
    except OSError:
        return ""


def exec_script(client, container_id: str, script: str, environment: dict) -> str:
    """Run a shell script as root in a running container; return its output or raise on failure."""
    exec_id = client.api.exec_create(container_id, ["/bin/sh", "-c", script], environment=environment, user="root")
    output = client.api.exec_start(exec_id).decode("utf-8", "replace")
    code = client.api.exec_inspect(exec_id).get("ExitCode")
    if code != 0:
        raise DockerHostsError("a command in the container failed (exit %s): %s" % (code, " ".join(output.split())))
    return output


def sync_host(client, container_id: str, user: str, public_key: str | None, check_mode: bool) -> tuple:
    """Make sure ``public_key`` may log in as ``user``; return ``(key_changed, host_keys)``."""
    env = {"FF_USER": user, "FF_KEY": public_key or "", "FF_CHECK": "1" if check_mode else ""}
    lines = exec_script(client, container_id, HOST_SCRIPT, env).splitlines()
    status = lines[0] if lines else ""
    if status == "key:no-user":
        raise DockerHostsError("user %s does not exist in the image: set ssh_user to an existing login user" % user)
    host_keys = [line.strip() for line in lines[1:] if re.match(r"^(ssh|ecdsa)-\S+ \S+$", line.strip())]
    return status == "key:changed", host_keys


class DockerHostsModule(cloud.CloudModule):
    """An ``AnsibleModule`` with the common Docker options, one lazily built client and clear failures."""

    def __init__(self, argument_spec: dict, **kwargs) -> None:
        super().__init__(docker_argument_spec(), argument_spec, (HAS_DOCKER, "docker", DOCKER_IMPORT_ERROR), **kwargs)
        self._client = None

    @property
    def client(self):
        """The Docker client, connected on first use; an unreachable engine fails the module."""
        if self._client is None:
            self._client = self.connected(
                lambda params: connect(params.get("docker_host"), params.get("api_timeout") or 60), DockerHostsError
            )
        return self._client

    def fail_docker(self, exc: BaseException, msg: str) -> None:
        """Fail with ``msg: <one-line reason>`` for a Docker/our own error."""
        reason = str(exc) if isinstance(exc, DockerHostsError) else short_reason(exc)
        self.fail_json(msg="%s: %s" % (msg, reason) if msg else reason)
