"""A local fake of Azure Resource Manager (and of the Entra ID token endpoint) for the Azure tests.

It answers only what ``flaskfleet.cloud.azure_vm`` and the ``azure`` fleet provider call, with
documents shaped like ARM's, over HTTPS (the SDK refuses bearer tokens over plain HTTP):

- ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/oauth2/v2.0/token``: MSAL's
  client-credentials flow (a wrong secret gets ``invalid_client``);
- resource groups, virtual networks, network security groups, VMs (PUT/GET/DELETE, list by group
  and by subscription), the NICs and public IPs a VM makes from its ``networkInterfaceConfigurations``,
  image versions, VM sizes and vCPU usage of a location;
- template deployments (``Microsoft.Resources/deployments``): the template's resources (VMs, with
  ``copy`` loops and the few template functions the module uses, see ``TemplateExpression``) are made
  like the VM PUTs make them, and the deployment's operation ends ``Succeeded`` or, when a VM is
  refused or ``deployment_failure`` says so, ``Failed`` with ARM's ``DeploymentFailed`` error;
- long-running operations: PUT answers 201 and DELETE 202 with ``Azure-AsyncOperation`` (and
  ``Location``) headers; the operation reports ``InProgress`` ``polls`` times, then ``Succeeded``.

Every ARM request is recorded as ``"METHOD kind"`` (``calls``), request bodies by kind
(``bodies``); ``faults`` answer chosen requests with an error (throttling with ``Retry-After``,
permanent errors). Used by ``tests/integration/azure/conftest.py``.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import re
import ssl
import subprocess
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
TENANT = "00000000-0000-0000-0000-0000000000bb"
CLIENT_ID = "00000000-0000-0000-0000-0000000000cc"
SECRET = "fake-client-secret"
TOKEN = "fake-arm-token"
LOCATIONS = ("westeurope", "northeurope", "eastus")
IMAGES = {("debian", "debian-12", "12-gen2"): ["0.20250101.1", "0.20250201.2"]}
SIZES = {"standard_b1s": 1, "standard_b2s": 2, "standard_d2s_v5": 2}
MUTATING = ("PUT", "DELETE", "POST", "PATCH")

SUB = r"^/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
ROUTES = [
    ("resourceGroups", re.compile(RG + r"$")),
    ("deployments", re.compile(RG + r"/providers/microsoft\.resources/deployments/(?P<name>[^/]+)$")),
    ("virtualMachines.list", re.compile(RG + r"/providers/microsoft\.compute/virtualmachines$")),
    ("virtualMachines", re.compile(RG + r"/providers/microsoft\.compute/virtualmachines/(?P<name>[^/]+)$")),
    ("virtualNetworks", re.compile(RG + r"/providers/microsoft\.network/virtualnetworks/(?P<name>[^/]+)$")),
    ("networkSecurityGroups", re.compile(RG + r"/providers/microsoft\.network/networksecuritygroups/(?P<name>[^/]+)$")),
    ("networkInterfaces.list", re.compile(RG + r"/providers/microsoft\.network/networkinterfaces$")),
    ("publicIPAddresses.list", re.compile(RG + r"/providers/microsoft\.network/publicipaddresses$")),
    ("virtualMachines.listAll", re.compile(SUB + r"/providers/microsoft\.compute/virtualmachines$")),
    ("networkInterfaces.listAll", re.compile(SUB + r"/providers/microsoft\.network/networkinterfaces$")),
    ("publicIPAddresses.listAll", re.compile(SUB + r"/providers/microsoft\.network/publicipaddresses$")),
    ("usages", re.compile(SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/usages$")),
    ("vmSizes", re.compile(SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/vmsizes$")),
    (
        "imageVersions",
        re.compile(
            SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/publishers/(?P<pub>[^/]+)"
            r"/artifacttypes/vmimage/offers/(?P<offer>[^/]+)/skus/(?P<sku>[^/]+)/versions$"
        ),
    ),
    ("operations", re.compile(r"^/fakeoperations/(?P<op>[^/]+)$")),
]


class ArmError(Exception):
    """An ARM error answer: HTTP status, code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Fault:
    """Answer requests whose call (``"PUT virtualMachines"``) starts with ``call`` with an error,
    ``times`` times (None: always). ``retry_after`` adds that header (throttling)."""

    status: int
    code: str
    call: str = ""
    times: int | None = 1
    retry_after: int | None = None
    message: str = ""

    def take(self, call: str) -> bool:
        if not call.startswith(self.call) or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class TemplateExpression:
    """Evaluate the part of ARM's template language the module sends: ``[parameters('x')[copyIndex()]]``,
    ``.values``, ``format('{0}-nic', ...)``, ``length(...)``, ``concat(...)`` and literals."""

    TOKEN = re.compile(
        r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<sym>[()\[\],.]))"
    )

    def __init__(self, text: str, parameters: dict, index: int):
        self.tokens, position = [], 0
        while position < len(text):
            match = self.TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ArmError(400, "InvalidTemplate", f"The template language expression '{text}' is not valid.")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        self.text, self.parameters, self.index, self.at = text, parameters, index, 0

    def fail(self, why: str):
        raise ArmError(400, "InvalidTemplate", f"The template language expression '{self.text}' is not valid: {why}.")

    def take(self, symbol: str | None = None):
        if self.at >= len(self.tokens) or (symbol and self.tokens[self.at][1] != symbol):
            self.fail(f"expected {symbol or 'more'}")
        self.at += 1
        return self.tokens[self.at - 1]

    def evaluate(self):
        value = self.expression()
        if self.at != len(self.tokens):
            self.fail("unexpected text at the end")
        return value

    def expression(self):
        kind, text = self.take()
        if kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "num":
            value = int(text)
        elif kind == "name":
            self.take("(")
            args = []
            while self.tokens[self.at][1] != ")":
                args.append(self.expression())
                if self.tokens[self.at][1] == ",":
                    self.take(",")
            self.take(")")
            value = self.call(text.lower(), args)
        else:
            self.fail(f"unexpected {text}")
        while self.at < len(self.tokens) and self.tokens[self.at][1] in "[.":
            if self.take()[1] == "[":
                key = self.expression()
                self.take("]")
            else:
                key = self.take()[1]
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                self.fail(f"no element {key!r}")
        return value

    def call(self, function: str, args: list):
        if function == "parameters":
            if args[0] not in self.parameters:
                self.fail(f"the parameter '{args[0]}' is not defined")
            return self.parameters[args[0]]
        if function == "copyindex":
            return self.index + (args[0] if args else 0)
        if function == "format":
            return args[0].format(*args[1:])
        if function == "length":
            return len(args[0])
        if function == "concat":
            return "".join(str(a) for a in args)
        return self.fail(f"the fake does not know the function {function}")


def expand(value, parameters: dict, index: int):
    """A template value with every ``[expression]`` string evaluated for copy index ``index``."""
    if isinstance(value, dict):
        return {k: expand(v, parameters, index) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, parameters, index) for v in value]
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[["):
        return TemplateExpression(value[1:-1], parameters, index).evaluate()
    return value


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the tests trust it through REQUESTS_CA_BUNDLE)."""
    cert, key = directory / "arm-fake.crt", directory / "arm-fake.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class ArmFake:
    """The fake ARM endpoint on ``https://127.0.0.1:<port>`` (``url``); ``close()`` stops it."""

    def __init__(self, directory: Path, polls: int = 1) -> None:
        self.cert, key = make_certificate(directory)
        self.polls = polls
        self.lock = threading.RLock()
        self.resources: dict[str, dict] = {}
        self.operations: dict[str, dict] = {}
        self.cores_limit = 100
        self.addresses = itertools.count(4)
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # -- what tests look at -------------------------------------------------------------------
    def reset(self, *faults: Fault, deployment_failure: tuple[int, str, str] | None = None) -> None:
        """Forget recorded calls and bodies; set new faults. ``deployment_failure=(n, code, message)``
        makes the next deployments fail with that error once ``n`` of their VMs were made."""
        with self.lock:
            self.calls: list[str] = []
            self.deployed: list[dict] = []
            self.deployment_failure = deployment_failure
            self.bodies: dict[str, list[dict]] = {}
            self.token_requests = 0
            self.faults = list(faults)
            self.injected = 0

    def count(self, prefix: str = "") -> int:
        """ARM requests whose call starts with ``prefix`` (``"PUT"``, ``"GET virtualMachines"``)."""
        with self.lock:
            return len([c for c in self.calls if c.startswith(prefix)])

    def mutating(self) -> list[str]:
        """The recorded calls that change something."""
        with self.lock:
            return [c for c in self.calls if c.split()[0] in MUTATING]

    def vms(self, name: str | None = None) -> list[dict]:
        """VM documents (with the ``flaskfleet.name`` tag ``name`` when given)."""
        with self.lock:
            found = [r for k, r in self.resources.items() if "/microsoft.compute/virtualmachines/" in k]
        return [v for v in found if name is None or v.get("tags", {}).get("flaskfleet.name") == name]

    def resource(self, kind: str, name: str) -> dict | None:
        """The stored document of a network resource (``virtualNetworks``, ...) by name."""
        with self.lock:
            for key, doc in self.resources.items():
                if f"/microsoft.network/{kind.lower()}/{name.lower()}" in key:
                    return doc
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- ARM behaviour ----------------------------------------------------------------------------
    def _id(self, path: str) -> str:
        return urllib.parse.unquote(path).lower()

    def _async(self, resource_id: str | None, made: list[str] | None = None, error: dict | None = None) -> str:
        op = uuid.uuid4().hex
        self.operations[op] = {"polls": self.polls, "resource": resource_id, "made": made or [], "error": error}
        return op

    def _check_rg(self, match) -> str:
        rg_id = f"/subscriptions/{match['sub']}/resourcegroups/{match['rg']}"
        if rg_id not in self.resources:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found.")
        return rg_id

    @staticmethod
    def _check_location(location: str, kind: str) -> None:
        if (location or "").lower() not in LOCATIONS:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location '{location}' and API version "
                f"'2024-07-01' for type '{kind}'. The supported locations are '{', '.join(LOCATIONS)}'.",
            )

    def _cores_used(self, location: str) -> int:
        used = 0
        for vm in self.vms():
            if vm["location"].lower() == location.lower():
                used += SIZES.get(vm["properties"]["hardwareProfile"]["vmSize"].lower(), 1)
        return used

    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict, dict | None]:
        """Dispatch one ARM request: (status, headers, JSON body)."""
        route, match = next(((n, r.match(path.lower())) for n, r in ROUTES if r.match(path.lower())), (None, None))
        if route is None:
            raise ArmError(404, "InvalidResourceType", f"The fake does not serve {method} {path}")
        call = f"{method} {route}"
        with self.lock:
            self.calls.append(call)
            if body is not None:
                self.bodies.setdefault(call, []).append(body)
            fault = next((f for f in self.faults if f.take(call)), None)
            if fault:
                self.injected += 1
        if fault:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            err = ArmError(fault.status, fault.code, fault.message or f"injected {fault.code}")
            err.headers = headers
            raise err
        with self.lock:
            return getattr(self, "_" + route.replace(".", "_"))(method, path, match, query, body)

    def _resourceGroups(self, method, path, m, query, body):
        rg_id = self._id(path)
        if method == "GET":
            if rg_id not in self.resources:
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
            return 200, {}, self.resources[rg_id]
        if (body.get("location") or "").lower() not in LOCATIONS:
            raise ArmError(
                400,
                "LocationNotAvailableForResourceGroup",
                f"The provided location '{body.get('location')}' is not available for resource group.",
            )
        doc = {
            "id": urllib.parse.unquote(path),
            "name": urllib.parse.unquote(path).rsplit("/", 1)[1],
            "type": "Microsoft.Resources/resourceGroups",
            "location": body["location"],
            "tags": body.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        created = rg_id not in self.resources
        self.resources[rg_id] = doc
        return (201 if created else 200), {}, doc

    def _list(self, marker: str, scope: str) -> dict:
        return {"value": [d for k, d in sorted(self.resources.items()) if k.startswith(scope) and marker in k]}

    def _virtualMachines_list(self, method, path, m, query, body):
        self._check_rg(m)
        return (
            200,
            {},
            self._list("/providers/microsoft.compute/virtualmachines/", self._id(path).split("/providers/")[0] + "/"),
        )

    def _virtualMachines_listAll(self, method, path, m, query, body):
        return 200, {}, self._list("/providers/microsoft.compute/virtualmachines/", f"/subscriptions/{m['sub']}/")

    def _networkInterfaces_list(self, method, path, m, query, body):
        self._check_rg(m)
        return (
            200,
            {},
            self._list("/providers/microsoft.network/networkinterfaces/", self._id(path).split("/providers/")[0] + "/"),
        )

    def _networkInterfaces_listAll(self, method, path, m, query, body):
        return 200, {}, self._list("/providers/microsoft.network/networkinterfaces/", f"/subscriptions/{m['sub']}/")

    def _publicIPAddresses_list(self, method, path, m, query, body):
        self._check_rg(m)
        return (
            200,
            {},
            self._list("/providers/microsoft.network/publicipaddresses/", self._id(path).split("/providers/")[0] + "/"),
        )

    def _publicIPAddresses_listAll(self, method, path, m, query, body):
        return 200, {}, self._list("/providers/microsoft.network/publicipaddresses/", f"/subscriptions/{m['sub']}/")

    def _usages(self, method, path, m, query, body):
        self._check_location(m["loc"], "usages")
        value = [
            {
                "name": {"value": "cores", "localizedValue": "Total Regional vCPUs"},
                "currentValue": self._cores_used(m["loc"]),
                "limit": self.cores_limit,
                "unit": "Count",
            },
            {
                "name": {"value": "virtualMachines", "localizedValue": "Virtual Machines"},
                "currentValue": len(self.vms()),
                "limit": 25000,
                "unit": "Count",
            },
        ]
        return 200, {}, {"value": value}

    def _vmSizes(self, method, path, m, query, body):
        self._check_location(m["loc"], "vmSizes")
        value = [
            {"name": name.replace("standard_b", "Standard_B").replace("standard_d", "Standard_D"), "numberOfCores": n}
            for name, n in SIZES.items()
        ]
        for size in value:
            size.update(memoryInMB=1024 * size["numberOfCores"], maxDataDiskCount=4, osDiskSizeInMB=1047552)
        return 200, {}, {"value": value}

    def _imageVersions(self, method, path, m, query, body):
        self._check_location(m["loc"], "images")
        versions = IMAGES.get((m["pub"], m["offer"], m["sku"]))
        if versions is None:
            raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")
        value = [
            {
                "name": v,
                "location": m["loc"],
                "id": f"/Subscriptions/{m['sub']}/Providers/Microsoft.Compute/Locations/{m['loc']}/Publishers/"
                f"{m['pub']}/ArtifactTypes/VMImage/Offers/{m['offer']}/Skus/{m['sku']}/Versions/{v}",
            }
            for v in sorted(versions, reverse=query.get("$orderby", [""])[0].endswith("desc"))
        ]
        top = int(query.get("$top", [0])[0] or 0)
        return 200, {}, value[:top] if top else value

    def _network_resource(self, kind, method, path, m, body, properties):
        rid = self._id(path)
        if method == "GET":
            if rid not in self.resources:
                self._check_rg(m)
                raise ArmError(404, "ResourceNotFound", f"The Resource '{kind}/{m['name']}' was not found.")
            return 200, {}, self.resources[rid]
        self._check_rg(m)
        self._check_location(body.get("location"), kind)
        doc = {
            "id": urllib.parse.unquote(path),
            "name": m["name"],
            "type": f"Microsoft.Network/{kind}",
            "location": body["location"],
            "tags": body.get("tags") or {},
            "etag": f'W/"{uuid.uuid4()}"',
            "properties": {**properties(body.get("properties") or {}), "provisioningState": "Succeeded"},
        }
        created = rid not in self.resources
        self.resources[rid] = doc
        op = self._async(rid)
        return (201 if created else 200), self._op_headers(op), doc

    def _virtualNetworks(self, method, path, m, query, body):
        def props(p):
            subnets = []
            for subnet in p.get("subnets") or []:
                sid = f"{urllib.parse.unquote(path)}/subnets/{subnet['name']}"
                subnets.append({"id": sid, "name": subnet["name"], "properties": dict(subnet.get("properties") or {})})
            return {**p, "subnets": subnets}

        return self._network_resource("virtualNetworks", method, path, m, body, props)

    def _networkSecurityGroups(self, method, path, m, query, body):
        def props(p):
            rules = [
                {"name": r["name"], "properties": dict(r.get("properties") or {})} for r in p.get("securityRules") or []
            ]
            return {**p, "securityRules": rules}

        return self._network_resource("networkSecurityGroups", method, path, m, body, props)

    def _op_headers(self, op: str) -> dict:
        url = f"{self.url}/fakeoperations/{op}"
        return {"Azure-AsyncOperation": url, "Retry-After": "1"}

    def _operations(self, method, path, m, query, body):
        op = self.operations.get(m["op"])
        if op is None:
            raise ArmError(404, "NotFound", "no such operation")
        if op["polls"] > 0:
            op["polls"] -= 1
            return 200, {"Retry-After": "1"}, {"name": m["op"], "status": "InProgress", "startTime": now()}
        for made in op["made"]:
            if made in self.resources:
                self.resources[made]["properties"]["provisioningState"] = "Succeeded"
        if op["error"]:
            if op["resource"] in self.resources:
                self.resources[op["resource"]]["properties"]["provisioningState"] = "Failed"
            error = {
                "code": "DeploymentFailed",
                "message": "At least one resource deployment operation failed. Please list deployment operations "
                "for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
                "details": [op["error"]],
            }
            return 200, {}, {"name": m["op"], "status": "Failed", "startTime": now(), "endTime": now(), "error": error}
        if op["resource"] in self.resources:
            self.resources[op["resource"]]["properties"]["provisioningState"] = "Succeeded"
        return 200, {}, {"name": m["op"], "status": "Succeeded", "startTime": now(), "endTime": now()}

    def _deployments(self, method, path, m, query, body):
        rid = self._id(path)
        if method == "GET":
            if rid not in self.resources:
                self._check_rg(m)
                raise ArmError(404, "DeploymentNotFound", f"Deployment '{m['name']}' could not be found.")
            return 200, {}, self.resources[rid]
        self._check_rg(m)
        props = (body or {}).get("properties") or {}
        template = props.get("template") or {}
        given = dict((k, (v or {}).get("value")) for k, v in (props.get("parameters") or {}).items())
        declared = template.get("parameters") or {}
        undeclared = sorted(set(given) - set(declared))
        missing = sorted(k for k in declared if k not in given and "defaultValue" not in declared[k])
        if undeclared or missing or props.get("mode") not in ("Incremental", "Complete"):
            raise ArmError(
                400,
                "InvalidTemplate",
                f"Deployment template validation failed: parameters not declared {undeclared}, missing {missing}.",
            )
        values = {k: given.get(k, declared[k].get("defaultValue")) for k in declared}
        resources = []
        for resource in template.get("resources") or []:
            copy = resource.get("copy")
            number = expand(copy["count"], values, 0) if copy else 1
            single = {k: v for k, v in resource.items() if k != "copy"}
            resources.extend(expand(single, values, index) for index in range(number))
        self.deployed.extend(resources)
        rg_path = urllib.parse.unquote(path).split("/providers/")[0]
        made, error = [], None
        for resource in resources:
            failure = self.deployment_failure
            if failure is not None and len(made) >= failure[0]:
                error = {"code": failure[1], "message": failure[2]}
                break
            if resource.get("type", "").lower() != "microsoft.compute/virtualmachines":
                error = {"code": "InvalidResourceType", "message": f"The fake deploys no {resource.get('type')}"}
                break
            vm_path = f"{rg_path}/providers/Microsoft.Compute/virtualMachines/{resource['name']}"
            try:
                self._create_vm(vm_path, {"name": resource["name"]}, resource)
            except ArmError as e:
                error = {"code": e.code, "message": e.message}
                break
            made.append(self._id(vm_path))
        secure = [k for k, v in declared.items() if v.get("type", "").lower() in ("securestring", "secureobject")]
        doc = {
            "id": urllib.parse.unquote(path),
            "name": m["name"],
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "provisioningState": "Accepted",
                "mode": props["mode"],
                "parameters": {k: {"type": "SecureObject"} if k in secure else {"value": v} for k, v in given.items()},
                "timestamp": now(),
            },
        }
        created = rid not in self.resources
        self.resources[rid] = doc
        op = self._async(rid, made, error)
        return (201 if created else 200), self._op_headers(op), doc

    def _virtualMachines(self, method, path, m, query, body):
        rid = self._id(path)
        if method == "GET":
            if rid not in self.resources:
                self._check_rg(m)
                raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/{m['name']}'")
            return 200, {}, self.resources[rid]
        if method == "DELETE":
            return self._delete_vm(rid)
        self._check_rg(m)
        return self._create_vm(path, m, body)

    def _delete_vm(self, rid):
        vm = self.resources.pop(rid, None)
        if vm is None:
            return 204, {}, None
        for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
            nic = self.resources.pop(ref["id"].lower(), None)
            for config in (nic or {}).get("properties", {}).get("ipConfigurations", []):
                pip = config["properties"].get("publicIPAddress")
                if pip:
                    self.resources.pop(pip["id"].lower(), None)
        op = self._async(None)
        headers = self._op_headers(op)
        headers["Location"] = headers["Azure-AsyncOperation"]
        return 202, headers, None

    def _create_vm(self, path, m, body):
        props = body.get("properties") or {}
        self._check_location(body.get("location"), "virtualMachines")
        size = props.get("hardwareProfile", {}).get("vmSize", "")
        if size.lower() not in SIZES:
            raise ArmError(400, "InvalidParameter", f"The value {size} provided for the VM size is not valid.")
        image = props.get("storageProfile", {}).get("imageReference", {})
        versions = IMAGES.get(
            (image.get("publisher", "").lower(), image.get("offer", "").lower(), image.get("sku", "").lower())
        )
        if versions is None or (image.get("version") not in ("latest", *versions)):
            raise ArmError(
                404,
                "PlatformImageNotFound",
                f"The platform image '{image.get('publisher')}:{image.get('offer')}' is not available.",
            )
        if self._cores_used(body["location"]) + SIZES[size.lower()] > self.cores_limit:
            raise ArmError(
                409,
                "OperationNotAllowed",
                "Operation could not be completed as it results in exceeding approved Total Regional Cores quota.",
            )
        vm_id = urllib.parse.unquote(path)
        rg_prefix = vm_id.split("/providers/")[0]
        nics = []
        for config in props.get("networkProfile", {}).get("networkInterfaceConfigurations", []):
            nics.append(self._make_nic(rg_prefix, vm_id, body["location"], config))
        stored = json.loads(json.dumps(props))
        stored.get("osProfile", {}).pop("customData", None)  # ARM never returns customData
        stored["networkProfile"]["networkInterfaces"] = nics
        stored["storageProfile"]["imageReference"]["exactVersion"] = max(versions)
        stored.update(provisioningState="Creating", timeCreated=now(), vmId=str(uuid.uuid4()))
        doc = {
            "id": vm_id,
            "name": m["name"],
            "type": "Microsoft.Compute/virtualMachines",
            "location": body["location"],
            "tags": body.get("tags") or {},
            "properties": stored,
        }
        self.resources[self._id(path)] = doc
        op = self._async(self._id(path))
        return 201, self._op_headers(op), doc

    def _make_nic(self, rg_prefix, vm_id, location, config):
        cprops = config.get("properties", {})
        nic_id = f"{rg_prefix}/providers/Microsoft.Network/networkInterfaces/{config['name']}"
        ip_configs = []
        for ipc in cprops.get("ipConfigurations", []):
            iprops = ipc.get("properties", {})
            subnet = iprops.get("subnet", {}).get("id", "")
            net = self.resources.get(subnet.lower().split("/subnets/")[0], {})
            prefix = next(
                (
                    s["properties"].get("addressPrefix")
                    for s in net.get("properties", {}).get("subnets", [])
                    if s["id"].lower() == subnet.lower()
                ),
                "10.0.0.0/24",
            )
            address = str(ipaddress.ip_network(prefix)[next(self.addresses)])
            entry = {
                "name": ipc["name"],
                "properties": {"primary": True, "privateIPAddress": address, "subnet": {"id": subnet}},
            }
            pip_config = iprops.get("publicIPAddressConfiguration")
            if pip_config:
                pip_id = f"{rg_prefix}/providers/Microsoft.Network/publicIPAddresses/{pip_config['name']}"
                self.resources[pip_id.lower()] = {
                    "id": pip_id,
                    "name": pip_config["name"],
                    "location": location,
                    "properties": {"ipAddress": f"20.50.{next(self.addresses) % 250}.{next(self.addresses) % 250}"},
                }
                entry["properties"]["publicIPAddress"] = {"id": pip_id}
            ip_configs.append(entry)
        self.resources[nic_id.lower()] = {
            "id": nic_id,
            "name": config["name"],
            "location": location,
            "properties": {
                "ipConfigurations": ip_configs,
                "virtualMachine": {"id": vm_id},
                "networkSecurityGroup": cprops.get("networkSecurityGroup"),
            },
        }
        return {"id": nic_id, "properties": {"primary": True, "deleteOption": cprops.get("deleteOption", "Detach")}}

    # -- HTTP ------------------------------------------------------------------------------------
    def _token(self, method, path, form):
        tenant = path.strip("/").split("/")[0]
        if path.endswith("/.well-known/openid-configuration"):
            base = f"{self.url}/{tenant}"
            return 200, {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
                "tenant_region_scope": "EU",
            }
        with self.lock:
            self.token_requests += 1
        if form.get("client_secret", [""])[0] != SECRET or form.get("client_id", [""])[0] != CLIENT_ID:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            }
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": TOKEN}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, headers, payload):
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("x-ms-request-id", str(uuid.uuid4()))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                split = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(split.query)
                if "/oauth2/" in split.path or "/.well-known/" in split.path:
                    form = urllib.parse.parse_qs(raw.decode()) if raw else {}
                    status, payload = fake._token(self.command, split.path, form)
                    return self._send(status, {}, payload)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    error = {"code": "AuthenticationFailed", "message": "Authentication failed. No valid bearer token."}
                    return self._send(401, {}, {"error": error})
                try:
                    body = json.loads(raw) if raw else None
                    status, headers, payload = fake.handle(self.command, split.path, query, body)
                except ArmError as e:
                    headers = getattr(e, "headers", {})
                    return self._send(e.status, headers, {"error": {"code": e.code, "message": e.message}})
                return self._send(status, headers, payload)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _serve

        return Handler
