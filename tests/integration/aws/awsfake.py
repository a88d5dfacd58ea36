"""moto_server and a tiny counting/faulting HTTP proxy in front of it, for the AWS tests.

Used by ``tests/integration/aws/conftest.py`` and ``tests/faults/test_aws_faults.py``. The proxy
records the EC2 ``Action`` of every request (so tests can count API calls) and can answer chosen
requests with an AWS error instead of forwarding them (throttling, permanent errors).
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
MOTO_SERVER = ROOT / ".venv" / "bin" / "moto_server"
REGION = "us-east-1"
ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """``moto_server`` on a free 127.0.0.1 port; ``stop()`` ends it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2).read()  # noqa: S310
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("moto_server did not answer within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Fault:
    """Answer requests for ``action`` (any when None) with an AWS error, ``times`` times (None: always),
    only once a request for ``after`` went through (when given)."""

    def __init__(
        self,
        code: str,
        status: int = 400,
        action: str | None = None,
        times: int | None = None,
        after: str | None = None,
    ):
        self.code, self.status, self.action, self.times, self.after = code, status, action, times, after

    def take(self, action: str, seen: list[str]) -> bool:
        """Does this fault answer the request? Counts down ``times``; waits for ``after`` to be seen."""
        if self.action not in (None, action) or self.times == 0:
            return False
        if self.after and self.after not in seen[:-1]:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class AwsProxy:
    """An HTTP proxy to moto that records EC2 actions and injects faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.actions: list[str] = []
        self.faults: list[Fault] = []
        self.injected = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, *faults: Fault) -> None:
        """Forget recorded actions and set new faults."""
        with self.lock:
            self.actions, self.faults, self.injected = [], list(faults), 0

    def count(self, action: str | None = None) -> int:
        """How many requests (for ``action``) were seen."""
        with self.lock:
            return len([a for a in self.actions if action in (None, a)])

    def take_actions(self) -> list[str]:
        """The actions recorded since the last reset or take, forgetting them."""
        with self.lock:
            seen, self.actions = self.actions, []
        return seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _decide(self, action: str) -> Fault | None:
        with self.lock:
            self.actions.append(action)
            for fault in self.faults:
                if fault.take(action, self.actions):
                    self.injected += 1
                    return fault
        return None

    def _forward(self, method: str, path: str, headers, body: bytes):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={k: v for k, v in headers.items() if k.lower() != "host"})
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
                query.update(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
                action = (query.get("Action") or ["?"])[0]
                fault = proxy._decide(action)
                if fault:
                    status, headers = fault.status, [("Content-Type", "text/xml")]
                    payload = ERROR_XML.format(code=fault.code, message=f"injected {fault.code}", rid=uuid.uuid4())
                    payload = payload.encode()
                else:
                    status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        return Handler


def aws_env(base_env: dict) -> dict:
    """Ansible's environment plus dummy credentials; nothing may reach real AWS or IMDS."""
    env = {k: v for k, v in base_env.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing-key-id",
        AWS_SECRET_ACCESS_KEY="testing-secret-key",
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    return env


def playbook(path: Path, endpoint: str, tasks: list, module_defaults: dict | None = None) -> Path:
    """Write a localhost playbook whose AWS modules talk to ``endpoint``."""
    defaults = {"endpoint_url": endpoint, "region": REGION}
    defaults.update(module_defaults or {})
    play = {
        "name": "aws test",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "module_defaults": {"group/flaskfleet.cloud.aws": defaults},
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def run(args: list, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a command from the project root, capturing text output."""
    return subprocess.run(
        [str(a) for a in args], env=env, cwd=ROOT, timeout=timeout, capture_output=True, text=True, check=False
    )


def task_results(stdout: str) -> list[dict]:
    """The localhost result of every task from ``ansible.posix.json`` output."""
    data = json.loads(stdout[stdout.index("{") :])
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


def live_instances(ec2, name: str) -> list[dict]:
    """Instances of ``name`` in moto that are not terminated."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:flaskfleet.name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
