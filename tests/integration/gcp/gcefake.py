"""A local fake of the Compute Engine REST API (v1), answering only what flaskfleet calls.

Used by ``tests/integration/gcp``. ``google-cloud-compute`` talks to it through its REST
transport (``client_options={"api_endpoint": "http://127.0.0.1:PORT"}``, anonymous
credentials). Documents are shaped like Google's (camelCase, ``compute#...`` kinds, full
resource URLs, zone/global operations). Long-running operations are RUNNING when returned and
finish on the next request (time passes between calls), so a client must wait for them.

The fake records every call as ``"<collection>.<method>"`` (``instances.bulkInsert``) with its
JSON body, and injects faults (throttling, errors) per method.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = "https://www.googleapis.com/compute/v1"
PROJECT = "flaskfleet-test"
ZONE = "europe-west1-b"
ZONES = ("europe-west1-b", "europe-west1-c", "us-central1-a")
IMAGES = {
    # project -> {image name: family}
    "debian-cloud": {"debian-12-bookworm-v20251111": "debian-12", "debian-11-bullseye-v20251111": "debian-11"},
}
MUTATING = ("instances.bulkInsert", "instances.delete", "firewalls.insert", "firewalls.patch", "firewalls.delete")
HOST_KEYS = {
    "ssh-ed25519": "AAAAC3NzaC1lZDI1NTE5AAAAIFakeGceHostKeyForTestsOnly0000000000000000",
    "ecdsa-sha2-nistp256": "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYFakeGceHostKey",
}


def gcp_env(base_env: dict) -> dict:
    """Ansible's environment with anonymous credentials; nothing may reach Google or a metadata server."""
    env = {k: v for k, v in base_env.items() if not k.startswith(("GOOGLE_", "GCP_", "CLOUDSDK_"))}
    env.update(
        GCP_PROJECT=PROJECT,
        GCP_AUTH_KIND="anonymous",
        CLOUDSDK_CONFIG="/nonexistent/gcloud",
        NO_GCE_CHECK="True",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    return env


def error_body(code: int, message: str, reason: str, domain: str = "global") -> dict:
    """Google's JSON error document."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


THROTTLED = {
    429: ("Rate Limit Exceeded", "rateLimitExceeded", "usageLimits"),
    503: ("The service is currently unavailable.", "backendError", "global"),
}


@dataclass
class Fault:
    """Answer calls of ``method`` (any when None) with an HTTP error, ``times`` times (None: always).

    With ``operation_error`` (a GCE error code such as ``QUOTA_EXCEEDED``) the call is accepted
    instead (200 and a RUNNING operation) and its operation ends DONE with that error, having
    changed nothing: how Compute Engine reports most failures of a long-running call.
    """

    status: int
    method: str | None = None
    times: int | None = None
    message: str | None = None
    reason: str | None = None
    operation_error: str | None = None

    def take(self, method: str) -> bool:
        if self.method not in (None, method) or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True

    def body(self) -> dict:
        message, reason, domain = THROTTLED.get(self.status, ("injected error", "invalid", "global"))
        return error_body(self.status, self.message or message, self.reason or reason, domain)


@dataclass
class Call:
    method: str
    path: str
    query: dict
    body: dict | None


@dataclass
class Operation:
    doc: dict
    effect: object = None
    seq: int = 0


@dataclass
class State:
    instances: dict = field(default_factory=dict)  # (project, zone, name) -> instance document
    firewalls: dict = field(default_factory=dict)  # (project, name) -> firewall document
    operations: dict = field(default_factory=dict)  # name -> Operation


class GceFake:
    """The fake API on a free 127.0.0.1 port (``.url``); ``close()`` stops it."""

    def __init__(self) -> None:
        self.state = State()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.seq = 0
        self.clock = datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=-8)))
        self.ids = itertools.count(4_000_000_000_000_000_001)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # --- test helpers ---------------------------------------------------------------------
    def reset(self, *faults: Fault) -> None:
        """Forget recorded calls and set new faults (the instances stay)."""
        with self.lock:
            self.calls, self.faults = [], list(faults)

    def methods(self) -> list[str]:
        with self.lock:
            return [c.method for c in self.calls]

    def count(self, method: str | None = None) -> int:
        return len([m for m in self.methods() if method in (None, m)])

    def bodies(self, method: str) -> list[dict]:
        with self.lock:
            return [c.body for c in self.calls if c.method == method]

    def mutating(self) -> list[str]:
        return [m for m in self.methods() if m in MUTATING]

    def instances(self, name: str | None = None) -> list[dict]:
        """Instances (every zone) whose ``flaskfleet-name`` label is ``name`` (all when None)."""
        with self.lock:
            docs = list(self.state.instances.values())
        return [d for d in docs if name is None or d.get("labels", {}).get("flaskfleet-name") == name]

    def firewall(self, name: str, project: str) -> dict | None:
        with self.lock:
            return self.state.firewalls.get((project, name))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- documents ------------------------------------------------------------------------
    def _now(self) -> str:
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat(timespec="milliseconds")

    def _operation(self, project: str, zone: str | None, kind: str, target: str, effect=None) -> dict:
        name = f"operation-{int(self.clock.timestamp() * 1000)}-{uuid.uuid4().hex[:12]}"
        scope = f"{BASE}/projects/{project}/zones/{zone}" if zone else f"{BASE}/projects/{project}/global"
        doc = {
            "kind": "compute#operation",
            "id": str(next(self.ids)),
            "name": name,
            "operationType": kind,
            "targetLink": target,
            "status": "RUNNING",
            "user": "fake@example.iam.gserviceaccount.com",
            "progress": 0,
            "insertTime": self._now(),
            "startTime": self._now(),
            "selfLink": f"{scope}/operations/{name}",
        }
        if zone:
            doc["zone"] = f"{BASE}/projects/{project}/zones/{zone}"
        self.state.operations[name] = Operation(doc, effect, self.seq)
        return doc

    def _failed_operation(self, project: str, args: tuple, method: str, fault: Fault) -> dict:
        """A RUNNING operation for ``method`` that will end DONE with ``fault``'s error and no effect."""
        zone = args[0] if args and args[0] in ZONES else None
        doc = self._operation(project, zone, method.split(".")[-1], f"{BASE}/projects/{project}")
        error = {"code": fault.operation_error, "message": fault.message or "injected operation error"}
        self.state.operations[doc["name"]].effect = lambda: doc.update(
            error={"errors": [error]}, httpErrorStatusCode=fault.status, httpErrorMessage="FORBIDDEN"
        )
        return doc

    def _advance(self) -> None:
        """Time passes: operations started by earlier requests finish now."""
        for op in self.state.operations.values():
            if op.doc["status"] != "DONE" and op.seq < self.seq:
                if op.effect:
                    op.effect()
                op.doc.update(status="DONE", progress=100, endTime=self._now())

    def _instance(self, project: str, zone: str, name: str, props: dict) -> dict:
        interfaces = []
        for index, nic in enumerate(props.get("networkInterfaces") or [{}]):
            iface = {
                "kind": "compute#networkInterface",
                "name": f"nic{index}",
                "network": nic.get("network") or f"{BASE}/projects/{project}/global/networks/default",
                "networkIP": f"10.132.{len(self.state.instances) // 250}.{len(self.state.instances) % 250 + 2}",
                "stackType": "IPV4_ONLY",
            }
            if nic.get("accessConfigs"):
                iface["accessConfigs"] = [
                    {
                        "kind": "compute#accessConfig",
                        "type": "ONE_TO_ONE_NAT",
                        "name": "External NAT",
                        "natIP": f"203.0.113.{len(self.state.instances) % 250 + 2}",
                        "networkTier": "PREMIUM",
                    }
                ]
            interfaces.append(iface)
        machine = props.get("machineType", "e2-small")
        return {
            "kind": "compute#instance",
            "id": str(next(self.ids)),
            "creationTimestamp": self._now(),
            "name": name,
            "machineType": f"{BASE}/projects/{project}/zones/{zone}/machineTypes/{machine.rsplit('/', 1)[-1]}",
            "status": "PROVISIONING",
            "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "networkInterfaces": interfaces,
            "disks": [
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "source": f"{BASE}/projects/{project}/zones/{zone}/disks/{name}",
                    "boot": True,
                    "autoDelete": True,
                    "index": 0,
                }
            ],
            "metadata": {"kind": "compute#metadata", "fingerprint": uuid.uuid4().hex[:12], **props.get("metadata", {})},
            "tags": {"fingerprint": uuid.uuid4().hex[:12], **props.get("tags", {})},
            "labels": props.get("labels", {}),
            "labelFingerprint": uuid.uuid4().hex[:12],
            "shieldedInstanceConfig": props.get("shieldedInstanceConfig")
            or {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True},
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/instances/{name}",
            "cpuPlatform": "Intel Broadwell",
        }

    # --- routes ---------------------------------------------------------------------------
    def handle(self, verb: str, path: str, query: dict, body: dict | None) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["compute", "v1"] or len(parts) < 4 or parts[2] != "projects":
            return 404, error_body(404, f"Unknown path {path}", "notFound")
        project, rest = parts[3], parts[4:]
        method, handler, args = self._route(verb, rest)
        with self.lock:
            self.seq += 1
            self.calls.append(Call(method, path, query, body))
            self._advance()
            for fault in self.faults:
                if fault.take(method):
                    if fault.operation_error:
                        return 200, self._failed_operation(project, args, method, fault)
                    return fault.status, fault.body()
            if handler is None:
                return 404, error_body(404, f"The requested URL {path} was not found on this server.", "notFound")
            return handler(project, *args, query=query, body=body)

    def _route(self, verb: str, rest: list[str]):
        routes = [
            ("GET", r"zones/([^/]+)/instances", "instances.list", self.list_instances),
            ("GET", r"aggregated/instances", "instances.aggregatedList", self.aggregated_instances),
            ("POST", r"zones/([^/]+)/instances/bulkInsert", "instances.bulkInsert", self.bulk_insert),
            ("DELETE", r"zones/([^/]+)/instances/([^/]+)", "instances.delete", self.delete_instance),
            (
                "GET",
                r"zones/([^/]+)/instances/([^/]+)/getGuestAttributes",
                "instances.getGuestAttributes",
                self.guest_attributes,
            ),
            ("POST", r"zones/([^/]+)/operations/([^/]+)/wait", "zoneOperations.wait", self.wait_operation),
            ("GET", r"zones/([^/]+)/operations/([^/]+)", "zoneOperations.get", self.wait_operation),
            ("POST", r"global/operations/([^/]+)/wait", "globalOperations.wait", self.wait_global),
            ("GET", r"global/firewalls/([^/]+)", "firewalls.get", self.get_firewall),
            ("POST", r"global/firewalls", "firewalls.insert", self.insert_firewall),
            ("PATCH", r"global/firewalls/([^/]+)", "firewalls.patch", self.patch_firewall),
            ("DELETE", r"global/firewalls/([^/]+)", "firewalls.delete", self.delete_firewall),
            ("GET", r"global/images/family/([^/]+)", "images.getFromFamily", self.image_from_family),
            ("GET", r"global/images/([^/]+)", "images.get", self.get_image),
        ]
        joined = "/".join(rest)
        for route_verb, pattern, method, handler in routes:
            match = re.fullmatch(pattern, joined)
            if route_verb == verb and match:
                return method, handler, match.groups()
        return f"{verb} {joined}", None, ()

    def _zone_missing(self, project: str, zone: str):
        if zone not in ZONES:
            message = f"The resource 'projects/{project}/zones/{zone}' was not found"
            return 404, error_body(404, message, "notFound")
        return None

    @staticmethod
    def _matches(doc: dict, query: dict) -> bool:
        wanted = re.findall(r'labels\.([a-z0-9_-]+)\s*=\s*"([^"]*)"', query.get("filter", ""))
        return all(doc.get("labels", {}).get(k) == v for k, v in wanted)

    def list_instances(self, project, zone, query, body):
        missing = self._zone_missing(project, zone)
        if missing:
            return missing
        items = [
            d
            for (p, z, _n), d in sorted(self.state.instances.items())
            if p == project and z == zone and self._matches(d, query)
        ]
        doc = {"kind": "compute#instanceList", "id": f"projects/{project}/zones/{zone}/instances"}
        doc["selfLink"] = f"{BASE}/projects/{project}/zones/{zone}/instances"
        if items:
            doc["items"] = items
        return 200, doc

    def aggregated_instances(self, project, query, body):
        items = {}
        for zone in ZONES:
            found = [
                d
                for (p, z, _n), d in sorted(self.state.instances.items())
                if p == project and z == zone and self._matches(d, query)
            ]
            if found:
                items[f"zones/{zone}"] = {"instances": found}
            else:
                items[f"zones/{zone}"] = {
                    "warning": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": "There are no results for scope 'zones/%s' on this page." % zone,
                        "data": [{"key": "scope", "value": f"zones/{zone}"}],
                    }
                }
        return 200, {
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{project}/aggregated/instances",
            "items": items,
            "selfLink": f"{BASE}/projects/{project}/aggregated/instances",
        }

    def bulk_insert(self, project, zone, query, body):
        missing = self._zone_missing(project, zone)
        if missing:
            return missing
        body = body or {}
        props = body.get("instanceProperties") or {}
        names = list((body.get("perInstanceProperties") or {}).keys())
        if not names or int(body.get("count", 0)) != len(names):
            return 400, error_body(400, "Invalid value for field 'resource.count'", "invalid")
        image = ((props.get("disks") or [{}])[0].get("initializeParams") or {}).get("sourceImage", "")
        if not self._image_exists(image):
            message = f"The resource '{image}' was not found"
            return 404, error_body(404, message, "notFound")
        taken = [n for n in names if (project, zone, n) in self.state.instances]
        if taken:
            message = f"The resource 'projects/{project}/zones/{zone}/instances/{taken[0]}' already exists"
            return 409, error_body(409, message, "alreadyExists")
        created = []
        for name in names:
            doc = self._instance(project, zone, name, props)
            self.state.instances[(project, zone, name)] = doc
            created.append(doc)

        def finish():
            for doc in created:
                doc["status"] = "RUNNING"
                doc["lastStartTimestamp"] = doc["creationTimestamp"]

        target = f"{BASE}/projects/{project}/zones/{zone}/instances/bulkInsert"
        return 200, self._operation(project, zone, "bulkInsert", target, finish)

    def delete_instance(self, project, zone, name, query, body):
        doc = self.state.instances.get((project, zone, name))
        if doc is None:
            message = f"The resource 'projects/{project}/zones/{zone}/instances/{name}' was not found"
            return 404, error_body(404, message, "notFound")
        doc["status"] = "STOPPING"

        def finish():
            self.state.instances.pop((project, zone, name), None)

        return 200, self._operation(project, zone, "delete", doc["selfLink"], finish)

    def guest_attributes(self, project, zone, name, query, body):
        if (project, zone, name) not in self.state.instances:
            message = f"The resource 'projects/{project}/zones/{zone}/instances/{name}' was not found"
            return 404, error_body(404, message, "notFound")
        items = [{"namespace": "hostkeys", "key": k, "value": v} for k, v in HOST_KEYS.items()]
        return 200, {
            "kind": "compute#guestAttributes",
            "queryPath": query.get("queryPath", ""),
            "queryValue": {"items": items},
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/instances/{name}/guestAttributes/",
        }

    def wait_operation(self, project, zone, name, query, body):
        op = self.state.operations.get(name)
        if op is None or op.doc.get("zone", "").rsplit("/", 1)[-1] != zone:
            return 404, error_body(
                404, f"The resource 'projects/{project}/zones/{zone}/operations/{name}' was not found", "notFound"
            )
        return 200, op.doc

    def wait_global(self, project, name, query, body):
        op = self.state.operations.get(name)
        if op is None or "zone" in op.doc:
            return 404, error_body(
                404, f"The resource 'projects/{project}/global/operations/{name}' was not found", "notFound"
            )
        return 200, op.doc

    def get_firewall(self, project, name, query, body):
        doc = self.state.firewalls.get((project, name))
        if doc is None:
            return 404, error_body(
                404, f"The resource 'projects/{project}/global/firewalls/{name}' was not found", "notFound"
            )
        return 200, doc

    def _firewall_doc(self, project, body, old=None):
        doc = dict(old or {})
        doc.update(body or {})
        doc.update(
            kind="compute#firewall",
            id=(old or {}).get("id") or str(next(self.ids)),
            creationTimestamp=(old or {}).get("creationTimestamp") or self._now(),
            selfLink=f"{BASE}/projects/{project}/global/firewalls/{doc['name']}",
        )
        doc.setdefault("network", f"{BASE}/projects/{project}/global/networks/default")
        doc.setdefault("direction", "INGRESS")
        doc.setdefault("priority", 1000)
        return doc

    def insert_firewall(self, project, query, body):
        name = (body or {}).get("name", "")
        if (project, name) in self.state.firewalls:
            return 409, error_body(
                409, f"The resource 'projects/{project}/global/firewalls/{name}' already exists", "alreadyExists"
            )
        doc = self._firewall_doc(project, body)

        def finish():
            self.state.firewalls[(project, name)] = doc

        return 200, self._operation(project, None, "insert", doc["selfLink"], finish)

    def patch_firewall(self, project, name, query, body):
        old = self.state.firewalls.get((project, name))
        if old is None:
            return 404, error_body(
                404, f"The resource 'projects/{project}/global/firewalls/{name}' was not found", "notFound"
            )
        doc = self._firewall_doc(project, {**(body or {}), "name": name}, old)

        def finish():
            self.state.firewalls[(project, name)] = doc

        return 200, self._operation(project, None, "patch", doc["selfLink"], finish)

    def delete_firewall(self, project, name, query, body):
        old = self.state.firewalls.get((project, name))
        if old is None:
            return 404, error_body(
                404, f"The resource 'projects/{project}/global/firewalls/{name}' was not found", "notFound"
            )

        def finish():
            self.state.firewalls.pop((project, name), None)

        return 200, self._operation(project, None, "delete", old["selfLink"], finish)

    def _image_doc(self, project: str, name: str, family: str) -> dict:
        return {
            "kind": "compute#image",
            "id": str(abs(hash((project, name))) % 10**18),
            "creationTimestamp": "2025-11-11T10:00:00.000-08:00",
            "name": name,
            "family": family,
            "status": "READY",
            "architecture": "X86_64",
            "diskSizeGb": "10",
            "shieldedInstanceInitialState": {},
            "selfLink": f"{BASE}/projects/{project}/global/images/{name}",
        }

    def _image_exists(self, url: str) -> bool:
        match = re.search(r"projects/([^/]+)/global/images/(family/)?([^/]+)$", url)
        if not match:
            return False
        project, family, name = match.groups()
        images = IMAGES.get(project, {})
        return name in (images.values() if family else images)

    def get_image(self, project, name, query, body):
        family = IMAGES.get(project, {}).get(name)
        if family is None:
            return 404, error_body(
                404, f"The resource 'projects/{project}/global/images/{name}' was not found", "notFound"
            )
        return 200, self._image_doc(project, name, family)

    def image_from_family(self, project, family, query, body):
        names = sorted(n for n, f in IMAGES.get(project, {}).items() if f == family)
        if not names:
            message = f"The resource 'projects/{project}/global/images/family/{family}' was not found"
            return 404, error_body(404, message, "notFound")
        return 200, self._image_doc(project, names[-1], family)

    # --- HTTP -----------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                split = urllib.parse.urlsplit(self.path)
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, doc = 400, error_body(400, "Invalid JSON payload received.", "parseError")
                else:
                    status, doc = fake.handle(self.command, split.path, query, body)
                payload = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler
